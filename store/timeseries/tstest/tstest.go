// Package tstest is the conformance suite of store/timeseries.Store: the
// semantics every implementation keeps (the embedded SQLite store and the
// InfluxDB store run it). Run it from a test of the implementation:
//
//	func TestConformance(t *testing.T) {
//		tstest.Run(t, func(t *testing.T) timeseries.Store { return openFresh(t) })
//	}
//
// open must return an empty store (no points of any tenant) that t.Cleanup
// closes.
package tstest

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	ts "github.com/sluicehq/sluice/store/timeseries"
)

const minute = int64(60_000)

// T0 is a whole hour, so that minute buckets start at T0 + k minutes.
var T0 = time.Date(2025, 11, 22, 10, 0, 0, 0, time.UTC).UnixMilli()

// Run runs the suite, one subtest per property, each on a store of its own.
func Run(t *testing.T, open func(t *testing.T) ts.Store) {
	for _, c := range []struct {
		name string
		fn   func(*testing.T, ts.Store)
	}{
		{"WriteAndRawQuery", testWriteAndRawQuery},
		{"TenantIsolation", testTenantIsolation},
		{"ValuesRoundTrip", testValuesRoundTrip},
		{"WriteReplacesTheSamePoint", testWriteReplacesTheSamePoint},
		{"WriteRefusesBadPoints", testWriteRefusesBadPoints},
		{"Aggregates", testAggregates},
		{"Pagination", testPagination},
		{"Latest", testLatest},
		{"Devices", testDevices},
		{"BadQueries", testBadQueries},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
}

// Ctx is a context for one call of a test.
func Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Num is a numeric point.
func Num(tenant, dev, sig string, ts0 int64, v float64) ts.Point {
	return ts.Point{Tenant: tenant, Device: dev, Signal: sig, TS: ts0, Value: ts.Number(v)}
}

// MustWrite writes points or fails the test.
func MustWrite(t testing.TB, s ts.Writer, pts ...ts.Point) {
	t.Helper()
	if err := s.Write(Ctx(t), pts); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// MustQuery queries or fails the test.
func MustQuery(t testing.TB, s ts.Reader, q ts.Query) *ts.Result {
	t.Helper()
	r, err := s.Query(Ctx(t), q)
	if err != nil {
		t.Fatalf("query %+v: %v", q, err)
	}
	return r
}

// Flat lists a result's samples as "device/signal" -> samples.
func Flat(r *ts.Result) map[string][]ts.Sample {
	out := map[string][]ts.Sample{}
	for _, s := range r.Series {
		out[s.Device+"/"+s.Signal] = append(out[s.Device+"/"+s.Signal], s.Points...)
	}
	return out
}

func testWriteAndRawQuery(t *testing.T, s ts.Store) {
	MustWrite(t, s,
		Num("acme", "boiler-1", "temperature", T0, 80.5),
		Num("acme", "boiler-1", "temperature", T0+1000, 81),
		Num("acme", "boiler-1", "temperature", T0+2000, 81.5),
		ts.Point{Tenant: "acme", Device: "boiler-1", Signal: "running", TS: T0, Value: ts.Bool(true)},
		ts.Point{Tenant: "acme", Device: "boiler-1", Signal: "mode", TS: T0 + 1000, Value: ts.String("eco")},
		Num("acme", "boiler-2", "temperature", T0, 60),
		Num("other", "boiler-1", "temperature", T0, -1), // another tenant
	)
	r := MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"boiler-2", "boiler-1"}, From: T0, To: T0 + 2000})
	var got []string
	for _, ser := range r.Series {
		got = append(got, ser.Device+"/"+ser.Signal)
	}
	want := []string{"boiler-1/mode", "boiler-1/running", "boiler-1/temperature", "boiler-2/temperature"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("series = %v, want %v (by device, then signal)", got, want)
	}
	f := Flat(r)
	// [from, to): the point at T0+2000 is out.
	if want := []ts.Sample{{TS: T0, Value: ts.Number(80.5)}, {TS: T0 + 1000, Value: ts.Number(81)}}; !reflect.DeepEqual(f["boiler-1/temperature"], want) {
		t.Errorf("temperature = %+v, want %+v", f["boiler-1/temperature"], want)
	}
	if v := f["boiler-1/running"][0].Value; v.Any() != true {
		t.Errorf("running = %#v, want true", v.Any())
	}
	if v := f["boiler-1/mode"][0].Value; v.Any() != "eco" {
		t.Errorf("mode = %#v, want eco", v.Any())
	}
	if r.NextOffset != 0 {
		t.Errorf("nextOffset = %d on the only page", r.NextOffset)
	}
	// The signals filter.
	r = MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"boiler-1"}, Signals: []string{"temperature", "pressure"}, From: 0, To: T0 + minute})
	if f := Flat(r); len(r.Series) != 1 || len(f["boiler-1/temperature"]) != 3 {
		t.Errorf("signals filter = %+v", r)
	}
	// An unknown device has no series; a range before the points neither.
	if r := MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"nope"}, From: 0, To: T0 + minute}); len(r.Series) != 0 {
		t.Errorf("unknown device = %+v", r)
	}
	if r := MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"boiler-1"}, From: 0, To: T0}); len(r.Series) != 0 {
		t.Errorf("range before the points = %+v", r)
	}
	// A range as wide as it gets.
	if r := MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"boiler-2"}, From: math.MinInt64 / 2, To: math.MaxInt64 / 2}); len(r.Series) != 1 || len(r.Series[0].Points) != 1 {
		t.Errorf("widest range = %+v", r)
	}
}

