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

// A unit is what a query pages through: the points (or buckets) of one
// field of one series. A series normally has one field, its values' kind;
// one whose values changed kind has more, each a unit of its own (they
// are merged in the answer's series).
type unit struct {
	device, signal, field string
	n                     int // samples in range
}

func unitLess(a, b unit) int {
	if c := cmp.Compare(a.device, b.device); c != 0 {
		return c
	}
	if c := cmp.Compare(a.signal, b.signal); c != 0 {
		return c
	}
	return cmp.Compare(a.field, b.field)
}

// plan is a query turned into Flux pieces.
type plan struct {
	q        ts.Query
	bucket   string
	from, to int64 // clamped to what InfluxDB holds
	every    int64 // ms, aggregates only
}

// Query answers q: the raw points, or one aggregate per bucket, of each
// series, series by device then signal, points by time; series without
// points in range are left out. Buckets are aligned to multiples of Every
// since the Unix epoch (UTC); a bucket's time is its start, empty buckets
// are left out. Numbers and bools (as 0 and 1) feed avg, min, max and sum;
// count, first and last take every value. Limit and Offset page through
// the samples of all series: a query counts the samples per series
// (server-side), then fetches just the page; the first page of aggregates
// skips the count and reads up to Limit+1 buckets per series instead.
func (s *Store) Query(ctx context.Context, q ts.Query) (*ts.Result, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("query: %w", ts.ErrClosed)
	}
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	res := &ts.Result{Series: []ts.Series{}}
	p := plan{q: q, from: max(q.From, minMs), to: min(q.To, maxMs), every: q.Every.Milliseconds()}
	if p.to <= p.from {
		return res, nil
	}
	db := s.database(q.Tenant)
	if ok, err := s.databaseExists(ctx, db); err != nil || !ok {
		if err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		return res, nil
	}
	p.bucket = s.bucket(db)

	type part struct {
		u            unit
		offset, take int
	}
	var (
		page []part
		got  map[unitKey][]ts.Sample
	)
	if q.Offset == 0 && q.Agg != ts.AggNone {
		// Aggregating is the slow part on InfluxDB 1.8: the first page
		// aggregates once, and up to Limit+1 buckets of every unit say
		// what the page holds and whether anything follows it. (Raw
		// points are counted first: counting is cheap, and a page must
		// not fetch Limit+1 points of every series.)
		var err error
		got, err = s.fetch(ctx, &p, []pipe{{pred: p.selection(), limit: q.Limit + 1}})
		if err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		units := make([]unit, 0, len(got))
		for k, smp := range got {
			units = append(units, unit{device: k.device, signal: k.signal, field: k.field, n: len(smp)})
		}
		slices.SortFunc(units, unitLess)
		remaining := q.Limit
		for _, u := range units {
			if remaining == 0 {
				res.NextOffset = q.Limit
				break
			}
			take := min(u.n, remaining)
			page = append(page, part{u, 0, take})
			remaining -= take
			if take < u.n {
				res.NextOffset = q.Limit
				break
			}
		}
	} else {
		units, err := s.count(ctx, &p)
		if err != nil {
			return nil, fmt.Errorf("query: count: %w", err)
		}
		total, skip, remaining := 0, q.Offset, q.Limit
		for _, u := range units {
			total += u.n
			if remaining == 0 {
				continue
			}
			if skip >= u.n {
				skip -= u.n
				continue
			}
			take := min(u.n-skip, remaining)
			page = append(page, part{u, skip, take})
			skip, remaining = 0, remaining-take
		}
		if q.Offset+q.Limit < total {
			res.NextOffset = q.Offset + q.Limit
		}
		if len(page) == 0 {
			return res, nil
		}
		// Whole units go in one Flux pipeline; a partial one (the first
		// and the last of the page) in its own, with its limit.
		var pipes []pipe
		var whole []unit
		flush := func() {
			if len(whole) > 0 {
				pipes = append(pipes, pipe{pred: unitsPred(whole), limit: -1})
				whole = nil
			}
		}
		for _, pt := range page {
			if pt.offset == 0 && pt.take == pt.u.n {
				whole = append(whole, pt.u)
				continue
			}
			flush()
			pipes = append(pipes, pipe{pred: unitsPred([]unit{pt.u}), limit: pt.take, offset: pt.offset})
		}
		flush()
		got, err = s.fetch(ctx, &p, pipes)
		if err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
	}
	// Assemble the series, merging the units of a series.
	for _, pt := range page {
		smp := got[unitKey{pt.u.device, pt.u.signal, pt.u.field}]
		if len(smp) > pt.take {
			smp = smp[:pt.take]
		}
		if len(smp) == 0 {
			continue
		}
		if n := len(res.Series); n > 0 && res.Series[n-1].Device == pt.u.device && res.Series[n-1].Signal == pt.u.signal {
			ser := &res.Series[n-1]
			ser.Points = append(ser.Points, smp...)
			slices.SortStableFunc(ser.Points, func(a, b ts.Sample) int { return cmp.Compare(a.TS, b.TS) })
			continue
		}
		res.Series = append(res.Series, ts.Series{Device: pt.u.device, Signal: pt.u.signal, Points: smp})
	}
	return res, nil
}

