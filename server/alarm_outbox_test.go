package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/alarm"
	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/mongostore"
	"github.com/sluicehq/sluice/store/mongostore/mongotest"
)

// openMongoRecords opens the records store on FerretDB srv, with a short
// server selection so that an outage shows quickly.
func openMongoRecords(t *testing.T, srv *mongotest.Server) *mongostore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := mongostore.Open(ctx, mongostore.Options{URI: srv.URI() + "?serverSelectionTimeoutMS=300&connectTimeoutMS=300",
		Database: "records", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("open the records store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close(context.Background()) })
	return st
}

// openSystemDB opens the system database (SQLite) in dir.
func openSystemDB(t *testing.T, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatalf("open the system database: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

var fastRetry = AlarmRecorderOptions{DirectTimeout: time.Second, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond}

func newDurable(t *testing.T, repo store.AlarmRepo, kv store.KVRepo) *AlarmRecorder {
	t.Helper()
	rec, err := NewDurableAlarmRecorder(context.Background(), repo, kv, slog.New(slog.DiscardHandler), fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rec.Close() })
	return rec
}

// alarmChange is change number n of a test alarm: created, then updates
// (count up), then cleared when last.
func alarmChange(id string, n int, last bool) alarm.Change {
	kind, reason, status := alarm.ChangeUpdated, "count", store.AlarmActive
	switch {
	case n == 1:
		kind, reason = alarm.ChangeCreated, "condition"
	case last:
		kind, reason, status = alarm.ChangeCleared, "condition", store.AlarmCleared
	}
	v := float64(80 + n)
	return alarm.Change{Kind: kind, Reason: reason, Tenant: "acme", FlowID: "f", NodeID: "n", At: time.Now().UTC(),
		Event: alarm.Event{AlarmID: id, Rule: "hot", DeviceID: "dev-" + id, Signals: map[string]any{"t": v}, Value: &v,
			Severity: "major", Status: status, Since: 1000, Ts: int64(1000 + n), Count: n}}
}

// waitDrained waits until rec's outbox is empty.
func waitDrained(t *testing.T, rec *AlarmRecorder) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for rec.OutboxDepth() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the outbox still holds %d changes after 30s: %v", rec.OutboxDepth(), rec.Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkHistories checks that each alarm's history in repo is exactly want
// (kind/reason/count, in order) and that the alarm's status is status.
func checkHistories(t *testing.T, repo store.AlarmRepo, want map[string][]string, status map[string]string) {
	t.Helper()
	for id, w := range want {
		h, err := repo.AlarmHistory(context.Background(), "acme", id)
		if err != nil {
			t.Fatalf("history of %s: %v", id, err)
		}
		var got []string
		for _, e := range h {
			got = append(got, fmt.Sprintf("%s/%s/%d", e.Kind, e.Reason, e.Count))
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("history of %s:\n got %v\nwant %v", id, got, w)
		}
		a, err := repo.AlarmByID(context.Background(), "acme", id)
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != status[id] {
			t.Errorf("alarm %s is %s, want %s", id, a.Status, status[id])
		}
	}
}

func historyOf(cs []alarm.Change) (map[string][]string, map[string]string) {
	want, status := map[string][]string{}, map[string]string{}
	for _, c := range cs {
		want[c.Event.AlarmID] = append(want[c.Event.AlarmID], fmt.Sprintf("%s/%s/%d", c.Kind, c.Reason, c.Event.Count))
		status[c.Event.AlarmID] = c.Event.Status
	}
	return want, status
}

// TestAlarmOutboxThroughMongoDBOutage records alarm changes while the
// records store (FerretDB) is killed: every change is accepted (queued in
// the outbox) and published at once, later ones without waiting for the
// dead server; once FerretDB is back, every change and history entry is
// there exactly once and in order.
func TestAlarmOutboxThroughMongoDBOutage(t *testing.T) {
	srv := mongotest.Start(t)
	records := openMongoRecords(t, srv)
	db := openSystemDB(t, t.TempDir())
	rec := newDurable(t, records.Alarms(), db.KV())
	sub := rec.subscribe("acme", 1024)
	defer sub.close()

	var all []alarm.Change
	record := func(c alarm.Change) time.Duration {
		t.Helper()
		start := time.Now()
		if err := rec.RecordAlarm(context.Background(), c); err != nil {
			t.Fatalf("record %s #%d: %v", c.Event.AlarmID, c.Event.Count, err)
		}
		all = append(all, c)
		return time.Since(start)
	}
	// Up: straight to MongoDB.
	record(alarmChange("a", 1, false))
	record(alarmChange("a", 2, false))
	if c := <-sub.ch; c.Queued || c.Alarm.ID != "a" || c.Change != alarm.ChangeCreated {
		t.Fatalf("published while up: %+v", c)
	}
	<-sub.ch
	if rec.OutboxDepth() != 0 {
		t.Fatalf("outbox depth %d while up", rec.OutboxDepth())
	}

	srv.Kill()
	// The first change waits for the dead server (at most DirectTimeout);
	// the ones behind it go straight to the outbox.
	record(alarmChange("a", 3, false))
	var slow []string
	for i, c := range []alarm.Change{alarmChange("b", 1, false), alarmChange("a", 4, true), alarmChange("b", 2, false),
		alarmChange("c", 1, false), alarmChange("b", 3, true), alarmChange("c", 2, false)} {
		if d := record(c); d >= fastRetry.DirectTimeout/2 {
			slow = append(slow, fmt.Sprintf("#%d %v", i, d))
		}
	}
	if len(slow) > 0 {
		t.Errorf("changes behind a queued one waited for the records store: %v", slow)
	}
	if d := rec.OutboxDepth(); d != 7 {
		t.Fatalf("outbox depth %d during the outage, want 7", d)
	}
	h := rec.Health()["alarmOutbox"].(map[string]any)
	if h["state"] != "retrying" || h["depth"] != int64(7) || h["lastError"] == nil {
		t.Fatalf("health during the outage: %v", h)
	}
	// Published at once, marked queued, in order.
	var live []string
	for range 7 {
		c := <-sub.ch
		if !c.Queued {
			t.Fatalf("not marked queued: %+v", c)
		}
		live = append(live, fmt.Sprintf("%s:%s:%s", c.Alarm.ID, c.Change, c.Alarm.Status))
	}
	if want := "a:updated:active b:created:active a:cleared:cleared b:updated:active c:created:active b:cleared:cleared c:updated:active"; strings.Join(live, " ") != want {
		t.Fatalf("published %v\nwant %s", live, want)
	}

	srv.Start()
	waitDrained(t, rec)
	want, status := historyOf(all)
	checkHistories(t, records.Alarms(), want, status)
	if h := rec.Health()["alarmOutbox"].(map[string]any); h["state"] != "ok" || h["depth"] != int64(0) {
		t.Fatalf("health after the outage: %v", h)
	}
	// The drain does not publish again.
	select {
	case c := <-sub.ch:
		t.Fatalf("published twice: %+v", c)
	default:
	}
	// Up again: straight to MongoDB.
	record(alarmChange("d", 1, false))
	if rec.OutboxDepth() != 0 {
		t.Fatal("a change went to the outbox with the records store up")
	}
}

// TestAlarmOutboxReplayedAfterRestart stops a recorder whose outbox holds
// changes (FerretDB down), and starts a new one over the same system
// database once FerretDB is back: it replays the outbox. A change an
// earlier process wrote without removing it from the outbox (it stopped in
// between) is not written twice.
func TestAlarmOutboxReplayedAfterRestart(t *testing.T) {
	srv := mongotest.Start(t)
	records := openMongoRecords(t, srv)
	dir := t.TempDir()
	db := openSystemDB(t, dir)
	repo := records.Alarms()

	// Written to MongoDB and still in the outbox: as if the process had
	// stopped between the write and the removal.
	written := alarmChange("w", 1, false)
	rec0 := NewAlarmRecorder(repo, nil)
	if err := rec0.RecordAlarm(context.Background(), written); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(outboxEntry{Change: written})
	if err := db.KV().KVPut(context.Background(), store.KV{Key: outboxKey(7), Value: b}); err != nil {
		t.Fatal(err)
	}
	all := []alarm.Change{written}

	srv.Kill()
	rec1, err := NewDurableAlarmRecorder(context.Background(), repo, db.KV(), nil, fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []alarm.Change{alarmChange("w", 2, true), alarmChange("x", 1, false), alarmChange("x", 2, false)} {
		if err := rec1.RecordAlarm(context.Background(), c); err != nil {
			t.Fatal(err)
		}
		all = append(all, c)
	}
	if err := rec1.Close(); err != nil {
		t.Fatal(err)
	}
	// Recorded after Close: queued too (behind the others), replayed by
	// the next process.
	late := alarmChange("x", 3, true)
	if err := rec1.RecordAlarm(context.Background(), late); err != nil {
		t.Fatal(err)
	}
	all = append(all, late)
	if d := rec1.OutboxDepth(); d != 5 {
		t.Fatalf("outbox depth %d at the stop, want 5", d)
	}

	srv.Start()
	db2 := openSystemDB(t, dir) // the system database as the next process opens it
	rec2 := newDurable(t, repo, db2.KV())
	waitDrained(t, rec2)
	want, status := historyOf(all)
	checkHistories(t, repo, want, status)
	if kvs, err := db2.KV().KVList(context.Background(), alarmOutboxPrefix); err != nil || len(kvs) != 0 {
		t.Fatalf("outbox after the replay: %v %v", kvs, err)
	}
}

// TestAlarmOutboxRefusesInvalidChanges: a change the records store refuses
// for good is an error for the node, not a queued change.
func TestAlarmOutboxRefusesInvalidChanges(t *testing.T) {
	db := openSystemDB(t, t.TempDir())
	rec := newDurable(t, db.Alarms(), db.KV())
	bad := alarmChange("bad", 1, false)
	bad.Event.Severity = "apocalyptic"
	if err := rec.RecordAlarm(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "invalid alarm") {
		t.Fatalf("invalid change: %v", err)
	}
	if rec.OutboxDepth() != 0 {
		t.Fatal("an invalid change was queued")
	}
}

// TestAlarmNodeThroughMongoDBOutage runs a deployed threshold alarm whose
// records go to FerretDB through a durable recorder: the alarm raised and
// cleared while FerretDB is down is cleared in the records once it is
// back, with its whole history; the metrics show the outbox.
func TestAlarmNodeThroughMongoDBOutage(t *testing.T) {
	srv := mongotest.Start(t)
	records := openMongoRecords(t, srv)
	e := newEnv(t)
	rec := newDurable(t, records.Alarms(), e.db.KV())
	e.mgr.Resources().Provide(alarm.RecorderKey, rec)
	e.srv.reg.MustRegister(rec)
	deployAlarmFlow(e, "boiler")

	e.sample("boiler", "b1", 0, 90)
	srv.Kill()
	e.sample("boiler", "b1", time.Second, 20) // cleared: the first change waits for the dead server
	start := time.Now()
	e.sample("boiler", "b2", 2*time.Second, 95)
	e.sample("boiler", "b2", 3*time.Second, 20)
	if d := time.Since(start); d >= fastRetry.DirectTimeout {
		t.Errorf("two samples behind a queued change took %v", d)
	}
	if d := rec.OutboxDepth(); d != 3 {
		t.Fatalf("outbox depth %d, want 3", d)
	}
	status, _, body := e.do(http.MethodGet, "/metrics", "", nil)
	if status != http.StatusOK || !strings.Contains(string(body), "sluice_alarm_outbox_depth 3") {
		t.Fatalf("metrics: %d\n%s", status, body)
	}

	srv.Start()
	waitDrained(t, rec)
	page, _, err := records.Alarms().ListAlarms(context.Background(), store.AlarmFilter{Tenant: store.DefaultTenant})
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 {
		t.Fatalf("alarms: %+v", page)
	}
	for _, a := range page {
		h, err := records.Alarms().AlarmHistory(context.Background(), store.DefaultTenant, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, x := range h {
			kinds = append(kinds, x.Kind)
		}
		if a.Status != store.AlarmCleared || strings.Join(kinds, ",") != "created,cleared" {
			t.Errorf("alarm of %s: %s, history %v", a.DeviceID, a.Status, kinds)
		}
	}
}

// switchRepo is a real alarm repository that can be taken down on demand:
// a write or a history read that starts while it is down hangs until its
// context ends, then fails (lag later: a slow driver); one that starts
// while it is up goes through.
type switchRepo struct {
	store.AlarmRepo
	down atomic.Bool
	lag  time.Duration
	// hung receives (without blocking) when a call starts hanging.
	hung chan struct{}
}

func newSwitchRepo(repo store.AlarmRepo) *switchRepo {
	return &switchRepo{AlarmRepo: repo, hung: make(chan struct{}, 1)}
}

func (r *switchRepo) hang(ctx context.Context) error {
	select {
	case r.hung <- struct{}{}:
	default:
	}
	<-ctx.Done()
	if r.lag > 0 {
		time.Sleep(r.lag)
	}
	return fmt.Errorf("records store down: %w", ctx.Err())
}

func (r *switchRepo) RecordAlarm(ctx context.Context, a store.Alarm, h store.AlarmHistoryEntry) (store.Alarm, error) {
	if r.down.Load() {
		return store.Alarm{}, r.hang(ctx)
	}
	return r.AlarmRepo.RecordAlarm(ctx, a, h)
}

func (r *switchRepo) AlarmHistory(ctx context.Context, tenant, id string) ([]store.AlarmHistoryEntry, error) {
	if r.down.Load() {
		return nil, r.hang(ctx)
	}
	return r.AlarmRepo.AlarmHistory(ctx, tenant, id)
}

// waitHung waits until a call to repo hangs.
func waitHung(t *testing.T, repo *switchRepo) {
	t.Helper()
	select {
	case <-repo.hung:
	case <-time.After(10 * time.Second):
		t.Fatal("no call reached the records store")
	}
}

// TestAlarmOutboxKeepsTheOrderOfAnAlarm: change 2 of an alarm waits for
// the records store, which is down, and goes to the outbox; change 3 of
// the same alarm (a timer tick racing a sample), made meanwhile and with
// the store back up, must not overtake it: the history is 1, 2, 3 and the
// alarm ends as change 3 left it.
func TestAlarmOutboxKeepsTheOrderOfAnAlarm(t *testing.T) {
	db := openSystemDB(t, t.TempDir())
	repo := newSwitchRepo(db.Alarms())
	rec, err := NewDurableAlarmRecorder(context.Background(), repo, db.KV(), slog.New(slog.DiscardHandler),
		AlarmRecorderOptions{DirectTimeout: 300 * time.Millisecond, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rec.Close() })
	all := []alarm.Change{alarmChange("a", 1, false), alarmChange("a", 2, false), alarmChange("a", 3, true)}
	if err := rec.RecordAlarm(context.Background(), all[0]); err != nil {
		t.Fatal(err)
	}
	repo.down.Store(true)
	second := make(chan error, 1)
	go func() { second <- rec.RecordAlarm(context.Background(), all[1]) }()
	waitHung(t, repo)
	repo.down.Store(false)
	if err := rec.RecordAlarm(context.Background(), all[2]); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	waitDrained(t, rec)
	want, status := historyOf(all)
	checkHistories(t, db.Alarms(), want, status)
}

// TestShutdownStopsTheOutboxDrain: a server whose alarm recorder replays
// an outbox left by an earlier process, into a records store that is
// down, shuts down promptly: the drain has ended when Shutdown returns
// (before the system database closed under it) and the outbox is intact
// for the next start.
func TestShutdownStopsTheOutboxDrain(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	db, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	queued := []alarm.Change{alarmChange("q", 1, false), alarmChange("q", 2, false), alarmChange("r", 1, false)}
	for i, c := range queued {
		b, _ := json.Marshal(outboxEntry{Change: c})
		if err := db.KV().KVPut(context.Background(), store.KV{Key: outboxKey(uint64(10 + i)), Value: b}); err != nil {
			t.Fatal(err)
		}
	}
	repo := newSwitchRepo(db.Alarms())
	repo.down.Store(true)
	repo.lag = 200 * time.Millisecond
	log := slog.New(slog.DiscardHandler)
	rec, err := NewDurableAlarmRecorder(context.Background(), repo, db.KV(), log, fastRetry)
	if err != nil {
		t.Fatal(err)
	}
	waitHung(t, repo) // the drain runs from the start
	mgr := engine.NewManager(engine.Options{Logger: log, DeadLetters: NewDeadLetterSink(db.DeadLetters(), log)})
	mgr.Resources().Provide(alarm.RecorderKey, rec)
	srv := New(Config{}, Deps{DB: db, Engine: mgr, Logger: log})

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	ob := rec.outbox
	ob.mu.Lock()
	done, running := ob.done, ob.running
	ob.mu.Unlock()
	select {
	case <-done:
	default:
		t.Fatal("the outbox drain still runs after Shutdown returned")
	}
	if running {
		t.Fatal("the outbox drain is marked running after Shutdown")
	}

	db2, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = db2.Close() }()
	kvs, err := db2.KV().KVList(context.Background(), alarmOutboxPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != len(queued) {
		t.Fatalf("outbox after the shutdown: %d changes, want %d", len(kvs), len(queued))
	}
	for i, kv := range kvs {
		var e outboxEntry
		if err := json.Unmarshal(kv.Value, &e); err != nil || kv.Key != outboxKey(uint64(10+i)) || e.Change.Event.AlarmID != queued[i].Event.AlarmID {
			t.Fatalf("outbox entry %d after the shutdown: %s %s (%v)", i, kv.Key, kv.Value, err)
		}
	}
}

// BenchmarkAlarmRecorderDirect measures the fast path: changes of 16
// alarms, from parallel goroutines, straight to the records store
// (SQLite).
func BenchmarkAlarmRecorderDirect(b *testing.B) {
	db, err := store.Open(context.Background(), b.TempDir(), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = db.Close() }()
	rec, err := NewDurableAlarmRecorder(context.Background(), db.Alarms(), db.KV(), nil, AlarmRecorderOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = rec.Close() }()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(n.Add(1))
			if err := rec.RecordAlarm(context.Background(), alarmChange(fmt.Sprint("b", i%16), i/16+1, false)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if rec.OutboxDepth() != 0 {
		b.Fatal("changes went to the outbox")
	}
}

// gatedKV is the system database's key-value table whose writes wait, while
// gate is set, until it is closed (a slow disk).
type gatedKV struct {
	store.KVRepo
	gate    atomic.Pointer[chan struct{}]
	waiting chan struct{}
}

func (k *gatedKV) KVPut(ctx context.Context, kv store.KV) error {
	if g := k.gate.Load(); g != nil {
		k.waiting <- struct{}{}
		select {
		case <-*g:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return k.KVRepo.KVPut(ctx, kv)
}

// TestAlarmOutboxHealthDoesNotWait: /healthz's view of the outbox answers
// at once while a change is being written to the outbox (slowly).
func TestAlarmOutboxHealthDoesNotWait(t *testing.T) {
	db := openSystemDB(t, t.TempDir())
	repo := newSwitchRepo(db.Alarms())
	kv := &gatedKV{KVRepo: db.KV(), waiting: make(chan struct{}, 1)}
	rec, err := NewDurableAlarmRecorder(context.Background(), repo, kv, nil,
		AlarmRecorderOptions{DirectTimeout: 50 * time.Millisecond, RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rec.Close() })
	gate := make(chan struct{})
	kv.gate.Store(&gate)
	repo.down.Store(true)
	recorded := make(chan error, 1)
	go func() { recorded <- rec.RecordAlarm(context.Background(), alarmChange("h", 1, false)) }()
	select {
	case <-kv.waiting: // the change is being queued, under the outbox's lock
	case <-time.After(10 * time.Second):
		t.Fatal("the change never reached the outbox")
	}
	answered := make(chan map[string]any, 1)
	go func() { answered <- rec.Health() }()
	waited := false
	select {
	case h := <-answered:
		if st := h["alarmOutbox"].(map[string]any); st["state"] != "ok" || st["depth"] != int64(0) {
			t.Errorf("health while queueing: %v", st)
		}
	case <-time.After(2 * time.Second):
		t.Error("Health waited for the outbox write")
		waited = true
	}
	kv.gate.Store(nil)
	close(gate)
	if err := <-recorded; err != nil {
		t.Fatal(err)
	}
	if waited {
		<-answered
	}
	if h := rec.Health()["alarmOutbox"].(map[string]any); h["state"] != "retrying" || h["depth"] != int64(1) || h["oldest"] == nil || h["lastError"] == nil {
		t.Fatalf("health with a queued change: %v", h)
	}
	repo.down.Store(false)
	waitDrained(t, rec)
	checkHistories(t, db.Alarms(), map[string][]string{"h": {"created/condition/1"}}, map[string]string{"h": store.AlarmActive})
}