func testTenantIsolation(t *testing.T, s ts.Store) {
	MustWrite(t, s,
		Num("acme", "d", "x", T0, 1),
		Num("other", "d", "x", T0, 2),
		Num("other", "e", "y", T0, 3),
		Num("acme-eu", "d", "x", T0, 4), // names that a careless mapping would merge
		Num("acme_eu", "d", "x", T0, 5),
		Num("", "d", "x", T0, 6),
	)
	for tenant, want := range map[string]float64{"acme": 1, "other": 2, "acme-eu": 4, "acme_eu": 5, "": 6} {
		r := MustQuery(t, s, ts.Query{Tenant: tenant, Devices: []string{"d", "e"}, From: T0, To: T0 + 1})
		if f := Flat(r); len(f["d/x"]) != 1 || f["d/x"][0].Value.Num != want {
			t.Errorf("tenant %q: %+v, want d/x = %v", tenant, f, want)
		}
		if tenant != "other" && len(r.Series) != 1 {
			t.Errorf("tenant %q sees %d series", tenant, len(r.Series))
		}
		l, err := s.Latest(Ctx(t), tenant, "d")
		if err != nil || len(l) != 1 || l[0].Value.Num != want {
			t.Errorf("latest of tenant %q: %+v, %v", tenant, l, err)
		}
	}
	if d, err := s.Devices(Ctx(t), "other"); err != nil || len(d) != 2 {
		t.Errorf("devices of other = %+v, %v", d, err)
	}
	if r := MustQuery(t, s, ts.Query{Tenant: "nobody", Devices: []string{"d"}, From: T0, To: T0 + 1}); len(r.Series) != 0 {
		t.Errorf("a tenant without points sees %+v", r)
	}
}

