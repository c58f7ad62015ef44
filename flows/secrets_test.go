package flows_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/flows"
	"github.com/sluicehq/sluice/store"
)

// flowDoc builds a flow document from generic nodes and connections.
func flowDoc(t *testing.T, id, name string, nodes []map[string]any, conns []map[string]any) []byte {
	t.Helper()
	if conns == nil {
		conns = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{
		"ruleChain": map[string]any{"id": id, "name": name},
		"metadata":  map[string]any{"nodes": nodes, "connections": conns},
	})
	requireNoError(t, err)
	return b
}

// secretiveNode is a test/secretive node with a value for each of its four
// secrets: top level, in an object, in a list item, in a map.
func secretiveNode(id string, password, token, key, auth any) map[string]any {
	return map[string]any{
		"id": id, "type": secretiveType, "name": "S " + id,
		"configuration": map[string]any{
			"user":     "ada",
			"password": password,
			"nested":   map[string]any{"token": token},
			"servers":  []any{map[string]any{"host": "a", "key": key}},
			"headers":  map[string]any{"Authorization": auth},
		},
		"additionalInfo": map[string]any{"x": 10, "y": 20},
	}
}

// secretsIn returns a secretive node's four secret values.
func secretsIn(t *testing.T, f *engine.Flow, id string) [4]any {
	t.Helper()
	n, ok := f.NodeByID(id)
	if !ok {
		t.Fatalf("node %q missing", id)
	}
	c := n.Configuration
	return [4]any{
		c["password"],
		c["nested"].(map[string]any)["token"],
		c["servers"].([]any)[0].(map[string]any)["key"],
		c["headers"].(map[string]any)["Authorization"],
	}
}

var plainSecrets = [4]any{"hunter2", "tok-1", "key-1", "Bearer abc"}

func createSecretive(t *testing.T, e env) flows.Version {
	t.Helper()
	v, err := e.svc.Create(context.Background(), "", "ada", "first", flowDoc(t, "vault", "Vault",
		[]map[string]any{
			secretiveNode("s1", plainSecrets[0], plainSecrets[1], plainSecrets[2], plainSecrets[3]),
			{"id": "u1", "type": "not/registered", "configuration": map[string]any{"password": "clear"}},
		}, nil))
	requireNoError(t, err)
	return v
}

func TestSecretsMaskedOnTheWayOut(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	created := createSecretive(t, e)
	masked := [4]any{flows.Mask, flows.Mask, flows.Mask, flows.Mask}

	requireEqual(t, secretsIn(t, created.Flow, "s1"), masked)
	got, err := e.svc.Get(ctx, "", "vault")
	requireNoError(t, err)
	requireEqual(t, secretsIn(t, got.Flow, "s1"), masked)
	n, _ := got.Flow.NodeByID("s1")
	requireEqual(t, n.Configuration["user"], any("ada"))
	requireEqual(t, n.Configuration["servers"].([]any)[0].(map[string]any)["host"], any("a"))
	requireEqual(t, n.AdditionalInfo["specVersion"], any(int64(1)))
	u, _ := got.Flow.NodeByID("u1")
	requireEqual(t, u.Configuration["password"], any("clear")) // unknown type: left alone
	if _, ok := u.AdditionalInfo["specVersion"]; ok {
		t.Fatal("a node of an unknown type must not get a spec version")
	}

	v1, err := e.svc.GetVersion(ctx, "", "vault", 1)
	requireNoError(t, err)
	requireEqual(t, secretsIn(t, v1.Flow, "s1"), masked)

	exported, err := e.svc.Export(ctx, "", "vault")
	requireNoError(t, err)
	if !bytes.HasPrefix(exported, []byte("{\n  \"ruleChain\": {\n")) || !bytes.HasSuffix(exported, []byte("}\n")) {
		t.Fatalf("export is not indented JSON:\n%s", exported)
	}
	for _, s := range plainSecrets {
		if bytes.Contains(exported, []byte(s.(string))) {
			t.Fatalf("export reveals %q", s)
		}
	}
	if !bytes.Contains(exported, []byte(flows.Mask)) {
		t.Fatal("export: want masked secrets")
	}
}

func TestSecretsSealedAtRest(t *testing.T) {
	e := newEnv(t)
	createSecretive(t, e)

	raw := rawDoc(t, e, "vault", 1)
	f, err := engine.ParseFlow(raw)
	requireNoError(t, err)
	for i, s := range secretsIn(t, f, "s1") {
		str, ok := s.(string)
		if !ok || !store.IsSealed(str) {
			t.Fatalf("secret %d at rest: got %v, want a sealed value", i, s)
		}
	}
	// Nothing in the data directory holds a secret in clear.
	files, err := filepath.Glob(filepath.Join(e.dir, "sluice.db*"))
	requireNoError(t, err)
	for _, name := range files {
		b, err := os.ReadFile(name)
		requireNoError(t, err)
		for _, s := range plainSecrets {
			if bytes.Contains(b, []byte(s.(string))) {
				t.Fatalf("%s holds %q in clear", filepath.Base(name), s)
			}
		}
	}
}

// rawDoc reads a stored document straight from the database file.
func rawDoc(t *testing.T, e env, id string, version int) []byte {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(e.dir, "sluice.db"))
	requireNoError(t, err)
	defer db.Close()
	var doc []byte
	requireNoError(t, db.QueryRowContext(context.Background(),
		`SELECT doc FROM flow_versions WHERE flow_id = ? AND version = ?`, id, version).Scan(&doc))
	return doc
}

