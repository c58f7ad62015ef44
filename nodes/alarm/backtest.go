package alarm

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/backtest"
	"github.com/sluicehq/sluice/store/timeseries"
)

func init() {
	backtest.Register(ThresholdType, backtestThreshold)
	backtest.Register(JointType, backtestJoint)
}

// Backtest limits. A request beyond them is refused (backtest.ErrBadRequest)
// before anything is replayed.
var (
	// BacktestMaxRange is the widest range a backtest replays.
	BacktestMaxRange = 92 * 24 * time.Hour
	// BacktestMaxValues bounds the stored values a backtest replays (a
	// downsampled point counts for the values it stands for).
	BacktestMaxValues int64 = 2_000_000
	// BacktestMaxDevices bounds the devices a backtest replays.
	BacktestMaxDevices = 10_000
)

// backtestSliceValues is about how many values one slice of the range
// holds: the replay reads and sorts one slice at a time.
var backtestSliceValues int64 = 100_000

// A backtest replays stored history through the node's own code: the
// configuration goes through Init (the spec's strict decode and the
// compiler, as at deploy), samples through Threshold.sample or Joint.sample,
// deadlines through Threshold.tick, and every evaluation through
// Threshold.evaluate and Lifecycle.Step. It runs on a runtime of its own
// over an in-memory state, whose wall clock is the replayed device time:
// a sample at ts arrives at wall time ts, and a deadline that passes
// between samples (silence, a duration, a clear hold-off, an escalation by
// time, a value going stale) is evaluated at its own device time, as the
// node's timer would. Nothing is recorded and no message leaves; the
// changes become the result's events. Reminders are not events (they
// change no alarm) and are not replayed.

func backtestThreshold(ctx context.Context, req backtest.Request) (*backtest.Result, error) {
	n := &Threshold{}
	raw, err := backtestConfig(req)
	if err == nil {
		err = n.Init(types.Config{}, raw)
	}
	if err != nil {
		return nil, &configError{node: req.NodeID, err: err}
	}
	if err := checkRange(req); err != nil {
		return nil, err
	}
	devices, err := backtestDevices(ctx, req)
	if err != nil {
		return nil, err
	}
	// The signals the rules read; every signal when a rule watches a
	// device's silence (any data counts).
	var signals []string
	wholeDevice := false
	for _, r := range n.c.rules {
		r.policy.Reminder = 0
		for _, c := range append([]*cond{r.raise}, r.esc...) {
			c.walk(func(c *cond) {
				if c.op == OpNoData && c.signal == "" {
					wholeDevice = true
				}
			})
		}
	}
	if !wholeDevice {
		for s := range n.c.index {
			signals = append(signals, s)
		}
		sort.Strings(signals)
	}
	var groups []readGroup
	for chunk := range slices.Chunk(devices, timeseries.MaxDevices) {
		groups = append(groups, readGroup{devices: chunk, signals: signals})
	}
	rp := newReplay(req, n.c.index)
	rp.sample = func(ctx context.Context, id string, ts int64, vals []sigVal) ([]Change, error) {
		_, _, changes, err := n.sample(ctx, rp.a, rp.in, id, ts, ts, vals)
		return changes, err
	}
	rp.tick = func(ctx context.Context, id string) []Change {
		_, changes := n.tick(ctx, rp.a, id, rp.in, false)
		return changes
	}
	rp.timerOf = func(id string) string { return id }
	return rp.run(ctx, groups)
}

func backtestJoint(ctx context.Context, req backtest.Request) (*backtest.Result, error) {
	n := &Joint{}
	raw, err := backtestConfig(req)
	if err == nil {
		err = n.Init(types.Config{}, raw)
	}
	if err != nil {
		return nil, &configError{node: req.NodeID, err: err}
	}
	if err := checkRange(req); err != nil {
		return nil, err
	}
	n.j.r.policy.Reminder = 0
	devices := make([]string, 0, len(n.j.reads))
	for d := range n.j.reads {
		devices = append(devices, d)
	}
	sort.Strings(devices)
	if len(req.Devices) > 0 {
		return nil, fmt.Errorf("%w: devices: a joint alarm reads the devices its condition names (%s); leave devices out",
			backtest.ErrBadRequest, strings.Join(devices, ", "))
	}
	groups := make([]readGroup, 0, len(devices))
	for _, d := range devices {
		var signals []string
		for s := range n.j.reads[d] {
			signals = append(signals, s)
		}
		sort.Strings(signals)
		groups = append(groups, readGroup{devices: []string{d}, signals: signals})
	}
	rp := newReplay(req, n.j.c.index)
	rp.sample = func(ctx context.Context, id string, ts int64, vals []sigVal) ([]Change, error) {
		dm := rp.a.rt.device(n.j.device)
		dm.mu.Lock()
		defer dm.mu.Unlock()
		if err := rp.a.rt.load(ctx, dm, n.j.c.rules); err != nil {
			return nil, err
		}
		_, _, changes := n.sample(ctx, rp.a, dm, rp.in, n.j.reads[id], ts, ts, vals)
		return changes, nil
	}
	rp.tick = func(ctx context.Context, id string) []Change {
		_, changes := n.inner.tick(ctx, rp.a, id, rp.in, false)
		return changes
	}
	rp.timerOf = func(string) string { return n.j.device }
	return rp.run(ctx, groups)
}

