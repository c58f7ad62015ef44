package timeseries

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/sink/batch"
	"github.com/sluicehq/sluice/nodes/sink/sinktest"
	"github.com/sluicehq/sluice/nodes/sink/sinktest/killtest"
	ts "github.com/sluicehq/sluice/store/timeseries"
)

// TestMain runs the kill test's child when asked to; otherwise the tests,
// failing if a goroutine outlives them.
func TestMain(m *testing.M) { killtest.Main(m, childEnv, runChild) }

var quiet = sinktest.Quiet

func ctxT(t testing.TB) context.Context { return sinktest.Context(t, 60*time.Second) }

func openStore(t testing.TB, dir string) *ts.Embedded {
	t.Helper()
	s, err := ts.Open(ctxT(t), dir, ts.Options{Logger: quiet})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

// rig is a real engine with the resources sluice serve provides: the
// store (unless nil), the data directory and the sink registry.
type rig struct{ *sinktest.Rig }

func newRig(t testing.TB, store ts.Writer) rig {
	r := rig{sinktest.NewRig(t)}
	if store != nil {
		r.M.Resources().Provide(StoreKey, store)
	}
	return r
}

// flowOf is a flow with one sink node, as the API would store it.
func flowOf(t testing.TB, id string, config map[string]any) *engine.Flow {
	t.Helper()
	return sinktest.Flow(t, id, "store", Type, config)
}

func (r rig) deploy(t testing.TB, f *engine.Flow, version int) {
	t.Helper()
	r.Deploy(t, "acme", f, version)
}

// send submits a message and waits for its result.
func (r rig) send(t testing.TB, flow, device, data string) *engine.Result {
	t.Helper()
	return r.Send(t, flow, "TELEMETRY", device, data, nil)
}

var (
	telemetryOf = sinktest.Telemetry
	eventually  = sinktest.Eventually
)

// The stream of the outage tests: readings 0..outagePer-1 of the devices
// a, b, c, one second apart.
const outageDevices, outagePer = 3, 150

// streamThroughOutage sends the stream of the outage tests to flow
// "plant", the devices at once, each in order; every message must be
// acknowledged. Device a calls down a third of the way in and waits at two
// thirds until the sink has failed writes (within), check has seen its
// status, and up was called. It returns once every reading is written
// (within+10s), after checking that written (the points of the target's
// successful writes) holds each reading once and in order per device: the
// number of readings of each device.
func streamThroughOutage(t *testing.T, r rig, within time.Duration, down, up func(), check func(batch.Status), written func() []ts.Point) map[string]int64 {
	t.Helper()
	var wg sync.WaitGroup
	outage := make(chan struct{})
	back := make(chan struct{})
	for d := range outageDevices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := string(rune('a' + d))
			for i := range outagePer {
				if d == 0 && i == outagePer/3 {
					down()
					close(outage)
				}
				if d == 0 && i == 2*outagePer/3 {
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
	eventually(t, within, "failed writes", func() bool { return r.Reg.Statuses("plant")["store"].Failures >= 2 })
	check(r.Reg.Statuses("plant")["store"])
	up()
	close(back)
	wg.Wait()
	eventually(t, within+10*time.Second, "the spool to drain", func() bool {
		st := r.Reg.Statuses("plant")["store"]
		return st.Queued == 0 && st.Written == outageDevices*outagePer
	})

	// The target saw each reading once, in order per device.
	next := map[string]int64{}
	for _, p := range written() {
		if p.Value.Num != float64(next[p.Device]) || p.TS != t0+next[p.Device]*1000 {
			t.Fatalf("device %s: reading %v at %d where %d was due", p.Device, p.Value.Num, p.TS, next[p.Device])
		}
		next[p.Device]++
	}
	return next
}

func query(t testing.TB, s ts.Reader, devices ...string) map[string][]ts.Sample {
	t.Helper()
	r, err := s.Query(ctxT(t), ts.Query{Tenant: "acme", Devices: devices, From: 0, To: 1 << 50, Limit: ts.MaxLimit})
	if err != nil {
		t.Fatalf("query: %v", err)
	}
	out := map[string][]ts.Sample{}
	for _, ser := range r.Series {
		out[ser.Device+"/"+ser.Signal] = ser.Points
	}
	return out
}

// outageStore is the real embedded store that a test can close (the
// store is down: writes fail) and open again on the same file. It records
// the points of every successful write, in order.
type outageStore struct {
	t   testing.TB
	dir string

	mu      sync.Mutex
	s       *ts.Embedded
	written []ts.Point
}

func newOutageStore(t testing.TB) *outageStore {
	o := &outageStore{t: t, dir: t.TempDir()}
	o.s = openStore(t, o.dir)
	t.Cleanup(func() {
		o.mu.Lock()
		defer o.mu.Unlock()
		_ = o.s.Close() // closing twice is fine
	})
	return o
}

func (o *outageStore) Write(ctx context.Context, points []ts.Point) error {
	o.mu.Lock()
	s := o.s
	o.mu.Unlock()
	if err := s.Write(ctx, points); err != nil {
		return err
	}
	o.mu.Lock()
	o.written = append(o.written, points...)
	o.mu.Unlock()
	return nil
}

func (o *outageStore) down() {
	o.mu.Lock()
	s := o.s
	o.mu.Unlock()
	if err := s.Close(); err != nil {
		o.t.Errorf("close store: %v", err)
	}
}

func (o *outageStore) up() {
	s := openStore(o.t, o.dir)
	o.mu.Lock()
	o.s = s
	o.mu.Unlock()
}

func (o *outageStore) current() *ts.Embedded {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.s
}

func (o *outageStore) writes() []ts.Point {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]ts.Point(nil), o.written...)
}

var _ types.Node = (*Node)(nil)
