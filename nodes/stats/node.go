package stats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/nodes/backtest"
	"github.com/sluicehq/sluice/nodes/script"
	tssink "github.com/sluicehq/sluice/nodes/sink/timeseries"
	"github.com/sluicehq/sluice/store"
	ts "github.com/sluicehq/sluice/store/timeseries"
)

func init() {
	spec.Register(statsSpec, &Node{})
	backtest.Register(Type, runBacktest)
}

const (
	// runLimit bounds one trigger's work (every window it computes).
	runLimit = 5 * time.Minute
	// lockTTL is how long a run's lock lives if its instance dies
	// holding it; longer than runLimit, so that a live run never loses it.
	lockTTL = 2 * runLimit
	// stateTimeout bounds releasing the lock after a run.
	stateTimeout = 5 * time.Second
	// maxPoints bounds the points one window may hold in memory.
	maxPoints = 5_000_000
	// settleReserve is the time a run keeps for itself before its
	// message's deadline, when the message's context has one: the settle
	// wait ends by then.
	settleReserve = 5 * time.Second
)

// Metadata keys of a backfill request.
const (
	MetaFrom = "statsFrom"
	MetaTo   = "statsTo"
)

// Metadata of the schedule connector's ticks.
const metaScheduled = "scheduledTime"

// Node is the cronStats node.
type Node struct {
	c    *compiled
	calc *script.Calc // nil without a calc

	noRecords  sync.Once // logs once that runs are not recorded
	noRegistry sync.Once // logs once that deviceTag looks at series tags only
	shortWait  sync.Once // logs once that a settle was cut short by a deadline
}

var _ types.Node = (*Node)(nil)

// Type implements types.Node.
func (n *Node) Type() string { return Type }

// New implements types.Node.
func (n *Node) New() types.Node { return &Node{} }

// Init implements types.Node.
func (n *Node) Init(_ types.Config, raw types.Configuration) error {
	var cfg config
	if err := statsSpec.Decode(raw, &cfg); err != nil {
		return fmt.Errorf("%s: %w", Type, err)
	}
	c, ps := compile(cfg)
	if ps.HasErrors() {
		return fmt.Errorf("%s: %w", Type, ps.Errors())
	}
	calc, err := c.newCalc()
	switch {
	case errors.Is(err, errNoCalc):
	case err != nil:
		return fmt.Errorf("%s: %w", Type, err)
	default:
		n.calc = calc
	}
	n.c = c
	return nil
}

// Destroy implements types.Node.
func (n *Node) Destroy() {
	if n.calc != nil {
		n.calc.Close()
	}
}

// planned is a window to compute and why.
type planned struct {
	w    window
	kind string // RunTick, RunCatchUp, RunBackfill
}

// OnMsg implements types.Node.
func (n *Node) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	fail := func(err error) { ctx.TellFailure(msg, fmt.Errorf("%s: %w", Type, err)) }
	env := engine.EnvOf(ctx)
	if env == nil {
		fail(errors.New("runs only inside a Sluice engine"))
		return
	}
	log := env.Logger
	if log == nil {
		log = slog.Default()
	}
	reader, err := engine.Provided[ts.Reader](env.Resources, tssink.StoreKey, "the time-series store")
	if err != nil {
		fail(err)
		return
	}
	req, err := n.c.request(msg, time.Now())
	if err != nil {
		fail(err)
		return
	}
	parent := ctx.GetContext()
	if parent == nil {
		parent = context.Background()
	}
	rctx, cancel := context.WithTimeout(parent, runLimit)
	defer cancel()
	node := ctx.GetSelfId()

	var reg DeviceLister
	if n.c.hasTag {
		if reg, err = engine.Provided[DeviceLister](env.Resources, DevicesKey, "the device registry"); err != nil {
			reg = nil
			if n.c.seriesTag {
				n.noRegistry.Do(func() {
					log.Warn("statistics: deviceTag looks at the tags of stored series only: no device registry in this process", "node", node, "deviceTag", n.c.tag, "error", err)
				})
			}
		}
	}

	// A deployed run reads the window once settle has passed since its
	// end, so that points still in a sink's batch queue at the tick are
	// stored by then. A test run without side effects does not wait.
	if env.SideEffects {
		if err := n.settle(parent, req.w, time.Now(), log, node); err != nil {
			fail(err)
			return
		}
	}

	var repo store.StatsRepo
	if env.SideEffects {
		if repo, err = engine.Provided[store.StatsRepo](env.Resources, RecordsKey, "the statistics records"); err != nil {
			repo = nil
			n.noRecords.Do(func() {
				log.Warn("statistics runs are not recorded: no statistics repository in this process; STATS messages are still emitted", "node", node, "error", err)
			})
		}
	}

	// Plan the windows: a test run (no side effects) computes the
	// request's window only; a deployed node takes the lock and looks at
	// the last completed window first. The answer goes out after the lock
	// is released, so that the flow's next trigger finds it free.
	plan := []planned{{w: req.w, kind: req.kind}}
	var missed int64
	var setLast func(window) error
	if env.SideEffects && env.State != nil {
		st := env.State
		lockKey, lastKey := env.StateKey(node, "stats/lock"), env.StateKey(node, "stats/last")
		token := []byte(uuid.NewString())
		ok, err := st.CompareAndSet(rctx, lockKey, nil, token, lockTTL)
		if err != nil {
			fail(fmt.Errorf("claim the run in the state store: %w", err))
			return
		}
		if !ok {
			n.skip(ctx, msg, "busy")
			return
		}
		last, err := readLast(rctx, st, lastKey, log)
		if err != nil {
			release(st, lockKey, token, log)
			fail(err)
			return
		}
		if req.kind == RunTick {
			if last != nil && req.w.To <= last.To {
				release(st, lockKey, token, log)
				n.skip(ctx, msg, "done")
				return
			}
			plan, missed = n.c.catchUp(last, req.w)
		}
		setLast = func(w window) error {
			b, _ := json.Marshal(w)
			if err := st.Set(rctx, lastKey, b, 0); err != nil {
				return fmt.Errorf("keep the last completed window in the state store: %w", err)
			}
			return nil
		}
		outs, failed := n.run(rctx, node, msg, env, reader, reg, repo, plan, missed, setLast)
		release(st, lockKey, token, log)
		n.answer(ctx, msg, env, outs, failed)
		return
	}
	outs, failed := n.run(rctx, node, msg, env, reader, reg, repo, plan, missed, nil)
	n.answer(ctx, msg, env, outs, failed)
}

