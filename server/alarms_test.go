package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluicehq/sluice/store"
)

// alarmFlow is a flow with one thresholdAlarm node, "alarm": rule overheat
// (temperature above 80, dead band 2).
func alarmFlow(id string) map[string]any {
	return map[string]any{
		"ruleChain": map[string]any{"id": id, "name": "Boiler alarms"},
		"metadata": map[string]any{
			"nodes": []any{map[string]any{"id": "alarm", "type": "thresholdAlarm", "configuration": map[string]any{
				"futureTolerance": "24h",
				"rules": []any{map[string]any{"name": "overheat", "severity": "major", "condition": map[string]any{
					"rules": []any{map[string]any{"op": ">", "signal": "temperature", "value": 80.0, "deadband": 2.0}}}}},
			}}},
			"connections": []any{},
		},
	}
}

var alarmT0 = time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)

// sample sends one telemetry sample through the deployed flow and waits
// for it.
func (e *env) sample(flow, dev string, at time.Duration, temp float64) {
	e.t.Helper()
	msg := map[string]any{"type": "TELEMETRY", "data": map[string]any{
		"deviceId": dev, "ts": alarmT0.Add(at).UnixMilli(), "signals": map[string]any{"temperature": temp}}}
	var res struct{ Status string }
	e.mustDo(http.MethodPost, "/api/v1/flows/"+flow+"/messages?wait=true", "", msg, http.StatusOK, &res)
	if res.Status != "completed" {
		e.t.Fatalf("sample: %s", res.Status)
	}
}

func (e *env) alarms(query string) AlarmPage {
	e.t.Helper()
	var p AlarmPage
	e.mustDo(http.MethodGet, "/api/v1/alarms"+query, "", nil, http.StatusOK, &p)
	return p
}

func deployAlarmFlow(e *env, id string) {
	e.t.Helper()
	e.createFlow(alarmFlow(id))
	e.mustDo(http.MethodPost, "/api/v1/flows/"+id+"/deploy", "", nil, http.StatusOK, nil)
}

