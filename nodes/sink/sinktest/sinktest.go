// Package sinktest holds what the tests of the sink nodes share: an
// engine with the resources sinks need, a one-sink flow, result checks,
// polling with a deadline, the child process of the kill tests and server
// start helpers. Only tests import it.
package sinktest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/sink/batch"
)

// Quiet is a logger that discards everything.
var Quiet = slog.New(slog.DiscardHandler)

// Context is a context that ends after within, or when the test does.
func Context(t testing.TB, within time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond every 5ms until it holds; the test fails when it
// does not within the time given.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Rig is a real engine with the resources `sluice serve` provides to sink
// nodes: a data directory (spools go under it) and the sink registry. The
// engine is shut down when the test ends.
type Rig struct {
	M   *engine.Manager
	Dir string
	Reg *batch.Registry
}

// NewRig starts a rig.
func NewRig(t testing.TB) *Rig {
	t.Helper()
	m := engine.NewManager(engine.Options{Metrics: prometheus.NewRegistry(), Logger: Quiet, MessageTimeout: 10 * time.Second})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	r := &Rig{M: m, Dir: t.TempDir(), Reg: batch.NewRegistry()}
	m.Resources().Provide(batch.DataDirKey, r.Dir)
	m.Resources().Provide(batch.RegistryKey, r.Reg)
	return r
}

// Deploy deploys version of flow f for tenant.
func (r *Rig) Deploy(t testing.TB, tenant string, f *engine.Flow, version int) {
	t.Helper()
	if err := r.M.Deploy(Context(t, 60*time.Second), tenant, f, version); err != nil {
		t.Fatalf("deploy: %v", err)
	}
}

// Send submits a message of type typ to flow, with the metadata md and
// deviceId device (unless empty), and waits for its result.
func (r *Rig) Send(t testing.TB, flow, typ, device, data string, md map[string]string) *engine.Result {
	t.Helper()
	meta := map[string]string{}
	if device != "" {
		meta[engine.MetaDeviceID] = device
	}
	for k, v := range md {
		meta[k] = v
	}
	res, err := r.M.Submit(Context(t, 60*time.Second), flow, engine.Message{Type: typ, Data: data, Metadata: meta}, engine.SubmitOptions{Wait: true})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return res
}

// Flow is a flow with one node, nodeID of type typ, as the API would
// store it.
func Flow(t testing.TB, id, nodeID, typ string, config map[string]any) *engine.Flow {
	t.Helper()
	f := engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	f.Metadata.Nodes = []engine.Node{{ID: nodeID, Type: typ, Configuration: config}}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.ParseFlow(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Telemetry is a unified telemetry payload; signals is a JSON object.
func Telemetry(device string, at int64, signals string) string {
	return fmt.Sprintf(`{"deviceId":%q,"ts":%d,"signals":%s}`, device, at, signals)
}

// OK checks that res completed on Success alone and returns the metadata
// of the message that left.
func OK(t testing.TB, res *engine.Result) map[string]string {
	t.Helper()
	if res.Status != engine.StatusCompleted || len(res.Ends) != 1 || res.Ends[0].Relation != "Success" {
		t.Fatalf("result = %+v", res)
	}
	return res.Ends[0].Msg.Metadata
}

// Failure checks that res ended on Failure alone with an error that says
// want.
func Failure(t testing.TB, res *engine.Result, want string) {
	t.Helper()
	if len(res.Ends) != 1 || res.Ends[0].Relation != "Failure" {
		t.Fatalf("want a Failure (%s), got %+v", want, res)
	}
	if got := res.Ends[0].Error; !strings.Contains(got, want) {
		t.Errorf("failure %q: want it to say %q", got, want)
	}
}

// FreePort is a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Need finds a server binary (a name on PATH or a path). Missing, the
// test is skipped, or fails when CI=true.
func Need(t testing.TB, bin string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not found (deploy/dev-services.sh installs it): %v", bin, err)
		}
		t.Skipf("%s not found: %v", bin, err)
	}
	return p
}

// SendRange sends readings from..to-1 of each device to each of flows, the
// devices at once, each device in order: reading i is telemetry with the
// signal i at t0 + i/2 (two readings a millisecond). Each message must
// leave on Success alone; a test failure says which did not.
func (r *Rig) SendRange(t testing.TB, flows, devices []string, t0 int64, from, to int) {
	var wg sync.WaitGroup
	for _, d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from; i < to; i++ {
				body := Telemetry(d, t0+int64(i/2), fmt.Sprintf(`{"i": %d}`, i))
				for _, flow := range flows {
					res, err := r.M.Submit(Context(t, 60*time.Second), flow, engine.Message{Type: "TELEMETRY", Data: body, Metadata: map[string]string{engine.MetaDeviceID: d}}, engine.SubmitOptions{Wait: true})
					if err != nil || len(res.Ends) != 1 || res.Ends[0].Relation != "Success" {
						t.Errorf("%s %s %d: %v %+v", flow, d, i, err, res)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
}
