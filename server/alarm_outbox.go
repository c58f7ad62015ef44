package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/nodes/alarm"
	"github.com/sluicehq/sluice/store"
)

// The alarm outbox: alarm changes the records store (MongoDB, say) could not
// take wait, in order, in the system database's key-value table under
// alarmOutboxPrefix, keyed by a zero-padded sequence number, until the
// recorder's drain goroutine has written them.
const (
	alarmOutboxPrefix = "alarm-outbox/"
	// Defaults of AlarmRecorderOptions.
	defaultAlarmDirectTimeout = 2 * time.Second
	defaultAlarmRetryMin      = 100 * time.Millisecond
	defaultAlarmRetryMax      = 30 * time.Second
	// alarmOutboxWriteTimeout bounds one write of the outbox.
	alarmOutboxWriteTimeout = 5 * time.Second
	// alarmDrainTimeout bounds one replayed change.
	alarmDrainTimeout = 10 * time.Second
)

// AlarmRecorderOptions tune a durable recorder; zero values are the
// defaults.
type AlarmRecorderOptions struct {
	// DirectTimeout bounds a change's first attempt at the records store
	// (default 2s); a change that does not make it goes to the outbox.
	DirectTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts to replay
	// the outbox (default 100ms, doubling up to 30s).
	RetryMin, RetryMax time.Duration
}

// outboxEntry is one queued change.
type outboxEntry struct {
	Change alarm.Change `json:"change"`
	// Attempts counts the attempts that failed: after one, the records
	// store may have taken the change without saying so.
	Attempts int `json:"attempts"`
}

// outbox is the recorder's durable queue and its drain goroutine.
type outbox struct {
	kv   store.KVRepo
	opts AlarmRecorderOptions

	mu sync.Mutex
	// head is the sequence number of the oldest queued change, tail the
	// next free one: tail-head changes wait.
	head, tail uint64
	// checkBelow: changes below it were queued by an earlier process,
	// which may have written them before it stopped.
	checkBelow uint64
	running    bool // the drain goroutine runs
	closed     bool
	stop       chan struct{}
	done       chan struct{}

	// lanes order the changes of each alarm (key alarmLaneKey) on their
	// way to the records store or the outbox.
	lanesMu sync.Mutex
	lanes   map[string]*alarmLane

	// Read without mu, by Health and Collect: enqueue holds mu across a
	// write of the outbox.
	depth atomic.Int64
	// oldest is when the oldest queued change was queued (Unix ns; 0: none
	// or queued by an earlier process).
	oldest   atomic.Int64
	retries  atomic.Uint64
	replayed atomic.Uint64
	dropped  atomic.Uint64
	lastErr  atomic.Value // string
}

// alarmLane serialises the changes of one alarm: a change holds its
// alarm's lane from the choice between the records store and the outbox
// until it is written or queued, so that a later change of the alarm can
// neither overtake it on the direct path nor be written while it waits to
// be queued.
type alarmLane struct {
	mu   sync.Mutex
	refs int // changes holding or waiting for the lane (under outbox.lanesMu)
}

func alarmLaneKey(c alarm.Change) string {
	tenant := c.Tenant
	if tenant == "" {
		tenant = store.DefaultTenant
	}
	return tenant + "\x00" + c.Event.AlarmID
}

// takeLane waits for the lane of c's alarm and returns its release. The
// wait is bounded: the change ahead takes at most DirectTimeout plus one
// outbox write.
func (ob *outbox) takeLane(c alarm.Change) (release func()) {
	key := alarmLaneKey(c)
	ob.lanesMu.Lock()
	l := ob.lanes[key]
	if l == nil {
		l = &alarmLane{}
		ob.lanes[key] = l
	}
	l.refs++
	ob.lanesMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		ob.lanesMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(ob.lanes, key)
		}
		ob.lanesMu.Unlock()
	}
}

