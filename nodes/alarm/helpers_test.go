package alarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// t0 is the tests' epoch: device and wall clocks start here.
var t0 = time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)

// fakeClock is a wall clock the tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// useClock makes new runtimes use c; call it before anything is deployed.
func useClock(t *testing.T, c *fakeClock) {
	t.Helper()
	old := nowFunc
	nowFunc = c.Now
	t.Cleanup(func() { nowFunc = old })
}

// got is a message that reached a sink node of a test flow.
type got struct {
	rel string
	msg engine.Message
	ev  Event // for ALARM messages
}

func (g got) String() string {
	if g.msg.Type == MsgType {
		return fmt.Sprintf("%s(%s %s %s sev=%s ack=%v n=%d)", g.rel, g.ev.Rule, g.ev.DeviceID, g.ev.Status, g.ev.Severity, g.ev.Acknowledged, g.ev.Count)
	}
	return g.rel
}

// sinks route what test/alarmSink nodes receive to their flow's channel.
var sinks sync.Map // flow id -> chan got

type sinkNode struct{ tag string }

func (*sinkNode) Type() string    { return "test/alarmSink" }
func (*sinkNode) New() types.Node { return &sinkNode{} }
func (n *sinkNode) Init(_ types.Config, c types.Configuration) error {
	n.tag, _ = c["tag"].(string)
	return nil
}
func (n *sinkNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	if env := engine.EnvOf(ctx); env != nil {
		if ch, ok := sinks.Load(env.FlowID); ok {
			md := map[string]string{}
			for k, v := range msg.Metadata {
				md[k] = v
			}
			g := got{rel: n.tag, msg: engine.Message{ID: msg.Id, Ts: msg.Ts, Type: msg.Type, DataType: string(msg.DataType), Data: msg.Data, Metadata: md}}
			if msg.Type == MsgType {
				if err := json.Unmarshal([]byte(msg.Data), &g.ev); err != nil {
					panic(err)
				}
			}
			ch.(chan got) <- g
		}
	}
	ctx.TellSuccess(msg)
}
func (*sinkNode) Destroy() {}

func init() {
	spec.Register(&spec.Node{Type: "test/alarmSink", Category: "action", Summary: "test sink",
		Fields:    []*spec.Field{{Name: "tag", Type: spec.String, Help: "tag"}},
		Relations: spec.Relations{Fixed: []string{types.Success}}}, &sinkNode{})
}

// memRecorder is a Recorder that keeps changes in memory.
type memRecorder struct {
	mu      sync.Mutex
	changes []Change
}

func (r *memRecorder) RecordAlarm(_ context.Context, c Change) error {
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.mu.Unlock()
	return nil
}

func (r *memRecorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.changes {
		out = append(out, c.Kind+":"+c.Event.Rule+":"+c.Event.DeviceID)
	}
	return out
}

// flowID numbers the test flows of a process.
var flowSeq atomic.Int64

// harness runs one thresholdAlarm node in a deployed flow of a real engine.
type harness struct {
	t     *testing.T
	mgr   *engine.Manager
	state engine.StateStore
	clock *fakeClock
	rec   *memRecorder
	flow  string
	got   chan got
}

