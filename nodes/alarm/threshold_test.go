package alarm

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine"
)

// Data-driven tests keep the wall clock still and move the devices' time
// (a generous futureTolerance lets device time run ahead): only the
// samples evaluate. Timer tests move the wall clock.

var hot = leaf("op", ">", "signal", "temperature", "value", 80.0, "deadband", 2.0)

func withFuture(cfg map[string]any) map[string]any {
	cfg["futureTolerance"] = "24h"
	return cfg
}

func TestThresholdEventsAndRecords(t *testing.T) {
	h := newHarness(t, withFuture(oneRule([]any{hot}, "severity", "minor")), harnessOpts{})
	g := h.send("boiler-7", 0, sig{"temperature": 70.0, "pressure": 2.0})
	if len(g) != 1 || g[0].rel != "Success" || g[0].msg.Type != "TELEMETRY" {
		t.Fatalf("normal sample: %v", g)
	}
	g = h.send("boiler-7", time.Second, sig{"temperature": 81.5})
	if len(g) != 2 || rels(g) != "Active" {
		t.Fatalf("hot sample: %v", g)
	}
	a := alarms(g)[0]
	want := Event{AlarmID: a.ev.AlarmID, Rule: "r", DeviceID: "boiler-7", Signals: map[string]any{"temperature": 81.5},
		Severity: "minor", Status: "active", Since: t0.Add(time.Second).UnixMilli(), Ts: t0.Add(time.Second).UnixMilli(), Count: 1}
	if a.ev.AlarmID == "" || a.ev.Value == nil || *a.ev.Value != 81.5 {
		t.Fatalf("event %+v", a.ev)
	}
	a.ev.Value = nil
	if b1, b2 := mustJSON(t, a.ev), mustJSON(t, want); b1 != b2 {
		t.Fatalf("event\n got %s\nwant %s", b1, b2)
	}
	md := a.msg.Metadata
	for k, v := range map[string]string{"deviceId": "boiler-7", "alarmId": a.ev.AlarmID, "alarmRule": "r", "alarmSeverity": "minor",
		"alarmStatus": "active", "alarmAcknowledged": "false", "alarmChange": "created"} {
		if md[k] != v {
			t.Errorf("metadata %s = %q, want %q (%v)", k, md[k], v, md)
		}
	}
	if !strings.Contains(a.msg.Data, `"value":81.5`) || a.msg.DataType != "JSON" {
		t.Errorf("payload %s (%s)", a.msg.Data, a.msg.DataType)
	}
	// Hot again: no event (one active alarm per device and rule).
	if g = h.send("boiler-7", 2*time.Second, sig{"temperature": 90.0}); rels(g) != "" {
		t.Fatalf("still hot: %v", g)
	}
	// Another device has its own alarm.
	if g = h.send("boiler-8", 2*time.Second, sig{"temperature": 90.0}); rels(g) != "Active" {
		t.Fatalf("other device: %v", g)
	}
	// The dead band keeps the alarm at 79; 78 clears it.
	if g = h.send("boiler-7", 3*time.Second, sig{"temperature": 79.0}); rels(g) != "" {
		t.Fatalf("in the dead band: %v", g)
	}
	g = h.send("boiler-7", 4*time.Second, sig{"temperature": 78.0})
	if rels(g) != "Cleared" || alarms(g)[0].ev.AlarmID != a.ev.AlarmID || alarms(g)[0].ev.Status != "cleared" {
		t.Fatalf("cooled: %v", g)
	}
	if got := strings.Join(h.rec.kinds(), " "); got != "created:r:boiler-7 created:r:boiler-8 cleared:r:boiler-7" {
		t.Errorf("recorded %s", got)
	}
	h.rec.mu.Lock()
	c := h.rec.changes[0]
	h.rec.mu.Unlock()
	if c.Tenant != "acme" || c.FlowID != h.flow || c.NodeID != "alarm" || c.CommandKey != CommandKey("acme", h.flow, "alarm", "r", "boiler-7") {
		t.Errorf("change %+v", c)
	}
}

