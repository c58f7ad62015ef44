package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	nethttp "net/http"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"

	"github.com/sluicehq/sluice/connectors/conntest"
	httpin "github.com/sluicehq/sluice/connectors/http"
	"github.com/sluicehq/sluice/connectors/ws"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/server"
)

// No goroutine may outlive a test: every connection handler, pinger and
// engine is stopped (fasthttp's process-wide goroutines aside).
func TestMain(m *testing.M) { conntest.Main(m, conntest.Fasthttp...) }

const tenant = "acme"

// wait is how long a test waits for what must happen.
const wait = 10 * time.Second

var testDevices = conntest.Devices{Tokens: map[string]engine.Device{
	"tok-boiler":  {ID: "boiler-7", Tenant: tenant},
	"tok-pump":    {ID: "pump-1", Tenant: tenant},
	"tok-foreign": {ID: "intruder", Tenant: "globex"},
}}

type env struct {
	t      testing.TB
	mgr    *engine.Manager
	router *ws.Router
	addr   string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	mgr := conntest.NewManager(t, engine.Options{Devices: testDevices, DrainTimeout: 5 * time.Second})
	router := ws.NewRouter()
	mgr.Resources().Provide(ws.RouterKey, router)
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ReadTimeout: 10 * time.Second})
	server.MountIngest(app, nil, router)
	return &env{t: t, mgr: mgr, router: router, addr: conntest.Serve(t, app, "/ws/-ready-")}
}

// deploy deploys a flow of a wsIn node with cfg followed by nodes of the
// given types, and returns its recorder.
func (e *env) deploy(id string, cfg map[string]any, next ...string) *conntest.Recorder {
	e.t.Helper()
	h := conntest.Record(e.t, id)
	conntest.Deploy(e.t, e.mgr, tenant, conntest.Flow(id, ws.InType, cfg, next...), 1)
	return h
}

// deployFlow deploys a chain of nodes for tenant.
func (e *env) deployFlow(id, tenant string, ns []engine.Node) {
	e.t.Helper()
	conntest.Deploy(e.t, e.mgr, tenant, conntest.Chain(id, ns...), 1)
}

func (e *env) status(id string) engine.SourceStatus {
	e.t.Helper()
	return conntest.Status(e.t, e.mgr, id)
}

// dial opens a WebSocket to /ws/{pathQuery}; hdr are header name/value pairs.
func (e *env) dial(pathQuery string, hdr ...string) (*websocket.Conn, *nethttp.Response, error) {
	e.t.Helper()
	h := nethttp.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := d.DialContext(ctx, "ws://"+e.addr+"/ws/"+pathQuery, h)
	if c != nil {
		e.t.Cleanup(func() { c.Close() })
	}
	if resp != nil && resp.Body != nil {
		e.t.Cleanup(func() { resp.Body.Close() })
	}
	return c, resp, err
}

// mustDial is dial that must succeed.
func (e *env) mustDial(pathQuery string, hdr ...string) *websocket.Conn {
	e.t.Helper()
	c, resp, err := e.dial(pathQuery, hdr...)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		e.t.Fatalf("dial %s: %v (status %d)", pathQuery, err, status)
	}
	return c
}

// refused dials and returns the HTTP status and error code of the refusal.
func (e *env) refused(pathQuery string, hdr ...string) (int, string) {
	e.t.Helper()
	c, resp, err := e.dial(pathQuery, hdr...)
	if err == nil {
		c.Close()
		e.t.Fatalf("dial %s: upgraded, want a refusal", pathQuery)
	}
	if resp == nil {
		e.t.Fatalf("dial %s: %v without an HTTP answer", pathQuery, err)
	}
	var b httpin.ErrorBody
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &b); err != nil {
		e.t.Fatalf("dial %s: %d answer is not an error body: %q", pathQuery, resp.StatusCode, body)
	}
	return resp.StatusCode, b.Error.Code
}

// readClose reads until the server closes the connection and returns the
// close error (or another read error), failing after 10 s.
func readClose(t testing.TB, c *websocket.Conn) error {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("the server did not close the connection")
			}
			return err
		}
	}
}
