package alarm

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/engine"
)

// submitTimeout bounds how long a tick waits for room in a full flow; it is
// retried at the next tick.
const submitTimeout = 5 * time.Second

// timer is the engine source of a deployed alarm node. A node cannot start a
// message by itself, so the timer does it for the node: every tick it
// submits an ALARM_TICK message at the node for each device whose next
// deadline has passed (silence, duration, clear hold-off, reminder,
// escalation by time), in that device's order; and it submits the alarm
// events the node posts (emit.go). It also writes the node's runtime state
// to the store every flushEvery. The engine starts it when the flow is
// deployed, keeps it across redeploys that leave the node's configuration
// unchanged, and stops it at undeploy.
type timer struct {
	sc    engine.SourceContext
	every time.Duration
	grace int64

	mu      sync.Mutex
	rt      *runtime
	release func() error
	stop    chan struct{}
	done    chan struct{}

	since   time.Time
	ticks   atomic.Uint64
	errs    atomic.Uint64
	lastErr atomic.Value // string
	state   atomic.Value // engine.SourceState
}

var _ engine.Source = (*timer)(nil)

func newTimer(sc engine.SourceContext, raw map[string]any) (engine.Source, error) {
	var cfg thresholdConfig
	if err := thresholdSpec.Decode(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s timer: %w", ThresholdType, err)
	}
	c, ps := compileThreshold(cfg)
	if ps.HasErrors() {
		return nil, fmt.Errorf("%s timer: %w", ThresholdType, ps)
	}
	t := &timer{sc: sc, every: c.tick, grace: c.grace}
	t.state.Store(engine.StateStopped)
	return t, nil
}

// Start implements engine.Source.
func (t *timer) Start(context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stop != nil {
		return nil
	}
	sc := t.sc
	v, release, err := sc.Resources.Acquire(runtimeKey(sc.Tenant, sc.FlowID, sc.NodeID), func() (any, func() error, error) {
		rt := newRuntime(sc.Tenant, sc.FlowID, sc.NodeID, sc.State, sc.Logger, true)
		return rt, rt.close, nil
	})
	if err != nil {
		return fmt.Errorf("alarm state: %w", err)
	}
	t.rt, t.release = v.(*runtime), release
	t.rt.attach(sc.In)
	t.stop, t.done = make(chan struct{}), make(chan struct{})
	t.since = time.Now()
	t.state.Store(engine.StateListening)
	go t.loop(t.rt, t.stop, t.done)
	return nil
}

// Stop implements engine.Source.
func (t *timer) Stop(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stop == nil {
		return nil
	}
	close(t.stop)
	<-t.done // a submit in flight ends with the stop
	// The flow still takes messages while its sources stop: send what the
	// node posted last.
	if err := t.rt.send(ctx, t.sc.In); err != nil {
		t.sc.Logger.Warn("alarm: events not sent at stop", "node", t.sc.NodeID, "error", err)
	}
	t.rt.detach(t.sc.In)
	err := t.release()
	t.stop, t.done, t.rt, t.release = nil, nil, nil, nil
	t.state.Store(engine.StateStopped)
	return err
}

// Status implements engine.Source: Messages counts the ticks submitted.
func (t *timer) Status() engine.SourceStatus {
	st := engine.SourceStatus{State: t.state.Load().(engine.SourceState), Messages: t.ticks.Load(), Errors: t.errs.Load(), Since: t.since}
	if s, ok := t.lastErr.Load().(string); ok {
		st.LastError = s
	}
	return st
}

func (t *timer) loop(rt *runtime, stop, done chan struct{}) {
	defer close(done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	// After a restart, devices known only from the store are looked at
	// once the longest silence timeout has passed.
	if err := rt.loadIndex(ctx, t.grace); err != nil {
		t.fail(err)
	}
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-rt.wake:
			t.sendEvents(ctx, rt)
			continue
		case <-tick.C:
		}
		rt.flush(ctx, false)
		t.sendEvents(ctx, rt) // what a full flow refused before
		for _, id := range rt.dueDevices(rt.nowMs()) {
			if ctx.Err() != nil {
				return
			}
			t.submit(ctx, rt, id)
		}
	}
}

// sendEvents submits the alarm events the node posted.
func (t *timer) sendEvents(ctx context.Context, rt *runtime) {
	if err := rt.send(ctx, t.sc.In); err != nil && ctx.Err() == nil {
		t.fail(fmt.Errorf("send alarm events: %w", err))
	}
}

// submit starts the node on device id; the device may be queued again once
// the tick is done.
func (t *timer) submit(ctx context.Context, rt *runtime, id string) {
	rt.mu.RLock()
	dm := rt.devices[id]
	rt.mu.RUnlock()
	sctx, cancel := context.WithTimeout(ctx, submitTimeout)
	defer cancel()
	msg := engine.Message{Type: TickMsgType, DataType: "JSON", Data: "{}", Metadata: map[string]string{engine.MetaDeviceID: id}}
	_, err := t.sc.In.Submit(sctx, msg, engine.SubmitOptions{Done: func(engine.Result) { dm.queued.Store(false) }})
	if err != nil {
		dm.queued.Store(false)
		if ctx.Err() == nil {
			t.fail(fmt.Errorf("tick device %q: %w", id, err))
		}
		return
	}
	t.ticks.Add(1)
}

func (t *timer) fail(err error) {
	t.errs.Add(1)
	t.lastErr.Store(err.Error())
	t.sc.Logger.Warn("alarm timer", "node", t.sc.NodeID, "error", err)
}