// testValuesRoundTrip: every kind reads back as itself, with the names
// and values a careless encoding would break.
func testValuesRoundTrip(t *testing.T, s ts.Store) {
	values := []ts.Value{
		ts.Number(0), ts.Number(-0.5), ts.Number(1e300), ts.Number(-1e-300), ts.Number(math.MaxFloat64), ts.Number(5e-324),
		ts.Number(123456789012345678), ts.Number(1.0 / 3),
		ts.Bool(true), ts.Bool(false),
		ts.String(""), ts.String("plain"), ts.String(`quote " backslash \ end\`), ts.String("line\nbreak\ttab"),
		ts.String("ünïcødé ✓ ${x} 'single'"), ts.String(`{"json": [1, 2]}`),
	}
	var pts []ts.Point
	for i, v := range values {
		pts = append(pts, ts.Point{Tenant: "acme", Device: "d", Signal: "v", TS: T0 + int64(i), Value: v})
	}
	names := []string{"with space", "comma,and=equals", `quote"d`, "ünï ✓", "dollar${x}", `back\slash`, "tab\there", "'single'"}
	for i, n := range names {
		pts = append(pts, Num("acme", n, n, T0, float64(i)))
	}
	MustWrite(t, s, pts...)
	r := MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"d"}, From: T0, To: T0 + minute})
	got := Flat(r)["d/v"]
	if len(got) != len(values) {
		t.Fatalf("%d values back, want %d: %+v", len(got), len(values), got)
	}
	for i, v := range values {
		if got[i].Value != v || got[i].TS != T0+int64(i) {
			t.Errorf("value %d = %+v, want %+v", i, got[i], v)
		}
	}
	r = MustQuery(t, s, ts.Query{Tenant: "acme", Devices: names, From: T0, To: T0 + 1})
	f := Flat(r)
	for i, n := range names {
		if p := f[n+"/"+n]; len(p) != 1 || p[0].Value.Num != float64(i) {
			t.Errorf("device and signal %q: %+v", n, p)
		}
		if l, err := s.Latest(Ctx(t), "acme", n); err != nil || len(l) != 1 || l[0].Signal != n {
			t.Errorf("latest of %q: %+v, %v", n, l, err)
		}
	}
}

func testWriteReplacesTheSamePoint(t *testing.T, s ts.Store) {
	for range 3 { // a replayed batch
		MustWrite(t, s, Num("acme", "d", "x", T0, 1), Num("acme", "d", "x", T0+1, 2))
	}
	MustWrite(t, s, Num("acme", "d", "x", T0+1, 3)) // a corrected value
	// Within one batch the later of two values for the same time wins.
	const half = 64
	var batch []ts.Point
	for i := range 4 * half {
		batch = append(batch, Num("acme", "e", "x", T0+int64(i%half), float64(i)))
	}
	MustWrite(t, s, batch...)
	got := Flat(MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"e"}, From: T0, To: T0 + 1000}))["e/x"]
	if len(got) != half || got[0].Value.Num != 3*half || got[half-1].Value.Num != 4*half-1 {
		t.Errorf("duplicates within a batch: %d points, first %+v, last %+v", len(got), got[0], got[len(got)-1])
	}
	r := MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"d"}, From: T0, To: T0 + 10})
	if want := []ts.Sample{{TS: T0, Value: ts.Number(1)}, {TS: T0 + 1, Value: ts.Number(3)}}; !reflect.DeepEqual(Flat(r)["d/x"], want) {
		t.Errorf("points = %+v, want %+v", Flat(r)["d/x"], want)
	}
	if d, err := s.Devices(Ctx(t), "acme"); err != nil || len(d) != 2 {
		t.Errorf("devices = %+v, %v", d, err)
	}
}

func testWriteRefusesBadPoints(t *testing.T, s ts.Store) {
	for _, p := range []ts.Point{
		{Device: "", Signal: "x", Value: ts.Number(1)},
		{Device: "d", Signal: "", Value: ts.Number(1)},
		{Device: "d", Signal: "x", Value: ts.Number(math.NaN())},
		{Device: "d", Signal: "x", Value: ts.Number(math.Inf(1))},
	} {
		p.Tenant = "acme"
		err := s.Write(Ctx(t), []ts.Point{Num("acme", "d", "ok", T0, 1), p})
		if !errors.Is(err, ts.ErrBadPoint) {
			t.Errorf("write %+v: %v, want ErrBadPoint", p, err)
		}
	}
	// All or nothing: the good point of each refused batch is not there.
	if r := MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"d"}, From: 0, To: T0 + 1}); len(r.Series) != 0 {
		t.Errorf("a refused batch left %+v", r)
	}
}

