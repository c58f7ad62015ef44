package stats

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/rulego/rulego/api/types"

	_ "github.com/sluicehq/sluice/connectors/schedule" // the cron connector that drives the node
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/store"
	ts "github.com/sluicehq/sluice/store/timeseries"
)

const (
	hr = time.Hour
	mi = time.Minute
)

// boilerData writes the tests' known data:
//
//   - b1 temperature, window [9:00, 10:00): 2 4 4 4 5 5 7 9 at minutes
//     6 10 15 20 30 35 45 50, 1 at 8:58 (before the window), 1000 at 10:00
//     (the next window's);
//   - b1 energy (a counter): 100 at 8:55, then 110 130 5 (reset) 25 30 at
//     minutes 0 15 30 45 55;
//   - b2 temperature 10 and 20 at 9:00 and 9:30, tag site=berlin (b1 has
//     site=berlin too); p1 temperature 50 at 9:10, tag site=paris; the
//     string signal b1 mode.
func boilerData(t testing.TB, w ts.Writer) {
	t.Helper()
	var ps []ts.Point
	for i, m := range []time.Duration{6, 10, 15, 20, 30, 35, 45, 50} {
		ps = append(ps, pt("b1", "temperature", 9*hr+m*mi, []float64{2, 4, 4, 4, 5, 5, 7, 9}[i]))
	}
	ps = append(ps, pt("b1", "temperature", 8*hr+58*mi, 1.0), pt("b1", "temperature", 10*hr, 1000.0))
	ps = append(ps, pt("b1", "energy", 8*hr+55*mi, 100.0))
	for i, m := range []time.Duration{0, 15, 30, 45, 55} {
		ps = append(ps, pt("b1", "energy", 9*hr+m*mi, []float64{110, 130, 5, 25, 30}[i]))
	}
	ps = append(ps, pt("b1", "mode", 9*hr, "auto"))
	ps = append(ps, pt("b2", "temperature", 9*hr, 10.0), pt("b2", "temperature", 9*hr+30*mi, 20.0))
	ps = append(ps, pt("p1", "temperature", 9*hr+10*mi, 50.0))
	for i := range ps {
		switch ps[i].Device {
		case "b1", "b2":
			ps[i].Tags = map[string]string{"site": "berlin"}
		case "p1":
			ps[i].Tags = map[string]string{"site": "paris"}
		}
	}
	write(t, w, ps...)
}

// setup is a rig over a fresh store with the known data, records in a real
// system database, and cfg deployed.
func setup(t *testing.T, cfg map[string]any) (*rig, *store.DB) {
	t.Helper()
	dir := t.TempDir()
	s := openTS(t, dir)
	boilerData(t, s)
	db := openDB(t, dir)
	r := newRig(t, rigOpts{store: s, records: db.Stats()})
	r.deploy(cfg, 1)
	return r, db
}

func TestEveryAggregateAgainstHandComputedValues(t *testing.T) {
	r, _ := setup(t, map[string]any{"job": "hourly", "devices": []any{"b1"}, "signals": []any{"temperature", "energy", "mode"},
		"aggregates": []any{"avg", "min", "max", "sum", "count", "first", "last", "stddev", "p50", "p95", "p99", "delta", "twa"}, "lead": "1h"})
	ps := stats(t, r.tick(10*hr))
	if len(ps) != 1 || windows(ps) != "9-10" || ps[0].Job != "hourly" {
		t.Fatalf("got %+v", ps)
	}
	// No group for the string signal; groups in device, signal order.
	if len(ps[0].Groups) != 2 || ps[0].Groups[0]["signal"] != "energy" {
		t.Fatalf("groups %+v", ps[0].Groups)
	}
	// The point at 10:00 (1000) belongs to the next window; the one at
	// 8:58 (1) only starts the twa and delta.
	want(t, group(t, ps[0], "b1", "temperature", -1),
		"count", 8, "sum", 40.0, "avg", 5.0, "min", 2.0, "max", 9.0, "first", 2.0, "last", 9.0,
		"stddev", 2.138089935299395, // √(32/7)
		"p50", 4.5, "p95", 8.3, "p99", 8.86,
		"delta", 1.0+2+0+0+1+0+2+2, // from 1 at 8:58
		"twa", (6*1.0+288)/60) // 1 held 6 minutes, then the samples
	want(t, group(t, ps[0], "b1", "energy", -1),
		"count", 5, "first", 110.0, "last", 30.0, "min", 5.0, "max", 130.0,
		"delta", 10.0+20+5+20+5, // from 100 at 8:55; the drop to 5 is a reset
		// 100 from 9:00? no: 110 is at 9:00 itself. 110·15 + 130·15 + 5·15 + 25·10 + 30·5
		"twa", (110.0*15+130*15+5*15+25*10+30*5)/60)
}

