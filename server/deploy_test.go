package server

import (
	"net/http"
	"testing"

	"github.com/sluicehq/sluice/engine"
)

func telemetry(temp any) map[string]any {
	return map[string]any{"type": "TELEMETRY", "data": map[string]any{"temperature": temp}, "metadata": map[string]any{"deviceId": "b1"}}
}

func TestDeployInjectUndeploy(t *testing.T) {
	e := newEnv(t)
	e.createFlow(boilerFlow("boiler", "50"))

	// Not deployed yet.
	status, _, b := e.do(http.MethodPost, "/api/v1/flows/boiler/messages", e.token, telemetry(60))
	if status != http.StatusConflict || errorOf(t, b).Code != CodeNotDeployed {
		t.Fatalf("inject before deploy: %d %s", status, b)
	}
	e.mustDo(http.MethodPost, "/api/v1/flows/nope/messages", "", telemetry(60), http.StatusNotFound, nil)

	var dep DeployAnswer
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/deploy", "", nil, http.StatusOK, &dep)
	if !dep.Deployed || dep.Version != 1 {
		t.Fatalf("deploy %+v", dep)
	}

	var res engine.Result
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/messages?wait=true", "", telemetry(60), http.StatusOK, &res)
	if res.Status != engine.StatusCompleted || len(res.Ends) != 1 || res.Ends[0].Node != "log1" || res.Ends[0].Msg.Data != "140" {
		t.Fatalf("result %+v", res)
	}
	// Data may be a JSON string as well.
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/messages?wait=true", "", map[string]any{"type": "TELEMETRY", "data": `{"temperature":10}`}, http.StatusOK, &res)
	if res.Status != engine.StatusCompleted || len(res.Ends) != 1 || res.Ends[0].Node != "hot" || res.Ends[0].Relation != "False" {
		t.Fatalf("cold result %+v", res)
	}
	var acc InjectAnswer
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/messages", "", telemetry(60), http.StatusAccepted, &acc)
	if !acc.Accepted || acc.MsgID == "" {
		t.Fatalf("accepted %+v", acc)
	}
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/messages", "", map[string]any{"data": "{}"}, http.StatusBadRequest, nil)
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/messages", "", map[string]any{"type": "T", "dataType": "XML", "data": "{}"}, http.StatusBadRequest, nil)

	var st StatusAnswer
	e.mustDo(http.MethodGet, "/api/v1/flows/boiler/status", "", nil, http.StatusOK, &st)
	if !st.Deployed || st.Version != 1 || st.RecordedVersion != 1 || st.LatestVersion != 1 || st.Stats == nil {
		t.Fatalf("status %+v", st)
	}

	// A broken version is refused with the problems; version 1 keeps running.
	broken := boilerFlow("boiler", "50")
	broken["metadata"].(map[string]any)["nodes"].([]any)[2].(map[string]any)["configuration"] = map[string]any{"level": "loud"}
	var saved FlowAnswer
	e.mustDo(http.MethodPut, "/api/v1/flows/boiler", "", broken, http.StatusOK, &saved)
	if len(saved.Problems) != 1 {
		t.Fatalf("saved draft problems %+v", saved.Problems)
	}
	status, _, b = e.do(http.MethodPost, "/api/v1/flows/boiler/deploy", e.token, nil)
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("deploy broken: %d %s", status, b)
	}
	info := errorOf(t, b)
	if info.Code != CodeValidation || len(info.Details) != 1 || info.Details[0].Node != "log1" || info.Details[0].Field != "level" {
		t.Fatalf("deploy broken: %+v", info)
	}
	e.mustDo(http.MethodGet, "/api/v1/flows/boiler/status", "", nil, http.StatusOK, &st)
	if st.Version != 1 || st.RecordedVersion != 1 || st.LatestVersion != 2 {
		t.Fatalf("after refused deploy %+v", st)
	}
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/messages?wait=true", "", telemetry(60), http.StatusOK, &res)
	if res.Status != engine.StatusCompleted {
		t.Fatalf("version 1 stopped: %+v", res)
	}

	// Redeploy a named version without a restart.
	e.mustDo(http.MethodPut, "/api/v1/flows/boiler", "", boilerFlow("boiler", "100"), http.StatusOK, nil)
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/deploy?version=3", "", nil, http.StatusOK, &dep)
	if dep.Version != 3 {
		t.Fatalf("redeploy %+v", dep)
	}
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/messages?wait=true", "", telemetry(60), http.StatusOK, &res)
	if len(res.Ends) != 1 || res.Ends[0].Relation != "False" {
		t.Fatalf("version 3 should find 60 not hot: %+v", res)
	}
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/deploy?version=9", "", nil, http.StatusNotFound, nil)

	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/undeploy", "", nil, http.StatusOK, &dep)
	if dep.Deployed || dep.Version != 3 {
		t.Fatalf("undeploy %+v", dep)
	}
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/undeploy", "", nil, http.StatusConflict, nil)
	e.mustDo(http.MethodGet, "/api/v1/flows/boiler/status", "", nil, http.StatusOK, &st)
	if st.Deployed || st.RecordedVersion != 0 {
		t.Fatalf("after undeploy %+v", st)
	}
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/messages", "", telemetry(60), http.StatusConflict, nil)
}

