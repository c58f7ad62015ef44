package spec

import (
	"fmt"
	"sort"
	"sync"

	"github.com/rulego/rulego/api/types"
)

// Registration binds a spec to the RuleGo node prototype that runs it.
type Registration struct {
	Spec *Node
	// Proto is the node prototype; RuleGo calls Proto.New() for every node
	// instance of a deployed flow.
	Proto types.Node
	// Migrations upgrade a config from an older spec version: Migrations[v]
	// turns a version v config into a version v+1 config.
	Migrations map[int]func(map[string]any) (map[string]any, error)
}

// registry is the process-wide node registry: node packages add to it from
// init(), the engine reads it. It is one of the registries DESIGN.md allows
// as package-level state.
var registry = struct {
	sync.RWMutex
	byType map[string]*Registration
}{byType: map[string]*Registration{}}

// Register adds a node type. A spec whose type is already registered, or whose
// prototype's Type() differs from the spec's type, panics: both are
// programming errors found at start-up.
func Register(s *Node, proto types.Node) *Registration {
	if s.Type == "" || proto == nil || proto.Type() != s.Type {
		panic(fmt.Sprintf("spec: register %q: prototype type %q does not match", s.Type, typeOf(proto)))
	}
	if s.Version == 0 {
		s.Version = 1
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.byType[s.Type]; dup {
		panic(fmt.Sprintf("spec: register %q: type already registered", s.Type))
	}
	r := &Registration{Spec: s, Proto: proto, Migrations: map[int]func(map[string]any) (map[string]any, error){}}
	registry.byType[s.Type] = r
	return r
}

func typeOf(n types.Node) string {
	if n == nil {
		return ""
	}
	return n.Type()
}

// Migrate registers a migration of typ's configs from version from to from+1.
func Migrate(typ string, from int, fn func(map[string]any) (map[string]any, error)) {
	registry.Lock()
	defer registry.Unlock()
	r, ok := registry.byType[typ]
	if !ok {
		panic(fmt.Sprintf("spec: migrate %q: type not registered", typ))
	}
	r.Migrations[from] = fn
}

// Lookup returns the registration of a node type.
func Lookup(typ string) (*Registration, bool) {
	registry.RLock()
	defer registry.RUnlock()
	r, ok := registry.byType[typ]
	return r, ok
}

// All returns every registration, sorted by category then type.
func All() []*Registration {
	registry.RLock()
	out := make([]*Registration, 0, len(registry.byType))
	for _, r := range registry.byType {
		out = append(out, r)
	}
	registry.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Spec.Category != out[j].Spec.Category {
			return out[i].Spec.Category < out[j].Spec.Category
		}
		return out[i].Spec.Type < out[j].Spec.Type
	})
	return out
}
