package flows_test

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/flows"
)

func TestExamplesAreWellFormed(t *testing.T) {
	docs, err := flows.Examples()
	requireNoError(t, err)
	if len(docs) < 2 {
		t.Fatalf("got %d examples, want at least 2", len(docs))
	}
	allowed := map[string]bool{"exprFilter": true, "exprTransform": true, "log": true, "msgTypeSwitch": true, "switch": true}
	for name, doc := range docs {
		t.Run(name, func(t *testing.T) {
			f, err := engine.ParseFlow(doc)
			requireNoError(t, err)
			requireEqual(t, f.RuleChain.ID+".json", name)
			ids := map[string]bool{}
			for _, n := range f.Metadata.Nodes {
				if !allowed[n.Type] {
					t.Errorf("node %q: type %q is not one Sluice ships", n.ID, n.Type)
				}
				if _, ok := n.AdditionalInfo["x"]; !ok {
					t.Errorf("node %q: no position", n.ID)
				}
				if _, ok := n.AdditionalInfo["y"]; !ok {
					t.Errorf("node %q: no position", n.ID)
				}
				ids[n.ID] = true
			}
			for _, c := range f.Metadata.Connections {
				if !ids[c.FromID] || !ids[c.ToID] {
					t.Errorf("connection %+v: unknown node", c)
				}
			}
		})
	}
}

func TestLoadExamples(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n, err := e.svc.LoadExamples(ctx, "")
	requireNoError(t, err)
	requireEqual(t, n, 2)
	list, err := e.svc.List(ctx, "")
	requireNoError(t, err)
	requireEqual(t, []string{list[0].FlowID, list[1].FlowID}, []string{"hello-telemetry", "temperature-router"})
	requireEqual(t, list[0].Author, flows.ExampleAuthor)

	n, err = e.svc.LoadExamples(ctx, "") // a second start loads nothing
	requireNoError(t, err)
	requireEqual(t, n, 0)

	// A tenant with a flow of its own gets no examples.
	_, err = e.svc.Create(ctx, "acme", "ada", "", baseDoc(t))
	requireNoError(t, err)
	n, err = e.svc.LoadExamples(ctx, "acme")
	requireNoError(t, err)
	requireEqual(t, n, 0)
}

func TestExportImport(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	createSecretive(t, e)
	exported, err := e.svc.Export(ctx, "", "vault")
	requireNoError(t, err)

	// Into the same tenant: a new version that keeps the stored secrets.
	v, err := e.svc.Import(ctx, "", "bob", exported)
	requireNoError(t, err)
	requireEqual(t, []any{v.Version, v.Author, v.Comment}, []any{2, "bob", "import"})
	run, err := e.svc.Runtime(ctx, "", "vault", 2)
	requireNoError(t, err)
	requireEqual(t, secretsIn(t, run, "s1"), plainSecrets)
	d, err := e.svc.Diff(ctx, "", "vault", 1, 2)
	requireNoError(t, err)
	if !d.Empty() {
		t.Fatalf("export then import changed the flow: %+v", d)
	}

	// Into another tenant: a new flow whose secrets must be entered again.
	v, err = e.svc.Import(ctx, "acme", "bob", exported)
	requireNoError(t, err)
	requireEqual(t, v.Version, 1)
	run, err = e.svc.Runtime(ctx, "acme", "vault", 0)
	requireNoError(t, err)
	requireEqual(t, secretsIn(t, run, "s1"), [4]any{"", "", "", ""})
}
