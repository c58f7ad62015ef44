package alarm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

func init() {
	spec.Register(jointSpec, &Joint{})
	// The timer of a deployed node, as for the threshold alarm.
	engine.RegisterSource(JointType, newJointTimer)
}

// Joint is the joint alarm node: one alarm (device alarmDevice, rule name)
// from an expression over the latest values of several devices' signals.
//
// It runs on the threshold node's machinery: an inner Threshold, compiled
// with the joint rule (and no condition tree), provides the runtime (state
// per device and rule, write policy, outbox), the recorder, operator
// commands, ALARM events and the reply protocol; the lifecycle is
// Lifecycle.Step. The joint node keeps every value it reads in the record
// of (alarmDevice, name), keyed "device.signal", and evaluates its
// expression where the threshold node evaluates its condition tree.
type Joint struct {
	j     *jointCompiled
	inner *Threshold
	bufs  sync.Pool // *decoded
	// names are the signal names by their index in j.c.index.
	names []string

	warned atomic.Bool // an expression error was logged
}

var _ types.Node = (*Joint)(nil)

// Type implements types.Node.
func (n *Joint) Type() string { return JointType }

// New implements types.Node.
func (n *Joint) New() types.Node { return &Joint{} }

// Init implements types.Node.
func (n *Joint) Init(_ types.Config, raw types.Configuration) error {
	var cfg jointConfig
	if err := jointSpec.Decode(raw, &cfg); err != nil {
		return fmt.Errorf("%s: %w", JointType, err)
	}
	j, ps := compileJoint(cfg)
	if ps.HasErrors() {
		return fmt.Errorf("%s: %w", JointType, ps)
	}
	n.j = j
	n.inner = &Threshold{c: j.c, truths: n.truths}
	n.names = make([]string, len(j.c.index))
	for s, i := range j.c.index {
		n.names[i] = s
	}
	n.bufs.New = func() any { return &decoded{} }
	return nil
}

// Destroy implements types.Node.
func (n *Joint) Destroy() {
	if n.inner != nil {
		n.inner.Destroy()
	}
}

// OnMsg implements types.Node.
func (n *Joint) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	n.inner.dispatch(ctx, msg, JointType, n.onTimer, n.onTelemetry)
}

// onTelemetry keeps the values of the devices the expressions read and
// evaluates once per sample of such a device.
func (n *Joint) onTelemetry(ctx types.RuleContext, a *attachment, msg types.RuleMsg) ([]output, error) {
	d := n.bufs.Get().(*decoded)
	defer n.bufs.Put(d)
	if err := decodeTelemetry(msg.Data, n.j.c.index, d); err != nil {
		return nil, err
	}
	rt := a.rt
	recv := rt.nowMs()
	var outs []output
	var late, clamped bool
	sctx := ctx.GetContext()
	dm := rt.device(n.j.device)
	dm.mu.Lock()
	defer dm.mu.Unlock()
	if err := rt.load(sctx, dm, n.j.c.rules); err != nil {
		return nil, err
	}
	for i := range d.samples {
		s := &d.samples[i]
		id := s.deviceID
		if id == "" {
			id = msg.Metadata[engine.MetaDeviceID]
		}
		if id == "" {
			return nil, errors.New("deviceId: missing from the payload and the metadata")
		}
		reads, ok := n.j.reads[id]
		if !ok {
			continue // a device the expressions do not read
		}
		ts := s.ts
		if ts == 0 {
			ts = recv
		}
		if ts > recv+n.j.c.futureTol {
			ts, clamped = recv, true
		}
		l, o, _ := n.sample(sctx, a, dm, msg, reads, ts, recv, d.valsOf(s))
		late = late || l
		outs = append(outs, o...)
	}
	if late {
		msg.Metadata["late"] = "true"
	}
	if clamped {
		msg.Metadata["tsClamped"] = "true"
	}
	return outs, nil
}