// NewDurableAlarmRecorder returns a recorder over repo that never loses a
// change the repository cannot take: it queues it in the outbox (a table of
// the system database, kv) and replays the outbox in order, with
// exponential backoff, from a goroutine it owns. Changes that wait from an
// earlier process are replayed at once. Close stops the goroutine and waits
// for it: whoever makes the recorder closes it, after the last change is
// recorded and before kv closes (Server.Shutdown closes the recorder the
// engine uses after draining the engine, before it closes the store).
func NewDurableAlarmRecorder(ctx context.Context, repo store.AlarmRepo, kv store.KVRepo, log *slog.Logger, opts AlarmRecorderOptions) (*AlarmRecorder, error) {
	if kv == nil {
		return nil, errors.New("alarm recorder: no outbox store")
	}
	if opts.DirectTimeout <= 0 {
		opts.DirectTimeout = defaultAlarmDirectTimeout
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = defaultAlarmRetryMin
	}
	if opts.RetryMax < opts.RetryMin {
		opts.RetryMax = max(defaultAlarmRetryMax, opts.RetryMin)
	}
	r := NewAlarmRecorder(repo, log)
	ob := &outbox{kv: kv, opts: opts, stop: make(chan struct{}), lanes: map[string]*alarmLane{}}
	kvs, err := kv.KVList(ctx, alarmOutboxPrefix)
	if err != nil {
		return nil, fmt.Errorf("alarm recorder: read the outbox: %w", err)
	}
	first := true
	for _, e := range kvs {
		seq, err := strconv.ParseUint(strings.TrimPrefix(e.Key, alarmOutboxPrefix), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("alarm recorder: outbox key %q: not a sequence number", e.Key)
		}
		if first || seq < ob.head {
			ob.head = seq
		}
		if first || seq+1 > ob.tail {
			ob.tail = seq + 1
		}
		first = false
	}
	ob.checkBelow = ob.tail
	ob.depth.Store(int64(ob.tail - ob.head))
	r.outbox = ob
	if ob.tail > ob.head {
		r.log.Info("alarm outbox: replaying changes queued before the restart", "changes", ob.tail-ob.head)
		ob.mu.Lock()
		r.startDrain()
		ob.mu.Unlock()
	}
	return r, nil
}

// OutboxDepth is the number of alarm changes waiting in the outbox.
func (r *AlarmRecorder) OutboxDepth() int {
	if r.outbox == nil {
		return 0
	}
	return int(r.outbox.depth.Load())
}

// Close stops the drain goroutine and waits for it. Changes recorded after
// Close still reach the records store or the outbox, which the next start
// replays. It is safe to call more than once.
func (r *AlarmRecorder) Close() error {
	ob := r.outbox
	if ob == nil {
		return nil
	}
	ob.mu.Lock()
	if !ob.closed {
		ob.closed = true
		close(ob.stop)
	}
	done := ob.done
	ob.mu.Unlock()
	if done != nil {
		<-done
	}
	return nil
}

// permanentAlarmError is an error the records store will answer again:
// retrying cannot help.
func permanentAlarmError(err error) bool {
	return errors.Is(err, store.ErrInvalidAlarm)
}

// recordDurably is RecordAlarm with an outbox: straight to the repository
// while the outbox is empty, else (or when the repository fails) behind
// the queued changes. The changes of one alarm keep their order: each
// waits for the alarm's change before it to be written or queued (its
// lane). The outbox is empty only when no earlier change of the alarm
// waits in it, since a queued change counts in depth from the moment it
// is queued, under the lane, until the drain has written it.
func (r *AlarmRecorder) recordDurably(ctx context.Context, c alarm.Change) error {
	ob := r.outbox
	release := ob.takeLane(c)
	defer release() // after publishing: the stream shows an alarm's changes in order too
	attempts := 0
	if ob.depth.Load() == 0 {
		dctx, cancel := context.WithTimeout(ctx, ob.opts.DirectTimeout)
		stored, err := r.record(dctx, c)
		cancel()
		if err == nil {
			r.publish(AlarmChange{Type: "alarm", Change: c.Kind, Reason: c.Reason, Alarm: stored})
			return nil
		}
		if permanentAlarmError(err) {
			return err
		}
		attempts = 1
		ob.lastErr.Store(err.Error())
		r.log.Warn("alarm records store failed: the change waits in the outbox", "alarmId", c.Event.AlarmID, "change", c.Kind, "err", err)
	}
	if err := r.enqueue(ctx, c, attempts); err != nil {
		return fmt.Errorf("record alarm %s: %w", c.Event.AlarmID, err)
	}
	r.publish(AlarmChange{Type: "alarm", Change: c.Kind, Reason: c.Reason, Queued: true, Alarm: alarmOf(c)})
	return nil
}

