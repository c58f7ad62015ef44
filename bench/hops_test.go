// Package bench holds Sluice's benchmarks that compare it with peers run in
// the same session. `make bench` runs them in full; `make test` runs each
// once (-benchtime=1x) as a smoke test.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// passNode is the trivial node of the hop benchmarks: it tells Success.
type passNode struct{}

func (passNode) Type() string                                   { return "bench/pass" }
func (passNode) New() types.Node                                { return passNode{} }
func (passNode) Init(types.Config, types.Configuration) error   { return nil }
func (passNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) { ctx.TellSuccess(msg) }
func (passNode) Destroy()                                       {}

func init() {
	spec.Register(&spec.Node{Type: "bench/pass", Category: "bench", Summary: "Passes every message on Success.",
		Relations: spec.Relations{Fixed: []string{types.Success, types.Failure}}}, passNode{})
}

const payload = `{"deviceId":"d1","temperature":21.5,"humidity":40}`

func chain(id string, hops int) *engine.Flow {
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	for i := 1; i <= hops; i++ {
		f.Metadata.Nodes = append(f.Metadata.Nodes, engine.Node{ID: fmt.Sprintf("n%d", i), Type: "bench/pass"})
		if i > 1 {
			f.Metadata.Connections = append(f.Metadata.Connections, engine.Connection{FromID: fmt.Sprintf("n%d", i-1), ToID: fmt.Sprintf("n%d", i), Type: types.Success})
		}
	}
	return f
}

func newManager(b *testing.B) *engine.Manager {
	m := engine.NewManager(engine.Options{Metrics: prometheus.NewRegistry(), MaxInFlight: 1000, Logger: slog.New(slog.DiscardHandler)})
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = m.Shutdown(ctx)
	})
	return m
}

// send pushes n messages through flow id (admission bounds what is in
// flight) and returns when all are done.
func send(b *testing.B, m *engine.Manager, id string, n, devices int) {
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Add(n)
	done := func(engine.Result) { wg.Done() }
	for i := 0; i < n; i++ {
		var md map[string]string
		if devices > 0 {
			md = map[string]string{engine.MetaDeviceID: fmt.Sprintf("d%d", i%devices)}
		}
		if _, err := m.Submit(ctx, id, engine.Message{Type: "TELEMETRY", Data: payload, Metadata: md}, engine.SubmitOptions{Done: done}); err != nil {
			b.Fatalf("submit: %v", err)
		}
	}
	wg.Wait()
}

// BenchmarkEngineThroughput sends messages through a four-node chain with
// tracing off and with a live trace subscriber.
func BenchmarkEngineThroughput(b *testing.B) {
	for _, traced := range []bool{false, true} {
		b.Run(fmt.Sprintf("trace=%v", traced), func(b *testing.B) {
			m := newManager(b)
			if err := m.Deploy(context.Background(), "default", chain("tp", 4), 1); err != nil {
				b.Fatal(err)
			}
			if traced {
				sub := m.Trace().Subscribe("tp", 1024)
				stop := make(chan struct{})
				drained := make(chan struct{})
				go func() {
					defer close(drained)
					for {
						select {
						case <-sub.C():
						case <-stop:
							return
						}
					}
				}()
				b.Cleanup(func() { close(stop); <-drained; sub.Close() })
			}
			b.ReportAllocs()
			b.ResetTimer()
			send(b, m, "tp", b.N, 64)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msg/s")
		})
	}
}

// peerResult is what bench/rulegopeer prints.
type peerResult struct {
	CPUNsPerMsg float64 `json:"cpuNsPerMsg"`
	BytesPerMsg float64 `json:"bytesPerMsg"`
	WallMsgPerS float64 `json:"wallMsgPerS"`
}

var peerBin struct {
	once sync.Once
	path string
	err  error
}

func buildPeer(b *testing.B) string {
	peerBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "rulegopeer")
		if err != nil {
			peerBin.err = err
			return
		}
		peerBin.path = filepath.Join(dir, "rulegopeer")
		out, err := exec.Command("go", "build", "-o", peerBin.path, "./rulegopeer").CombinedOutput()
		if err != nil {
			peerBin.err = fmt.Errorf("build rulegopeer: %v: %s", err, out)
		}
	})
	if peerBin.err != nil {
		b.Fatal(peerBin.err)
	}
	return peerBin.path
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHopsVsRuleGo measures CPU and bytes allocated per message for a
// chain of N trivial nodes on Sluice's engine, and the same chain on stock
// RuleGo in a separate process (bench/rulegopeer), measured the same way in
// the same run. It reports both and their ratio.
func BenchmarkHopsVsRuleGo(b *testing.B) {
	peer := buildPeer(b)
	for _, hops := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("hops=%d", hops), func(b *testing.B) {
			m := newManager(b)
			id := fmt.Sprintf("hops%d", hops)
			if err := m.Deploy(context.Background(), "default", chain(id, hops), 1); err != nil {
				b.Fatal(err)
			}
			n := b.N
			if n < 1000 {
				n = 1000 // below this, start-up noise dominates the per-message figures
			}
			send(b, m, id, n/10, 0) // warm up
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			cpu0 := cpuNow()
			b.ResetTimer()
			send(b, m, id, n, 0)
			b.StopTimer()
			cpu := cpuNow() - cpu0
			runtime.ReadMemStats(&after)
			sluiceCPU := float64(cpu.Nanoseconds()) / float64(n)
			sluiceBytes := float64(after.TotalAlloc-before.TotalAlloc) / float64(n)

			out, err := exec.Command(peer, "-hops", fmt.Sprint(hops), "-n", fmt.Sprint(n)).Output()
			if err != nil {
				b.Fatalf("rulegopeer: %v", err)
			}
			var p peerResult
			if err := json.Unmarshal(out, &p); err != nil {
				b.Fatalf("rulegopeer output %q: %v", out, err)
			}
			b.ReportMetric(sluiceCPU/1000, "sluice-cpu-µs/msg")
			b.ReportMetric(p.CPUNsPerMsg/1000, "rulego-cpu-µs/msg")
			b.ReportMetric(sluiceCPU/p.CPUNsPerMsg, "cpu-ratio")
			b.ReportMetric(sluiceBytes, "sluice-B/msg")
			b.ReportMetric(p.BytesPerMsg, "rulego-B/msg")
			b.ReportMetric(sluiceBytes/p.BytesPerMsg, "bytes-ratio")
		})
	}
}
