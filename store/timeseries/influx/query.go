package influx

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	ts "github.com/sluicehq/sluice/store/timeseries"
)

// Query runs on InfluxQL (/query), not Flux: InfluxDB 1.8's Flux (0.65)
// aggregates about 100,000 points/s, InfluxQL tens of times more.

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

type unitKey struct{ device, signal, field string }

// part is the share of a unit that a page takes.
type part struct {
	u            unit
	offset, take int
}

// chunkTerms bounds the terms of one OR list in a statement: a longer
// list is split over several statements of one request.
const chunkTerms = 250

// plan is a query turned into InfluxQL pieces.
type plan struct {
	q        ts.Query
	src      string // "db"."rp"."telemetry"
	from, to int64  // ms, [from, to); to > maxMs reads through maxMs
	every    int64  // ms, aggregates only
	// devices and signals (nil: every signal) the query names, without
	// the names InfluxQL cannot write (no point can have them).
	devices, signals []string
}

// Query answers q: the raw points, or one aggregate per bucket, of each
// series, series by device then signal, points by time; series without
// points in range are left out. Buckets are aligned to multiples of Every
// since the Unix epoch (UTC); a bucket's time is its start, empty buckets
// are left out. Numbers and bools (as 0 and 1) feed avg, min, max and sum;
// count, first and last take every value. Limit and Offset page through
// the samples of all series: a query counts the samples (points or
// non-empty buckets) of each series and field on the server, then fetches
// just the page: two InfluxQL requests (three for avg, min, max or sum
// over bools).
func (s *Store) Query(ctx context.Context, q ts.Query) (*ts.Result, error) {
	if s.isClosed() {
		return nil, fmt.Errorf("query: %w", ts.ErrClosed)
	}
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	res := &ts.Result{Series: []ts.Series{}}
	p := plan{q: q, from: max(q.From, minMs), to: q.To, every: q.Every.Milliseconds()}
	if p.to <= p.from || p.from > maxMs {
		return res, nil
	}
	p.devices = expressible(q.Devices)
	if len(p.devices) == 0 {
		return res, nil
	}
	if len(q.Signals) > 0 {
		if p.signals = expressible(q.Signals); len(p.signals) == 0 {
			return res, nil
		}
	}
	db := s.database(q.Tenant)
	if ok, err := s.databaseExists(ctx, db); err != nil || !ok {
		if err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		return res, nil
	}
	p.src = quoteIdent(db) + "." + quoteIdent(s.opts.RetentionPolicy) + "." + quoteIdent(Measurement)

	units, err := s.count(ctx, db, &p)
	if err != nil {
		return nil, fmt.Errorf("query: count: %w", err)
	}
	var page []part
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
	// Offset+Limit could wrap around for a huge offset: compare within
	// total (an offset at or past it has no next page).
	if q.Offset < total && q.Limit < total-q.Offset {
		res.NextOffset = q.Offset + q.Limit
	}
	if len(page) == 0 {
		return res, nil
	}
	got, err := s.fetch(ctx, db, &p, units, page)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
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

// expressible returns names sorted, without duplicates and without those
// that an InfluxQL string literal cannot carry: NUL (the parser's end of
// input), line breaks (a carriage return reads as a line feed) and
// invalid UTF-8. Write refuses points with such names, so none exist.
func expressible(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if utf8.ValidString(n) && !strings.ContainsAny(n, "\x00\n\r") {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func numericAgg(a ts.Agg) bool {
	return a == ts.AggAvg || a == ts.AggMin || a == ts.AggMax || a == ts.AggSum
}

// fields are the fields a query reads: numeric aggregates read numbers
// and bools (as 0 and 1), the others every kind.
func (p *plan) fields() []string {
	if numericAgg(p.q.Agg) {
		return []string{fieldBool, fieldNum}
	}
	return []string{fieldBool, fieldNum, fieldStr}
}

// timeCond is the condition on time for [from, to) in ms.
func timeCond(from, to int64) string {
	if to > maxMs {
		return "time >= " + strconv.FormatInt(from*1e6, 10) + " AND time <= " + strconv.FormatInt(maxMs*1e6, 10)
	}
	return "time >= " + strconv.FormatInt(from*1e6, 10) + " AND time < " + strconv.FormatInt(to*1e6, 10)
}

// groupBy groups by series and, for aggregates, by bucket (aligned to
// the epoch), leaving empty buckets out.
func (p *plan) groupBy() string {
	if p.q.Agg == ts.AggNone {
		return ` GROUP BY "` + tagDevice + `", "` + tagSignal + `"`
	}
	return ` GROUP BY time(` + strconv.FormatInt(p.every, 10) + `ms), "` + tagDevice + `", "` + tagSignal + `" fill(none)`
}

// eqOr is `("key" = 'v1' OR "key" = 'v2' ...)`: exact matches, no regular
// expressions.
func eqOr(key string, values []string) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, v := range values {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteString(quoteIdent(key))
		b.WriteString(" = ")
		b.WriteString(quoteString(v))
	}
	b.WriteByte(')')
	return b.String()
}

// signalCond is " AND (signals)", or "" for every signal.
func (p *plan) signalCond() string {
	if p.signals == nil {
		return ""
	}
	return " AND " + eqOr(tagSignal, p.signals)
}

// selection is the query's devices and signals, as conditions of at most
// chunkTerms devices each.
func (p *plan) selection() []string {
	var out []string
	for c := range slices.Chunk(p.devices, chunkTerms) {
		out = append(out, "("+eqOr(tagDevice, c)+p.signalCond()+")")
	}
	return out
}

// count returns the units of the query with their number of samples (of
// points, or of non-empty buckets), sorted.
func (s *Store) count(ctx context.Context, db string, p *plan) ([]unit, error) {
	var stmts, fields []string
	for _, f := range p.fields() {
		for _, cond := range p.selection() {
			var st string
			if p.q.Agg == ts.AggNone {
				st = "SELECT count(" + quoteIdent(f) + ") FROM " + p.src + " WHERE " + timeCond(p.from, p.to) + " AND " + cond + p.groupBy()
			} else {
				// The buckets of each series: an aggregate of the
				// aggregate (a subquery).
				st = `SELECT count("n") FROM (SELECT count(` + quoteIdent(f) + `) AS "n" FROM ` + p.src + " WHERE " + timeCond(p.from, p.to) + " AND " + cond + p.groupBy() +
					`) GROUP BY "` + tagDevice + `", "` + tagSignal + `"`
			}
			stmts, fields = append(stmts, st), append(fields, f)
		}
	}
	counts := map[unitKey]int{}
	err := s.selectQL(ctx, db, stmts, func(i int, ser *qlSeries) error {
		k := unitKey{ser.Tags[tagDevice], ser.Tags[tagSignal], fields[i]}
		for _, row := range ser.Values {
			if len(row) < 2 {
				return fmt.Errorf("count of %s/%s: a row of %d columns", k.device, k.signal, len(row))
			}
			n, err := intOf(row[1])
			if err != nil {
				return fmt.Errorf("count of %s/%s: %w", k.device, k.signal, err)
			}
			counts[k] += int(n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	units := make([]unit, 0, len(counts))
	for k, n := range counts {
		if n > 0 {
			units = append(units, unit{device: k.device, signal: k.signal, field: k.field, n: n})
		}
	}
	slices.SortFunc(units, unitLess)
	return units, nil
}

// unitsConds are conditions (of about chunkTerms terms each) that match
// exactly the given units, all of one field; all are every unit of the
// query (to match a device with all of its units by name alone).
func (p *plan) unitsConds(units []unit, all []unit) []string {
	field := units[0].field
	perDevice := map[string]int{}
	for _, u := range all {
		if u.field == field {
			perDevice[u.device]++
		}
	}
	var whole, terms []string
	for i := 0; i < len(units); {
		j := i
		for j < len(units) && units[j].device == units[i].device {
			j++
		}
		d := units[i].device
		if j-i == perDevice[d] {
			whole = append(whole, d)
		} else {
			sigs := make([]string, 0, j-i)
			for _, u := range units[i:j] {
				sigs = append(sigs, u.signal)
			}
			terms = append(terms, "("+quoteIdent(tagDevice)+" = "+quoteString(d)+" AND "+eqOr(tagSignal, sigs)+")")
		}
		i = j
	}
	var out []string
	for c := range slices.Chunk(whole, chunkTerms) {
		out = append(out, "("+eqOr(tagDevice, c)+p.signalCond()+")")
	}
	for c := range slices.Chunk(terms, chunkTerms) {
		out = append(out, "("+strings.Join(c, " OR ")+")")
	}
	return out
}

// selectList is what a statement selects of field f.
func (p *plan) selectList(f string) string {
	qf := quoteIdent(f)
	switch {
	case p.q.Agg == ts.AggNone:
		return qf
	case p.q.Agg == ts.AggCount || numericAgg(p.q.Agg) && f == fieldBool:
		// Bools: their trues are counted by a second request.
		return "count(" + qf + ")"
	case p.q.Agg == ts.AggAvg:
		return "count(" + qf + "), mean(" + qf + ")"
	}
	return "count(" + qf + "), " + string(p.q.Agg) + "(" + qf + ")"
}

// fetch reads the samples of the page, by unit, sorted by time.
func (s *Store) fetch(ctx context.Context, db string, p *plan, all []unit, page []part) (map[unitKey][]ts.Sample, error) {
	first, err := s.firstBucket(ctx, db, p)
	if err != nil {
		return nil, err
	}
	var (
		stmts, fields []string
		offsets       []int
	)
	add := func(f, cond string, limit, offset int) {
		st := "SELECT " + p.selectList(f) + " FROM " + p.src + " WHERE " + timeCond(p.from, p.to) + " AND " + cond + p.groupBy()
		if limit > 0 {
			st += fmt.Sprintf(" LIMIT %d OFFSET %d", limit, offset)
		}
		stmts, fields, offsets = append(stmts, st), append(fields, f), append(offsets, offset)
	}
	// Whole units by field, with conditions that name them; a unit the
	// page takes part of (the first and the last at most) in a statement
	// of its own, with LIMIT and OFFSET (per series in InfluxQL).
	whole := map[string][]unit{}
	for _, pt := range page {
		if pt.offset == 0 && pt.take == pt.u.n {
			whole[pt.u.field] = append(whole[pt.u.field], pt.u)
			continue
		}
		cond := "(" + quoteIdent(tagDevice) + " = " + quoteString(pt.u.device) + " AND " + quoteIdent(tagSignal) + " = " + quoteString(pt.u.signal) + ")"
		add(pt.u.field, cond, pt.take, pt.offset)
	}
	for _, f := range p.fields() {
		if us := whole[f]; len(us) > 0 {
			for _, cond := range p.unitsConds(us, all) {
				add(f, cond, 0, 0)
			}
		}
	}

	out := map[unitKey][]ts.Sample{}
	err = s.selectQL(ctx, db, stmts, func(i int, ser *qlSeries) error {
		k := unitKey{ser.Tags[tagDevice], ser.Tags[tagSignal], fields[i]}
		smp, err := p.samples(k, ser.Values)
		if err != nil {
			return fmt.Errorf("%s/%s: %w", k.device, k.signal, err)
		}
		if first.keys[k] && offsets[i] == 0 && len(out[k]) == 0 && len(smp) > 0 {
			smp[0].TS = first.ts
		}
		out[k] = append(out[k], smp...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, smp := range out {
		if !slices.IsSortedFunc(smp, func(a, b ts.Sample) int { return cmp.Compare(a.TS, b.TS) }) {
			slices.SortStableFunc(smp, func(a, b ts.Sample) int { return cmp.Compare(a.TS, b.TS) })
		}
	}
	if numericAgg(p.q.Agg) {
		if err := s.boolValues(ctx, db, p, all, first, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// samples turns the rows of an answer's series into samples.
func (p *plan) samples(k unitKey, rows [][]any) ([]ts.Sample, error) {
	out := make([]ts.Sample, 0, len(rows))
	for _, row := range rows {
		want := 2
		if p.q.Agg != ts.AggNone && len(row) > 2 {
			want = 3
		}
		if len(row) < want {
			return nil, fmt.Errorf("a row of %d columns", len(row))
		}
		t, err := intOf(row[0])
		if err != nil {
			return nil, fmt.Errorf("time: %w", err)
		}
		if p.q.Agg == ts.AggNone {
			v, err := valueOfQL(k.field, row[1])
			if err != nil {
				return nil, err
			}
			out = append(out, ts.Sample{TS: t, Value: v})
			continue
		}
		// A bucket's time is its start (aligned again, in case a server
		// answers the range's start for the first bucket).
		smp := ts.Sample{TS: floorDiv(t, p.every) * p.every}
		if smp.Count, err = intOf(row[1]); err != nil {
			return nil, fmt.Errorf("count: %w", err)
		}
		switch {
		case p.q.Agg == ts.AggCount:
			smp.Value = ts.Number(float64(smp.Count))
		case numericAgg(p.q.Agg) && k.field == fieldBool:
			// Set by boolValues.
		case numericAgg(p.q.Agg):
			f, err := floatOf(row[2])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.q.Agg, err)
			}
			smp.Value = ts.Number(f)
		default:
			if smp.Value, err = valueOfQL(k.field, row[2]); err != nil {
				return nil, err
			}
		}
		out = append(out, smp)
	}
	return out, nil
}

// boolValues sets the numeric aggregates of bool buckets (InfluxQL has no
// mean or sum of bools): it counts the trues of each bucket, over the
// span of the page's bool buckets. With n values and t trues, avg is t/n,
// sum t, min 1 when t == n and max 1 when t > 0.
func (s *Store) boolValues(ctx context.Context, db string, p *plan, all []unit, first firstBucket, got map[unitKey][]ts.Sample) error {
	var units []unit
	lo, hi := int64(maxMs), int64(minMs)
	for k, smp := range got {
		if k.field != fieldBool || len(smp) == 0 {
			continue
		}
		units = append(units, unit{device: k.device, signal: k.signal, field: k.field})
		lo, hi = min(lo, smp[0].TS), max(hi, smp[len(smp)-1].TS+p.every)
	}
	if len(units) == 0 {
		return nil
	}
	slices.SortFunc(units, unitLess)
	from, to := max(lo, p.from), min(hi, p.to)
	var stmts []string
	for _, cond := range p.unitsConds(units, all) {
		stmts = append(stmts, "SELECT count("+quoteIdent(fieldBool)+") FROM "+p.src+" WHERE "+timeCond(from, to)+" AND "+quoteIdent(fieldBool)+" = true AND "+cond+p.groupBy())
	}
	trues := map[unitKey]map[int64]int64{}
	err := s.selectQL(ctx, db, stmts, func(_ int, ser *qlSeries) error {
		k := unitKey{ser.Tags[tagDevice], ser.Tags[tagSignal], fieldBool}
		seen := trues[k] != nil
		if !seen {
			trues[k] = map[int64]int64{}
		}
		for j, row := range ser.Values {
			if len(row) < 2 {
				return fmt.Errorf("trues of %s/%s: a row of %d columns", k.device, k.signal, len(row))
			}
			t, err := intOf(row[0])
			if err != nil {
				return fmt.Errorf("trues of %s/%s: time: %w", k.device, k.signal, err)
			}
			n, err := intOf(row[1])
			if err != nil {
				return fmt.Errorf("trues of %s/%s: %w", k.device, k.signal, err)
			}
			t = floorDiv(t, p.every) * p.every
			if j == 0 && !seen && first.keys[k] {
				t = first.ts
			}
			trues[k][t] = n
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("trues: %w", err)
	}
	for k, smp := range got {
		if k.field != fieldBool {
			continue
		}
		for i := range smp {
			n, t := smp[i].Count, trues[k][smp[i].TS]
			var v float64
			switch p.q.Agg {
			case ts.AggAvg:
				v = float64(t) / float64(n)
			case ts.AggSum:
				v = float64(t)
			case ts.AggMin:
				if t == n {
					v = 1
				}
			case ts.AggMax:
				if t > 0 {
					v = 1
				}
			}
			smp[i].Value = ts.Number(v)
		}
	}
	return nil
}

// firstBucket is the bucket of the query's start when it begins before
// the first time InfluxDB holds (the bucket of 1677-09-21T00:12:43.146Z):
// InfluxDB reports that bucket's time as 0, the epoch, and answers it
// first. keys are the units with points in it.
type firstBucket struct {
	ts   int64
	keys map[unitKey]bool
}

// firstBucket finds the units with points in the query's first bucket
// when InfluxDB misreports its time (the first bucket of an aggregate is
// then its first row); nothing otherwise.
func (s *Store) firstBucket(ctx context.Context, db string, p *plan) (firstBucket, error) {
	fb := firstBucket{ts: floorDiv(p.from, max(p.every, 1)) * max(p.every, 1)}
	if p.q.Agg == ts.AggNone || fb.ts >= minMs {
		return fb, nil
	}
	var stmts, fields []string
	for _, f := range p.fields() {
		for _, cond := range p.selection() {
			stmts = append(stmts, "SELECT count("+quoteIdent(f)+") FROM "+p.src+" WHERE "+timeCond(p.from, min(fb.ts+p.every, p.to))+" AND "+cond+
				` GROUP BY "`+tagDevice+`", "`+tagSignal+`"`)
			fields = append(fields, f)
		}
	}
	fb.keys = map[unitKey]bool{}
	err := s.selectQL(ctx, db, stmts, func(i int, ser *qlSeries) error {
		fb.keys[unitKey{ser.Tags[tagDevice], ser.Tags[tagSignal], fields[i]}] = true
		return nil
	})
	if err != nil {
		return fb, fmt.Errorf("first bucket: %w", err)
	}
	return fb, nil
}

// valueOfQL is a field's value in an InfluxQL answer, of the field's kind.
func valueOfQL(field string, v any) (ts.Value, error) {
	switch x := v.(type) {
	case json.Number:
		if field == fieldNum {
			f, err := strconv.ParseFloat(string(x), 64)
			if err != nil {
				return ts.Value{}, fmt.Errorf("field %q: %w", field, err)
			}
			return ts.Number(f), nil
		}
	case bool:
		if field == fieldBool {
			return ts.Bool(x), nil
		}
	case string:
		if field == fieldStr {
			return ts.String(x), nil
		}
	}
	return ts.Value{}, fmt.Errorf("field %q holds a %T: not written by sluice", field, v)
}

func intOf(v any) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("want an integer, got a %T", v)
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want an integer: %w", err)
	}
	return i, nil
}

func floatOf(v any) (float64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, fmt.Errorf("want a number, got a %T", v)
	}
	return strconv.ParseFloat(string(n), 64)
}

// floorDiv is a / b rounded down (b > 0).
func floorDiv(a, b int64) int64 {
	d := a / b
	if a%b != 0 && a < 0 {
		d--
	}
	return d
}

// selectQL runs InfluxQL statements in one request on /query of db, with
// times in Unix milliseconds, and calls fn with the index of the
// statement for each series of its answer. The answer is chunked (so that
// no row limit of the server cuts it and it is read as it comes): a
// series may come in several pieces, in order, each passed to fn.
func (s *Store) selectQL(ctx context.Context, db string, stmts []string, fn func(stmt int, ser *qlSeries) error) error {
	if len(stmts) == 0 {
		return nil
	}
	form := url.Values{
		"q":          {strings.Join(stmts, ";\n")},
		"db":         {db},
		"epoch":      {"ms"},
		"chunked":    {"true"},
		"chunk_size": {"10000"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base.JoinPath("query").String(), strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("influxql: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	s.authorize(req)
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("influxql: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return fmt.Errorf("influxql: %s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("influxql: %s: %.200q", resp.Status, body)
	}
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	for {
		var chunk struct {
			Results []struct {
				StatementID int        `json:"statement_id"`
				Series      []qlSeries `json:"series"`
				Error       string     `json:"error"`
			} `json:"results"`
			Error string `json:"error"`
		}
		if err := dec.Decode(&chunk); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("influxql: read the answer: %w", err)
		}
		if chunk.Error != "" {
			return fmt.Errorf("influxql: %s", chunk.Error)
		}
		for _, r := range chunk.Results {
			if r.StatementID < 0 || r.StatementID >= len(stmts) {
				return fmt.Errorf("influxql: an answer to statement %d of %d", r.StatementID, len(stmts))
			}
			if r.Error != "" {
				return fmt.Errorf("influxql: %s (in %.300s)", r.Error, stmts[r.StatementID])
			}
			for i := range r.Series {
				if err := fn(r.StatementID, &r.Series[i]); err != nil {
					return err
				}
			}
		}
	}
}
