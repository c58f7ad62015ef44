package flows_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/flows"
	"github.com/sluicehq/sluice/store"
)

func logNode(id, message string, x, y int) map[string]any {
	return map[string]any{"id": id, "type": "log", "name": id,
		"configuration":  map[string]any{"message": message},
		"additionalInfo": map[string]any{"x": x, "y": y}}
}

func conn(from, to, typ string) map[string]any {
	return map[string]any{"fromId": from, "toId": to, "type": typ}
}

// baseDoc is version 1 of the flow "f" used by the version tests.
func baseDoc(t *testing.T) []byte {
	return flowDoc(t, "f", "Flow", []map[string]any{logNode("a", "hello", 0, 0), logNode("b", "bye", 100, 0)},
		[]map[string]any{conn("a", "b", "Success")})
}

// editedDoc is what the first editor saves as version 2: a's message and
// position change, b goes, c comes.
func editedDoc(t *testing.T) []byte {
	return flowDoc(t, "f", "Flow", []map[string]any{logNode("a", "hi", 5, 0), logNode("c", "new", 200, 0)},
		[]map[string]any{conn("a", "c", "Success")})
}

const editedDiff = `{
	"from": 1, "to": 2, "changed": [],
	"nodes": {
		"added":   [{"id": "c", "type": "log", "name": "c", "configuration": {"message": "new"}, "additionalInfo": {"x": 200, "y": 0}}],
		"removed": [{"id": "b", "type": "log", "name": "b", "configuration": {"message": "bye"}, "additionalInfo": {"x": 100, "y": 0}}],
		"changed": [{"id": "a", "fields": [
			{"field": "configuration.message", "from": "hello", "to": "hi"},
			{"field": "position", "from": {"x": 0, "y": 0}, "to": {"x": 5, "y": 0}}
		]}]
	},
	"connections": {
		"added":   [{"fromId": "a", "toId": "c", "type": "Success"}],
		"removed": [{"fromId": "a", "toId": "b", "type": "Success"}]
	}
}`

func TestConcurrentEditConflict(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, err := e.svc.Create(ctx, "", "ada", "v1", baseDoc(t))
	requireNoError(t, err)

	// Two editors open version 1; the first saves, the second is refused
	// with what the first changed.
	v2, err := e.svc.Update(ctx, "", "f", "ada", "edit", editedDoc(t), 1)
	requireNoError(t, err)
	requireEqual(t, v2.Version, 2)
	_, err = e.svc.Update(ctx, "", "f", "bob", "mine", baseDoc(t), 1)
	var ce *flows.ConflictError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a conflict", err)
	}
	requireEqual(t, ce.Current, 2)
	requireEqual(t, ce.Error(), "version conflict: latest is 2")
	requireJSON(t, ce.Changes, editedDiff)

	// Create of an existing id is a conflict too.
	_, err = e.svc.Create(ctx, "", "bob", "", baseDoc(t))
	if !errors.As(err, &ce) || ce.Current != 2 || ce.Changes.From != 0 {
		t.Fatalf("got %v, want a conflict from version 0", err)
	}
	// Nothing was lost: version 2 is the first editor's.
	versions, err := e.svc.Versions(ctx, "", "f")
	requireNoError(t, err)
	requireEqual(t, len(versions), 2)
}

