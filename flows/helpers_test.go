package flows_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"

	"github.com/rulego/rulego/api/types"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/flows"
	"github.com/sluicehq/sluice/store"
)

// Test-only node types, registered once for the package's tests.
const (
	secretiveType = "test/secretive"
	migratingType = "test/migrating"
	gapType       = "test/gap"
)

// protoNode is the smallest RuleGo node: enough to register a spec.
type protoNode struct{ typ string }

func (n *protoNode) New() types.Node                                { return &protoNode{typ: n.typ} }
func (n *protoNode) Type() string                                   { return n.typ }
func (n *protoNode) Init(types.Config, types.Configuration) error   { return nil }
func (n *protoNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) { ctx.TellSuccess(msg) }
func (n *protoNode) Destroy()                                       {}

func TestMain(m *testing.M) {
	spec.Register(&spec.Node{Type: secretiveType, Category: "test", Summary: "Has secrets everywhere.", Fields: []*spec.Field{
		{Name: "user", Type: spec.String, Help: "x"},
		{Name: "password", Type: spec.Secret, Help: "x"},
		{Name: "nested", Type: spec.Object, Help: "x", Fields: []*spec.Field{{Name: "token", Type: spec.Secret, Help: "x"}}},
		{Name: "servers", Type: spec.List, Help: "x", Fields: []*spec.Field{
			{Name: "host", Type: spec.String, Help: "x"},
			{Name: "key", Type: spec.Secret, Help: "x"},
		}},
		{Name: "headers", Type: spec.Map, Help: "x", Item: &spec.Field{Type: spec.Secret}},
		{Name: "keys", Type: spec.List, Help: "x", Item: &spec.Field{Type: spec.Secret}},
	}}, &protoNode{typ: secretiveType})

	// test/migrating is at spec version 3: v1 had "old", v2 "mid", v3 "new".
	spec.Register(&spec.Node{Type: migratingType, Category: "test", Summary: "Renamed a field twice.", Version: 3,
		Fields: []*spec.Field{{Name: "new", Type: spec.String, Help: "x"}}}, &protoNode{typ: migratingType})
	spec.Migrate(migratingType, 1, renameKey("old", "mid"))
	spec.Migrate(migratingType, 2, renameKey("mid", "new"))

	// test/gap is at version 3 but only knows how to go from 2.
	spec.Register(&spec.Node{Type: gapType, Category: "test", Summary: "Lost a migration.", Version: 3},
		&protoNode{typ: gapType})
	spec.Migrate(gapType, 2, renameKey("a", "b"))

	os.Exit(m.Run())
}

func renameKey(from, to string) func(map[string]any) (map[string]any, error) {
	return func(cfg map[string]any) (map[string]any, error) {
		v, ok := cfg[from]
		if !ok {
			return nil, errors.New("missing " + from)
		}
		delete(cfg, from)
		cfg[to] = v
		return cfg, nil
	}
}

type env struct {
	svc *flows.Service
	db  *store.DB
	dir string
}

func newEnv(t *testing.T) env {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), dir, store.Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	t.Setenv(store.SecretKeyEnv, "")
	key, err := store.LoadSecretKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	box, err := store.NewSecretBox(key)
	if err != nil {
		t.Fatal(err)
	}
	return env{svc: flows.NewService(db.Flows(), box), db: db, dir: dir}
}

func requireEqual[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %#v\nwant %#v", got, want)
	}
}

func requireNoError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// requireJSON compares a value's JSON encoding with the expected JSON text,
// ignoring layout.
func requireJSON(t *testing.T, got any, want string) {
	t.Helper()
	g, err := json.Marshal(got)
	requireNoError(t, err)
	var gb, wb bytes.Buffer
	requireNoError(t, json.Compact(&gb, g))
	if err := json.Compact(&wb, []byte(want)); err != nil {
		t.Fatalf("bad expected json: %v", err)
	}
	if gb.String() != wb.String() {
		t.Fatalf("got  %s\nwant %s", gb.String(), wb.String())
	}
}

// asMap decodes JSON into a generic map.
func asMap(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	requireNoError(t, err)
	var m map[string]any
	requireNoError(t, json.Unmarshal(b, &m))
	return m
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	requireNoError(t, err)
	return b
}
