package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
)

// chain builds a linear flow of the given node types: n1 -> n2 -> ...
func chain(id string, nodeTypes ...string) *engine.Flow {
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	for i, t := range nodeTypes {
		nid := fmt.Sprintf("n%d", i+1)
		f.Metadata.Nodes = append(f.Metadata.Nodes, engine.Node{ID: nid, Type: t})
		if i > 0 {
			f.Metadata.Connections = append(f.Metadata.Connections, engine.Connection{FromID: fmt.Sprintf("n%d", i), ToID: nid, Type: types.Success})
		}
	}
	return f
}

type sink struct {
	mu sync.Mutex
	ds []engine.DeadLetter
	ch chan engine.DeadLetter
}

func newSink() *sink { return &sink{ch: make(chan engine.DeadLetter, 1024)} }

func (s *sink) DeadLetter(_ context.Context, d engine.DeadLetter) {
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
	s.ch <- d
}

func newManager(t *testing.T, o engine.Options) *engine.Manager {
	t.Helper()
	if o.Metrics == nil {
		o.Metrics = prometheus.NewRegistry()
	}
	m := engine.NewManager(o)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return m
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func msg(device, data string) engine.Message {
	md := map[string]string{}
	if device != "" {
		md[engine.MetaDeviceID] = device
	}
	return engine.Message{Type: "TELEMETRY", Data: data, Metadata: md}
}

func TestSubmitWaitCompletes(t *testing.T) {
	m := newManager(t, engine.Options{})
	ctx := ctxT(t)
	if err := m.Deploy(ctx, "default", chain("f1", "test/pass", "test/pass"), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	r, err := m.Submit(ctx, "f1", msg("d1", `{"a":1}`), engine.SubmitOptions{Wait: true})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if r.Status != engine.StatusCompleted || len(r.Ends) != 1 || r.Ends[0].Node != "n2" || r.Ends[0].Relation != types.Success {
		t.Fatalf("result = %+v, want completed, one end at n2 on Success", r)
	}
	if r.Ends[0].Msg.Data != `{"a":1}` {
		t.Errorf("end data = %q", r.Ends[0].Msg.Data)
	}
	if _, err := m.Submit(ctx, "nope", msg("", "{}"), engine.SubmitOptions{}); !errors.Is(err, engine.ErrNotDeployed) {
		t.Errorf("submit to undeployed flow: err = %v, want ErrNotDeployed", err)
	}
}

func TestInvalidFlowIsNotDeployedAndOldKeepsRunning(t *testing.T) {
	m := newManager(t, engine.Options{})
	ctx := ctxT(t)
	if err := m.Deploy(ctx, "default", chain("f1", "test/version"), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	err := m.Deploy(ctx, "default", chain("f1", "test/nosuch"), 2)
	if err == nil || !strings.Contains(err.Error(), `node "n1"`) {
		t.Fatalf("deploy of a broken flow: err = %v, want a problem naming node n1", err)
	}
	if d := m.Deployed(); len(d) != 1 || d[0].Version != 1 {
		t.Fatalf("deployed = %+v, want version 1 still running", d)
	}
	if r, err := m.Submit(ctx, "f1", msg("", "{}"), engine.SubmitOptions{Wait: true}); err != nil || r.Status != engine.StatusCompleted {
		t.Fatalf("old version does not run: %v %+v", err, r)
	}
}

func TestPerDeviceOrder(t *testing.T) {
	m := newManager(t, engine.Options{Lanes: 4})
	ctx := ctxT(t)
	var mu sync.Mutex
	seen := map[string][]int{}
	setRecorder(func(ctx types.RuleContext, msg types.RuleMsg) {
		var n int
		fmt.Sscanf(msg.Data, "%d", &n)
		mu.Lock()
		seen[msg.Metadata[engine.MetaDeviceID]] = append(seen[msg.Metadata[engine.MetaDeviceID]], n)
		mu.Unlock()
	})
	t.Cleanup(func() { setRecorder(nil) })
	if err := m.Deploy(ctx, "default", chain("order", "test/pass", "test/record"), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	const devices, per = 16, 200
	var last *engine.Result
	for i := 0; i < per; i++ {
		for d := 0; d < devices; d++ {
			r, err := m.Submit(ctx, "order", msg(fmt.Sprintf("dev-%d", d), fmt.Sprint(i)), engine.SubmitOptions{Wait: i == per-1 && d == devices-1})
			if err != nil {
				t.Fatalf("submit: %v", err)
			}
			if r != nil {
				last = r
			}
		}
	}
	if last == nil {
		t.Fatal("no result for the last message")
	}
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		total := 0
		for _, s := range seen {
			total += len(s)
		}
		return total == devices*per
	})
	mu.Lock()
	defer mu.Unlock()
	for dev, s := range seen {
		for i, n := range s {
			if n != i {
				t.Fatalf("device %s: message %d arrived as number %d: order broken: %v", dev, i, n, s[:i+1])
			}
		}
	}
}

func TestOverloadFailFastAndWait(t *testing.T) {
	m := newManager(t, engine.Options{MaxInFlight: 2, MessageTimeout: 2 * time.Second})
	ctx := ctxT(t)
	if err := m.Deploy(ctx, "default", chain("full", "test/hang"), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := m.Submit(ctx, "full", msg("", "{}"), engine.SubmitOptions{FailFast: true}); err != nil {
			t.Fatalf("submit %d: %v", i, err)
		}
	}
	if _, err := m.Submit(ctx, "full", msg("", "{}"), engine.SubmitOptions{FailFast: true}); !errors.Is(err, engine.ErrOverloaded) {
		t.Fatalf("third submit: err = %v, want ErrOverloaded", err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := m.Submit(short, "full", msg("", "{}"), engine.SubmitOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting submit: err = %v, want the caller's deadline", err)
	}
	// The hung messages time out and free their slots: a waiting caller gets in.
	r, err := m.Submit(ctx, "full", msg("", "{}"), engine.SubmitOptions{Wait: true})
	if err != nil {
		t.Fatalf("submit after timeouts: %v", err)
	}
	if r.Status != engine.StatusTimedOut {
		t.Fatalf("status = %s, want timedOut", r.Status)
	}
	st, err := m.Status("full")
	if err != nil || st.Rejected != 2 || st.TimedOut < 3 {
		t.Fatalf("status = %+v, %v; want 2 rejected, 3 timed out", st, err)
	}
}

func TestTimeoutNamesNodeAndDeadLetters(t *testing.T) {
	s := newSink()
	m := newManager(t, engine.Options{MessageTimeout: 100 * time.Millisecond, DeadLetters: s})
	ctx := ctxT(t)
	if err := m.Deploy(ctx, "default", chain("slow", "test/pass", "test/hang"), 3); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	r, err := m.Submit(ctx, "slow", msg("d1", `{"x":1}`), engine.SubmitOptions{Wait: true})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if r.Status != engine.StatusTimedOut || r.Error != "timed out in node n2" {
		t.Fatalf("result = %+v, want timed out in node n2", r)
	}
	d := <-s.ch
	if d.FlowID != "slow" || d.Version != 3 || d.NodeID != "n2" || d.Msg.Data != `{"x":1}` || d.Error != "timed out in node n2" || strings.Join(d.Path, ",") != "n1,n2" {
		t.Fatalf("dead letter = %+v", d)
	}
}

// TestNodesSeeTheMessageDeadline: a node's context carries the message's
// deadline (message timeout from when it started), so that a node that waits
// can stop in time.
func TestNodesSeeTheMessageDeadline(t *testing.T) {
	m := newManager(t, engine.Options{MessageTimeout: 7 * time.Second})
	ctx := ctxT(t)
	got := make(chan time.Time, 1)
	setRecorder(func(ctx types.RuleContext, msg types.RuleMsg) {
		d, ok := ctx.GetContext().Deadline()
		if !ok {
			d = time.Time{}
		}
		got <- d
	})
	t.Cleanup(func() { setRecorder(nil) })
	if err := m.Deploy(ctx, "default", chain("deadline", "test/record"), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	before := time.Now()
	if _, err := m.Submit(ctx, "deadline", msg("d", "{}"), engine.SubmitOptions{Wait: true}); err != nil {
		t.Fatalf("submit: %v", err)
	}
	d := <-got
	if d.Before(before.Add(7*time.Second)) || d.After(time.Now().Add(7*time.Second)) {
		t.Fatalf("deadline %v, want 7s after the message started (%v)", d, before)
	}
}

func TestUnhandledFailureIsDeadLettered(t *testing.T) {
	s := newSink()
	m := newManager(t, engine.Options{DeadLetters: s})
	ctx := ctxT(t)
	unhandled := chain("unhandled", "test/pass", "test/fail")
	handled := chain("handled", "test/fail", "test/pass")
	handled.Metadata.Connections = []engine.Connection{{FromID: "n1", ToID: "n2", Type: types.Failure}}
	if err := m.DeployMany(ctx, []engine.Deployment{{Tenant: "default", Flow: unhandled, Version: 1}, {Tenant: "default", Flow: handled, Version: 1}}); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	r, err := m.Submit(ctx, "handled", msg("", "{}"), engine.SubmitOptions{Wait: true})
	if err != nil || r.Status != engine.StatusCompleted {
		t.Fatalf("handled failure: %v %+v, want completed", err, r)
	}
	r, err = m.Submit(ctx, "unhandled", msg("", "{}"), engine.SubmitOptions{Wait: true})
	if err != nil || r.Status != engine.StatusFailed || r.Error != `node "n2": boom` {
		t.Fatalf("unhandled failure: %v %+v, want failed at n2", err, r)
	}
	d := <-s.ch
	if d.FlowID != "unhandled" || d.NodeID != "n2" || d.Error != `node "n2": boom` {
		t.Fatalf("dead letter = %+v", d)
	}
	select {
	case extra := <-s.ch:
		t.Fatalf("unexpected dead letter %+v", extra)
	default:
	}
}

func TestTraceBusOrderedEvents(t *testing.T) {
	m := newManager(t, engine.Options{})
	ctx := ctxT(t)
	if err := m.Deploy(ctx, "default", chain("traced", "test/pass", "test/pass"), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	sub := m.Trace().Subscribe("traced", 16)
	defer sub.Close()
	r, err := m.Submit(ctx, "traced", msg("d", `{"v":2}`), engine.SubmitOptions{Wait: true})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	var got []string
	for len(got) < 4 {
		select {
		case ev := <-sub.C():
			if ev.RootID != r.MsgID || ev.Seq != uint64(len(got)+1) || ev.Data != `{"v":2}` {
				t.Fatalf("event %d = %+v", len(got), ev)
			}
			got = append(got, ev.Node+":"+ev.Direction+":"+ev.Relation)
		case <-ctx.Done():
			t.Fatalf("events so far %v: %v", got, ctx.Err())
		}
	}
	if want := "n1:in:,n1:out:Success,n2:in:,n2:out:Success"; strings.Join(got, ",") != want {
		t.Fatalf("events = %v, want %s", got, want)
	}
}

func TestSlowSubscriberLosesEventsNotTheEngine(t *testing.T) {
	m := newManager(t, engine.Options{})
	ctx := ctxT(t)
	if err := m.Deploy(ctx, "default", chain("busy", "test/pass"), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	sub := m.Trace().Subscribe("busy", 1)
	defer sub.Close()
	for i := 0; i < 50; i++ {
		if _, err := m.Submit(ctx, "busy", msg("", "{}"), engine.SubmitOptions{Wait: true}); err != nil {
			t.Fatalf("submit: %v", err)
		}
	}
	if sub.Dropped() != 99 { // 100 events, a buffer of one, nobody reading
		t.Fatalf("dropped = %d, want 99", sub.Dropped())
	}
}

func TestTestRunIsolatedWithTrace(t *testing.T) {
	m := newManager(t, engine.Options{})
	ctx := ctxT(t)
	var sideEffects []bool
	var mu sync.Mutex
	setRecorder(func(ctx types.RuleContext, msg types.RuleMsg) {
		mu.Lock()
		sideEffects = append(sideEffects, engine.EnvOf(ctx).SideEffects)
		mu.Unlock()
	})
	t.Cleanup(func() { setRecorder(nil) })
	f := chain("draft", "test/pass", "test/record", "test/pass")
	res, err := m.Test(ctx, "default", f, msg("d", `{"t":1}`), "", false)
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	if res.Result.Status != engine.StatusCompleted || len(res.Trace) != 6 {
		t.Fatalf("result %+v with %d events, want completed with 6", res.Result, len(res.Trace))
	}
	for i, ev := range res.Trace {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("trace not ordered: %+v", res.Trace)
		}
	}
	res, err = m.Test(ctx, "default", f, msg("d", `{}`), "n2", true)
	if err != nil || len(res.Trace) != 4 || res.Trace[0].Node != "n2" {
		t.Fatalf("test run from n2: %v %+v", err, res)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sideEffects) != 2 || sideEffects[0] || !sideEffects[1] {
		t.Fatalf("side effects seen by the node = %v, want [false true]", sideEffects)
	}
	if len(m.Deployed()) != 0 {
		t.Fatalf("a test run deployed something: %+v", m.Deployed())
	}
}

// TestRedeployUnderLoad redeploys a flow with a fan-out again and again
// while producers send: every message finishes exactly once with both
// branches' ends, on some version, none is lost, several versions handled
// messages, and every replaced engine is stopped. Run with -race.
func TestRedeployUnderLoad(t *testing.T) {
	m := newManager(t, engine.Options{MaxInFlight: 256, Lanes: 8})
	ctx := ctxT(t)
	flow := func(v int) *engine.Flow {
		f := chain("hot", "test/pass", "test/version", "test/pass")
		f.Metadata.Nodes[1].Configuration = map[string]any{"tag": fmt.Sprint(v)}
		// n1 also fans out to n3 directly: two branches per message
		f.Metadata.Connections = append(f.Metadata.Connections, engine.Connection{FromID: "n1", ToID: "n3", Type: types.Success})
		return f
	}
	before := destroyed.Load()
	if err := m.Deploy(ctx, "default", flow(1), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	const producers, each, redeploys = 4, 1000, 15
	var finished atomic.Int64
	var wg sync.WaitGroup
	results := make(chan *engine.Result, producers*each)
	errs := make(chan error, producers*each)
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				dev := ""
				if i%2 == 0 {
					dev = fmt.Sprintf("d%d", p)
				}
				r, err := m.Submit(ctx, "hot", msg(dev, fmt.Sprint(i)), engine.SubmitOptions{Wait: true})
				finished.Add(1)
				if err != nil {
					errs <- err
					continue
				}
				results <- r
			}
		}()
	}
	// Redeploy while the producers are busy: each version serves at least
	// a few dozen messages before the next replaces it, however slow a
	// deploy is on a loaded machine.
	for v := 2; v <= redeploys+1; v++ {
		want := min(finished.Load()+40, producers*each)
		waitFor(t, func() bool { return finished.Load() >= want })
		if err := m.Deploy(ctx, "default", flow(v), v); err != nil {
			t.Fatalf("redeploy %d: %v", v, err)
		}
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Errorf("submit: %v", err)
	}
	ids := map[string]bool{}
	tags := map[string]int{}
	for r := range results {
		if r.Status != engine.StatusCompleted || len(r.Ends) != 2 {
			t.Fatalf("result %+v, want completed with two ends", r)
		}
		if ids[r.MsgID] {
			t.Fatalf("message %s finished twice", r.MsgID)
		}
		ids[r.MsgID] = true
		for _, e := range r.Ends {
			if tag := e.Msg.Metadata["tag"]; tag != "" {
				tags[tag]++
			}
		}
	}
	if len(ids) != producers*each {
		t.Fatalf("%d messages finished, want %d", len(ids), producers*each)
	}
	if len(tags) < redeploys/2 {
		t.Fatalf("only %d versions handled messages (%v): the redeploys did not overlap the load", len(tags), tags)
	}
	if d := m.Deployed(); d[0].Version != redeploys+1 {
		t.Fatalf("deployed version %d, want %d", d[0].Version, redeploys+1)
	}
	// Each replaced version's engine stops once drained: one Destroy per version node instance.
	waitFor(t, func() bool { return destroyed.Load()-before == redeploys })
}

// TestFanOutFailureInOneBranch: a message whose second branch fails without
// a Failure connection is failed and dead-lettered even when the first branch
// finishes first (RuleGo's own completion callback can fire too early here).
func TestFanOutFailureInOneBranch(t *testing.T) {
	s := newSink()
	m := newManager(t, engine.Options{Workers: 1, DeadLetters: s})
	ctx := ctxT(t)
	f := chain("fan", "test/pass", "test/pass", "test/fail")
	f.Metadata.Connections = []engine.Connection{{FromID: "n1", ToID: "n2", Type: types.Success}, {FromID: "n1", ToID: "n3", Type: types.Success}}
	if err := m.Deploy(ctx, "default", f, 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	for i := 0; i < 50; i++ {
		r, err := m.Submit(ctx, "fan", msg("", "{}"), engine.SubmitOptions{Wait: true})
		if err != nil {
			t.Fatalf("submit: %v", err)
		}
		if r.Status != engine.StatusFailed || len(r.Ends) != 2 {
			t.Fatalf("message %d: %+v, want failed with two ends", i, r)
		}
		if d := <-s.ch; d.NodeID != "n3" {
			t.Fatalf("dead letter %+v", d)
		}
	}
}

// TestUndeployWithStuckLaneReturnsByTheDrainDeadline: a message that never
// finishes, and one queued behind it on the same lane, are dead-lettered when
// the drain deadline passes; Undeploy does not wait for the message timeout.
func TestUndeployWithStuckLaneReturnsByTheDrainDeadline(t *testing.T) {
	s := newSink()
	m := newManager(t, engine.Options{DrainTimeout: 100 * time.Millisecond, MessageTimeout: time.Hour, DeadLetters: s})
	ctx := ctxT(t)
	if err := m.Deploy(ctx, "default", chain("stuck", "test/hang"), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	results := make(chan engine.Result, 2)
	for i := 0; i < 2; i++ {
		if _, err := m.Submit(ctx, "stuck", msg("same-device", fmt.Sprint(i)), engine.SubmitOptions{Done: func(r engine.Result) { results <- r }}); err != nil {
			t.Fatalf("submit: %v", err)
		}
	}
	if err := m.Undeploy(ctx, "stuck"); err != nil {
		t.Fatalf("undeploy: %v", err)
	}
	got := map[string]bool{}
	for i := 0; i < 2; i++ {
		got[(<-results).Error] = true
		<-s.ch
	}
	if !got["drain deadline passed in node n1"] || !got["drain deadline passed while queued"] {
		t.Fatalf("results = %v", got)
	}
}

// TestSubmitRacingUndeploy: every Submit either fails or finishes; nothing
// hangs and no slot leaks (goleak checks no goroutine is left).
func TestSubmitRacingUndeploy(t *testing.T) {
	m := newManager(t, engine.Options{MaxInFlight: 8, Lanes: 2})
	ctx := ctxT(t)
	for round := 0; round < 20; round++ {
		if err := m.Deploy(ctx, "default", chain("race", "test/pass"), round+1); err != nil {
			t.Fatalf("deploy: %v", err)
		}
		var wg sync.WaitGroup
		for p := 0; p < 4; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 50; i++ {
					dev := ""
					if i%2 == 0 {
						dev = fmt.Sprint(p)
					}
					r, err := m.Submit(ctx, "race", msg(dev, "{}"), engine.SubmitOptions{Wait: true})
					if err != nil {
						if !errors.Is(err, engine.ErrStopping) && !errors.Is(err, engine.ErrNotDeployed) {
							t.Errorf("submit: %v", err)
						}
						return
					}
					if r.Status != engine.StatusCompleted {
						t.Errorf("result %+v", r)
					}
				}
			}()
		}
		if err := m.Undeploy(ctx, "race"); err != nil {
			t.Fatalf("undeploy: %v", err)
		}
		wg.Wait()
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPanickingNodeFailsTheMessage(t *testing.T) {
	s := newSink()
	m := newManager(t, engine.Options{DeadLetters: s, MessageTimeout: 5 * time.Second})
	ctx := ctxT(t)
	for _, f := range []*engine.Flow{chain("p1", "test/panic"), chain("p2", "test/pass", "test/panic")} {
		if err := m.Deploy(ctx, "default", f, 1); err != nil {
			t.Fatalf("deploy: %v", err)
		}
		r, err := m.Submit(ctx, f.RuleChain.ID, msg("d", "{}"), engine.SubmitOptions{Wait: true})
		if err != nil {
			t.Fatalf("submit: %v", err)
		}
		last := f.Metadata.Nodes[len(f.Metadata.Nodes)-1].ID
		if r.Status != engine.StatusFailed || r.Error != fmt.Sprintf("node %q: panic: kaboom", last) {
			t.Fatalf("%s: result = %+v, want failed with the panic", f.RuleChain.ID, r)
		}
		if d := <-s.ch; d.NodeID != last {
			t.Fatalf("dead letter = %+v", d)
		}
	}
}

func TestOrderKeyKeepsOrderWithoutDeviceID(t *testing.T) {
	m := newManager(t, engine.Options{Lanes: 4})
	ctx := ctxT(t)
	var mu sync.Mutex
	var seen []string
	setRecorder(func(_ types.RuleContext, msg types.RuleMsg) {
		mu.Lock()
		seen = append(seen, msg.Data)
		mu.Unlock()
	})
	t.Cleanup(func() { setRecorder(nil) })
	if err := m.Deploy(ctx, "default", chain("keyed", "test/pass", "test/pass", "test/record"), 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	const n = 300
	done := make(chan struct{}, n)
	for i := 0; i < n; i++ {
		if _, err := m.Submit(ctx, "keyed", msg("", fmt.Sprint(i)), engine.SubmitOptions{OrderKey: "conn-1", Done: func(engine.Result) { done <- struct{}{} }}); err != nil {
			t.Fatalf("submit: %v", err)
		}
	}
	for i := 0; i < n; i++ {
		<-done
	}
	mu.Lock()
	defer mu.Unlock()
	for i, d := range seen {
		if d != fmt.Sprint(i) {
			t.Fatalf("message %d arrived as %s: order broken", i, d)
		}
	}
}
