package mongostore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/mongostore/mongotest"
	"github.com/sluicehq/sluice/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var dbSeq atomic.Int64

// opener opens stores on s, each on a database of its own.
func opener(s *mongotest.Server) func(t *testing.T) *Store {
	return func(t *testing.T) *Store {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		st, err := Open(ctx, Options{URI: s.URI(), Database: "records" + strconv.FormatInt(dbSeq.Add(1), 10)})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() {
			if err := st.Close(context.Background()); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return st
	}
}

func TestAlarmRepoConformance(t *testing.T) {
	open := opener(mongotest.Start(t))
	storetest.AlarmRepo(t, func(t *testing.T) store.AlarmRepo { return open(t).Alarms() })
}

func TestStatsRepoConformance(t *testing.T) {
	open := opener(mongotest.Start(t))
	storetest.StatsRepo(t, func(t *testing.T) store.StatsRepo { return open(t).Stats() })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestRecordsInMongoDB looks at the documents themselves: every record
// carries its tenant, names servers refuse are escaped and come back, a
// rerun of a statistics window keeps its id, and a store opened again
// finds what the first one wrote.
func TestRecordsInMongoDB(t *testing.T) {
	s := mongotest.Start(t)
	c := s.Client(t)
	st := opener(s)(t)
	ctx := ctxT(t)
	v := 3.5
	a := store.Alarm{ID: "a1", Tenant: "acme", Rule: "r", DeviceID: "d", Severity: "minor", Status: store.AlarmActive, Value: &v,
		Signals: map[string]any{"motor.rpm": 1500, "$x": "y", "50%": map[string]any{"a.b": []any{1, "z"}}}}
	got, err := st.Alarms().RecordAlarm(ctx, a, store.AlarmHistoryEntry{Kind: store.AlarmCreated})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"motor.rpm": 1500.0, "$x": "y", "50%": map[string]any{"a.b": []any{1.0, "z"}}}
	if !reflect.DeepEqual(got.Signals, want) {
		t.Errorf("signals = %#v, want %#v", got.Signals, want)
	}
	first, err := st.Stats().RecordStats(ctx, store.StatsRecord{Tenant: "acme", FlowID: "f", NodeID: "n", WindowFrom: 1, WindowTo: 2,
		Groups: []map[string]any{{"signal": "t.in", "avg": 1}}})
	if err != nil {
		t.Fatal(err)
	}
	again, err := st.Stats().RecordStats(ctx, store.StatsRecord{Tenant: "acme", FlowID: "f", NodeID: "n", WindowFrom: 1, WindowTo: 2,
		Groups: []map[string]any{{"signal": "t.in", "avg": 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || again.Groups[0]["avg"] != 2.0 {
		t.Errorf("rerun = %+v, first %+v", again, first)
	}

	db := c.Database(st.Database())
	for _, coll := range []string{AlarmsCollection, AlarmHistoryCollection, StatsCollection} {
		n, err := db.Collection(coll).CountDocuments(ctx, bson.D{{Key: "tenant", Value: "acme"}})
		if err != nil || n != 1 {
			t.Errorf("%s: %d documents of tenant acme (%v), want 1", coll, n, err)
		}
	}
	var raw bson.M
	if err := db.Collection(AlarmsCollection).FindOne(ctx, bson.D{}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	sig := raw["signals"].(bson.M)
	if sig["motor%2Erpm"] != 1500.0 || sig["%24x"] != "y" || sig["50%25"] == nil {
		t.Errorf("stored signals = %v", sig)
	}

	// Another store on the same database sees the records.
	other, err := Open(ctx, Options{URI: s.URI(), Database: st.Database()})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	b, err := other.Alarms().AlarmByID(ctx, "acme", "a1")
	if err != nil || !reflect.DeepEqual(b, got) {
		t.Errorf("reopened: %+v, %v; want %+v", b, err, got)
	}
}

// TestServerDownAndBack: while the server is down (killed), calls fail with an
// error (they never hang past their context); when it is back, the same
// store works again.
func TestServerDownAndBack(t *testing.T) {
	s := mongotest.Start(t)
	st := opener(s)(t)
	s.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if err := st.Ping(ctx); err == nil {
		t.Fatal("ping with the server down: no error")
	}
	if _, _, err := st.Alarms().ListAlarms(ctx, store.AlarmFilter{}); err == nil {
		t.Fatal("list with the server down: no error")
	}
	s.Start()
	if err := st.Ping(ctxT(t)); err != nil {
		t.Fatalf("ping after the restart: %v", err)
	}
	if _, err := st.Stats().RecordStats(ctxT(t), store.StatsRecord{NodeID: "n", WindowFrom: 1, WindowTo: 2}); err != nil {
		t.Fatalf("record after the restart: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, "no uri"},
		{Options{URI: "http://x"}, "uri"},
		{Options{URI: "mongodb://127.0.0.1:1", Database: "a.b"}, `database "a.b"`},
		{Options{URI: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200"}, "ping"},
	} {
		st, err := Open(ctx, tc.o)
		if err == nil {
			_ = st.Close(context.Background())
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%+v) = %v, want %q", tc.o, err, tc.want)
		}
	}
}

// TestAlarmHistoryRetry: a change whose alarm was written but whose history
// entry was not (the connection lost in between) is retried: its history
// entry comes with the number the alarm counted for it, with no gap, also
// when an operator acted in between; retrying a change that was written
// whole adds nothing.
func TestAlarmHistoryRetry(t *testing.T) {
	st := opener(mongotest.Start(t))(t)
	repo := st.Alarms().(*alarmRepo)
	ctx := ctxT(t)
	var fail atomic.Bool
	repo.failHistory = func() error {
		if fail.CompareAndSwap(true, false) {
			return errors.New("connection lost")
		}
		return nil
	}
	change := func(count int, status string) store.Alarm {
		v := float64(80 + count)
		return store.Alarm{ID: "a1", Rule: "hot", DeviceID: "d", Severity: "major", Status: status, Value: &v, Count: count, Since: 1000, Ts: int64(1000 + count)}
	}
	record := func(a store.Alarm, kind, reason string, lost bool) {
		t.Helper()
		fail.Store(lost)
		_, err := repo.RecordAlarm(ctx, a, store.AlarmHistoryEntry{Kind: kind, Reason: reason})
		if lost != (err != nil) {
			t.Fatalf("record %s #%d (history lost: %v): %v", kind, a.Count, lost, err)
		}
	}
	history := func(want ...string) {
		t.Helper()
		hs, err := repo.AlarmHistory(ctx, "", "a1")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range hs {
			got = append(got, fmt.Sprintf("%d:%s/%s/%d", h.Seq, h.Kind, h.Reason, h.Count))
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("history:\n got %v\nwant %v", got, want)
		}
	}

	// A new alarm.
	record(change(1, store.AlarmActive), store.AlarmCreated, "condition", true)
	if a, err := repo.AlarmByID(ctx, "", "a1"); err != nil || a.Count != 1 {
		t.Fatalf("the alarm after its history was lost: %+v %v", a, err)
	}
	history()
	record(change(1, store.AlarmActive), store.AlarmCreated, "condition", false)
	history("1:created/condition/1")

	// An update, retried.
	record(change(2, store.AlarmActive), store.AlarmUpdated, "count", true)
	history("1:created/condition/1")
	record(change(2, store.AlarmActive), store.AlarmUpdated, "count", false)
	history("1:created/condition/1", "2:updated/count/2")

	// An update whose retry comes after an operator's acknowledgement.
	record(change(3, store.AlarmActive), store.AlarmUpdated, "count", true)
	if _, changed, err := repo.AckAlarm(ctx, "", "a1", "ada", ""); err != nil || !changed {
		t.Fatalf("ack: %v %v", changed, err)
	}
	record(change(3, store.AlarmActive), store.AlarmUpdated, "count", false)
	history("1:created/condition/1", "2:updated/count/2", "3:updated/count/3", "4:acknowledged/manual/3")

	// A retry of a change written whole adds nothing; the next change is
	// number 5.
	record(change(3, store.AlarmActive), store.AlarmUpdated, "count", false)
	record(change(4, store.AlarmCleared), store.AlarmCleared, "condition", false)
	history("1:created/condition/1", "2:updated/count/2", "3:updated/count/3", "4:acknowledged/manual/3", "5:cleared/condition/4")
	a, err := repo.AlarmByID(ctx, "", "a1")
	if err != nil || a.Status != store.AlarmCleared || a.Count != 4 || !a.Acknowledged {
		t.Fatalf("the alarm at the end: %+v %v", a, err)
	}
}
