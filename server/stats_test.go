package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	tssink "github.com/sluicehq/sluice/nodes/sink/timeseries"
	"github.com/sluicehq/sluice/nodes/stats"
	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/timeseries"
)

// statsApp serves the statistics routes with the server's authentication
// and error handling — whether or not the route table lists them yet.
func statsApp(e *env) *fiber.App {
	app := fiber.New(fiber.Config{ErrorHandler: e.srv.errorHandler, Immutable: true})
	for _, r := range e.srv.statsRoutes() {
		app.Add(r.Method, r.Path, e.srv.authenticate(r.WebSocket), r.Handler)
	}
	return app
}

func getStats(t *testing.T, app *fiber.App, token, query string) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/api/v1/stats"+query, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := app.Test(req, 30_000)
	if err != nil {
		t.Fatalf("GET /api/v1/stats%s: %v", query, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

func statsPage(t *testing.T, app *fiber.App, token, query string) StatsPage {
	t.Helper()
	status, b := getStats(t, app, token, query)
	if status != http.StatusOK {
		t.Fatalf("GET /api/v1/stats%s: %d %s", query, status, b)
	}
	var p StatsPage
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return p
}

var statsT0 = time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)

// statsFlow is a flow with one cronStats node, "hourly", over every boiler.
func statsFlow(id string) map[string]any {
	return map[string]any{
		"ruleChain": map[string]any{"id": id, "name": "Boiler statistics"},
		"metadata": map[string]any{
			"nodes": []any{map[string]any{"id": "hourly", "type": stats.Type, "configuration": map[string]any{
				"job": "boiler-hourly", "deviceGlob": "boiler-*", "signals": []any{"temperature"}, "aggregates": []any{"avg", "max", "count"},
			}}},
			"connections": []any{},
		},
	}
}

func TestStatsAPIListsTheRunsOfADeployedNode(t *testing.T) {
	e := newEnv(t)
	ts, err := timeseries.Open(context.Background(), t.TempDir(), timeseries.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ts.Close() })
	e.mgr.Resources().Provide(tssink.StoreKey, ts)
	var pts []timeseries.Point
	for h := range 4 {
		for i, v := range []float64{10, 20, 30} {
			pts = append(pts, timeseries.Point{Tenant: store.DefaultTenant, Device: "boiler-1", Signal: "temperature",
				TS: statsT0.Add(time.Duration(h)*time.Hour + time.Duration(i)*10*time.Minute).UnixMilli(), Value: timeseries.Number(v + float64(h))})
		}
	}
	if err := ts.Write(context.Background(), pts); err != nil {
		t.Fatal(err)
	}
	app := statsApp(e)
	e.createFlow(statsFlow("boiler-stats"))
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler-stats/deploy", "", nil, http.StatusOK, nil)
	for h := 1; h <= 4; h++ {
		s := statsT0.Add(time.Duration(h) * time.Hour).Format(time.RFC3339)
		msg := map[string]any{"type": "TICK", "data": map[string]any{"tick": s, "scheduled": s}, "metadata": map[string]any{"scheduledTime": s}}
		var res struct{ Status string }
		e.mustDo(http.MethodPost, "/api/v1/flows/boiler-stats/messages?wait=true", "", msg, http.StatusOK, &res)
		if res.Status != "completed" {
			t.Fatalf("tick %s: %s", s, res.Status)
		}
	}
	// A record of another tenant and of another node.
	other := store.StatsRecord{Tenant: "other", FlowID: "boiler-stats", NodeID: "hourly", WindowFrom: 0, WindowTo: 1}
	if _, err := e.db.Stats().RecordStats(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Stats().RecordStats(context.Background(), store.StatsRecord{FlowID: "pumps", NodeID: "daily", Job: "pumps-daily",
		WindowFrom: statsT0.UnixMilli(), WindowTo: statsT0.Add(24 * time.Hour).UnixMilli()}); err != nil {
		t.Fatal(err)
	}

	p := statsPage(t, app, e.token, "?flow=boiler-stats")
	if p.Total != 4 || len(p.Items) != 4 {
		t.Fatalf("page %+v", p)
	}
	newest := p.Items[0]
	if newest.NodeID != "hourly" || newest.Job != "boiler-hourly" || newest.Tenant != store.DefaultTenant ||
		newest.WindowFrom != statsT0.Add(3*time.Hour).UnixMilli() || newest.WindowTo != statsT0.Add(4*time.Hour).UnixMilli() ||
		len(newest.Groups) != 1 || newest.Groups[0]["avg"] != 23.0 || newest.Groups[0]["max"] != 33.0 || newest.Groups[0]["count"] != 3.0 {
		t.Fatalf("newest %+v", newest)
	}
	ms := func(d time.Duration) string { return fmt.Sprint(statsT0.Add(d).UnixMilli()) }
	for query, want := range map[string]int{
		"":                   5,
		"?node=hourly":       4,
		"?node=daily":        1,
		"?job=boiler-hourly": 4,
		"?job=nothing":       0,
		"?flow=pumps":        1,
		"?from=" + ms(3*time.Hour) + "&flow=boiler-stats":                       2,
		"?to=" + url.QueryEscape(statsT0.Add(3*time.Hour).Format(time.RFC3339)): 2,
		"?from=" + ms(2*time.Hour) + "&to=" + ms(3*time.Hour):                   1,
		"?limit=2&offset=1": 5,
	} {
		if got := statsPage(t, app, e.token, query); got.Total != want {
			t.Errorf("GET /stats%s: total %d, want %d", query, got.Total, want)
		}
	}
	if got := statsPage(t, app, e.token, "?flow=boiler-stats&limit=2&offset=1"); len(got.Items) != 2 || got.Items[0].WindowTo != statsT0.Add(3*time.Hour).UnixMilli() {
		t.Errorf("second page %+v", got.Items)
	}
	// Each tenant sees its own.
	if got := statsPage(t, app, e.loginAs("other", "olga"), ""); got.Total != 1 || got.Items[0].Tenant != "other" {
		t.Errorf("other tenant %+v", got)
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?offset=-1", "?from=yesterday", "?to=soon", "?from=" + ms(time.Hour) + "&to=" + ms(time.Hour)} {
		status, b := getStats(t, app, e.token, q)
		if status != http.StatusBadRequest || errorOf(t, b).Code != CodeBadRequest {
			t.Errorf("GET /stats%s: %d %s", q, status, b)
		}
	}
	if status, _ := getStats(t, app, "", ""); status != http.StatusUnauthorized {
		t.Errorf("anonymous: %d", status)
	}
	// Once the route table lists the routes, the server's own router serves them.
	if routerRoutes(e)["GET /api/v1/stats"] {
		var p StatsPage
		e.mustDo(http.MethodGet, "/api/v1/stats?flow=boiler-stats", "", nil, http.StatusOK, &p)
		if p.Total != 4 {
			t.Errorf("server router: %+v", p)
		}
	}
}

func TestStatsAPIWithoutAStore(t *testing.T) {
	s := New(Config{}, Deps{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	if repo := s.statsRepo(); repo != nil {
		t.Fatalf("repo %T without a store", repo)
	}
	app := fiber.New(fiber.Config{ErrorHandler: s.errorHandler})
	app.Get("/api/v1/stats", func(c *fiber.Ctx) error {
		c.Locals(principalKey, principal{Tenant: store.DefaultTenant})
		return c.Next()
	}, s.listStats)
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/api/v1/stats", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || errorOf(t, b).Code != CodeUnavailable {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