// AggData writes signal x of device d of tenant acme: one point every 20 s
// for 3 minutes from T0, values 1..9 (minute 0 holds 1,2,3; minute 1
// 4,5,6; minute 2 7,8,9). Signal s holds strings a..i, signal b bools
// (true, false, true, ...).
func AggData(t testing.TB, s ts.Writer) {
	var pts []ts.Point
	for i := range 9 {
		at := T0 + int64(i)*20_000
		pts = append(pts,
			Num("acme", "d", "x", at, float64(i+1)),
			ts.Point{Tenant: "acme", Device: "d", Signal: "s", TS: at, Value: ts.String(string(rune('a' + i)))},
			ts.Point{Tenant: "acme", Device: "d", Signal: "b", TS: at, Value: ts.Bool(i%2 == 0)},
		)
	}
	MustWrite(t, s, pts...)
}

func testAggregates(t *testing.T, s ts.Store) {
	AggData(t, s)
	q := func(agg ts.Agg, sig string, from, to int64, every time.Duration) []ts.Sample {
		t.Helper()
		return Flat(MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"d"}, Signals: []string{sig}, From: from, To: to, Agg: agg, Every: every}))["d/"+sig]
	}
	n := func(at int64, v float64, count int64) ts.Sample {
		return ts.Sample{TS: at, Value: ts.Number(v), Count: count}
	}
	end := T0 + 3*minute
	for _, c := range []struct {
		agg  ts.Agg
		want []ts.Sample
	}{
		{ts.AggAvg, []ts.Sample{n(T0, 2, 3), n(T0+minute, 5, 3), n(T0+2*minute, 8, 3)}},
		{ts.AggMin, []ts.Sample{n(T0, 1, 3), n(T0+minute, 4, 3), n(T0+2*minute, 7, 3)}},
		{ts.AggMax, []ts.Sample{n(T0, 3, 3), n(T0+minute, 6, 3), n(T0+2*minute, 9, 3)}},
		{ts.AggSum, []ts.Sample{n(T0, 6, 3), n(T0+minute, 15, 3), n(T0+2*minute, 24, 3)}},
		{ts.AggCount, []ts.Sample{n(T0, 3, 3), n(T0+minute, 3, 3), n(T0+2*minute, 3, 3)}},
		{ts.AggFirst, []ts.Sample{n(T0, 1, 3), n(T0+minute, 4, 3), n(T0+2*minute, 7, 3)}},
		{ts.AggLast, []ts.Sample{n(T0, 3, 3), n(T0+minute, 6, 3), n(T0+2*minute, 9, 3)}},
	} {
		if got := q(c.agg, "x", T0, end, time.Minute); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s by minute = %+v\nwant %+v", c.agg, got, c.want)
		}
	}
	// One bucket over everything; a range that starts inside a bucket:
	// buckets stay aligned to the epoch, the first one holds only what is
	// in range (5, 6 at T0+1m20s, T0+1m40s).
	if got, want := q(ts.AggAvg, "x", T0, end, time.Hour), []ts.Sample{n(T0, 5, 9)}; !reflect.DeepEqual(got, want) {
		t.Errorf("avg by hour = %+v, want %+v", got, want)
	}
	if got, want := q(ts.AggSum, "x", T0+80_000, end, time.Minute), []ts.Sample{n(T0+minute, 11, 2), n(T0+2*minute, 24, 3)}; !reflect.DeepEqual(got, want) {
		t.Errorf("sum from inside a bucket = %+v, want %+v", got, want)
	}
	// Buckets that do not divide an hour: 7 s, aligned to the epoch.
	if got := q(ts.AggCount, "x", T0, end, 7*time.Second); len(got) != 9 || got[0].TS%7000 != 0 {
		t.Errorf("count by 7s = %+v", got)
	}
	// Strings: count, first and last only; numeric aggregates skip them.
	if got, want := q(ts.AggFirst, "s", T0, end, time.Minute)[1], (ts.Sample{TS: T0 + minute, Value: ts.String("d"), Count: 3}); got != want {
		t.Errorf("first string = %+v, want %+v", got, want)
	}
	if got, want := q(ts.AggLast, "s", T0, end, time.Minute)[2], (ts.Sample{TS: T0 + 2*minute, Value: ts.String("i"), Count: 3}); got != want {
		t.Errorf("last string = %+v, want %+v", got, want)
	}
	if got := q(ts.AggAvg, "s", T0, end, time.Minute); len(got) != 0 {
		t.Errorf("avg of strings = %+v, want no buckets", got)
	}
	// Bools count as 0 and 1: minute 0 holds true, false, true.
	if got, want := q(ts.AggAvg, "b", T0, T0+minute, time.Minute), []ts.Sample{n(T0, 2.0/3, 3)}; !reflect.DeepEqual(got, want) {
		t.Errorf("avg of bools = %+v, want %+v", got, want)
	}
	if got := q(ts.AggLast, "b", T0, T0+minute, time.Minute); len(got) != 1 || got[0].Value != ts.Bool(true) {
		t.Errorf("last bool = %+v", got)
	}
	// Every signal at once: series by signal name.
	r := MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"d"}, From: T0, To: end, Agg: ts.AggCount, Every: time.Hour})
	if f := Flat(r); len(r.Series) != 3 || r.Series[0].Signal != "b" || f["d/s"][0].Count != 9 {
		t.Errorf("count of every signal = %+v", r)
	}
}

