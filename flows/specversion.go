package flows

import (
	"encoding/json"
	"fmt"
	"maps"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// specVersionKey is the additionalInfo key of a node's spec version.
const specVersionKey = "specVersion"

// stampFlow records the registered spec version on each node of a known type
// that does not carry one yet. A node that already carries one keeps it: its
// config is in that version's shape until Runtime migrates it.
func stampFlow(f *engine.Flow) {
	for i := range f.Metadata.Nodes {
		n := &f.Metadata.Nodes[i]
		reg, ok := spec.Lookup(n.Type)
		if !ok {
			continue
		}
		if _, ok := specVersionOf(n); ok {
			continue
		}
		if n.AdditionalInfo == nil {
			n.AdditionalInfo = map[string]any{}
		}
		n.AdditionalInfo[specVersionKey] = int64(reg.Spec.Version) // as ParseFlow decodes it
	}
}

// specVersionOf returns a node's recorded spec version, if it has a valid one.
func specVersionOf(n *engine.Node) (int, bool) {
	var v int
	switch x := n.AdditionalInfo[specVersionKey].(type) {
	case int:
		v = x
	case int64:
		v = int(x)
	case float64:
		if x != float64(int(x)) {
			return 0, false
		}
		v = int(x)
	case json.Number:
		i, err := x.Int64()
		if err != nil {
			return 0, false
		}
		v = int(i)
	default:
		return 0, false
	}
	return v, v > 0
}

// migrateFlow upgrades, in place, the config of every node whose recorded
// spec version is older than its type's, one registered migration at a
// time, and records the new version. A node without a recorded version is
// taken to be current.
func migrateFlow(f *engine.Flow) error {
	for i := range f.Metadata.Nodes {
		n := &f.Metadata.Nodes[i]
		reg, ok := spec.Lookup(n.Type)
		if !ok {
			continue
		}
		cur := reg.Spec.Version
		from, ok := specVersionOf(n)
		if !ok || from == cur {
			continue
		}
		if from > cur {
			return fmt.Errorf("node %q (%s): spec version %d is newer than this binary's %d", n.ID, n.Type, from, cur)
		}
		cfg := maps.Clone(n.Configuration)
		if cfg == nil {
			cfg = map[string]any{}
		}
		for v := from; v < cur; v++ {
			fn := reg.Migrations[v]
			if fn == nil {
				return fmt.Errorf("node %q (%s): no migration from spec version %d", n.ID, n.Type, v)
			}
			next, err := fn(cfg)
			if err != nil {
				return fmt.Errorf("node %q (%s): migrate from spec version %d: %w", n.ID, n.Type, v, err)
			}
			cfg = next
		}
		n.Configuration = cfg
		n.AdditionalInfo[specVersionKey] = int64(cur)
	}
	return nil
}
