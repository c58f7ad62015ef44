package script

import (
	"testing"
	"time"

	"github.com/dop251/goja"
	"github.com/rulego/rulego/api/types"
)

const benchParseCode = "return {deviceId: msg.id, ts: msg.time, signals: {temperature: msg.temp, pressure: msg.p, running: msg.state === 'on'}};"

const benchPayload = `{"id":"boiler-7","time":1763800000000,"temp":81.5,"p":2.1,"state":"on","fw":"1.4.2"}`

// BenchmarkParseScript measures one parse call on the node's VM pool: the
// payload decoded into the VM, the script, and the result checked and
// encoded as a TELEMETRY message. Run in parallel, it shares the pool as
// the engine's workers would.
func BenchmarkParseScript(b *testing.B) {
	code, err := compileCode(benchParseCode)
	if err != nil {
		b.Fatal(err)
	}
	p := newPool(programs{code: code}, limits{timeout: 100 * time.Millisecond, memory: 64 << 20})
	defer p.close()
	md := types.NewMetadata()
	md["topic"] = "plant/boiler-7"
	msg := types.NewMsg(0, "RAW", types.JSON, md, benchPayload)
	parse := func(v *vmState) error {
		payload, err := v.payload(msg)
		if err != nil {
			return err
		}
		res, err := v.fn(goja.Undefined(), payload, v.metadataObject(msg.Metadata), v.rt.ToValue(msg.Type), v.rt.ToValue(string(msg.DataType)))
		if err != nil {
			return err
		}
		outs, err := v.telemetry(res, msg)
		if err == nil && len(outs) != 1 {
			b.Fatalf("%d results", len(outs))
		}
		return err
	}
	if err := p.with(parse); err != nil { // the first call builds a VM
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := p.with(parse); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkNewVM measures building one VM (helpers, guards, freezing): paid
// once per pooled VM, and again after a VM was interrupted.
func BenchmarkNewVM(b *testing.B) {
	code, err := compileCode(benchParseCode)
	if err != nil {
		b.Fatal(err)
	}
	p := newPool(programs{code: code}, limits{timeout: 100 * time.Millisecond, memory: 64 << 20})
	b.ReportAllocs()
	for b.Loop() {
		v, err := p.newVM()
		if err != nil {
			b.Fatal(err)
		}
		v.close()
	}
}
