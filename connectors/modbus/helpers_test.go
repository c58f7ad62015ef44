package modbus

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"
	mb "github.com/simonvetter/modbus"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// No goroutine may outlive a test: pollers, clients and servers included.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testDevice is a Modbus TCP device: simonvetter/modbus's own server on
// 127.0.0.1, backed by register arrays.
type testDevice struct {
	port int
	srv  *mb.ModbusServer

	mu       sync.Mutex
	holding  [65536]uint16
	input    [65536]uint16
	coils    [65536]bool
	discrete [65536]bool
	clients  map[string]bool // client addresses seen
	// refuseFrom makes holding addresses at and above it answer "illegal
	// data address" (0: none).
	refuseFrom int

	reads atomic.Int64 // read requests answered
}

// startDevice starts a device on a free port; the test stops it.
func startDevice(t testing.TB) *testDevice {
	t.Helper()
	d := &testDevice{clients: map[string]bool{}}
	var err error
	for range 5 { // a free port can be taken between probe and bind: try again
		d.port = freePort(t)
		if err = d.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("start modbus server: %v", err)
	}
	t.Cleanup(d.stop)
	return d
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("free port: %v", err)
	}
	return port
}

// start (re)starts the server on d.port; Start binds before it returns, so
// the device answers once start does.
func (d *testDevice) start() error {
	srv, err := mb.NewServer(&mb.ServerConfiguration{
		URL: fmt.Sprintf("tcp://127.0.0.1:%d", d.port), Timeout: 30 * time.Second, MaxClients: 16,
		Logger: log.New(io.Discard, "", 0),
	}, d)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	d.mu.Lock()
	d.srv = srv
	d.mu.Unlock()
	return nil
}

// stop closes the listener and every client connection: the device stops
// answering.
func (d *testDevice) stop() {
	d.mu.Lock()
	srv := d.srv
	d.srv = nil
	d.mu.Unlock()
	if srv != nil {
		_ = srv.Stop() // a test helper: the next poll shows the effect
	}
}

func (d *testDevice) addr() string { return fmt.Sprintf("127.0.0.1:%d", d.port) }

func (d *testDevice) setHolding(addr int, words ...uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	copy(d.holding[addr:], words)
}

func (d *testDevice) getHolding(addr, n int) []uint16 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]uint16(nil), d.holding[addr:addr+n]...)
}

func (d *testDevice) clientCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.clients)
}

func (d *testDevice) HandleCoils(req *mb.CoilsRequest) ([]bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clients[req.ClientAddr] = true
	if req.IsWrite {
		copy(d.coils[req.Addr:], req.Args)
		return nil, nil
	}
	d.reads.Add(1)
	return append([]bool(nil), d.coils[req.Addr:int(req.Addr)+int(req.Quantity)]...), nil
}

func (d *testDevice) HandleDiscreteInputs(req *mb.DiscreteInputsRequest) ([]bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clients[req.ClientAddr] = true
	d.reads.Add(1)
	return append([]bool(nil), d.discrete[req.Addr:int(req.Addr)+int(req.Quantity)]...), nil
}

func (d *testDevice) HandleHoldingRegisters(req *mb.HoldingRegistersRequest) ([]uint16, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clients[req.ClientAddr] = true
	if d.refuseFrom > 0 && int(req.Addr)+int(req.Quantity) > d.refuseFrom {
		return nil, mb.ErrIllegalDataAddress
	}
	if req.IsWrite {
		copy(d.holding[req.Addr:], req.Args)
		return nil, nil
	}
	d.reads.Add(1)
	return append([]uint16(nil), d.holding[req.Addr:int(req.Addr)+int(req.Quantity)]...), nil
}

func (d *testDevice) HandleInputRegisters(req *mb.InputRegistersRequest) ([]uint16, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.clients[req.ClientAddr] = true
	d.reads.Add(1)
	return append([]uint16(nil), d.input[req.Addr:int(req.Addr)+int(req.Quantity)]...), nil
}

// hookType is a test-only node: it hands each message to the hook of its
// flow and tells Success. Its "tag" goes into metadata, to tell versions apart.
const hookType = "modbusTest/hook"

var hooks = struct {
	sync.Mutex
	m map[string]func(types.RuleMsg)
}{m: map[string]func(types.RuleMsg){}}