type harnessOpts struct {
	state    engine.StateStore // shared with another harness (restart)
	clock    *fakeClock
	flow     string
	noRecord bool
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newHarness deploys cfg (a thresholdAlarm configuration) in a flow whose
// every relation goes to a sink.
func newHarness(t *testing.T, cfg map[string]any, o harnessOpts) *harness {
	t.Helper()
	if o.clock == nil {
		o.clock = &fakeClock{t: t0}
		useClock(t, o.clock)
	}
	if o.state == nil {
		st, err := engine.NewMemoryState(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		o.state = st
	}
	if o.flow == "" {
		o.flow = fmt.Sprintf("alarms-%d", flowSeq.Add(1))
	}
	h := &harness{t: t, state: o.state, clock: o.clock, flow: o.flow, got: make(chan got, 1024), rec: &memRecorder{}}
	sinks.Store(h.flow, h.got)
	h.mgr = engine.NewManager(engine.Options{Metrics: prometheus.NewRegistry(), State: o.state, Logger: quietLogger(), MessageTimeout: 10 * time.Second, DrainTimeout: 5 * time.Second})
	if !o.noRecord {
		h.mgr.Resources().Provide(RecorderKey, h.rec)
	}
	t.Cleanup(func() { h.shutdown() })
	h.deploy(cfg, 1)
	return h
}

func (h *harness) shutdown() {
	if h.mgr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.mgr.Shutdown(ctx); err != nil {
		h.t.Errorf("shutdown: %v", err)
	}
	h.mgr = nil
	sinks.Delete(h.flow)
}

func testFlow(id string, cfg map[string]any) *engine.Flow {
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	f.Metadata.Nodes = []engine.Node{{ID: "alarm", Type: ThresholdType, Configuration: cfg}}
	for _, rel := range []string{types.Success, types.Failure, RelActive, RelUpdated, RelCleared, RelReminder} {
		sink := "sink" + rel
		f.Metadata.Nodes = append(f.Metadata.Nodes, engine.Node{ID: sink, Type: "test/alarmSink", Configuration: map[string]any{"tag": rel}})
		f.Metadata.Connections = append(f.Metadata.Connections, engine.Connection{FromID: "alarm", ToID: sink, Type: rel})
	}
	return f
}

func (h *harness) deploy(cfg map[string]any, version int) {
	h.t.Helper()
	if _, ok := cfg["tick"]; !ok {
		cfg["tick"] = "10ms"
	}
	if err := h.mgr.Deploy(context.Background(), "acme", testFlow(h.flow, cfg), version); err != nil {
		h.t.Fatalf("deploy: %v", err)
	}
}

// sig is a sample's signals.
type sig = map[string]any

// send submits one telemetry sample of dev at t0+at and returns what the
// sinks received for it (Success first), without timer messages.
func (h *harness) send(dev string, at time.Duration, signals sig) []got {
	h.t.Helper()
	data, _ := json.Marshal(map[string]any{"deviceId": dev, "ts": t0.Add(at).UnixMilli(), "signals": signals})
	return h.submit(engine.Message{Type: "TELEMETRY", Data: string(data), Metadata: map[string]string{engine.MetaDeviceID: dev}})
}

// sendAt is send with the wall clock moved to the sample's time first.
func (h *harness) sendAt(dev string, at time.Duration, signals sig) []got {
	h.t.Helper()
	h.clock.Set(t0.Add(at))
	return h.send(dev, at, signals)
}

func (h *harness) submit(msg engine.Message) []got {
	h.t.Helper()
	res, err := h.mgr.Submit(context.Background(), h.flow, msg, engine.SubmitOptions{Wait: true})
	if err != nil {
		h.t.Fatalf("submit: %v", err)
	}
	if res.Status != engine.StatusCompleted {
		h.t.Fatalf("message %s: %s", res.Status, res.Error)
	}
	h.settle()
	return h.drain()
}

// runtime is the deployed node's runtime.
func (h *harness) runtime() *runtime {
	h.t.Helper()
	v, release, err := h.mgr.Resources().Acquire(runtimeKey("acme", h.flow, "alarm"), func() (any, func() error, error) {
		return nil, nil, errors.New("no runtime")
	})
	if err != nil {
		h.t.Fatal(err)
	}
	_ = release() // the node and its timer hold it
	return v.(*runtime)
}

// settle waits until the alarm events the node posted have gone through.
func (h *harness) settle() {
	h.t.Helper()
	rt := h.runtime()
	deadline := time.Now().Add(5 * time.Second)
	for rt.pending.Load() != 0 {
		if time.Now().After(deadline) {
			h.t.Fatalf("alarm events still pending after 5s: %d", rt.pending.Load())
		}
		time.Sleep(time.Millisecond)
	}
}

// drain returns what the sinks hold now, timer messages included.
func (h *harness) drain() []got {
	var out []got
	for {
		select {
		case g := <-h.got:
			out = append(out, g)
		default:
			return out
		}
	}
}

// alarms is the alarm messages among gs.
func alarms(gs []got) []got {
	var out []got
	for _, g := range gs {
		if g.msg.Type == MsgType {
			out = append(out, g)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].ev.Rule != out[j].ev.Rule {
			return out[i].ev.Rule < out[j].ev.Rule
		}
		if out[i].rel != out[j].rel {
			return out[i].rel < out[j].rel
		}
		return out[i].ev.DeviceID < out[j].ev.DeviceID
	})
	return out
}

// rels renders the relations of the alarm messages among gs.
func rels(gs []got) string {
	var out []string
	for _, g := range alarms(gs) {
		out = append(out, g.rel)
	}
	return strings.Join(out, ",")
}

// waitFor waits until the sinks received a message on relation rel (timer
// messages), and returns everything received until then.
func (h *harness) waitFor(rel string) []got {
	h.t.Helper()
	var out []got
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case g := <-h.got:
			out = append(out, g)
			if g.rel == rel {
				return out
			}
		case <-deadline.C:
			h.t.Fatalf("no %s message within 5s; got %v", rel, out)
			return nil
		}
	}
}

// quiet checks that nothing arrives for a while (the timer ticks every
// 10ms: 30 ticks).
func (h *harness) quiet(what string) {
	h.t.Helper()
	select {
	case g := <-h.got:
		h.t.Fatalf("%s: unexpected %v", what, g)
	case <-time.After(300 * time.Millisecond):
	}
}

// leaf is a one-rule condition.
func leaf(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// oneRule is a configuration with rule "r" of condition rules (and) and the
// given rule settings.
func oneRule(cond []any, settings ...any) map[string]any {
	r := map[string]any{"name": "r", "condition": map[string]any{"rules": cond}}
	for i := 0; i+1 < len(settings); i += 2 {
		r[settings[i].(string)] = settings[i+1]
	}
	return map[string]any{"rules": []any{r}}
}
