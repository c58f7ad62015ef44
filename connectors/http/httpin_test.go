package http_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net"
	nethttp "net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sluicehq/sluice/connectors/conntest"
	httpin "github.com/sluicehq/sluice/connectors/http"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

func TestTokenAuth(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := e.deploy("auth", map[string]any{"path": "plant/telemetry", "headers": map[string]any{"X-Request-Id": "requestId"}}, conntest.RecordType)
	body := []byte(`{"temperature":81.5}`)

	for _, tc := range []struct {
		name   string
		hdr    []string
		query  string
		status int
		code   string
	}{
		{name: "missing token", status: 401, code: httpin.CodeUnauthorized},
		{name: "wrong bearer token", hdr: []string{"Authorization", "Bearer nope"}, status: 401, code: httpin.CodeUnauthorized},
		{name: "wrong query token", query: "?token=nope", status: 401, code: httpin.CodeUnauthorized},
		{name: "another tenant's device", hdr: []string{"X-Device-Token", "tok-foreign"}, status: 403, code: httpin.CodeForbidden},
	} {
		a := e.post("/ingest/plant/telemetry"+tc.query, "application/json", body, tc.hdr...)
		if a.status != tc.status || a.errorCode(t) != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, a.status, a.body, tc.status, tc.code)
		}
		if tc.status == 401 && a.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", tc.name)
		}
	}

	// The three ways to send a good token.
	for _, tc := range []struct {
		name  string
		hdr   []string
		query string
	}{
		{name: "bearer", hdr: []string{"Authorization", "Bearer tok-boiler", "X-Request-Id", "r-1"}},
		{name: "header", hdr: []string{"X-Device-Token", "tok-boiler", "X-Request-Id", "r-2"}},
		{name: "query", query: "?token=tok-boiler", hdr: []string{"X-Request-Id", "r-3"}},
	} {
		a := e.post("/ingest/plant/telemetry"+tc.query, "application/json", body, tc.hdr...)
		if a.status != nethttp.StatusAccepted {
			t.Fatalf("%s: %d %s, want 202", tc.name, a.status, a.body)
		}
		id, _ := a.json(t)["msgId"].(string)
		m := h.Next(t, wait)
		if m.Id != id || id == "" {
			t.Errorf("%s: answered msgId %q, the flow got %q", tc.name, id, m.Id)
		}
		if m.Type != "RAW" || m.DataType != "JSON" || m.Data != string(body) {
			t.Errorf("%s: message %+v", tc.name, m)
		}
		md := m.Metadata.Values()
		if md["connector"] != "httpIn" || md["tenant"] != tenant || md["deviceId"] != "boiler-7" || md["path"] != "/ingest/plant/telemetry" ||
			md["requestId"] != tc.hdr[len(tc.hdr)-1] || md["contentType"] != "application/json" {
			t.Errorf("%s: metadata %v", tc.name, md)
		}
		if _, err := time.Parse(time.RFC3339Nano, md["receivedAt"]); err != nil {
			t.Errorf("%s: receivedAt %q: %v", tc.name, md["receivedAt"], err)
		}
		if host, _, err := net.SplitHostPort(md["remoteAddr"]); err != nil || host != "127.0.0.1" {
			t.Errorf("%s: remoteAddr %q", tc.name, md["remoteAddr"])
		}
	}
	h.None(t) // the refused requests never reached the flow

	st := e.status("auth")
	if st.State != engine.StateListening || st.Messages != 3 || st.Errors != 4 || st.Bytes != uint64(3*len(body)) {
		t.Errorf("status = %+v, want listening, 3 messages, 4 errors", st)
	}
	if !contains(st.LastError, "another tenant") {
		t.Errorf("lastError %q", st.LastError)
	}
}

func TestNoRegistryRefusesDevices(t *testing.T) {
	e := newEnv(t, envOptions{engine: engine.Options{Devices: deviceAuth{}}})
	e.deploy("noreg", map[string]any{"path": "x"}, conntest.RecordType)
	if a := e.post("/ingest/x", "text/plain", []byte("hi"), "X-Device-Token", "tok-boiler"); a.status != 401 {
		t.Fatalf("unknown to the registry: %d %s", a.status, a.body)
	}
}