func TestLookbackZeroStartsAtTheFirstPoint(t *testing.T) {
	r, _ := setup(t, map[string]any{"devices": []any{"b1"}, "signals": []any{"temperature", "energy"},
		"aggregates": []any{"delta", "twa"}, "lookback": "0s"})
	ps := stats(t, r.tick(10*hr))
	want(t, group(t, ps[0], "b1", "temperature", -1), "twa", 288.0/54, "delta", 7.0)
	want(t, group(t, ps[0], "b1", "energy", -1), "delta", 20.0+5+20+5)
	// A lookback shorter than the gap to the last point before the window
	// ignores it too: 8:58 is 2 minutes before 9:00.
	r2, _ := setup(t, map[string]any{"devices": []any{"b1"}, "signals": []any{"temperature"},
		"aggregates": []any{"twa"}, "lookback": "1m"})
	want(t, group(t, stats(t, r2.tick(10*hr))[0], "b1", "temperature", -1), "twa", 288.0/54)
}

func TestBuckets(t *testing.T) {
	r, _ := setup(t, map[string]any{"devices": []any{"b1"}, "signals": []any{"temperature", "energy"},
		"aggregates": []any{"count", "avg", "twa", "delta"}, "lead": "1h", "every": "30m"})
	p := stats(t, r.tick(10*hr))[0]
	if len(p.Groups) != 4 {
		t.Fatalf("groups %+v", p.Groups)
	}
	b0, b1 := at(9*hr), at(9*hr+30*mi)
	// 9:00-9:30: 2 4 4 4; twa from 1 (8:58): 1·6 + 2·4 + 4·5 + 4·5 + 4·10 = 94.
	want(t, group(t, p, "b1", "temperature", b0), "count", 4, "avg", 3.5, "twa", 94.0/30)
	// 9:30-10:00: 5 5 7 9, starting from 4 (9:20), which 9:30's own point replaces at once.
	want(t, group(t, p, "b1", "temperature", b1), "count", 4, "avg", 6.5, "twa", (5.0*5+5*10+7*5+9*10)/30)
	// The counter: 100→110→130 in the first half, 130→5 (reset)→25→30 in the second.
	want(t, group(t, p, "b1", "energy", b0), "delta", 30.0)
	want(t, group(t, p, "b1", "energy", b1), "delta", 30.0)
	if p.Groups[0]["bucket"] != float64(b0) || p.Groups[1]["bucket"] != float64(b1) {
		t.Errorf("bucket order: %+v", p.Groups)
	}
}

func TestDeviceSelection(t *testing.T) {
	for _, tc := range []struct {
		name string
		sel  map[string]any
		want string
	}{
		{"ids", map[string]any{"devices": []any{"p1", "b2", "nobody"}}, "b2,p1"},
		{"glob", map[string]any{"deviceGlob": "b*"}, "b1,b2"},
		{"every device", map[string]any{"deviceGlob": "*"}, "b1,b2,p1"},
		{"tag", map[string]any{"deviceTag": "site=paris"}, "p1"},
		{"glob and tag", map[string]any{"deviceGlob": "?1", "deviceTag": "site=berlin"}, "b1"},
		{"ids plus glob", map[string]any{"devices": []any{"p1"}, "deviceGlob": "b2"}, "b2,p1"},
		{"unknown tag value", map[string]any{"deviceTag": "site=rome"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]any{"signals": []any{"temperature"}, "aggregates": []any{"count"}}
			for k, v := range tc.sel {
				cfg[k] = v
			}
			r, _ := setup(t, cfg)
			p := stats(t, r.tick(10*hr))[0]
			var got []string
			for _, g := range p.Groups {
				got = append(got, g["deviceId"].(string))
			}
			if strings.Join(got, ",") != tc.want {
				t.Fatalf("selected %v, want %s", got, tc.want)
			}
		})
	}
}

