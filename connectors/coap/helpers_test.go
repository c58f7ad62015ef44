package coap_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/connectors/coap"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const tenant = "acme"

// recordNode hands every message to the current test's channel.
type recordNode struct{}

var record struct {
	sync.Mutex
	ch chan types.RuleMsg
}

func (recordNode) Type() string                                 { return "test/coapRecord" }
func (recordNode) New() types.Node                              { return recordNode{} }
func (recordNode) Init(types.Config, types.Configuration) error { return nil }
func (recordNode) Destroy()                                     {}
func (recordNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	record.Lock()
	ch := record.ch
	record.Unlock()
	if ch != nil {
		ch <- msg.Copy()
	}
	ctx.TellSuccess(msg)
}

// holdNode holds every message until release is closed: the flow fills up.
type holdNode struct{}

var hold struct {
	sync.Mutex
	release chan struct{}
}

func (holdNode) Type() string                                 { return "test/coapHold" }
func (holdNode) New() types.Node                              { return holdNode{} }
func (holdNode) Init(types.Config, types.Configuration) error { return nil }
func (holdNode) Destroy()                                     {}
func (holdNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	hold.Lock()
	ch := hold.release
	hold.Unlock()
	if ch != nil {
		<-ch
	}
	ctx.TellSuccess(msg)
}

// countNode counts messages, for the benchmark.
type countNode struct{}

var counted atomic.Int64

func (countNode) Type() string                                 { return "test/coapCount" }
func (countNode) New() types.Node                              { return countNode{} }
func (countNode) Init(types.Config, types.Configuration) error { return nil }
func (countNode) Destroy()                                     {}
func (countNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	counted.Add(1)
	ctx.TellSuccess(msg)
}

func init() {
	rel := spec.Relations{Fixed: []string{types.Success}}
	spec.Register(&spec.Node{Type: "test/coapRecord", Category: "action", Summary: "records", Relations: rel}, recordNode{})
	spec.Register(&spec.Node{Type: "test/coapHold", Category: "action", Summary: "holds", Relations: rel}, holdNode{})
	spec.Register(&spec.Node{Type: "test/coapCount", Category: "action", Summary: "counts", Relations: rel}, countNode{})
}

func recorder(t testing.TB) <-chan types.RuleMsg {
	ch := make(chan types.RuleMsg, 1024)
	record.Lock()
	record.ch = ch
	record.Unlock()
	t.Cleanup(func() {
		record.Lock()
		record.ch = nil
		record.Unlock()
	})
	return ch
}

type devices map[string]engine.Device

func (d devices) ByToken(_ context.Context, token string) (engine.Device, error) {
	if dev, ok := d[token]; ok {
		return dev, nil
	}
	return engine.Device{}, engine.ErrUnauthorized
}

func (d devices) ByPassword(context.Context, string, string) (engine.Device, error) {
	return engine.Device{}, engine.ErrUnauthorized
}

var registry = devices{
	"tok-boiler": {ID: "boiler-7", Tenant: tenant, Name: "boiler 7"},
	"tok-pump":   {ID: "pump-2", Tenant: tenant, Name: "pump 2"},
	"tok-other":  {ID: "intruder", Tenant: "globex", Name: "another tenant's device"},
}

func newManager(t testing.TB, o engine.Options) *engine.Manager {
	t.Helper()
	o.Metrics = prometheus.NewRegistry()
	o.Devices = registry
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	m := engine.NewManager(o)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return m
}

// ingestFlow is a coapIn node with cfg, then sinkType.
func ingestFlow(id string, cfg map[string]any, sinkType string) *engine.Flow {
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	f.Metadata.Nodes = []engine.Node{{ID: "in", Type: coap.NodeType, Configuration: cfg}, {ID: "out", Type: sinkType}}
	f.Metadata.Connections = []engine.Connection{{FromID: "in", ToID: "out", Type: types.Success}}
	return f
}

func deploy(t testing.TB, m *engine.Manager, f *engine.Flow, version int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Deploy(ctx, tenant, f, version); err != nil {
		t.Fatalf("deploy %s: %v", f.RuleChain.ID, err)
	}
}

func status(t testing.TB, m *engine.Manager, id string) engine.SourceStatus {
	t.Helper()
	st, err := m.Status(id)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sources["in"]
}

// freeAddr returns a 127.0.0.1 UDP address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return "127.0.0.1:" + strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port)
}

// clientBin is coap-client-notls from Debian's libcoap3-bin: the device.
func clientBin(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("coap-client-notls")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("coap-client-notls is missing: install libcoap3-bin (deploy/dev-services.sh)")
		}
		t.Skip("coap-client-notls is missing: apt-get install -y libcoap3-bin")
	}
	return bin
}

type result struct {
	out, errOut string
	err         error
}

// client runs coap-client-notls with args and returns what it printed.
func client(t testing.TB, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, clientBin(t), args...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return result{out: out.String(), errOut: errOut.String(), err: err}
}

func next(t testing.TB, ch <-chan types.RuleMsg) types.RuleMsg {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message reached the flow")
		return types.RuleMsg{}
	}
}

func none(t testing.TB, ch <-chan types.RuleMsg) {
	t.Helper()
	select {
	case m := <-ch:
		t.Fatalf("unexpected message reached the flow: %s %v", m.Data, m.Metadata.Values())
	default:
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
