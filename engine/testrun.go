package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/engine/spec"
)

// TestResult is the outcome of a test run: the message's result and every
// trace event in order.
type TestResult struct {
	Result   Result        `json:"result"`
	Trace    []TraceEvent  `json:"trace"`
	Problems spec.Problems `json:"problems,omitempty"`
}

var testRuns atomic.Uint64

// Test runs one message through a flow on an isolated engine and returns its
// whole ordered trace. Unless sideEffects is set, nodes see
// Env.SideEffects == false (sinks, notifiers and publishers report what they
// would have done) and state is a scratch store discarded afterwards.
// Sub-chains call the deployed versions of their targets.
func (m *Manager) Test(ctx context.Context, tenant string, f *Flow, msg Message, startNode string, sideEffects bool) (*TestResult, error) {
	problems := Validate(f, ValidateOptions{FlowExists: m.validateOptions("", nil).FlowExists})
	if problems.HasErrors() {
		return &TestResult{Problems: problems}, problems
	}
	if startNode != "" {
		if _, ok := f.NodeByID(startNode); !ok {
			return nil, fmt.Errorf("test run: start node %q is not in flow %q", startNode, f.RuleChain.ID)
		}
	}
	m.deployMu.Lock()
	if m.shutdown {
		m.deployMu.Unlock()
		return nil, errors.New("test run: engine is shutting down")
	}
	m.tests.Add(1)
	m.deployMu.Unlock()
	defer m.tests.Done()
	state := m.opts.State
	if !sideEffects {
		scratch, err := NewMemoryState(ctx, nil)
		if err != nil {
			return nil, err
		}
		state = scratch
	}
	id := f.RuleChain.ID
	env := &Env{FlowID: id, Tenant: tenant, State: state, SideEffects: sideEffects, Resources: m.resources, Logger: m.log.With("flow", id, "test", true)}
	v, err := m.build(f, fmt.Sprintf("%s@test-%d", id, testRuns.Add(1)), 0, env)
	if err != nil {
		return nil, err
	}
	defer v.eng.Stop()
	j := newJob(id, tenant, msg.ruleMsg(), startNode, m.opts.MessageTimeout, true, nil)
	timer := time.NewTimer(m.opts.MessageTimeout)
	defer timer.Stop()
	j.start(j.prepare(v))
	select {
	case <-j.done:
	case <-timer.C:
		j.expire("timed out")
	case <-ctx.Done():
		j.finish(StatusTimedOut, "test run cancelled: "+context.Cause(ctx).Error())
	}
	<-j.done
	j.t.mu.Lock()
	trace := append([]TraceEvent(nil), j.t.events...)
	j.t.mu.Unlock()
	sort.Slice(trace, func(a, b int) bool { return trace[a].Seq < trace[b].Seq })
	return &TestResult{Result: j.result, Trace: trace, Problems: problems}, nil
}
