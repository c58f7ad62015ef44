package stats

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	tssink "github.com/sluicehq/sluice/nodes/sink/timeseries"
)

// sinkFlow deploys flow "ingest": one time-series sink over the rig's
// store, its spool in a temp dir.
func (r *rig) sinkFlow(flushInterval string) {
	r.t.Helper()
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: "ingest", Name: "ingest"}}
	f.Metadata.Nodes = []engine.Node{{ID: "store", Type: tssink.Type,
		Configuration: map[string]any{"spoolDir": r.t.TempDir(), "flushInterval": flushInterval}}}
	if err := r.mgr.Deploy(context.Background(), tenant, f, 1); err != nil {
		r.t.Fatalf("deploy the sink: %v", err)
	}
}

// ingest sends telemetry of device m1 at ts through the sink: it returns
// once the point is in the sink's queue, not yet in the store.
func (r *rig) ingest(ts time.Time, v float64) {
	r.t.Helper()
	res, err := r.mgr.Submit(context.Background(), "ingest", engine.Message{Type: "TELEMETRY", DataType: "JSON",
		Data:     fmt.Sprintf(`{"deviceId":"m1","ts":%d,"signals":{"energy":%g}}`, ts.UnixMilli(), v),
		Metadata: map[string]string{"deviceId": "m1"}}, engine.SubmitOptions{Wait: true})
	if err != nil || res.Status != engine.StatusCompleted {
		r.t.Fatalf("ingest: %v %+v", err, res)
	}
}

// tickAt submits a schedule connector's tick scheduled at t.
func (r *rig) tickAt(t time.Time) *engine.Result {
	s := t.UTC().Format(time.RFC3339Nano)
	return r.submit(engine.Message{Type: "TICK", DataType: "JSON", Data: `{"scheduled":"` + s + `"}`,
		Metadata: map[string]string{"connector": "schedule", "scheduledTime": s}})
}

