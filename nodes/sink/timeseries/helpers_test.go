package timeseries

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/sink/batch"
	ts "github.com/sluicehq/sluice/store/timeseries"
)

// TestMain runs the kill test's child when asked to; otherwise the tests,
// failing if a goroutine outlives them.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		runChild(dir)
		return
	}
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.DiscardHandler)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func openStore(t testing.TB, dir string) *ts.Embedded {
	t.Helper()
	s, err := ts.Open(ctxT(t), dir, ts.Options{Logger: quiet})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

// rig is a real engine with the resources sluice serve provides: the
// store, the data directory and the sink registry.
type rig struct {
	m     *engine.Manager
	store ts.Writer
	dir   string
	reg   *batch.Registry
}

func newRig(t testing.TB, store ts.Writer) *rig {
	t.Helper()
	m := engine.NewManager(engine.Options{Metrics: prometheus.NewRegistry(), Logger: quiet, MessageTimeout: 10 * time.Second})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	r := &rig{m: m, store: store, dir: t.TempDir(), reg: batch.NewRegistry()}
	if store != nil {
		m.Resources().Provide(StoreKey, store)
	}
	m.Resources().Provide(batch.DataDirKey, r.dir)
	m.Resources().Provide(batch.RegistryKey, r.reg)
	return r
}

// flowOf is a flow with one sink node, as the API would store it.
func flowOf(t testing.TB, id string, config map[string]any) *engine.Flow {
	t.Helper()
	f := engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	f.Metadata.Nodes = []engine.Node{{ID: "store", Type: Type, Configuration: config}}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.ParseFlow(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (r *rig) deploy(t testing.TB, f *engine.Flow, version int) {
	t.Helper()
	if err := r.m.Deploy(ctxT(t), "acme", f, version); err != nil {
		t.Fatalf("deploy: %v", err)
	}
}

// send submits a message and waits for its result.
func (r *rig) send(t testing.TB, flow, device, data string) *engine.Result {
	t.Helper()
	res, err := r.m.Submit(ctxT(t), flow, engine.Message{Type: "TELEMETRY", Data: data, Metadata: map[string]string{engine.MetaDeviceID: device}}, engine.SubmitOptions{Wait: true})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return res
}

func telemetryOf(device string, at int64, signals string) string {
	return fmt.Sprintf(`{"deviceId":%q,"ts":%d,"signals":%s}`, device, at, signals)
}

// eventually polls cond every 5ms until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
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
