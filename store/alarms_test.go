package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func testAlarm(id, dev string, since int64) Alarm {
	v := 81.5
	return Alarm{ID: id, FlowID: "boiler", NodeID: "alarm1", Rule: "overheat", DeviceID: dev, Severity: "major", Status: AlarmActive,
		Value: &v, Signals: map[string]any{"temperature": 81.5}, Count: 1, Since: since, Ts: since, CommandKey: "default/boiler/alarm1/cmd/overheat/" + dev}
}

func kinds(hs []AlarmHistoryEntry) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Kind+"/"+h.Reason+"/"+h.Status)
	}
	return out
}

func TestAlarmLifecycleRecords(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Alarms()

	a, err := repo.RecordAlarm(ctx, testAlarm("a1", "boiler-7", 1000), AlarmHistoryEntry{Kind: AlarmCreated, Reason: "condition"})
	requireNoError(t, err)
	requireEqual(t, a.Tenant, DefaultTenant)
	requireEqual(t, a.Status, AlarmActive)
	requireEqual(t, *a.Value, 81.5)
	requireEqual(t, a.Signals, map[string]any{"temperature": 81.5})
	requireEqual(t, a.CommandKey, "default/boiler/alarm1/cmd/overheat/boiler-7")
	if a.CreatedAt.IsZero() || !a.UpdatedAt.Equal(a.CreatedAt) {
		t.Fatalf("times %v %v", a.CreatedAt, a.UpdatedAt)
	}

	// The node escalates it.
	up := testAlarm("a1", "boiler-7", 1000)
	up.Severity, up.Count, up.Ts = "critical", 2, 2000
	a, err = repo.RecordAlarm(ctx, up, AlarmHistoryEntry{Kind: AlarmUpdated, Reason: "severity"})
	requireNoError(t, err)
	requireEqual(t, a.Severity, "critical")
	requireEqual(t, a.Count, 2)
	requireEqual(t, a.Since, int64(1000))

	// An operator acknowledges it, twice.
	a, changed, err := repo.AckAlarm(ctx, "", "a1", "ada", "on it")
	requireNoError(t, err)
	requireEqual(t, changed, true)
	requireEqual(t, a.Acknowledged, true)
	requireEqual(t, a.AckedBy, "ada")
	requireEqual(t, a.AckComment, "on it")
	if a.AckedAt.IsZero() {
		t.Fatal("no ack time")
	}
	_, changed, err = repo.AckAlarm(ctx, "", "a1", "bob", "me too")
	requireNoError(t, err)
	requireEqual(t, changed, false)

	// The condition clears it.
	cl := testAlarm("a1", "boiler-7", 1000)
	cl.Status, cl.Severity, cl.Count, cl.Ts = AlarmCleared, "critical", 2, 3000
	a, err = repo.RecordAlarm(ctx, cl, AlarmHistoryEntry{Kind: AlarmCleared, Reason: "condition"})
	requireNoError(t, err)
	requireEqual(t, a.Status, AlarmCleared)
	requireEqual(t, a.Acknowledged, true) // the two dimensions are independent
	requireEqual(t, a.ClearedBy, "")
	if a.ClearedAt.IsZero() {
		t.Fatal("no clear time")
	}

	hs, err := repo.AlarmHistory(ctx, "", "a1")
	requireNoError(t, err)
	requireEqual(t, kinds(hs), []string{"created/condition/active", "updated/severity/active", "acknowledged/manual/active", "cleared/condition/cleared"})
	requireEqual(t, hs[2].By, "ada")
	requireEqual(t, hs[2].Comment, "on it")
	requireEqual(t, hs[1].Severity, "critical")

	_, err = repo.AlarmHistory(ctx, "", "nope")
	requireErrorIs(t, err, ErrNotFound)
	_, _, err = repo.AckAlarm(ctx, "", "nope", "ada", "")
	requireErrorIs(t, err, ErrNotFound)
	_, err = repo.AlarmByID(ctx, "other-tenant", "a1")
	requireErrorIs(t, err, ErrNotFound)
}

func TestOperatorClearIsNotUndoneByTheNode(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Alarms()
	_, err := repo.RecordAlarm(ctx, testAlarm("a1", "d", 1000), AlarmHistoryEntry{Kind: AlarmCreated})
	requireNoError(t, err)
	a, changed, err := repo.ClearAlarm(ctx, "", "a1", "ada", "sensor swapped")
	requireNoError(t, err)
	requireEqual(t, changed, true)
	requireEqual(t, a.ClearedBy, "ada")
	requireEqual(t, a.ClearComment, "sensor swapped")
	// The node, not yet aware, reports a repeat: the count moves, the
	// status stays cleared.
	up := testAlarm("a1", "d", 1000)
	up.Count = 2
	a, err = repo.RecordAlarm(ctx, up, AlarmHistoryEntry{Kind: AlarmUpdated, Reason: "count"})
	requireNoError(t, err)
	requireEqual(t, a.Status, AlarmCleared)
	requireEqual(t, a.Count, 2)
	requireEqual(t, a.ClearedBy, "ada")
	_, changed, err = repo.ClearAlarm(ctx, "", "a1", "bob", "")
	requireNoError(t, err)
	requireEqual(t, changed, false)
}