func TestCalc(t *testing.T) {
	r, _ := setup(t, map[string]any{"job": "j", "deviceGlob": "b*", "signals": []any{"temperature"}, "aggregates": []any{"min", "max"},
		"calcLibrary": "function range(g) { return g.max - g.min; }",
		"calc": "const out = msg.groups.map(g => Object.assign(g, {range: range(g), job: metadata.statsJob + '/' + msgType}));\n" +
			"out.push({deviceId: 'all', signal: 'temperature', max: Math.max(...msg.groups.map(g => g.max)), from: msg.window.from});\n" +
			"return out;"})
	p := stats(t, r.tick(10*hr))[0]
	want(t, group(t, p, "b1", "temperature", -1), "range", 7.0)
	want(t, group(t, p, "b2", "temperature", -1), "range", 10.0)
	all := group(t, p, "all", "temperature", -1)
	want(t, all, "max", 20.0, "from", float64(at(9*hr)))
	if g := group(t, p, "b1", "temperature", -1); g["job"] != "j/STATS" {
		t.Errorf("calc saw metadata %v", g["job"])
	}
}

func TestFailingCalcGoesToFailureWithTheLine(t *testing.T) {
	for _, tc := range []struct {
		calc, want string
	}{
		{"const x = 1;\nthrow new Error('bad figure ' + x);", `window 2026-01-15T09:00:00Z/2026-01-15T10:00:00Z: calc: script error at line 2:7: Error: bad figure 1`},
		{"return 42;", "calc: result: want the groups: an array of objects (or {groups: [...]}); got 42"},
		{"return [1];", "calc: result: groups[0]: want an object, got 1"},
		{"for (;;) {}", "calc: script timed out after 20ms at line 1"},
	} {
		r, _ := setup(t, map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "calc": tc.calc, "calcTimeout": "20ms"})
		res := r.tick(10 * hr)
		if res.Status != engine.StatusFailed || !strings.Contains(res.Error, tc.want) || !strings.Contains(res.Error, "cronStats: ") {
			t.Errorf("calc %q: %s %q, want Failure with %q", tc.calc, res.Status, res.Error, tc.want)
		}
	}
	// Returning the payload itself works as well.
	r, _ := setup(t, map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "calc": "msg.groups.pop(); return msg;"})
	if p := stats(t, r.tick(10*hr))[0]; len(p.Groups) != 2 {
		t.Errorf("groups %+v", p.Groups)
	}
}

func TestOnceAWindowAndSkipped(t *testing.T) {
	r, db := setup(t, map[string]any{"job": "j", "deviceGlob": "*", "signals": []any{"temperature"}})
	if got := windows(stats(t, r.tick(10*hr))); got != "9-10" {
		t.Fatalf("first: %s", got)
	}
	// The same tick again (a retry, a second instance without the
	// schedule's claim), or an older one: nothing computed, nothing recorded.
	for _, d := range []time.Duration{10 * hr, 9 * hr} {
		res := r.tick(d)
		o := outs(t, res)
		if res.Status != engine.StatusCompleted || len(o) != 1 || o[0].rel != RelSkipped || o[0].md[MetaSkipped] != "done" {
			t.Fatalf("tick %s again: %s %+v", d, res.Status, o)
		}
	}
	// Another run holding the lock: busy.
	key := (&engine.Env{Tenant: tenant, FlowID: r.flow}).StateKey("stats", "stats/lock")
	if ok, err := r.state.CompareAndSet(context.Background(), key, nil, []byte("other-instance"), time.Minute); !ok || err != nil {
		t.Fatalf("take the lock: %v %v", ok, err)
	}
	o := outs(t, r.tick(11*hr))
	if len(o) != 1 || o[0].rel != RelSkipped || o[0].md[MetaSkipped] != "busy" {
		t.Fatalf("while locked: %+v", o)
	}
	if err := r.state.Delete(context.Background(), key); err != nil {
		t.Fatal(err)
	}
	if got := windows(stats(t, r.tick(11*hr))); got != "10-11" {
		t.Fatalf("after the lock went: %s", got)
	}
	// The run let go of its own lock.
	if _, ok, _ := r.state.Get(context.Background(), key); ok {
		t.Error("the lock is still held after the run")
	}
	recs, total, err := db.Stats().ListStats(context.Background(), store.StatsFilter{Tenant: tenant})
	if err != nil || total != 2 || recs[0].WindowFrom != at(10*hr) || recs[1].WindowFrom != at(9*hr) || recs[0].FlowID != r.flow ||
		recs[0].NodeID != "stats" || recs[0].Job != "j" || len(recs[1].Groups) != 3 {
		t.Fatalf("records %d %+v %v", total, recs, err)
	}
}

