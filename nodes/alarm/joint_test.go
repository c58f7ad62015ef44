package alarm

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

func TestJointExprCompile(t *testing.T) {
	cases := []struct {
		src, refs, err string
	}{
		{src: `dev("boiler-7").temperature > 80 && !dev("pump-2").running`, refs: "boiler-7.temperature pump-2.running"},
		{src: `dev("a").t - dev("b")["t"] > 5 || dev("a").t > 100`, refs: "a.t b.t"},
		{src: `dev(x).t > 1`, err: "quoted string"},
		{src: `len(dev("a")) > 1`, err: "read a signal by its name"},
		{src: `dev("a")[name] > 1`, err: "read a signal by its name"},
		{src: `1 > 0`, err: "reads no signal"},
		{src: `dev("a").t >`, err: "does not compile"},
		{src: ` `, err: "must not be empty"},
	}
	for _, c := range cases {
		t.Run(c.src, func(t *testing.T) {
			x, err := compileJointExpr(c.src)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, r := range x.refs {
				keys = append(keys, r.key())
			}
			if got := strings.Join(keys, " "); got != c.refs {
				t.Fatalf("refs %q, want %q", got, c.refs)
			}
		})
	}
}

func TestJointExprEval(t *testing.T) {
	const now = 100_000
	num := func(v float64, ts int64) *sigState { return &sigState{Kind: kindNum, Num: v, Ts: ts} }
	boolean := func(b bool, ts int64) *sigState {
		s := &sigState{Kind: kindBool, Ts: ts}
		if b {
			s.Num = 1
		}
		return s
	}
	str := func(s string, ts int64) *sigState { return &sigState{Kind: kindStr, Str: s, Ts: ts} }
	const hotNoPump = `dev("boiler-7").temperature > 80 && !dev("pump-2").running`
	cases := []struct {
		name    string
		src     string
		sig     map[string]*sigState
		missing Truth
		want    Truth
		wantErr bool
	}{
		{name: "both devices true", src: hotNoPump, want: True,
			sig: map[string]*sigState{"boiler-7.temperature": num(85, now), "pump-2.running": boolean(false, now-1000)}},
		{name: "pump running", src: hotNoPump, want: False,
			sig: map[string]*sigState{"boiler-7.temperature": num(85, now), "pump-2.running": boolean(true, now)}},
		{name: "cold", src: hotNoPump, want: False,
			sig: map[string]*sigState{"boiler-7.temperature": num(70, now), "pump-2.running": boolean(false, now)}},
		{name: "pump missing, unknown", src: hotNoPump, missing: Unknown, want: Unknown,
			sig: map[string]*sigState{"boiler-7.temperature": num(85, now)}},
		{name: "pump missing, false", src: hotNoPump, missing: False, want: False,
			sig: map[string]*sigState{"boiler-7.temperature": num(85, now)}},
		{name: "pump stale, unknown", src: hotNoPump, missing: Unknown, want: Unknown,
			sig: map[string]*sigState{"boiler-7.temperature": num(85, now), "pump-2.running": boolean(false, now-60_001)}},
		{name: "pump stale, false", src: hotNoPump, missing: False, want: False,
			sig: map[string]*sigState{"boiler-7.temperature": num(85, now), "pump-2.running": boolean(false, now-60_001)}},
		{name: "exactly maxAge old is fresh", src: hotNoPump, want: True,
			sig: map[string]*sigState{"boiler-7.temperature": num(85, now), "pump-2.running": boolean(false, now-60_000)}},
		{name: "three devices", src: `dev("a").t - dev("b").t > 10 && dev("c").mode == "auto"`, want: True,
			sig: map[string]*sigState{"a.t": num(50, now), "b.t": num(35, now), "c.mode": str("auto", now)}},
		{name: "string compared with a number", src: `dev("a").t > 10`, want: Unknown, wantErr: true, missing: False,
			sig: map[string]*sigState{"a.t": str("hot", now)}},
		{name: "non-bool result", src: `dev("a").t`, want: Unknown, wantErr: true,
			sig: map[string]*sigState{"a.t": num(1, now)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x, err := compileJointExpr(c.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := x.eval(&jointView{sig: c.sig, now: now, maxAge: 60_000, missing: c.missing})
			if got != c.want || (err != nil) != c.wantErr {
				t.Fatalf("got %v (err %v), want %v (err %v)", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestJointConfigProblems(t *testing.T) {
	cases := []struct {
		cfg  jointConfig
		want string
	}{
		{jointConfig{Name: "r", Condition: `dev("a").t > 1`}, ""},
		{jointConfig{Name: "", Condition: `dev("a").t > 1`}, "name"},
		{jointConfig{Name: "r", Condition: `dev("a").t > 1`, Missing: "maybe"}, "missing"},
		{jointConfig{Name: "r", Condition: `dev(1).t > 1`}, "condition"},
		{jointConfig{Name: "r", Condition: `dev("a.b").c > 1 && dev("a")["b.c"] > 1`}, "condition"},
		{jointConfig{Name: "r", Condition: `dev("a").t > 1`, Escalations: []jointEscalationConfig{{Severity: "critical"}}}, "escalations[0]"},
		{jointConfig{Name: "r", Condition: `dev("a").t > 1`, Escalations: []jointEscalationConfig{{Severity: "critical", Condition: `dev("b")`}}}, "escalations[0].condition"},
	}
	for _, c := range cases {
		_, ps := compileJoint(c.cfg)
		switch {
		case c.want == "" && ps.HasErrors():
			t.Errorf("%+v: %v", c.cfg, ps)
		case c.want != "" && (!ps.HasErrors() || ps[0].Field != c.want):
			t.Errorf("%+v: problems %v, want one on %s", c.cfg, ps, c.want)
		}
	}
}

// newJointHarness deploys a jointAlarm configuration like newHarness does a
// thresholdAlarm one.
func newJointHarness(t *testing.T, cfg map[string]any, o harnessOpts) *harness {
	t.Helper()
	if o.clock == nil {
		o.clock = &fakeClock{t: t0}
		useClock(t, o.clock)
	}
	if o.state == nil {
		st, err := engine.NewMemoryState(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		o.state = st
	}
	if o.flow == "" {
		o.flow = fmt.Sprintf("joint-%d", flowSeq.Add(1))
	}
	h := &harness{t: t, state: o.state, clock: o.clock, flow: o.flow, got: make(chan got, 1024), rec: &memRecorder{}}
	sinks.Store(h.flow, h.got)
	h.mgr = engine.NewManager(engine.Options{Metrics: prometheus.NewRegistry(), State: o.state, Logger: quietLogger(), MessageTimeout: 10 * time.Second, DrainTimeout: 5 * time.Second})
	h.mgr.Resources().Provide(RecorderKey, h.rec)
	t.Cleanup(func() { h.shutdown() })
	if _, ok := cfg["tick"]; !ok {
		cfg["tick"] = "10ms"
	}
	f := testFlow(h.flow, cfg)
	f.Metadata.Nodes[0].Type = JointType
	if err := h.mgr.Deploy(context.Background(), "acme", f, 1); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	return h
}

func jointCfg(kv ...any) map[string]any {
	cfg := map[string]any{
		"name": "no-pump", "alarmDevice": "boiler-room", "futureTolerance": "24h",
		"condition": `dev("boiler-7").temperature > 80 && !dev("pump-2").running`,
	}
	for i := 0; i+1 < len(kv); i += 2 {
		cfg[kv[i].(string)] = kv[i+1]
	}
	return cfg
}

func TestJointAlarmLifecycle(t *testing.T) {
	h := newJointHarness(t, jointCfg("duration", "10s", "severity", "minor"), harnessOpts{})
	step := func(dev string, at time.Duration, s sig, want string) []got {
		t.Helper()
		g := h.send(dev, at, s)
		// The event goes out in the alarm device's lane: it may reach the
		// sinks before or after the telemetry's Success.
		passed := 0
		for _, x := range g {
			if x.rel == "Success" {
				passed++
			}
		}
		if passed != 1 {
			t.Fatalf("%s at %v: telemetry passed %d times, want once: %v", dev, at, passed, g)
		}
		if got := rels(g); got != want {
			t.Fatalf("%s at %v: alarms %q, want %q (%v)", dev, at, got, want, g)
		}
		return alarms(g)
	}
	step("boiler-7", 0, sig{"temperature": 90.0}, "")             // pump unknown
	step("other", time.Second, sig{"temperature": 99.0}, "")      // not read
	step("pump-2", 2*time.Second, sig{"running": false}, "")      // true from 2s
	step("boiler-7", 8*time.Second, sig{"temperature": 91.0}, "") // 6s only
	a := step("boiler-7", 12*time.Second, sig{"temperature": 92.0}, "Active")[0]
	if a.ev.DeviceID != "boiler-room" || a.ev.Rule != "no-pump" || a.ev.Severity != "minor" || a.ev.Value != nil ||
		a.ev.Signals["boiler-7.temperature"] != 92.0 || a.ev.Signals["pump-2.running"] != false {
		t.Fatalf("event %+v", a.ev)
	}
	if a.msg.Metadata["deviceId"] != "boiler-room" || a.msg.Metadata["alarmRule"] != "no-pump" {
		t.Fatalf("metadata %v", a.msg.Metadata)
	}
	// A late sample (older than the pump's value by more than 5s) changes nothing.
	if g := h.send("pump-2", -10*time.Second, sig{"running": true}); rels(g) != "" || g[0].msg.Metadata["late"] != "true" {
		t.Fatalf("late: %v", g)
	}
	c := step("pump-2", 13*time.Second, sig{"running": true}, "Cleared")[0]
	if c.ev.AlarmID != a.ev.AlarmID {
		t.Fatalf("cleared %s, want %s", c.ev.AlarmID, a.ev.AlarmID)
	}
	// The duration starts over.
	step("pump-2", 14*time.Second, sig{"running": false}, "")
	step("boiler-7", 20*time.Second, sig{"temperature": 92.0}, "")
	if n := step("boiler-7", 24*time.Second, sig{"temperature": 92.0}, "Active")[0]; n.ev.AlarmID == a.ev.AlarmID {
		t.Fatal("a new alarm reused the old id")
	}
	if got := strings.Join(h.rec.kinds(), " "); got != "created:no-pump:boiler-room cleared:no-pump:boiler-room created:no-pump:boiler-room" {
		t.Errorf("recorded %s", got)
	}
}

func TestJointAlarmStale(t *testing.T) {
	for _, mode := range []string{missingUnknown, missingFalse} {
		t.Run(mode, func(t *testing.T) {
			h := newJointHarness(t, jointCfg("maxAge", "1m", "missing", mode), harnessOpts{})
			h.send("pump-2", 0, sig{"running": false})
			if g := h.send("boiler-7", time.Second, sig{"temperature": 90.0}); rels(g) != "Active" {
				t.Fatalf("raise: %v", g)
			}
			// Two minutes on, the pump's value is stale.
			g := h.send("boiler-7", 2*time.Minute, sig{"temperature": 90.0})
			want := ""
			if mode == missingFalse {
				want = "Cleared"
			}
			if rels(g) != want {
				t.Fatalf("stale pump: %v, want %q", g, want)
			}
		})
	}
}

// TestJointAlarmStaleByTimer: a value going stale clears the alarm (missing
// false) without further data, through the timer.
func TestJointAlarmStaleByTimer(t *testing.T) {
	h := newJointHarness(t, jointCfg("maxAge", "1m", "missing", "false"), harnessOpts{})
	h.sendAt("pump-2", 0, sig{"running": false})
	if g := h.sendAt("boiler-7", time.Second, sig{"temperature": 90.0}); rels(g) != "Active" {
		t.Fatalf("raise: %v", g)
	}
	h.clock.Set(t0.Add(61*time.Second + time.Millisecond))
	if g := alarms(h.waitFor("Cleared")); len(g) != 1 || g[0].ev.DeviceID != "boiler-room" {
		t.Fatalf("stale clear: %v", g)
	}
}

func TestJointAlarmRestart(t *testing.T) {
	st, err := engine.NewMemoryState(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: t0}
	useClock(t, clock)
	flow := fmt.Sprintf("joint-%d", flowSeq.Add(1))
	h := newJointHarness(t, jointCfg(), harnessOpts{state: st, clock: clock, flow: flow})
	h.send("pump-2", 0, sig{"running": false})
	g := h.send("boiler-7", time.Second, sig{"temperature": 90.0})
	if rels(g) != "Active" {
		t.Fatalf("raise: %v", g)
	}
	id := alarms(g)[0].ev.AlarmID
	h.shutdown()

	h2 := newJointHarness(t, jointCfg(), harnessOpts{state: st, clock: clock, flow: flow})
	// The pump's value survived: the boiler alone keeps the alarm, and
	// the pump starting clears the same alarm.
	if g := h2.send("boiler-7", 2*time.Second, sig{"temperature": 91.0}); rels(g) != "" {
		t.Fatalf("after restart: %v", g)
	}
	g = h2.send("pump-2", 3*time.Second, sig{"running": true})
	if rels(g) != "Cleared" || alarms(g)[0].ev.AlarmID != id {
		t.Fatalf("clear after restart: %v (want alarm %s)", g, id)
	}
}

func TestJointAlarmAcknowledge(t *testing.T) {
	h := newJointHarness(t, jointCfg("reminder", "1m"), harnessOpts{})
	h.send("pump-2", 0, sig{"running": false})
	g := h.send("boiler-7", time.Second, sig{"temperature": 90.0})
	if rels(g) != "Active" {
		t.Fatalf("raise: %v", g)
	}
	id := alarms(g)[0].ev.AlarmID
	key := CommandKey("acme", h.flow, "alarm", "no-pump", "boiler-room")
	if err := SendCommand(context.Background(), h.state, key, Command{AlarmID: id, Ack: &Action{By: "ada"}}); err != nil {
		t.Fatal(err)
	}
	res, err := h.mgr.Submit(context.Background(), h.flow, CommandMessage("boiler-room"), engine.SubmitOptions{Wait: true, StartNode: "alarm"})
	if err != nil || res.Status != engine.StatusCompleted {
		t.Fatalf("command: %v %+v", err, res)
	}
	h.settle()
	a := alarms(h.waitFor(RelUpdated))
	if len(a) != 1 || !a[0].ev.Acknowledged || a[0].msg.Metadata["alarmChange"] != ChangeAcknowledged || a[0].msg.Metadata["alarmBy"] != "ada" {
		t.Fatalf("ack: %v", a)
	}
}

// TestJointSpecDecode: Init decodes strictly and names the field.
func TestJointSpecDecode(t *testing.T) {
	n := &Joint{}
	if err := n.Init(types.NewConfig(), types.Configuration(jointCfg())); err != nil {
		t.Fatal(err)
	}
	if err := n.Init(types.NewConfig(), types.Configuration(jointCfg("condition", `dev("a")`))); err == nil ||
		!strings.Contains(err.Error(), "condition") {
		t.Fatalf("bad condition: %v", err)
	}
	n.Destroy()
}

// TestJointSpecShape applies the spec checks of TestSpecShape to the joint
// node, and validates its examples.
func TestJointSpecShape(t *testing.T) {
	r, ok := spec.Lookup(JointType)
	if !ok || r.Proto.Type() != JointType {
		t.Fatal("jointAlarm is not registered")
	}
	s := r.Spec
	var walk func(fs []*spec.Field, path string)
	walk = func(fs []*spec.Field, path string) {
		for _, f := range fs {
			p := path + f.Name
			if f.Help == "" {
				t.Errorf("field %s has no help", p)
			}
			if f.Required && f.Default != nil {
				t.Errorf("field %s is required and has a default", p)
			}
			walk(f.Fields, p+".")
		}
	}
	walk(s.Fields, "")
	for _, ex := range s.Examples {
		if ps := s.Check(ex.Config); ps.HasErrors() {
			t.Errorf("example %q: %v", ex.Title, ps)
		}
	}
	if ps := s.Check(s.Defaults()); !ps.HasErrors() {
		t.Error("a configuration without a condition validates")
	}
}
