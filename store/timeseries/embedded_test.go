package timeseries

import (
	"context"
	"errors"
	"log/slog"
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