func TestUpdateSecretHandling(t *testing.T) {
	ctx := context.Background()
	m := flows.Mask
	cases := []struct {
		name  string
		nodes func(sealed string) []map[string]any
		want  map[string][4]any // runtime secrets per node
	}{
		{
			"mask sent back keeps every stored secret",
			func(string) []map[string]any { return []map[string]any{secretiveNode("s1", m, m, m, m)} },
			map[string][4]any{"s1": plainSecrets},
		},
		{
			"a new value replaces the stored one",
			func(string) []map[string]any {
				return []map[string]any{secretiveNode("s1", "new-pass", m, "key-2", m)}
			},
			map[string][4]any{"s1": {"new-pass", "tok-1", "key-2", "Bearer abc"}},
		},
		{
			"an empty value clears it",
			func(string) []map[string]any { return []map[string]any{secretiveNode("s1", "", m, m, m)} },
			map[string][4]any{"s1": {"", "tok-1", "key-1", "Bearer abc"}},
		},
		{
			"a mask on a new node has nothing to keep",
			func(string) []map[string]any {
				return []map[string]any{secretiveNode("s1", m, m, m, m), secretiveNode("s2", m, "t2", m, m)}
			},
			map[string][4]any{"s1": plainSecrets, "s2": {"", "t2", "", ""}},
		},
		{
			"a sealed value from the client is sealed again, not trusted",
			func(sealed string) []map[string]any {
				return []map[string]any{secretiveNode("s1", sealed, m, m, m)}
			},
			nil, // checked below
		},
		{
			"a value that is not a string is sealed as its json",
			func(string) []map[string]any { return []map[string]any{secretiveNode("s1", 1234, m, m, m)} },
			map[string][4]any{"s1": {"1234", "tok-1", "key-1", "Bearer abc"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			createSecretive(t, e)
			stored, err := engine.ParseFlow(rawDoc(t, e, "vault", 1))
			requireNoError(t, err)
			sealed := secretsIn(t, stored, "s1")[0].(string)

			v, err := e.svc.Update(ctx, "", "vault", "bob", "edit", flowDoc(t, "vault", "Vault", tc.nodes(sealed), nil), 1)
			requireNoError(t, err)
			requireEqual(t, v.Version, 2)
			run, err := e.svc.Runtime(ctx, "", "vault", 0)
			requireNoError(t, err)
			if tc.want == nil {
				requireEqual(t, secretsIn(t, run, "s1")[0], any(sealed))
				return
			}
			for id, want := range tc.want {
				requireEqual(t, secretsIn(t, run, id), want)
			}
			// The version before keeps its own secrets.
			old, err := e.svc.Runtime(ctx, "", "vault", 1)
			requireNoError(t, err)
			requireEqual(t, secretsIn(t, old, "s1"), plainSecrets)
		})
	}
}

func TestRuntimeWithTheWrongKeyFails(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	createSecretive(t, e)
	other, err := store.NewSecretBox(bytes.Repeat([]byte{1}, 32))
	requireNoError(t, err)
	_, err = flows.NewService(e.db.Flows(), other).Runtime(ctx, "", "vault", 0)
	if err == nil || !strings.Contains(err.Error(), `node "s1"`) {
		t.Fatalf("got %v, want an error naming the node", err)
	}
}

func TestSecretsInAListOfValues(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	node := func(keys ...any) []map[string]any {
		return []map[string]any{{"id": "s1", "type": secretiveType, "configuration": map[string]any{"keys": keys}}}
	}
	keysOf := func(f *engine.Flow) any {
		n, _ := f.NodeByID("s1")
		return n.Configuration["keys"]
	}
	v, err := e.svc.Create(ctx, "", "ada", "", flowDoc(t, "k", "K", node("k1", "k2", ""), nil))
	requireNoError(t, err)
	requireEqual(t, keysOf(v.Flow), any([]any{flows.Mask, flows.Mask, ""}))
	if bytes.Contains(rawDoc(t, e, "k", 1), []byte("k1")) {
		t.Fatal("a list item secret is stored in clear")
	}

	_, err = e.svc.Update(ctx, "", "k", "ada", "", flowDoc(t, "k", "K", node(flows.Mask, "k3", flows.Mask), nil), 1)
	requireNoError(t, err)
	run, err := e.svc.Runtime(ctx, "", "k", 0)
	requireNoError(t, err)
	requireEqual(t, keysOf(run), any([]any{"k1", "k3", ""}))
}

func TestRuntimeDraftFillsMasksFromTheSavedVersion(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	createSecretive(t, e)
	m := flows.Mask
	draft, err := engine.ParseFlow(flowDoc(t, "vault", "Vault", []map[string]any{
		secretiveNode("s1", m, "typed-in", m, "enc:v1:AAAA"),
	}, nil))
	requireNoError(t, err)
	f, err := e.svc.RuntimeDraft(ctx, "", "vault", draft)
	requireNoError(t, err)
	// masks take the stored secrets; a typed value is used as sent; ciphertext from the client is refused
	requireEqual(t, secretsIn(t, f, "s1"), [4]any{"hunter2", "typed-in", "key-1", ""})
	requireEqual(t, secretsIn(t, draft, "s1")[0], any(m)) // the draft itself is untouched

	fresh, err := engine.ParseFlow(flowDoc(t, "never-saved", "New", []map[string]any{secretiveNode("s1", m, "x", m, m)}, nil))
	requireNoError(t, err)
	f, err = e.svc.RuntimeDraft(ctx, "", "never-saved", fresh)
	requireNoError(t, err)
	requireEqual(t, secretsIn(t, f, "s1"), [4]any{"", "x", "", ""})
}
