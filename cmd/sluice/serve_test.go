package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
)

const adminPassword = "s3cret-for-tests"

// traceEvent is the part of a trace event the story checks.
type traceEvent struct {
	Type      string `json:"type"` // set on notices only
	Count     uint64 `json:"count"`
	Flow      string `json:"flow"`
	Version   int    `json:"version"`
	RootID    string `json:"rootId"`
	Node      string `json:"node"`
	Direction string `json:"direction"`
	Relation  string `json:"relation"`
	Data      string `json:"data"`
}

type result struct {
	MsgID  string `json:"msgId"`
	Status string `json:"status"`
	Ends   []struct {
		Node     string `json:"node"`
		Relation string `json:"relation"`
		Msg      struct {
			Data string `json:"data"`
		} `json:"msg"`
	} `json:"ends"`
}

type flowAnswer struct {
	ID       string          `json:"id"`
	Version  int             `json:"version"`
	Comment  string          `json:"comment"`
	Flow     json.RawMessage `json:"flow"`
	Problems []problem       `json:"problems"`
}

type problem struct {
	Severity, Flow, Node, NodeType, Field, Message string
}

// String is the one problem format (engine/spec.Problem.String).
func (p problem) String() string {
	var b strings.Builder
	if p.Flow != "" {
		b.WriteString(`flow "` + p.Flow + `": `)
	}
	if p.Node != "" {
		b.WriteString(`node "` + p.Node + `"`)
		if p.NodeType != "" {
			b.WriteString(" (" + p.NodeType + ")")
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(`field "` + p.Field + `": `)
	}
	b.WriteString(p.Message)
	return b.String()
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// inject sends a reading of one boiler and waits for its result.
func inject(c *client, flow string, temp float64) result {
	c.t.Helper()
	var r result
	c.do(http.MethodPost, "/api/v1/flows/"+flow+"/messages?wait=true",
		map[string]any{"type": "TELEMETRY", "data": map[string]any{"temperature": temp}, "metadata": map[string]any{"deviceId": "boiler-7"}},
		http.StatusOK, &r)
	return r
}

// openTrace opens the trace WebSocket of a flow and waits for the
// subscribed notice.
func openTrace(c *client, flow string) *websocket.Conn {
	c.t.Helper()
	var tk struct {
		Ticket    string    `json:"ticket"`
		ExpiresAt time.Time `json:"expiresAt"`
	}
	c.do(http.MethodPost, "/api/v1/auth/ticket", nil, http.StatusOK, &tk)
	if tk.Ticket == "" || time.Until(tk.ExpiresAt) > 31*time.Second {
		c.t.Fatalf("ticket %+v", tk)
	}
	u := "ws" + strings.TrimPrefix(c.base, "http") + "/api/v1/flows/" + flow + "/trace?ticket=" + url.QueryEscape(tk.Ticket)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, resp, err := websocket.DefaultDialer.DialContext(ctx, u, nil)
	if err != nil {
		c.t.Fatalf("dial %s: %v", u, err)
	}
	_ = resp.Body.Close()
	c.t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var hello traceEvent
	if err := conn.ReadJSON(&hello); err != nil || hello.Type != "subscribed" || hello.Flow != flow {
		c.t.Fatalf("first trace message %+v, %v; want the subscribed notice", hello, err)
	}
	return conn
}

// readTrace reads events of one root message until the given node left
// it, and returns them in order.
func readTrace(t *testing.T, conn *websocket.Conn, root, lastNode string) []traceEvent {
	t.Helper()
	var out []traceEvent
	_ = conn.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		var ev traceEvent
		if err := conn.ReadJSON(&ev); err != nil {
			t.Fatalf("read trace after %d events: %v", len(out), err)
		}
		if ev.Type == "dropped" {
			t.Fatalf("trace lost %d events", ev.Count)
		}
		if ev.RootID != root {
			continue
		}
		out = append(out, ev)
		if ev.Node == lastNode && ev.Direction == "out" {
			return out
		}
	}
}

// TestServeUserStory walks the story against a real `sluice serve`
// over HTTP and WebSocket, restart included.
func TestServeUserStory(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "SLUICE_ADMIN_PASSWORD="+adminPassword)
	if !strings.Contains(srv.stdout.String(), `Log in as "admin" with the password from SLUICE_ADMIN_PASSWORD`) {
		t.Fatalf("no login hint in:\n%s", srv.stdout.String())
	}

	// Anonymous calls are refused; login works.
	anon := &client{t: t, base: srv.url}
	anon.do(http.MethodGet, "/api/v1/flows", nil, http.StatusUnauthorized, nil)
	anon.do(http.MethodPost, "/api/v1/auth/login", map[string]string{"username": "admin", "password": "wrong"}, http.StatusUnauthorized, nil)
	c := login(t, srv.url, adminPassword)

	// The node catalog.
	var catalog []struct {
		Type, Category, Summary string
		Version                 int
		Fields                  []map[string]any
	}
	c.do(http.MethodGet, "/api/v1/nodes", nil, http.StatusOK, &catalog)
	types := map[string]bool{}
	for _, n := range catalog {
		if n.Summary == "" || n.Category == "" || n.Version < 1 {
			t.Errorf("catalog entry %+v is incomplete", n)
		}
		types[n.Type] = true
	}
	for _, typ := range []string{"exprFilter", "exprTransform", "log", "switch", "join", "flow"} {
		if !types[typ] {
			t.Errorf("catalog lacks %q", typ)
		}
	}

	// Example flows were loaded on first start.
	var list []struct {
		ID              string `json:"id"`
		DeployedVersion int    `json:"deployedVersion"`
	}
	c.do(http.MethodGet, "/api/v1/flows", nil, http.StatusOK, &list)
	if len(list) == 0 {
		t.Error("no example flows after the first start")
	}

	// Validate: the good flow, then a broken one with its exact problem.
	var v struct {
		Valid    bool      `json:"valid"`
		Problems []problem `json:"problems"`
	}
	c.do(http.MethodPost, "/api/v1/flows/validate", readFile(t, "testdata/boiler.json"), http.StatusOK, &v)
	if !v.Valid || len(v.Problems) != 0 {
		t.Fatalf("boiler.json: %+v", v)
	}
	c.do(http.MethodPost, "/api/v1/flows/validate", readFile(t, "testdata/broken.json"), http.StatusOK, &v)
	wantProblem := `flow "boiler-room": node "alarm" (log): field "level": want one of "debug", "info", "warn", "error", got "loud"`
	if v.Valid || len(v.Problems) != 1 || v.Problems[0].String() != wantProblem || v.Problems[0].Severity != "error" {
		t.Fatalf("broken.json: %+v\nwant exactly: %s", v, wantProblem)
	}

	// Create the flow from its JSON file and deploy it.
	var created flowAnswer
	h, _ := c.do(http.MethodPost, "/api/v1/flows?comment=first+cut", readFile(t, "testdata/boiler.json"), http.StatusCreated, &created)
	if created.ID != "boiler-room" || created.Version != 1 || created.Comment != "first cut" || h.Get("Location") != "/api/v1/flows/boiler-room" {
		t.Fatalf("created %+v (Location %q)", created, h.Get("Location"))
	}
	var dep struct {
		Version  int  `json:"version"`
		Deployed bool `json:"deployed"`
	}
	c.do(http.MethodPost, "/api/v1/flows/boiler-room/deploy", nil, http.StatusOK, &dep)
	if !dep.Deployed || dep.Version != 1 {
		t.Fatalf("deploy %+v", dep)
	}

	// Watch every node's input and output of an injected message.
	conn := openTrace(c, "boiler-room")
	r := inject(c, "boiler-room", 60)
	if r.Status != "completed" || len(r.Ends) != 1 || r.Ends[0].Node != "alarm" || r.Ends[0].Msg.Data != "140" {
		t.Fatalf("result %+v", r)
	}
	evs := readTrace(t, conn, r.MsgID, "alarm")
	var steps []string
	for _, ev := range evs {
		steps = append(steps, ev.Node+":"+ev.Direction+":"+ev.Relation)
		if ev.Flow != "boiler-room" || ev.Version != 1 {
			t.Errorf("event %+v", ev)
		}
	}
	wantSteps := []string{"hot:in:", "hot:out:True", "toF:in:", "toF:out:Success", "alarm:in:", "alarm:out:Success"}
	if strings.Join(steps, " ") != strings.Join(wantSteps, " ") {
		t.Fatalf("trace %v\nwant %v", steps, wantSteps)
	}
	if evs[3].Data != "140" {
		t.Errorf("toF output %q, want 140", evs[3].Data)
	}

	// Edit (based on version 1) and redeploy without a restart.
	pid := srv.cmd.Process.Pid
	edited := strings.Replace(string(readFile(t, "testdata/boiler.json")), "msg.temperature > 50", "msg.temperature > 70", 1)
	var v2 flowAnswer
	c.do(http.MethodPut, "/api/v1/flows/boiler-room?comment=less+sensitive", edited, http.StatusOK, &v2, "If-Match", "1")
	if v2.Version != 2 {
		t.Fatalf("edit %+v", v2)
	}
	// A stale edit is refused with what changed.
	_, body := c.do(http.MethodPut, "/api/v1/flows/boiler-room", edited, http.StatusConflict, nil, "If-Match", "1")
	if !strings.Contains(string(body), `"configuration.expr"`) {
		t.Fatalf("conflict without the change: %s", body)
	}
	c.do(http.MethodPost, "/api/v1/flows/boiler-room/deploy", nil, http.StatusOK, &dep)
	if dep.Version != 2 {
		t.Fatalf("redeploy %+v", dep)
	}
	r = inject(c, "boiler-room", 60)
	if len(r.Ends) != 1 || r.Ends[0].Node != "hot" || r.Ends[0].Relation != "False" {
		t.Fatalf("version 2 should not find 60 hot: %+v", r)
	}
	evs = readTrace(t, conn, r.MsgID, "hot")
	if evs[0].Version != 2 {
		t.Fatalf("trace of version %d after the redeploy", evs[0].Version)
	}
	if srv.cmd.Process.Pid != pid {
		t.Fatal("the server restarted")
	}

	// Compare the two versions.
	var d struct {
		From, To int
		Nodes    struct {
			Changed []struct {
				ID     string `json:"id"`
				Fields []struct {
					Field    string `json:"field"`
					From, To any
				} `json:"fields"`
			} `json:"changed"`
		} `json:"nodes"`
	}
	c.do(http.MethodGet, "/api/v1/flows/boiler-room/diff?from=1&to=2", nil, http.StatusOK, &d)
	if d.From != 1 || d.To != 2 || len(d.Nodes.Changed) != 1 || d.Nodes.Changed[0].ID != "hot" ||
		len(d.Nodes.Changed[0].Fields) != 1 || d.Nodes.Changed[0].Fields[0].Field != "configuration.expr" ||
		d.Nodes.Changed[0].Fields[0].From != "msg.temperature > 50" || d.Nodes.Changed[0].Fields[0].To != "msg.temperature > 70" {
		t.Fatalf("diff %+v", d)
	}
	var versions []flowAnswer
	c.do(http.MethodGet, "/api/v1/flows/boiler-room/versions", nil, http.StatusOK, &versions)
	if len(versions) != 2 || versions[0].Comment != "less sensitive" || versions[1].Comment != "first cut" {
		t.Fatalf("versions %+v", versions)
	}

	// Roll back to version 1 (a new version 3) and deploy it.
	var rb flowAnswer
	c.do(http.MethodPost, "/api/v1/flows/boiler-room/rollback", map[string]any{"version": 1, "comment": "too quiet"}, http.StatusOK, &rb)
	if rb.Version != 3 || rb.Comment != "too quiet" {
		t.Fatalf("rollback %+v", rb)
	}
	c.do(http.MethodPost, "/api/v1/flows/boiler-room/deploy", nil, http.StatusOK, &dep)
	if dep.Version != 3 {
		t.Fatalf("deploy rollback %+v", dep)
	}
	if r = inject(c, "boiler-room", 60); len(r.Ends) != 1 || r.Ends[0].Node != "alarm" {
		t.Fatalf("version 3 should find 60 hot: %+v", r)
	}

	// Export as a file.
	h, body = c.do(http.MethodGet, "/api/v1/flows/boiler-room/export", nil, http.StatusOK, nil)
	if h.Get("Content-Disposition") != `attachment; filename="boiler-room.json"` {
		t.Fatalf("export headers %v", h)
	}
	var exported struct {
		RuleChain struct{ ID string } `json:"ruleChain"`
		Metadata  struct {
			Nodes []struct {
				ID            string         `json:"id"`
				Configuration map[string]any `json:"configuration"`
			} `json:"nodes"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &exported); err != nil || exported.RuleChain.ID != "boiler-room" ||
		len(exported.Metadata.Nodes) != 3 || exported.Metadata.Nodes[0].Configuration["expr"] != "msg.temperature > 50" {
		t.Fatalf("export %s (%v)", body, err)
	}

	// Restart: the deployed version runs again.
	if err := srv.stop(); err != nil {
		t.Fatalf("graceful stop: %v\nlogs:\n%s", err, srv.logs.String())
	}
	if !strings.Contains(srv.logs.String(), "shutting down") {
		t.Errorf("no shutdown log:\n%s", srv.logs.String())
	}
	srv = startServe(t, data, "SLUICE_ADMIN_PASSWORD="+adminPassword)
	c = login(t, srv.url, adminPassword)
	var st struct {
		Deployed        bool `json:"deployed"`
		Version         int  `json:"version"`
		RecordedVersion int  `json:"recordedVersion"`
	}
	c.do(http.MethodGet, "/api/v1/flows/boiler-room/status", nil, http.StatusOK, &st)
	if !st.Deployed || st.Version != 3 || st.RecordedVersion != 3 {
		t.Fatalf("status after restart %+v", st)
	}
	if r = inject(c, "boiler-room", 60); r.Status != "completed" || len(r.Ends) != 1 || r.Ends[0].Node != "alarm" || r.Ends[0].Msg.Data != "140" {
		t.Fatalf("after restart %+v", r)
	}
	// The example flows were not loaded twice.
	var again []struct{ ID string }
	c.do(http.MethodGet, "/api/v1/flows", nil, http.StatusOK, &again)
	if len(again) != len(list)+1 {
		t.Fatalf("%d flows after the restart, want %d", len(again), len(list)+1)
	}
}

// TestServeGeneratesAdminPassword checks the first-start password: printed
// once, working, not printed again.
func TestServeGeneratesAdminPassword(t *testing.T) {
	data := t.TempDir()
	srv := startServe(t, data, "SLUICE_EXAMPLES=false")
	out := srv.stdout.String()
	_, rest, ok := strings.Cut(out, `Log in as "admin" with password `)
	if !ok {
		t.Fatalf("no generated password in:\n%s", out)
	}
	password, _, _ := strings.Cut(rest, " ")
	login(t, srv.url, password)
	var list []any
	(&client{t: t, base: srv.url, token: login(t, srv.url, password).token}).do(http.MethodGet, "/api/v1/flows", nil, http.StatusOK, &list)
	if len(list) != 0 {
		t.Fatalf("SLUICE_EXAMPLES=false loaded %d flows", len(list))
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	srv = startServe(t, data)
	if strings.Contains(srv.stdout.String(), password) {
		t.Fatal("the password was printed again")
	}
	login(t, srv.url, password)
}

// TestServeDesignerAndOps checks the static designer at /, the operations
// routes and the API's 404 beside the designer's fallback.
func TestServeDesignerAndOps(t *testing.T) {
	srv := startServe(t, t.TempDir(), "SLUICE_ADMIN_PASSWORD="+adminPassword, "SLUICE_EXAMPLES=false")
	anon := &client{t: t, base: srv.url}
	_, body := anon.do(http.MethodGet, "/", nil, http.StatusOK, nil)
	if !strings.Contains(strings.ToLower(string(body)), "<html") {
		t.Fatalf("GET / is not the designer page: %.200s", body)
	}
	anon.do(http.MethodGet, "/healthz", nil, http.StatusOK, nil)
	_, body = anon.do(http.MethodGet, "/metrics", nil, http.StatusOK, nil)
	if !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("metrics lack the Go collector: %.300s", body)
	}
	c := login(t, srv.url, adminPassword)
	_, body = c.do(http.MethodGet, "/api/v1/no-such-route", nil, http.StatusNotFound, nil)
	if !strings.Contains(string(body), `"code":"not_found"`) {
		t.Fatalf("API 404 is not JSON: %s", body)
	}
	var doc struct {
		Paths map[string]any `json:"paths"`
	}
	c.do(http.MethodGet, "/api/v1/openapi.json", nil, http.StatusOK, &doc)
	if doc.Paths["/api/v1/flows/{id}/deploy"] == nil {
		t.Fatalf("openapi lacks deploy: %v", doc.Paths)
	}
}
