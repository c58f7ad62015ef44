package server

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/flows"
)

func TestNodeCatalog(t *testing.T) {
	e := newEnv(t)
	var nodes []map[string]any
	e.mustDo(http.MethodGet, "/api/v1/nodes", "", nil, http.StatusOK, &nodes)
	byType := map[string]map[string]any{}
	for _, n := range nodes {
		byType[n["type"].(string)] = n
	}
	for _, typ := range []string{"switch", "exprFilter", "exprTransform", "log", "join", "flow"} {
		n, ok := byType[typ]
		if !ok {
			t.Errorf("catalog lacks %q", typ)
			continue
		}
		for _, k := range []string{"category", "summary", "version", "fields", "relations"} {
			if _, ok := n[k]; !ok {
				t.Errorf("%s: no %q", typ, k)
			}
		}
	}
}

func TestFlowLifecycle(t *testing.T) {
	e := newEnv(t)
	v1 := e.createFlow(boilerFlow("boiler", "50"))
	if v1.ID != "boiler" || v1.Version != 1 || v1.Author != "admin" || v1.Comment != "first" || v1.Flow == nil {
		t.Fatalf("created %+v", v1)
	}
	// The same id again is a conflict.
	status, _, b := e.do(http.MethodPost, "/api/v1/flows", e.token, boilerFlow("boiler", "50"))
	if status != http.StatusConflict || errorOf(t, b).CurrentVersion != 1 {
		t.Fatalf("duplicate create: %d %s", status, b)
	}

	var list []FlowSummary
	e.mustDo(http.MethodGet, "/api/v1/flows", "", nil, http.StatusOK, &list)
	if len(list) != 1 || list[0].ID != "boiler" || list[0].Version != 1 || list[0].DeployedVersion != 0 {
		t.Fatalf("list %+v", list)
	}

	var got FlowAnswer
	h := e.mustDo(http.MethodGet, "/api/v1/flows/boiler", "", nil, http.StatusOK, &got)
	if h.Get("ETag") != `"1"` || got.Version != 1 || len(got.Flow.Metadata.Nodes) != 3 {
		t.Fatalf("get: etag %q, %+v", h.Get("ETag"), got)
	}

	// Save version 2 based on 1 (If-Match), then a stale save based on 1.
	var v2 FlowAnswer
	e.mustDo(http.MethodPut, "/api/v1/flows/boiler?comment=hotter", "", boilerFlow("boiler", "70"), http.StatusOK, &v2, "If-Match", `"1"`)
	if v2.Version != 2 || v2.Comment != "hotter" {
		t.Fatalf("v2 %+v", v2)
	}
	status, _, b = e.do(http.MethodPut, "/api/v1/flows/boiler?baseVersion=1", e.token, boilerFlow("boiler", "60"))
	if status != http.StatusConflict {
		t.Fatalf("stale save: %d %s", status, b)
	}
	info := errorOf(t, b)
	if info.CurrentVersion != 2 || info.Diff == nil || len(info.Details) != 1 ||
		info.Details[0].Node != "hot" || info.Details[0].Field != "configuration.expr" {
		t.Fatalf("stale save error %+v", info)
	}
	// Without a base version the save is not checked (documented).
	var v3 FlowAnswer
	e.mustDo(http.MethodPut, "/api/v1/flows/boiler", "", boilerFlow("boiler", "60"), http.StatusOK, &v3)
	if v3.Version != 3 {
		t.Fatalf("v3 %+v", v3)
	}
	// A body whose id differs from the URL's is refused.
	e.mustDo(http.MethodPut, "/api/v1/flows/boiler", "", boilerFlow("other", "60"), http.StatusBadRequest, nil)
	e.mustDo(http.MethodPut, "/api/v1/flows/boiler", "", `{"ruleChain":`, http.StatusBadRequest, nil)
	e.mustDo(http.MethodPut, "/api/v1/flows/boiler", "", boilerFlow("boiler", "60"), http.StatusBadRequest, nil, "If-Match", "soon")

	var versions []FlowAnswer
	e.mustDo(http.MethodGet, "/api/v1/flows/boiler/versions", "", nil, http.StatusOK, &versions)
	if len(versions) != 3 || versions[0].Version != 3 || versions[2].Version != 1 || versions[1].Comment != "hotter" {
		t.Fatalf("versions %+v", versions)
	}
	var old FlowAnswer
	e.mustDo(http.MethodGet, "/api/v1/flows/boiler/versions/1", "", nil, http.StatusOK, &old)
	if old.Version != 1 || old.Flow.Metadata.Nodes[0].Configuration["expr"] != "msg.temperature > 50" {
		t.Fatalf("version 1 %+v", old)
	}
	e.mustDo(http.MethodGet, "/api/v1/flows/boiler/versions/9", "", nil, http.StatusNotFound, nil)
	e.mustDo(http.MethodGet, "/api/v1/flows/boiler/versions/x", "", nil, http.StatusBadRequest, nil)

	var d flows.Diff
	e.mustDo(http.MethodGet, "/api/v1/flows/boiler/diff?from=1&to=2", "", nil, http.StatusOK, &d)
	if d.From != 1 || d.To != 2 || len(d.Nodes.Changed) != 1 || d.Nodes.Changed[0].ID != "hot" ||
		d.Nodes.Changed[0].Fields[0].Field != "configuration.expr" || d.Nodes.Changed[0].Fields[0].To != "msg.temperature > 70" {
		t.Fatalf("diff %+v", d)
	}
	// Default: the latest against the one before.
	e.mustDo(http.MethodGet, "/api/v1/flows/boiler/diff", "", nil, http.StatusOK, &d)
	if d.From != 2 || d.To != 3 {
		t.Fatalf("default diff %d..%d", d.From, d.To)
	}

	var rb FlowAnswer
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/rollback", "", map[string]any{"version": 1}, http.StatusOK, &rb)
	if rb.Version != 4 || rb.Comment != "rollback to version 1" || rb.Flow.Metadata.Nodes[0].Configuration["expr"] != "msg.temperature > 50" {
		t.Fatalf("rollback %+v", rb)
	}
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/rollback", "", map[string]any{"version": 0}, http.StatusBadRequest, nil)

	status, h, b = e.do(http.MethodGet, "/api/v1/flows/boiler/export", e.token, nil)
	if status != http.StatusOK || h.Get("Content-Disposition") != `attachment; filename="boiler.json"` {
		t.Fatalf("export: %d %v", status, h)
	}
	exported := string(b)
	if !strings.Contains(exported, "\n  \"ruleChain\"") {
		t.Fatalf("export is not indented JSON:\n%s", exported)
	}
	// Import the file as a new flow under another id, and over the old one.
	var imp FlowAnswer
	e.mustDo(http.MethodPost, "/api/v1/flows/import", "", strings.Replace(exported, `"id": "boiler"`, `"id": "boiler-copy"`, 1), http.StatusCreated, &imp)
	if imp.ID != "boiler-copy" || imp.Version != 1 {
		t.Fatalf("import %+v", imp)
	}
	e.mustDo(http.MethodPost, "/api/v1/flows/import", "", exported, http.StatusOK, &imp)
	if imp.ID != "boiler" || imp.Version != 5 {
		t.Fatalf("re-import %+v", imp)
	}

	e.mustDo(http.MethodDelete, "/api/v1/flows/boiler-copy", "", nil, http.StatusNoContent, nil)
	e.mustDo(http.MethodGet, "/api/v1/flows/boiler-copy", "", nil, http.StatusNotFound, nil)
	e.mustDo(http.MethodDelete, "/api/v1/flows/boiler-copy", "", nil, http.StatusNotFound, nil)
}

