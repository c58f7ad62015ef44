package engine

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// flowRuntime is a deployed flow: admission, per-device lanes, and the
// current version, which a redeploy swaps atomically.
type flowRuntime struct {
	m      *Manager
	id     string
	tenant string
	cur    atomic.Pointer[version]
	slots  chan struct{}
	lanes  []*lane
	lanesW sync.WaitGroup
	seed   maphash.Seed

	mu       sync.Mutex
	stopping bool
	inflight map[*job]struct{}

	processed, failed, timedOut, rejected atomic.Uint64
	met                                   runtimeMetrics
}

// runtimeMetrics are the flow's metric children, resolved once.
type runtimeMetrics struct {
	inFlight prometheus.Gauge
	rejected prometheus.Counter
	finished map[Status]prometheus.Counter
}

// lane runs the messages of the devices hashed to it one after another, so
// a device's messages are processed in arrival order.
type lane struct {
	mu     sync.Mutex
	queue  []*job
	wake   chan struct{}
	closed bool
}

func (m *Manager) newRuntime(tenant string, v *version) *flowRuntime {
	rt := &flowRuntime{
		m: m, id: v.flowID, tenant: tenant,
		slots:    make(chan struct{}, m.opts.MaxInFlight),
		lanes:    make([]*lane, m.opts.Lanes),
		seed:     maphash.MakeSeed(),
		inflight: map[*job]struct{}{},
	}
	rt.met = runtimeMetrics{
		inFlight: m.metrics.inFlight.WithLabelValues(rt.id),
		rejected: m.metrics.rejected.WithLabelValues(rt.id),
		finished: map[Status]prometheus.Counter{},
	}
	for _, st := range []Status{StatusCompleted, StatusFailed, StatusTimedOut} {
		rt.met.finished[st] = m.metrics.messages.WithLabelValues(rt.id, string(st))
	}
	rt.cur.Store(v)
	rt.lanesW.Add(len(rt.lanes))
	for i := range rt.lanes {
		l := &lane{wake: make(chan struct{}, 1)}
		rt.lanes[i] = l
		go rt.runLane(l)
	}
	return rt
}

// admit takes an in-flight slot: at once or ErrOverloaded when failFast,
// else waiting until a slot frees or ctx ends.
func (rt *flowRuntime) admit(ctx context.Context, failFast bool) error {
	select {
	case rt.slots <- struct{}{}:
		return nil
	default:
	}
	if failFast {
		rt.rejected.Add(1)
		rt.met.rejected.Inc()
		return ErrOverloaded
	}
	select {
	case rt.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		rt.rejected.Add(1)
		rt.met.rejected.Inc()
		return context.Cause(ctx)
	}
}

// submit admits and dispatches j. Messages with a device id go to that
// device's lane; others start at once.
func (rt *flowRuntime) submit(ctx context.Context, j *job, device string, failFast bool) error {
	if err := rt.admit(ctx, failFast); err != nil {
		return err
	}
	rt.mu.Lock()
	if rt.stopping {
		rt.mu.Unlock()
		<-rt.slots
		return ErrStopping
	}
	rt.met.inFlight.Inc()
	if device == "" {
		start := rt.startLocked(j)
		rt.mu.Unlock()
		start()
		return nil
	}
	l := rt.lanes[maphash.String(rt.seed, device)%uint64(len(rt.lanes))]
	l.mu.Lock()
	l.queue = append(l.queue, j)
	l.mu.Unlock()
	rt.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

// acquireCurrent counts a message into the current version; nil when the
// flow is stopping (its last version is closed and nothing replaced it).
func (rt *flowRuntime) acquireCurrent() *version {
	for {
		v := rt.cur.Load()
		if v.acquire() {
			return v
		}
		if rt.cur.Load() == v {
			return nil
		}
		// v was swapped out between Load and acquire: take the new one.
	}
}

// startLocked binds j to the current version and registers it for the
// deadline sweeper, in one step under rt.mu, so a drain either waits for it or
// times it out. It returns what starts the message (outside the lock).
func (rt *flowRuntime) startLocked(j *job) func() {
	v := rt.acquireCurrent()
	if v == nil {
		return func() { j.expire("flow stopped") }
	}
	ctx := j.prepare(v)
	rt.inflight[j] = struct{}{}
	return func() { j.start(ctx) }
}

// finished is the jobs' onFinish in a runtime.
func (rt *flowRuntime) finished(j *job) {
	rt.mu.Lock()
	delete(rt.inflight, j)
	rt.mu.Unlock()
	switch j.result.Status {
	case StatusCompleted:
		rt.processed.Add(1)
	case StatusFailed:
		rt.failed.Add(1)
	case StatusTimedOut:
		rt.timedOut.Add(1)
	}
	rt.met.finished[j.result.Status].Inc()
	if j.result.Status != StatusCompleted {
		rt.m.deadLetter(j.deadLetter())
	}
	if j.v != nil {
		j.v.release()
	}
	rt.met.inFlight.Dec()
	<-rt.slots
}

func (rt *flowRuntime) runLane(l *lane) {
	defer rt.lanesW.Done()
	for {
		l.mu.Lock()
		if len(l.queue) == 0 {
			closed := l.closed
			l.mu.Unlock()
			if closed {
				return
			}
			<-l.wake
			continue
		}
		j := l.queue[0]
		l.queue[0] = nil
		l.queue = l.queue[1:]
		l.mu.Unlock()
		rt.mu.Lock()
		start := rt.startLocked(j)
		rt.mu.Unlock()
		start()
		<-j.done
	}
}

// expire finishes the jobs whose deadline has passed.
func (rt *flowRuntime) expire(now time.Time) {
	rt.mu.Lock()
	var late []*job
	for j := range rt.inflight {
		if now.After(j.deadline) {
			late = append(late, j)
		}
	}
	rt.mu.Unlock()
	for _, j := range late {
		j.expire("timed out")
	}
}

// stop refuses new messages and lets the lanes and the current version
// finish what they hold, up to the drain deadline; what is left then is
// timed out (dead-lettered) by id. Then the version's engine stops.
func (rt *flowRuntime) stop() {
	deadline := time.Now().Add(rt.m.opts.DrainTimeout)
	rt.mu.Lock()
	rt.stopping = true
	rt.mu.Unlock()
	for _, l := range rt.lanes {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
	lanesDone := make(chan struct{})
	go func() {
		rt.lanesW.Wait()
		close(lanesDone)
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-lanesDone:
	case <-timer.C:
		var queued []*job
		for _, l := range rt.lanes {
			l.mu.Lock()
			queued = append(queued, l.queue...)
			l.queue = nil
			l.mu.Unlock()
		}
		rt.mu.Lock()
		for j := range rt.inflight {
			queued = append(queued, j)
		}
		rt.mu.Unlock()
		rt.m.expireAll(rt.id, queued, "drain deadline passed")
		<-lanesDone
	}
	rt.m.drain(rt, rt.cur.Load(), deadline)
}

// status is a snapshot of the runtime's figures.
func (rt *flowRuntime) status() FlowStatus {
	v := rt.cur.Load()
	return FlowStatus{
		FlowID: rt.id, Tenant: rt.tenant, Version: v.number, Since: v.since,
		InFlight: len(rt.slots), Processed: rt.processed.Load(), Failed: rt.failed.Load(),
		TimedOut: rt.timedOut.Load(), Rejected: rt.rejected.Load(),
	}
}
