package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
)

// TestSubchainCallsDeployedVersion: a flow node calls the currently deployed
// version of its target, also after the target is redeployed.
func TestSubchainCallsDeployedVersion(t *testing.T) {
	m := newManager(t, engine.Options{})
	ctx := ctxT(t)
	target := func(tag string) *engine.Flow {
		f := chain("enrich", "test/version")
		f.Metadata.Nodes[0].Configuration = map[string]any{"tag": tag}
		return f
	}
	caller := chain("caller", "test/pass", "flow")
	caller.Metadata.Nodes[1].Configuration = map[string]any{"targetId": "enrich", "extend": true}

	// The target is not deployed: the caller cannot be either.
	err := m.Deploy(ctx, "default", caller, 1)
	if err == nil || !strings.Contains(err.Error(), `"enrich"`) {
		t.Fatalf("deploy with a missing target: err = %v", err)
	}
	// Both in one batch: the target starts first.
	if err := m.DeployMany(ctx, []engine.Deployment{{Tenant: "default", Flow: caller, Version: 1}, {Tenant: "default", Flow: target("v1"), Version: 1}}); err != nil {
		t.Fatalf("deploy both: %v", err)
	}
	tagOf := func() string {
		r, err := m.Submit(ctx, "caller", msg("", `{}`), engine.SubmitOptions{Wait: true})
		if err != nil || r.Status != engine.StatusCompleted || len(r.Ends) != 1 {
			t.Fatalf("submit: %v %+v", err, r)
		}
		return r.Ends[0].Msg.Metadata["tag"]
	}
	if got := tagOf(); got != "v1" {
		t.Fatalf("sub-chain tag = %q, want v1", got)
	}
	if err := m.Deploy(ctx, "default", target("v2"), 2); err != nil {
		t.Fatalf("redeploy target: %v", err)
	}
	if got := tagOf(); got != "v2" {
		t.Fatalf("after the target's redeploy: tag = %q, want v2", got)
	}
}

// TestSubchainNodesSeeTheTargetsEnv: a node in a sub-chain keys its state
// with the target flow's id, not the caller's.
func TestSubchainNodesSeeTheTargetsEnv(t *testing.T) {
	m := newManager(t, engine.Options{})
	ctx := ctxT(t)
	flows := make(chan string, 1)
	setRecorder(func(ctx types.RuleContext, _ types.RuleMsg) { flows <- engine.EnvOf(ctx).FlowID })
	t.Cleanup(func() { setRecorder(nil) })
	caller := chain("outer", "flow")
	caller.Metadata.Nodes[0].Configuration = map[string]any{"targetId": "inner"}
	if err := m.DeployMany(ctx, []engine.Deployment{{Tenant: "default", Flow: caller, Version: 1}, {Tenant: "default", Flow: chain("inner", "test/record"), Version: 1}}); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if r, err := m.Submit(ctx, "outer", msg("", "{}"), engine.SubmitOptions{Wait: true}); err != nil || r.Status != engine.StatusCompleted {
		t.Fatalf("submit: %v %+v", err, r)
	}
	if got := <-flows; got != "inner" {
		t.Fatalf("sub-chain node saw flow %q, want inner", got)
	}
}

// TestDrainDeadlineDeadLettersWhatIsLeft: a redeploy whose old version holds
// a message past the drain deadline reports it as a dead letter by id.
func TestDrainDeadlineDeadLettersWhatIsLeft(t *testing.T) {
	s := newSink()
	m := newManager(t, engine.Options{DrainTimeout: 50 * time.Millisecond, MessageTimeout: time.Minute, DeadLetters: s})
	ctx := ctxT(t)
	if err := m.Deploy(ctx, "default", chain("stuck", "test/hang"), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	results := make(chan engine.Result, 1)
	if _, err := m.Submit(ctx, "stuck", msg("", `{"n":1}`), engine.SubmitOptions{Done: func(r engine.Result) { results <- r }}); err != nil {
		t.Fatalf("submit: %v", err)
	}
	if err := m.Deploy(ctx, "default", chain("stuck", "test/pass"), 2); err != nil {
		t.Fatalf("redeploy: %v", err)
	}
	r := <-results
	if r.Status != engine.StatusTimedOut || r.Error != "drain deadline passed in node n1" {
		t.Fatalf("result = %+v", r)
	}
	d := <-s.ch
	if d.Version != 1 || d.Msg.ID != r.MsgID || d.NodeID != "n1" {
		t.Fatalf("dead letter = %+v", d)
	}
	// The new version runs.
	if r, err := m.Submit(ctx, "stuck", msg("", `{}`), engine.SubmitOptions{Wait: true}); err != nil || r.Status != engine.StatusCompleted {
		t.Fatalf("new version: %v %+v", err, r)
	}
}

// TestUndeployFinishesQueuedMessages: undeploy refuses new messages but the
// ones already admitted to the lanes finish.
func TestUndeployFinishesQueuedMessages(t *testing.T) {
	m := newManager(t, engine.Options{Lanes: 1})
	ctx := ctxT(t)
	if err := m.Deploy(ctx, "default", chain("bye", "test/pass", "test/pass"), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	const n = 200
	done := make(chan engine.Result, n)
	for i := 0; i < n; i++ {
		if _, err := m.Submit(ctx, "bye", msg("one-device", "{}"), engine.SubmitOptions{Done: func(r engine.Result) { done <- r }}); err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	if err := m.Undeploy(ctx, "bye"); err != nil {
		t.Fatalf("undeploy: %v", err)
	}
	for i := 0; i < n; i++ {
		if r := <-done; r.Status != engine.StatusCompleted {
			t.Fatalf("message %d: %+v", i, r)
		}
	}
	if _, err := m.Submit(ctx, "bye", msg("", "{}"), engine.SubmitOptions{}); err == nil {
		t.Fatal("submit after undeploy succeeded")
	}
}
