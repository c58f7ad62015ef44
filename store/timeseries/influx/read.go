package influx

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	ts "github.com/sluicehq/sluice/store/timeseries"
)

// valueOf is a stored field's value, of the field's kind.
func valueOf(field string, v any) (ts.Value, error) {
	switch x := v.(type) {
	case float64:
		if field == fieldNum {
			return ts.Number(x), nil
		}
	case bool:
		if field == fieldBool {
			return ts.Bool(x), nil
		}
	case string:
		if field == fieldStr {
			return ts.String(x), nil
		}
	case nil:
		// Annotated CSV writes the empty string as an empty cell, which
		// the client reads as null.
		if field == fieldStr {
			return ts.String(""), nil
		}
	}
	return ts.Value{}, fmt.Errorf("field %q holds a %T: not written by sluice", field, v)
}

// Latest returns the latest value of each signal of a device, by signal.
func (s *Store) Latest(ctx context.Context, tenant, device string) ([]ts.Latest, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("latest: %w", ts.ErrClosed)
	}
	if device == "" {
		return nil, fmt.Errorf("latest: device: want an id: %w", ts.ErrBadQuery)
	}
	out := []ts.Latest{}
	db := s.database(tenant)
	if ok, err := s.databaseExists(ctx, db); err != nil || !ok {
		if err != nil {
			return nil, fmt.Errorf("latest of %q: %w", device, err)
		}
		return out, nil
	}
	script := fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => r._measurement == "%s" and r.device == %s) |> last()`,
		fluxString(s.bucket(db)), fluxTime(minMs), fluxTime(maxMs), Measurement, fluxString(device))
	bySignal := map[string]ts.Latest{}
	err := s.flux(ctx, script, func(r record) error {
		v, err := valueOf(r.field, r.value)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", r.device, r.signal, err)
		}
		l := ts.Latest{Signal: r.signal, TS: r.time.UnixMilli(), Value: v}
		if prev, ok := bySignal[r.signal]; !ok || l.TS > prev.TS {
			bySignal[r.signal] = l
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("latest of %q: %w", device, err)
	}
	for _, sig := range slices.Sorted(maps.Keys(bySignal)) {
		out = append(out, bySignal[sig])
	}
	return out, nil
}

// Devices returns the tenant's devices that have points, sorted by id,
// each with the tags of its series (merged over its signals, the last
// signal in name order winning a conflict). The devices come from the
// database's series index (SHOW TAG VALUES), so a device whose points a
// retention policy dropped is gone from the list too.
func (s *Store) Devices(ctx context.Context, tenant string) ([]ts.DeviceInfo, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("devices: %w", ts.ErrClosed)
	}
	out := []ts.DeviceInfo{}
	db := s.database(tenant)
	if ok, err := s.databaseExists(ctx, db); err != nil || !ok {
		if err != nil {
			return nil, fmt.Errorf("devices of tenant %q: %w", tenant, err)
		}
		return out, nil
	}
	series, err := s.influxQL(ctx, db, "SHOW TAG VALUES ON "+quoteIdent(db)+" FROM "+quoteIdent(Measurement)+" WITH KEY = "+quoteIdent(tagDevice))
	if err != nil {
		return nil, fmt.Errorf("devices of tenant %q: %w", tenant, err)
	}
	var ids []string
	for _, ser := range series {
		for _, row := range ser.Values {
			if len(row) == 2 {
				if id, ok := row[1].(string); ok {
					ids = append(ids, id)
				}
			}
		}
	}
	sort.Strings(ids)
	ids = slices.Compact(ids)
	// The latest tags of each series that has some.
	type tagged struct {
		signal string
		tags   map[string]string
	}
	tags := map[string][]tagged{}
	script := fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => r._measurement == "%s" and r._field == "%s") |> last()`,
		fluxString(s.bucket(db)), fluxTime(minMs), fluxTime(maxMs), TagsMeasurement, fieldTags)
	err = s.flux(ctx, script, func(r record) error {
		str, ok := r.value.(string)
		if !ok {
			return fmt.Errorf("tags of %s/%s: a %T", r.device, r.signal, r.value)
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(str), &m); err != nil {
			return fmt.Errorf("tags of %s/%s: %w", r.device, r.signal, err)
		}
		tags[r.device] = append(tags[r.device], tagged{r.signal, m})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("devices of tenant %q: %w", tenant, err)
	}
	for _, id := range ids {
		d := ts.DeviceInfo{ID: id}
		list := tags[id]
		slices.SortFunc(list, func(a, b tagged) int { return cmp.Compare(a.signal, b.signal) })
		for _, t := range list {
			if d.Tags == nil && len(t.tags) > 0 {
				d.Tags = map[string]string{}
			}
			maps.Copy(d.Tags, t.tags)
		}
		out = append(out, d)
	}
	return out, nil
}

// record is a row of a Flux answer.
type record struct {
	result, device, signal, field string
	time                          time.Time
	value                         any
}

// flux runs a Flux script and calls fn for each row.
func (s *Store) flux(ctx context.Context, script string, fn func(record) error) error {
	res, err := s.client.QueryAPI("").Query(ctx, script)
	if err != nil {
		return fmt.Errorf("flux: %w", err)
	}
	defer res.Close()
	for res.Next() {
		r := res.Record()
		rec := record{result: r.Result(), field: r.Field(), time: r.Time(), value: r.Value()}
		rec.device, _ = r.ValueByKey(tagDevice).(string)
		rec.signal, _ = r.ValueByKey(tagSignal).(string)
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("flux: %w", err)
	}
	return nil
}

// fluxString quotes s as a Flux string literal: quotes, backslashes and
// control characters escaped, "$" written as \x24 (so "${" is not an
// interpolation).
func fluxString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c == '$' || c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		case c >= utf8.RuneSelf:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				fmt.Fprintf(&b, `\x%02x`, c)
			} else {
				b.WriteString(s[i : i+size])
			}
			i += size
			continue
		default:
			b.WriteByte(c)
		}
		i++
	}
	b.WriteByte('"')
	return b.String()
}

// fluxTime is a Flux time literal for Unix milliseconds.
func fluxTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}