func TestAlarmAPI(t *testing.T) {
	e := newEnv(t)
	deployAlarmFlow(e, "boiler")
	e.sample("boiler", "b1", 0, 90)
	e.sample("boiler", "b2", time.Minute, 85)
	e.sample("boiler", "b3", 2*time.Minute, 20)

	p := e.alarms("")
	if p.Total != 2 || len(p.Items) != 2 || p.Items[0].DeviceID != "b2" || p.Items[1].DeviceID != "b1" {
		t.Fatalf("alarms: %+v", p)
	}
	a1 := p.Items[1]
	if a1.Status != "active" || a1.Acknowledged || a1.Severity != "major" || a1.Rule != "overheat" || a1.FlowID != "boiler" ||
		a1.NodeID != "alarm" || a1.Tenant != store.DefaultTenant || a1.Value == nil || *a1.Value != 90 || a1.Since != alarmT0.UnixMilli() {
		t.Fatalf("alarm %+v", a1)
	}

	for query, want := range map[string]int{
		"?device=b1": 1, "?status=active": 2, "?status=cleared": 0, "?severity=critical": 0, "?severity=critical,major": 2,
		"?rule=overheat": 2, "?rule=other": 0, "?flow=boiler": 2, "?acknowledged=false": 2, "?acknowledged=true": 0,
		"?from=" + url.QueryEscape(alarmT0.Add(30*time.Second).Format(time.RFC3339)): 1,
		"?to=" + fmt.Sprint(alarmT0.Add(30*time.Second).UnixMilli()):                 1,
		"?limit=1&offset=1": 2,
	} {
		if got := e.alarms(query); got.Total != want {
			t.Errorf("GET /alarms%s: total %d, want %d", query, got.Total, want)
		}
	}
	if got := e.alarms("?limit=1&offset=1"); len(got.Items) != 1 || got.Items[0].ID != a1.ID {
		t.Errorf("second page: %+v", got.Items)
	}
	for _, q := range []string{"?status=open", "?severity=fatal", "?limit=0", "?limit=1001", "?offset=-1", "?from=yesterday", "?acknowledged=maybe"} {
		status, _, b := e.do(http.MethodGet, "/api/v1/alarms"+q, e.token, nil)
		if status != http.StatusBadRequest || errorOf(t, b).Code != CodeBadRequest {
			t.Errorf("GET /alarms%s: %d %s", q, status, b)
		}
	}

	// One alarm with its history.
	var d AlarmDetail
	e.mustDo(http.MethodGet, "/api/v1/alarms/"+a1.ID, "", nil, http.StatusOK, &d)
	if d.ID != a1.ID || len(d.History) != 1 || d.History[0].Kind != "created" || d.History[0].Reason != "condition" {
		t.Fatalf("detail %+v", d)
	}
	e.mustDo(http.MethodGet, "/api/v1/alarms/nope", "", nil, http.StatusNotFound, nil)
	e.mustDo(http.MethodPost, "/api/v1/alarms/nope/ack", "", nil, http.StatusNotFound, nil)
	e.mustDo(http.MethodPost, "/api/v1/alarms/"+a1.ID+"/ack", "", map[string]any{"coment": "typo"}, http.StatusBadRequest, nil)

	// Acknowledge: the record changes, the node gets the command.
	var acked store.Alarm
	e.mustDo(http.MethodPost, "/api/v1/alarms/"+a1.ID+"/ack", "", AlarmActionRequest{Comment: "on my way"}, http.StatusOK, &acked)
	if !acked.Acknowledged || acked.AckedBy != AdminUser || acked.AckComment != "on my way" || acked.Status != "active" {
		t.Fatalf("acknowledged: %+v", acked)
	}
	stored, err := e.db.Alarms().AlarmByID(context.Background(), "", a1.ID)
	if err != nil || stored.CommandKey == "" {
		t.Fatalf("stored %+v %v", stored, err)
	}
	eventually(t, 5*time.Second, "the node to take the acknowledge", func() bool {
		_, pending, err := e.mgr.State().Get(context.Background(), stored.CommandKey)
		return err == nil && !pending
	})
	e.mustDo(http.MethodPost, "/api/v1/alarms/"+a1.ID+"/ack", "", nil, http.StatusOK, nil) // again: no change
	e.mustDo(http.MethodGet, "/api/v1/alarms/"+a1.ID, "", nil, http.StatusOK, &d)
	if len(d.History) != 2 || d.History[1].Kind != "acknowledged" || d.History[1].By != AdminUser || d.History[1].Comment != "on my way" {
		t.Fatalf("history after ack: %+v", d.History)
	}

	// Clear while the value stays bad: cleared by the operator, and the
	// node raises a new alarm for b1.
	var cleared store.Alarm
	e.mustDo(http.MethodPost, "/api/v1/alarms/"+a1.ID+"/clear", "", AlarmActionRequest{Comment: "reset"}, http.StatusOK, &cleared)
	if cleared.Status != "cleared" || cleared.ClearedBy != AdminUser || !cleared.Acknowledged {
		t.Fatalf("cleared: %+v", cleared)
	}
	var again AlarmPage
	eventually(t, 5*time.Second, "a new alarm for b1", func() bool {
		again = e.alarms("?device=b1&status=active")
		return again.Total == 1
	})
	if n := again.Items[0]; n.ID == a1.ID || n.Acknowledged || n.Count != 1 {
		t.Fatalf("re-triggered: %+v", n)
	}
	e.mustDo(http.MethodPost, "/api/v1/alarms/"+a1.ID+"/clear", "", nil, http.StatusOK, nil) // again: no change

	// b2 cools down: cleared by its condition, no operator.
	e.sample("boiler", "b2", 3*time.Minute, 70)
	b2 := e.alarms("?device=b2").Items[0]
	if b2.Status != "cleared" || b2.ClearedBy != "" || b2.ClearedAt.IsZero() {
		t.Fatalf("b2: %+v", b2)
	}
}

