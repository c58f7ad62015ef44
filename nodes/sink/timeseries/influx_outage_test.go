package timeseries

import (
	"context"
	"sync"
	"testing"
	"time"

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

	check := func(st batch.Status) {
		if st.State != batch.StateRetrying || st.Queued == 0 {
			t.Errorf("status during the outage = %+v", st)
		}
	}
	next := streamThroughOutage(t, r, 20*time.Second, srv.Kill, srv.Restart, check, rec.writes)
	// InfluxDB holds them all, once each.
	got := query(t, store, "a", "b", "c")
	for d := range outageDevices {
		dev := string(rune('a' + d))
		pts := got[dev+"/seq"]
		if len(pts) != outagePer || next[dev] != outagePer {
			t.Errorf("device %s: %d points in InfluxDB, %d written; want %d", dev, len(pts), next[dev], outagePer)
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
