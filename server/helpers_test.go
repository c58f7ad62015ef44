package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluicehq/sluice/engine"
	_ "github.com/sluicehq/sluice/engine/builtin"
	"github.com/sluicehq/sluice/flows"
	"github.com/sluicehq/sluice/store"
)

const testPassword = "correct horse battery staple"

// env is a real server over a real store and engine in a temp directory.
type env struct {
	t     *testing.T
	srv   *Server
	db    *store.DB
	mgr   *engine.Manager
	token string
}

func newEnv(t *testing.T) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with engine options adjusted by opt.
func newEnvWith(t *testing.T, opt func(*engine.Options)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := store.Open(ctx, dir, store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	key, err := store.LoadSecretKey(dir)
	if err != nil {
		t.Fatalf("secret key: %v", err)
	}
	box, err := store.NewSecretBox(key)
	if err != nil {
		t.Fatalf("secret box: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	opts := engine.Options{
		Logger: log, Metrics: reg, DeadLetters: NewDeadLetterSink(db.DeadLetters(), log),
		MessageTimeout: 5 * time.Second, DrainTimeout: 2 * time.Second,
	}
	if opt != nil {
		opt(&opts)
	}
	mgr := engine.NewManager(opts)
	srv := New(Config{}, Deps{DB: db, Flows: flows.NewService(db.Flows(), box), Engine: mgr, Logger: log, Metrics: reg, Devices: NewDeviceAuth(db)})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	// The cheapest bcrypt cost keeps the tests fast under -race; EnsureAdmin
	// (default cost) has its own test.
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Users().CreateUser(ctx, store.User{Tenant: store.DefaultTenant, Username: AdminUser, PasswordHash: string(hash), Role: "admin"}); err != nil {
		t.Fatalf("create admin: %v", err)
	}
	srv.SetReady(true)
	e := &env{t: t, srv: srv, db: db, mgr: mgr}
	var login TokenAnswer
	e.mustDo(http.MethodPost, "/api/v1/auth/login", "", map[string]string{"username": "admin", "password": testPassword}, http.StatusOK, &login)
	e.token = login.Token
	return e
}

// do sends a request through app.Test; body is a string (sent as is) or a
// value encoded as JSON. It returns the status, headers and body.
func (e *env) do(method, path, token string, body any, hdr ...string) (int, http.Header, []byte) {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("encode body: %v", err)
		}
		r = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.App().Test(req, 30_000)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, b
}

// mustDo is do as the admin (token "" means the env's token, "-" none) that
// checks the status and decodes the answer into out (when not nil).
func (e *env) mustDo(method, path, token string, body any, want int, out any, hdr ...string) http.Header {
	e.t.Helper()
	switch token {
	case "":
		token = e.token
	case "-":
		token = ""
	}
	status, h, b := e.do(method, path, token, body, hdr...)
	if status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
	return h
}

// errorOf decodes an error body.
func errorOf(t *testing.T, b []byte) ErrorInfo {
	t.Helper()
	var eb ErrorBody
	if err := json.Unmarshal(b, &eb); err != nil || eb.Error.Code == "" {
		t.Fatalf("want an error body, got %s (%v)", b, err)
	}
	return eb.Error
}

// listen serves the env's server on a free local port (for WebSockets) and
// returns its address.
func (e *env) listen() string {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatalf("listen: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ln) }()
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = e.srv.Shutdown(ctx)
		if err := <-done; err != nil {
			e.t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// eventually polls cond every 10ms until it holds or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// boilerFlow is a small valid flow: a filter, a transform and a log.
func boilerFlow(id, threshold string) map[string]any {
	return map[string]any{
		"ruleChain": map[string]any{"id": id, "name": "Boiler room"},
		"metadata": map[string]any{
			"nodes": []any{
				map[string]any{"id": "hot", "type": "exprFilter", "configuration": map[string]any{"expr": "msg.temperature > " + threshold}},
				map[string]any{"id": "toF", "type": "exprTransform", "configuration": map[string]any{"expr": "msg.temperature * 1.8 + 32"}},
				map[string]any{"id": "log1", "type": "log", "configuration": map[string]any{"message": "hot boiler"}},
			},
			"connections": []any{
				map[string]any{"fromId": "hot", "toId": "toF", "type": "True"},
				map[string]any{"fromId": "toF", "toId": "log1", "type": "Success"},
			},
		},
	}
}

// createFlow saves a flow and returns its answer.
func (e *env) createFlow(doc map[string]any) FlowAnswer {
	e.t.Helper()
	var a FlowAnswer
	e.mustDo(http.MethodPost, "/api/v1/flows?comment=first", "", doc, http.StatusCreated, &a)
	return a
}
