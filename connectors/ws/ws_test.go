package ws_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/connectors/conntest"
	httpin "github.com/sluicehq/sluice/connectors/http"
	"github.com/sluicehq/sluice/connectors/ws"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

func TestAuthOnUpgrade(t *testing.T) {
	e := newEnv(t)
	h := e.deploy("auth", map[string]any{"path": "devices"}, conntest.RecordType)
	for _, tc := range []struct {
		name, pq string
		hdr      []string
		status   int
		code     string
	}{
		{"missing token", "devices", nil, 401, httpin.CodeUnauthorized},
		{"wrong token", "devices?token=nope", nil, 401, httpin.CodeUnauthorized},
		{"wrong header token", "devices", []string{"Authorization", "Bearer nope"}, 401, httpin.CodeUnauthorized},
		{"another tenant's device", "devices?token=tok-foreign", nil, 403, httpin.CodeForbidden},
		{"unknown path", "elsewhere?token=tok-boiler", nil, 404, "not_found"},
	} {
		if status, code := e.refused(tc.pq, tc.hdr...); status != tc.status || code != tc.code {
			t.Errorf("%s: %d %s, want %d %s", tc.name, status, code, tc.status, tc.code)
		}
	}
	if st := e.status("auth"); st.Errors != 4 || st.Connections != 0 {
		t.Errorf("status after refusals = %+v", st)
	}

	c := e.mustDial("devices?token=tok-boiler")
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"temperature":81.5}`)); err != nil {
		t.Fatal(err)
	}
	m := h.Next(t, wait)
	md := m.Metadata.Values()
	if m.Type != "RAW" || m.DataType != "JSON" || m.Data != `{"temperature":81.5}` {
		t.Errorf("message %+v", m)
	}
	if md["connector"] != "wsIn" || md["tenant"] != tenant || md["deviceId"] != "boiler-7" || md["path"] != "/ws/devices" ||
		!strings.HasPrefix(md["remoteAddr"], "127.0.0.1:") || md["receivedAt"] == "" {
		t.Errorf("metadata %v", md)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte("t=20")); err != nil {
		t.Fatal(err)
	}
	if m := h.Next(t, wait); m.DataType != "TEXT" || m.Data != "t=20" {
		t.Errorf("text frame: %+v", m)
	}
	bin := []byte{0, 1, 254, 255}
	if err := c.WriteMessage(websocket.BinaryMessage, bin); err != nil {
		t.Fatal(err)
	}
	if m := h.Next(t, wait); m.DataType != "BINARY" || m.Data != base64.StdEncoding.EncodeToString(bin) {
		t.Errorf("binary frame: %+v", m)
	}

	// A token in a header works too.
	c2 := e.mustDial("devices", "X-Device-Token", "tok-pump")
	if err := c2.WriteMessage(websocket.TextMessage, []byte(`1`)); err != nil {
		t.Fatal(err)
	}
	if m := h.Next(t, wait); m.Metadata.GetValue("deviceId") != "pump-1" {
		t.Errorf("header token: %v", m.Metadata)
	}
	st := e.status("auth")
	if st.State != engine.StateListening || st.Connections != 2 || st.Messages != 4 {
		t.Errorf("status = %+v", st)
	}
	c.Close()
	conntest.Eventually(t, wait, "the closed connection is counted out", func() bool { return e.status("auth").Connections == 1 })
}

func TestPlainHTTPIsRefused(t *testing.T) {
	e := newEnv(t)
	e.deploy("plain", map[string]any{"path": "p"}, conntest.RecordType)
	tr := &nethttp.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&nethttp.Client{Transport: tr, Timeout: 10 * time.Second}).Get("http://" + e.addr + "/ws/p?token=tok-boiler")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b httpin.ErrorBody
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || resp.StatusCode != 426 || b.Error.Code != httpin.CodeUpgradeRequired {
		t.Errorf("plain GET: %d %+v %v", resp.StatusCode, b, err)
	}
}

func TestIdleTimeoutAndHeartbeat(t *testing.T) {
	e := newEnv(t)
	h := e.deploy("idle", map[string]any{"path": "idle", "idleTimeout": "1s", "pingInterval": "100ms"}, conntest.RecordType)

	// A device that answers pings stays connected past the idle timeout.
	live := e.mustDial("idle?token=tok-boiler")
	pings := make(chan struct{}, 100)
	live.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return live.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := live.ReadMessage(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	for range 15 { // 15 pings ≥ 1.5 s: longer than the idle timeout
		select {
		case <-pings:
		case err := <-readErr:
			t.Fatalf("a device answering pings was closed: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatal("no ping from the server")
		}
	}
	if err := live.WriteMessage(websocket.TextMessage, []byte(`"still here"`)); err != nil {
		t.Fatal(err)
	}
	if m := h.Next(t, wait); m.Data != `"still here"` {
		t.Errorf("got %q", m.Data)
	}

	// A device that never answers is closed after the idle timeout.
	dead := e.mustDial("idle?token=tok-pump")
	dead.SetPingHandler(func(string) error { return nil }) // no pong
	err := readClose(t, dead)
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) || !strings.Contains(err.Error(), "idle timeout") {
		t.Errorf("idle device: %v, want close 1001 idle timeout", err)
	}
	conntest.Eventually(t, wait, "the idle connection is counted out", func() bool { return e.status("idle").Connections == 1 })

	live.Close()
	<-readErr
}

// A frame dribbled byte by byte is cut off by the idle timeout.
func TestSlowFrameIsCutOff(t *testing.T) {
	e := newEnv(t)
	h := e.deploy("slowframe", map[string]any{"path": "s", "idleTimeout": "300ms", "pingInterval": "100ms"}, conntest.RecordType)
	c := e.mustDial("s?token=tok-boiler")
	c.SetPingHandler(func(string) error { return nil })
	raw := c.NetConn()
	// A masked text frame announcing 100 bytes, of which 5 arrive.
	if _, err := raw.Write([]byte{0x81, 0x80 | 100, 1, 2, 3, 4, 'h', 'e', 'l', 'l', 'o'}); err != nil {
		t.Fatal(err)
	}
	readClose(t, c)
	conntest.Eventually(t, wait, "the slow connection is closed", func() bool { return e.status("slowframe").Connections == 0 })
	h.None(t) // no partial frame reached the flow
}

func TestMaxMessageSize(t *testing.T) {
	e := newEnv(t)
	h := e.deploy("size", map[string]any{"path": "size", "maxMessageSize": 16}, conntest.RecordType)
	c := e.mustDial("size?token=tok-boiler")
	if err := c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 16))); err != nil {
		t.Fatal(err)
	}
	h.Next(t, wait)
	if err := c.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 17))); err != nil {
		t.Fatal(err)
	}
	if err := readClose(t, c); !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Errorf("oversize frame: %v, want close 1009", err)
	}
	conntest.Eventually(t, wait, "the error is counted", func() bool {
		st := e.status("size")
		return st.Errors == 1 && strings.Contains(st.LastError, "larger than 16 bytes") && st.Connections == 0
	})
}

func TestMaxConnections(t *testing.T) {
	e := newEnv(t)
	e.deploy("max", map[string]any{"path": "max", "maxConnections": 2}, conntest.RecordType)
	a := e.mustDial("max?token=tok-boiler")
	e.mustDial("max?token=tok-pump")
	// A connection counts once its handler runs, just after the 101.
	conntest.Eventually(t, wait, "both connections are counted", func() bool { return e.status("max").Connections == 2 })
	if status, code := e.refused("max?token=tok-boiler"); status != 503 || code != httpin.CodeOverloaded {
		t.Errorf("third connection: %d %s", status, code)
	}
	a.Close()
	conntest.Eventually(t, wait, "a slot frees up", func() bool { return e.status("max").Connections == 1 })
	e.mustDial("max?token=tok-boiler")
}

func TestPushToDevice(t *testing.T) {
	e := newEnv(t)
	// wsIn → wsPush: the flow echoes each frame to the device that sent it.
	e.deploy("echo", map[string]any{"path": "echo"}, conntest.RecordType, ws.PushType)
	c := e.mustDial("echo?token=tok-boiler")
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"cmd":"hi"}`)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	mt, b, err := c.ReadMessage()
	if err != nil || mt != websocket.TextMessage || string(b) != `{"cmd":"hi"}` {
		t.Fatalf("echo: %d %q %v", mt, b, err)
	}
	bin := []byte{9, 8, 7}
	if err := c.WriteMessage(websocket.BinaryMessage, bin); err != nil {
		t.Fatal(err)
	}
	if mt, b, err := c.ReadMessage(); err != nil || mt != websocket.BinaryMessage || string(b) != string(bin) {
		t.Fatalf("binary echo: %d %v %v", mt, b, err)
	}

	// A command flow pushes to a device by id from metadata.
	e.deployFlow("command", tenant, []engine.Node{{ID: "push", Type: ws.PushType, Configuration: map[string]any{"deviceId": "${metadata.target}", "path": "echo"}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	submit := func(flow, target string) *engine.Result {
		r, err := e.mgr.Submit(ctx, flow, engine.Message{Type: "COMMAND", Data: `{"open":true}`, Metadata: map[string]string{"target": target}}, engine.SubmitOptions{Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := submit("command", "boiler-7"); r.Status != engine.StatusCompleted {
		t.Fatalf("push: %+v", r)
	}
	if _, b, err := c.ReadMessage(); err != nil || string(b) != `{"open":true}` {
		t.Fatalf("pushed: %q %v", b, err)
	}
	if r := submit("command", "ghost"); r.Status != engine.StatusFailed || !strings.Contains(r.Error, `device "ghost" is not connected over WebSocket`) {
		t.Errorf("push to an absent device: %+v", r)
	}
	// Another tenant's flow cannot reach this tenant's device.
	e.deployFlow("foreign", "globex", []engine.Node{{ID: "push", Type: ws.PushType, Configuration: map[string]any{"deviceId": "boiler-7"}}})
	if r := submit("foreign", ""); r.Status != engine.StatusFailed || !strings.Contains(r.Error, "is not connected") {
		t.Errorf("push across tenants: %+v", r)
	}

	// A test run reports instead of sending.
	f, _, _ := e.mgr.DeployedFlowDoc("command")
	tr, err := e.mgr.Test(ctx, tenant, f, engine.Message{Type: "COMMAND", Data: `{"open":false}`, Metadata: map[string]string{"target": "boiler-7"}}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Result.Status != engine.StatusCompleted || len(tr.Result.Ends) != 1 ||
		!strings.Contains(tr.Result.Ends[0].Msg.Metadata[ws.MetaPushReport], `would send a text frame of 14 bytes to device "boiler-7"`) {
		t.Errorf("test run: %+v", tr.Result)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`"after"`)); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.ReadMessage(); err != nil || string(b) != `"after"` {
		t.Errorf("the test run sent something: next frame %q %v", b, err)
	}
}

func TestUndeployClosesConnections(t *testing.T) {
	e := newEnv(t)
	e.deploy("bye", map[string]any{"path": "bye"}, conntest.RecordType)
	c := e.mustDial("bye?token=tok-boiler")
	conntest.Eventually(t, wait, "the device is registered", func() bool { return e.router.Connected(tenant, "boiler-7", "") == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.mgr.Undeploy(ctx, "bye"); err != nil {
		t.Fatal(err)
	}
	if err := readClose(t, c); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("undeploy: %v, want close 1001", err)
	}
	if n := e.router.Connected(tenant, "boiler-7", ""); n != 0 {
		t.Errorf("%d connections still registered", n)
	}
	if status, _ := e.refused("bye?token=tok-boiler"); status != 404 {
		t.Errorf("after undeploy: %d", status)
	}
}

// A redeploy that leaves the connector unchanged keeps its connections.
func TestRedeployKeepsConnections(t *testing.T) {
	e := newEnv(t)
	h := e.deploy("keep", map[string]any{"path": "keep"}, conntest.RecordType)
	c := e.mustDial("keep?token=tok-boiler")
	f, _, _ := e.mgr.DeployedFlowDoc("keep")
	f2 := f.Clone()
	f2.RuleChain.Name = "renamed"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.mgr.Deploy(ctx, tenant, f2, 2); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`2`)); err != nil {
		t.Fatal(err)
	}
	if m := h.Next(t, wait); m.Data != "2" {
		t.Errorf("got %q", m.Data)
	}
}

func TestSpec(t *testing.T) {
	for _, typ := range []string{ws.InType, ws.PushType} {
		reg, ok := spec.Lookup(typ)
		if !ok {
			t.Fatalf("%s is not registered", typ)
		}
		for _, f := range reg.Spec.Fields {
			if f.Help == "" {
				t.Errorf("%s: field %s has no help", typ, f.Name)
			}
		}
		for _, ex := range reg.Spec.Examples {
			if ps := reg.Spec.Check(ex.Config); len(ps) > 0 {
				t.Errorf("%s: example %q: %v", typ, ex.Title, ps)
			}
		}
	}
	push, _ := spec.Lookup(ws.PushType)
	for _, cfg := range []map[string]any{{}, {"deviceId": "${msg.target}", "path": "devices"}, {"deviceId": 7}} {
		n := push.Proto.New()
		err := n.Init(types.NewConfig(), types.Configuration(cfg))
		if _, bad := cfg["deviceId"].(int); bad != (err != nil) {
			t.Errorf("wsPush init with %v: %v", cfg, err)
		}
		n.Destroy()
	}
	in, _ := spec.Lookup(ws.InType)
	for _, tc := range []struct {
		cfg   map[string]any
		field string
	}{
		{map[string]any{"path": "/x"}, "path"},
		{map[string]any{"path": "x/"}, "path"},
		{map[string]any{"path": "x", "idleTimeout": "10s", "pingInterval": "10s"}, "pingInterval"},
		{map[string]any{"path": "x", "maxConnections": 0}, "maxConnections"},
	} {
		if ps := in.Spec.Check(tc.cfg); len(ps) != 1 || ps[0].Field != tc.field {
			t.Errorf("%v: %v, want one problem on %s", tc.cfg, ps, tc.field)
		}
	}
}

func TestRouterSend(t *testing.T) {
	var r *ws.Router
	if _, err := r.Send(tenant, "x", "", false, nil); !errors.Is(err, ws.ErrNotConnected) {
		t.Errorf("nil router: %v", err)
	}
	if _, err := ws.NewRouter().Send(tenant, "x", "p", false, nil); !errors.Is(err, ws.ErrNotConnected) || !strings.Contains(err.Error(), "/ws/p") {
		t.Errorf("empty router: %v", err)
	}
}
