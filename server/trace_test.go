package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/sluicehq/sluice/engine"
)

// dialTrace opens the trace WebSocket of a flow with a fresh ticket.
func (e *env) dialTrace(addr, flow string) *websocket.Conn {
	e.t.Helper()
	var tk TokenAnswer
	e.mustDo(http.MethodPost, "/api/v1/auth/ticket", "", nil, http.StatusOK, &tk)
	u := "ws://" + addr + "/api/v1/flows/" + flow + "/trace?ticket=" + url.QueryEscape(tk.Ticket)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		e.t.Fatalf("dial trace: %v (%v)", err, resp)
	}
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	e.t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var n Notice
	if err := conn.ReadJSON(&n); err != nil || n.Type != "subscribed" || n.Flow != flow {
		e.t.Fatalf("first message: %+v, %v; want the subscribed notice", n, err)
	}
	return conn
}

// readEvents reads trace events until n arrived or the deadline passes.
func readEvents(t *testing.T, conn *websocket.Conn, n int) []engine.TraceEvent {
	t.Helper()
	var out []engine.TraceEvent
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(out) < n {
		_, b, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("read trace after %d events: %v", len(out), err)
		}
		var n Notice
		if err := json.Unmarshal(b, &n); err == nil && n.Type != "" {
			t.Fatalf("unexpected notice %s", b)
		}
		var ev engine.TraceEvent
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("decode %s: %v", b, err)
		}
		out = append(out, ev)
	}
	return out
}

func TestTraceWebSocket(t *testing.T) {
	e := newEnv(t)
	addr := e.listen()
	e.createFlow(boilerFlow("boiler", "50"))
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/deploy", "", nil, http.StatusOK, nil)

	conn := e.dialTrace(addr, "boiler")
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/messages?wait=true", "", telemetry(60), http.StatusOK, nil)
	evs := readEvents(t, conn, 6)
	steps := map[string]bool{}
	for _, ev := range evs {
		steps[ev.Node+":"+ev.Direction] = true
		if ev.Flow != "boiler" || ev.RootID == "" {
			t.Fatalf("event %+v", ev)
		}
	}
	for _, s := range []string{"hot:in", "hot:out", "toF:in", "toF:out", "log1:in", "log1:out"} {
		if !steps[s] {
			t.Errorf("no %s event in %v", s, steps)
		}
	}
}

func TestTraceTicketIsSingleUse(t *testing.T) {
	e := newEnv(t)
	addr := e.listen()
	e.createFlow(boilerFlow("boiler", "50"))
	var tk TokenAnswer
	e.mustDo(http.MethodPost, "/api/v1/auth/ticket", "", nil, http.StatusOK, &tk)
	u := "ws://" + addr + "/api/v1/flows/boiler/trace?ticket=" + url.QueryEscape(tk.Ticket)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		t.Fatalf("first dial: %v", err)
	}
	_ = resp.Body.Close()
	defer conn.Close()
	_, resp, err = websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("second dial with the same ticket: %v %v", err, resp)
	}
	_ = resp.Body.Close()
	// A plain GET is not an upgrade.
	status, _, b := e.do(http.MethodGet, "/api/v1/flows/boiler/trace", e.token, nil)
	if status != http.StatusUpgradeRequired {
		t.Fatalf("plain GET: %d %s", status, b)
	}
}

func TestShutdownClosesTraceStreams(t *testing.T) {
	e := newEnv(t)
	addr := e.listen()
	e.createFlow(boilerFlow("boiler", "50"))
	conn := e.dialTrace(addr, "boiler")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
				t.Fatalf("want a going-away close, got %v", err)
			}
			return
		}
	}
}

func TestTraceReportsDroppedEvents(t *testing.T) {
	e := newEnv(t)
	e.srv.cfg.TraceBuffer = 1
	addr := e.listen()
	e.createFlow(boilerFlow("boiler", "50"))
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/deploy", "", nil, http.StatusOK, nil)
	conn := e.dialTrace(addr, "boiler")
	// Six events per message, published in a burst, into a buffer of one:
	// the stream cannot keep up, events are lost, and it says how many.
	for i := 0; i < 20; i++ {
		e.mustDo(http.MethodPost, "/api/v1/flows/boiler/messages?wait=true", "", telemetry(60), http.StatusOK, nil)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("no dropped notice: %v", err)
		}
		var n Notice
		if err := json.Unmarshal(b, &n); err == nil && n.Type == "dropped" {
			if n.Count == 0 {
				t.Fatalf("dropped notice with no count: %s", b)
			}
			return
		}
	}
}