func TestTwoInstancesShareOneRunPerWindow(t *testing.T) {
	// Two engines (instances) over one state store and one time-series
	// store both get every tick: each window runs once.
	dir := t.TempDir()
	s := openTS(t, dir)
	boilerData(t, s)
	st, err := engine.NewMemoryState(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}}
	a := newRig(t, rigOpts{store: s, state: st, flow: "shared"})
	b := newRig(t, rigOpts{store: s, state: st, flow: "shared"})
	a.deploy(cfg, 1)
	b.deploy(cfg, 1)
	for hour := 10; hour < 16; hour++ {
		results := make(chan *engine.Result, 2)
		for _, r := range []*rig{a, b} {
			go func() {
				res, err := r.mgr.Submit(context.Background(), r.flow, tickMsg(time.Duration(hour)*hr), engine.SubmitOptions{Wait: true})
				if err != nil {
					res = &engine.Result{Status: "error", Error: err.Error()}
				}
				results <- res
			}()
		}
		var computed, skipped int
		for range 2 {
			res := <-results
			for _, o := range outs(t, res) {
				switch o.rel {
				case types.Success:
					computed++
				case RelSkipped:
					skipped++
				default:
					t.Fatalf("hour %d: %s %+v", hour, res.Status, o)
				}
			}
		}
		if computed != 1 || skipped != 1 {
			t.Fatalf("hour %d: computed %d, skipped %d", hour, computed, skipped)
		}
	}
}

func tickMsg(d time.Duration) engine.Message {
	s := t0.Add(d).Format(time.RFC3339)
	return engine.Message{Type: "TICK", DataType: "JSON", Data: `{"tick":"` + s + `","scheduled":"` + s + `"}`,
		Metadata: map[string]string{"scheduledTime": s}}
}

func TestCatchUp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    map[string]any
		want   string
		missed string
		runs   string
	}{
		{"none", map[string]any{"catchUp": "none"}, "13-14", "3", "tick"},
		{"all", map[string]any{"catchUp": "all"}, "10-11,11-12,12-13,13-14", "0", "catchUp,catchUp,catchUp,tick"},
		{"all, at most 2", map[string]any{"catchUp": "all", "maxCatchUp": 2}, "11-12,12-13,13-14", "1", "catchUp,catchUp,tick"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "aggregates": []any{"count", "max"}}
			for k, v := range tc.cfg {
				cfg[k] = v
			}
			r, db := setup(t, cfg)
			stats(t, r.tick(10*hr))
			// Down from 10:00 to 14:00: the ticks of 11, 12 and 13 are missed.
			res := r.tick(14 * hr)
			ps := stats(t, res)
			if got := windows(ps); got != tc.want {
				t.Fatalf("windows %s, want %s", got, tc.want)
			}
			var runs []string
			for _, o := range outs(t, res) {
				runs = append(runs, o.md[MetaRun])
				if o.md[MetaMissed] != tc.missed {
					t.Errorf("statsMissed %q, want %s", o.md[MetaMissed], tc.missed)
				}
			}
			if strings.Join(runs, ",") != tc.runs {
				t.Errorf("runs %v, want %s", runs, tc.runs)
			}
			// The 10:00 point (1000) is in the first caught-up window.
			if tc.name == "all" {
				want(t, group(t, ps[0], "b1", "temperature", -1), "count", 1, "max", 1000.0)
			}
			_, total, err := db.Stats().ListStats(context.Background(), store.StatsFilter{Tenant: tenant})
			if err != nil || total != 1+strings.Count(tc.want, ",")+1 {
				t.Fatalf("records %d %v", total, err)
			}
			// Caught up: the next tick has nothing missed.
			o := outs(t, r.tick(15*hr))
			if len(o) != 1 || o[0].md[MetaMissed] != "0" || o[0].md[MetaRun] != RunTick {
				t.Fatalf("next tick %+v", o)
			}
		})
	}
}

func TestCatchUpStopsAtAFailingWindow(t *testing.T) {
	// The calc fails for the 11-12 window only: 10-11 is emitted and kept
	// as done, the failure goes on Failure, and the next tick retries
	// from 11-12.
	bad := at(11 * hr)
	r, _ := setup(t, map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "catchUp": "all",
		"calc": fmt.Sprintf("if (msg.window.from === %d && metadata.fail !== 'no') throw new Error('no data for ' + msg.window.from);\nreturn msg.groups;", bad)})
	stats(t, r.tick(10*hr))
	res := r.tick(13 * hr)
	o := outs(t, res)
	if len(o) != 2 || o[0].rel != types.Success || o[0].p.Window.From != at(10*hr) || o[1].rel != types.Failure ||
		!strings.Contains(o[1].md[MetaError], "calc: script error at line 1:") || o[1].md[MetaWindowFrom] != "" {
		t.Fatalf("ends %+v", o)
	}
	m := tickMsg(13 * hr)
	m.Metadata["fail"] = "no"
	if got := windows(stats(t, r.submit(m))); got != "11-12,12-13" {
		t.Fatalf("retry: %s", got)
	}
}