func testPagination(t *testing.T, s ts.Store) {
	var pts []ts.Point
	for _, dev := range []string{"a", "b", "c"} {
		for _, sig := range []string{"x", "y"} {
			for i := range 7 {
				pts = append(pts, Num("acme", dev, sig, T0+int64(i)*1000, float64(i)))
			}
		}
	}
	MustWrite(t, s, pts...)
	base := ts.Query{Tenant: "acme", Devices: []string{"a", "b", "c"}, From: T0, To: T0 + minute}
	all := Flat(MustQuery(t, s, base))
	if len(all) != 6 {
		t.Fatalf("the whole answer = %+v", all)
	}
	for _, limit := range []int{1, 5, 7, 14, 41, 42, 100} {
		got := map[string][]ts.Sample{}
		q := base
		q.Limit = limit
		pages := 0
		for {
			r := MustQuery(t, s, q)
			pages++
			total := 0
			for _, ser := range r.Series {
				total += len(ser.Points)
				got[ser.Device+"/"+ser.Signal] = append(got[ser.Device+"/"+ser.Signal], ser.Points...)
			}
			if total > limit {
				t.Fatalf("limit %d: a page of %d", limit, total)
			}
			if r.NextOffset == 0 {
				break
			}
			if r.NextOffset != q.Offset+limit || total != limit {
				t.Fatalf("limit %d: page of %d, nextOffset %d after offset %d", limit, total, r.NextOffset, q.Offset)
			}
			q.Offset = r.NextOffset
		}
		if !reflect.DeepEqual(got, all) {
			t.Errorf("limit %d: pages do not add up to the whole answer", limit)
		}
		if want := (42 + limit - 1) / limit; pages != want {
			t.Errorf("limit %d: %d pages, want %d", limit, pages, want)
		}
	}
	// An offset past the end: an empty last page.
	q := base
	q.Offset = 42
	if r := MustQuery(t, s, q); len(r.Series) != 0 || r.NextOffset != 0 {
		t.Errorf("offset past the end = %+v", r)
	}
	// Aggregates page by bucket.
	q = base
	q.Agg, q.Every, q.Limit = ts.AggCount, 2*time.Second, 5
	var buckets int
	for {
		r := MustQuery(t, s, q)
		for _, ser := range r.Series {
			buckets += len(ser.Points)
		}
		if r.NextOffset == 0 {
			break
		}
		q.Offset = r.NextOffset
	}
	if buckets != 6*4 { // 7 points in buckets of 2 s: 4 buckets per series
		t.Errorf("%d buckets over all pages, want 24", buckets)
	}
}

