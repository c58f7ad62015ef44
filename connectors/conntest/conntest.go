// Package conntest holds what the tests of the connector packages share:
// an engine with the resources connectors need, one-connector flows, node
// types that end a test flow and hand what reaches them to the test
// (Record), polling with a deadline, free ports, required binaries, the
// goleak TestMain and serving a Fiber app for the ingest routers. Only
// tests import it.
package conntest

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/engine"
)

// Quiet is a logger that discards everything.
var Quiet = slog.New(slog.DiscardHandler)

// In is the id of the connector node in the flows Flow builds.
const In = "in"

// Main runs the tests of a package and then fails if a goroutine outlived
// them; opts exempt known process-wide goroutines.
func Main(m *testing.M, opts ...goleak.Option) { goleak.VerifyTestMain(m, opts...) }

// Fasthttp exempts fasthttp's process-wide Date ticker and a worker pool's
// cleaner (which notices a stop after its 10 s sleep), as in the server's
// tests.
var Fasthttp = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
	goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
}

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
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}

// NewManager starts an engine with o (a fresh metrics registry and a quiet
// logger unless o has its own); it is shut down when the test ends.
func NewManager(t testing.TB, o engine.Options) *engine.Manager {
	t.Helper()
	if o.Metrics == nil {
		o.Metrics = prometheus.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = Quiet
	}
	m := engine.NewManager(o)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("engine shutdown: %v", err)
		}
	})
	return m
}

// Chain is flow id of nodes wired in a line on Success.
func Chain(id string, nodes ...engine.Node) *engine.Flow {
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	f.Metadata.Nodes = nodes
	for i := 1; i < len(nodes); i++ {
		f.Metadata.Connections = append(f.Metadata.Connections, engine.Connection{FromID: nodes[i-1].ID, ToID: nodes[i].ID, Type: types.Success})
	}
	return f
}

// Flow is flow id: the connector node In of type typ with cfg, then a node
// of each of the types then ("n1", "n2", ...), wired in a line on Success.
func Flow(id, typ string, cfg map[string]any, then ...string) *engine.Flow {
	nodes := []engine.Node{{ID: In, Type: typ, Configuration: cfg}}
	for i, next := range then {
		nodes = append(nodes, engine.Node{ID: fmt.Sprintf("n%d", i+1), Type: next})
	}
	return Chain(id, nodes...)
}

// Deploy deploys version of flow f for tenant.
func Deploy(t testing.TB, m *engine.Manager, tenant string, f *engine.Flow, version int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Deploy(ctx, tenant, f, version); err != nil {
		t.Fatalf("deploy %s v%d: %v", f.RuleChain.ID, version, err)
	}
}

// SourceStatus is the status of the source node of flow flowID.
func SourceStatus(t testing.TB, m *engine.Manager, flowID, node string) engine.SourceStatus {
	t.Helper()
	st, err := m.Status(flowID)
	if err != nil {
		t.Fatalf("status of %s: %v", flowID, err)
	}
	return st.Sources[node]
}

// Status is the status of the connector node In of flow flowID.
func Status(t testing.TB, m *engine.Manager, flowID string) engine.SourceStatus {
	t.Helper()
	return SourceStatus(t, m, flowID, In)
}

// Devices is an in-memory device registry: tokens, and user/password pairs,
// to devices.
type Devices struct {
	Tokens    map[string]engine.Device
	Passwords map[string]engine.Device // key: user + "\x00" + password
}

// ByToken is the device of token.
func (d Devices) ByToken(_ context.Context, token string) (engine.Device, error) {
	if dev, ok := d.Tokens[token]; ok {
		return dev, nil
	}
	return engine.Device{}, engine.ErrUnauthorized
}

// ByPassword is the device of user and password.
func (d Devices) ByPassword(_ context.Context, user, password string) (engine.Device, error) {
	if dev, ok := d.Passwords[user+"\x00"+password]; ok {
		return dev, nil
	}
	return engine.Device{}, engine.ErrUnauthorized
}

// FreePort is a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// FreeAddr is 127.0.0.1 with a TCP port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return "127.0.0.1:" + strconv.Itoa(FreePort(t))
}

// FreeUDPAddr is 127.0.0.1 with a UDP port that was free a moment ago.
func FreeUDPAddr(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free UDP port: %v", err)
	}
	defer c.Close()
	return "127.0.0.1:" + strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
}

// Need finds a binary (a name on PATH or a path) the test runs as its peer.
// Missing, the test is skipped, or fails when CI=true; install says how to
// get it.
func Need(t testing.TB, bin, install string) string {
	t.Helper()
	p, err := exec.LookPath(bin)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (%s; see deploy/dev-services.sh): %v", bin, install, err)
		}
		t.Skipf("%s is missing (%s): %v", bin, install, err)
	}
	return p
}
