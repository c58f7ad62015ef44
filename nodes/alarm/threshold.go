package alarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

func init() {
	spec.Register(thresholdSpec, &Threshold{})
	// The timer of a deployed node: the engine starts it with the flow
	// (like a connector's source) and gives it the inlet through which it
	// starts the node on devices whose deadlines pass without data.
	engine.RegisterSource(ThresholdType, newTimer)
}

// recordTimeout bounds the Recorder's calls for one message. sluice serve's
// recorder answers at once while its outbox holds changes (a records store
// outage), and returns errors only for changes it refuses for good.
const recordTimeout = 5 * time.Second

// Threshold is the threshold alarm node.
type Threshold struct {
	c *compiled
	// truths evaluates a rule's condition; nil evaluates the rule's
	// condition tree (conditionTruths). The joint alarm sets its
	// expression's.
	truths func(a *attachment, dm *deviceMem, r *rule, rm *ruleMem, now int64) ruleTruths
	bufs   sync.Pool // *decoded

	att       atomic.Pointer[attachment]
	mu        sync.Mutex // attaching and destroying
	rel       []func() error
	destroyed bool
}

// attachment is what a node instance works with once it knows its flow.
type attachment struct {
	rt  *runtime
	rec Recorder // nil: no history kept (or a test run)
	log *slog.Logger
}

var _ types.Node = (*Threshold)(nil)

// Type implements types.Node.
func (n *Threshold) Type() string { return ThresholdType }

// New implements types.Node.
func (n *Threshold) New() types.Node { return &Threshold{} }

// Init implements types.Node.
func (n *Threshold) Init(_ types.Config, raw types.Configuration) error {
	var cfg thresholdConfig
	if err := thresholdSpec.Decode(raw, &cfg); err != nil {
		return fmt.Errorf("%s: %w", ThresholdType, err)
	}
	c, ps := compileThreshold(cfg)
	if ps.HasErrors() {
		return fmt.Errorf("%s: %w", ThresholdType, ps)
	}
	n.c = c
	n.bufs.New = func() any { return &decoded{} }
	return nil
}

// Destroy implements types.Node: it lets go of the runtime (the last user
// writes what waits in memory) and the recorder.
func (n *Threshold) Destroy() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, release := range n.rel {
		_ = release() // closing the runtime logs its own write errors
	}
	n.rel = nil
	n.destroyed = true
	n.att.Store(nil)
}

// OnMsg implements types.Node.
func (n *Threshold) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	n.dispatch(ctx, msg, ThresholdType, n.onTimer, n.onTelemetry)
}

// timerFunc and telemetryFunc are the handlers dispatch calls.
type (
	timerFunc     func(ctx types.RuleContext, a *attachment, msg types.RuleMsg, command bool) []output
	telemetryFunc func(ctx types.RuleContext, a *attachment, msg types.RuleMsg) ([]output, error)
)

// dispatch is the OnMsg of both alarm nodes (typ names the node in errors):
// timer ticks and operator commands go to onTimer, everything else is
// telemetry.
func (n *Threshold) dispatch(ctx types.RuleContext, msg types.RuleMsg, typ string, onTimer timerFunc, onTelemetry telemetryFunc) {
	a, err := n.attach(ctx)
	if err != nil {
		ctx.TellFailure(msg, fmt.Errorf("%s: %w", typ, err))
		return
	}
	if n.forward(ctx, a, msg) {
		return
	}
	switch msg.Type {
	case TickMsgType:
		n.reply(ctx, a, msg, false, onTimer(ctx, a, msg, false))
	case CommandMsgType:
		n.reply(ctx, a, msg, false, onTimer(ctx, a, msg, true))
	default:
		events, err := onTelemetry(ctx, a, msg)
		if err != nil {
			ctx.TellFailure(msg, fmt.Errorf("%s: %w", typ, err))
			return
		}
		n.reply(ctx, a, msg, true, events)
	}
}

var errNoRecorder = errors.New("no alarm recorder in this process")