func TestBackfill(t *testing.T) {
	r, db := setup(t, map[string]any{"job": "j", "devices": []any{"b1"}, "signals": []any{"temperature"}, "aggregates": []any{"count", "max"}})
	stats(t, r.tick(12*hr))
	// An explicit window in the payload (RFC 3339 or Unix ms), or in the
	// metadata: computed even though it lies before the last one.
	for _, m := range []engine.Message{
		{Type: "BACKFILL", DataType: "JSON", Data: fmt.Sprintf(`{"from":%q,"to":%d}`, t0.Add(9*hr).Format(time.RFC3339), at(10*hr)+1)},
		{Type: "BACKFILL", DataType: "TEXT", Data: "go", Metadata: map[string]string{MetaFrom: fmt.Sprint(at(9 * hr)), MetaTo: t0.Add(10*hr + time.Millisecond).Format(time.RFC3339Nano)}},
	} {
		res := r.submit(m)
		ps := stats(t, res)
		if len(ps) != 1 || ps[0].Window != (window{From: at(9 * hr), To: at(10*hr) + 1}) || outs(t, res)[0].md[MetaRun] != RunBackfill {
			t.Fatalf("backfill %+v", ps)
		}
		// The window's end is exclusive: one millisecond past 10:00 takes the 1000.
		want(t, group(t, ps[0], "b1", "temperature", -1), "count", 9, "max", 1000.0)
	}
	// Backfilling the same window twice replaced its record.
	_, total, err := db.Stats().ListStats(context.Background(), store.StatsFilter{Tenant: tenant})
	if err != nil || total != 2 {
		t.Fatalf("records %d %v", total, err)
	}
	// A backfill does not move the last completed window.
	if got := windows(stats(t, r.tick(13*hr))); got != "12-13" {
		t.Fatalf("tick after backfill: %s", got)
	}
	for _, tc := range []struct {
		m    engine.Message
		want string
	}{
		{engine.Message{Type: "BACKFILL", DataType: "JSON", Data: `{"from":"yesterday","to":5}`}, `payload from: want Unix milliseconds or an RFC 3339 time, got "yesterday"`},
		{engine.Message{Type: "BACKFILL", DataType: "JSON", Data: `{"from":5}`}, "payload to: missing"},
		{engine.Message{Type: "BACKFILL", DataType: "JSON", Data: `{"from":5,"to":5}`}, "backfill: to (5) must be after from (5)"},
		{engine.Message{Type: "BACKFILL", Metadata: map[string]string{MetaFrom: "1"}}, "metadata statsTo: missing"},
		{engine.Message{Type: "TICK", Metadata: map[string]string{"scheduledTime": "noon"}}, `metadata scheduledTime: want an RFC 3339 time, got "noon"`},
		// Times that would overflow: numbers beyond int64, and int64s past
		// year 9999, are refused by name, not wrapped around.
		{engine.Message{Type: "BACKFILL", DataType: "JSON", Data: `{"from":1e300,"to":2e300}`}, "payload from: 1e300 is out of range: want a time in years 1 to 9999"},
		{engine.Message{Type: "BACKFILL", DataType: "JSON", Data: `{"from":0,"to":-1e300}`}, "payload to: -1e300 is out of range"},
		{engine.Message{Type: "BACKFILL", DataType: "JSON", Data: `{"from":"-9223372036854775808","to":"9223372036854775807"}`}, "payload from: -9223372036854775808 is out of range"},
		{engine.Message{Type: "BACKFILL", Metadata: map[string]string{MetaFrom: "0", MetaTo: "9223372036854775807"}}, "metadata statsTo: 9223372036854775807 is out of range"},
	} {
		res := r.submit(tc.m)
		if res.Status != engine.StatusFailed || !strings.Contains(res.Error, tc.want) {
			t.Errorf("%+v: %s %q, want %q", tc.m, res.Status, res.Error, tc.want)
		}
	}
}

