package spec

import (
	"slices"
	"sort"
)

// RelationsFor returns the relations a node with config raw may emit: one per
// configured value of Relations.FromField (in config order), then the fixed
// ones, without duplicates. dynamic reports that any relation name may be
// emitted (Relations.Dynamic, or Relations.DynamicIf set to true); rels then
// holds the relations known in advance.
func (n *Node) RelationsFor(raw map[string]any) (rels []string, dynamic bool) {
	r := n.Relations
	add := func(s string) {
		if s != "" && !slices.Contains(rels, s) {
			rels = append(rels, s)
		}
	}
	if r.FromField != "" {
		switch v := raw[r.FromField].(type) {
		case []any:
			for _, item := range v {
				switch x := item.(type) {
				case map[string]any:
					if s, ok := x[r.FromKey].(string); ok {
						add(s)
					}
				case string:
					if r.FromKey == "" {
						add(x)
					}
				}
			}
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				add(k)
			}
		}
	}
	for _, s := range r.Fixed {
		add(s)
	}
	dynamic = r.Dynamic
	if r.DynamicIf != "" {
		if b, ok := raw[r.DynamicIf].(bool); ok && b {
			dynamic = true
		} else if _, set := raw[r.DynamicIf]; !set {
			if f := n.field(r.DynamicIf); f != nil {
				if b, ok := f.Default.(bool); ok && b {
					dynamic = true
				}
			}
		}
	}
	return rels, dynamic
}