// enqueue appends c to the outbox and makes sure the drain runs.
func (r *AlarmRecorder) enqueue(ctx context.Context, c alarm.Change, attempts int) error {
	ob := r.outbox
	b, err := json.Marshal(outboxEntry{Change: c, Attempts: attempts})
	if err != nil {
		return fmt.Errorf("encode for the outbox: %w", err)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), alarmOutboxWriteTimeout)
	defer cancel()
	ob.mu.Lock()
	defer ob.mu.Unlock()
	if err := ob.kv.KVPut(wctx, store.KV{Key: outboxKey(ob.tail), Value: b}); err != nil {
		return fmt.Errorf("queue in the outbox: %w", err)
	}
	if ob.tail == ob.head {
		ob.oldest.Store(time.Now().UnixNano())
	}
	ob.tail++
	ob.depth.Add(1)
	r.startDrain()
	return nil
}

func outboxKey(seq uint64) string { return fmt.Sprintf("%s%020d", alarmOutboxPrefix, seq) }

// startDrain starts the drain goroutine unless it runs or the recorder is
// stopped. Call with outbox.mu held.
func (r *AlarmRecorder) startDrain() {
	ob := r.outbox
	if ob.running || ob.closed {
		return
	}
	ob.running = true
	ob.done = make(chan struct{})
	go r.drain(ob.stop, ob.done)
}

// drain replays the outbox in order until it is empty or the recorder
// stops; a failed change is retried, after a backoff doubling from RetryMin
// to RetryMax, before anything behind it.
func (r *AlarmRecorder) drain(stop <-chan struct{}, done chan struct{}) {
	ob := r.outbox
	// A stop also ends the attempt in flight.
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-stop:
		case <-ctx.Done():
		}
		cancel()
	}()
	defer func() {
		cancel()
		<-watched
		close(done)
	}()
	backoff := ob.opts.RetryMin
	wait := func() bool {
		t := time.NewTimer(backoff)
		defer t.Stop()
		backoff = min(backoff*2, ob.opts.RetryMax)
		select {
		case <-t.C:
			return true
		case <-stop:
		}
		return false
	}
	for {
		ob.mu.Lock()
		if ob.head == ob.tail || ob.closed {
			ob.running = false
			ob.mu.Unlock()
			return
		}
		seq, check := ob.head, ob.head < ob.checkBelow
		ob.mu.Unlock()
		err := r.replay(ctx, seq, check)
		if err != nil {
			ob.retries.Add(1)
			ob.lastErr.Store(err.Error())
			r.log.Debug("alarm outbox: replay failed; retrying", "err", err, "backoff", backoff)
			if !wait() {
				ob.mu.Lock()
				ob.running = false
				ob.mu.Unlock()
				return
			}
			continue
		}
		backoff = ob.opts.RetryMin
		ob.mu.Lock()
		ob.head++
		ob.depth.Add(-1)
		empty := ob.head == ob.tail
		if empty {
			ob.oldest.Store(0)
		}
		ob.mu.Unlock()
		ob.replayed.Add(1)
		if empty {
			r.log.Info("alarm outbox: every queued change is recorded")
		}
	}
}

// replay writes change seq of the outbox to the repository and removes it
// from the outbox. A change that may have been written before (check, or a
// failed attempt) is looked for in the alarm's history first, so that it is
// not written twice. A change the repository refuses for good is dropped
// (and logged).
func (r *AlarmRecorder) replay(ctx context.Context, seq uint64, check bool) error {
	ob := r.outbox
	key := outboxKey(seq)
	rctx, cancel := context.WithTimeout(ctx, alarmDrainTimeout)
	defer cancel()
	kv, err := ob.kv.KVGet(rctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil // removed already
	}
	if err != nil {
		return fmt.Errorf("read the outbox: %w", err)
	}
	var e outboxEntry
	if err := json.Unmarshal(kv.Value, &e); err != nil {
		ob.dropped.Add(1)
		r.log.Error("alarm outbox: unreadable change dropped", "key", key, "err", err)
		return ob.remove(rctx, key)
	}
	written := false
	if check || e.Attempts > 0 {
		if written, err = r.recorded(rctx, e.Change); err != nil {
			return err
		}
	}
	if !written {
		if _, err := r.record(rctx, e.Change); err != nil {
			if !permanentAlarmError(err) {
				e.Attempts++
				if b, merr := json.Marshal(e); merr == nil {
					_ = ob.kv.KVPut(rctx, store.KV{Key: key, Value: b}) // best effort: a restart checks anyway
				}
				return err
			}
			ob.dropped.Add(1)
			r.log.Error("alarm outbox: the records store refuses the change: dropped", "alarmId", e.Change.Event.AlarmID, "change", e.Change.Kind, "err", err)
		}
	}
	return ob.remove(rctx, key)
}