type unitKey struct{ device, signal, field string }

// pipe is one Flux pipeline of a fetch: the points matching pred, and per
// unit at most limit samples after offset (limit < 0: all).
type pipe struct {
	pred          string
	limit, offset int
}

// fluxFn is the Flux aggregate of an Agg.
func fluxFn(a ts.Agg) string {
	if a == ts.AggAvg {
		return "mean"
	}
	return string(a)
}

func numericAgg(a ts.Agg) bool {
	return a == ts.AggAvg || a == ts.AggMin || a == ts.AggMax || a == ts.AggSum
}

// selection matches the query's devices and signals.
func (p *plan) selection() string {
	var sel strings.Builder
	sel.WriteString("(")
	orEq(&sel, "device", p.q.Devices)
	sel.WriteString(")")
	if len(p.q.Signals) > 0 {
		sel.WriteString(" and (")
		orEq(&sel, "signal", p.q.Signals)
		sel.WriteString(")")
	}
	return sel.String()
}

// source reads the measurement's points in range that match pred and,
// unless field is empty, are of that field.
func (p *plan) source(pred, field string) string {
	var b strings.Builder
	b.WriteString("from(bucket: ")
	b.WriteString(fluxString(p.bucket))
	b.WriteString(") |> range(start: ")
	b.WriteString(fluxTime(p.from))
	b.WriteString(", stop: ")
	b.WriteString(fluxStop(p.to))
	b.WriteString(`) |> filter(fn: (r) => r._measurement == "` + Measurement + `" and `)
	b.WriteString(pred)
	if field != "" {
		b.WriteString(` and r._field == "` + field + `"`)
	}
	b.WriteString(")")
	return b.String()
}

// window aggregates each unit by bucket with fn.
func (p *plan) window(fn string) string {
	return fmt.Sprintf(` |> aggregateWindow(every: %dms, fn: %s, createEmpty: false, timeSrc: "_start")`, p.every, fn)
}

// fields are the fields a query reads, each in pipelines of its own
// (numeric aggregates: num, and bool converted to float, since toFloat()
// is slow on InfluxDB 1.8 and numbers need none); "" is every field.
func (p *plan) fields() []string {
	if numericAgg(p.q.Agg) {
		return []string{fieldNum, fieldBool}
	}
	return []string{""}
}

// values is what turns a unit's points of field into the answer's samples.
func (p *plan) values(field string) string {
	switch {
	case p.q.Agg == ts.AggNone:
		return ""
	case numericAgg(p.q.Agg) && field == fieldBool:
		return " |> toFloat()" + p.window(fluxFn(p.q.Agg))
	}
	return p.window(fluxFn(p.q.Agg))
}

