package spec

import (
	"fmt"
	"sort"
)

// Walk calls fn for every value present in raw that a field of the spec
// declares, nested fields included, depth first in declaration order, with
// the value's dotted path. Values of the wrong shape are skipped (Check
// reports them). Validation uses it to find Ref and Exclusive values.
func (n *Node) Walk(raw map[string]any, fn func(path string, f *Field, v any)) {
	walkFields(n.Fields, raw, "", fn)
}

func walkFields(fields []*Field, raw map[string]any, prefix string, fn func(string, *Field, any)) {
	for _, f := range fields {
		v, ok := raw[f.Name]
		if !ok || v == nil {
			continue
		}
		walkValue(f, v, join(prefix, f.Name), fn)
	}
}

func walkValue(f *Field, v any, path string, fn func(string, *Field, any)) {
	fn(path, f, v)
	switch f.Type {
	case Object:
		if m, ok := v.(map[string]any); ok {
			walkFields(f.Fields, m, path, fn)
		}
	case List:
		l, ok := v.([]any)
		if !ok {
			return
		}
		for i, item := range l {
			ipath := fmt.Sprintf("%s[%d]", path, i)
			if f.Item != nil {
				if item != nil {
					walkValue(f.Item, item, ipath, fn)
				}
			} else if m, ok := item.(map[string]any); ok {
				walkFields(f.Fields, m, ipath, fn)
			}
		}
	case Map:
		m, ok := v.(map[string]any)
		if !ok || f.Item == nil {
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if m[k] != nil {
				walkValue(f.Item, m[k], join(path, k), fn)
			}
		}
	}
}