func TestRegistryDown(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := e.deploy("down", map[string]any{"path": "d"}, conntest.RecordType)
	a := e.post("/ingest/d", "text/plain", []byte("x"), "X-Device-Token", "tok-registry-down")
	if a.status != 503 || a.errorCode(t) != httpin.CodeOverloaded || contains(string(a.body), "database") {
		t.Errorf("registry down: %d %s (the registry's error must not reach the device)", a.status, a.body)
	}
	h.None(t)
}

func TestAuthNone(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := e.deploy("trusted", map[string]any{"path": "gw", "auth": "none"}, conntest.RecordType)
	if a := e.post("/ingest/gw", "text/plain", []byte("21.5"), "X-Device-Id", "sensor-9"); a.status != 202 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if m := h.Next(t, wait); m.Metadata.GetValue("deviceId") != "sensor-9" || m.DataType != "TEXT" || m.Data != "21.5" {
		t.Errorf("message %+v", m)
	}
	if a := e.post("/ingest/gw", "text/plain", []byte("x")); a.status != 202 {
		t.Fatalf("%d %s", a.status, a.body)
	}
	if m := h.Next(t, wait); m.Metadata.GetValue("deviceId") != "" {
		t.Errorf("anonymous message has a device: %v", m.Metadata)
	}
}

func TestBodiesByContentType(t *testing.T) {
	e := newEnv(t, envOptions{})
	h := e.deploy("bodies", map[string]any{"path": "b"}, conntest.RecordType)
	tok := []string{"X-Device-Token", "tok-pump"}
	bin := []byte{0x00, 0xff, 0x10, 0x80}
	for _, tc := range []struct {
		name, ct      string
		body          []byte
		dataType, out string
	}{
		{"json", "application/json; charset=utf-8", []byte(`{"a":1}`), "JSON", `{"a":1}`},
		{"vendor json", "application/vnd.acme+json", []byte(`[1,2]`), "JSON", `[1,2]`},
		{"text", "text/plain", []byte("t=20;h=40"), "TEXT", "t=20;h=40"},
		{"binary", "application/octet-stream", bin, "BINARY", base64.StdEncoding.EncodeToString(bin)},
		{"curl form default, JSON inside", "application/x-www-form-urlencoded", []byte(`{"a":2}`), "JSON", `{"a":2}`},
		{"no type, text", "", []byte("hello"), "TEXT", "hello"},
		{"no type, binary", "", bin, "BINARY", base64.StdEncoding.EncodeToString(bin)},
	} {
		a := e.post("/ingest/b", tc.ct, tc.body, tok...)
		if a.status != 202 {
			t.Fatalf("%s: %d %s", tc.name, a.status, a.body)
		}
		if m := h.Next(t, wait); string(m.DataType) != tc.dataType || m.Data != tc.out {
			t.Errorf("%s: got %s %q, want %s %q", tc.name, m.DataType, m.Data, tc.dataType, tc.out)
		}
	}
	for _, tc := range []struct {
		name, method, ct string
		body             []byte
		hdr              []string
		status           int
	}{
		{"invalid JSON", "POST", "application/json", []byte(`{"a":`), nil, 400},
		{"text that is not UTF-8", "POST", "text/plain", bin, nil, 400},
		{"compressed", "POST", "application/json", []byte("\x1f\x8b"), []string{"Content-Encoding", "gzip"}, 415},
		{"GET", "GET", "", nil, nil, 405},
	} {
		a := e.do(tc.method, "/ingest/b", tc.ct, tc.body, append(tok, tc.hdr...)...)
		if a.status != tc.status {
			t.Errorf("%s: %d %s, want %d", tc.name, a.status, a.body, tc.status)
		}
		a.errorCode(t)
	}
	if a := e.do("PUT", "/ingest/b", "text/plain", []byte("put"), tok...); a.status != 202 {
		t.Errorf("PUT: %d %s", a.status, a.body)
	}
	h.Next(t, wait)
	h.None(t)
}