// TestBackfillBucketsDoNotOverflow: the bucket count of a backfill
// window as wide as int64 goes is refused, not wrapped to a small one; the
// widest window the time checks let through is counted right.
func TestBackfillBucketsDoNotOverflow(t *testing.T) {
	var cfg config
	if err := statsSpec.Decode(map[string]any{"deviceGlob": "*", "signals": []any{"t"}, "aggregates": []any{"count"}, "lead": "1h", "every": "1h"}, &cfg); err != nil {
		t.Fatal(err)
	}
	c, ps := compile(cfg)
	if ps.HasErrors() {
		t.Fatal(ps.Errors())
	}
	for _, tc := range []struct {
		from, to int64
		want     string
	}{
		{math.MinInt64, math.MaxInt64, "backfill: 5124095576031 buckets of 1h0m0s; at most 10000"},
		{-1, math.MaxInt64, "backfill: 2562047788016 buckets"},
		{minTime, maxTime, "backfill: 87649416 buckets"},
	} {
		if _, err := c.backfill(tc.from, tc.to); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("backfill [%d, %d): %v, want %q", tc.from, tc.to, err, tc.want)
		}
	}
	if r, err := c.backfill(0, 10000*3_600_000); err != nil || r.w != (window{From: 0, To: 10000 * 3_600_000}) {
		t.Errorf("10000 buckets: %+v %v", r, err)
	}
	if _, err := c.backfill(0, 10000*3_600_000+1); err == nil || !strings.Contains(err.Error(), "10001 buckets") {
		t.Errorf("10001 buckets: %v", err)
	}
	// The bounds of the time checks are the first and the last millisecond of years 1 and 9999.
	if time.UnixMilli(minTime).UTC().Format(time.RFC3339Nano) != "0001-01-01T00:00:00Z" || time.UnixMilli(maxTime).UTC().Format(time.RFC3339Nano) != "9999-12-31T23:59:59.999Z" {
		t.Errorf("bounds %d %d", minTime, maxTime)
	}
	for _, v := range []string{"-62135596800000", "253402300799999", `"0001-01-01T00:00:00Z"`, `"9999-12-31T23:59:59.999Z"`} {
		if _, err := timeOf("x", json.RawMessage(v)); err != nil {
			t.Errorf("time %s: %v", v, err)
		}
	}
	for _, v := range []string{"-62135596800001", "253402300800000", `"253402300800000"`, "1e19", "-1e19"} {
		if _, err := timeOf("x", json.RawMessage(v)); err == nil || !strings.Contains(err.Error(), "x: ") || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("time %s: %v, want out of range", v, err)
		}
	}
}

func TestWindowEdgesAndTheReceiveTime(t *testing.T) {
	r, _ := setup(t, map[string]any{"devices": []any{"b1"}, "signals": []any{"temperature"}, "aggregates": []any{"count", "first", "last"}, "lead": "2h",
		"settle": "0s"})
	// [8:00, 10:00): 8:58 is in, 10:00 is out.
	want(t, group(t, stats(t, r.tick(10*hr))[0], "b1", "temperature", -1), "count", 9, "first", 1.0, "last", 9.0)
	// [10:00, 12:00): 10:00 is in.
	want(t, group(t, stats(t, r.tick(12*hr))[0], "b1", "temperature", -1), "count", 1, "first", 1000.0)
	// Without a scheduled time the tick is when the message arrives.
	before := time.Now().UnixMilli()
	ps := stats(t, r.submit(engine.Message{Type: "TICK"}))
	after := time.Now().UnixMilli()
	if len(ps) != 1 || ps[0].Window.To < before || ps[0].Window.To > after || ps[0].Window.To-ps[0].Window.From != (2*hr).Milliseconds() || len(ps[0].Groups) != 0 {
		t.Fatalf("receive-time tick: %+v (between %d and %d)", ps, before, after)
	}
}

func TestLastWindowSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	s := openTS(t, dir)
	boilerData(t, s)
	cfg := map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "catchUp": "all"}
	start := func(db *store.DB) *rig {
		st, err := engine.NewMemoryState(context.Background(), kvPersister{db.KV()})
		if err != nil {
			t.Fatal(err)
		}
		r := newRig(t, rigOpts{store: s, records: db.Stats(), state: st, flow: "restart"})
		r.deploy(cfg, 1)
		return r
	}
	db, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first := start(db)
	stats(t, first.tick(10*hr))
	first.stop()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// A new process over the same files: it knows 9-10 was done.
	second := start(openDB(t, dir))
	if o := outs(t, second.tick(10*hr)); len(o) != 1 || o[0].rel != RelSkipped {
		t.Fatalf("same tick after the restart: %+v", o)
	}
	if got := windows(stats(t, second.tick(13*hr))); got != "10-11,11-12,12-13" {
		t.Fatalf("after the restart: %s", got)
	}
}