func TestSettleTakesPointsStillInTheSinkQueue(t *testing.T) {
	cfg := func(settle string) map[string]any {
		return map[string]any{"devices": []any{"m1"}, "signals": []any{"energy"}, "aggregates": []any{"count", "last"}, "lead": "1m", "settle": settle}
	}
	t.Run("settle 4s", func(t *testing.T) {
		r := newRig(t, rigOpts{store: openTS(t, t.TempDir())})
		r.sinkFlow("1s")
		r.deploy(cfg("4s"), 1)
		// The tick of the second that just began; a point of the moment
		// before it reaches the sink now, and waits up to flushInterval in
		// its queue.
		tick := time.Now().Truncate(time.Second)
		r.ingest(tick.Add(-100*time.Millisecond), 42)
		ps := stats(t, r.tickAt(tick))
		if now := time.Now(); now.Before(tick.Add(4 * time.Second)) {
			t.Errorf("read before the window settled: %s after the tick", now.Sub(tick))
		}
		if len(ps) != 1 || ps[0].Window != (window{From: tick.Add(-time.Minute).UnixMilli(), To: tick.UnixMilli()}) {
			t.Fatalf("windows %+v", ps)
		}
		want(t, group(t, ps[0], "m1", "energy", -1), "count", 1, "last", 42.0)
	})
	t.Run("settle 0s misses it", func(t *testing.T) {
		// What settle prevents: read at the tick, the point is still
		// queued and the window is done without it.
		r := newRig(t, rigOpts{store: openTS(t, t.TempDir())})
		r.sinkFlow("2s")
		r.deploy(cfg("0s"), 1)
		tick := time.Now().Truncate(time.Second)
		r.ingest(tick.Add(-100*time.Millisecond), 42)
		if ps := stats(t, r.tickAt(tick)); len(ps) != 1 || len(ps[0].Groups) != 0 {
			t.Fatalf("the queued point was read: %+v", ps)
		}
		// The point does arrive; a backfill of the window finds it.
		from, to := fmt.Sprint(tick.Add(-time.Minute).UnixMilli()), fmt.Sprint(tick.UnixMilli())
		deadline := time.Now().Add(10 * time.Second)
		for {
			ps := stats(t, r.submit(engine.Message{Type: "BACKFILL", Metadata: map[string]string{MetaFrom: from, MetaTo: to}}))
			if len(ps[0].Groups) == 1 {
				want(t, ps[0].Groups[0], "count", 1, "last", 42.0)
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the point never reached the store")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func TestSettleDoesNotWaitForWindowsLongPast(t *testing.T) {
	// settle 20s: ticks of 2026-01-15, their catch-up windows, backfills of
	// that day and a test run are read at once.
	r, _ := setup(t, map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "catchUp": "all", "settle": "20s"})
	start := time.Now()
	stats(t, r.tick(10*hr))
	if got := windows(stats(t, r.tick(13*hr))); got != "10-11,11-12,12-13" {
		t.Fatalf("catch-up: %s", got)
	}
	stats(t, r.submit(engine.Message{Type: "BACKFILL", DataType: "JSON", Data: fmt.Sprintf(`{"from":%d,"to":%d}`, at(9*hr), at(10*hr))}))
	tr, err := r.mgr.Test(context.Background(), tenant, flowOf("draft", map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "settle": "20s"}),
		engine.Message{Type: "TICK"}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if o := outs(t, &tr.Result); len(o) != 1 || o[0].rel != types.Success {
		t.Fatalf("test run of a tick now: %+v", o)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %s: something waited for settle", d)
	}
}

func TestSettleWaitsForRecentWindows(t *testing.T) {
	r, _ := setup(t, map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "settle": "1500ms"})
	backfill := func(to time.Duration) engine.Message {
		return engine.Message{Type: "BACKFILL", DataType: "JSON",
			Data: fmt.Sprintf(`{"from":%d,"to":%d}`, time.Now().Add(-time.Hour).UnixMilli(), time.Now().Add(to).UnixMilli())}
	}
	for _, next := range []func() engine.Message{
		func() engine.Message { return engine.Message{Type: "TICK"} }, // no scheduled time: the tick is now
		func() engine.Message { return backfill(0) },
		// A backfill into the future waits settle from now, not from its end.
		func() engine.Message { return backfill(time.Hour) },
	} {
		m := next()
		start := time.Now()
		stats(t, r.submit(m))
		if d := time.Since(start); d < 1400*time.Millisecond || d > 10*time.Second {
			t.Errorf("%s %s: answered after %s, want about 1.5s", m.Type, m.Data, d)
		}
	}
}

func TestSettleWaitHoldsNothingElse(t *testing.T) {
	// While a recent tick waits (before it takes the lock; the schedule's
	// messages carry no device, so no lane either), an old window of the
	// same node runs at once.
	r, _ := setup(t, map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "settle": "3s"})
	start := time.Now()
	waiting := make(chan *engine.Result, 1)
	go func() {
		res, err := r.mgr.Submit(context.Background(), r.flow, engine.Message{Type: "TICK"}, engine.SubmitOptions{Wait: true})
		if err != nil {
			res = &engine.Result{Status: "error", Error: err.Error()}
		}
		waiting <- res
	}()
	if got := windows(stats(t, r.tick(10*hr))); got != "9-10" {
		t.Fatalf("old tick: %s", got)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the old tick waited %s behind the recent one", d)
	}
	res := <-waiting
	if ps := stats(t, res); len(ps) != 1 || time.Since(start) < 3*time.Second {
		t.Fatalf("recent tick: %+v after %s", ps, time.Since(start))
	}
}

func TestSettleStopsBeforeTheDeadline(t *testing.T) {
	n := &Node{c: &compiled{settle: 20 * time.Second}}
	now := time.Now().Truncate(time.Millisecond)
	w := window{From: now.Add(-time.Hour).UnixMilli(), To: now.UnixMilli()}
	if d := n.c.settleWait(w, now); d != 20*time.Second {
		t.Errorf("wait %s at the window's end", d)
	}
	if d := n.c.settleWait(w, now.Add(19*time.Second)); d != time.Second {
		t.Errorf("wait %s 19s after its end", d)
	}
	if d := n.c.settleWait(w, now.Add(time.Hour)); d != 0 {
		t.Errorf("wait %s an hour after its end", d)
	}
	// A context with a deadline 6s away: the wait ends 5s (settleReserve)
	// before it.
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(6*time.Second))
	defer cancel()
	start := time.Now()
	if err := n.settle(ctx, w, time.Now(), quiet(), "stats"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 800*time.Millisecond || d > 3*time.Second {
		t.Errorf("waited %s, want about 1s", d)
	}
	// A deadline closer than settleReserve: no wait at all.
	ctx2, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(2*time.Second))
	defer cancel2()
	start = time.Now()
	if err := n.settle(ctx2, w, time.Now(), quiet(), "stats"); err != nil || time.Since(start) > time.Second {
		t.Errorf("waited %s: %v", time.Since(start), err)
	}
	// A message stopped while it waits.
	ctx3, cancel3 := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel3)
	err := n.settle(ctx3, window{From: 0, To: time.Now().UnixMilli()}, time.Now(), quiet(), "stats")
	if err == nil || !strings.Contains(err.Error(), "stopped while waiting 20s for it to settle: context canceled") {
		t.Fatalf("cancelled: %v", err)
	}
}
