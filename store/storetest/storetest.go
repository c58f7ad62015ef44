// Package storetest holds conformance suites for the repositories of
// system records that have more than one implementation (the embedded
// SQLite store and MongoDB): each suite checks what the interface's
// documentation promises, so that every implementation behaves alike.
// Run a suite from an implementation's tests with a function that opens
// an empty repository.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/store"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func noError(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func errorIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// recent says whether at is a time the store just took (not zero, not in
// the future, not long ago).
func recent(t *testing.T, what string, at time.Time, since time.Time) {
	t.Helper()
	if at.IsZero() || at.Before(since.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
		t.Fatalf("%s: %v is not the time of the change (it began at %v)", what, at, since)
	}
}

func ptr(v float64) *float64 { return &v }

func alarm(id, device string, since int64) store.Alarm {
	return store.Alarm{ID: id, FlowID: "boiler", NodeID: "alarm1", Rule: "overheat", DeviceID: device, Severity: "major",
		Status: store.AlarmActive, Value: ptr(81.5), Signals: map[string]any{"temperature": 81.5, "running": true, "mode": "eco"},
		Count: 1, Since: since, Ts: since, CommandKey: "default/boiler/alarm1/cmd/overheat/" + device}
}

func steps(hs []store.AlarmHistoryEntry) []string {
	out := []string{}
	for _, h := range hs {
		out = append(out, h.Kind+"/"+h.Reason+"/"+h.Status)
	}
	return out
}