func TestCreateRejectsBadDocuments(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, body string }{
		{"not JSON", `{"ruleChain": {`},
		{"empty", ``},
		{"unknown key", `{"ruleChain":{"id":"x"},"metadata":{"nodes":[],"connections":[]},"extra":1}`},
		{"bad id", `{"ruleChain":{"id":"no spaces"},"metadata":{"nodes":[],"connections":[]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, b := e.do(http.MethodPost, "/api/v1/flows", e.token, tc.body)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d: %s", status, b)
			}
			if info := errorOf(t, b); info.Code != CodeBadRequest {
				t.Fatalf("code %q", info.Code)
			}
		})
	}
}

func TestValidateFlow(t *testing.T) {
	e := newEnv(t)
	var ok ValidateAnswer
	e.mustDo(http.MethodPost, "/api/v1/flows/validate", "", boilerFlow("boiler", "50"), http.StatusOK, &ok)
	if !ok.Valid || len(ok.Problems) != 0 {
		t.Fatalf("valid flow: %+v", ok)
	}

	broken := boilerFlow("boiler-room", "50")
	nodes := broken["metadata"].(map[string]any)["nodes"].([]any)
	nodes[2].(map[string]any)["configuration"] = map[string]any{"level": "loud"}
	var bad ValidateAnswer
	e.mustDo(http.MethodPost, "/api/v1/flows/validate", "", broken, http.StatusOK, &bad)
	want := `flow "boiler-room": node "log1" (log): field "level": want one of "debug", "info", "warn", "error", got "loud"`
	if bad.Valid || len(bad.Problems) != 1 || bad.Problems[0].String() != want || bad.Problems[0].Severity != "error" {
		t.Fatalf("broken flow: %+v\nwant the one problem %s", bad, want)
	}
	// The JSON carries the parts, for the designer to badge the node.
	var raw struct {
		Problems []map[string]string `json:"problems"`
	}
	_, _, b := e.do(http.MethodPost, "/api/v1/flows/validate", e.token, broken)
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if p := raw.Problems[0]; p["severity"] != "error" || p["flow"] != "boiler-room" || p["node"] != "log1" || p["field"] != "level" {
		t.Fatalf("problem parts %v", p)
	}

	var unparsable ValidateAnswer
	e.mustDo(http.MethodPost, "/api/v1/flows/validate", "", `{"ruleChain":{"id":"x"},"metadata":{"nodes":[],"connections":[]},"oops":1}`, http.StatusOK, &unparsable)
	if unparsable.Valid || len(unparsable.Problems) != 1 || !strings.Contains(unparsable.Problems[0].Message, `unknown field "oops"`) {
		t.Fatalf("unparsable: %+v", unparsable)
	}
	e.mustDo(http.MethodPost, "/api/v1/flows/validate", "", `{`, http.StatusBadRequest, nil)
}
