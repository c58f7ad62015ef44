package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"
	"go.uber.org/goleak"

	httpin "github.com/sluicehq/sluice/connectors/http"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/server"
)

// Every Manager, app and client the tests start is stopped: no goroutine may
// outlive them. fasthttp's process-wide Date ticker and a worker pool's
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
	if token == "tok-registry-down" {
		return engine.Device{}, errors.New("open devices table: database is locked")
	}
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
	"tok-boiler":  {ID: "boiler-7", Tenant: tenant, Name: "Boiler 7"},
	"tok-pump":    {ID: "pump-1", Tenant: tenant, Name: "Pump 1"},
	"tok-foreign": {ID: "intruder", Tenant: "globex", Name: "Someone else's"},
}

// Test-only node types. Each finds its test's channels by flow id.

var hooks sync.Map // flow id → *flowHooks

type flowHooks struct {
	got     chan engine.Message // test/record
	release chan struct{}       // test/block waits for it
	blocked chan struct{}       // test/block signals each arrival
	count   atomic.Int64        // test/count
	once    sync.Once
}

// unblock lets every test/block node of the flow go on.
func (h *flowHooks) unblock() { h.once.Do(func() { close(h.release) }) }

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
			md := map[string]string{}
			for k, v := range msg.Metadata {
				md[k] = v
			}
			h.got <- engine.Message{ID: msg.Id, Ts: msg.Ts, Type: msg.Type, DataType: string(msg.DataType), Data: msg.Data, Metadata: md}
		}
		ctx.TellSuccess(msg)
	})
	reg("test/block", func(ctx types.RuleContext, msg types.RuleMsg) {
		if h := hooksOf(ctx); h != nil {
			h.blocked <- struct{}{}
			<-h.release
		}
		ctx.TellSuccess(msg)
	})
	reg("test/count", func(ctx types.RuleContext, msg types.RuleMsg) {
		if h := hooksOf(ctx); h != nil {
			h.count.Add(1)
		}
		ctx.TellSuccess(msg)
	})
	reg("test/reply", func(ctx types.RuleContext, msg types.RuleMsg) {
		msg.Data = fmt.Sprintf(`{"reply":"pong","device":%q}`, msg.Metadata.GetValue("deviceId"))
		msg.DataType = types.JSON
		ctx.TellSuccess(msg)
	})
	reg("test/fail", func(ctx types.RuleContext, msg types.RuleMsg) {
		ctx.TellFailure(msg, errors.New("valve 3 refused the command"))
	})
}

// env is a real Fiber app on a free 127.0.0.1 port with the ingest router
// mounted through server.MountIngest, and a real engine.
type env struct {
	t      testing.TB
	mgr    *engine.Manager
	router *httpin.Router
	app    *fiber.App
	url    string
	client *nethttp.Client
}

type envOptions struct {
	engine      engine.Options
	readTimeout time.Duration
	bodyLimit   int
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.engine.Metrics == nil {
		o.engine.Metrics = prometheus.NewRegistry()
	}
	if o.engine.Devices == nil {
		o.engine.Devices = testDevices
	}
	if o.engine.Logger == nil {
		o.engine.Logger = slog.New(slog.DiscardHandler)
	}
	if o.engine.DrainTimeout == 0 {
		o.engine.DrainTimeout = 5 * time.Second
	}
	if o.readTimeout == 0 {
		o.readTimeout = 10 * time.Second
	}
	mgr := engine.NewManager(o.engine)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := mgr.Shutdown(ctx); err != nil {
			t.Errorf("engine shutdown: %v", err)
		}
	})
	router := httpin.NewRouter()
	mgr.Resources().Provide(httpin.RouterKey, router)

	// The settings the API server must have for ingest: a read timeout (slow
	// senders) and a body limit.
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ReadTimeout: o.readTimeout, BodyLimit: o.bodyLimit, IdleTimeout: 30 * time.Second})
	server.MountIngest(app, router, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	tr := &nethttp.Transport{MaxIdleConnsPerHost: 64}
	e := &env{t: t, mgr: mgr, router: router, app: app, url: "http://" + ln.Addr().String(), client: &nethttp.Client{Transport: tr, Timeout: 20 * time.Second}}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := app.ShutdownWithContext(ctx); err != nil {
			t.Errorf("app shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	// Ready when the app answers (an unknown path: 404).
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := e.client.Get(e.url + "/ingest/-ready-")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == nethttp.StatusNotFound {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("app not ready: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return e
}

// deploy deploys a flow whose first node is an httpIn with cfg, followed by
// nodes of the given types, and returns its hooks.
func (e *env) deploy(id string, cfg map[string]any, next ...string) *flowHooks {
	e.t.Helper()
	h := &flowHooks{got: make(chan engine.Message, 1024), release: make(chan struct{}), blocked: make(chan struct{}, 1024)}
	hooks.Store(id, h)
	e.t.Cleanup(h.unblock) // before the engine shuts down (cleanups run last first)
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	f.Metadata.Nodes = append(f.Metadata.Nodes, engine.Node{ID: "in", Type: httpin.InType, Configuration: cfg})
	prev := "in"
	for i, typ := range next {
		nid := fmt.Sprintf("n%d", i+1)
		f.Metadata.Nodes = append(f.Metadata.Nodes, engine.Node{ID: nid, Type: typ})
		f.Metadata.Connections = append(f.Metadata.Connections, engine.Connection{FromID: prev, ToID: nid, Type: types.Success})
		prev = nid
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.mgr.Deploy(ctx, tenant, f, 1); err != nil {
		e.t.Fatalf("deploy %s: %v", id, err)
	}
	return h
}

// status is the httpIn node's status in flow id.
func (e *env) status(id string) engine.SourceStatus {
	e.t.Helper()
	st, err := e.mgr.Status(id)
	if err != nil {
		e.t.Fatalf("status %s: %v", id, err)
	}
	return st.Sources["in"]
}

type answer struct {
	status int
	header nethttp.Header
	body   []byte
}

func (a answer) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("answer %d is not JSON: %q", a.status, a.body)
	}
	return m
}

// errorCode is the code of an error answer.
func (a answer) errorCode(t testing.TB) string {
	t.Helper()
	var b httpin.ErrorBody
	if err := json.Unmarshal(a.body, &b); err != nil || b.Error.Code == "" {
		t.Fatalf("answer %d is not an error body: %q", a.status, a.body)
	}
	return b.Error.Code
}

// post sends body to /ingest/path; hdr are header name/value pairs.
func (e *env) post(path, contentType string, body []byte, hdr ...string) answer {
	e.t.Helper()
	return e.do(nethttp.MethodPost, path, contentType, body, hdr...)
}

func (e *env) do(method, path, contentType string, body []byte, hdr ...string) answer {
	e.t.Helper()
	req, err := nethttp.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read: %v", method, path, err)
	}
	return answer{status: resp.StatusCode, header: resp.Header, body: b}
}

// receive waits for the next message the flow recorded.
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

// none checks that nothing more reached the flow, after a request that
// went through (so that anything refused before it would be seen first).
func none(t testing.TB, h *flowHooks) {
	t.Helper()
	select {
	case m := <-h.got:
		t.Fatalf("unexpected message reached the flow: %+v", m)
	default:
	}
}

// eventually polls cond until it holds or 10 s pass.
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

func contains(s, sub string) bool { return strings.Contains(s, sub) }
