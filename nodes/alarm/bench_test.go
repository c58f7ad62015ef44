package alarm

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/rulego/rulego/api/types"
	"github.com/rulego/rulego/test"

	"github.com/sluicehq/sluice/engine"
)

// benchConfig is a node with three rules over three signals: a threshold
// with a dead band and a duration, an OR tree across signals, a rate.
func benchConfig() map[string]any {
	return map[string]any{"futureTolerance": "24h", "rules": []any{
		map[string]any{"name": "hot", "duration": "30s", "clearAfter": "1m", "condition": map[string]any{"rules": []any{
			leaf("op", ">", "signal", "temperature", "value", 80.0, "deadband", 2.0)}}},
		map[string]any{"name": "pressure", "condition": map[string]any{"op": "or", "rules": []any{
			leaf("op", "outside", "signal", "pressure", "low", 1.5, "high", 3.0),
			leaf("op", "==", "signal", "running", "value", 0.0)}}},
		map[string]any{"name": "heating", "condition": map[string]any{"rules": []any{
			leaf("op", ">", "signal", "temperature", "window", "5m", "value", 2.0)}}},
	}}
}

// samples are n normal samples of 100 devices, one per second each.
func samples(n int) []types.RuleMsg {
	out := make([]types.RuleMsg, n)
	for i := range out {
		dev := "boiler-" + strconv.Itoa(i%100)
		data, _ := json.Marshal(map[string]any{"deviceId": dev, "ts": t0.Add(time.Duration(i/100) * time.Second).UnixMilli(),
			"signals": map[string]any{"temperature": 60 + float64(i%7), "pressure": 2.1, "running": true}})
		out[i] = types.NewMsg(0, "TELEMETRY", types.JSON, types.Metadata{engine.MetaDeviceID: dev}, string(data))
	}
	return out
}

// BenchmarkSample is the node's cost per telemetry sample (decode, three
// rules, lifecycle; no alarm changes), outside an engine.
func BenchmarkSample(b *testing.B) {
	n := &Threshold{}
	if err := n.Init(types.NewConfig(), benchConfig()); err != nil {
		b.Fatal(err)
	}
	defer n.Destroy()
	var told int
	ctx := test.NewRuleContext(types.NewConfig(), func(types.RuleMsg, string, error) { told++ })
	msgs := samples(1000)
	for i := range 200 { // warm up: every device known
		n.OnMsg(ctx, msgs[i%len(msgs)])
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := msgs[i%len(msgs)]
		m.Metadata = types.Metadata{engine.MetaDeviceID: m.Metadata[engine.MetaDeviceID]}
		n.OnMsg(ctx, m)
	}
	b.StopTimer()
	if told < b.N {
		b.Fatalf("told %d for %d messages", told, b.N)
	}
}

// BenchmarkSampleInFlow is a sample's cost through a deployed flow (engine
// hop, lanes, state store), one message at a time.
func BenchmarkSampleInFlow(b *testing.B) {
	st, _ := engine.NewMemoryState(context.Background(), nil)
	mgr := engine.NewManager(engine.Options{State: st, Logger: quietLogger()})
	defer func() { _ = mgr.Shutdown(context.Background()) }()
	f := testFlow("bench", benchConfig())
	f.Metadata.Nodes, f.Metadata.Connections = f.Metadata.Nodes[:1], nil
	if err := mgr.Deploy(context.Background(), "acme", f, 1); err != nil {
		b.Fatal(err)
	}
	msgs := samples(1000)
	em := make([]engine.Message, len(msgs))
	for i, m := range msgs {
		em[i] = engine.Message{Type: m.Type, Data: m.Data, Metadata: map[string]string{engine.MetaDeviceID: m.Metadata[engine.MetaDeviceID]}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := mgr.Submit(context.Background(), "bench", em[i%len(em)], engine.SubmitOptions{Wait: true}); err != nil {
			b.Fatal(err)
		}
	}
}