func TestRedeployKeepsTheLastWindow(t *testing.T) {
	r, _ := setup(t, map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}})
	stats(t, r.tick(10*hr))
	r.deploy(map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "catchUp": "all", "aggregates": []any{"max"}}, 2)
	if got := windows(stats(t, r.tick(12*hr))); got != "10-11,11-12" {
		t.Fatalf("after the redeploy: %s", got)
	}
}

func TestTestRunRecordsNothing(t *testing.T) {
	dir := t.TempDir()
	s := openTS(t, dir)
	boilerData(t, s)
	db := openDB(t, dir)
	r := newRig(t, rigOpts{store: s, records: db.Stats()})
	cfg := map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "catchUp": "all"}
	tr, err := r.mgr.Test(context.Background(), tenant, flowOf("draft", cfg), tickMsg(10*hr), "", false)
	if err != nil {
		t.Fatal(err)
	}
	o := outs(t, &tr.Result)
	if len(o) != 1 || o[0].rel != types.Success || o[0].md[MetaDryRun] != "true" || len(o[0].p.Groups) != 3 || o[0].md[MetaRecord] != "" {
		t.Fatalf("test run: %+v", o)
	}
	if _, total, _ := db.Stats().ListStats(context.Background(), store.StatsFilter{Tenant: tenant}); total != 0 {
		t.Fatalf("a test run recorded %d runs", total)
	}
	if _, ok, _ := r.state.Get(context.Background(), (&engine.Env{Tenant: tenant, FlowID: "draft"}).StateKey("stats", "stats/last")); ok {
		t.Fatal("a test run moved the last window")
	}
	// With side effects it is a real run: recorded, and the window is done.
	for i, rel := range []string{types.Success, RelSkipped} {
		tr, err = r.mgr.Test(context.Background(), tenant, flowOf("draft", cfg), tickMsg(10*hr), "", true)
		if err != nil {
			t.Fatal(err)
		}
		if o := outs(t, &tr.Result); len(o) != 1 || o[0].rel != rel || o[0].md[MetaDryRun] != "" {
			t.Fatalf("test run %d with side effects: %+v", i, o)
		}
	}
	if _, total, _ := db.Stats().ListStats(context.Background(), store.StatsFilter{Tenant: tenant}); total != 1 {
		t.Fatalf("a test run with side effects recorded %d runs", total)
	}
}

func TestWithoutRecordsOrStore(t *testing.T) {
	// No statistics repository: still emits.
	dir := t.TempDir()
	s := openTS(t, dir)
	boilerData(t, s)
	r := newRig(t, rigOpts{store: s})
	r.deploy(map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}}, 1)
	if o := outs(t, r.tick(10*hr)); len(o) != 1 || o[0].rel != types.Success || o[0].md[MetaRecord] != "" {
		t.Fatalf("%+v", o)
	}
	// No time-series store: Failure that says so.
	r2 := newRig(t, rigOpts{})
	r2.deploy(map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}}, 1)
	res := r2.tick(10 * hr)
	if res.Status != engine.StatusFailed || !strings.Contains(res.Error, "the time-series store (timeseries.store) is not available in this process") {
		t.Fatalf("%s %s", res.Status, res.Error)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	base := func(kv ...any) map[string]any {
		m := map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
				continue
			}
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		cfg         map[string]any
		field, want string
	}{
		{base("deviceGlob", nil), "devices", "select devices"},
		{base("deviceGlob", "[a-"), "deviceGlob", "not a valid pattern"},
		{base("deviceTag", "  "), "deviceTag", "got only spaces"},
		{base("settle", "21s"), "settle", "at most 20s"},
		{base("settle", "-1s"), "settle", "at least 0s"},
		{base("signals", nil), "signals", "required"},
		{base("signals", []any{}), "signals", "at least 1"},
		{base("signals", []any{"a", "a"}), "signals[1]", "listed twice"},
		{base("aggregates", []any{"avg", "median"}), "aggregates[1]", "want one of"},
		{base("lead", "1h", "every", "7m"), "every", "not a multiple"},
		{base("lead", "0s"), "lead", "at least"},
		{base("calc", "return (;"), "calc", "syntax error at line 1:"},
		{base("calc", "return 1;", "calcLibrary", "function ("), "calcLibrary", "syntax error"},
		{base("catchUp", "some"), "catchUp", "want one of"},
		{base("leed", "1h"), "leed", "unknown field (did you mean \"lead\"?)"},
	} {
		ps := statsSpec.Check(tc.cfg)
		found := false
		for _, p := range ps {
			if p.Field == tc.field && strings.Contains(p.Message, tc.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%v: problems %v, want %s: %s", tc.cfg, ps, tc.field, tc.want)
		}
		if err := (&Node{}).Init(types.Config{}, tc.cfg); err == nil {
			t.Errorf("%v: Init accepted it", tc.cfg)
		}
	}
	for _, ex := range statsSpec.Examples {
		if ps := statsSpec.Check(ex.Config); ps.HasErrors() {
			t.Errorf("example %q: %v", ex.Title, ps)
		}
	}
	if ps := statsSpec.Check(base("calcLibrary", "function f() {}")); ps.HasErrors() || len(ps) != 1 || ps[0].Field != "calcLibrary" {
		t.Errorf("a library without calc: %v", ps)
	}
}