// run computes the planned windows in order, records each and keeps it as
// the last completed one (ticks and catch-ups, with setLast). It returns
// the STATS messages of the windows done, and the error that stopped it.
func (n *Node) run(rctx context.Context, node string, msg types.RuleMsg, env *engine.Env, reader ts.Reader, reg DeviceLister,
	repo store.StatsRepo, plan []planned, missed int64, setLast func(window) error) ([]types.RuleMsg, error) {
	job := n.c.job
	if job == "" {
		job = node
	}
	rn := &runner{c: n.c, job: job, r: reader, tenant: env.Tenant, calc: n.calc, res: env.Resources}
	var err error
	if rn.devices, err = n.c.selectDevices(rctx, reader, reg, env.Tenant, nil); err != nil {
		return nil, err
	}
	var outs []types.RuleMsg
	for _, pw := range plan {
		md := msg.Metadata.Copy()
		if md == nil {
			md = types.NewMetadata()
		}
		md[MetaJob] = job
		md[MetaWindowFrom] = strconv.FormatInt(pw.w.From, 10)
		md[MetaWindowTo] = strconv.FormatInt(pw.w.To, 10)
		md[MetaRun] = pw.kind
		md[MetaMissed] = strconv.FormatInt(missed, 10)
		if !env.SideEffects {
			md[MetaDryRun] = "true"
		}
		p, err := rn.window(rctx, pw.w, md)
		if err == nil && repo != nil {
			var rec store.StatsRecord
			rec, err = repo.RecordStats(rctx, store.StatsRecord{Tenant: env.Tenant, FlowID: env.FlowID, NodeID: node, Job: job,
				WindowFrom: pw.w.From, WindowTo: pw.w.To, Groups: p.Groups})
			if err != nil {
				err = fmt.Errorf("record the run: %w", err)
			} else {
				md[MetaRecord] = rec.ID
			}
		}
		if err == nil && setLast != nil && pw.kind != RunBackfill {
			err = setLast(pw.w)
		}
		var data []byte
		if err == nil {
			if data, err = json.Marshal(p); err != nil {
				err = fmt.Errorf("encode the payload: %w", err)
			}
		}
		if err != nil {
			return outs, fmt.Errorf("window %s: %w", pw.w, err)
		}
		md[MetaGroups] = strconv.Itoa(len(p.Groups))
		outs = append(outs, types.NewMsg(msg.Ts, MsgType, types.JSON, md, string(data)))
	}
	return outs, nil
}