type hookNode struct{ tag string }

func (*hookNode) Type() string    { return hookType }
func (*hookNode) New() types.Node { return &hookNode{} }
func (n *hookNode) Init(_ types.Config, c types.Configuration) error {
	n.tag, _ = c["tag"].(string)
	return nil
}
func (n *hookNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	if n.tag != "" {
		msg.Metadata = msg.Metadata.Copy()
		msg.Metadata.PutValue("tag", n.tag)
	}
	var fn func(types.RuleMsg)
	if env := engine.EnvOf(ctx); env != nil {
		hooks.Lock()
		fn = hooks.m[env.FlowID]
		hooks.Unlock()
	}
	if fn != nil {
		fn(msg)
	}
	ctx.TellSuccess(msg)
}
func (*hookNode) Destroy() {}

func init() {
	spec.Register(&spec.Node{Type: hookType, Category: "action", Summary: "test hook",
		Fields:    []*spec.Field{{Name: "tag", Type: spec.String, Default: "", Help: "tag"}},
		Relations: spec.Relations{Fixed: []string{types.Success}}}, &hookNode{})
}

func setHook(t testing.TB, flowID string, fn func(types.RuleMsg)) {
	hooks.Lock()
	hooks.m[flowID] = fn
	hooks.Unlock()
	t.Cleanup(func() {
		hooks.Lock()
		delete(hooks.m, flowID)
		hooks.Unlock()
	})
}

// recorder collects the messages that reach a flow's hook.
type recorder struct {
	mu   sync.Mutex
	msgs []types.RuleMsg
	by   map[string]int // messages per device
}

func record(t testing.TB, flowID string) *recorder {
	r := &recorder{by: map[string]int{}}
	setHook(t, flowID, func(m types.RuleMsg) {
		r.mu.Lock()
		r.msgs = append(r.msgs, m)
		r.by[m.Metadata.GetValue(engine.MetaDeviceID)]++
		r.mu.Unlock()
	})
	return r
}

func (r *recorder) count(device string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.by[device]
}

// last returns the latest message of device.
func (r *recorder) last(device string) (types.RuleMsg, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.msgs) - 1; i >= 0; i-- {
		if r.msgs[i].Metadata.GetValue(engine.MetaDeviceID) == device {
			return r.msgs[i], true
		}
	}
	return types.RuleMsg{}, false
}

func newManager(t testing.TB) *engine.Manager {
	t.Helper()
	m := engine.NewManager(engine.Options{Metrics: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return m
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// flowOf builds a flow document of nodes wired in a line on Success, as the
// API would receive it (through JSON, so numbers are what a stored flow holds).
func flowOf(t testing.TB, id string, nodes ...engine.Node) *engine.Flow {
	t.Helper()
	f := engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	f.Metadata.Nodes = nodes
	for i := 1; i < len(nodes); i++ {
		f.Metadata.Connections = append(f.Metadata.Connections, engine.Connection{FromID: nodes[i-1].ID, ToID: nodes[i].ID, Type: types.Success})
	}
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

func deploy(t testing.TB, m *engine.Manager, f *engine.Flow, version int) {
	t.Helper()
	if err := m.Deploy(ctxT(t), "acme", f, version); err != nil {
		t.Fatalf("deploy %s v%d: %v", f.RuleChain.ID, version, err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func sourceStatus(t testing.TB, m *engine.Manager, flowID, node string) engine.SourceStatus {
	t.Helper()
	st, err := m.Status(flowID)
	if err != nil {
		t.Fatalf("status of %s: %v", flowID, err)
	}
	return st.Sources[node]
}

// layout lays a big-endian value out in registers in the given orders; it is
// written independently of assemble/disassemble on purpose.
func layout(be []byte, wordLittle, byteLittle bool) []uint16 {
	words := make([]uint16, len(be)/2)
	for i := range words {
		hi, lo := be[2*i], be[2*i+1]
		if byteLittle {
			hi, lo = lo, hi
		}
		words[i] = uint16(hi)<<8 | uint16(lo)
	}
	if wordLittle {
		for i, j := 0, len(words)-1; i < j; i, j = i+1, j-1 {
			words[i], words[j] = words[j], words[i]
		}
	}
	return words
}