func TestConcurrentUpdatesOneWins(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, err := e.svc.Create(ctx, "", "ada", "", baseDoc(t))
	requireNoError(t, err)
	const editors = 6
	errs := make(chan error, editors)
	var wg sync.WaitGroup
	for range editors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.svc.Update(ctx, "", "f", "x", "", editedDoc(t), 1)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	wins := 0
	for err := range errs {
		var ce *flows.ConflictError
		switch {
		case err == nil:
			wins++
		case errors.As(err, &ce):
			requireEqual(t, ce.Current, 2)
			requireJSON(t, ce.Changes, editedDiff)
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	requireEqual(t, wins, 1)
}

func TestServiceDiff(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, err := e.svc.Create(ctx, "", "ada", "", baseDoc(t))
	requireNoError(t, err)
	_, err = e.svc.Update(ctx, "", "f", "ada", "", editedDoc(t), 1)
	requireNoError(t, err)
	d, err := e.svc.Diff(ctx, "", "f", 1, 2)
	requireNoError(t, err)
	requireJSON(t, d, editedDiff)

	d, err = e.svc.Diff(ctx, "", "f", 2, 2)
	requireNoError(t, err)
	if !d.Empty() {
		t.Fatalf("a version against itself: got %+v", d)
	}
	_, err = e.svc.Diff(ctx, "", "f", 1, 9)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("got %v, want not found", err)
	}
}

func TestServiceDiffHidesSecrets(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	createSecretive(t, e)
	m := flows.Mask
	// v2 keeps every secret, v3 changes the password and the list item's key.
	_, err := e.svc.Update(ctx, "", "vault", "ada", "", flowDoc(t, "vault", "Vault",
		[]map[string]any{secretiveNode("s1", m, m, m, m)}, nil), 1)
	requireNoError(t, err)
	_, err = e.svc.Update(ctx, "", "vault", "ada", "", flowDoc(t, "vault", "Vault",
		[]map[string]any{secretiveNode("s1", "changed", m, "key-2", m)}, nil), 2)
	requireNoError(t, err)

	d, err := e.svc.Diff(ctx, "", "vault", 2, 3)
	requireNoError(t, err)
	requireJSON(t, d, `{"from": 2, "to": 3, "changed": [],
		"nodes": {"added": [], "removed": [], "changed": [{"id": "s1", "fields": [
			{"field": "configuration.password", "from": "********", "to": "********"},
			{"field": "configuration.servers[0].key", "from": "********", "to": "********"}
		]}]},
		"connections": {"added": [], "removed": []}}`)

	d, err = e.svc.Diff(ctx, "", "vault", 1, 2)
	requireNoError(t, err)
	requireJSON(t, d.Nodes.Removed, `[{"id": "u1", "type": "not/registered", "configuration": {"password": "clear"}}]`)
	requireJSON(t, d.Nodes.Changed, `[]`) // kept secrets are no change
}

func TestRollback(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	createSecretive(t, e)
	_, err := e.svc.Update(ctx, "", "vault", "ada", "", flowDoc(t, "vault", "Renamed",
		[]map[string]any{secretiveNode("s1", "other", "t", "k", "h")}, nil), 1)
	requireNoError(t, err)

	v3, err := e.svc.Rollback(ctx, "", "vault", 1, "bob", "")
	requireNoError(t, err)
	requireEqual(t, v3.Version, 3)
	requireEqual(t, v3.Name, "Vault")
	requireEqual(t, v3.Author, "bob")
	requireEqual(t, v3.Comment, "rollback to version 1")
	v1, err := e.svc.GetVersion(ctx, "", "vault", 1)
	requireNoError(t, err)
	requireJSON(t, v3.Flow, string(mustJSON(t, v1.Flow)))
	requireEqual(t, string(rawDoc(t, e, "vault", 3)), string(rawDoc(t, e, "vault", 1)))
	run, err := e.svc.Runtime(ctx, "", "vault", 3)
	requireNoError(t, err)
	requireEqual(t, secretsIn(t, run, "s1"), plainSecrets)
	d, err := e.svc.Diff(ctx, "", "vault", 1, 3)
	requireNoError(t, err)
	if !d.Empty() {
		t.Fatalf("rollback differs from its source: %+v", d)
	}

	v4, err := e.svc.Rollback(ctx, "", "vault", 2, "bob", "back again")
	requireNoError(t, err)
	requireEqual(t, v4.Comment, "back again")
	_, err = e.svc.Rollback(ctx, "", "vault", 9, "bob", "")
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("got %v, want not found", err)
	}
}