// answer tells what run returned: every window on Success; a failure on
// Failure — with the error when nothing else leaves, else as the input
// message with the error in its metadata after the windows done.
func (n *Node) answer(ctx types.RuleContext, msg types.RuleMsg, env *engine.Env, outs []types.RuleMsg, failed error) {
	switch {
	case failed != nil && len(outs) == 0:
		ctx.TellFailure(msg, fmt.Errorf("%s: %w", Type, failed))
	case failed != nil:
		if env.Logger != nil {
			env.Logger.Warn("statistics window failed after earlier windows of the same trigger succeeded", "node", ctx.GetSelfId(), "error", failed)
		}
		fm := msg.Copy()
		if fm.Metadata == nil {
			fm.Metadata = types.NewMetadata()
		}
		fm.Metadata[MetaError] = fmt.Sprintf("%s: %s", Type, failed)
		outs = append(outs, fm)
		rels := make([]string, len(outs))
		for i := range rels {
			rels[i] = types.Success
		}
		rels[len(rels)-1] = types.Failure
		tellEach(ctx, outs, rels)
	case len(outs) == 1:
		ctx.TellNext(outs[0], types.Success)
	default:
		rels := make([]string, len(outs))
		for i := range rels {
			rels[i] = types.Success
		}
		tellEach(ctx, outs, rels)
	}
}

// settleWait is how long to wait at now before reading window w: until
// settle after its end, or after now when it ends later (a backfill into
// the future is read with what is stored then). A window that ended
// settle or longer ago is read at once.
func (c *compiled) settleWait(w window, now time.Time) time.Duration {
	if c.settle <= 0 {
		return 0
	}
	end := time.UnixMilli(w.To)
	if end.After(now) {
		end = now
	}
	return max(end.Add(c.settle).Sub(now), 0)
}

// settle waits until window w has settled (settleWait), with ctx: never
// past ctx's deadline less settleReserve, when it has one.
func (n *Node) settle(ctx context.Context, w window, now time.Time, log *slog.Logger, node string) error {
	d := n.c.settleWait(w, now)
	if d <= 0 {
		return nil
	}
	if dl, ok := ctx.Deadline(); ok {
		if room := dl.Sub(now) - settleReserve; d > room {
			n.shortWait.Do(func() {
				log.Warn("statistics: settle cut short to leave the run time before the message's deadline (raise engine.messageTimeout or lower settle)",
					"node", node, "settle", n.c.settle, "waited", max(room, 0))
			})
			d = max(room, 0)
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("window %s: stopped while waiting %s for it to settle: %w", w, n.c.settle, context.Cause(ctx))
	}
}

// skip answers a trigger that computes nothing on Skipped.
func (n *Node) skip(ctx types.RuleContext, msg types.RuleMsg, why string) {
	out := msg.Copy()
	if out.Metadata == nil {
		out.Metadata = types.NewMetadata()
	}
	out.Metadata[MetaSkipped] = why
	ctx.TellNext(out, RelSkipped)
}

// tellEach answers with several messages through the engine's
// engine.MultiTeller; outside a Sluice engine it tells them one by one,
// which is only safe for one message.
func tellEach(ctx types.RuleContext, msgs []types.RuleMsg, relations []string) {
	if mt, ok := ctx.(engine.MultiTeller); ok {
		mt.TellEach(msgs, relations)
		return
	}
	for i, m := range msgs {
		ctx.TellNext(m, relations[i])
	}
}

// catchUp plans a tick's windows after the last completed one: the missed
// whole windows of lead between them (catchUp all: the most recent
// maxCatchUp, oldest first), then the tick's. missed counts the whole
// windows not computed.
func (c *compiled) catchUp(last *window, cur window) ([]planned, int64) {
	var plan []planned
	var missed int64
	if last != nil && last.To < cur.From {
		n := (cur.From - last.To) / c.lead
		take := int64(0)
		if c.catchUpAll {
			take = min(n, int64(c.maxCatchUp))
		}
		first := last.To + (n-take)*c.lead
		for k := range take {
			from := first + k*c.lead
			plan = append(plan, planned{w: window{From: from, To: from + c.lead}, kind: RunCatchUp})
		}
		missed = n - take
	}
	return append(plan, planned{w: cur, kind: RunTick}), missed
}

// readLast reads the last completed window (nil: none yet).
func readLast(ctx context.Context, st engine.StateStore, key string, log *slog.Logger) (*window, error) {
	b, ok, err := st.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("read the last completed window from the state store: %w", err)
	}
	if !ok {
		return nil, nil
	}
	var w window
	if err := json.Unmarshal(b, &w); err != nil || w.To <= w.From || checkTime("from", w.From) != nil || checkTime("to", w.To) != nil {
		log.Warn("statistics: unreadable last window in the state store: starting over without catch-up", "key", key, "value", string(b))
		return nil, nil
	}
	return &w, nil
}

// release lets go of the run's lock, if it is still this run's.
func release(st engine.StateStore, key string, token []byte, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), stateTimeout)
	defer cancel()
	cur, ok, err := st.Get(ctx, key)
	if err == nil && ok && string(cur) == string(token) {
		err = st.Delete(ctx, key)
	}
	if err != nil {
		log.Warn("statistics: release the run's lock (it expires by itself)", "key", key, "error", err)
	}
}