// attach finds the node's runtime (and recorder) the first time a message
// tells it which flow it runs in. A deployed node shares its runtime with
// its other versions and its timer; a test run gets a private one over the
// run's state.
func (n *Threshold) attach(ctx types.RuleContext) (*attachment, error) {
	if a := n.att.Load(); a != nil {
		return a, nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if a := n.att.Load(); a != nil {
		return a, nil
	}
	if n.destroyed {
		return nil, errors.New("the node is stopped")
	}
	env := engine.EnvOf(ctx)
	node := ctx.GetSelfId()
	a := &attachment{log: slog.Default()}
	if env != nil && env.Logger != nil {
		a.log = env.Logger
	}
	switch {
	case env == nil: // outside a Sluice engine
		st, err := engine.NewMemoryState(context.Background(), nil)
		if err != nil {
			return nil, err
		}
		a.rt = newRuntime("", "", node, st, a.log, false)
	case !env.SideEffects || env.Version == 0 || env.Resources == nil:
		// A test run (the engine builds test runs as version 0): a
		// runtime of its own over the run's state, no timer.
		a.rt = newRuntime(env.Tenant, env.FlowID, node, env.State, a.log, false)
	default:
		v, release, err := env.Resources.Acquire(runtimeKey(env.Tenant, env.FlowID, node), func() (any, func() error, error) {
			rt := newRuntime(env.Tenant, env.FlowID, node, env.State, a.log, true)
			return rt, rt.close, nil
		})
		if err != nil {
			return nil, fmt.Errorf("alarm state: %w", err)
		}
		a.rt = v.(*runtime)
		n.rel = append(n.rel, release)
	}
	if env != nil && env.SideEffects && env.Resources != nil {
		rec, release, err := env.Resources.Acquire(RecorderKey, func() (any, func() error, error) { return nil, nil, errNoRecorder })
		switch r, ok := rec.(Recorder); {
		case err != nil:
			a.log.Warn("alarm history is not kept: the alarm recorder is not available in this process; alarms are still emitted", "node", node)
		case !ok:
			_ = release()
			a.log.Error("alarm history is not kept: the alarm recorder resource is not an alarm.Recorder", "node", node, "type", fmt.Sprintf("%T", rec))
		default:
			a.rec = r
			n.rel = append(n.rel, release)
		}
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	n.att.Store(a)
	return a, nil
}

// onTelemetry evaluates the samples of a telemetry message, marks it late
// or clamped, and returns the alarm events.
func (n *Threshold) onTelemetry(ctx types.RuleContext, a *attachment, msg types.RuleMsg) ([]output, error) {
	d := n.bufs.Get().(*decoded)
	defer n.bufs.Put(d)
	if err := decodeTelemetry(msg.Data, n.c.index, d); err != nil {
		return nil, err
	}
	recv := a.rt.nowMs()
	var outs []output
	var late, clamped bool
	for i := range d.samples {
		r := &d.samples[i]
		id := r.deviceID
		if id == "" {
			id = msg.Metadata[engine.MetaDeviceID]
		}
		if id == "" {
			return nil, errors.New("deviceId: missing from the payload and the metadata")
		}
		ts := r.ts
		if ts == 0 {
			ts = recv
		}
		if ts > recv+n.c.futureTol {
			ts, clamped = recv, true
		}
		l, o, _, err := n.sample(ctx.GetContext(), a, msg, id, ts, recv, d.valsOf(r))
		if err != nil {
			return nil, err
		}
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

// sample evaluates one sample of device id at device time ts, received at
// wall time recv. A late sample changes nothing.
func (n *Threshold) sample(sctx context.Context, a *attachment, in types.RuleMsg, id string, ts, recv int64, vals []sigVal) (bool, []output, []Change, error) {
	rt := a.rt
	dm := rt.device(id)
	dm.mu.Lock()
	defer dm.mu.Unlock()
	if err := rt.load(sctx, dm, n.c.rules); err != nil {
		return false, nil, nil, err
	}
	// Late: older than the newest sample seen of one of its signals (or,
	// carrying none the rules read, of the device) by more than the
	// tolerance.
	last := dm.any
	if len(vals) > 0 {
		last = 0
		for _, r := range n.c.rules {
			rm := dm.rules[r.name]
			for _, rs := range r.reads {
				for _, v := range vals {
					if v.idx == rs.idx {
						if st := rm.rec.Sig[rs.name]; st != nil && st.Ts > last {
							last = st.Ts
						}
					}
				}
			}
		}
	}
	if ts < last-n.c.lateTol {
		return true, nil, nil, nil
	}
	if dm.first == 0 {
		dm.first = ts
	}
	if ts >= dm.any {
		dm.any, dm.recv = ts, recv
	}
	for _, r := range n.c.rules {
		rm := dm.rules[r.name]
		for _, rs := range r.reads {
			for _, v := range vals {
				if v.idx != rs.idx {
					continue
				}
				st := rm.rec.Sig[rs.name]
				if st == nil {
					st = &sigState{}
					rm.rec.Sig[rs.name] = st
				}
				st.set(v, ts, rs.window)
			}
		}
		rm.dirty = true
	}
	dm.dirty = true
	outs, changes := n.evaluate(sctx, a, dm, in, dm.any, true, false)
	return false, outs, changes, nil
}

// onTimer evaluates a device's deadlines (a timer tick) or applies its
// pending operator commands and then evaluates (a command message).
func (n *Threshold) onTimer(ctx types.RuleContext, a *attachment, msg types.RuleMsg, command bool) []output {
	outs, _ := n.tick(ctx.GetContext(), a, msg.Metadata[engine.MetaDeviceID], msg, command)
	return outs
}

// tick evaluates device id at its device time now: its deadlines, or with
// command its pending operator commands first. It returns the messages and
// records of the changes.
func (n *Threshold) tick(ctx context.Context, a *attachment, id string, in types.RuleMsg, command bool) ([]output, []Change) {
	if id == "" {
		return nil, nil
	}
	rt := a.rt
	dm := rt.device(id)
	if !command {
		dm.queued.Store(false)
	}
	dm.mu.Lock()
	defer dm.mu.Unlock()
	if err := rt.load(ctx, dm, n.c.rules); err != nil {
		a.log.Warn("alarm: timer look skipped", "node", rt.node, "deviceId", id, "error", err)
		return nil, nil
	}
	if dm.any == 0 { // nothing known of the device
		dm.due.Store(0)
		return nil, nil
	}
	now := dm.deviceNow(rt.nowMs())
	if now < dm.any {
		now = dm.any
	}
	return n.evaluate(ctx, a, dm, in, now, false, command)
}

// ruleTruths is what a rule's condition says at one evaluation.
type ruleTruths struct {
	// raise is the condition, hold its dead-band view (Input.Raise, Hold).
	raise, hold Truth
	// esc are the escalations' truths, by index (nil: no escalations).
	esc []EscalationTruth
	// val is the value that decided raise, when hasVal.
	val    float64
	hasVal bool
	// due is the next device time after now at which the truths may change
	// without a new sample (0: none).
	due int64
}

// conditionTruths evaluates rule r's condition tree and its escalations'
// for device dm at device time now.
func conditionTruths(_ *attachment, dm *deviceMem, r *rule, rm *ruleMem, now int64) ruleTruths {
	env := evalEnv{sig: rm.rec.Sig, now: now, any: dm.any, first: dm.first, maxAge: r.maxAge}
	var t ruleTruths
	t.raise, t.val, t.hasVal = r.raise.eval(&env, false)
	t.hold = t.raise
	if rm.rec.LC.Active() {
		t.hold, _, _ = r.raise.eval(&env, true)
	}
	t.due = r.raise.due(&env)
	if len(r.esc) > 0 {
		t.esc = make([]EscalationTruth, len(r.esc))
		for i, ec := range r.esc {
			if ec == nil {
				continue
			}
			t.esc[i].Raise, _, _ = ec.eval(&env, false)
			t.esc[i].Hold, _, _ = ec.eval(&env, true)
			t.due = sooner(t.due, ec.due(&env), now)
		}
	}
	return t
}

// silence reports the device time of the newest sample of the signals rule
// r reads (of any signal, for a rule that reads none), and whether it is
// clearOnSilence or more before now.
func silence(dm *deviceMem, r *rule, rm *ruleMem, now int64) (last int64, silent bool) {
	if r.silence <= 0 {
		return 0, false
	}
	if len(r.reads) == 0 {
		last = dm.any
	}
	for _, rs := range r.reads {
		if st := rm.rec.Sig[rs.name]; st != nil && st.Ts > last {
			last = st.Ts
		}
	}
	return last, last > 0 && now-last >= r.silence
}

// sooner is the earlier of deadlines d and t, counting only those after
// now (0: none).
func sooner(d, t, now int64) int64 {
	if t > now && (d == 0 || t < d) {
		return t
	}
	return d
}

// evaluate runs every rule of device dm at device time now: pending
// commands first, then the condition through the lifecycle. It stores what
// changed, schedules the device's next deadline and returns the messages
// and records of the changes. Call with dm.mu held.
func (n *Threshold) evaluate(ctx context.Context, a *attachment, dm *deviceMem, in types.RuleMsg, now int64, sample, command bool) ([]output, []Change) {
	outs, changes := n.evaluateState(ctx, a, dm, in, now, sample, command)
	// Recorded with dm.mu still held: the changes of an alarm reach the
	// recorder in the order they were made, whether a message or a timer
	// made them.
	n.record(ctx, a, changes)
	return outs, changes
}

// evaluateState is evaluate without recording. Call with dm.mu held.
func (n *Threshold) evaluateState(ctx context.Context, a *attachment, dm *deviceMem, in types.RuleMsg, now int64, sample, command bool) ([]output, []Change) {
	rt := a.rt
	truths := n.truths
	if truths == nil {
		truths = conditionTruths
	}
	var outs []output
	var changes []Change
	var due int64
	for _, r := range n.c.rules {
		rm := dm.rules[r.name] // loaded by the caller
		lc := &rm.rec.LC
		if command || rm.checkCmd || lc.Active() {
			rm.checkCmd = false
			outs = append(outs, n.applyCommand(ctx, a, dm, r, rm, in, now)...)
		}
		t := truths(a, dm, r, rm, now)
		var o Outcome
		clearReason := "condition"
		if last, silent := silence(dm, r, rm, now); silent {
			// No sample of the rule's signals for clearOnSilence: the
			// alarm clears, at the time the silence reached the limit, and
			// the old values raise nothing until a new sample.
			if lc.Active() {
				lc.clear(max(last+r.silence, lc.Ts))
				o.Cleared, o.Changed = true, true
				clearReason = "silence"
				t.val, t.hasVal = float64(lc.Ts-last)/1e3, true
			}
		} else {
			o = lc.Step(&r.policy, Input{Now: now, Sample: sample, Raise: t.raise, Hold: t.hold, Esc: t.esc}, uuid.NewString)
			if lc.Active() && r.silence > 0 && last > 0 {
				due = sooner(due, last+r.silence, now)
			}
		}
		due = sooner(sooner(due, o.Due, now), t.due, now)
		if o.Changed {
			if err := rt.store(ctx, dm, rm); err != nil {
				rm.dirty, dm.dirty = true, true
				a.log.Warn("alarm: write state", "node", rt.node, "rule", r.name, "deviceId", dm.id, "error", err)
			}
		}
		// Emit (and record) what changed.
		emit := func(kind, reason string) {
			out, ev := n.event(rt, in, dm, r, rm, kind, reason, t.val, t.hasVal, nil)
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
			emit(ChangeCleared, clearReason)
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
	}
	if due == 0 {
		dm.due.Store(0)
	} else {
		dm.due.Store(dm.wallOf(due))
	}
	return outs, changes
}

// applyCommand applies a pending operator command of (dm, r). The API has
// recorded it already: only the event is emitted.
func (n *Threshold) applyCommand(ctx context.Context, a *attachment, dm *deviceMem, r *rule, rm *ruleMem, in types.RuleMsg, now int64) []output {
	rt := a.rt
	cmd, err := takeCommand(ctx, rt.state, rm.cmdKey)
	if err != nil {
		a.log.Warn("alarm: read command", "node", rt.node, "rule", r.name, "deviceId", dm.id, "error", err)
	}
	if cmd == nil {
		return nil
	}
	var outs []output
	lc := &rm.rec.LC
	changed := false
	if cmd.Ack != nil && lc.Acknowledge(cmd.AlarmID) {
		changed = true
		out, _ := n.event(rt, in, dm, r, rm, ChangeAcknowledged, "manual", 0, false, cmd.Ack)
		outs = append(outs, out)
	}
	if cmd.Clear != nil && lc.ClearManually(cmd.AlarmID, now) {
		changed = true
		out, _ := n.event(rt, in, dm, r, rm, ChangeCleared, "manual", 0, false, cmd.Clear)
		outs = append(outs, out)
	}
	if changed {
		if err := rt.store(ctx, dm, rm); err != nil {
			rm.dirty, dm.dirty = true, true
			a.log.Warn("alarm: write state", "node", rt.node, "rule", r.name, "deviceId", dm.id, "error", err)
		}
	}
	return outs
}

// relationOf is the relation of an alarm change.
func relationOf(change string) string {
	switch change {
	case ChangeCreated:
		return RelActive
	case ChangeCleared:
		return RelCleared
	case changeReminder:
		return RelReminder
	}
	return RelUpdated
}

// changeReminder is the alarmChange of a reminder (not a change of the
// alarm: nothing is recorded).
const changeReminder = "reminder"

// event builds the ALARM message of a change of (dm, r).
func (n *Threshold) event(rt *runtime, in types.RuleMsg, dm *deviceMem, r *rule, rm *ruleMem, change, reason string, val float64, hasVal bool, act *Action) (output, Event) {
	lc := &rm.rec.LC
	ev := Event{
		AlarmID: lc.AlarmID, Rule: r.name, DeviceID: dm.id, Signals: make(map[string]any, len(r.signals)),
		Severity: lc.Severity, Status: lc.Status, Acknowledged: lc.Ack, Since: lc.Since, Ts: lc.Ts, Count: lc.Count,
	}
	if ev.Status == "" {
		ev.Status = StatusCleared
	}
	for _, s := range r.signals {
		if st := rm.rec.Sig[s]; st != nil && st.Ts != 0 {
			ev.Signals[s] = st.value()
		}
	}
	if hasVal {
		v := val
		ev.Value = &v
	}
	data, _ := json.Marshal(ev) // plain types: cannot fail
	md := in.Metadata.Copy()
	delete(md, metaEmit)
	delete(md, "late")
	delete(md, "tsClamped")
	md[engine.MetaDeviceID] = dm.id
	md["alarmId"] = ev.AlarmID
	md["alarmRule"] = r.name
	md["alarmSeverity"] = ev.Severity
	md["alarmStatus"] = ev.Status
	md["alarmAcknowledged"] = strconv.FormatBool(ev.Acknowledged)
	md["alarmChange"] = change
	md["alarmReason"] = reason
	if act != nil {
		md["alarmBy"] = act.By
		md["alarmComment"] = act.Comment
	}
	return output{rel: relationOf(change), msg: types.NewMsg(in.Ts, MsgType, types.JSON, md, string(data))}, ev
}

// record hands changes to the recorder (a test run has none). Call with the
// device's lock held.
func (n *Threshold) record(ctx context.Context, a *attachment, changes []Change) {
	if len(changes) == 0 || a.rec == nil {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	for _, c := range changes {
		if err := a.rec.RecordAlarm(rctx, c); err != nil {
			a.log.Warn("alarm: record change", "node", a.rt.node, "alarmId", c.Event.AlarmID, "change", c.Kind, "error", err)
		}
	}
}
