package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"

	httpin "github.com/sluicehq/sluice/connectors/http"
	"github.com/sluicehq/sluice/connectors/ws"
)

// routes is an IngestRouter over a fixed map.
type routes map[string]fiber.Handler

func (r routes) Lookup(path string) fiber.Handler { return r[path] }

func TestMountIngest(t *testing.T) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	in := httpin.NewRouter()
	remove, err := in.Add("boiler/telemetry", "test", func(c *fiber.Ctx) error {
		return c.Status(http.StatusAccepted).SendString("ingest " + c.Path())
	})
	if err != nil {
		t.Fatal(err)
	}
	MountIngest(app, in, routes{"devices": func(c *fiber.Ctx) error { return c.SendString("ws " + c.Path()) }})
	// The app's own catch-all comes after, as in the server.
	app.Use(func(c *fiber.Ctx) error { return c.Status(http.StatusTeapot).SendString("catch-all") })

	do := func(method, path string) (int, string) {
		t.Helper()
		resp, err := app.Test(httptest.NewRequest(method, path, nil), 5000)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"POST", "/ingest/boiler/telemetry", 202, "ingest /ingest/boiler/telemetry"},
		{"PUT", "/ingest/boiler/telemetry/", 202, "ingest /ingest/boiler/telemetry/"},
		{"GET", "/ws/devices", 200, "ws /ws/devices"},
		{"GET", "/api/v1/other", 418, "catch-all"},
	} {
		if status, body := do(tc.method, tc.path); status != tc.status || body != tc.body {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, status, body, tc.status, tc.body)
		}
	}
	for _, path := range []string{"/ingest/unknown", "/ingest/", "/ingest", "/ingest/boiler", "/ws/unknown", "/ws"} {
		status, body := do("POST", path)
		var eb ErrorBody
		if status != http.StatusNotFound || json.Unmarshal([]byte(body), &eb) != nil || eb.Error.Code != CodeNotFound || eb.Error.Message == "" {
			t.Errorf("POST %s: %d %q, want the JSON 404", path, status, body)
		}
	}
	// A stopped source's path is gone at once.
	remove()
	if status, _ := do("POST", "/ingest/boiler/telemetry"); status != http.StatusNotFound {
		t.Errorf("after remove: %d", status)
	}
}

func TestMountIngestWithoutRouters(t *testing.T) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	var in *httpin.Router // typed nil: serves nothing
	var wr *ws.Router
	MountIngest(app, in, wr)
	for _, path := range []string{"/ingest/x", "/ws/x"} {
		resp, err := app.Test(httptest.NewRequest("POST", path, nil), 5000)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}
	app2 := fiber.New(fiber.Config{DisableStartupMessage: true})
	MountIngest(app2, nil, nil)
	resp, err := app2.Test(httptest.NewRequest("POST", "/ingest/x", nil), 5000)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("nil routers: %d", resp.StatusCode)
	}
}

// The route-table form: IngestHandler under explicit methods.
func TestIngestHandlerInARouteTable(t *testing.T) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	in := httpin.NewRouter()
	if _, err := in.Add("a/b", "test", func(c *fiber.Ctx) error { return c.SendStatus(http.StatusAccepted) }); err != nil {
		t.Fatal(err)
	}
	app.Post(IngestPrefix+"/*", IngestHandler(IngestPrefix, in))
	for path, want := range map[string]int{"/ingest/a/b": 202, "/ingest/a": 404} {
		resp, err := app.Test(httptest.NewRequest("POST", path, nil), 5000)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