func TestEmptyWindowAndNoDevices(t *testing.T) {
	r, db := setup(t, map[string]any{"deviceTag": "site=rome", "signals": []any{"temperature"}})
	res := r.tick(10 * hr)
	ps := stats(t, res)
	if len(ps) != 1 || len(ps[0].Groups) != 0 || outs(t, res)[0].md[MetaGroups] != "0" {
		t.Fatalf("%+v", ps)
	}
	b, _ := json.Marshal(ps[0])
	if !strings.Contains(string(b), `"groups":[]`) {
		t.Errorf("payload %s", b)
	}
	if _, total, _ := db.Stats().ListStats(context.Background(), store.StatsFilter{Tenant: tenant}); total != 1 {
		t.Errorf("an empty window is a run too: %d records", total)
	}
}

func TestScheduleConnectorDrivesTheNode(t *testing.T) {
	// The real schedule connector ticks every second; each tick's window
	// ends at its scheduled time and is recorded once.
	dir := t.TempDir()
	s := openTS(t, dir)
	db := openDB(t, dir)
	r := newRig(t, rigOpts{store: s, records: db.Stats()})
	now := time.Now()
	write(t, s, ts.Point{Tenant: tenant, Device: "b1", Signal: "temperature", TS: now.UnixMilli(), Value: ts.Number(5)})
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: r.flow, Name: r.flow}}
	f.Metadata.Nodes = []engine.Node{
		{ID: "cron", Type: "schedule", Configuration: map[string]any{"cron": "@every 1s"}},
		{ID: "stats", Type: Type, Configuration: map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "lead": "1s", "settle": "300ms"}},
	}
	f.Metadata.Connections = []engine.Connection{{FromID: "cron", ToID: "stats", Type: types.Success}}
	if err := r.mgr.Deploy(context.Background(), tenant, f, 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	var recs []store.StatsRecord
	deadline := time.Now().Add(15 * time.Second)
	for {
		var err error
		recs, _, err = db.Stats().ListStats(context.Background(), store.StatsFilter{Tenant: tenant, FlowID: r.flow})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d runs recorded after 15s", len(recs))
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, rec := range recs {
		if rec.WindowTo-rec.WindowFrom != 1000 || rec.WindowTo%1000 != 0 || rec.NodeID != "stats" {
			t.Errorf("record %+v: want a 1s window ending on a whole second", rec)
		}
	}
	if recs[0].WindowTo == recs[1].WindowTo {
		t.Errorf("one window recorded twice: %+v", recs[:2])
	}
}

func TestBooleansCountAsOneAndZero(t *testing.T) {
	dir := t.TempDir()
	s := openTS(t, dir)
	// A pump runs 9:00-9:15 and 9:45-10:00: a quarter, then a quarter more.
	write(t, s, pt("pump", "running", 9*hr, true), pt("pump", "running", 9*hr+15*mi, false), pt("pump", "running", 9*hr+45*mi, true))
	r := newRig(t, rigOpts{store: s})
	r.deploy(map[string]any{"devices": []any{"pump"}, "signals": []any{"running"}, "aggregates": []any{"twa", "sum", "count", "max"},
		"calc": "return msg.groups.map(g => Object.assign(g, {dutyPercent: 100 * g.twa}));"}, 1)
	want(t, group(t, stats(t, r.tick(10*hr))[0], "pump", "running", -1), "twa", 0.5, "dutyPercent", 50.0, "sum", 2.0, "count", 3, "max", 1.0)
}