func (ob *outbox) remove(ctx context.Context, key string) error {
	if err := ob.kv.KVDelete(ctx, key); err != nil {
		return fmt.Errorf("remove from the outbox: %w", err)
	}
	return nil
}

// recorded reports whether the alarm's history ends with change c (the
// newest change not made by an operator): then an earlier attempt wrote it.
func (r *AlarmRecorder) recorded(ctx context.Context, c alarm.Change) (bool, error) {
	h, err := r.repo.AlarmHistory(ctx, c.Tenant, c.Event.AlarmID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look for an earlier write: %w", err)
	}
	for i := len(h) - 1; i >= 0; i-- {
		e := h[i]
		if e.Reason == "manual" {
			continue
		}
		ev := c.Event
		return e.Kind == c.Kind && e.Reason == c.Reason && e.Ts == ev.Ts && e.Count == max(ev.Count, 1) && e.Severity == ev.Severity, nil
	}
	return false, nil
}

// alarmOf is the alarm a change describes, as a live page shows it before
// the records store has it.
func alarmOf(c alarm.Change) store.Alarm {
	ev := c.Event
	tenant := c.Tenant
	if tenant == "" {
		tenant = store.DefaultTenant
	}
	return store.Alarm{
		ID: ev.AlarmID, Tenant: tenant, FlowID: c.FlowID, NodeID: c.NodeID, Rule: ev.Rule, DeviceID: ev.DeviceID,
		Severity: ev.Severity, Status: ev.Status, Acknowledged: ev.Acknowledged, Value: ev.Value, Signals: ev.Signals,
		Count: max(ev.Count, 1), Since: ev.Since, Ts: ev.Ts, CreatedAt: c.At, UpdatedAt: c.At,
	}
}

// Health reports the outbox for GET /healthz components: its depth, the
// age of its oldest change and the last error of the records store. It
// never waits (it reads atomics), even while a change is being queued.
func (r *AlarmRecorder) Health() map[string]any {
	ob := r.outbox
	if ob == nil {
		return nil
	}
	depth := ob.depth.Load()
	st := map[string]any{"state": "ok", "depth": depth}
	if depth > 0 {
		st["state"] = "retrying"
		if oldest := ob.oldest.Load(); oldest != 0 {
			st["oldest"] = time.Unix(0, oldest).UTC()
		}
		if e, ok := ob.lastErr.Load().(string); ok {
			st["lastError"] = e
		}
	}
	return map[string]any{"alarmOutbox": st}
}

var (
	alarmOutboxDepthDesc = prometheus.NewDesc("sluice_alarm_outbox_depth",
		"Alarm changes waiting in the outbox for the records store.", nil, nil)
	alarmOutboxRetriesDesc = prometheus.NewDesc("sluice_alarm_outbox_retries_total",
		"Failed attempts to write a queued alarm change to the records store.", nil, nil)
	alarmOutboxReplayedDesc = prometheus.NewDesc("sluice_alarm_outbox_replayed_total",
		"Queued alarm changes written to the records store (or found written).", nil, nil)
	alarmOutboxDroppedDesc = prometheus.NewDesc("sluice_alarm_outbox_dropped_total",
		"Queued alarm changes the records store refused for good (invalid alarms).", nil, nil)
)

var _ prometheus.Collector = (*AlarmRecorder)(nil)

// Describe implements prometheus.Collector.
func (r *AlarmRecorder) Describe(ch chan<- *prometheus.Desc) {
	ch <- alarmOutboxDepthDesc
	ch <- alarmOutboxRetriesDesc
	ch <- alarmOutboxReplayedDesc
	ch <- alarmOutboxDroppedDesc
}

// Collect implements prometheus.Collector.
func (r *AlarmRecorder) Collect(ch chan<- prometheus.Metric) {
	var depth int64
	var retries, replayed, dropped uint64
	if ob := r.outbox; ob != nil {
		depth, retries, replayed, dropped = ob.depth.Load(), ob.retries.Load(), ob.replayed.Load(), ob.dropped.Load()
	}
	ch <- prometheus.MustNewConstMetric(alarmOutboxDepthDesc, prometheus.GaugeValue, float64(depth))
	ch <- prometheus.MustNewConstMetric(alarmOutboxRetriesDesc, prometheus.CounterValue, float64(retries))
	ch <- prometheus.MustNewConstMetric(alarmOutboxReplayedDesc, prometheus.CounterValue, float64(replayed))
	ch <- prometheus.MustNewConstMetric(alarmOutboxDroppedDesc, prometheus.CounterValue, float64(dropped))
}