// AlarmRepo checks an store.AlarmRepo against the interface's promises.
// open returns an empty repository (each subtest opens its own).
func AlarmRepo(t *testing.T, open func(t *testing.T) store.AlarmRepo) {
	t.Run("lifecycle", func(t *testing.T) {
		repo, ctx, began := open(t), ctxT(t), time.Now()
		a, err := repo.RecordAlarm(ctx, alarm("a1", "boiler-7", 1000), store.AlarmHistoryEntry{Kind: store.AlarmCreated, Reason: "condition"})
		noError(t, "create", err)
		equal(t, "tenant of an alarm without one", a.Tenant, store.DefaultTenant)
		equal(t, "id", a.ID, "a1")
		equal(t, "flow, node, rule, device", []string{a.FlowID, a.NodeID, a.Rule, a.DeviceID}, []string{"boiler", "alarm1", "overheat", "boiler-7"})
		equal(t, "status", a.Status, store.AlarmActive)
		equal(t, "acknowledged", a.Acknowledged, false)
		equal(t, "value", a.Value, ptr(81.5))
		equal(t, "signals", a.Signals, map[string]any{"temperature": 81.5, "running": true, "mode": "eco"})
		equal(t, "count, since, ts", []int64{int64(a.Count), a.Since, a.Ts}, []int64{1, 1000, 1000})
		equal(t, "command key", a.CommandKey, "default/boiler/alarm1/cmd/overheat/boiler-7")
		recent(t, "created at", a.CreatedAt, began)
		equal(t, "updated at of a new alarm", a.UpdatedAt, a.CreatedAt)
		got, err := repo.AlarmByID(ctx, "", "a1")
		noError(t, "by id", err)
		equal(t, "the alarm by id", got, a)

		// The node escalates it.
		up := alarm("a1", "boiler-7", 1000)
		up.Severity, up.Count, up.Ts, up.Value, up.Signals = "critical", 2, 2000, ptr(90), map[string]any{"temperature": 90.0}
		a, err = repo.RecordAlarm(ctx, up, store.AlarmHistoryEntry{Kind: store.AlarmUpdated, Reason: "severity"})
		noError(t, "update", err)
		equal(t, "severity", a.Severity, "critical")
		equal(t, "count, since, ts after an update", []int64{int64(a.Count), a.Since, a.Ts}, []int64{2, 1000, 2000})
		equal(t, "value after an update", a.Value, ptr(90))
		equal(t, "signals after an update", a.Signals, map[string]any{"temperature": 90.0})
		equal(t, "created at after an update", a.CreatedAt, got.CreatedAt)
		if a.UpdatedAt.Before(a.CreatedAt) {
			t.Fatalf("updated at %v before created at %v", a.UpdatedAt, a.CreatedAt)
		}

		// An operator acknowledges it, twice.
		a, changed, err := repo.AckAlarm(ctx, "", "a1", "ada", "on it")
		noError(t, "ack", err)
		equal(t, "changed by the first ack", changed, true)
		equal(t, "acknowledged", a.Acknowledged, true)
		equal(t, "acked by, comment", []string{a.AckedBy, a.AckComment}, []string{"ada", "on it"})
		recent(t, "acked at", a.AckedAt, began)
		equal(t, "status after an ack", a.Status, store.AlarmActive)
		a, changed, err = repo.AckAlarm(ctx, "", "a1", "bob", "me too")
		noError(t, "second ack", err)
		equal(t, "changed by the second ack", changed, false)
		equal(t, "acked by after the second ack", a.AckedBy, "ada")

		// The condition clears it.
		cl := alarm("a1", "boiler-7", 1000)
		cl.Status, cl.Severity, cl.Count, cl.Ts = store.AlarmCleared, "critical", 2, 3000
		a, err = repo.RecordAlarm(ctx, cl, store.AlarmHistoryEntry{Kind: store.AlarmCleared, Reason: "condition"})
		noError(t, "clear by the condition", err)
		equal(t, "status", a.Status, store.AlarmCleared)
		equal(t, "acknowledged stays (the two are independent)", a.Acknowledged, true)
		equal(t, "cleared by", a.ClearedBy, "")
		recent(t, "cleared at", a.ClearedAt, began)
		equal(t, "ts", a.Ts, int64(3000))
		// Clearing it again is no change.
		_, changed, err = repo.ClearAlarm(ctx, "", "a1", "bob", "")
		noError(t, "clear a cleared alarm", err)
		equal(t, "changed by clearing a cleared alarm", changed, false)

		hs, err := repo.AlarmHistory(ctx, "", "a1")
		noError(t, "history", err)
		equal(t, "history", steps(hs), []string{"created/condition/active", "updated/severity/active", "acknowledged/manual/active", "cleared/condition/cleared"})
		equal(t, "who acknowledged", []string{hs[2].By, hs[2].Comment}, []string{"ada", "on it"})
		equal(t, "severity in the history", []string{hs[0].Severity, hs[1].Severity}, []string{"major", "critical"})
		equal(t, "acknowledged in the history", []bool{hs[1].Acknowledged, hs[2].Acknowledged, hs[3].Acknowledged}, []bool{false, true, true})
		equal(t, "count and ts in the history", []int64{int64(hs[1].Count), hs[1].Ts, hs[3].Ts}, []int64{2, 2000, 3000})
		equal(t, "value in the history", hs[1].Value, ptr(90))
		for i, h := range hs {
			recent(t, fmt.Sprintf("history entry %d at", i), h.At, began)
			if i > 0 && (h.Seq <= hs[i-1].Seq || h.At.Before(hs[i-1].At)) {
				t.Fatalf("history entry %d (seq %d, at %v) is not after entry %d (seq %d, at %v)", i, h.Seq, h.At, i-1, hs[i-1].Seq, hs[i-1].At)
			}
		}
	})

	t.Run("an operator's clear stays", func(t *testing.T) {
		repo, ctx, began := open(t), ctxT(t), time.Now()
		_, err := repo.RecordAlarm(ctx, alarm("a1", "d", 1000), store.AlarmHistoryEntry{Kind: store.AlarmCreated})
		noError(t, "create", err)
		a, changed, err := repo.ClearAlarm(ctx, "", "a1", "ada", "sensor swapped")
		noError(t, "clear", err)
		equal(t, "changed", changed, true)
		equal(t, "status", a.Status, store.AlarmCleared)
		equal(t, "cleared by, comment", []string{a.ClearedBy, a.ClearComment}, []string{"ada", "sensor swapped"})
		recent(t, "cleared at", a.ClearedAt, began)
		clearedAt := a.ClearedAt
		// The node, not yet aware, reports a repeat: the count moves, the
		// status stays cleared.
		up := alarm("a1", "d", 1000)
		up.Count, up.Severity = 2, "critical"
		a, err = repo.RecordAlarm(ctx, up, store.AlarmHistoryEntry{Kind: store.AlarmUpdated, Reason: "count"})
		noError(t, "update after the clear", err)
		equal(t, "status after the node's update", a.Status, store.AlarmCleared)
		equal(t, "count, severity", []any{a.Count, a.Severity}, []any{2, "critical"})
		equal(t, "cleared by after the node's update", a.ClearedBy, "ada")
		equal(t, "cleared at after the node's update", a.ClearedAt, clearedAt)
		// Acknowledging a cleared alarm works.
		a, changed, err = repo.AckAlarm(ctx, "", "a1", "bob", "")
		noError(t, "ack after the clear", err)
		equal(t, "changed", changed, true)
		equal(t, "status, acknowledged", []any{a.Status, a.Acknowledged}, []any{store.AlarmCleared, true})
		hs, err := repo.AlarmHistory(ctx, "", "a1")
		noError(t, "history", err)
		equal(t, "history", steps(hs), []string{"created//active", "cleared/manual/cleared", "updated/count/cleared", "acknowledged/manual/cleared"})
		equal(t, "who cleared", []string{hs[1].By, hs[1].Comment}, []string{"ada", "sensor swapped"})
	})

	t.Run("a history entry without a kind is an update", func(t *testing.T) {
		repo, ctx := open(t), ctxT(t)
		_, err := repo.RecordAlarm(ctx, alarm("a1", "d", 1000), store.AlarmHistoryEntry{Kind: store.AlarmCreated})
		noError(t, "create", err)
		_, err = repo.RecordAlarm(ctx, alarm("a1", "d", 1000), store.AlarmHistoryEntry{})
		noError(t, "update", err)
		hs, err := repo.AlarmHistory(ctx, "", "a1")
		noError(t, "history", err)
		equal(t, "history", steps(hs), []string{"created//active", "updated//active"})
	})

	t.Run("an alarm without a value or signals", func(t *testing.T) {
		repo, ctx := open(t), ctxT(t)
		in := alarm("a1", "d", 1000)
		in.Value, in.Signals = nil, nil
		a, err := repo.RecordAlarm(ctx, in, store.AlarmHistoryEntry{Kind: store.AlarmCreated})
		noError(t, "create", err)
		if a.Value != nil || len(a.Signals) != 0 {
			t.Fatalf("value %v, signals %v: want none", a.Value, a.Signals)
		}
		hs, err := repo.AlarmHistory(ctx, "", "a1")
		noError(t, "history", err)
		if len(hs) != 1 || hs[0].Value != nil {
			t.Fatalf("history %+v: want one entry without a value", hs)
		}
	})

	t.Run("a new alarm that is cleared already", func(t *testing.T) {
		repo, ctx, began := open(t), ctxT(t), time.Now()
		in := alarm("a1", "d", 1000)
		in.Status = store.AlarmCleared
		a, err := repo.RecordAlarm(ctx, in, store.AlarmHistoryEntry{Kind: store.AlarmCreated})
		noError(t, "create", err)
		equal(t, "status", a.Status, store.AlarmCleared)
		recent(t, "cleared at", a.ClearedAt, began)
	})

	t.Run("missing alarms", func(t *testing.T) {
		repo, ctx := open(t), ctxT(t)
		_, err := repo.AlarmByID(ctx, "", "nope")
		errorIs(t, "by id", err, store.ErrNotFound)
		_, err = repo.AlarmHistory(ctx, "", "nope")
		errorIs(t, "history", err, store.ErrNotFound)
		_, _, err = repo.AckAlarm(ctx, "", "nope", "ada", "")
		errorIs(t, "ack", err, store.ErrNotFound)
		_, _, err = repo.ClearAlarm(ctx, "", "nope", "ada", "")
		errorIs(t, "clear", err, store.ErrNotFound)
	})

	t.Run("bad alarms are refused", func(t *testing.T) {
		repo, ctx := open(t), ctxT(t)
		for _, a := range []store.Alarm{
			{},
			{ID: "x", Rule: "r", DeviceID: "d", Severity: "major", Status: "open"},
			{ID: "x", Rule: "r", DeviceID: "d", Severity: "fatal", Status: store.AlarmActive},
			{ID: "x", DeviceID: "d", Severity: "major", Status: store.AlarmActive},
			{ID: "x", Rule: "r", Severity: "major", Status: store.AlarmActive},
		} {
			_, err := repo.RecordAlarm(ctx, a, store.AlarmHistoryEntry{Kind: store.AlarmCreated})
			errorIs(t, fmt.Sprintf("record %+v", a), err, store.ErrInvalidAlarm)
		}
		_, err := repo.AlarmByID(ctx, "", "x")
		errorIs(t, "a refused alarm", err, store.ErrNotFound)
	})

	t.Run("tenants", func(t *testing.T) {
		repo, ctx := open(t), ctxT(t)
		for _, tenant := range []string{"acme", "globex"} {
			a := alarm("a1", "d-"+tenant, 1000)
			a.Tenant = tenant
			got, err := repo.RecordAlarm(ctx, a, store.AlarmHistoryEntry{Kind: store.AlarmCreated})
			noError(t, "create in "+tenant, err)
			equal(t, "tenant", got.Tenant, tenant)
		}
		_, changed, err := repo.AckAlarm(ctx, "acme", "a1", "ada", "")
		noError(t, "ack in acme", err)
		equal(t, "changed", changed, true)
		g, err := repo.AlarmByID(ctx, "globex", "a1")
		noError(t, "by id in globex", err)
		equal(t, "globex's alarm", []any{g.DeviceID, g.Acknowledged}, []any{"d-globex", false})
		_, err = repo.AlarmByID(ctx, "", "a1")
		errorIs(t, "the default tenant", err, store.ErrNotFound)
		_, err = repo.AlarmByID(ctx, "initech", "a1")
		errorIs(t, "another tenant", err, store.ErrNotFound)
		hs, err := repo.AlarmHistory(ctx, "globex", "a1")
		noError(t, "globex's history", err)
		equal(t, "globex's history", steps(hs), []string{"created//active"})
		as, total, err := repo.ListAlarms(ctx, store.AlarmFilter{Tenant: "acme"})
		noError(t, "list acme", err)
		equal(t, "acme's alarms", []any{total, len(as), as[0].DeviceID}, []any{1, 1, "d-acme"})
		as, total, err = repo.ListAlarms(ctx, store.AlarmFilter{})
		noError(t, "list the default tenant", err)
		if total != 0 || as == nil || len(as) != 0 {
			t.Fatalf("the default tenant: %d alarms, total %d, nil page %v: want an empty page", len(as), total, as == nil)
		}
	})

	t.Run("list: filters, order and pages", func(t *testing.T) {
		repo, ctx := open(t), ctxT(t)
		base := time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
		sevs := []string{"critical", "major", "minor", "warning", "info"}
		for i := range 20 {
			a := alarm(fmt.Sprintf("a%02d", i), fmt.Sprintf("dev-%d", i%4), base.Add(time.Duration(i)*time.Minute).UnixMilli())
			a.Severity = sevs[i%5]
			if i%2 == 1 {
				a.Rule = "pressure"
			}
			if i%3 == 0 {
				a.Status = store.AlarmCleared
			}
			if i >= 18 {
				a.Tenant, a.FlowID = "globex", "other"
			}
			_, err := repo.RecordAlarm(ctx, a, store.AlarmHistoryEntry{Kind: store.AlarmCreated})
			noError(t, "create", err)
		}
		// Two alarms with the same since: the id breaks the tie.
		for _, id := range []string{"b2", "b1"} {
			a := alarm(id, "dev-9", base.Add(-time.Hour).UnixMilli())
			_, err := repo.RecordAlarm(ctx, a, store.AlarmHistoryEntry{Kind: store.AlarmCreated})
			noError(t, "create", err)
		}
		for _, id := range []string{"a01", "a02"} {
			_, _, err := repo.AckAlarm(ctx, "", id, "ada", "")
			noError(t, "ack", err)
		}
		yes, no := true, false
		ids := func(as []store.Alarm) []string {
			out := []string{}
			for _, a := range as {
				out = append(out, a.ID)
			}
			return out
		}
		for _, tc := range []struct {
			name  string
			f     store.AlarmFilter
			ids   []string
			total int
		}{
			{"newest first, paged", store.AlarmFilter{Limit: 3}, []string{"a17", "a16", "a15"}, 20},
			{"second page", store.AlarmFilter{Limit: 3, Offset: 3}, []string{"a14", "a13", "a12"}, 20},
			{"last page, ties by id", store.AlarmFilter{Limit: 3, Offset: 18}, []string{"b1", "b2"}, 20},
			{"beyond the last page", store.AlarmFilter{Limit: 3, Offset: 40}, []string{}, 20},
			{"no limit", store.AlarmFilter{Offset: 16}, []string{"a01", "a00", "b1", "b2"}, 20},
			{"other tenant", store.AlarmFilter{Tenant: "globex"}, []string{"a19", "a18"}, 2},
			{"active", store.AlarmFilter{Status: store.AlarmActive, Limit: 2}, []string{"a17", "a16"}, 14},
			{"cleared", store.AlarmFilter{Status: store.AlarmCleared}, []string{"a15", "a12", "a09", "a06", "a03", "a00"}, 6},
			{"acknowledged", store.AlarmFilter{Acknowledged: &yes}, []string{"a02", "a01"}, 2},
			{"active unacknowledged", store.AlarmFilter{Status: store.AlarmActive, Acknowledged: &no, Limit: 1}, []string{"a17"}, 12},
			{"severities", store.AlarmFilter{Severities: []string{"critical", "major"}, Limit: 8}, []string{"a16", "a15", "a11", "a10", "a06", "a05", "a01", "a00"}, 10},
			{"one severity", store.AlarmFilter{Severities: []string{"info"}}, []string{"a14", "a09", "a04"}, 3},
			{"device", store.AlarmFilter{DeviceID: "dev-1"}, []string{"a17", "a13", "a09", "a05", "a01"}, 5},
			{"rule", store.AlarmFilter{Rule: "pressure", Limit: 2}, []string{"a17", "a15"}, 9},
			{"flow", store.AlarmFilter{FlowID: "boiler", Limit: 1}, []string{"a17"}, 20},
			{"time range: from inclusive, to exclusive", store.AlarmFilter{From: base.Add(5 * time.Minute), To: base.Add(8 * time.Minute)}, []string{"a07", "a06", "a05"}, 3},
			{"from only", store.AlarmFilter{From: base.Add(16 * time.Minute)}, []string{"a17", "a16"}, 2},
			{"to only", store.AlarmFilter{To: base}, []string{"b1", "b2"}, 2},
			{"every filter", store.AlarmFilter{Status: store.AlarmActive, Severities: []string{"major", "minor"}, Acknowledged: &yes,
				DeviceID: "dev-1", Rule: "pressure", FlowID: "boiler", From: base, To: base.Add(time.Hour)}, []string{"a01"}, 1},
			{"nothing", store.AlarmFilter{DeviceID: "nope"}, []string{}, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				as, total, err := repo.ListAlarms(ctx, tc.f)
				noError(t, "list", err)
				if as == nil {
					t.Fatal("a nil page: want an empty one")
				}
				equal(t, "ids", ids(as), tc.ids)
				equal(t, "total", total, tc.total)
			})
		}
		as, _, err := repo.ListAlarms(ctx, store.AlarmFilter{DeviceID: "dev-1", Limit: 1})
		noError(t, "list", err)
		got, err := repo.AlarmByID(ctx, "", as[0].ID)
		noError(t, "by id", err)
		equal(t, "a listed alarm is the alarm", as[0], got)
	})
}