// request is what a trigger asks for.
type request struct {
	w    window
	kind string // RunTick or RunBackfill
}

// request reads a trigger: a backfill window from the metadata (statsFrom,
// statsTo) or the payload ({"from", "to"}), else a tick from the metadata
// scheduledTime, the payload's scheduled, or now.
func (c *compiled) request(msg types.RuleMsg, now time.Time) (request, error) {
	md := msg.Metadata
	if f, t := md[MetaFrom], md[MetaTo]; f != "" || t != "" {
		from, err := timeOf("metadata "+MetaFrom, json.RawMessage(strconv.Quote(f)))
		if err != nil {
			return request{}, err
		}
		to, err := timeOf("metadata "+MetaTo, json.RawMessage(strconv.Quote(t)))
		if err != nil {
			return request{}, err
		}
		return c.backfill(from, to)
	}
	var body map[string]json.RawMessage
	if d := strings.TrimSpace(msg.Data); strings.HasPrefix(d, "{") {
		_ = json.Unmarshal([]byte(d), &body) // a payload that is not JSON is just a trigger
	}
	_, hasFrom := body["from"]
	_, hasTo := body["to"]
	if hasFrom || hasTo {
		from, err := timeOf("payload from", body["from"])
		if err != nil {
			return request{}, err
		}
		to, err := timeOf("payload to", body["to"])
		if err != nil {
			return request{}, err
		}
		return c.backfill(from, to)
	}
	tick := now.UnixMilli()
	switch {
	case md[metaScheduled] != "":
		t, err := time.Parse(time.RFC3339Nano, md[metaScheduled])
		if err != nil {
			return request{}, fmt.Errorf("metadata %s: want an RFC 3339 time, got %q", metaScheduled, md[metaScheduled])
		}
		tick = t.UnixMilli()
	case body["scheduled"] != nil:
		t, err := timeOf("payload scheduled", body["scheduled"])
		if err != nil {
			return request{}, err
		}
		tick = t
	}
	return request{w: window{From: tick - c.lead, To: tick}, kind: RunTick}, nil
}

func (c *compiled) backfill(from, to int64) (request, error) {
	if to <= from {
		return request{}, fmt.Errorf("backfill: to (%d) must be after from (%d)", to, from)
	}
	if c.every > 0 {
		// The width of two far apart int64s needs 64 bits unsigned.
		width, every := uint64(to)-uint64(from), uint64(c.every)
		if buckets := width/every + min(width%every, 1); buckets > maxBuckets {
			return request{}, fmt.Errorf("backfill: %d buckets of %s; at most %d", buckets, ms(c.every), maxBuckets)
		}
	}
	return request{w: window{From: from, To: to}, kind: RunBackfill}, nil
}

// The times a trigger or a backtest may name: years 1 to 9999 (UTC), as
// RFC 3339 writes them. Within them, window arithmetic (a width, a start
// less lookback) cannot overflow an int64.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999_000_000, time.UTC).UnixMilli()
)

// checkTime refuses a time outside years 1 to 9999.
func checkTime(what string, ms int64) error {
	if ms < minTime || ms > maxTime {
		return fmt.Errorf("%s: %d is out of range: want a time in years 1 to 9999 (Unix milliseconds %d to %d)", what, ms, minTime, maxTime)
	}
	return nil
}

// timeOf reads a time: Unix milliseconds (a JSON number, or a string of
// digits) or an RFC 3339 string, in years 1 to 9999.
func timeOf(what string, raw json.RawMessage) (int64, error) {
	ms, err := parseTime(what, raw)
	if err != nil {
		return 0, err
	}
	return ms, checkTime(what, ms)
}

func parseTime(what string, raw json.RawMessage) (int64, error) {
	if len(raw) == 0 {
		return 0, fmt.Errorf("%s: missing: a backfill wants both from and to", what)
	}
	var x any
	if err := json.Unmarshal(raw, &x); err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	switch v := x.(type) {
	case float64:
		// int64 of a float64 beyond its range is undefined: look first
		// (a JSON number is always finite).
		if v < float64(minTime) || v > float64(maxTime) {
			return 0, fmt.Errorf("%s: %s is out of range: want a time in years 1 to 9999 (Unix milliseconds %d to %d)", what, truncate(string(raw), 60), minTime, maxTime)
		}
		return int64(v), nil
	case string:
		if v == "" {
			return 0, fmt.Errorf("%s: missing: a backfill wants both from and to", what)
		}
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			return ms, nil
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return 0, fmt.Errorf("%s: want Unix milliseconds or an RFC 3339 time, got %q", what, v)
		}
		return t.UnixMilli(), nil
	}
	return 0, fmt.Errorf("%s: want Unix milliseconds or an RFC 3339 time, got %s", what, truncate(string(raw), 60))
}
