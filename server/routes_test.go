package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/gofiber/fiber/v2"
)

// routerRoutes lists the app's routes as "METHOD path" (OpenAPI syntax),
// without Fiber's automatic HEAD routes and middleware.
func routerRoutes(e *env) map[string]bool {
	out := map[string]bool{}
	for _, r := range e.srv.App().GetRoutes(true) {
		if r.Method == http.MethodHead {
			continue
		}
		out[r.Method+" "+openAPIPath(r.Path)] = true
	}
	return out
}

func TestOpenAPIAgreesWithRouter(t *testing.T) {
	e := newEnv(t)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	e.mustDo(http.MethodGet, "/api/v1/openapi.json", "", nil, http.StatusOK, &doc)
	if doc.OpenAPI == "" {
		t.Fatal("openapi.json: no openapi version")
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented[strings.ToUpper(method)+" "+path] = true
			if s, _ := op["summary"].(string); s == "" {
				t.Errorf("openapi: %s %s has no summary", strings.ToUpper(method), path)
			}
		}
	}
	routed := routerRoutes(e)
	var missing, extra []string
	for r := range routed {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !routed[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes missing from openapi.json: %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("openapi.json documents routes the router lacks: %v", extra)
	}
	if len(routed) < 30 {
		t.Errorf("only %d routes registered; the table seems incomplete", len(routed))
	}
}

func TestEveryAPIRouteRejectsAnonymousCalls(t *testing.T) {
	e := newEnv(t)
	public := map[string]bool{"POST /api/v1/auth/login": true}
	checked := 0
	for _, r := range e.srv.App().GetRoutes(true) {
		if r.Method == http.MethodHead || !strings.HasPrefix(r.Path, APIPrefix+"/") {
			continue
		}
		name := r.Method + " " + openAPIPath(r.Path)
		if public[name] {
			continue
		}
		path := strings.NewReplacer(":version", "1", ":id", "x").Replace(r.Path)
		for _, token := range []string{"", "not-a-token"} {
			status, h, b := e.do(r.Method, path, token, "{}")
			if status != http.StatusUnauthorized {
				t.Errorf("%s (token %q): status %d, want 401; body %s", name, token, status, b)
				continue
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("%s: content type %q, want JSON", name, ct)
			}
			if info := errorOf(t, b); info.Code != CodeUnauthorized {
				t.Errorf("%s: error code %q, want %q", name, info.Code, CodeUnauthorized)
			}
		}
		checked++
	}
	if checked < 25 {
		t.Errorf("checked only %d routes", checked)
	}
}

func TestUnknownRouteIsJSON404(t *testing.T) {
	e := newEnv(t)
	status, _, b := e.do(http.MethodGet, "/api/v1/nope", e.token, nil)
	if status != http.StatusNotFound || errorOf(t, b).Code != CodeNotFound {
		t.Fatalf("status %d body %s", status, b)
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	e := newEnv(t)
	e.mustDo(http.MethodGet, "/healthz", "-", nil, http.StatusOK, nil)
	e.mustDo(http.MethodGet, "/readyz", "-", nil, http.StatusOK, nil)
	e.srv.SetReady(false)
	e.mustDo(http.MethodGet, "/readyz", "-", nil, http.StatusServiceUnavailable, nil)
	e.srv.SetReady(true)

	// Deploy and run a message so that the engine's metrics have series.
	e.createFlow(boilerFlow("boiler", "50"))
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/deploy", "", nil, http.StatusOK, nil)
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/messages?wait=true", "", map[string]any{"type": "TELEMETRY", "data": map[string]any{"temperature": 60}}, http.StatusOK, nil)
	status, _, b := e.do(http.MethodGet, "/metrics", "", nil)
	if status != http.StatusOK || !strings.Contains(string(b), "boiler") {
		t.Fatalf("metrics: status %d, no series of flow boiler in:\n%.2000s", status, b)
	}
}

func TestDesignerFilesAndFallback(t *testing.T) {
	e := newEnv(t)
	designer := fstest.MapFS{
		"index.html":    {Data: []byte("<html>designer</html>")},
		"assets/app.js": {Data: []byte("console.log(1)")},
	}
	srv := New(Config{}, Deps{DB: e.db, Flows: e.srv.flows, Engine: e.mgr, Designer: designer})
	for _, tc := range []struct{ path, want string }{
		{"/", "<html>designer</html>"},
		{"/assets/app.js", "console.log(1)"},
		{"/flows/boiler", "<html>designer</html>"}, // client-side route
	} {
		resp, err := srv.App().Test(httptest.NewRequest(http.MethodGet, tc.path, nil))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != tc.want {
			t.Errorf("GET %s: %d %q, want %q", tc.path, resp.StatusCode, b, tc.want)
		}
	}
	resp, err := srv.App().Test(httptest.NewRequest(http.MethodGet, "/api/v1/nope", nil))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || errorOf(t, b).Code != CodeNotFound {
		t.Fatalf("API 404 under the designer: %d %s", resp.StatusCode, b)
	}
}

// TestPanicAnswers500: a handler that panics answers 500 with the error body
// and the server keeps serving.
func TestPanicAnswers500(t *testing.T) {
	e := newEnv(t)
	app := fiber.New(fiber.Config{ErrorHandler: e.srv.errorHandler})
	app.Use(e.srv.recoverPanics())
	app.Get("/boom", func(*fiber.Ctx) error { panic("kaboom") })
	app.Get("/fine", func(c *fiber.Ctx) error { return c.SendString("ok") })
	for _, tc := range []struct {
		path   string
		status int
	}{{"/boom", http.StatusInternalServerError}, {"/fine", http.StatusOK}, {"/boom", http.StatusInternalServerError}} {
		res, err := app.Test(httptest.NewRequest(http.MethodGet, tc.path, nil))
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != tc.status {
			t.Fatalf("%s: %d %s, want %d", tc.path, res.StatusCode, body, tc.status)
		}
		if tc.status == http.StatusInternalServerError && !strings.Contains(string(body), `"error"`) {
			t.Fatalf("%s: body %s, want the error body", tc.path, body)
		}
	}
}
