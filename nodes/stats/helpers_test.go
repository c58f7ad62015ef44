package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/engine"
	tssink "github.com/sluicehq/sluice/nodes/sink/timeseries"
	"github.com/sluicehq/sluice/store"
	ts "github.com/sluicehq/sluice/store/timeseries"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const tenant = "acme"

// t0 is the tests' epoch: 2026-01-15 00:00 UTC.
var t0 = time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)

// at is t0 + d in Unix milliseconds.
func at(d time.Duration) int64 { return t0.Add(d).UnixMilli() }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openTS opens a real embedded time-series store in dir.
func openTS(t testing.TB, dir string) *ts.Embedded {
	t.Helper()
	s, err := ts.Open(context.Background(), dir, ts.Options{Logger: quiet()})
	if err != nil {
		t.Fatalf("open time-series store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openDB opens the real system database in dir.
func openDB(t testing.TB, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// pt is a point of the tests' tenant.
func pt(dev, sig string, d time.Duration, v any) ts.Point {
	val, err := ts.ValueOf(v)
	if err != nil {
		panic(err)
	}
	return ts.Point{Tenant: tenant, Device: dev, Signal: sig, TS: at(d), Value: val}
}

func write(t testing.TB, w ts.Writer, pts ...ts.Point) {
	t.Helper()
	if err := w.Write(context.Background(), pts); err != nil {
		t.Fatalf("write points: %v", err)
	}
}

// kvPersister writes the engine's state through to the store's KV table
// (as sluice serve does), so a test can restart over the same files.
type kvPersister struct{ kv store.KVRepo }

func (p kvPersister) Load(ctx context.Context) (map[string]engine.StateEntry, error) {
	kvs, err := p.kv.KVList(ctx, "state/")
	if err != nil {
		return nil, err
	}
	out := map[string]engine.StateEntry{}
	for _, kv := range kvs {
		out[strings.TrimPrefix(kv.Key, "state/")] = engine.StateEntry{Value: kv.Value, ExpiresAt: kv.ExpiresAt}
	}
	return out, nil
}

func (p kvPersister) Put(ctx context.Context, key string, e engine.StateEntry) error {
	return p.kv.KVPut(ctx, store.KV{Key: "state/" + key, Value: e.Value, ExpiresAt: e.ExpiresAt})
}

func (p kvPersister) Remove(ctx context.Context, key string) error {
	if err := p.kv.KVDelete(ctx, "state/"+key); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

var flowSeq atomic.Int64

// rig is a real engine with the resources sluice serve provides: the
// time-series store, the statistics records and a state store.
type rig struct {
	t     testing.TB
	mgr   *engine.Manager
	state engine.StateStore
	flow  string
}

type rigOpts struct {
	store   ts.Store
	records store.StatsRepo // nil: none
	state   engine.StateStore
	flow    string
}

func newRig(t testing.TB, o rigOpts) *rig {
	t.Helper()
	if o.state == nil {
		st, err := engine.NewMemoryState(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		o.state = st
	}
	if o.flow == "" {
		o.flow = fmt.Sprintf("stats-%d", flowSeq.Add(1))
	}
	mgr := engine.NewManager(engine.Options{Metrics: prometheus.NewRegistry(), State: o.state, Logger: quiet(),
		MessageTimeout: 20 * time.Second, DrainTimeout: 5 * time.Second})
	r := &rig{t: t, mgr: mgr, state: o.state, flow: o.flow}
	t.Cleanup(r.stop)
	if o.store != nil {
		mgr.Resources().Provide(tssink.StoreKey, o.store)
	}
	if o.records != nil {
		mgr.Resources().Provide(RecordsKey, o.records)
	}
	return r
}

func (r *rig) stop() {
	if r.mgr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.mgr.Shutdown(ctx); err != nil {
		r.t.Errorf("shutdown: %v", err)
	}
	r.mgr = nil
}

// flowOf is a flow with one cronStats node, "stats", and nothing wired:
// its messages end as the result's ends.
func flowOf(id string, cfg map[string]any) *engine.Flow {
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	f.Metadata.Nodes = []engine.Node{{ID: "stats", Type: Type, Configuration: cfg}}
	return f
}

func (r *rig) deploy(cfg map[string]any, version int) {
	r.t.Helper()
	if err := r.mgr.Deploy(context.Background(), tenant, flowOf(r.flow, cfg), version); err != nil {
		r.t.Fatalf("deploy: %v", err)
	}
}

// tick submits a schedule connector's tick scheduled at t0+d and returns
// the result.
func (r *rig) tick(d time.Duration) *engine.Result {
	r.t.Helper()
	s := t0.Add(d).Format(time.RFC3339)
	data, _ := json.Marshal(map[string]string{"tick": s, "scheduled": s})
	return r.submit(engine.Message{Type: "TICK", DataType: "JSON", Data: string(data),
		Metadata: map[string]string{"connector": "schedule", "scheduledTime": s}})
}

func (r *rig) submit(msg engine.Message) *engine.Result {
	r.t.Helper()
	res, err := r.mgr.Submit(context.Background(), r.flow, msg, engine.SubmitOptions{Wait: true})
	if err != nil {
		r.t.Fatalf("submit: %v", err)
	}
	return res
}

// out is a STATS message as it ended.
type out struct {
	rel string
	md  map[string]string
	p   payload
	err string
}

// outs decodes the ends of a result.
func outs(t testing.TB, res *engine.Result) []out {
	t.Helper()
	var o []out
	for _, e := range res.Ends {
		x := out{rel: e.Relation, md: e.Msg.Metadata, err: e.Error}
		if e.Msg.Type == MsgType {
			if err := json.Unmarshal([]byte(e.Msg.Data), &x.p); err != nil {
				t.Fatalf("decode %s: %v", e.Msg.Data, err)
			}
		}
		o = append(o, x)
	}
	return o
}

// stats returns the STATS messages of a completed result.
func stats(t testing.TB, res *engine.Result) []payload {
	t.Helper()
	if res.Status != engine.StatusCompleted {
		t.Fatalf("message %s: %s; ends %+v", res.Status, res.Error, res.Ends)
	}
	var ps []payload
	for _, o := range outs(t, res) {
		if o.rel != types.Success {
			t.Fatalf("end on %s (%s): %+v", o.rel, o.err, o.md)
		}
		ps = append(ps, o.p)
	}
	return ps
}

// windows renders the windows of ps as hours since t0: "9-10,10-11".
func windows(ps []payload) string {
	var s []string
	h := func(ms int64) string {
		d := time.Duration(ms-t0.UnixMilli()) * time.Millisecond
		if d%time.Hour == 0 {
			return fmt.Sprint(int64(d / time.Hour))
		}
		return d.String()
	}
	for _, p := range ps {
		s = append(s, h(p.Window.From)+"-"+h(p.Window.To))
	}
	return strings.Join(s, ",")
}

// group finds the group of device and signal (and bucket, when not -1).
func group(t testing.TB, p payload, dev, sig string, bucket int64) map[string]any {
	t.Helper()
	for _, g := range p.Groups {
		if g["deviceId"] == dev && g["signal"] == sig && (bucket == -1 || g["bucket"] == float64(bucket)) {
			return g
		}
	}
	t.Fatalf("no group %s/%s (bucket %d) in %+v", dev, sig, bucket, p.Groups)
	return nil
}

// near reports whether a and b agree to 1e-9.
func near(a, b float64) bool {
	d := a - b
	return d < 1e-9 && d > -1e-9
}

// want checks a group's aggregates; a nil want checks for JSON null.
func want(t testing.TB, g map[string]any, kv ...any) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		name := kv[i].(string)
		got, ok := g[name]
		if !ok {
			t.Errorf("%v/%v: no %s in %v", g["deviceId"], g["signal"], name, g)
			continue
		}
		switch w := kv[i+1].(type) {
		case nil:
			if got != nil {
				t.Errorf("%v/%v %s: got %v, want null", g["deviceId"], g["signal"], name, got)
			}
		case float64:
			f, ok := got.(float64)
			if !ok || !near(f, w) {
				t.Errorf("%v/%v %s: got %v, want %v", g["deviceId"], g["signal"], name, got, w)
			}
		case int:
			f, ok := got.(float64)
			if !ok || f != float64(w) {
				t.Errorf("%v/%v %s: got %v, want %v", g["deviceId"], g["signal"], name, got, w)
			}
		}
	}
}
