package script_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
)

const benchPayload = `{"id":"boiler-7","time":1763800000000,"temp":81.5,"p":2.1,"state":"on","fw":"1.4.2"}`

// BenchmarkParseNode measures a JSON payload through a flow of scriptParse
// and a record node, one message at a time (Submit waits for the result).
func BenchmarkParseNode(b *testing.B) {
	m := newManager(b)
	deploy(b, m, scriptFlow("bench", "scriptParse", map[string]any{
		"code": "return {deviceId: msg.id, ts: msg.time, signals: {temperature: msg.temp, pressure: msg.p, running: msg.state === 'on'}};",
	}, types.Success))
	msg := jsonMsg(benchPayload, nil)
	submit(b, m, "bench", msg) // the first message builds a VM
	b.ReportAllocs()
	for b.Loop() {
		if r := submit(b, m, "bench", msg); r.Status != engine.StatusCompleted {
			b.Fatalf("%s %s", r.Status, r.Error)
		}
	}
}

// BenchmarkParseNodeParallel is BenchmarkParseNode with 16 devices
// submitting at once.
func BenchmarkParseNodeParallel(b *testing.B) {
	m := newManager(b)
	deploy(b, m, scriptFlow("bench", "scriptParse", map[string]any{
		"code": "return {deviceId: msg.id, ts: msg.time, signals: {temperature: msg.temp, pressure: msg.p, running: msg.state === 'on'}};",
	}, types.Success))
	submit(b, m, "bench", jsonMsg(benchPayload, nil))
	const producers = 16
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + producers - 1) / producers
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := jsonMsg(benchPayload, map[string]string{"deviceId": fmt.Sprint("d", p)})
			for range per {
				if r := submit(b, m, "bench", msg); r.Status != engine.StatusCompleted {
					b.Errorf("%s %s", r.Status, r.Error)
					return
				}
			}
		}()
	}
	wg.Wait()
}