func TestDelete(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, err := e.svc.Create(ctx, "", "ada", "", baseDoc(t))
	requireNoError(t, err)
	requireNoError(t, e.svc.Delete(ctx, "", "f"))
	for name, err := range map[string]error{
		"get":      func() error { _, err := e.svc.Get(ctx, "", "f"); return err }(),
		"versions": func() error { _, err := e.svc.Versions(ctx, "", "f"); return err }(),
		"runtime":  func() error { _, err := e.svc.Runtime(ctx, "", "f", 0); return err }(),
		"export":   func() error { _, err := e.svc.Export(ctx, "", "f"); return err }(),
		"again":    e.svc.Delete(ctx, "", "f"),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s after delete: got %v, want not found", name, err)
		}
	}
	// The id can be created afresh.
	v, err := e.svc.Create(ctx, "", "ada", "", baseDoc(t))
	requireNoError(t, err)
	requireEqual(t, v.Version, 1)
}

func TestBadRequests(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, err := e.svc.Create(ctx, "", "ada", "", baseDoc(t))
	requireNoError(t, err)
	cases := []struct {
		name string
		call func() error
	}{
		{"update: body id differs from the url's", func() error {
			_, err := e.svc.Update(ctx, "", "other", "ada", "", baseDoc(t), 1)
			return err
		}},
		{"update: body without id", func() error {
			_, err := e.svc.Update(ctx, "", "f", "ada", "", flowDoc(t, "", "x", nil, nil), 1)
			return err
		}},
		{"create: no id", func() error {
			_, err := e.svc.Create(ctx, "", "ada", "", flowDoc(t, "", "x", nil, nil))
			return err
		}},
		{"create: bad id", func() error {
			_, err := e.svc.Create(ctx, "", "ada", "", flowDoc(t, "a/b", "x", nil, nil))
			return err
		}},
		{"create: id too long", func() error {
			_, err := e.svc.Create(ctx, "", "ada", "", flowDoc(t, strings.Repeat("a", 65), "x", nil, nil))
			return err
		}},
		{"create: not json", func() error {
			_, err := e.svc.Create(ctx, "", "ada", "", []byte(`{`))
			return err
		}},
		{"create: unknown key", func() error {
			_, err := e.svc.Create(ctx, "", "ada", "", []byte(`{"ruleChain":{"id":"x"},"metadata":{},"extra":1}`))
			return err
		}},
		{"import: bad id", func() error {
			_, err := e.svc.Import(ctx, "", "ada", flowDoc(t, "no spaces", "x", nil, nil))
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var bre *flows.BadRequestError
			if err := tc.call(); !errors.As(err, &bre) {
				t.Fatalf("got %v, want a bad request", err)
			}
		})
	}
	_, err = e.svc.Update(ctx, "", "missing", "ada", "", flowDoc(t, "missing", "x", nil, nil), -1)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing flow: got %v, want not found", err)
	}
	_, err = e.svc.Update(ctx, "", "missing", "ada", "", flowDoc(t, "missing", "x", nil, nil), 3)
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("update of a missing flow: got %v, want not found", err)
	}
}

func TestVersionsListAndDraft(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	// A draft with problems (unknown type, dangling connection) is saved.
	draft := flowDoc(t, "f", "Draft", []map[string]any{{"id": "a", "type": "nope"}},
		[]map[string]any{conn("a", "ghost", "Success")})
	v1, err := e.svc.Create(ctx, "acme", "ada", "start", draft)
	requireNoError(t, err)
	_, err = e.svc.Update(ctx, "acme", "f", "bob", "more", baseDoc(t), -1)
	requireNoError(t, err)

	vs, err := e.svc.Versions(ctx, "acme", "f")
	requireNoError(t, err)
	requireEqual(t, len(vs), 2)
	requireEqual(t, []any{vs[0].Version, vs[0].Author, vs[0].Comment, vs[0].Name, vs[0].Flow == nil},
		[]any{2, "bob", "more", "Flow", true})
	requireEqual(t, []any{vs[1].Version, vs[1].Author, vs[1].Comment, vs[1].Name, vs[1].CreatedAt},
		[]any{1, "ada", "start", "Draft", v1.CreatedAt})

	list, err := e.svc.List(ctx, "acme")
	requireNoError(t, err)
	requireEqual(t, len(list), 1)
	requireEqual(t, []any{list[0].FlowID, list[0].Version, list[0].Name, list[0].Author}, []any{"f", 2, "Flow", "bob"})
	list, err = e.svc.List(ctx, "")
	requireNoError(t, err)
	requireEqual(t, len(list), 0) // another tenant's flow
}
