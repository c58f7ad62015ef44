package server

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine"
)

// dividerFlow divides the temperature by msg.divisor; a message without a
// divisor fails in node "div", which has no Failure connection.
func dividerFlow(expr string) map[string]any {
	return map[string]any{
		"ruleChain": map[string]any{"id": "divider", "name": "Divider"},
		"metadata": map[string]any{
			"nodes": []any{
				map[string]any{"id": "div", "type": "exprTransform", "configuration": map[string]any{"expr": expr}},
				map[string]any{"id": "out", "type": "log", "configuration": map[string]any{"message": "ok"}},
			},
			"connections": []any{map[string]any{"fromId": "div", "toId": "out", "type": "Success"}},
		},
	}
}

func TestDeadLettersListReplayDelete(t *testing.T) {
	e := newEnv(t)
	e.createFlow(dividerFlow("msg.temperature / msg.divisor"))
	e.mustDo(http.MethodPost, "/api/v1/flows/divider/deploy", "", nil, http.StatusOK, nil)
	for i := 0; i < 3; i++ {
		var res engine.Result
		e.mustDo(http.MethodPost, "/api/v1/flows/divider/messages?wait=true", "", telemetry(i), http.StatusOK, &res)
		if res.Status != engine.StatusFailed {
			t.Fatalf("message %d: %+v", i, res)
		}
	}
	var page DeadLetterPage
	eventually(t, 5*time.Second, "three dead letters", func() bool {
		e.mustDo(http.MethodGet, "/api/v1/deadletters?flow=divider", "", nil, http.StatusOK, &page)
		return page.Total == 3
	})
	d := page.Items[0]
	if d.Flow != "divider" || d.Node != "div" || d.Version != 1 || d.Type != "TELEMETRY" || d.Error == "" || d.Metadata["deviceId"] != "b1" {
		t.Fatalf("dead letter %+v", d)
	}
	e.mustDo(http.MethodGet, "/api/v1/deadletters?flow=divider&limit=1&offset=1", "", nil, http.StatusOK, &page)
	if len(page.Items) != 1 || page.Total != 3 {
		t.Fatalf("page %+v", page)
	}
	e.mustDo(http.MethodGet, "/api/v1/deadletters?limit=0", "", nil, http.StatusBadRequest, nil)
	e.mustDo(http.MethodGet, "/api/v1/deadletters?limit=x", "", nil, http.StatusBadRequest, nil)

	// Fix the flow, then replay one through the current version.
	e.mustDo(http.MethodPut, "/api/v1/flows/divider", "", dividerFlow("msg.temperature"), http.StatusOK, nil)
	e.mustDo(http.MethodPost, "/api/v1/flows/divider/deploy", "", nil, http.StatusOK, nil)
	var rep ReplayAnswer
	e.mustDo(http.MethodPost, "/api/v1/deadletters/"+d.ID+"/replay", "", nil, http.StatusAccepted, &rep)
	if len(rep.Replayed) != 1 || rep.Replayed[0].ID != d.ID || rep.Replayed[0].MsgID == "" {
		t.Fatalf("replay %+v", rep)
	}
	e.mustDo(http.MethodPost, "/api/v1/deadletters/"+d.ID+"/replay", "", nil, http.StatusNotFound, nil)

	// Replay the rest as a set; none comes back.
	e.mustDo(http.MethodPost, "/api/v1/deadletters/replay", "", map[string]any{"flow": "divider"}, http.StatusOK, &rep)
	if len(rep.Replayed) != 2 || len(rep.Failed) != 0 {
		t.Fatalf("replay set %+v", rep)
	}
	eventually(t, 5*time.Second, "the replayed messages to finish", func() bool {
		st, err := e.mgr.Status("divider")
		return err == nil && st.InFlight == 0 && st.Processed >= 3
	})
	e.mustDo(http.MethodGet, "/api/v1/deadletters", "", nil, http.StatusOK, &page)
	if page.Total != 0 {
		t.Fatalf("dead letters after replay: %+v", page)
	}

	// Delete.
	e.mustDo(http.MethodPut, "/api/v1/flows/divider", "", dividerFlow("msg.temperature / msg.divisor"), http.StatusOK, nil)
	e.mustDo(http.MethodPost, "/api/v1/flows/divider/deploy", "", nil, http.StatusOK, nil)
	e.mustDo(http.MethodPost, "/api/v1/flows/divider/messages?wait=true", "", telemetry(1), http.StatusOK, nil)
	eventually(t, 5*time.Second, "a dead letter", func() bool {
		e.mustDo(http.MethodGet, "/api/v1/deadletters", "", nil, http.StatusOK, &page)
		return page.Total == 1
	})
	e.mustDo(http.MethodDelete, "/api/v1/deadletters/"+page.Items[0].ID, "", nil, http.StatusNoContent, nil)
	e.mustDo(http.MethodDelete, "/api/v1/deadletters/"+page.Items[0].ID, "", nil, http.StatusNotFound, nil)

	// A dead letter of a flow that is not deployed stays.
	e.mustDo(http.MethodPost, "/api/v1/flows/divider/messages?wait=true", "", telemetry(1), http.StatusOK, nil)
	eventually(t, 5*time.Second, "a dead letter", func() bool {
		e.mustDo(http.MethodGet, "/api/v1/deadletters", "", nil, http.StatusOK, &page)
		return page.Total == 1
	})
	e.mustDo(http.MethodPost, "/api/v1/flows/divider/undeploy", "", nil, http.StatusOK, nil)
	status, _, b := e.do(http.MethodPost, fmt.Sprintf("/api/v1/deadletters/%s/replay", page.Items[0].ID), e.token, nil)
	if status != http.StatusConflict {
		t.Fatalf("replay into an undeployed flow: %d %s", status, b)
	}
	e.mustDo(http.MethodGet, "/api/v1/deadletters", "", nil, http.StatusOK, &page)
	if page.Total != 1 {
		t.Fatalf("the dead letter went away: %+v", page)
	}
}
