package influx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/influxdata/influxdb-client-go/v2/api"
	ihttp "github.com/influxdata/influxdb-client-go/v2/api/http"

	ts "github.com/sluicehq/sluice/store/timeseries"
)

// InfluxDB keeps times as int64 nanoseconds: the milliseconds it can hold.
const (
	minMs = -9_223_372_036_854 // 1677-09-21T00:12:43.146Z
	maxMs = 9_223_372_036_854  // 2262-04-11T23:47:16.854Z
)

// tagsRefresh: a series' tags are written again, even unchanged, when its
// points have moved on by this much since they were last written, so that
// a retention policy that drops old data does not drop them while their
// series lives on.
const tagsRefresh = 24 * 3600 * 1000

// Write stores points. The same (tenant, device, signal, ts) again
// replaces the value, so a replayed batch does not duplicate. Points go to
// their tenants' databases (created on first use), in requests of up to
// BatchSize lines; a failed Write may have stored some of them, which
// writing the batch again (as the sink does) replaces. A point InfluxDB
// cannot hold fails the whole Write with ts.ErrBadPoint before anything
// is sent.
func (s *Store) Write(ctx context.Context, points []ts.Point) error {
	if len(points) == 0 {
		return nil
	}
	if s.isClosed() {
		return fmt.Errorf("write: %w", ts.ErrClosed)
	}
	for i := range points {
		if err := check(&points[i]); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	// Per database, in order of first appearance.
	var order []string
	byDB := map[string][]*ts.Point{}
	for i := range points {
		db := s.database(points[i].Tenant)
		if _, ok := byDB[db]; !ok {
			order = append(order, db)
		}
		byDB[db] = append(byDB[db], &points[i])
	}
	for _, db := range order {
		if err := s.writeDB(ctx, db, byDB[db]); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

// check refuses, wrapping ts.ErrBadPoint, what Point.Check refuses and
// what InfluxDB cannot hold.
func check(p *ts.Point) error {
	if err := p.Check(); err != nil {
		return err
	}
	if p.TS < minMs || p.TS > maxMs {
		return fmt.Errorf("point %s/%s: time %d ms is outside what InfluxDB holds (%d to %d): %w", p.Device, p.Signal, p.TS, int64(minMs), int64(maxMs), ts.ErrBadPoint)
	}
	if err := tagValueOK(p.Device); err != nil {
		return fmt.Errorf("point %s/%s: device: %w", p.Device, p.Signal, err)
	}
	if err := tagValueOK(p.Signal); err != nil {
		return fmt.Errorf("point %s/%s: signal: %w", p.Device, p.Signal, err)
	}
	if p.Value.Kind == ts.KindString && !utf8.ValidString(p.Value.Str) {
		return fmt.Errorf("point %s/%s: the string is not valid UTF-8: %w", p.Device, p.Signal, ts.ErrBadPoint)
	}
	return nil
}

// tagValueOK reports what the line protocol cannot carry in a tag value
// (line breaks, and a backslash before a comma, a space, an equals sign or
// at the end: InfluxDB 1.x has no escape for a backslash there) and what
// an InfluxQL string cannot name (NUL).
func tagValueOK(v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("not valid UTF-8: %w", ts.ErrBadPoint)
	}
	if strings.ContainsAny(v, "\n\r") {
		return fmt.Errorf("InfluxDB cannot store a line break in a tag: %w", ts.ErrBadPoint)
	}
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("InfluxQL cannot query a NUL in a tag: %w", ts.ErrBadPoint)
	}
	for i := strings.IndexByte(v, '\\'); i >= 0; {
		if i == len(v)-1 || v[i+1] == ',' || v[i+1] == ' ' || v[i+1] == '=' {
			return fmt.Errorf("InfluxDB's line protocol cannot carry a backslash before a comma, a space, an equals sign or at the end of a tag: %w", ts.ErrBadPoint)
		}
		j := strings.IndexByte(v[i+1:], '\\')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return nil
}

func (s *Store) writeDB(ctx context.Context, db string, points []*ts.Point) error {
	lines, tags, err := s.lines(db, points)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := s.send(ctx, db, lines)
		if err == nil {
			break
		}
		var he *ihttp.Error
		if attempt == 0 && errors.As(err, &he) && he.StatusCode == 404 && strings.Contains(he.Message, "database not found") {
			// Dropped behind the store's back: create it again.
			s.forget(db)
			continue
		}
		return err
	}
	if len(tags) > 0 {
		s.mu.Lock()
		for k, e := range tags {
			s.tags[k] = e
		}
		s.mu.Unlock()
	}
	return nil
}

// send writes lines to db in requests of up to BatchSize lines.
func (s *Store) send(ctx context.Context, db string, lines []string) error {
	if err := s.ensureDatabase(ctx, db); err != nil {
		return err
	}
	w := s.writer(db)
	for start := 0; start < len(lines); start += s.opts.BatchSize {
		end := min(start+s.opts.BatchSize, len(lines))
		if err := w.WriteRecord(ctx, lines[start:end]...); err != nil {
			var he *ihttp.Error
			if errors.As(err, &he) && he.StatusCode == 400 && strings.HasPrefix(he.Message, "partial write: points beyond retention policy") {
				// The policy drops points older than its duration, as
				// asked; InfluxDB stored the others.
				s.log.Warn("influxdb dropped points older than the retention policy", "database", db, "retentionPolicy", s.opts.RetentionPolicy, "err", he.Message)
				continue
			}
			if errors.As(err, &he) && he.StatusCode == 400 {
				// The server refuses the data itself: writing it again
				// cannot help.
				return fmt.Errorf("%s: lines %d to %d: %w: %w", db, start, end-1, err, ts.ErrBadPoint)
			}
			return fmt.Errorf("%s: lines %d to %d: %w", db, start, end-1, err)
		}
	}
	return nil
}

func (s *Store) writer(db string) api.WriteAPIBlocking {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := s.writers[db]
	if !ok {
		w = s.client.WriteAPIBlocking("", s.bucket(db))
		s.writers[db] = w
	}
	return w
}

// lines encodes points in the line protocol (millisecond times), with a
// line for the tags of each series whose tags changed; tags holds what to
// remember once the write succeeded.
func (s *Store) lines(db string, points []*ts.Point) ([]string, map[seriesKey]tagsEntry, error) {
	out := make([]string, 0, len(points))
	var tags map[seriesKey]tagsEntry
	var b strings.Builder
	for _, p := range points {
		b.Reset()
		b.WriteString(Measurement)
		writeSeries(&b, p)
		switch p.Value.Kind {
		case ts.KindNumber:
			b.WriteString(" " + fieldNum + "=")
			b.WriteString(strconv.FormatFloat(p.Value.Num, 'g', -1, 64))
		case ts.KindBool:
			b.WriteString(" " + fieldBool + "=")
			b.WriteString(strconv.FormatBool(p.Value.Num != 0))
		case ts.KindString:
			b.WriteString(" " + fieldStr + "=")
			writeStringField(&b, p.Value.Str)
		}
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(p.TS, 10))
		out = append(out, b.String())

		if len(p.Tags) == 0 {
			continue
		}
		enc, err := json.Marshal(p.Tags) // keys sorted: one text per set
		if err != nil {
			return nil, nil, fmt.Errorf("point %s/%s: tags: %w: %w", p.Device, p.Signal, err, ts.ErrBadPoint)
		}
		k := seriesKey{db, p.Device, p.Signal}
		last, ok := tags[k]
		if !ok {
			s.mu.Lock()
			last, ok = s.tags[k]
			s.mu.Unlock()
		}
		if ok && last.json == string(enc) && p.TS-last.ts < tagsRefresh {
			continue
		}
		b.Reset()
		b.WriteString(TagsMeasurement)
		writeSeries(&b, p)
		b.WriteString(" " + fieldTags + "=")
		writeStringField(&b, string(enc))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(p.TS, 10))
		out = append(out, b.String())
		if tags == nil {
			tags = map[seriesKey]tagsEntry{}
		}
		tags[k] = tagsEntry{json: string(enc), ts: max(p.TS, last.ts)}
	}
	return out, tags, nil
}

var tagEscaper = strings.NewReplacer(",", `\,`, " ", `\ `, "=", `\=`)

func writeSeries(b *strings.Builder, p *ts.Point) {
	b.WriteString("," + tagDevice + "=")
	b.WriteString(tagEscaper.Replace(p.Device))
	b.WriteString("," + tagSignal + "=")
	b.WriteString(tagEscaper.Replace(p.Signal))
}

var stringEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`)

func writeStringField(b *strings.Builder, v string) {
	b.WriteByte('"')
	b.WriteString(stringEscaper.Replace(v))
	b.WriteByte('"')
}