func TestAlarmsOfAnotherTenant(t *testing.T) {
	e := newEnv(t)
	deployAlarmFlow(e, "boiler")
	e.sample("boiler", "b1", 0, 90)
	id := e.alarms("").Items[0].ID

	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Users().CreateUser(context.Background(), store.User{Tenant: "globex", Username: "eve", PasswordHash: string(hash), Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	var login TokenAnswer
	e.mustDo(http.MethodPost, "/api/v1/auth/login", "-", map[string]string{"username": "eve", "password": testPassword, "tenant": "globex"}, http.StatusOK, &login)
	var p AlarmPage
	e.mustDo(http.MethodGet, "/api/v1/alarms", login.Token, nil, http.StatusOK, &p)
	if p.Total != 0 || len(p.Items) != 0 {
		t.Fatalf("another tenant sees %+v", p)
	}
	e.mustDo(http.MethodGet, "/api/v1/alarms/"+id, login.Token, nil, http.StatusNotFound, nil)
	e.mustDo(http.MethodPost, "/api/v1/alarms/"+id+"/ack", login.Token, nil, http.StatusNotFound, nil)
}

// dialAlarms opens the alarm stream with a fresh ticket.
func (e *env) dialAlarms(addr, query string) *websocket.Conn {
	e.t.Helper()
	var tk TokenAnswer
	e.mustDo(http.MethodPost, "/api/v1/auth/ticket", "", nil, http.StatusOK, &tk)
	u := "ws://" + addr + "/api/v1/alarms/stream?ticket=" + url.QueryEscape(tk.Ticket) + query
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		e.t.Fatalf("dial alarm stream: %v (%v)", err, resp)
	}
	if resp.Body != nil {
		_ = resp.Body.Close()
	}
	e.t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var n Notice
	if err := conn.ReadJSON(&n); err != nil || n.Type != "subscribed" {
		e.t.Fatalf("first message: %+v, %v; want the subscribed notice", n, err)
	}
	return conn
}

func readChange(t *testing.T, conn *websocket.Conn) AlarmChange {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, b, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read alarm stream: %v", err)
	}
	var c AlarmChange
	if err := json.Unmarshal(b, &c); err != nil || c.Type != "alarm" {
		t.Fatalf("change %s: %v", b, err)
	}
	return c
}

func TestAlarmStream(t *testing.T) {
	e := newEnv(t)
	addr := e.listen()
	deployAlarmFlow(e, "boiler")
	all := e.dialAlarms(addr, "")
	onlyB2 := e.dialAlarms(addr, "&device=b2")

	e.sample("boiler", "b1", 0, 90)
	c := readChange(t, all)
	if c.Change != "created" || c.Reason != "condition" || c.Alarm.DeviceID != "b1" || c.Alarm.Status != "active" {
		t.Fatalf("created: %+v", c)
	}
	e.mustDo(http.MethodPost, "/api/v1/alarms/"+c.Alarm.ID+"/ack", "", AlarmActionRequest{Comment: "mine"}, http.StatusOK, nil)
	if c := readChange(t, all); c.Change != "acknowledged" || c.By != AdminUser || !c.Alarm.Acknowledged || c.Alarm.AckComment != "mine" {
		t.Fatalf("acknowledged: %+v", c)
	}
	e.sample("boiler", "b2", time.Second, 95)
	if c := readChange(t, onlyB2); c.Change != "created" || c.Alarm.DeviceID != "b2" {
		t.Fatalf("filtered stream: %+v", c)
	}
	if c := readChange(t, all); c.Alarm.DeviceID != "b2" {
		t.Fatalf("second change: %+v", c)
	}

	// A plain GET is refused with 426; a bad filter with 400.
	status, _, b := e.do(http.MethodGet, "/api/v1/alarms/stream", e.token, nil)
	if status != http.StatusUpgradeRequired || errorOf(t, b).Code != CodeUpgradeRequired {
		t.Fatalf("plain GET: %d %s", status, b)
	}
}

func TestAlarmRecorderIsProvidedOnce(t *testing.T) {
	e := newEnv(t)
	rec := e.srv.alarmRecorder()
	if rec == nil {
		t.Fatal("the server provided no alarm recorder")
	}
	if e.srv.alarmRecorder() != rec {
		t.Fatal("a second recorder")
	}
	// A recorder sluice serve provides is the one the server uses.
	mine := NewAlarmRecorder(e.db.Alarms(), nil)
	e.mgr.Resources().Provide("alarm.recorder", mine)
	if e.srv.alarmRecorder() != mine {
		t.Fatal("the provided recorder is not used")
	}
}
