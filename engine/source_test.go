package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// testSource is a connector runtime that records its lifecycle and exposes
// its inlet to the test.
type testSource struct {
	sc     engine.SourceContext
	fail   bool
	status engine.SourceState
}

var sources struct {
	sync.Mutex
	starts, stops int
	byNode        map[string]*testSource
}

func (s *testSource) Start(context.Context) error {
	sources.Lock()
	defer sources.Unlock()
	if s.fail {
		return errors.New("listen tcp :1: address already in use")
	}
	sources.starts++
	sources.byNode[s.sc.FlowID+"/"+s.sc.NodeID] = s
	s.status = engine.StateListening
	return nil
}

func (s *testSource) Stop(context.Context) error {
	sources.Lock()
	defer sources.Unlock()
	sources.stops++
	delete(sources.byNode, s.sc.FlowID+"/"+s.sc.NodeID)
	s.status = engine.StateStopped
	return nil
}

func (s *testSource) Status() engine.SourceStatus {
	sources.Lock()
	defer sources.Unlock()
	return engine.SourceStatus{State: s.status}
}

func init() {
	sources.byNode = map[string]*testSource{}
	spec.Register(&spec.Node{Type: "test/src", Category: "connectors", Summary: "a test connector", Source: true,
		Fields:    []*spec.Field{{Name: "port", Type: spec.Int, Help: "port", Exclusive: "listen"}, {Name: "fail", Type: spec.Bool, Help: "fail to start"}},
		Relations: spec.Relations{Fixed: []string{types.Success}}}, engine.SourceNode{NodeType: "test/src"})
	engine.RegisterSource("test/src", func(sc engine.SourceContext, cfg map[string]any) (engine.Source, error) {
		fail, _ := cfg["fail"].(bool)
		return &testSource{sc: sc, fail: fail}, nil
	})
}

func sourceFlow(port int, tag string) *engine.Flow {
	f := chain("ingest", "test/src", "test/version")
	f.Metadata.Nodes[0].Configuration = map[string]any{"port": int64(port)}
	f.Metadata.Nodes[1].Configuration = map[string]any{"tag": tag}
	return f
}

func counts() (int, int) {
	sources.Lock()
	defer sources.Unlock()
	return sources.starts, sources.stops
}

func TestSourcesSurviveRedeployUnlessTheirConfigChanges(t *testing.T) {
	m := newManager(t, engine.Options{})
	ctx := ctxT(t)
	starts0, stops0 := counts()
	send := func() string {
		sources.Lock()
		s := sources.byNode["ingest/n1"]
		sources.Unlock()
		if s == nil {
			t.Fatal("source ingest/n1 is not running")
		}
		r, err := s.sc.In.Submit(ctx, msg("dev", "{}"), engine.SubmitOptions{Wait: true})
		if err != nil || r.Status != engine.StatusCompleted {
			t.Fatalf("submit through the source: %v %+v", err, r)
		}
		return r.Ends[0].Msg.Metadata["tag"]
	}
	if err := m.Deploy(ctx, "default", sourceFlow(9000, "v1"), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if got := send(); got != "v1" {
		t.Fatalf("tag %q", got)
	}
	// Same connector config, other nodes changed: the source keeps running.
	if err := m.Deploy(ctx, "default", sourceFlow(9000, "v2"), 2); err != nil {
		t.Fatalf("redeploy: %v", err)
	}
	if s, st := counts(); s-starts0 != 1 || st-stops0 != 0 {
		t.Fatalf("after an unchanged redeploy: %d starts, %d stops; want 1, 0", s-starts0, st-stops0)
	}
	if got := send(); got != "v2" {
		t.Fatalf("the kept source feeds the new version: tag %q, want v2", got)
	}
	// Changed connector config: the old source stops, a new one starts.
	if err := m.Deploy(ctx, "default", sourceFlow(9001, "v3"), 3); err != nil {
		t.Fatalf("redeploy: %v", err)
	}
	if s, st := counts(); s-starts0 != 2 || st-stops0 != 1 {
		t.Fatalf("after a changed redeploy: %d starts, %d stops; want 2, 1", s-starts0, st-stops0)
	}
	st, err := m.Status("ingest")
	if err != nil || st.Sources["n1"].State != engine.StateListening {
		t.Fatalf("status = %+v, %v", st, err)
	}
	if err := m.Undeploy(ctx, "ingest"); err != nil {
		t.Fatal(err)
	}
	if s, st := counts(); s-starts0 != 2 || st-stops0 != 2 {
		t.Fatalf("after undeploy: %d starts, %d stops; want 2, 2", s-starts0, st-stops0)
	}
}

func TestSourceThatCannotStartIsReported(t *testing.T) {
	m := newManager(t, engine.Options{})
	ctx := ctxT(t)
	f := chain("broken-ingest", "test/src", "test/pass")
	f.Metadata.Nodes[0].Configuration = map[string]any{"port": int64(9100), "fail": true}
	if err := m.Deploy(ctx, "default", f, 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	st, err := m.Status("broken-ingest")
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Sources["n1"]; s.State != engine.StateError || s.LastError != "listen tcp :1: address already in use" {
		t.Fatalf("source status = %+v", s)
	}
}

func TestTwoFlowsCannotClaimOnePort(t *testing.T) {
	m := newManager(t, engine.Options{})
	ctx := ctxT(t)
	if err := m.Deploy(ctx, "default", sourceFlow(9200, "a"), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	other := chain("other", "test/src")
	other.Metadata.Nodes[0].Configuration = map[string]any{"port": int64(9200)}
	err := m.Deploy(ctx, "default", other, 1)
	var ps spec.Problems
	if !errors.As(err, &ps) || len(ps) != 1 {
		t.Fatalf("deploy of a conflicting flow: %v", err)
	}
	if want := `flow "other": node "n1" (test/src): field "port": listen "9200" is also claimed by flow "ingest", node "n1"`; ps[0].String() != want {
		t.Fatalf("problem = %s\nwant      %s", ps[0], want)
	}
}

func TestSourceStatusIsExportedAsMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newManager(t, engine.Options{Metrics: reg})
	ctx := ctxT(t)
	if err := m.Deploy(ctx, "default", sourceFlow(9300, "m"), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	want := `
# HELP sluice_source_state 1 for the connector's current state.
# TYPE sluice_source_state gauge
sluice_source_state{flow="ingest",node="n1",state="listening"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "sluice_source_state"); err != nil {
		t.Fatal(err)
	}
}
