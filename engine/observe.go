package engine

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"
)

// observeAspect is Sluice's trace and metrics aspect: the only node aspect a
// Sluice engine runs (RuleGo's Debug and Metrics aspects are removed, see
// builtinsOnce). For each hop it records where the message is (for deadlines
// and dead letters), counts it, and builds a trace event only when someone
// listens to the flow or the run collects its trace.
type observeAspect struct {
	v *version
	// per-node metric children, resolved once per node and relation
	nodeMetrics sync.Map // node id -> *nodeMetrics
}

type nodeMetrics struct {
	in       prometheus.Counter
	errors   prometheus.Counter
	duration prometheus.Observer
	out      sync.Map // relation -> prometheus.Counter
}

var (
	_ types.BeforeAspect = (*observeAspect)(nil)
	_ types.AfterAspect  = (*observeAspect)(nil)
)

func (a *observeAspect) Order() int { return 900 }

// New returns a fresh aspect for one engine; RuleGo calls it per engine.
func (a *observeAspect) New() types.Aspect { return &observeAspect{v: a.v} }

func (a *observeAspect) PointCut(types.RuleContext, types.RuleMsg, string) bool { return true }

func (a *observeAspect) metrics(node string) *nodeMetrics {
	if m, ok := a.nodeMetrics.Load(node); ok {
		return m.(*nodeMetrics)
	}
	mm := a.v.m.metrics
	flow := a.v.flowID
	m := &nodeMetrics{
		in:       mm.nodeIn.WithLabelValues(flow, node),
		errors:   mm.nodeErrors.WithLabelValues(flow, node),
		duration: mm.nodeDuration.WithLabelValues(flow, node),
	}
	actual, _ := a.nodeMetrics.LoadOrStore(node, m)
	return actual.(*nodeMetrics)
}

func (a *observeAspect) Before(ctx types.RuleContext, msg types.RuleMsg, _ string) types.RuleMsg {
	node := ctx.GetSelfId()
	now := time.Now()
	a.metrics(node).in.Inc()
	t := trackerOf(ctx.GetContext())
	if t == nil {
		return msg
	}
	t.enter(ctx, node, now)
	a.emit(ctx, t, msg, node, DirIn, "", nil, 0, now)
	return msg
}

func (a *observeAspect) After(ctx types.RuleContext, msg types.RuleMsg, err error, relation string) types.RuleMsg {
	node := ctx.GetSelfId()
	now := time.Now()
	m := a.metrics(node)
	var d time.Duration
	t := trackerOf(ctx.GetContext())
	if t != nil {
		if start := t.leave(ctx); !start.IsZero() {
			d = now.Sub(start)
			m.duration.Observe(d.Seconds())
		}
	}
	out, ok := m.out.Load(relation)
	if !ok {
		out, _ = m.out.LoadOrStore(relation, a.v.m.metrics.nodeOut.WithLabelValues(a.v.flowID, node, relation))
	}
	out.(prometheus.Counter).Inc()
	if err != nil {
		m.errors.Inc()
	}
	if t != nil {
		a.emit(ctx, t, msg, node, DirOut, relation, err, d, now)
	}
	return msg
}

func (a *observeAspect) emit(ctx types.RuleContext, t *tracker, msg types.RuleMsg, node, dir, relation string, err error, d time.Duration, now time.Time) {
	live := a.v.m.trace.Active(a.v.flowID)
	if !live && !t.collect {
		return
	}
	ev := TraceEvent{
		Flow:      a.v.flowID,
		Version:   a.v.number,
		RootID:    t.rootID,
		MsgID:     msg.Id,
		Node:      node,
		NodeType:  a.v.nodeTypes[node],
		Direction: dir,
		Relation:  relation,
		Duration:  d,
		Ts:        now,
		MsgType:   msg.Type,
		DataType:  string(msg.DataType),
	}
	if msg.Id != t.rootID {
		ev.ParentID = t.rootID
	}
	if err != nil {
		ev.Error = err.Error()
	}
	ev.Data, ev.Truncated = truncate(msg.Data, a.v.m.opts.SnapshotBytes)
	if len(msg.Metadata) > 0 {
		ev.Metadata = make(map[string]string, len(msg.Metadata))
		for k, v := range msg.Metadata {
			ev.Metadata[k] = v
		}
	}
	// The sequence number is taken and the event published under the
	// message's lock, so subscribers receive a message's events in order.
	t.mu.Lock()
	t.seq++
	ev.Seq = t.seq
	if t.collect && !t.closed {
		t.events = append(t.events, ev)
	}
	if live {
		a.v.m.trace.publish(ev)
	}
	t.mu.Unlock()
}

func truncate(s string, max int) (string, bool) {
	if max <= 0 || len(s) <= max {
		return s, false
	}
	return s[:max], true
}
