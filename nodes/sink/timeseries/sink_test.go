package timeseries

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/nodes/sink/batch"
	ts "github.com/sluicehq/sluice/store/timeseries"
)

const t0 = int64(1763800000000)

var fast = map[string]any{"flushInterval": "5ms"}

func TestSinkStoresTelemetry(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	r := newRig(t, store)
	r.deploy(t, flowOf(t, "plant", fast), 1)

	res := r.send(t, "plant", "boiler-7", telemetryOf("boiler-7", t0, `{"temperature": 81.5, "running": true, "mode": "eco", "motor": {"rpm": 1500}, "note": null}`))
	if res.Status != engine.StatusCompleted || len(res.Ends) != 1 || res.Ends[0].Relation != "Success" {
		t.Fatalf("result = %+v", res)
	}
	if md := res.Ends[0].Msg.Metadata; md[MetaPoints] != "4" || md[MetaDryRun] != "" {
		t.Errorf("metadata = %v, want points 4 and no dryRun", md)
	}
	// A list of results; the device from the metadata when the payload has
	// none; the time from the message when the payload has none.
	r.send(t, "plant", "boiler-8", `[{"ts": `+jsonNum(t0+1000)+`, "signals": {"temperature": 60}}, {"ts": "2025-11-22T08:26:42Z", "signals": {"temperature": 61}}]`)

	eventually(t, 10*time.Second, "the points in the store", func() bool {
		return len(query(t, store, "boiler-7", "boiler-8")) == 5
	})
	got := query(t, store, "boiler-7", "boiler-8")
	want := map[string][]ts.Sample{
		"boiler-7/mode":        {{TS: t0, Value: ts.String("eco")}},
		"boiler-7/motor.rpm":   {{TS: t0, Value: ts.Number(1500)}},
		"boiler-7/running":     {{TS: t0, Value: ts.Bool(true)}},
		"boiler-7/temperature": {{TS: t0, Value: ts.Number(81.5)}},
		"boiler-8/temperature": {{TS: t0 + 1000, Value: ts.Number(60)}, {TS: time.Date(2025, 11, 22, 8, 26, 42, 0, time.UTC).UnixMilli(), Value: ts.Number(61)}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("store holds %+v\nwant %+v", got, want)
	}
	// The node reports through the registry; its spool is in data.dir.
	st := r.Reg.Statuses("plant")["store"]
	if st.Written != 6 || st.State != batch.StateOK || st.Queued != 0 {
		t.Errorf("status = %+v", st)
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "spool", "acme", "plant", "store")); err != nil {
		t.Errorf("spool directory: %v", err)
	}
}

