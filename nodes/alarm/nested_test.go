package alarm

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/sink/batch"
	tssink "github.com/sluicehq/sluice/nodes/sink/timeseries"
	"github.com/sluicehq/sluice/store/timeseries"
)

// nestedExample is the payload both the time-series sink and the alarm
// read in the tests below: nested objects, a null, an empty object (the
// sink refuses arrays; TestDecodeTelemetry covers the alarm skipping them).
var nestedExample = sig{
	"temperature": 20.0,
	"motor":       map[string]any{"rpm": 150.0, "on": true, "temp": map[string]any{"winding": 81.5, "case": "warm"}, "off": nil},
	"state":       map[string]any{},
}

// storedSeries waits until the store holds want points of device dev and
// returns its points by signal name.
func storedSeries(t *testing.T, r timeseries.Reader, dev string, want int) map[string][]timeseries.Sample {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := r.Query(context.Background(), timeseries.Query{Tenant: "acme", Devices: []string{dev},
			From: t0.Add(-time.Hour).UnixMilli(), To: t0.Add(time.Hour).UnixMilli(), Limit: timeseries.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]timeseries.Sample{}
		n := 0
		for _, s := range res.Series {
			out[s.Signal] = s.Points
			n += len(s.Points)
		}
		if n >= want {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sink stored %d points of %s within 10s, want %d: %v", n, dev, want, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// withSink deploys flow "store-…" with a time-series sink over store in
// the harness's engine and returns a function that sends telemetry to it.
func withSink(t *testing.T, h *harness, store timeseries.Writer) func(dev string, at time.Duration, signals sig) {
	h.mgr.Resources().Provide(tssink.StoreKey, store)
	h.mgr.Resources().Provide(batch.DataDirKey, t.TempDir())
	flow := "store-" + h.flow
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: flow, Name: flow}}
	f.Metadata.Nodes = []engine.Node{{ID: "sink", Type: tssink.Type, Configuration: map[string]any{"flushInterval": "5ms"}}}
	if err := h.mgr.Deploy(context.Background(), "acme", f, 1); err != nil {
		t.Fatalf("deploy the sink: %v", err)
	}
	return func(dev string, at time.Duration, signals sig) {
		t.Helper()
		data := fmt.Sprintf(`{"deviceId":%q,"ts":%d,"signals":%s}`, dev, t0.Add(at).UnixMilli(), mustJSON(t, signals))
		res, err := h.mgr.Submit(context.Background(), flow, engine.Message{Type: "TELEMETRY", Data: data}, engine.SubmitOptions{Wait: true})
		if err != nil || res.Status != engine.StatusCompleted {
			t.Fatalf("sink: %v %+v", err, res)
		}
	}
}

// TestNestedSignalsNamedAsTheSinkStoresThem stores a nested payload through
// the real time-series sink and decodes it with the alarm's decoder: the
// alarm finds a value under every name the sink stored, the same value,
// and nothing under names the sink did not store.
func TestNestedSignalsNamedAsTheSinkStoresThem(t *testing.T) {
	store := openHistory(t, nil)
	h := newHarness(t, withFuture(oneRule([]any{leaf("op", ">", "signal", "motor.rpm", "value", 100.0)})), harnessOpts{})
	toSink := withSink(t, h, store)
	toSink("shared", 0, nestedExample)
	stored := storedSeries(t, store, "shared", 5)
	var names []string
	for n := range stored {
		names = append(names, n)
	}
	sort.Strings(names)
	if want := []string{"motor.on", "motor.rpm", "motor.temp.case", "motor.temp.winding", "temperature"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("the sink stored %v, want %v", names, want)
	}
	// The alarm's index: the stored names, and names the sink did not store.
	index := map[string]int{}
	all := append(append([]string{}, names...), "motor", "motor.tags", "motor.off", "state", "motor.temp")
	for i, n := range all {
		index[n] = i
	}
	payload := fmt.Sprintf(`{"deviceId":"shared","ts":%d,"signals":%s}`, t0.UnixMilli(), mustJSON(t, nestedExample))
	for _, path := range []string{"scanner", "encoding/json"} {
		var d decoded
		var err error
		if path == "scanner" {
			err = decodeTelemetry(payload, index, &d)
		} else {
			err = decodeSlow(payload, index, &d)
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		got := map[string]any{}
		for _, v := range d.valsOf(&d.samples[0]) {
			st := &sigState{}
			st.set(v, 1, 0)
			got[all[v.idx]] = st.value()
		}
		want := map[string]any{}
		for n, pts := range stored {
			want[n] = pts[0].Value.Any()
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: the alarm read %v, the sink stored %v", path, got, want)
		}
	}
}

// TestNestedSignalLiveAndBacktestAgree raises an alarm on motor.rpm from
// nested telemetry in a deployed node, stores the same telemetry through
// the time-series sink, and backtests the node over the store: the same
// alarm changes at the same times.
func TestNestedSignalLiveAndBacktestAgree(t *testing.T) {
	store := openHistory(t, nil)
	cfg := oneRule([]any{leaf("op", ">", "signal", "motor.rpm", "value", 100.0)}, "clearAfter", "10s")
	h := newHarness(t, cfg, harnessOpts{})
	toSink := withSink(t, h, store)
	var live []string
	for i, rpm := range []float64{50, 150, 160, 90, 95, 120} {
		at := time.Duration(i) * 10 * time.Second
		s := sig{"motor": map[string]any{"rpm": rpm, "temp": map[string]any{"winding": 60.0}}, "temperature": 20.0}
		for _, g := range alarms(h.sendAt("m1", at, s)) {
			live = append(live, fmt.Sprintf("%s@%d", g.rel, (g.ev.Ts-t0.UnixMilli())/1000))
			if v, ok := g.ev.Signals["motor.rpm"]; !ok || g.ev.Value == nil || v != *g.ev.Value {
				t.Errorf("event signals %v value %v", g.ev.Signals, g.ev.Value)
			}
		}
		toSink("m1", at, s)
	}
	storedSeries(t, store, "m1", 18)
	res, err := runBacktest(t, store, ThresholdType, cfg, 0, 60)
	if err != nil {
		t.Fatal(err)
	}
	var replayed []string
	for _, e := range res.Events {
		rel := map[string]string{"active": RelActive, "updated": RelUpdated, "cleared": RelCleared}[e.Kind]
		replayed = append(replayed, fmt.Sprintf("%s@%d", rel, (e.TS-t0.UnixMilli())/1000))
	}
	if want := []string{"Active@10", "Cleared@40", "Active@50"}; !reflect.DeepEqual(live, want) || !reflect.DeepEqual(replayed, want) {
		t.Fatalf("live %v, backtest %v, want %v", live, replayed, want)
	}
}

// TestDeeplyNestedSignal reads a signal nested deeper than the scanner
// follows (the encoding/json path reads it).
func TestDeeplyNestedSignal(t *testing.T) {
	var name, obj strings.Builder
	for i := range maxSignalDepth + 3 {
		fmt.Fprintf(&name, "l%d.", i)
		fmt.Fprintf(&obj, `{"l%d":`, i)
	}
	name.WriteString("v")
	payload := `{"deviceId":"d","ts":1,"signals":` + obj.String() + `{"v":7}` + strings.Repeat("}", maxSignalDepth+3) + `}`
	var d decoded
	if err := decodeTelemetry(payload, map[string]int{name.String(): 0}, &d); err != nil {
		t.Fatal(err)
	}
	if got := render(&d); got != `d@1: 0=1/7/"";` {
		t.Fatalf("got %s", got)
	}
}