// StatsRepo checks a store.StatsRepo against the interface's promises.
// open returns an empty repository (each subtest opens its own).
func StatsRepo(t *testing.T, open func(t *testing.T) store.StatsRepo) {
	const hour = int64(3600000)
	w0 := time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC).UnixMilli()
	rec := func(tenant, flow, node, job string, from int64, avg float64) store.StatsRecord {
		return store.StatsRecord{Tenant: tenant, FlowID: flow, NodeID: node, Job: job, WindowFrom: from, WindowTo: from + hour,
			Groups: []map[string]any{{"deviceId": "d1", "signal": "temperature", "avg": avg, "min": 1.0, "count": 3.0}}}
	}

	t.Run("record and replace", func(t *testing.T) {
		repo, ctx, began := open(t), ctxT(t), time.Now()
		r, err := repo.RecordStats(ctx, rec("", "boiler", "stats1", "hourly", w0, 20.5))
		noError(t, "record", err)
		if r.ID == "" {
			t.Fatal("a record without an id")
		}
		equal(t, "tenant of a record without one", r.Tenant, store.DefaultTenant)
		equal(t, "flow, node, job", []string{r.FlowID, r.NodeID, r.Job}, []string{"boiler", "stats1", "hourly"})
		equal(t, "window", []int64{r.WindowFrom, r.WindowTo}, []int64{w0, w0 + hour})
		equal(t, "groups", r.Groups, []map[string]any{{"deviceId": "d1", "signal": "temperature", "avg": 20.5, "min": 1.0, "count": 3.0}})
		recent(t, "created at", r.CreatedAt, began)
		rs, total, err := repo.ListStats(ctx, store.StatsFilter{})
		noError(t, "list", err)
		equal(t, "total", total, 1)
		equal(t, "the listed record", rs, []store.StatsRecord{r})

		// The same window again (a rerun) replaces it.
		again, err := repo.RecordStats(ctx, rec("", "boiler", "stats1", "hourly", w0, 21.5))
		noError(t, "record again", err)
		equal(t, "groups of the rerun", again.Groups[0]["avg"], any(21.5))
		rs, total, err = repo.ListStats(ctx, store.StatsFilter{})
		noError(t, "list", err)
		equal(t, "total after the rerun", total, 1)
		equal(t, "the listed record after the rerun", rs, []store.StatsRecord{again})

		// Another window, node or tenant is another record.
		for _, r := range []store.StatsRecord{
			rec("", "boiler", "stats1", "hourly", w0+hour, 1),
			rec("", "boiler", "stats2", "hourly", w0, 1),
			rec("", "pumps", "stats1", "hourly", w0, 1),
			rec("globex", "boiler", "stats1", "hourly", w0, 1),
		} {
			_, err := repo.RecordStats(ctx, r)
			noError(t, "record", err)
		}
		_, total, err = repo.ListStats(ctx, store.StatsFilter{})
		noError(t, "list", err)
		equal(t, "records of the default tenant", total, 4)
	})

	t.Run("empty groups", func(t *testing.T) {
		repo, ctx := open(t), ctxT(t)
		r := rec("", "boiler", "stats1", "hourly", w0, 0)
		r.Groups = nil
		got, err := repo.RecordStats(ctx, r)
		noError(t, "record", err)
		if len(got.Groups) != 0 {
			t.Fatalf("groups %v: want none", got.Groups)
		}
	})

	t.Run("list: filters, order and pages", func(t *testing.T) {
		repo, ctx := open(t), ctxT(t)
		for i := range 12 {
			flow, node, job := "boiler", "stats1", "hourly"
			if i%2 == 1 {
				flow = "pumps"
			}
			if i%3 == 2 {
				node, job = "stats2", "daily"
			}
			_, err := repo.RecordStats(ctx, rec("", flow, node, job, w0+int64(i)*hour, float64(i)))
			noError(t, "record", err)
		}
		_, err := repo.RecordStats(ctx, rec("globex", "boiler", "stats1", "hourly", w0, 99))
		noError(t, "record", err)
		// A longer window that ends with the newest: the later start first.
		long := rec("", "boiler", "stats3", "daily", w0+11*hour-24*hour, 7)
		long.WindowTo = w0 + 12*hour
		_, err = repo.RecordStats(ctx, long)
		noError(t, "record", err)

		type key struct {
			node string
			from int64
		}
		keys := func(rs []store.StatsRecord) []key {
			out := []key{}
			for _, r := range rs {
				out = append(out, key{r.NodeID, (r.WindowFrom - w0) / hour})
			}
			return out
		}
		for _, tc := range []struct {
			name  string
			f     store.StatsFilter
			keys  []key
			total int
		}{
			{"newest window first, paged", store.StatsFilter{Limit: 3}, []key{{"stats2", 11}, {"stats3", -13}, {"stats1", 10}}, 13},
			{"second page", store.StatsFilter{Limit: 3, Offset: 3}, []key{{"stats1", 9}, {"stats2", 8}, {"stats1", 7}}, 13},
			{"beyond the last page", store.StatsFilter{Limit: 3, Offset: 13}, []key{}, 13},
			{"no limit", store.StatsFilter{Offset: 10}, []key{{"stats2", 2}, {"stats1", 1}, {"stats1", 0}}, 13},
			{"other tenant", store.StatsFilter{Tenant: "globex"}, []key{{"stats1", 0}}, 1},
			{"flow", store.StatsFilter{FlowID: "pumps", Limit: 2}, []key{{"stats2", 11}, {"stats1", 9}}, 6},
			{"node", store.StatsFilter{NodeID: "stats2"}, []key{{"stats2", 11}, {"stats2", 8}, {"stats2", 5}, {"stats2", 2}}, 4},
			{"job", store.StatsFilter{Job: "daily", Limit: 2}, []key{{"stats2", 11}, {"stats3", -13}}, 5},
			{"window end: from inclusive, to exclusive", store.StatsFilter{From: time.UnixMilli(w0 + 3*hour), To: time.UnixMilli(w0 + 6*hour)},
				[]key{{"stats1", 4}, {"stats1", 3}, {"stats2", 2}}, 3},
			{"every filter", store.StatsFilter{FlowID: "boiler", NodeID: "stats1", Job: "hourly", From: time.UnixMilli(w0), To: time.UnixMilli(w0 + 7*hour)},
				[]key{{"stats1", 4}, {"stats1", 0}}, 2},
			{"nothing", store.StatsFilter{Job: "nope"}, []key{}, 0},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rs, total, err := repo.ListStats(ctx, tc.f)
				noError(t, "list", err)
				if rs == nil {
					t.Fatal("a nil page: want an empty one")
				}
				equal(t, "records", keys(rs), tc.keys)
				equal(t, "total", total, tc.total)
			})
		}
	})
}