// count returns the units of the query with their number of samples (of
// points, or of non-empty buckets), sorted.
func (s *Store) count(ctx context.Context, p *plan) ([]unit, error) {
	var streams []string
	var script strings.Builder
	for i, f := range p.fields() {
		v := fmt.Sprintf("n%d", i)
		streams = append(streams, v)
		script.WriteString(v + " = " + p.source(p.selection(), f))
		if p.q.Agg != ts.AggNone {
			script.WriteString(p.window("count"))
		}
		script.WriteString(" |> count()\n")
	}
	script.WriteString(union(streams) + "\n")
	var units []unit
	err := s.flux(ctx, script.String(), func(r record) error {
		n, ok := r.value.(int64)
		if !ok {
			return fmt.Errorf("count of %s/%s is a %T", r.device, r.signal, r.value)
		}
		if n > 0 {
			units = append(units, unit{device: r.device, signal: r.signal, field: r.field, n: int(n)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(units, unitLess)
	return units, nil
}

func union(streams []string) string {
	if len(streams) == 1 {
		return streams[0]
	}
	return "union(tables: [" + strings.Join(streams, ", ") + "])"
}

// fetch reads the samples of the pipes, by unit, sorted by time.
func (s *Store) fetch(ctx context.Context, p *plan, pipes []pipe) (map[unitKey][]ts.Sample, error) {
	var script strings.Builder
	parts := func(name string, transform func(field string) string) {
		var streams []string
		for i, pp := range pipes {
			for j, f := range p.fields() {
				v := fmt.Sprintf("%s%d_%d", name, i, j)
				streams = append(streams, v)
				script.WriteString(v + " = " + p.source(pp.pred, f) + transform(f))
				if pp.limit >= 0 {
					fmt.Fprintf(&script, " |> limit(n: %d, offset: %d)", pp.limit, pp.offset)
				}
				script.WriteString("\n")
			}
		}
		script.WriteString(union(streams) + ` |> yield(name: "` + name + `")` + "\n")
	}
	parts("v", p.values)
	withCounts := p.q.Agg != ts.AggNone && p.q.Agg != ts.AggCount
	if withCounts {
		parts("c", func(string) string { return p.window("count") })
	}

	out := map[unitKey][]ts.Sample{}
	counts := map[unitKey]map[int64]int64{}
	err := s.flux(ctx, script.String(), func(r record) error {
		k := unitKey{r.device, r.signal, r.field}
		t := r.time.UnixMilli()
		if p.q.Agg != ts.AggNone {
			// The first bucket starts at the range's start: align it.
			t = floorDiv(t, p.every) * p.every
		}
		if r.result == "c" {
			n, ok := r.value.(int64)
			if !ok {
				return fmt.Errorf("count of %s/%s is a %T", r.device, r.signal, r.value)
			}
			if counts[k] == nil {
				counts[k] = map[int64]int64{}
			}
			counts[k][t] = n
			return nil
		}
		smp := ts.Sample{TS: t}
		var err error
		switch p.q.Agg {
		case ts.AggCount:
			n, ok := r.value.(int64)
			if !ok {
				return fmt.Errorf("count of %s/%s is a %T", r.device, r.signal, r.value)
			}
			smp.Value, smp.Count = ts.Number(float64(n)), n
		case ts.AggAvg, ts.AggMin, ts.AggMax, ts.AggSum:
			f, ok := r.value.(float64)
			if !ok {
				return fmt.Errorf("%s of %s/%s is a %T", p.q.Agg, r.device, r.signal, r.value)
			}
			smp.Value = ts.Number(f)
		default:
			smp.Value, err = valueOf(r.field, r.value)
			if err != nil {
				return fmt.Errorf("%s/%s: %w", r.device, r.signal, err)
			}
		}
		out[k] = append(out[k], smp)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for k, smp := range out {
		if !slices.IsSortedFunc(smp, func(a, b ts.Sample) int { return cmp.Compare(a.TS, b.TS) }) {
			slices.SortStableFunc(smp, func(a, b ts.Sample) int { return cmp.Compare(a.TS, b.TS) })
		}
		if withCounts {
			c := counts[k]
			for i := range smp {
				smp[i].Count = c[smp[i].TS]
			}
		}
	}
	return out, nil
}

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

// orEq writes `r.<col> == "v1" or r.<col> == "v2" ...`.
func orEq(b *strings.Builder, col string, values []string) {
	for i, v := range values {
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString("r." + col + " == ")
		b.WriteString(fluxString(v))
	}
}

// unitsPred matches exactly the given units (sorted by device).
func unitsPred(units []unit) string {
	var b strings.Builder
	b.WriteString("(")
	for i := 0; i < len(units); {
		j := i
		for j < len(units) && units[j].device == units[i].device {
			j++
		}
		if i > 0 {
			b.WriteString(" or ")
		}
		b.WriteString("(r.device == " + fluxString(units[i].device) + " and (")
		for k := i; k < j; k++ {
			if k > i {
				b.WriteString(" or ")
			}
			b.WriteString("(r.signal == " + fluxString(units[k].signal) + ` and r._field == "` + units[k].field + `")`)
		}
		b.WriteString("))")
		i = j
	}
	b.WriteString(")")
	return b.String()
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

// fluxStop is the range stop for an exclusive end in Unix milliseconds:
// InfluxDB 1.8's storage includes a point at the stop time itself, so the
// stop is one nanosecond earlier.
func fluxStop(ms int64) string {
	return time.UnixMilli(ms).Add(-time.Nanosecond).UTC().Format(time.RFC3339Nano)
}

// floorDiv is a / b rounded down (b > 0).
func floorDiv(a, b int64) int64 {
	d := a / b
	if a%b != 0 && a < 0 {
		d--
	}
	return d
}