func TestSyncMode(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deploy("sync-ok", map[string]any{"path": "cmd", "mode": "sync"}, "test/reply")
	e.deploy("sync-fail", map[string]any{"path": "cmd-fail", "mode": "sync"}, "test/fail")
	slow := e.deploy("sync-slow", map[string]any{"path": "cmd-slow", "mode": "sync", "syncTimeout": "200ms"}, conntest.HoldType)
	tok := []string{"Authorization", "Bearer tok-boiler"}

	a := e.post("/ingest/cmd", "application/json", []byte(`{"ping":1}`), tok...)
	if a.status != 200 || string(a.body) != `{"reply":"pong","device":"boiler-7"}` || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Errorf("sync: %d %s %q", a.status, a.body, a.header.Get("Content-Type"))
	}
	if a.header.Get("X-Message-Id") == "" {
		t.Error("no X-Message-Id")
	}

	a = e.post("/ingest/cmd-fail", "application/json", []byte(`{}`), tok...)
	if a.status != 502 || a.errorCode(t) != httpin.CodeFlowFailed || !contains(string(a.body), "valve 3 refused the command") {
		t.Errorf("failed flow: %d %s", a.status, a.body)
	}

	a = e.post("/ingest/cmd-slow", "application/json", []byte(`{}`), tok...)
	if a.status != 504 || a.errorCode(t) != httpin.CodeTimeout {
		t.Errorf("slow flow: %d %s", a.status, a.body)
	}
	<-slow.Held()
	slow.Release()
	if st := e.status("sync-ok"); st.Messages != 1 || st.Errors != 0 {
		t.Errorf("status = %+v", st)
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, envOptions{bodyLimit: 1024})
	h := e.deploy("size", map[string]any{"path": "small", "maxBodySize": 16}, conntest.RecordType)
	tok := []string{"X-Device-Token", "tok-pump"}
	if a := e.post("/ingest/small", "text/plain", []byte(strings.Repeat("x", 16)), tok...); a.status != 202 {
		t.Fatalf("16 bytes: %d %s", a.status, a.body)
	}
	h.Next(t, wait)
	a := e.post("/ingest/small", "text/plain", []byte(strings.Repeat("x", 17)), tok...)
	if a.status != 413 || a.errorCode(t) != httpin.CodeTooLarge {
		t.Errorf("17 bytes: %d %s", a.status, a.body)
	}
	// Above the server's own limit, fasthttp refuses before the connector.
	if a := e.post("/ingest/small", "text/plain", []byte(strings.Repeat("x", 4096)), tok...); a.status != 413 {
		t.Errorf("4096 bytes: %d %s", a.status, a.body)
	}
	h.None(t)
	if st := e.status("size"); st.Errors != 1 || !contains(st.LastError, "larger than the limit of 16 bytes") {
		t.Errorf("status = %+v", st)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deploy("rate", map[string]any{"path": "r", "rateLimit": 0.5, "rateBurst": 2}, conntest.CountType)
	boiler := []string{"X-Device-Token", "tok-boiler"}
	for i := range 2 {
		if a := e.post("/ingest/r", "text/plain", []byte("x"), boiler...); a.status != 202 {
			t.Fatalf("request %d within the burst: %d %s", i, a.status, a.body)
		}
	}
	a := e.post("/ingest/r", "text/plain", []byte("x"), boiler...)
	if a.status != 429 || a.errorCode(t) != httpin.CodeTooManyRequests {
		t.Fatalf("over the rate: %d %s", a.status, a.body)
	}
	if s, err := strconv.Atoi(a.header.Get("Retry-After")); err != nil || s < 1 || s > 2 {
		t.Errorf("Retry-After %q", a.header.Get("Retry-After"))
	}
	// Another device has its own bucket.
	if a := e.post("/ingest/r", "text/plain", []byte("x"), "X-Device-Token", "tok-pump"); a.status != 202 {
		t.Errorf("other device: %d %s", a.status, a.body)
	}
}