// configError is a configuration the node refuses: a bad request whose
// text names the fields (one problem after the other), and which wraps the
// problems (spec.Problems) for an API to show.
type configError struct {
	node string
	err  error
}

func (e *configError) Error() string {
	return fmt.Sprintf("%s: node %q configuration: %s", backtest.ErrBadRequest, e.node, strings.ReplaceAll(e.err.Error(), "\n", "; "))
}

func (e *configError) Unwrap() []error { return []error{backtest.ErrBadRequest, e.err} }

// backtestConfig decodes the node's configuration as the flow holds it.
func backtestConfig(req backtest.Request) (map[string]any, error) {
	var raw map[string]any
	if err := json.Unmarshal(req.Config, &raw); err != nil {
		return nil, fmt.Errorf("want a JSON object: %w", err)
	}
	if raw == nil {
		return nil, errors.New("want a JSON object, got null")
	}
	return raw, nil
}

// checkRange refuses an empty, reversed or too wide range. The width is
// worked out without overflow: To-From of two far apart int64s, or its
// product with time.Millisecond, would wrap around and pass.
func checkRange(req backtest.Request) error {
	switch {
	case req.To <= req.From:
		return fmt.Errorf("%w: range: to (%d) must be after from (%d)", backtest.ErrBadRequest, req.To, req.From)
	case rangeMs(req.From, req.To) > uint64(BacktestMaxRange.Milliseconds()):
		return fmt.Errorf("%w: range: %s is wider than a backtest replays (at most %s): narrow from and to",
			backtest.ErrBadRequest, spanMs(rangeMs(req.From, req.To)), span(BacktestMaxRange))
	case req.Reader == nil:
		return errors.New("backtest: no time-series reader")
	}
	return nil
}

// rangeMs is to-from in milliseconds for from < to, exact over all int64s
// (it needs up to 64 bits unsigned).
func rangeMs(from, to int64) uint64 { return uint64(to) - uint64(from) }

// spanMs renders a width in milliseconds, one too wide for a
// time.Duration included.
func spanMs(ms uint64) string {
	if ms <= uint64(math.MaxInt64/int64(time.Millisecond)) {
		return span(time.Duration(ms) * time.Millisecond)
	}
	return fmt.Sprintf("%.0f days", float64(ms)/float64(24*time.Hour/time.Millisecond))
}

// span renders a range's width: in days from two days up.
func span(d time.Duration) string {
	const day = 24 * time.Hour
	switch {
	case d < 2*day:
		return d.String()
	case d%day == 0:
		return fmt.Sprintf("%d days", d/day)
	}
	return fmt.Sprintf("%.1f days", d.Hours()/24)
}

