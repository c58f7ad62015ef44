package modbus

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rulego/rulego/api/types"
	mb "github.com/simonvetter/modbus"

	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/engine"
)

// No goroutine may outlive a test: pollers, clients and servers included.
func TestMain(m *testing.M) { conntest.Main(m) }

// wait is how long a test waits for what must happen.
const wait = 15 * time.Second

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
		d.port = conntest.FreePort(t)
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

// hook ends a test flow: it records for the test's conntest.Record, with
// tag in the metadata, to tell versions apart.
func hook(tag string) engine.Node {
	return engine.Node{ID: "rec", Type: conntest.RecordType, Configuration: map[string]any{"tag": tag}}
}

// count is how many messages of device rec recorded.
func count(rec *conntest.Recorder, device string) int {
	n := 0
	for _, m := range rec.All() {
		if m.Metadata.GetValue(engine.MetaDeviceID) == device {
			n++
		}
	}
	return n
}

// last returns the latest message of device.
func last(rec *conntest.Recorder, device string) (types.RuleMsg, bool) {
	msgs := rec.All()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Metadata.GetValue(engine.MetaDeviceID) == device {
			return msgs[i], true
		}
	}
	return types.RuleMsg{}, false
}

// flowOf builds a flow document of nodes wired in a line on Success, as the
// API would receive it (through JSON, so numbers are what a stored flow holds).
func flowOf(t testing.TB, id string, nodes ...engine.Node) *engine.Flow {
	t.Helper()
	b, err := json.Marshal(conntest.Chain(id, nodes...))
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.ParseFlow(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
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
