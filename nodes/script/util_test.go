package script_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	_ "github.com/sluicehq/sluice/nodes/script" // registers the node types
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const tenant = "acme"

// recorded is a message that reached a record node.
type recorded struct {
	node string
	msg  types.RuleMsg
}

// recordNode hands every message to the current test's channel and tells
// Success.
type recordNode struct{}

var record struct {
	sync.Mutex
	ch chan recorded
}

func (recordNode) Type() string                                 { return "test/scriptRecord" }
func (recordNode) New() types.Node                              { return recordNode{} }
func (recordNode) Init(types.Config, types.Configuration) error { return nil }
func (recordNode) Destroy()                                     {}
func (recordNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	record.Lock()
	ch := record.ch
	record.Unlock()
	if ch != nil {
		ch <- recorded{node: ctx.GetSelfId(), msg: msg.Copy()}
	}
	ctx.TellSuccess(msg)
}

// probeNode reports whether the engine's RuleContext can answer with
// several messages (engine.MultiTeller).
type probeNode struct{}

var probed struct {
	once sync.Once
	ok   bool
}

func (probeNode) Type() string                                 { return "test/scriptProbe" }
func (probeNode) New() types.Node                              { return probeNode{} }
func (probeNode) Init(types.Config, types.Configuration) error { return nil }
func (probeNode) Destroy()                                     {}
func (probeNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	_, ok := ctx.(engine.MultiTeller)
	msg.Metadata["multiTeller"] = fmt.Sprint(ok)
	ctx.TellSuccess(msg)
}

func init() {
	rel := spec.Relations{Fixed: []string{types.Success}}
	spec.Register(&spec.Node{Type: "test/scriptRecord", Category: "action", Summary: "records", Relations: rel}, recordNode{})
	spec.Register(&spec.Node{Type: "test/scriptProbe", Category: "action", Summary: "probes", Relations: rel}, probeNode{})
}

// requireTellEach skips a test of several messages from one input when the
// engine cannot answer with several messages safely: RuleGo's context and
// the engine's hop count then race (docs/scripts.md, "Several results").
func requireTellEach(t *testing.T) {
	t.Helper()
	probed.once.Do(func() {
		m := newManager(t)
		deploy(t, m, &engine.Flow{RuleChain: engine.FlowInfo{ID: "probe", Name: "probe"},
			Metadata: engine.FlowMetadata{Nodes: []engine.Node{{ID: "p", Type: "test/scriptProbe"}}}})
		r := submit(t, m, "probe", jsonMsg(`{}`, nil))
		probed.ok = len(r.Ends) == 1 && r.Ends[0].Msg.Metadata["multiTeller"] == "true"
	})
	if !probed.ok {
		t.Fatal("the engine's RuleContext has no TellEach (engine.MultiTeller): several messages from one input are not safe on it")
	}
}

// recorder returns the channel the record nodes write to during this test.
func recorder(t testing.TB) <-chan recorded {
	ch := make(chan recorded, 4096)
	record.Lock()
	record.ch = ch
	record.Unlock()
	t.Cleanup(func() {
		record.Lock()
		record.ch = nil
		record.Unlock()
	})
	return ch
}

// collect waits for n recorded messages.
func collect(t testing.TB, ch <-chan recorded, n int) []recorded {
	t.Helper()
	var out []recorded
	deadline := time.After(10 * time.Second)
	for len(out) < n {
		select {
		case r := <-ch:
			out = append(out, r)
		case <-deadline:
			t.Fatalf("recorded %d of %d messages", len(out), n)
		}
	}
	return out
}

func newManager(t testing.TB) *engine.Manager {
	t.Helper()
	m := engine.NewManager(engine.Options{Metrics: prometheus.NewRegistry(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return m
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// scriptFlow is node "n1" of nodeType with cfg, and a record node "rec-R"
// on each relation R of recorded.
func scriptFlow(id, nodeType string, cfg map[string]any, recorded ...string) *engine.Flow {
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	f.Metadata.Nodes = append(f.Metadata.Nodes, engine.Node{ID: "n1", Type: nodeType, Configuration: cfg})
	for _, rel := range recorded {
		f.Metadata.Nodes = append(f.Metadata.Nodes, engine.Node{ID: "rec-" + rel, Type: "test/scriptRecord"})
		f.Metadata.Connections = append(f.Metadata.Connections, engine.Connection{FromID: "n1", ToID: "rec-" + rel, Type: rel})
	}
	return f
}

func deploy(t testing.TB, m *engine.Manager, f *engine.Flow) {
	t.Helper()
	if err := m.Deploy(ctxT(t), tenant, f, 1); err != nil {
		t.Fatalf("deploy %s: %v", f.RuleChain.ID, err)
	}
}

// submit runs msg through a deployed flow and waits for its result.
func submit(t testing.TB, m *engine.Manager, flowID string, msg engine.Message) *engine.Result {
	t.Helper()
	r, err := m.Submit(ctxT(t), flowID, msg, engine.SubmitOptions{Wait: true})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return r
}

func jsonMsg(data string, md map[string]string) engine.Message {
	return engine.Message{Type: "RAW", DataType: "JSON", Data: data, Metadata: md}
}

// ends renders a result's branch ends, sorted: "n1/Success", "rec-True/Success".
func ends(r *engine.Result) []string {
	var out []string
	for _, e := range r.Ends {
		out = append(out, e.Node+"/"+e.Relation)
	}
	sort.Strings(out)
	return out
}

// failure returns the error of the result's Failure end, or "".
func failure(r *engine.Result) string {
	for _, e := range r.Ends {
		if e.Relation == types.Failure {
			return e.Error
		}
	}
	return ""
}

func contains(t testing.TB, what, got, want string) {
	t.Helper()
	if !strings.Contains(got, want) {
		t.Errorf("%s = %q, want it to contain %q", what, got, want)
	}
}

// slowMachineTimeout is the script time limit of table tests that are not
// about time limits: generous, so that a loaded machine running -race does
// not turn a slow script into a timeout.
const slowMachineTimeout = "10s"
