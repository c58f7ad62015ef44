package ws_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"
	"go.uber.org/goleak"

	httpin "github.com/sluicehq/sluice/connectors/http"
	"github.com/sluicehq/sluice/connectors/ws"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/server"
)

// No goroutine may outlive a test: every connection handler, pinger and
// engine is stopped. fasthttp's process-wide Date ticker and a worker pool's
// cleaner (which notices a stop after its 10 s sleep) are exempt, as in the
// server's tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
	)
}

const tenant = "acme"

// deviceAuth is a test double of the device registry: token → device.
type deviceAuth map[string]engine.Device

func (d deviceAuth) ByToken(_ context.Context, token string) (engine.Device, error) {
	dev, ok := d[token]
	if !ok {
		return engine.Device{}, engine.ErrUnauthorized
	}
	return dev, nil
}

func (deviceAuth) ByPassword(context.Context, string, string) (engine.Device, error) {
	return engine.Device{}, engine.ErrUnauthorized
}

var testDevices = deviceAuth{
	"tok-boiler":  {ID: "boiler-7", Tenant: tenant},
	"tok-pump":    {ID: "pump-1", Tenant: tenant},
	"tok-foreign": {ID: "intruder", Tenant: "globex"},
}

var hooks sync.Map // flow id → *flowHooks

type flowHooks struct {
	got   chan engine.Message
	count atomic.Int64
}

func hooksOf(ctx types.RuleContext) *flowHooks {
	env := engine.EnvOf(ctx)
	if env == nil {
		return nil
	}
	h, _ := hooks.Load(env.FlowID)
	fh, _ := h.(*flowHooks)
	return fh
}

type node struct {
	typ   string
	onMsg func(ctx types.RuleContext, msg types.RuleMsg)
}

func (n node) Type() string                                   { return n.typ }
func (n node) New() types.Node                                { return n }
func (node) Init(types.Config, types.Configuration) error     { return nil }
func (n node) OnMsg(ctx types.RuleContext, msg types.RuleMsg) { n.onMsg(ctx, msg) }
func (node) Destroy()                                         {}

func init() {
	reg := func(typ string, fn func(ctx types.RuleContext, msg types.RuleMsg)) {
		spec.Register(&spec.Node{Type: typ, Category: "action", Summary: typ,
			Relations: spec.Relations{Fixed: []string{types.Success, types.Failure}}}, node{typ: typ, onMsg: fn})
	}
	reg("test/record", func(ctx types.RuleContext, msg types.RuleMsg) {
		if h := hooksOf(ctx); h != nil {
			h.got <- engine.Message{ID: msg.Id, Type: msg.Type, DataType: string(msg.DataType), Data: msg.Data, Metadata: msg.Metadata.Copy()}
		}
		ctx.TellSuccess(msg)
	})
	reg("test/count", func(ctx types.RuleContext, msg types.RuleMsg) {
		if h := hooksOf(ctx); h != nil {
			h.count.Add(1)
		}
		ctx.TellSuccess(msg)
	})
}

type env struct {
	t      testing.TB
	mgr    *engine.Manager
	router *ws.Router
	addr   string
}

func newEnv(t testing.TB) *env {
	t.Helper()
	mgr := engine.NewManager(engine.Options{Metrics: prometheus.NewRegistry(), Devices: testDevices,
		Logger: slog.New(slog.DiscardHandler), DrainTimeout: 5 * time.Second})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := mgr.Shutdown(ctx); err != nil {
			t.Errorf("engine shutdown: %v", err)
		}
	})
	router := ws.NewRouter()
	mgr.Resources().Provide(ws.RouterKey, router)
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ReadTimeout: 10 * time.Second})
	server.MountIngest(app, nil, router)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := app.ShutdownWithContext(ctx); err != nil {
			t.Errorf("app shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	e := &env{t: t, mgr: mgr, router: router, addr: ln.Addr().String()}
	// Ready when the app answers (an unknown path: 404).
	eventually(t, "the app answers", func() bool {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			return false
		}
		defer c.Close()
		_, _ = io.WriteString(c, "GET /ws/-ready- HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		b, _ := io.ReadAll(c)
		return len(b) > 12 && string(b[9:12]) == "404"
	})
	return e
}

// deploy deploys a flow of a wsIn node with cfg followed by nodes of the
// given types (configured by cfgs, when given).
func (e *env) deploy(id string, cfg map[string]any, next ...string) *flowHooks {
	e.t.Helper()
	return e.deployFlow(id, tenant, append([]engine.Node{{ID: "in", Type: ws.InType, Configuration: cfg}}, nodes(next...)...))
}

func nodes(types ...string) []engine.Node {
	var out []engine.Node
	for i, t := range types {
		out = append(out, engine.Node{ID: fmt.Sprintf("n%d", i+1), Type: t})
	}
	return out
}

// deployFlow deploys a chain of nodes for tenant.
func (e *env) deployFlow(id, tenant string, ns []engine.Node) *flowHooks {
	e.t.Helper()
	h := &flowHooks{got: make(chan engine.Message, 1024)}
	hooks.Store(id, h)
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	f.Metadata.Nodes = ns
	for i := 1; i < len(ns); i++ {
		f.Metadata.Connections = append(f.Metadata.Connections, engine.Connection{FromID: ns[i-1].ID, ToID: ns[i].ID, Type: types.Success})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.mgr.Deploy(ctx, tenant, f, 1); err != nil {
		e.t.Fatalf("deploy %s: %v", id, err)
	}
	return h
}

func (e *env) status(id string) engine.SourceStatus {
	e.t.Helper()
	st, err := e.mgr.Status(id)
	if err != nil {
		e.t.Fatalf("status %s: %v", id, err)
	}
	return st.Sources["in"]
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

func receive(t testing.TB, h *flowHooks) engine.Message {
	t.Helper()
	select {
	case m := <-h.got:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message reached the flow")
		return engine.Message{}
	}
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
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
