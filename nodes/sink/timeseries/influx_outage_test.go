package timeseries

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/sink/batch"
	ts "github.com/sluicehq/sluice/store/timeseries"
	"github.com/sluicehq/sluice/store/timeseries/influx"
	"github.com/sluicehq/sluice/store/timeseries/influx/influxtest"
)

// recorder is a store that records the points of every successful write,
// in order.
type recorder struct {
	ts.Writer

	mu      sync.Mutex
	written []ts.Point
}

func (r *recorder) Write(ctx context.Context, points []ts.Point) error {
	if err := r.Writer.Write(ctx, points); err != nil {
		return err
	}
	r.mu.Lock()
	r.written = append(r.written, points...)
	r.mu.Unlock()
	return nil
}

func (r *recorder) writes() []ts.Point {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]ts.Point(nil), r.written...)
}

// TestSinkSurvivesInfluxOutage: the sink writes to a real InfluxDB 1.8;
// influxd is killed (SIGKILL) in the middle of a stream of three devices
// and started again on the same port and data. The flow keeps
// acknowledging (the points wait in the spool), and every point arrives
// exactly once and in order per device.
func TestSinkSurvivesInfluxOutage(t *testing.T) {
	srv := influxtest.Start(t, influxtest.Options{})
	store, err := influx.Open(ctxT(t), influx.Options{URL: srv.URL, Logger: quiet, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() }) // after the engine's shutdown (cleanups run last first)
	rec := &recorder{Writer: store}
	r := newRig(t, rec)
	r.deploy(t, flowOf(t, "plant", map[string]any{"flushInterval": "2ms", "batchSize": 20, "queueSize": 50}), 1)

	const devices, per = 3, 150
	var wg sync.WaitGroup
	outage := make(chan struct{})
	back := make(chan struct{})
	for d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := string(rune('a' + d))
			for i := range per {
				if d == 0 && i == per/3 {
					srv.Kill()
					close(outage)
				}
				if d == 0 && i == 2*per/3 {
					<-back
				}
				res := r.send(t, "plant", dev, telemetryOf(dev, t0+int64(i)*1000, `{"seq": `+jsonNum(int64(i))+`}`))
				if res.Status != engine.StatusCompleted {
					t.Errorf("device %s reading %d: %+v", dev, i, res)
					return
				}
			}
		}()
	}
	<-outage
	eventually(t, 20*time.Second, "failed writes", func() bool { return r.reg.Statuses("plant")["store"].Failures >= 2 })
	if st := r.reg.Statuses("plant")["store"]; st.State != batch.StateRetrying || st.Queued == 0 {
		t.Errorf("status during the outage = %+v", st)
	}
	srv.Restart()
	close(back)
	wg.Wait()
	eventually(t, 30*time.Second, "the spool to drain", func() bool {
		st := r.reg.Statuses("plant")["store"]
		return st.Queued == 0 && st.Written == devices*per
	})

	// The store saw each reading once, in order per device.
	next := map[string]int64{}
	for _, p := range rec.writes() {
		if p.Value.Num != float64(next[p.Device]) || p.TS != t0+next[p.Device]*1000 {
			t.Fatalf("device %s: reading %v at %d where %d was due", p.Device, p.Value.Num, p.TS, next[p.Device])
		}
		next[p.Device]++
	}
	// InfluxDB holds them all, once each.
	got := query(t, store, "a", "b", "c")
	for d := range devices {
		dev := string(rune('a' + d))
		pts := got[dev+"/seq"]
		if len(pts) != per || next[dev] != per {
			t.Errorf("device %s: %d points in InfluxDB, %d written; want %d", dev, len(pts), next[dev], per)
			continue
		}
		for i, s := range pts {
			if s.TS != t0+int64(i)*1000 || s.Value.Num != float64(i) {
				t.Errorf("device %s: point %d is %+v", dev, i, s)
				break
			}
		}
	}
}