func TestRecordAlarmRefusesBadAlarms(t *testing.T) {
	repo := openTest(t, Options{}).Alarms()
	for _, a := range []Alarm{
		{},
		{ID: "x", Rule: "r", DeviceID: "d", Severity: "major", Status: "open"},
		{ID: "x", Rule: "r", DeviceID: "d", Severity: "fatal", Status: AlarmActive},
		{ID: "x", DeviceID: "d", Severity: "major", Status: AlarmActive},
	} {
		_, err := repo.RecordAlarm(context.Background(), a, AlarmHistoryEntry{Kind: AlarmCreated})
		requireErrorIs(t, err, ErrInvalidAlarm)
	}
}

func TestListAlarms(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Alarms()
	base := time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
	sevs := []string{"critical", "major", "minor", "warning", "info"}
	for i := range 20 {
		a := testAlarm(fmt.Sprintf("a%02d", i), fmt.Sprintf("dev-%d", i%4), base.Add(time.Duration(i)*time.Minute).UnixMilli())
		a.Severity = sevs[i%5]
		if i%2 == 1 {
			a.Rule = "pressure"
		}
		if i%3 == 0 {
			a.Status = AlarmCleared
		}
		if i >= 18 {
			a.Tenant, a.FlowID = "globex", "other"
		}
		_, err := repo.RecordAlarm(ctx, a, AlarmHistoryEntry{Kind: AlarmCreated})
		requireNoError(t, err)
	}
	for _, id := range []string{"a01", "a02"} {
		_, _, err := repo.AckAlarm(ctx, "", id, "ada", "")
		requireNoError(t, err)
	}
	yes, no := true, false
	ids := func(as []Alarm) []string {
		out := []string{}
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	tests := []struct {
		name  string
		f     AlarmFilter
		ids   []string
		total int
	}{
		{"newest first, paged", AlarmFilter{Limit: 3}, []string{"a17", "a16", "a15"}, 18},
		{"second page", AlarmFilter{Limit: 3, Offset: 3}, []string{"a14", "a13", "a12"}, 18},
		{"other tenant", AlarmFilter{Tenant: "globex"}, []string{"a19", "a18"}, 2},
		{"active", AlarmFilter{Status: AlarmActive, Limit: 2}, []string{"a17", "a16"}, 12},
		{"cleared", AlarmFilter{Status: AlarmCleared}, []string{"a15", "a12", "a09", "a06", "a03", "a00"}, 6},
		{"acknowledged", AlarmFilter{Acknowledged: &yes}, []string{"a02", "a01"}, 2},
		{"active unacknowledged", AlarmFilter{Status: AlarmActive, Acknowledged: &no, Limit: 1}, []string{"a17"}, 10},
		{"severities", AlarmFilter{Severities: []string{"critical", "major"}}, []string{"a16", "a15", "a11", "a10", "a06", "a05", "a01", "a00"}, 8},
		{"device", AlarmFilter{DeviceID: "dev-1"}, []string{"a17", "a13", "a09", "a05", "a01"}, 5},
		{"rule", AlarmFilter{Rule: "pressure", Limit: 2}, []string{"a17", "a15"}, 9},
		{"flow", AlarmFilter{FlowID: "boiler", Limit: 1}, []string{"a17"}, 18},
		{"time range", AlarmFilter{From: base.Add(5 * time.Minute), To: base.Add(8 * time.Minute)}, []string{"a07", "a06", "a05"}, 3},
		{"nothing", AlarmFilter{DeviceID: "nope"}, []string{}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			as, total, err := repo.ListAlarms(ctx, tc.f)
			requireNoError(t, err)
			requireEqual(t, ids(as), tc.ids)
			requireEqual(t, total, tc.total)
		})
	}
}

func TestAlarmIndexesAreUsed(t *testing.T) {
	db := openTest(t, Options{})
	for q, index := range map[string]string{
		`SELECT id FROM alarms WHERE tenant = 'default' AND device_id = 'd' ORDER BY since DESC`:                        "alarms_device",
		`SELECT id FROM alarms WHERE tenant = 'default' AND status = 'active' AND acknowledged = 0 ORDER BY since DESC`: "alarms_status",
		`SELECT id FROM alarms WHERE tenant = 'default' ORDER BY since DESC, id LIMIT 50`:                               "alarms_since",
		`SELECT seq FROM alarm_history WHERE tenant = 'default' AND alarm_id = 'a' ORDER BY seq`:                        "alarm_history_alarm",
	} {
		rows, err := db.sql.Query(`EXPLAIN QUERY PLAN ` + q)
		requireNoError(t, err)
		plan := ""
		for rows.Next() {
			var id, parent, notused int
			var detail string
			requireNoError(t, rows.Scan(&id, &parent, &notused, &detail))
			plan += detail + "\n"
		}
		requireNoError(t, rows.Close())
		if !strings.Contains(plan, index) {
			t.Errorf("%s\nplan:\n%s\nwant index %s", q, plan, index)
		}
	}
}
