package tcp_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/connectors/tcp"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

func TestMain(m *testing.M) { conntest.Main(m) }

const tenant = "acme"

// wait is how long a test waits for what must happen.
const wait = 5 * time.Second

var registry = conntest.Devices{Tokens: map[string]engine.Device{
	"tok-boiler": {ID: "boiler-7", Tenant: tenant, Name: "boiler 7"},
	"tok-other":  {ID: "intruder", Tenant: "globex", Name: "another tenant's device"},
}}

func newManager(t testing.TB) *engine.Manager {
	t.Helper()
	return conntest.NewManager(t, engine.Options{Devices: registry})
}

// deploy deploys flow id: a tcpIn node with cfg, then a node of type then;
// the connector must be listening.
func deploy(t testing.TB, m *engine.Manager, id string, version int, cfg map[string]any, then string) {
	t.Helper()
	conntest.Deploy(t, m, tenant, conntest.Flow(id, tcp.NodeType, cfg, then), version)
	if s := conntest.Status(t, m, id); s.State != engine.StateListening {
		t.Fatalf("connector status after deploy: %+v", s)
	}
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

func specOf(t testing.TB) *spec.Node {
	t.Helper()
	r, ok := spec.Lookup(tcp.NodeType)
	if !ok {
		t.Fatal("tcpIn is not registered")
	}
	return r.Spec
}