func TestDeleteUndeploysFirst(t *testing.T) {
	e := newEnv(t)
	e.createFlow(boilerFlow("boiler", "50"))
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/deploy", "", nil, http.StatusOK, nil)
	e.mustDo(http.MethodDelete, "/api/v1/flows/boiler", "", nil, http.StatusNoContent, nil)
	if len(e.mgr.Deployed()) != 0 {
		t.Fatalf("still deployed: %+v", e.mgr.Deployed())
	}
}

func TestInjectOverloaded(t *testing.T) {
	e := newEnvWith(t, func(o *engine.Options) { o.MaxInFlight = 1 })
	slow := map[string]any{
		"ruleChain": map[string]any{"id": "slow", "name": "Slow"},
		"metadata": map[string]any{
			"nodes":       []any{map[string]any{"id": "wait", "type": "delay", "configuration": map[string]any{"periodInSeconds": 2}}},
			"connections": []any{},
		},
	}
	e.createFlow(slow)
	e.mustDo(http.MethodPost, "/api/v1/flows/slow/deploy", "", nil, http.StatusOK, nil)
	e.mustDo(http.MethodPost, "/api/v1/flows/slow/messages", "", telemetry(1), http.StatusAccepted, nil)
	status, _, b := e.do(http.MethodPost, "/api/v1/flows/slow/messages", e.token, telemetry(2))
	if status != http.StatusServiceUnavailable || errorOf(t, b).Code != CodeOverloaded {
		t.Fatalf("second message: %d %s", status, b)
	}
}

func TestTestRun(t *testing.T) {
	e := newEnv(t)
	e.createFlow(boilerFlow("boiler", "50"))
	var a TestAnswer
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/test", "", map[string]any{"message": telemetry(60)}, http.StatusOK, &a)
	if a.Status != "completed" || len(a.Outputs) != 1 || a.Outputs[0].Node != "log1" {
		t.Fatalf("test run %+v", a)
	}
	// Every node's in and out, in order.
	var steps []string
	for _, ev := range a.Trace {
		steps = append(steps, ev.Node+":"+ev.Direction)
	}
	want := []string{"hot:in", "hot:out", "toF:in", "toF:out", "log1:in", "log1:out"}
	if len(steps) != len(want) {
		t.Fatalf("trace %v, want %v", steps, want)
	}
	for i := range want {
		if steps[i] != want[i] {
			t.Fatalf("trace %v, want %v", steps, want)
		}
	}

	// A draft, from a given node; nothing is deployed by a test run.
	var d TestAnswer
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/test", "", map[string]any{"message": telemetry(60), "draft": boilerFlow("boiler", "70"), "startNode": "toF"}, http.StatusOK, &d)
	if d.Status != "completed" || d.Trace[0].Node != "toF" {
		t.Fatalf("draft run %+v", d)
	}
	if len(e.mgr.Deployed()) != 0 {
		t.Fatal("a test run deployed the flow")
	}
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/test", "", map[string]any{"message": telemetry(60), "startNode": "nope"}, http.StatusBadRequest, nil)
	e.mustDo(http.MethodPost, "/api/v1/flows/boiler/test", "", map[string]any{"message": telemetry(60), "draft": boilerFlow("other", "70")}, http.StatusBadRequest, nil)

	broken := boilerFlow("boiler", "50")
	broken["metadata"].(map[string]any)["nodes"].([]any)[2].(map[string]any)["configuration"] = map[string]any{"level": "loud"}
	status, _, b := e.do(http.MethodPost, "/api/v1/flows/boiler/test", e.token, map[string]any{"message": telemetry(60), "draft": broken})
	if status != http.StatusUnprocessableEntity || len(errorOf(t, b).Details) != 1 {
		t.Fatalf("broken draft: %d %s", status, b)
	}
}
