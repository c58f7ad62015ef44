package flows

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/store"
)

// secretRef locates one secret value in a node's configuration: the map (or
// list) that holds it, and its path from the configuration root
// ("password", "auth.token", "servers[1].key", "headers.Authorization",
// "keys[0]").
type secretRef struct {
	path string
	m    map[string]any
	key  string
	l    []any
	idx  int
}

func (r secretRef) get() any {
	if r.m != nil {
		return r.m[r.key]
	}
	return r.l[r.idx]
}

func (r secretRef) set(v any) {
	if r.m != nil {
		r.m[r.key] = v
		return
	}
	r.l[r.idx] = v
}

// nodeSecrets lists the secret values present in a node's configuration, as
// its type's spec declares them. A node of an unknown type has none: its
// config is left alone and validation reports the type.
func nodeSecrets(n *engine.Node) []secretRef {
	reg, ok := spec.Lookup(n.Type)
	if !ok || n.Configuration == nil {
		return nil
	}
	var out []secretRef
	collectSecrets(n.Configuration, reg.Spec.Fields, "", &out)
	return out
}

// collectSecrets walks the fields like spec.Node.Walk: objects, list items
// (objects with Fields, or values of Item's type) and map values of Item's
// type; values of the wrong shape are skipped.
func collectSecrets(cfg map[string]any, fields []*spec.Field, prefix string, out *[]secretRef) {
	for _, f := range fields {
		if v, ok := cfg[f.Name]; ok && v != nil {
			collectValue(f, v, prefix+f.Name, secretRef{path: prefix + f.Name, m: cfg, key: f.Name}, out)
		}
	}
}

func collectValue(f *spec.Field, v any, path string, ref secretRef, out *[]secretRef) {
	switch f.Type {
	case spec.Secret:
		*out = append(*out, ref)
	case spec.Object:
		if m, ok := v.(map[string]any); ok {
			collectSecrets(m, f.Fields, path+".", out)
		}
	case spec.List:
		items, _ := v.([]any)
		for i, item := range items {
			ipath := fmt.Sprintf("%s[%d]", path, i)
			switch {
			case item == nil:
			case f.Item != nil:
				collectValue(f.Item, item, ipath, secretRef{path: ipath, l: items, idx: i}, out)
			default:
				if m, ok := item.(map[string]any); ok {
					collectSecrets(m, f.Fields, ipath+".", out)
				}
			}
		}
	case spec.Map:
		m, ok := v.(map[string]any)
		if !ok || f.Item == nil {
			return
		}
		for _, k := range sortedKeys(m) {
			if m[k] != nil {
				kpath := path + "." + k
				collectValue(f.Item, m[k], kpath, secretRef{path: kpath, m: m, key: k}, out)
			}
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// storedSecrets maps node id to the secrets of a stored flow's node.
type storedSecrets map[string]nodeSecretValues

// nodeSecretValues are a node's secret values at rest by path, and its type.
type nodeSecretValues struct {
	typ    string
	values map[string]any
}

func secretsOf(f *engine.Flow) storedSecrets {
	out := storedSecrets{}
	if f == nil {
		return out
	}
	for i := range f.Metadata.Nodes {
		n := &f.Metadata.Nodes[i]
		if _, dup := out[n.ID]; dup {
			continue
		}
		values := map[string]any{}
		for _, ref := range nodeSecrets(n) {
			values[ref.path] = ref.get()
		}
		out[n.ID] = nodeSecretValues{typ: n.Type, values: values}
	}
	return out
}

// sealFlow seals every secret of an incoming flow in place. A secret sent
// back as Mask keeps the value stored for the same node (same id and type)
// and path in prev, or becomes empty when there is none. Any other value is
// sealed, even one that looks sealed already: ciphertext from a client is
// never trusted. A value that is not a string is sealed as its JSON text.
func sealFlow(f *engine.Flow, prev storedSecrets, box *store.SecretBox) error {
	for i := range f.Metadata.Nodes {
		n := &f.Metadata.Nodes[i]
		for _, ref := range nodeSecrets(n) {
			v := ref.get()
			if v == Mask {
				ref.set("")
				if p, ok := prev[n.ID]; ok && p.typ == n.Type {
					if old, ok := p.values[ref.path]; ok {
						ref.set(old)
					}
				}
				continue
			}
			plain, ok := v.(string)
			if !ok {
				b, err := json.Marshal(v)
				if err != nil {
					return fmt.Errorf("node %q: field %q: %w", n.ID, ref.path, err)
				}
				plain = string(b)
			}
			if plain == "" {
				continue
			}
			if box == nil {
				return fmt.Errorf("node %q: field %q: seal secret: no secret box", n.ID, ref.path)
			}
			sealed, err := box.Seal(plain)
			if err != nil {
				return fmt.Errorf("node %q: field %q: %w", n.ID, ref.path, err)
			}
			ref.set(sealed)
		}
	}
	return nil
}

// maskFlow replaces every non-empty secret with Mask, in place.
func maskFlow(f *engine.Flow) {
	for i := range f.Metadata.Nodes {
		for _, ref := range nodeSecrets(&f.Metadata.Nodes[i]) {
			ref.set(maskValue(ref.get()))
		}
	}
}

// maskValue is what the API shows for a secret value.
func maskValue(v any) any {
	if v == nil || v == "" {
		return v
	}
	return Mask
}

// openFlow decrypts every sealed secret in place. A secret stored before its
// node type was known is not sealed and is passed through.
func openFlow(f *engine.Flow, box *store.SecretBox) error {
	for i := range f.Metadata.Nodes {
		n := &f.Metadata.Nodes[i]
		for _, ref := range nodeSecrets(n) {
			s, ok := ref.get().(string)
			if !ok || !store.IsSealed(s) {
				continue
			}
			if box == nil {
				return fmt.Errorf("node %q: field %q: open secret: no secret box", n.ID, ref.path)
			}
			plain, err := box.Open(s)
			if err != nil {
				return fmt.Errorf("node %q: field %q: %w", n.ID, ref.path, err)
			}
			ref.set(plain)
		}
	}
	return nil
}