func jsonNum(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestSinkSignalsFilter(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	r := newRig(t, store)
	r.deploy(t, flowOf(t, "plant", map[string]any{"flushInterval": "5ms", "signals": []any{"temperature", "motor.rpm"}}), 1)
	res := r.send(t, "plant", "b", telemetryOf("b", t0, `{"temperature": 1, "pressure": 2, "motor": {"rpm": 3, "amps": 4}}`))
	if md := res.Ends[0].Msg.Metadata; md[MetaPoints] != "2" {
		t.Errorf("points = %q, want 2", md[MetaPoints])
	}
	eventually(t, 10*time.Second, "two series", func() bool { return len(query(t, store, "b")) == 2 })
	if got := query(t, store, "b"); got["b/temperature"] == nil || got["b/motor.rpm"] == nil {
		t.Errorf("stored %v", got)
	}
}

// TestSinkTestRunWritesNothing: in a test run the node says what it would
// write and writes nothing, not even a spool.
func TestSinkTestRunWritesNothing(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	r := newRig(t, store)
	res, err := r.M.Test(ctxT(t), "acme", flowOf(t, "plant", nil),
		engine.Message{Type: "TELEMETRY", Data: telemetryOf("boiler-7", t0, `{"a": 1, "b": 2, "c": "x"}`)}, "", false)
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	if res.Result.Status != engine.StatusCompleted || len(res.Result.Ends) != 1 {
		t.Fatalf("result = %+v", res.Result)
	}
	md := res.Result.Ends[0].Msg.Metadata
	if md[MetaDryRun] != "true" || md[MetaWouldWrite] != "3" || !strings.Contains(md[MetaReport], `would write 3 points of device ["boiler-7"]`) {
		t.Errorf("metadata = %v", md)
	}
	if got := query(t, store, "boiler-7"); len(got) != 0 {
		t.Errorf("a test run wrote %v", got)
	}
	if _, err := os.Stat(filepath.Join(r.Dir, "spool")); !os.IsNotExist(err) {
		t.Errorf("a test run made a spool: %v", err)
	}
}

func TestSinkFailures(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	r := newRig(t, store)
	r.deploy(t, flowOf(t, "plant", fast), 1)
	for _, c := range []struct{ data, device, want string }{
		{`temperature=3`, "d", "timeseriesSink: want unified telemetry"},
		{`{"deviceId": "d", "ts": 1}`, "d", "timeseriesSink: want unified telemetry {\"deviceId\",\"ts\",\"signals\":{name: value}} or a list of them: no signals object"},
		{telemetryOf("d", t0, `{"temps": [1, 2]}`), "d", `timeseriesSink: device "d": signal "temps": an array cannot be stored`},
		{`{"ts": 5, "signals": {"a": 1}}`, "", "timeseriesSink: no device: the payload's deviceId and the metadata deviceId are empty"},
		{`{"deviceId": "d", "ts": "yesterday", "signals": {"a": 1}}`, "d", `timeseriesSink: ts: want Unix milliseconds or an RFC 3339 time, got "yesterday"`},
		{`[{"deviceId": "d", "signals": {"a": 1}}, {"deviceId": "d", "signals": {"": 1}}]`, "d", `timeseriesSink: item 1: device "d": signal "": an empty name`},
	} {
		res := r.send(t, "plant", c.device, c.data)
		if res.Status != engine.StatusFailed || len(res.Ends) != 1 || !strings.HasPrefix(res.Ends[0].Error, c.want) {
			t.Errorf("%s: result = %+v\nwant a Failure starting %q", c.data, res, c.want)
		}
	}
	// Nothing half-written from the failed list.
	if got := query(t, store, "d"); len(got) != 0 {
		t.Errorf("failed messages wrote %v", got)
	}
}

func TestSinkWithoutStoreFails(t *testing.T) {
	r := newRig(t, nil)
	r.deploy(t, flowOf(t, "plant", fast), 1)
	res := r.send(t, "plant", "d", telemetryOf("d", t0, `{"a": 1}`))
	if res.Status != engine.StatusFailed || !strings.Contains(res.Ends[0].Error, "the time-series store (timeseries.store) is not available in this process") {
		t.Errorf("result = %+v", res)
	}
}

// TestSinkSurvivesStoreOutage: the real embedded store is closed in the
// middle of a stream of three devices and opened again later; the flow
// keeps acknowledging (the points wait in the spool), and every point
// arrives exactly once and in order per device.
func TestSinkSurvivesStoreOutage(t *testing.T) {
	store := newOutageStore(t)
	r := newRig(t, store)
	r.deploy(t, flowOf(t, "plant", map[string]any{"flushInterval": "2ms", "batchSize": 20, "queueSize": 50}), 1)

	check := func(st batch.Status) {
		if st.State != batch.StateRetrying || !strings.Contains(st.LastError, "closed") {
			t.Errorf("status during the outage = %+v", st)
		}
	}
	next := streamThroughOutage(t, r, 10*time.Second, store.down, store.up, check, store.writes)
	// The store holds them all.
	got := query(t, store.current(), "a", "b", "c")
	for d := range outageDevices {
		dev := string(rune('a' + d))
		if n := len(got[dev+"/seq"]); n != outagePer || next[dev] != outagePer {
			t.Errorf("device %s: %d points stored, %d written; want %d", dev, n, next[dev], outagePer)
		}
	}
}

// TestSinkSharedAcrossRedeploys: the versions of a flow share one batcher
// and one spool; a redeploy's settings apply; nothing is lost on the way.
func TestSinkSharedAcrossRedeploys(t *testing.T) {
	store := openStore(t, t.TempDir())
	defer store.Close()
	r := newRig(t, store)
	r.deploy(t, flowOf(t, "plant", map[string]any{"flushInterval": "1h", "batchSize": 1000}), 1)
	r.send(t, "plant", "d", telemetryOf("d", t0, `{"a": 1}`))
	// Version 2 flushes at once; the point version 1 queued goes with it.
	r.deploy(t, flowOf(t, "plant", map[string]any{"flushInterval": "5ms"}), 2)
	r.send(t, "plant", "d", telemetryOf("d", t0+1, `{"a": 2}`))
	eventually(t, 10*time.Second, "both points", func() bool { return len(query(t, store, "d")["d/a"]) == 2 })
	// Undeploy closes the batcher (the last version left).
	if err := r.M.Undeploy(ctxT(t), "plant"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the sink to unregister", func() bool { return len(r.Reg.Statuses("plant")) == 0 })
}

func TestSpecs(t *testing.T) {
	s := sinkSpec
	reg, ok := spec.Lookup(Type)
	if !ok || reg.Spec != s || s.Summary == "" || strings.Contains(s.Summary, "\n") {
		t.Fatalf("registration = %+v", reg)
	}
	var check func(fs []*spec.Field)
	check = func(fs []*spec.Field) {
		for _, f := range fs {
			if f.Help == "" {
				t.Errorf("field %q has no help", f.Name)
			}
			if f.Required && f.Default != nil {
				t.Errorf("field %q is required and has a default", f.Name)
			}
			check(f.Fields)
		}
	}
	check(s.Fields)
	base := s.Defaults()
	if ps := s.Check(base); len(ps) > 0 {
		t.Errorf("defaults: %v", ps)
	}
	for _, f := range s.Fields {
		if f.Example != nil {
			cfg := maps.Clone(base)
			cfg[f.Name] = f.Example
			if ps := s.Check(cfg); len(ps) > 0 {
				t.Errorf("example of %q: %v", f.Name, ps)
			}
		}
	}
	for _, ex := range s.Examples {
		if ps := s.Check(ex.Config); len(ps) > 0 {
			t.Errorf("example %q: %v", ex.Title, ps)
		}
		n := &Node{}
		if err := n.Init(types.NewConfig(), ex.Config); err != nil {
			t.Errorf("init with example %q: %v", ex.Title, err)
		}
		n.Destroy()
	}
	if _, err := json.Marshal(s); err != nil {
		t.Errorf("spec does not encode: %v", err)
	}
	if err := (&Node{}).Init(types.NewConfig(), map[string]any{"batchSize": 0}); err == nil || !strings.Contains(err.Error(), "batchSize") {
		t.Errorf("init with batchSize 0: %v", err)
	}
	if err := (&Node{}).Init(types.NewConfig(), map[string]any{"whenFull": "drop"}); err == nil || !strings.Contains(err.Error(), "whenFull") {
		t.Errorf("init with whenFull drop: %v", err)
	}
}
