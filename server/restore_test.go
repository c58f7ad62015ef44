package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine"
)

func TestRestoreDeploysRecordedVersions(t *testing.T) {
	e := newEnv(t)
	e.createFlow(boilerFlow("good", "50"))
	e.mustDo(http.MethodPut, "/api/v1/flows/good", "", boilerFlow("good", "70"), http.StatusOK, nil)
	e.mustDo(http.MethodPost, "/api/v1/flows/good/deploy?version=1", "", nil, http.StatusOK, nil)
	broken := boilerFlow("bad", "50")
	broken["metadata"].(map[string]any)["nodes"].([]any)[2].(map[string]any)["configuration"] = map[string]any{"level": "loud"}
	e.createFlow(broken)
	// A recorded deployment that can no longer deploy (say, a node type
	// whose spec became stricter).
	if err := e.db.Flows().SetDeployed(context.Background(), "default", "bad", 1); err != nil {
		t.Fatal(err)
	}

	// A fresh engine over the same store, as after a restart.
	mgr := engine.NewManager(engine.Options{DrainTimeout: time.Second})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = mgr.Shutdown(ctx)
	})
	srv := New(Config{}, Deps{DB: e.db, Flows: e.srv.flows, Engine: mgr})
	restored, failed := srv.Restore(context.Background())
	if restored != 1 || failed != 1 {
		t.Fatalf("restored %d, failed %d; want 1 and 1", restored, failed)
	}
	d := mgr.Deployed()
	if len(d) != 1 || d[0].FlowID != "good" || d[0].Version != 1 || d[0].Tenant != "default" {
		t.Fatalf("deployed %+v; want good version 1 (the recorded one, not the latest)", d)
	}
}
