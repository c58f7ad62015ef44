package tcp_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/connectors/tcp"
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

func (recordNode) Type() string                                 { return "test/tcpRecord" }
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

// countNode counts messages, for the benchmark.
type countNode struct{}

var counted atomic.Int64

func (countNode) Type() string                                 { return "test/tcpCount" }
func (countNode) New() types.Node                              { return countNode{} }
func (countNode) Init(types.Config, types.Configuration) error { return nil }
func (countNode) Destroy()                                     {}
func (countNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	counted.Add(1)
	ctx.TellSuccess(msg)
}

func init() {
	rel := spec.Relations{Fixed: []string{types.Success}}
	spec.Register(&spec.Node{Type: "test/tcpRecord", Category: "action", Summary: "records", Relations: rel}, recordNode{})
	spec.Register(&spec.Node{Type: "test/tcpCount", Category: "action", Summary: "counts", Relations: rel}, countNode{})
}

// recorder returns the channel the record node writes to during this test.
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

// devices is an in-memory device registry.
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
	"tok-other":  {ID: "intruder", Tenant: "globex", Name: "another tenant's device"},
}

func newManager(t testing.TB) *engine.Manager {
	t.Helper()
	m := engine.NewManager(engine.Options{
		Metrics: prometheus.NewRegistry(), Devices: registry,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return m
}

// deploy deploys flow id: a tcpIn node with cfg, then sinkType.
func deploy(t testing.TB, m *engine.Manager, id string, version int, cfg map[string]any, sinkType string) {
	t.Helper()
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	f.Metadata.Nodes = []engine.Node{{ID: "in", Type: tcp.NodeType, Configuration: cfg}, {ID: "out", Type: sinkType}}
	f.Metadata.Connections = []engine.Connection{{FromID: "in", ToID: "out", Type: types.Success}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Deploy(ctx, tenant, f, version); err != nil {
		t.Fatalf("deploy %s: %v", id, err)
	}
	st, err := m.Status(id)
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Sources["in"]; s.State != engine.StateListening {
		t.Fatalf("connector status after deploy: %+v", s)
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

// freeAddr returns a 127.0.0.1 address with a port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// dial connects to addr, polling until the listener answers.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond) // polling until ready
	}
}

func write(t testing.TB, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// readLine reads a reply line.
func readLine(t testing.TB, c net.Conn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b []byte
	one := make([]byte, 1)
	for {
		if _, err := c.Read(one); err != nil {
			t.Fatalf("read reply after %q: %v", b, err)
		}
		b = append(b, one[0])
		if one[0] == '\n' {
			return string(b)
		}
	}
}

// expectClosed waits until the server closes c.
func expectClosed(t testing.TB, c net.Conn, within time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 64)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %s", within)
		}
		return // EOF or reset: closed by the server
	}
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

// waitFor polls cond until it holds or 5 s pass.
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

func specOf(t testing.TB) *spec.Node {
	t.Helper()
	r, ok := spec.Lookup(tcp.NodeType)
	if !ok {
		t.Fatal("tcpIn is not registered")
	}
	return r.Spec
}