// backtestDevices are the devices a threshold backtest replays: those asked
// for, or every device with stored points.
func backtestDevices(ctx context.Context, req backtest.Request) ([]string, error) {
	var out []string
	if len(req.Devices) > 0 {
		for i, d := range req.Devices {
			if strings.TrimSpace(d) == "" {
				return nil, fmt.Errorf("%w: devices[%d]: empty device id", backtest.ErrBadRequest, i)
			}
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
	} else {
		ds, err := req.Reader.Devices(ctx, req.Tenant)
		if err != nil {
			return nil, fmt.Errorf("backtest: list devices: %w", err)
		}
		for _, d := range ds {
			out = append(out, d.ID)
		}
	}
	if len(out) > BacktestMaxDevices {
		return nil, fmt.Errorf("%w: devices: %d devices, more than a backtest replays (at most %d): name the devices",
			backtest.ErrBadRequest, len(out), BacktestMaxDevices)
	}
	return out, nil
}

// readGroup is one query's worth of series: some devices (at most
// timeseries.MaxDevices) and their signals (nil: every signal).
type readGroup struct {
	devices []string
	signals []string
}

// replay runs stored points through a node in device-time order.
type replay struct {
	req   backtest.Request
	index map[string]int // signal name -> sigVal index
	a     *attachment
	in    types.RuleMsg // the message alarm events would be built from
	clock int64         // the runtime's wall clock: the replayed time (ms)

	// sample evaluates one sample of device id at ts; tick evaluates the
	// deadlines of (timer) device id at the clock; timerOf is the device
	// whose deadline a sample of id moves.
	sample  func(ctx context.Context, id string, ts int64, vals []sigVal) ([]Change, error)
	tick    func(ctx context.Context, id string) []Change
	timerOf func(id string) string

	dues   dueHeap
	queued map[string]int64 // the deadline last queued per device
	steps  int              // evaluations, for looking at ctx now and then
	res    *backtest.Result
}

func newReplay(req backtest.Request, index map[string]int) *replay {
	log := slog.Default().With("backtest", true, "flow", req.FlowID)
	rp := &replay{req: req, index: index, queued: map[string]int64{}, in: types.NewMsg(0, "TELEMETRY", types.JSON, types.NewMetadata(), "{}"),
		res: &backtest.Result{NodeType: req.NodeType, From: req.From, To: req.To, Events: []backtest.Event{}}}
	// An in-memory state without a persister cannot fail.
	st, _ := engine.NewMemoryState(context.Background(), nil)
	rt := newRuntime(req.Tenant, req.FlowID, req.NodeID, st, log, false)
	rt.now = func() time.Time { return time.UnixMilli(rp.clock) }
	rp.a = &attachment{rt: rt, log: log}
	return rp
}

// run counts the values of the groups over the range, refuses too many,
// and replays the range slice by slice.
func (rp *replay) run(ctx context.Context, groups []readGroup) (*backtest.Result, error) {
	req := rp.req
	total, err := rp.count(ctx, groups)
	if err != nil {
		return nil, err
	}
	if total > BacktestMaxValues {
		return nil, fmt.Errorf("%w: the range holds %d stored values of the signals the node reads, more than a backtest replays (at most %d): narrow the range or the devices",
			backtest.ErrBadRequest, total, BacktestMaxValues)
	}
	slicesN := max(1, (total+backtestSliceValues-1)/backtestSliceValues)
	width := max(1, (req.To-req.From+slicesN-1)/slicesN)
	// to never goes past req.To (from+width could overflow near the end
	// of the int64 range).
	for from, to := req.From, req.From; from < req.To; from = to {
		to = req.To
		if req.To-from > width {
			to = from + width
		}
		pts, err := rp.read(ctx, groups, from, to)
		if err != nil {
			return nil, err
		}
		if err := rp.replay(ctx, pts); err != nil {
			return nil, err
		}
	}
	// Deadlines that pass before the end of the range without more data.
	if err := rp.fire(ctx, req.To); err != nil {
		return nil, err
	}
	return rp.res, nil
}

// count is how many values the groups hold over the range.
func (rp *replay) count(ctx context.Context, groups []readGroup) (int64, error) {
	req := rp.req
	var total int64
	for _, g := range groups {
		q := timeseries.Query{Tenant: req.Tenant, Devices: g.devices, Signals: g.signals, From: req.From, To: req.To,
			Agg: timeseries.AggCount, Every: time.Duration(req.To-req.From) * time.Millisecond, Limit: timeseries.MaxLimit}
		for {
			res, err := req.Reader.Query(ctx, q)
			if err != nil {
				return 0, fmt.Errorf("backtest: count stored values: %w", err)
			}
			for _, s := range res.Series {
				for _, p := range s.Points {
					total += p.Count
				}
			}
			if res.NextOffset == 0 {
				break
			}
			q.Offset = res.NextOffset
		}
	}
	return total, nil
}

// storedPoint is one stored value read for the replay.
type storedPoint struct {
	ts     int64
	device string
	signal string
	value  timeseries.Value
}

// read returns the raw points of the groups over [from, to), by time, then
// device.
func (rp *replay) read(ctx context.Context, groups []readGroup, from, to int64) ([]storedPoint, error) {
	req := rp.req
	var pts []storedPoint
	for _, g := range groups {
		q := timeseries.Query{Tenant: req.Tenant, Devices: g.devices, Signals: g.signals, From: from, To: to, Limit: timeseries.MaxLimit}
		for {
			res, err := req.Reader.Query(ctx, q)
			if err != nil {
				return nil, fmt.Errorf("backtest: read stored points: %w", err)
			}
			for _, s := range res.Series {
				for _, p := range s.Points {
					pts = append(pts, storedPoint{ts: p.TS, device: s.Device, signal: s.Signal, value: p.Value})
				}
			}
			if res.NextOffset == 0 {
				break
			}
			q.Offset = res.NextOffset
		}
	}
	sort.SliceStable(pts, func(i, j int) bool {
		if pts[i].ts != pts[j].ts {
			return pts[i].ts < pts[j].ts
		}
		return pts[i].device < pts[j].device
	})
	return pts, nil
}

// replay runs points (sorted) through the node: the values of one device
// at one time are one sample, as a telemetry message would carry them.
func (rp *replay) replay(ctx context.Context, pts []storedPoint) error {
	var vals []sigVal
	for i := 0; i < len(pts); {
		p := pts[i]
		vals = vals[:0]
		j := i
		for ; j < len(pts) && pts[j].ts == p.ts && pts[j].device == p.device; j++ {
			if idx, ok := rp.index[pts[j].signal]; ok {
				vals = append(vals, sigValOf(idx, pts[j].value))
			}
		}
		rp.res.Points += j - i
		i = j
		if err := rp.fire(ctx, p.ts); err != nil {
			return err
		}
		rp.clock = p.ts
		changes, err := rp.sample(ctx, p.device, p.ts, vals)
		if err != nil {
			return fmt.Errorf("backtest: device %q at %d: %w", p.device, p.ts, err)
		}
		rp.add(changes)
		rp.schedule(rp.timerOf(p.device))
		if err := rp.step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// step counts an evaluation and, now and then, looks whether ctx ended.
func (rp *replay) step(ctx context.Context) error {
	rp.steps++
	if rp.steps%4096 == 0 {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("backtest: %w", err)
		}
	}
	return nil
}

// fire evaluates, in time order, the deadlines that pass before until.
func (rp *replay) fire(ctx context.Context, until int64) error {
	for rp.dues.Len() > 0 && rp.dues[0].at < until {
		d := heap.Pop(&rp.dues).(due)
		if rp.a.rt.device(d.device).due.Load() != d.at {
			continue // moved since
		}
		delete(rp.queued, d.device)
		rp.clock = d.at
		rp.add(rp.tick(ctx, d.device))
		rp.schedule(d.device)
		if err := rp.step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// schedule queues the next deadline of device id (the node stores it in
// wall time, which in a replay is device time).
func (rp *replay) schedule(id string) {
	at := rp.a.rt.device(id).due.Load()
	if at != 0 && rp.queued[id] != at {
		rp.queued[id] = at
		heap.Push(&rp.dues, due{at: at, device: id})
	}
}

// add turns alarm changes into events.
func (rp *replay) add(changes []Change) {
	for _, c := range changes {
		var kind string
		switch c.Kind {
		case ChangeCreated:
			kind = StatusActive
			rp.res.Fired++
		case ChangeUpdated:
			kind = "updated"
		case ChangeCleared:
			kind = StatusCleared
		default:
			continue
		}
		if len(rp.res.Events) >= backtest.MaxEvents {
			rp.res.Truncated = true
			continue
		}
		ev := c.Event
		data := map[string]any{"alarmId": ev.AlarmID, "count": ev.Count, "since": ev.Since, "reason": c.Reason}
		if len(ev.Signals) > 0 {
			data["signals"] = ev.Signals
		}
		rp.res.Events = append(rp.res.Events, backtest.Event{
			TS: ev.Ts, DeviceID: ev.DeviceID, Kind: kind, Rule: ev.Rule, Severity: ev.Severity, Value: ev.Value, Data: data,
		})
	}
}

// sigValOf converts a stored value.
func sigValOf(idx int, v timeseries.Value) sigVal {
	switch v.Kind {
	case timeseries.KindNumber:
		return sigVal{idx: idx, kind: kindNum, num: v.Num}
	case timeseries.KindBool:
		return sigVal{idx: idx, kind: kindBool, num: v.Num}
	case timeseries.KindString:
		return sigVal{idx: idx, kind: kindStr, str: v.Str}
	}
	return sigVal{idx: idx}
}

// due is a device's deadline in the replay.
type due struct {
	at     int64
	device string
}

// dueHeap orders deadlines by time, then device.
type dueHeap []due

func (h dueHeap) Len() int { return len(h) }
func (h dueHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].device < h[j].device
}
func (h dueHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)   { *h = append(*h, x.(due)) }
func (h *dueHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
