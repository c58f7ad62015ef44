// Command rulegopeer runs a chain of N trivial nodes on stock RuleGo v0.29.0
// (built-in aspects, default worker pool) and prints what one message cost:
// CPU time and bytes allocated. It is the peer of Sluice's hop benchmark and
// runs in its own process, because Sluice changes RuleGo's built-in aspects
// for its whole process.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/rulego/rulego"
	"github.com/rulego/rulego/api/types"
)

type passNode struct{}

func (passNode) Type() string                                   { return "peer/pass" }
func (passNode) New() types.Node                                { return passNode{} }
func (passNode) Init(types.Config, types.Configuration) error   { return nil }
func (passNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) { ctx.TellSuccess(msg) }
func (passNode) Destroy()                                       {}

// Result is what the peer prints as JSON.
type Result struct {
	Hops         int     `json:"hops"`
	Messages     int     `json:"messages"`
	CPUNsPerMsg  float64 `json:"cpuNsPerMsg"`
	BytesPerMsg  float64 `json:"bytesPerMsg"`
	WallMsgPerS  float64 `json:"wallMsgPerS"`
	InFlightHigh int     `json:"inFlight"`
}

func main() {
	hops := flag.Int("hops", 4, "nodes in the chain")
	n := flag.Int("n", 100000, "messages")
	inflight := flag.Int("inflight", 1000, "messages in flight at most")
	flag.Parse()
	if err := run(*hops, *n, *inflight); err != nil {
		fmt.Fprintln(os.Stderr, "rulegopeer:", err)
		os.Exit(1)
	}
}

func chainDSL(hops int) []byte {
	type node struct {
		ID   string `json:"id"`
		Type string `json:"type"`
	}
	type conn struct {
		From string `json:"fromId"`
		To   string `json:"toId"`
		Type string `json:"type"`
	}
	var nodes []node
	var conns []conn
	for i := 1; i <= hops; i++ {
		nodes = append(nodes, node{ID: fmt.Sprintf("n%d", i), Type: "peer/pass"})
		if i > 1 {
			conns = append(conns, conn{From: fmt.Sprintf("n%d", i-1), To: fmt.Sprintf("n%d", i), Type: types.Success})
		}
	}
	b, _ := json.Marshal(map[string]any{
		"ruleChain": map[string]any{"id": "peer", "name": "peer", "root": true},
		"metadata":  map[string]any{"nodes": nodes, "connections": conns},
	})
	return b
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func run(hops, n, inflight int) error {
	if err := rulego.Registry.Register(passNode{}); err != nil {
		return err
	}
	cfg := rulego.NewConfig(types.WithDefaultPool())
	eng, err := rulego.New("peer", chainDSL(hops), rulego.WithConfig(cfg))
	if err != nil {
		return err
	}
	defer eng.Stop()
	payload := `{"deviceId":"d1","temperature":21.5,"humidity":40}`
	send := func(count int) {
		sem := make(chan struct{}, inflight)
		var wg sync.WaitGroup
		wg.Add(count)
		for i := 0; i < count; i++ {
			sem <- struct{}{}
			msg := types.NewMsg(0, "TELEMETRY", types.JSON, types.NewMetadata(), payload)
			eng.OnMsg(msg, types.WithOnAllNodeCompleted(func() { <-sem; wg.Done() }))
		}
		wg.Wait()
	}
	send(n / 10) // warm up
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0, wall0 := cpuNow(), time.Now()
	send(n)
	cpu, wall := cpuNow()-cpu0, time.Since(wall0)
	runtime.ReadMemStats(&after)
	return json.NewEncoder(os.Stdout).Encode(Result{
		Hops: hops, Messages: n,
		CPUNsPerMsg:  float64(cpu.Nanoseconds()) / float64(n),
		BytesPerMsg:  float64(after.TotalAlloc-before.TotalAlloc) / float64(n),
		WallMsgPerS:  float64(n) / wall.Seconds(),
		InFlightHigh: inflight,
	})
}