// sample keeps the values of one sample of a device the expressions read
// (reads: its signals' state keys), at device time ts received at wall time
// recv, and evaluates. A late sample changes nothing. Call with dm.mu held
// and the rule loaded.
func (n *Joint) sample(ctx context.Context, a *attachment, dm *deviceMem, in types.RuleMsg, reads map[string]string, ts, recv int64, vals []sigVal) (bool, []output, []Change) {
	rm := dm.rules[n.j.r.name]
	// Late: older than a value it carries by more than the tolerance.
	for _, v := range vals {
		if key, ok := reads[n.names[v.idx]]; ok {
			if st := rm.rec.Sig[key]; st != nil && ts < st.Ts-n.j.c.lateTol {
				return true, nil, nil
			}
		}
	}
	for _, v := range vals {
		key, ok := reads[n.names[v.idx]]
		if !ok {
			continue
		}
		st := rm.rec.Sig[key]
		if st == nil {
			st = &sigState{}
			rm.rec.Sig[key] = st
		}
		st.set(v, ts, 0)
	}
	if dm.first == 0 {
		dm.first = ts
	}
	if ts >= dm.any {
		dm.any, dm.recv = ts, recv
	}
	rm.dirty, dm.dirty = true, true
	outs, changes := n.inner.evaluate(ctx, a, dm, in, dm.any, true, false)
	return false, outs, changes
}

// onTimer evaluates at a timer tick (deadlines: duration, clear hold-off,
// values going stale, reminders, escalations) or applies pending operator
// commands, as the threshold node does for the alarm device.
func (n *Joint) onTimer(ctx types.RuleContext, a *attachment, msg types.RuleMsg, command bool) []output {
	if msg.Metadata[engine.MetaDeviceID] != n.j.device {
		return nil
	}
	return n.inner.onTimer(ctx, a, msg, command)
}

// truth evaluates x, logging the first run-time error of the node.
func (n *Joint) truth(a *attachment, x *jointExpr, v *jointView) Truth {
	t, err := x.eval(v)
	if err != nil && n.warned.CompareAndSwap(false, true) {
		a.log.Warn("alarm: joint condition is unknown (logged once)", "node", a.rt.node, "rule", n.j.r.name, "error", err)
	}
	return t
}

// truths evaluates the expressions at device time now: the inner threshold
// node's evaluate runs them through the lifecycle in place of a condition
// tree. An expression has no dead band (hold is raise) and no deciding value.
func (n *Joint) truths(a *attachment, _ *deviceMem, _ *rule, rm *ruleMem, now int64) ruleTruths {
	v := &jointView{sig: rm.rec.Sig, now: now, maxAge: n.j.maxAge, missing: n.j.missing}
	t := ruleTruths{raise: n.truth(a, n.j.raise, v)}
	t.hold = t.raise
	t.due = n.j.raise.due(v)
	if len(n.j.esc) > 0 {
		t.esc = make([]EscalationTruth, len(n.j.esc))
		for i, x := range n.j.esc {
			if x == nil {
				continue
			}
			et := n.truth(a, x, v)
			t.esc[i] = EscalationTruth{Raise: et, Hold: et}
			t.due = sooner(t.due, x.due(v), now)
		}
	}
	return t
}

// newJointTimer is the timer of a deployed joint node: the threshold
// node's timer, ticking the alarm device.
func newJointTimer(sc engine.SourceContext, raw map[string]any) (engine.Source, error) {
	var cfg jointConfig
	if err := jointSpec.Decode(raw, &cfg); err != nil {
		return nil, fmt.Errorf("%s timer: %w", JointType, err)
	}
	j, ps := compileJoint(cfg)
	if ps.HasErrors() {
		return nil, fmt.Errorf("%s timer: %w", JointType, ps)
	}
	t := &timer{sc: sc, every: j.c.tick}
	t.state.Store(engine.StateStopped)
	return t, nil
}
