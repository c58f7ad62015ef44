package alarm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
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
	n.inner = &Threshold{c: j.c}
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
	th := n.inner
	a, err := th.attach(ctx)
	if err != nil {
		ctx.TellFailure(msg, fmt.Errorf("%s: %w", JointType, err))
		return
	}
	if th.forward(ctx, a, msg) {
		return
	}
	switch msg.Type {
	case TickMsgType:
		th.reply(ctx, a, msg, false, n.onTimer(ctx, a, msg, false))
	case CommandMsgType:
		th.reply(ctx, a, msg, false, n.onTimer(ctx, a, msg, true))
	default:
		events, err := n.onTelemetry(ctx, a, msg)
		if err != nil {
			ctx.TellFailure(msg, fmt.Errorf("%s: %w", JointType, err))
			return
		}
		th.reply(ctx, a, msg, true, events)
	}
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
	names := make([]string, len(n.j.c.index))
	for s, i := range n.j.c.index {
		names[i] = s
	}
	var outs []output
	var changes []Change
	var late, clamped bool
	sctx := ctx.GetContext()
	dm := rt.device(n.j.device)
	dm.mu.Lock()
	defer func() {
		dm.mu.Unlock()
		n.inner.record(ctx, a, changes)
	}()
	if err := rt.load(sctx, dm, n.j.c.rules); err != nil {
		return nil, err
	}
	rm := dm.rules[n.j.r.name]
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
		vals := d.valsOf(s)
		// Late: older than a value it carries by more than the tolerance.
		isLate := false
		for _, v := range vals {
			if key, ok := reads[names[v.idx]]; ok {
				if st := rm.rec.Sig[key]; st != nil && ts < st.Ts-n.j.c.lateTol {
					isLate = true
				}
			}
		}
		if isLate {
			late = true
			continue
		}
		for _, v := range vals {
			key, ok := reads[names[v.idx]]
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
		o, c := n.evaluate(sctx, a, dm, msg, dm.any, true, false)
		outs = append(outs, o...)
		changes = append(changes, c...)
	}
	if late {
		msg.Metadata["late"] = "true"
	}
	if clamped {
		msg.Metadata["tsClamped"] = "true"
	}
	return outs, nil
}

// onTimer evaluates at a timer tick (deadlines: duration, clear hold-off,
// values going stale, reminders, escalations) or applies pending operator
// commands.
func (n *Joint) onTimer(ctx types.RuleContext, a *attachment, msg types.RuleMsg, command bool) []output {
	id := msg.Metadata[engine.MetaDeviceID]
	if id != n.j.device {
		return nil
	}
	rt := a.rt
	sctx := ctx.GetContext()
	dm := rt.device(id)
	if !command {
		dm.queued.Store(false)
	}
	dm.mu.Lock()
	if err := rt.load(sctx, dm, n.j.c.rules); err != nil {
		dm.mu.Unlock()
		a.log.Warn("alarm: timer look skipped", "node", rt.node, "deviceId", id, "error", err)
		return nil
	}
	if dm.any == 0 {
		dm.due.Store(0)
		dm.mu.Unlock()
		return nil
	}
	now := dm.deviceNow(rt.nowMs())
	if now < dm.any {
		now = dm.any
	}
	outs, changes := n.evaluate(sctx, a, dm, msg, now, false, command)
	dm.mu.Unlock()
	n.inner.record(ctx, a, changes)
	return outs
}

// truth evaluates x, logging the first run-time error of the node.
func (n *Joint) truth(a *attachment, x *jointExpr, v *jointView) Truth {
	t, err := x.eval(v)
	if err != nil && n.warned.CompareAndSwap(false, true) {
		a.log.Warn("alarm: joint condition is unknown (logged once)", "node", a.rt.node, "rule", n.j.r.name, "error", err)
	}
	return t
}

// evaluate runs the rule at device time now through the lifecycle, as the
// threshold node's evaluate does for its condition tree. Call with dm.mu
// held.
func (n *Joint) evaluate(ctx context.Context, a *attachment, dm *deviceMem, in types.RuleMsg, now int64, sample, command bool) ([]output, []Change) {
	rt, th, r := a.rt, n.inner, n.j.r
	rm := dm.rules[r.name]
	lc := &rm.rec.LC
	var outs []output
	var changes []Change
	var due int64
	next := func(t int64) {
		if t > now && (due == 0 || t < due) {
			due = t
		}
	}
	if command || rm.checkCmd || lc.Active() {
		rm.checkCmd = false
		outs = append(outs, th.applyCommand(ctx, a, dm, r, rm, in, now)...)
	}
	v := &jointView{sig: rm.rec.Sig, now: now, maxAge: n.j.maxAge, missing: n.j.missing}
	raise := n.truth(a, n.j.raise, v)
	next(n.j.raise.due(v))
	inp := Input{Now: now, Sample: sample, Raise: raise, Hold: raise}
	if len(n.j.esc) > 0 {
		inp.Esc = make([]EscalationTruth, len(n.j.esc))
		for i, x := range n.j.esc {
			if x == nil {
				continue
			}
			t := n.truth(a, x, v)
			inp.Esc[i] = EscalationTruth{Raise: t, Hold: t}
			next(x.due(v))
		}
	}
	o := lc.Step(&r.policy, inp, uuid.NewString)
	next(o.Due)
	if o.Changed {
		if err := rt.store(ctx, dm, rm); err != nil {
			rm.dirty, dm.dirty = true, true
			a.log.Warn("alarm: write state", "node", rt.node, "rule", r.name, "deviceId", dm.id, "error", err)
		}
	}
	emit := func(kind, reason string) {
		out, ev := th.event(rt, in, dm, r, rm, kind, reason, 0, false, nil)
		outs = append(outs, out)
		if kind != changeReminder {
			changes = append(changes, Change{
				Kind: kind, Reason: reason, Tenant: rt.tenant, FlowID: rt.flow, NodeID: rt.node,
				CommandKey: rm.cmdKey, Event: ev, At: rt.now(),
			})
		}
	}
	switch {
	case o.Activated:
		emit(ChangeCreated, "condition")
	case o.Cleared:
		emit(ChangeCleared, "condition")
	case o.Updated:
		reason := "count"
		switch {
		case o.CountUp && o.SeverityChanged:
			reason = "count,severity"
		case o.SeverityChanged:
			reason = "severity"
		}
		emit(ChangeUpdated, reason)
	}
	if o.Remind {
		emit(changeReminder, "reminder")
	}
	if due == 0 {
		dm.due.Store(0)
	} else {
		dm.due.Store(dm.wallOf(due))
	}
	return outs, changes
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
