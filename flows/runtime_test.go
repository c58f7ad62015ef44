package flows_test

import (
	"context"
	"strings"
	"testing"
)

func TestRuntimeMigratesConfigs(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		node    map[string]any
		want    map[string]any // runtime configuration
		version int64          // runtime specVersion
		wantErr string
	}{
		{
			"two steps from version 1",
			map[string]any{"id": "n", "type": migratingType, "configuration": map[string]any{"old": "v"},
				"additionalInfo": map[string]any{"specVersion": 1, "x": 1, "y": 2}},
			map[string]any{"new": "v"}, 3, "",
		},
		{
			"one step from version 2",
			map[string]any{"id": "n", "type": migratingType, "configuration": map[string]any{"mid": "v"},
				"additionalInfo": map[string]any{"specVersion": 2}},
			map[string]any{"new": "v"}, 3, "",
		},
		{
			"a node saved without a version is stamped current",
			map[string]any{"id": "n", "type": migratingType, "configuration": map[string]any{"new": "v"}},
			map[string]any{"new": "v"}, 3, "",
		},
		{
			"a missing migration",
			map[string]any{"id": "n", "type": gapType, "configuration": map[string]any{"a": 1},
				"additionalInfo": map[string]any{"specVersion": 1}},
			nil, 0, `node "n" (test/gap): no migration from spec version 1`,
		},
		{
			"a version from the future",
			map[string]any{"id": "n", "type": migratingType, "configuration": map[string]any{},
				"additionalInfo": map[string]any{"specVersion": 9}},
			nil, 0, `node "n" (test/migrating): spec version 9 is newer than this binary's 3`,
		},
		{
			"a failing migration",
			map[string]any{"id": "n", "type": migratingType, "configuration": map[string]any{"other": 1},
				"additionalInfo": map[string]any{"specVersion": 1}},
			nil, 0, `node "n" (test/migrating): migrate from spec version 1: missing old`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			saved, err := e.svc.Create(ctx, "", "ada", "", flowDoc(t, "m", "M", []map[string]any{tc.node}, nil))
			requireNoError(t, err)
			run, err := e.svc.Runtime(ctx, "", "m", 0)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want %q", err, tc.wantErr)
				}
				return
			}
			requireNoError(t, err)
			n, _ := run.NodeByID("n")
			requireEqual(t, n.Configuration, tc.want)
			requireEqual(t, n.AdditionalInfo["specVersion"], any(tc.version))

			// What is stored, and shown, is what was saved.
			got, err := e.svc.Get(ctx, "", "m")
			requireNoError(t, err)
			requireJSON(t, got.Flow, string(mustJSON(t, saved.Flow)))
		})
	}
}
