package mongostore

import (
	"context"
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