func testLatest(t *testing.T, s ts.Store) {
	MustWrite(t, s,
		Num("acme", "d", "x", T0+5, 5), Num("acme", "d", "x", T0+9, 9), Num("acme", "d", "x", T0+1, 1),
		ts.Point{Tenant: "acme", Device: "d", Signal: "on", TS: T0, Value: ts.Bool(false)},
		ts.Point{Tenant: "acme", Device: "d", Signal: "mode", TS: T0 - 1000, Value: ts.String("eco")},
		Num("acme", "e", "x", T0+100, 100),
		Num("other", "d", "x", T0+100, 100),
	)
	got, err := s.Latest(Ctx(t), "acme", "d")
	if err != nil {
		t.Fatal(err)
	}
	want := []ts.Latest{{Signal: "mode", TS: T0 - 1000, Value: ts.String("eco")}, {Signal: "on", TS: T0, Value: ts.Bool(false)}, {Signal: "x", TS: T0 + 9, Value: ts.Number(9)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("latest = %+v, want %+v", got, want)
	}
	if got, err := s.Latest(Ctx(t), "acme", "nobody"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("latest of an unknown device = %#v, %v", got, err)
	}
	if got, err := s.Latest(Ctx(t), "nobody", "d"); err != nil || len(got) != 0 {
		t.Errorf("latest of an unknown tenant = %+v, %v", got, err)
	}
	if _, err := s.Latest(Ctx(t), "acme", ""); !errors.Is(err, ts.ErrBadQuery) {
		t.Errorf("latest without a device: %v, want ErrBadQuery", err)
	}
}

func testDevices(t *testing.T, s ts.Store) {
	p := Num("acme", "b", "x", T0, 1)
	p.Tags = map[string]string{"site": "north"}
	q := Num("acme", "b", "y", T0, 1)
	q.Tags = map[string]string{"line": "2"}
	MustWrite(t, s, Num("acme", "c", "x", T0, 1), p, q, Num("other", "a", "x", T0, 1))
	got, err := s.Devices(Ctx(t), "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := []ts.DeviceInfo{{ID: "b", Tags: map[string]string{"site": "north", "line": "2"}}, {ID: "c"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("devices = %+v, want %+v", got, want)
	}
	// A later set replaces the series' tags; a point without tags keeps them.
	p.TS, p.Tags = T0+1000, map[string]string{"site": "south"}
	q.TS, q.Tags = T0+1000, nil
	MustWrite(t, s, p, q)
	got, err = s.Devices(Ctx(t), "acme")
	if err != nil {
		t.Fatal(err)
	}
	want[0].Tags = map[string]string{"site": "south", "line": "2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("devices after new tags = %+v, want %+v", got, want)
	}
	// Tags are not series: the device's points are one series per signal.
	if r := MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"b"}, From: T0, To: T0 + minute}); len(r.Series) != 2 || len(r.Series[0].Points) != 2 {
		t.Errorf("points of the tagged device = %+v", r)
	}
	if got, err := s.Devices(Ctx(t), "nobody"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("devices of an unknown tenant = %#v, %v", got, err)
	}
}

func testBadQueries(t *testing.T, s ts.Store) {
	for _, q := range []ts.Query{
		{From: 0, To: 1},
		{Devices: []string{"d"}, From: 5, To: 5},
		{Devices: []string{"d"}, From: 0, To: 1, Agg: "median", Every: time.Second},
		{Devices: []string{"d"}, From: 0, To: 1, Agg: ts.AggAvg},
		{Devices: []string{"d"}, From: 0, To: 1, Limit: ts.MaxLimit + 1},
		{Devices: []string{"d"}, From: 0, To: 1, Offset: -1},
		{Devices: []string{""}, From: 0, To: 1},
	} {
		if _, err := s.Query(Ctx(t), q); !errors.Is(err, ts.ErrBadQuery) {
			t.Errorf("query %+v: %v, want ErrBadQuery", q, err)
		}
	}
}
