package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/connectors/conntest"
	httpin "github.com/sluicehq/sluice/connectors/http"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/server"
)

// Every Manager, app and client the tests start is stopped: no goroutine may
// outlive them (fasthttp's process-wide goroutines aside).
func TestMain(m *testing.M) { conntest.Main(m, conntest.Fasthttp...) }

const tenant = "acme"

// wait is how long a test waits for what must happen.
const wait = 10 * time.Second

// deviceAuth is the device registry of the tests; "tok-registry-down"
// finds it failing.
type deviceAuth struct{ conntest.Devices }

func (d deviceAuth) ByToken(ctx context.Context, token string) (engine.Device, error) {
	if token == "tok-registry-down" {
		return engine.Device{}, errors.New("open devices table: database is locked")
	}
	return d.Devices.ByToken(ctx, token)
}

var testDevices = deviceAuth{conntest.Devices{Tokens: map[string]engine.Device{
	"tok-boiler":  {ID: "boiler-7", Tenant: tenant, Name: "Boiler 7"},
	"tok-pump":    {ID: "pump-1", Tenant: tenant, Name: "Pump 1"},
	"tok-foreign": {ID: "intruder", Tenant: "globex", Name: "Someone else's"},
}}}

// Test-only node types besides conntest's: test/reply answers, test/fail
// fails.

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
	if o.engine.Devices == nil {
		o.engine.Devices = testDevices
	}
	if o.engine.DrainTimeout == 0 {
		o.engine.DrainTimeout = 5 * time.Second
	}
	if o.readTimeout == 0 {
		o.readTimeout = 10 * time.Second
	}
	mgr := conntest.NewManager(t, o.engine)
	router := httpin.NewRouter()
	mgr.Resources().Provide(httpin.RouterKey, router)

	// The settings the API server must have for ingest: a read timeout (slow
	// senders) and a body limit.
	app := fiber.New(fiber.Config{DisableStartupMessage: true, ReadTimeout: o.readTimeout, BodyLimit: o.bodyLimit, IdleTimeout: 30 * time.Second})
	server.MountIngest(app, router, nil)
	addr := conntest.Serve(t, app, "/ingest/-ready-")
	tr := &nethttp.Transport{MaxIdleConnsPerHost: 64}
	t.Cleanup(tr.CloseIdleConnections)
	return &env{t: t, mgr: mgr, router: router, app: app, url: "http://" + addr, client: &nethttp.Client{Transport: tr, Timeout: 20 * time.Second}}
}

// deploy deploys a flow whose first node is an httpIn with cfg, followed by
// nodes of the given types, and returns its recorder.
func (e *env) deploy(id string, cfg map[string]any, next ...string) *conntest.Recorder {
	e.t.Helper()
	h := conntest.Record(e.t, id) // after the engine: held messages go on before it shuts down
	conntest.Deploy(e.t, e.mgr, tenant, conntest.Flow(id, httpin.InType, cfg, next...), 1)
	return h
}

// status is the httpIn node's status in flow id.
func (e *env) status(id string) engine.SourceStatus {
	e.t.Helper()
	return conntest.Status(e.t, e.mgr, id)
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

func contains(s, sub string) bool { return strings.Contains(s, sub) }
