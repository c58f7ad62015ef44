package timeseries

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// No goroutine may outlive a test: the maintenance goroutine included.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const minute = int64(60_000)

// t0 is a whole hour, so that minute buckets start at t0 + k minutes.
var t0 = time.Date(2025, 11, 22, 10, 0, 0, 0, time.UTC).UnixMilli()

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openT(t testing.TB, dir string, o Options) *Embedded {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := Open(ctxT(t), dir, o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func num(tenant, dev, sig string, ts int64, v float64) Point {
	return Point{Tenant: tenant, Device: dev, Signal: sig, TS: ts, Value: Number(v)}
}

func mustWrite(t testing.TB, s Writer, pts ...Point) {
	t.Helper()
	if err := s.Write(ctxT(t), pts); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func mustQuery(t testing.TB, s Reader, q Query) *Result {
	t.Helper()
	r, err := s.Query(ctxT(t), q)
	if err != nil {
		t.Fatalf("query %+v: %v", q, err)
	}
	return r
}

// flat lists a result's samples as "device/signal" -> samples.
func flat(r *Result) map[string][]Sample {
	out := map[string][]Sample{}
	for _, s := range r.Series {
		out[s.Device+"/"+s.Signal] = append(out[s.Device+"/"+s.Signal], s.Points...)
	}
	return out
}

func TestWriteAndRawQuery(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	mustWrite(t, s,
		num("acme", "boiler-1", "temperature", t0, 80.5),
		num("acme", "boiler-1", "temperature", t0+1000, 81),
		num("acme", "boiler-1", "temperature", t0+2000, 81.5),
		Point{Tenant: "acme", Device: "boiler-1", Signal: "running", TS: t0, Value: Bool(true)},
		Point{Tenant: "acme", Device: "boiler-1", Signal: "mode", TS: t0 + 1000, Value: String("eco")},
		num("acme", "boiler-2", "temperature", t0, 60),
		num("other", "boiler-1", "temperature", t0, -1), // another tenant
	)
	r := mustQuery(t, s, Query{Tenant: "acme", Devices: []string{"boiler-2", "boiler-1"}, From: t0, To: t0 + 2000})
	var got []string
	for _, ser := range r.Series {
		got = append(got, ser.Device+"/"+ser.Signal)
	}
	want := []string{"boiler-1/mode", "boiler-1/running", "boiler-1/temperature", "boiler-2/temperature"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("series = %v, want %v (by device, then signal)", got, want)
	}
	f := flat(r)
	// [from, to): the point at t0+2000 is out.
	if want := []Sample{{TS: t0, Value: Number(80.5)}, {TS: t0 + 1000, Value: Number(81)}}; !reflect.DeepEqual(f["boiler-1/temperature"], want) {
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

	// Signals filter; the other tenant sees its own point only.
	r = mustQuery(t, s, Query{Tenant: "other", Devices: []string{"boiler-1"}, Signals: []string{"temperature", "pressure"}, From: 0, To: t0 + minute})
	if f := flat(r); len(r.Series) != 1 || len(f["boiler-1/temperature"]) != 1 || f["boiler-1/temperature"][0].Value.Num != -1 {
		t.Errorf("other tenant = %+v", r)
	}
	// An unknown device has no series.
	if r := mustQuery(t, s, Query{Tenant: "acme", Devices: []string{"nope"}, From: 0, To: t0}); len(r.Series) != 0 {
		t.Errorf("unknown device = %+v", r)
	}
}

func TestWriteReplacesTheSamePoint(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	for range 3 { // a replayed batch
		mustWrite(t, s, num("acme", "d", "x", t0, 1), num("acme", "d", "x", t0+1, 2))
	}
	mustWrite(t, s, num("acme", "d", "x", t0+1, 3)) // a corrected value
	// Within one batch, and within one insert statement, the later of two
	// values for the same time wins.
	const half = rowsPerInsert / 2
	var batch []Point
	for i := range 2 * rowsPerInsert {
		batch = append(batch, num("acme", "e", "x", t0+int64(i%half), float64(i)))
	}
	mustWrite(t, s, batch...)
	got := flat(mustQuery(t, s, Query{Tenant: "acme", Devices: []string{"e"}, From: t0, To: t0 + 1000}))["e/x"]
	if len(got) != half || got[0].Value.Num != 2*rowsPerInsert-half || got[half-1].Value.Num != 2*rowsPerInsert-1 {
		t.Errorf("duplicates within a batch: %d points, first %+v, last %+v", len(got), got[0], got[len(got)-1])
	}
	r := mustQuery(t, s, Query{Tenant: "acme", Devices: []string{"d"}, From: t0, To: t0 + 10})
	if want := []Sample{{TS: t0, Value: Number(1)}, {TS: t0 + 1, Value: Number(3)}}; !reflect.DeepEqual(flat(r)["d/x"], want) {
		t.Errorf("points = %+v, want %+v", flat(r)["d/x"], want)
	}
	if n, err := s.SeriesCount(ctxT(t)); err != nil || n != 2 {
		t.Errorf("series = %d (%v), want 2", n, err)
	}
}

func TestWriteRefusesBadPoints(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	for _, p := range []Point{
		{Device: "", Signal: "x", Value: Number(1)},
		{Device: "d", Signal: "", Value: Number(1)},
		{Device: "d", Signal: "x", Value: Number(math.NaN())},
		{Device: "d", Signal: "x", Value: Number(math.Inf(1))},
	} {
		err := s.Write(ctxT(t), []Point{num("acme", "d", "ok", t0, 1), p})
		if !errors.Is(err, ErrBadPoint) {
			t.Errorf("write %+v: %v, want ErrBadPoint", p, err)
		}
	}
	// All or nothing: the good point of each refused batch is not there.
	if r := mustQuery(t, s, Query{Tenant: "acme", Devices: []string{"d"}, From: 0, To: t0 + 1}); len(r.Series) != 0 {
		t.Errorf("a refused batch left %+v", r)
	}
}

// aggData: signal x of device d, one point every 20 s for 3 minutes from
// t0: values 1..9. Minute 0 holds 1,2,3; minute 1 4,5,6; minute 2 7,8,9.
// Signal s holds strings, signal b bools (true, false, true, ...).
func aggData(t testing.TB, s Writer) {
	var pts []Point
	for i := range 9 {
		ts := t0 + int64(i)*20_000
		pts = append(pts,
			num("acme", "d", "x", ts, float64(i+1)),
			Point{Tenant: "acme", Device: "d", Signal: "s", TS: ts, Value: String(string(rune('a' + i)))},
			Point{Tenant: "acme", Device: "d", Signal: "b", TS: ts, Value: Bool(i%2 == 0)},
		)
	}
	mustWrite(t, s, pts...)
}

func TestAggregates(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	aggData(t, s)
	q := func(agg Agg, sig string, from, to int64, every time.Duration) []Sample {
		t.Helper()
		return flat(mustQuery(t, s, Query{Tenant: "acme", Devices: []string{"d"}, Signals: []string{sig}, From: from, To: to, Agg: agg, Every: every}))["d/"+sig]
	}
	n := func(ts int64, v float64, count int64) Sample { return Sample{TS: ts, Value: Number(v), Count: count} }
	end := t0 + 3*minute
	for _, c := range []struct {
		agg  Agg
		want []Sample
	}{
		{AggAvg, []Sample{n(t0, 2, 3), n(t0+minute, 5, 3), n(t0+2*minute, 8, 3)}},
		{AggMin, []Sample{n(t0, 1, 3), n(t0+minute, 4, 3), n(t0+2*minute, 7, 3)}},
		{AggMax, []Sample{n(t0, 3, 3), n(t0+minute, 6, 3), n(t0+2*minute, 9, 3)}},
		{AggSum, []Sample{n(t0, 6, 3), n(t0+minute, 15, 3), n(t0+2*minute, 24, 3)}},
		{AggCount, []Sample{n(t0, 3, 3), n(t0+minute, 3, 3), n(t0+2*minute, 3, 3)}},
		{AggFirst, []Sample{n(t0, 1, 3), n(t0+minute, 4, 3), n(t0+2*minute, 7, 3)}},
		{AggLast, []Sample{n(t0, 3, 3), n(t0+minute, 6, 3), n(t0+2*minute, 9, 3)}},
	} {
		if got := q(c.agg, "x", t0, end, time.Minute); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s by minute = %+v\nwant %+v", c.agg, got, c.want)
		}
	}
	// One bucket over everything; a range that starts inside a bucket:
	// buckets stay aligned to the epoch, the first one holds only what is
	// in range (5, 6 at t0+1m20s, t0+1m40s).
	if got, want := q(AggAvg, "x", t0, end, time.Hour), []Sample{n(t0, 5, 9)}; !reflect.DeepEqual(got, want) {
		t.Errorf("avg by hour = %+v, want %+v", got, want)
	}
	if got, want := q(AggSum, "x", t0+80_000, end, time.Minute), []Sample{n(t0+minute, 11, 2), n(t0+2*minute, 24, 3)}; !reflect.DeepEqual(got, want) {
		t.Errorf("sum from inside a bucket = %+v, want %+v", got, want)
	}
	// Strings: count, first and last only; numeric aggregates skip them.
	if got, want := q(AggFirst, "s", t0, end, time.Minute)[1], (Sample{TS: t0 + minute, Value: String("d"), Count: 3}); got != want {
		t.Errorf("first string = %+v, want %+v", got, want)
	}
	if got, want := q(AggLast, "s", t0, end, time.Minute)[2], (Sample{TS: t0 + 2*minute, Value: String("i"), Count: 3}); got != want {
		t.Errorf("last string = %+v, want %+v", got, want)
	}
	if got := q(AggAvg, "s", t0, end, time.Minute); len(got) != 0 {
		t.Errorf("avg of strings = %+v, want no buckets", got)
	}
	// Bools count as 0 and 1: minute 0 holds true, false, true.
	if got, want := q(AggAvg, "b", t0, t0+minute, time.Minute), []Sample{n(t0, 2.0/3, 3)}; !reflect.DeepEqual(got, want) {
		t.Errorf("avg of bools = %+v, want %+v", got, want)
	}
	if got := q(AggLast, "b", t0, t0+minute, time.Minute); len(got) != 1 || got[0].Value != Bool(true) {
		t.Errorf("last bool = %+v", got)
	}
}

func TestPagination(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	var pts []Point
	for _, dev := range []string{"a", "b", "c"} {
		for _, sig := range []string{"x", "y"} {
			for i := range 7 {
				pts = append(pts, num("acme", dev, sig, t0+int64(i)*1000, float64(i)))
			}
		}
	}
	mustWrite(t, s, pts...)
	base := Query{Tenant: "acme", Devices: []string{"a", "b", "c"}, From: t0, To: t0 + minute}
	all := flat(mustQuery(t, s, base))
	for _, limit := range []int{1, 5, 7, 14, 41, 42, 100} {
		got := map[string][]Sample{}
		q := base
		q.Limit = limit
		pages := 0
		for {
			r := mustQuery(t, s, q)
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
	// Aggregates page by bucket.
	q := base
	q.Agg, q.Every, q.Limit = AggCount, 2*time.Second, 5
	var buckets int
	for {
		r := mustQuery(t, s, q)
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

func TestLatest(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	mustWrite(t, s,
		num("acme", "d", "x", t0+5, 5), num("acme", "d", "x", t0+9, 9), num("acme", "d", "x", t0+1, 1),
		Point{Tenant: "acme", Device: "d", Signal: "on", TS: t0, Value: Bool(false)},
		num("acme", "e", "x", t0+100, 100),
		num("other", "d", "x", t0+100, 100),
	)
	got, err := s.Latest(ctxT(t), "acme", "d")
	if err != nil {
		t.Fatal(err)
	}
	want := []Latest{{Signal: "on", TS: t0, Value: Bool(false)}, {Signal: "x", TS: t0 + 9, Value: Number(9)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("latest = %+v, want %+v", got, want)
	}
	if got, err := s.Latest(ctxT(t), "acme", "nobody"); err != nil || len(got) != 0 {
		t.Errorf("latest of an unknown device = %+v, %v", got, err)
	}
}

func TestBadQueries(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	for _, q := range []Query{
		{From: 0, To: 1},
		{Devices: []string{"d"}, From: 5, To: 5},
		{Devices: []string{"d"}, From: 0, To: 1, Agg: "median", Every: time.Second},
		{Devices: []string{"d"}, From: 0, To: 1, Agg: AggAvg},
		{Devices: []string{"d"}, From: 0, To: 1, Limit: MaxLimit + 1},
		{Devices: []string{"d"}, From: 0, To: 1, Offset: -1},
		{Devices: []string{""}, From: 0, To: 1},
	} {
		if _, err := s.Query(ctxT(t), q); !errors.Is(err, ErrBadQuery) {
			t.Errorf("query %+v: %v, want ErrBadQuery", q, err)
		}
	}
}

func TestRetention(t *testing.T) {
	now := time.UnixMilli(t0 + 10*24*3600_000)
	s := openT(t, t.TempDir(), Options{Retention: 7 * 24 * time.Hour, Now: func() time.Time { return now }})
	cut := now.UnixMilli() - 7*24*3600_000
	mustWrite(t, s,
		num("acme", "d", "x", cut-1, 1), num("acme", "d", "x", cut, 2), num("acme", "d", "x", cut+1, 3),
		num("acme", "old", "x", cut-5000, 4), // its only point goes: the series goes too
	)
	r, err := s.Maintain(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Deleted != 2 || r.SeriesRemoved != 1 {
		t.Errorf("report = %+v, want 2 deleted, 1 series removed", r)
	}
	got := flat(mustQuery(t, s, Query{Tenant: "acme", Devices: []string{"d", "old"}, From: 0, To: now.UnixMilli()}))
	if want := map[string][]Sample{"d/x": {{TS: cut, Value: Number(2)}, {TS: cut + 1, Value: Number(3)}}}; !reflect.DeepEqual(got, want) {
		t.Errorf("after retention = %+v, want %+v", got, want)
	}
	// A forgotten series comes back with its next point.
	mustWrite(t, s, num("acme", "old", "x", cut+10, 5))
	if l, err := s.Latest(ctxT(t), "acme", "old"); err != nil || len(l) != 1 || l[0].Value.Num != 5 {
		t.Errorf("latest after the series came back = %+v, %v", l, err)
	}
}

// TestRetentionRunsInTheBackground: the store's own goroutine applies the
// retention without being asked, and Close stops it (TestMain checks).
func TestRetentionRunsInTheBackground(t *testing.T) {
	s := openT(t, t.TempDir(), Options{Retention: time.Hour, MaintainEvery: 10 * time.Millisecond})
	old := time.Now().Add(-2 * time.Hour).UnixMilli()
	mustWrite(t, s, num("acme", "d", "x", old, 1), num("acme", "d", "x", time.Now().UnixMilli(), 2))
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := mustQuery(t, s, Query{Tenant: "acme", Devices: []string{"d"}, From: 0, To: time.Now().Add(time.Hour).UnixMilli()})
		if len(r.Series) == 1 && len(r.Series[0].Points) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the old point is still there: %+v", r)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDownsampling(t *testing.T) {
	now := time.UnixMilli(t0 + 48*3600_000)
	dir := t.TempDir()
	s := openT(t, dir, Options{DownsampleAfter: 24 * time.Hour, Now: func() time.Time { return now }})
	aggData(t, s)
	recent := now.UnixMilli() - 3600_000
	mustWrite(t, s, num("acme", "d", "x", recent, 42), num("acme", "d", "x", recent+20_000, 43))

	all := Query{Tenant: "acme", Devices: []string{"d"}, From: t0 - minute, To: now.UnixMilli()}
	before := map[Agg]*Result{}
	for _, agg := range Aggs {
		for _, every := range []time.Duration{time.Minute, time.Hour, 24 * time.Hour} {
			q := all
			q.Agg, q.Every = agg, every
			if agg != AggFirst && agg != AggLast { // first/last of a minute become its average
				before[agg+Agg(every.String())] = mustQuery(t, s, q)
			}
		}
	}

	r, err := s.Maintain(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if r.Downsampled != 27 || r.Rollups != 9 { // 3 signals × 9 points → 3 signals × 3 minutes
		t.Errorf("report = %+v, want 27 points downsampled into 9", r)
	}
	raw := flat(mustQuery(t, s, all))
	n := func(ts int64, v float64, count int64) Sample { return Sample{TS: ts, Value: Number(v), Count: count} }
	wantX := []Sample{n(t0, 2, 3), n(t0+minute, 5, 3), n(t0+2*minute, 8, 3), {TS: recent, Value: Number(42)}, {TS: recent + 20_000, Value: Number(43)}}
	if !reflect.DeepEqual(raw["d/x"], wantX) {
		t.Errorf("x after downsampling = %+v\nwant %+v", raw["d/x"], wantX)
	}
	// Bools become the share of true values; strings keep the last one.
	if want := []Sample{n(t0, 2.0/3, 3), n(t0+minute, 1.0/3, 3), n(t0+2*minute, 2.0/3, 3)}; !reflect.DeepEqual(raw["d/b"], want) {
		t.Errorf("b after downsampling = %+v\nwant %+v", raw["d/b"], want)
	}
	if want := []Sample{{TS: t0, Value: String("c"), Count: 3}, {TS: t0 + minute, Value: String("f"), Count: 3}, {TS: t0 + 2*minute, Value: String("i"), Count: 3}}; !reflect.DeepEqual(raw["d/s"], want) {
		t.Errorf("s after downsampling = %+v\nwant %+v", raw["d/s"], want)
	}
	// Aggregates over downsampled data are what they were over the raw.
	check := func(when string) {
		t.Helper()
		for key, want := range before {
			q := all
			q.Agg, q.Every = Agg(""), 0
			for _, agg := range Aggs {
				if len(key) > len(agg) && Agg(key[:len(agg)]) == agg {
					if d, err := time.ParseDuration(string(key[len(agg):])); err == nil {
						q.Agg, q.Every = agg, d
					}
				}
			}
			if got := mustQuery(t, s, q); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s = %+v\nwant %+v", when, key, got, want)
			}
		}
	}
	check("after downsampling")

	// A second pass changes nothing; neither does a rerun of a window.
	if r, err := s.Maintain(ctxT(t)); err != nil || r != (MaintainReport{}) {
		t.Errorf("second pass = %+v, %v", r, err)
	}
	ids, _ := s.seriesIDs(ctxT(t))
	if _, _, err := s.downsampleChunk(ctxT(t), ids, t0, t0+3*minute, minute); err != nil {
		t.Fatal(err)
	}
	check("after a rerun")

	// The store reopens with its rollups; the watermark survives.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{DownsampleAfter: 24 * time.Hour, Now: func() time.Time { return now }})
	check("after reopening")
	if r, err := s.Maintain(ctxT(t)); err != nil || r != (MaintainReport{}) {
		t.Errorf("pass after reopening = %+v, %v", r, err)
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	mustWrite(t, s, num("acme", "d", "x", t0, 1), Point{Tenant: "acme", Device: "d", Signal: "y", TS: t0, Value: String("a"), Tags: map[string]string{"unit": "C"}})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctxT(t), []Point{num("acme", "d", "x", t0+1, 2)}); !errors.Is(err, ErrClosed) {
		t.Errorf("write after close: %v, want ErrClosed", err)
	}
	s = openT(t, dir, Options{})
	mustWrite(t, s, num("acme", "d", "x", t0+1, 2))
	got := flat(mustQuery(t, s, Query{Tenant: "acme", Devices: []string{"d"}, From: t0, To: t0 + 10}))
	want := map[string][]Sample{"d/x": {{TS: t0, Value: Number(1)}, {TS: t0 + 1, Value: Number(2)}}, "d/y": {{TS: t0, Value: String("a")}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after reopening = %+v, want %+v", got, want)
	}
	if n, err := s.SeriesCount(ctxT(t)); err != nil || n != 2 {
		t.Errorf("series = %d (%v), want 2", n, err)
	}
	var tags string
	if err := s.db.QueryRow(`SELECT tags FROM series WHERE signal = 'y'`).Scan(&tags); err != nil || tags != `{"unit":"C"}` {
		t.Errorf("tags = %q (%v)", tags, err)
	}
}

func TestOptionsChecked(t *testing.T) {
	for _, o := range []Options{
		{Retention: -time.Hour},
		{DownsampleTo: 10 * time.Millisecond},
		{DownsampleAfter: 30 * time.Second},
	} {
		if _, err := Open(ctxT(t), t.TempDir(), o); err == nil {
			t.Errorf("open with %+v: no error", o)
		}
	}
}

func TestDevices(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	p := num("acme", "b", "x", t0, 1)
	p.Tags = map[string]string{"site": "north"}
	q := num("acme", "b", "y", t0, 1)
	q.Tags = map[string]string{"line": "2"}
	mustWrite(t, s, num("acme", "c", "x", t0, 1), p, q, num("other", "a", "x", t0, 1))
	got, err := s.Devices(ctxT(t), "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := []DeviceInfo{{ID: "b", Tags: map[string]string{"site": "north", "line": "2"}}, {ID: "c"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("devices = %+v, want %+v", got, want)
	}
	if got, err := s.Devices(ctxT(t), "nobody"); err != nil || len(got) != 0 {
		t.Errorf("devices of an unknown tenant = %+v, %v", got, err)
	}
}