// success is the Success message among gs.
func success(gs []got) got {
	for _, g := range gs {
		if g.rel == "Success" {
			return g
		}
	}
	return got{msg: engine.Message{Metadata: map[string]string{}}}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFailureOnBadInput(t *testing.T) {
	h := newHarness(t, oneRule([]any{hot}), harnessOpts{})
	alone := testFlow(h.flow, oneRule([]any{hot}))
	alone.Metadata.Nodes, alone.Metadata.Connections = alone.Metadata.Nodes[:1], nil
	for data, want := range map[string]string{
		`"text"`:                                         `want unified telemetry`,
		`{"deviceId":"x","ts":1}`:                        `no signals object`,
		`{"deviceId":"x","signals":[1]}`:                 `cannot unmarshal array`,
		`{"signals":{"temperature":1}}`:                  `deviceId: missing`,
		`{"deviceId":"x","ts":"yesterday","signals":{}}`: `ts: want Unix milliseconds`,
	} {
		res, err := h.mgr.Test(context.Background(), "acme", alone, engine.Message{Type: "TELEMETRY", Data: data}, "", false)
		if err != nil {
			t.Fatal(err)
		}
		if e := res.Result.Ends; len(e) != 1 || e[0].Relation != "Failure" || !strings.Contains(e[0].Error, "thresholdAlarm: ") || !strings.Contains(e[0].Error, want) {
			t.Errorf("%s: %+v, want an error with %q", data, e, want)
		}
	}
}

func TestSeveralDevicesInOneMessage(t *testing.T) {
	h := newHarness(t, withFuture(oneRule([]any{hot})), harnessOpts{})
	data := `[{"deviceId":"a","ts":` + ms(0) + `,"signals":{"temperature":90}},{"deviceId":"b","ts":` + ms(0) + `,"signals":{"temperature":20}},{"deviceId":"c","ts":` + ms(0) + `,"signals":{"temperature":85}}]`
	g := h.submit(engine.Message{Type: "TELEMETRY", Data: data})
	var devs []string
	for _, a := range alarms(g) {
		devs = append(devs, a.rel+":"+a.ev.DeviceID)
	}
	if strings.Join(devs, " ") != "Active:a Active:c" {
		t.Fatalf("got %v", g)
	}
}

func ms(at time.Duration) string { return strings.TrimSpace(mustJSONs(t0.Add(at).UnixMilli())) }

func mustJSONs(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestOrAcrossSignalsAndMessages(t *testing.T) {
	// ThingsBoard cannot OR across keys at one severity: here any of the
	// two raises, and an AND across signals arriving in separate messages
	// uses the last value of each.
	cfg := withFuture(map[string]any{"rules": []any{
		map[string]any{"name": "any", "condition": map[string]any{"op": "or", "rules": []any{
			hot, leaf("op", "<", "signal", "pressure", "value", 1.0),
		}}},
		map[string]any{"name": "both", "condition": map[string]any{"op": "and", "rules": []any{
			hot, leaf("op", "==", "signal", "running", "value", 0.0),
		}}},
	}})
	h := newHarness(t, cfg, harnessOpts{})
	if g := h.send("d", 0, sig{"pressure": 0.5}); rels(g) != "Active" || alarms(g)[0].ev.Rule != "any" {
		t.Fatalf("low pressure: %v", g)
	}
	if g := h.send("d", time.Second, sig{"temperature": 90.0}); rels(g) != "" {
		t.Fatalf("hot, running unknown: %v", g)
	}
	g := h.send("d", 2*time.Second, sig{"running": false})
	if rels(g) != "Active" || alarms(g)[0].ev.Rule != "both" {
		t.Fatalf("stopped while hot: %v", g)
	}
	if sg := alarms(g)[0].ev.Signals; sg["temperature"] != 90.0 || sg["running"] != false {
		t.Errorf("signals %v", sg)
	}
	// Pressure back but still hot: "any" stays, via the other rule.
	if g := h.send("d", 3*time.Second, sig{"pressure": 2.0}); rels(g) != "" {
		t.Fatalf("pressure back: %v", g)
	}
	if g := h.send("d", 4*time.Second, sig{"temperature": 20.0}); rels(g) != "Cleared,Cleared" {
		t.Fatalf("cooled: %v", g)
	}
}

func TestDurationAndClearAfterByTimer(t *testing.T) {
	h := newHarness(t, oneRule([]any{hot}, "duration", "30s", "clearAfter", "1m"), harnessOpts{})
	if g := h.sendAt("d", 0, sig{"temperature": 90.0}); rels(g) != "" {
		t.Fatalf("pending: %v", g)
	}
	h.quiet("before the duration")
	h.clock.Set(t0.Add(30 * time.Second)) // no new sample: the timer completes the duration
	g := h.waitFor("Active")
	if a := alarms(g)[0]; a.ev.Since != t0.Add(30*time.Second).UnixMilli() {
		t.Errorf("since %d", a.ev.Since-t0.UnixMilli())
	}
	if g := h.sendAt("d", 40*time.Second, sig{"temperature": 70.0}); rels(g) != "" {
		t.Fatalf("cooled, hold-off running: %v", g)
	}
	h.clock.Set(t0.Add(99 * time.Second))
	h.quiet("during the hold-off")
	h.clock.Set(t0.Add(100 * time.Second))
	h.waitFor("Cleared")
	if got := strings.Join(h.rec.kinds(), " "); got != "created:r:d cleared:r:d" {
		t.Errorf("recorded %s", got)
	}
}

func TestConsecutiveSamples(t *testing.T) {
	h := newHarness(t, withFuture(oneRule([]any{hot}, "samples", int64(3))), harnessOpts{})
	var got []string
	for i, v := range []float64{90, 90, 70, 90, 90, 90, 91} {
		got = append(got, rels(h.send("d", time.Duration(i)*time.Second, sig{"temperature": v})))
	}
	if strings.Join(got, "|") != "|||||Active|" {
		t.Fatalf("got %q", got)
	}
}

func TestRepeatsCountIntoOneAlarm(t *testing.T) {
	h := newHarness(t, withFuture(oneRule([]any{leaf("op", ">", "signal", "temperature", "value", 80.0)}, "clearAfter", "1m")), harnessOpts{})
	first := alarms(h.send("d", 0, sig{"temperature": 90.0}))
	var g []got
	for i, v := range []float64{70, 90, 70, 90} {
		g = append(g, h.send("d", time.Duration(i+1)*10*time.Second, sig{"temperature": v})...)
	}
	if rels(g) != "Updated,Updated" {
		t.Fatalf("flapping: %v", g)
	}
	last := alarms(g)[1].ev
	if last.AlarmID != first[0].ev.AlarmID || last.Count != 3 || alarms(g)[1].msg.Metadata["alarmReason"] != "count" {
		t.Fatalf("repeat: %+v (%v)", last, alarms(g)[1].msg.Metadata)
	}
}

func TestEscalationInFlow(t *testing.T) {
	cfg := withFuture(oneRule([]any{hot}, "severity", "major", "escalations", []any{
		map[string]any{"severity": "critical", "condition": map[string]any{"rules": []any{leaf("op", ">", "signal", "temperature", "value", 95.0, "deadband", 2.0)}}},
	}))
	h := newHarness(t, cfg, harnessOpts{})
	var sevs []string
	for i, v := range []float64{85, 96, 94, 92, 99} {
		for _, a := range alarms(h.send("d", time.Duration(i)*time.Second, sig{"temperature": v})) {
			sevs = append(sevs, a.rel+":"+a.ev.Severity)
		}
	}
	if got := strings.Join(sevs, " "); got != "Active:major Updated:critical Updated:major Updated:critical" {
		t.Fatalf("got %s", got)
	}
	if got := strings.Join(h.rec.kinds(), " "); got != "created:r:d updated:r:d updated:r:d updated:r:d" {
		t.Errorf("recorded %s", got)
	}
}

func TestSilence(t *testing.T) {
	cfg := map[string]any{"rules": []any{
		map[string]any{"name": "offline", "condition": map[string]any{"rules": []any{leaf("op", "noData", "timeout", "10s")}}},
		map[string]any{"name": "no-pressure", "condition": map[string]any{"rules": []any{leaf("op", "noData", "signal", "pressure", "timeout", "20s")}}},
	}}
	h := newHarness(t, cfg, harnessOpts{})
	h.sendAt("d", 0, sig{"pressure": 1.0})
	// Data for another signal keeps the device alive but not the pressure:
	// the sample itself raises no-pressure.
	for _, at := range []time.Duration{5, 10, 15} {
		if g := h.sendAt("d", at*time.Second, sig{"temperature": 1.0}); rels(g) != "" {
			t.Fatalf("t=%v: %v", at, g)
		}
	}
	g := h.sendAt("d", 20*time.Second, sig{"temperature": 1.0})
	if rels(g) != "Active" || alarms(g)[0].ev.Rule != "no-pressure" || *alarms(g)[0].ev.Value != 20 {
		t.Fatalf("no pressure for 20s: %v", g)
	}
	// The device goes silent: the timer raises offline 10s later.
	h.clock.Set(t0.Add(29 * time.Second))
	h.quiet("before the timeout")
	h.clock.Set(t0.Add(30 * time.Second))
	g = h.waitFor("Active")
	if a := alarms(g); len(a) != 1 || a[0].ev.Rule != "offline" {
		t.Fatalf("silent: %v", g)
	}
	// It comes back: offline clears with the sample.
	g = h.sendAt("d", 31*time.Second, sig{"pressure": 1.0})
	if rels(g) != "Cleared,Cleared" {
		t.Fatalf("back: %v", g)
	}
}

func TestLateAndFutureSamples(t *testing.T) {
	h := newHarness(t, oneRule([]any{hot}, "clearAfter", "0s"), harnessOpts{})
	h.clock.Set(t0.Add(100 * time.Second))
	h.send("d", 100*time.Second, sig{"temperature": 20.0})
	// 10s older than the last sample (tolerance 5s): late, no alarm.
	g := h.send("d", 90*time.Second, sig{"temperature": 99.0})
	if len(g) != 1 || success(g).msg.Metadata["late"] != "true" {
		t.Fatalf("late sample: %v %v", g, g[0].msg.Metadata)
	}
	// 4s older: within the tolerance, it counts.
	g = h.send("d", 96*time.Second, sig{"temperature": 99.0})
	if rels(g) != "Active" || success(g).msg.Metadata["late"] != "" {
		t.Fatalf("slightly out of order: %v", g)
	}
	// A late sample cannot clear either.
	if g = h.send("d", 80*time.Second, sig{"temperature": 20.0}); rels(g) != "" || success(g).msg.Metadata["late"] != "true" {
		t.Fatalf("late normal sample: %v", g)
	}
	// A clock an hour ahead is clamped to the receive time.
	g = h.send("d", time.Hour, sig{"temperature": 20.0})
	if success(g).msg.Metadata["tsClamped"] != "true" || rels(g) != "Cleared" || alarms(g)[0].ev.Ts != t0.Add(100*time.Second).UnixMilli() {
		t.Fatalf("future sample: %v %v", g, success(g).msg.Metadata)
	}
}

// command sends an operator command the way the API does.
func (h *harness) command(dev, rule string, c Command) []got {
	h.t.Helper()
	if err := SendCommand(context.Background(), h.state, CommandKey("acme", h.flow, "alarm", rule, dev), c); err != nil {
		h.t.Fatal(err)
	}
	res, err := h.mgr.Submit(context.Background(), h.flow, CommandMessage(dev), engine.SubmitOptions{Wait: true, StartNode: "alarm"})
	if err != nil || res.Status != engine.StatusCompleted {
		h.t.Fatalf("command message: %v %+v", err, res)
	}
	h.settle()
	return h.drain()
}

func TestRemindersStopWhenAcknowledged(t *testing.T) {
	h := newHarness(t, oneRule([]any{hot}, "reminder", "5m"), harnessOpts{})
	a := alarms(h.sendAt("d", 0, sig{"temperature": 90.0}))[0].ev
	h.clock.Set(t0.Add(5 * time.Minute))
	g := h.waitFor("Reminder")
	if r := alarms(g)[0]; r.ev.AlarmID != a.AlarmID || r.msg.Metadata["alarmChange"] != "reminder" {
		t.Fatalf("reminder: %v", r)
	}
	h.clock.Set(t0.Add(10 * time.Minute))
	h.waitFor("Reminder")
	g = h.command("d", "r", Command{AlarmID: a.AlarmID, Ack: &Action{By: "ops", Comment: "on it", At: t0}})
	if rels(g) != "Updated" {
		t.Fatalf("ack: %v", g)
	}
	ack := alarms(g)[0]
	if !ack.ev.Acknowledged || ack.ev.Status != "active" || ack.msg.Metadata["alarmChange"] != "acknowledged" || ack.msg.Metadata["alarmBy"] != "ops" || ack.msg.Metadata["alarmComment"] != "on it" {
		t.Fatalf("ack event: %+v %v", ack.ev, ack.msg.Metadata)
	}
	h.clock.Set(t0.Add(30 * time.Minute))
	h.quiet("acknowledged")
	// The API recorded the acknowledgement: the node records nothing more.
	if got := strings.Join(h.rec.kinds(), " "); got != "created:r:d" {
		t.Errorf("recorded %s", got)
	}
	// A stale command (another alarm) is dropped.
	if g := h.command("d", "r", Command{AlarmID: "gone", Clear: &Action{By: "ops"}}); rels(g) != "" {
		t.Fatalf("stale command: %v", g)
	}
}

func TestManualClearRetriggers(t *testing.T) {
	h := newHarness(t, withFuture(oneRule([]any{hot})), harnessOpts{})
	a := alarms(h.send("d", 0, sig{"temperature": 90.0}))[0].ev
	// Cleared by an operator while the value stays bad: it comes back as a
	// new alarm at once (the rule has no duration).
	g := h.command("d", "r", Command{AlarmID: a.AlarmID, Clear: &Action{By: "ops", Comment: "sensor swapped"}})
	if rels(g) != "Active,Cleared" {
		t.Fatalf("manual clear: %v", g)
	}
	again, cl := alarms(g)[0], alarms(g)[1]
	if cl.ev.AlarmID != a.AlarmID || cl.msg.Metadata["alarmReason"] != "manual" || cl.msg.Metadata["alarmBy"] != "ops" {
		t.Errorf("cleared: %+v %v", cl.ev, cl.msg.Metadata)
	}
	if again.ev.AlarmID == a.AlarmID || again.ev.Count != 1 || again.ev.Acknowledged {
		t.Errorf("re-triggered: %+v", again.ev)
	}
	// With a duration, the comeback waits for it.
	h2 := newHarness(t, withFuture(oneRule([]any{hot}, "duration", "10s")), harnessOpts{clock: h.clock})
	h2.send("d", 0, sig{"temperature": 90.0})
	b := alarms(h2.send("d", 10*time.Second, sig{"temperature": 90.0}))[0].ev
	if g := h2.command("d", "r", Command{AlarmID: b.AlarmID, Clear: &Action{By: "ops"}}); rels(g) != "Cleared" {
		t.Fatalf("manual clear with a duration: %v", g)
	}
	if g := h2.send("d", 15*time.Second, sig{"temperature": 90.0}); rels(g) != "" {
		t.Fatalf("too soon: %v", g)
	}
	if g := h2.send("d", 25*time.Second, sig{"temperature": 90.0}); rels(g) != "Active" {
		t.Fatalf("after the duration: %v", g)
	}
}

func TestTestRunRecordsNothing(t *testing.T) {
	h := newHarness(t, withFuture(oneRule([]any{hot})), harnessOpts{})
	data := `{"deviceId":"d","ts":` + ms(0) + `,"signals":{"temperature":99}}`
	res, err := h.mgr.Test(context.Background(), "acme", testFlow(h.flow, withFuture(oneRule([]any{hot}))), engine.Message{Type: "TELEMETRY", Data: data}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	h.drain() // the test run's sinks
	var relsSeen []string
	for _, e := range res.Result.Ends {
		relsSeen = append(relsSeen, e.Node)
	}
	if !strings.Contains(strings.Join(relsSeen, " "), "sinkActive") {
		t.Fatalf("test run ends: %v", relsSeen)
	}
	if k := h.rec.kinds(); len(k) != 0 {
		t.Fatalf("a test run recorded %v", k)
	}
	// The deployed node's state is untouched: its first hot sample raises.
	if g := h.send("d", time.Second, sig{"temperature": 99.0}); rels(g) != "Active" {
		t.Fatalf("live state after a test run: %v", g)
	}
}

func TestRedeployKeepsState(t *testing.T) {
	cfg := withFuture(oneRule([]any{hot}))
	h := newHarness(t, cfg, harnessOpts{})
	a := alarms(h.send("d", 0, sig{"temperature": 90.0}))[0].ev
	cfg2 := maps.Clone(cfg)
	cfg2["lateTolerance"] = "10s" // a changed configuration: a new node instance
	h.deploy(cfg2, 2)
	if g := h.send("d", time.Second, sig{"temperature": 95.0}); rels(g) != "" {
		t.Fatalf("after redeploy, still hot: %v", g)
	}
	g := h.send("d", 2*time.Second, sig{"temperature": 20.0})
	if rels(g) != "Cleared" || alarms(g)[0].ev.AlarmID != a.AlarmID {
		t.Fatalf("after redeploy: %v", g)
	}
}

// mapPersister is a StatePersister in memory, standing in for the store.
type mapPersister struct {
	mu sync.Mutex
	m  map[string]engine.StateEntry
}

func (p *mapPersister) Load(context.Context) (map[string]engine.StateEntry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.m), nil
}

func (p *mapPersister) Put(_ context.Context, k string, e engine.StateEntry) error {
	p.mu.Lock()
	p.m[k] = e
	p.mu.Unlock()
	return nil
}

func (p *mapPersister) Remove(_ context.Context, k string) error {
	p.mu.Lock()
	delete(p.m, k)
	p.mu.Unlock()
	return nil
}

func TestRestartSurvival(t *testing.T) {
	// A process with a persisted state store; a second process loads it.
	p := &mapPersister{m: map[string]engine.StateEntry{}}
	st1, err := engine.NewMemoryState(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	cfg := withFuture(map[string]any{"rules": []any{
		map[string]any{"name": "hot", "clearAfter": "1m", "condition": map[string]any{"rules": []any{hot}}},
		map[string]any{"name": "and", "condition": map[string]any{"op": "and", "rules": []any{
			leaf("op", ">", "signal", "a", "value", 1.0), leaf("op", ">", "signal", "b", "value", 1.0)}}},
	}})
	h1 := newHarness(t, maps.Clone(cfg), harnessOpts{state: st1, flow: "restart"})
	a := alarms(h1.send("d", 0, sig{"temperature": 90.0}))[0].ev
	h1.send("d", 10*time.Second, sig{"temperature": 20.0}) // the clear hold-off starts (written at once)
	h1.send("d", 20*time.Second, sig{"a": 5.0})            // a value: kept in memory, written at shutdown
	h1.shutdown()

	st2, err := engine.NewMemoryState(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	h2 := newHarness(t, maps.Clone(cfg), harnessOpts{state: st2, flow: "restart", clock: h1.clock})
	// b arrives: with a from before the restart, "and" fires.
	g := h2.send("d", 30*time.Second, sig{"b": 5.0})
	if rels(g) != "Active" || alarms(g)[0].ev.Rule != "and" {
		t.Fatalf("and across the restart: %v", g)
	}
	// The hold-off that started before the restart ends 60s after it began.
	if g := h2.send("d", 69*time.Second, sig{"temperature": 20.0}); len(alarms(g)) != 0 {
		t.Fatalf("hold-off cut short: %v", g)
	}
	g = h2.send("d", 70*time.Second, sig{"temperature": 20.0})
	if rels(g) != "Cleared" || alarms(g)[0].ev.AlarmID != a.AlarmID || alarms(g)[0].ev.Since != a.Since {
		t.Fatalf("clear across the restart: %v (first %+v)", g, a)
	}
}

func TestSilentDeviceAfterRestart(t *testing.T) {
	st, err := engine.NewMemoryState(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{"rules": []any{map[string]any{"name": "offline", "condition": map[string]any{"rules": []any{leaf("op", "noData", "timeout", "1m")}}}}}
	h1 := newHarness(t, maps.Clone(cfg), harnessOpts{state: st, flow: "silent"})
	h1.sendAt("quiet", 0, sig{"t": 1.0})
	h1.sendAt("chatty", 0, sig{"t": 1.0})
	h1.shutdown() // the device index is written

	// An hour later: both devices have been silent through the downtime,
	// but the downtime alone raises nothing; the timer looks once the
	// timeout has passed after the start, when chatty has reported.
	h1.clock.Set(t0.Add(time.Hour))
	h2 := newHarness(t, maps.Clone(cfg), harnessOpts{state: st, flow: "silent", clock: h1.clock})
	h2.quiet("just restarted")
	h2.sendAt("chatty", time.Hour+30*time.Second, sig{"t": 1.0})
	h2.clock.Set(t0.Add(time.Hour + time.Minute + time.Second))
	g := h2.waitFor("Active")
	if a := alarms(g); len(a) != 1 || a[0].ev.DeviceID != "quiet" {
		t.Fatalf("after restart: %v", g)
	}
}

func TestNoRecorder(t *testing.T) {
	h := newHarness(t, withFuture(oneRule([]any{hot})), harnessOpts{noRecord: true})
	if g := h.send("d", 0, sig{"temperature": 99.0}); rels(g) != "Active" {
		t.Fatalf("without a recorder: %v", g)
	}
}

func TestTimerStatus(t *testing.T) {
	h := newHarness(t, oneRule([]any{hot}, "reminder", "1m"), harnessOpts{})
	h.sendAt("d", 0, sig{"temperature": 99.0})
	h.clock.Set(t0.Add(time.Minute))
	h.waitFor("Reminder")
	st, err := h.mgr.Status(h.flow)
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Sources["alarm"]; s.State != engine.StateListening || s.Messages == 0 {
		t.Fatalf("timer status %+v", s)
	}
}