func TestOverloadFailsFast(t *testing.T) {
	e := newEnv(t, envOptions{engine: engine.Options{MaxInFlight: 1}})
	h := e.deploy("busy", map[string]any{"path": "busy"}, conntest.HoldType)
	tok := []string{"X-Device-Token", "tok-boiler"}
	if a := e.post("/ingest/busy", "text/plain", []byte("1"), tok...); a.status != 202 {
		t.Fatalf("first: %d %s", a.status, a.body)
	}
	<-h.Held() // the first message holds the flow's only slot
	a := e.post("/ingest/busy", "text/plain", []byte("2"), tok...)
	if a.status != 503 || a.errorCode(t) != httpin.CodeOverloaded || a.header.Get("Retry-After") == "" {
		t.Fatalf("second: %d %s", a.status, a.body)
	}
	h.Release()
	conntest.Eventually(t, wait, "the flow takes messages again", func() bool {
		return e.post("/ingest/busy", "text/plain", []byte("3"), tok...).status == 202
	})
	if st := e.status("busy"); st.Errors == 0 || !contains(st.LastError, "in-flight limit") {
		t.Errorf("status = %+v", st)
	}
}

// A sender that dribbles its body is cut off by the server's read timeout,
// and nothing reaches the flow.
func TestSlowBodyIsCutOff(t *testing.T) {
	e := newEnv(t, envOptions{readTimeout: 300 * time.Millisecond})
	h := e.deploy("slow", map[string]any{"path": "slow"}, conntest.RecordType)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /ingest/slow HTTP/1.1\r\nHost: x\r\nX-Device-Token: tok-boiler\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	// Keep dribbling one byte at a time until the server gives up on us.
	stop := make(chan struct{})
	dribbled := make(chan struct{})
	go func() {
		defer close(dribbled)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := conn.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	resp, err := nethttp.ReadResponse(bufio.NewReader(conn), nil)
	close(stop)
	<-dribbled
	var ne net.Error
	switch {
	case err == nil:
		resp.Body.Close()
		if resp.StatusCode != nethttp.StatusRequestTimeout {
			t.Errorf("slow body answered %d, want 408 or a closed connection", resp.StatusCode)
		}
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("the server kept a slow sender for %s", time.Since(start))
	default:
		t.Logf("slow sender cut off after %s: %v", time.Since(start).Round(time.Millisecond), err)
	}
	// err != nil (EOF, reset) is a closed connection: also fine.
	if a := e.post("/ingest/slow", "text/plain", []byte("fast"), "X-Device-Token", "tok-boiler"); a.status != 202 {
		t.Fatalf("a fast request: %d", a.status)
	}
	if m := h.Next(t, wait); m.Data != "fast" {
		t.Errorf("the slow body reached the flow: %q", m.Data)
	}
}

func TestUnknownPathAndUndeploy(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deploy("gone", map[string]any{"path": "soon-gone"}, conntest.RecordType)
	if a := e.post("/ingest/nowhere", "text/plain", []byte("x")); a.status != 404 || a.errorCode(t) != "not_found" {
		t.Errorf("unknown path: %d %s", a.status, a.body)
	}
	tok := []string{"X-Device-Token", "tok-boiler"}
	if a := e.post("/ingest/soon-gone/", "text/plain", []byte("x"), tok...); a.status != 202 {
		t.Errorf("trailing slash: %d %s", a.status, a.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.mgr.Undeploy(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if a := e.post("/ingest/soon-gone", "text/plain", []byte("x"), tok...); a.status != 404 {
		t.Errorf("after undeploy: %d %s", a.status, a.body)
	}
	if len(e.router.Paths()) != 0 {
		t.Errorf("router still serves %v", e.router.Paths())
	}
}

func TestTwoFlowsCannotClaimOnePath(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.deploy("first", map[string]any{"path": "shared"}, conntest.RecordType)
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: "second"}}
	f.Metadata.Nodes = []engine.Node{{ID: "in", Type: httpin.InType, Configuration: map[string]any{"path": "shared"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := e.mgr.Deploy(ctx, tenant, f, 1)
	var ps spec.Problems
	if !errors.As(err, &ps) || len(ps) != 1 || !contains(ps[0].String(), `is also claimed by flow "first"`) {
		t.Fatalf("deploy of a second flow on one path: %v", err)
	}
}

// A path taken at run time (not through validation) is a start error in
// the node's status; the deploy stands.
func TestTakenPathIsAStartError(t *testing.T) {
	e := newEnv(t, envOptions{})
	remove, err := e.router.Add("taken", "an earlier owner", func(c *fiber.Ctx) error { return c.SendStatus(204) })
	if err != nil {
		t.Fatal(err)
	}
	defer remove()
	e.deploy("late", map[string]any{"path": "taken"}, conntest.RecordType)
	if st := e.status("late"); st.State != engine.StateError || !contains(st.LastError, `path "taken" is already served by an earlier owner`) {
		t.Errorf("status = %+v", st)
	}
	if a := e.post("/ingest/taken", "", nil); a.status != 204 {
		t.Errorf("the earlier owner lost its path: %d", a.status)
	}
}

func TestMissingRouterIsAStartError(t *testing.T) {
	// A manager whose resources lack the router.
	mgr := engine.NewManager(engine.Options{Devices: testDevices, Logger: slog.New(slog.DiscardHandler)})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = mgr.Shutdown(ctx)
	}()
	f := &engine.Flow{RuleChain: engine.FlowInfo{ID: "orphan"}}
	f.Metadata.Nodes = []engine.Node{{ID: "in", Type: httpin.InType, Configuration: map[string]any{"path": "p"}}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := mgr.Deploy(ctx, tenant, f, 1); err != nil {
		t.Fatal(err)
	}
	st, _ := mgr.Status("orphan")
	if s := st.Sources["in"]; s.State != engine.StateError || !contains(s.LastError, "the HTTP ingest router (http.ingest.router) is not available in this process") {
		t.Errorf("status = %+v", s)
	}
}

func TestSpec(t *testing.T) {
	reg, ok := spec.Lookup(httpin.InType)
	if !ok {
		t.Fatal("httpIn is not registered")
	}
	s := reg.Spec
	if !s.Source || s.Category != "connectors" {
		t.Errorf("spec %+v", s)
	}
	for _, f := range s.Fields {
		if f.Help == "" {
			t.Errorf("field %s has no help", f.Name)
		}
	}
	for _, ex := range s.Examples {
		if ps := s.Check(ex.Config); len(ps) > 0 {
			t.Errorf("example %q: %v", ex.Title, ps)
		}
	}
	for _, tc := range []struct {
		cfg   map[string]any
		field string
	}{
		{map[string]any{"path": "/leading"}, "path"},
		{map[string]any{"path": "a//b"}, "path"},
		{map[string]any{"path": "sp ace"}, "path"},
		{map[string]any{"path": "ok", "mode": "later"}, "mode"},
		{map[string]any{"path": "ok", "maxBodySize": 0}, "maxBodySize"},
		{map[string]any{"path": "ok", "headers": map[string]any{"X-A": "deviceId"}}, "headers.X-A"},
		{map[string]any{"path": "ok", "headers": map[string]any{"X A": "a"}}, "headers.X A"},
		{map[string]any{"path": "ok", "headers": map[string]any{"X-A": "a-b"}}, "headers.X-A"},
		{map[string]any{"path": "ok", "rateLimt": 1}, "rateLimt"},
	} {
		ps := s.Check(tc.cfg)
		if len(ps) != 1 || ps[0].Field != tc.field {
			t.Errorf("%v: problems %v, want one on %s", tc.cfg, ps, tc.field)
		}
	}
}
