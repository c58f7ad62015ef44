package builtin

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine/spec"
)

// The node types this package must register.
var wantTypes = []string{
	"switch", "msgTypeSwitch", "exprFilter", "fieldFilter", "exprTransform", "metadataTransform",
	"restApiCall", "log", "delay", "fork", "join", "flow",
}

func TestRegistered(t *testing.T) {
	var got []string
	for _, r := range spec.All() {
		got = append(got, r.Spec.Type)
	}
	for _, typ := range wantTypes {
		if !slices.Contains(got, typ) {
			t.Errorf("%s is not registered", typ)
		}
	}
	for _, banned := range []string{"jsFilter", "jsSwitch", "jsTransform"} {
		if slices.Contains(got, banned) {
			t.Errorf("%s must not be exposed (RULEGO-NOTES §6.9)", banned)
		}
	}
}

// baseConfig is a valid configuration: the spec's defaults plus the example
// of every required field without one or, when the spec's own Validate wants
// more, its first example over the defaults.
func baseConfig(t *testing.T, s *spec.Node) map[string]any {
	t.Helper()
	cfg := s.Defaults()
	for _, f := range s.Fields {
		if f.Required && f.Default == nil {
			if f.Example == nil {
				t.Errorf("required field %q has no example", f.Name)
				continue
			}
			cfg[f.Name] = f.Example
		}
	}
	if len(s.Check(cfg)) > 0 && len(s.Examples) > 0 {
		cfg = s.Defaults()
		maps.Copy(cfg, s.Examples[0].Config)
	}
	return cfg
}

// fieldProblems are the problems of ps about field name or inside it.
func fieldProblems(ps spec.Problems, name string) spec.Problems {
	var out spec.Problems
	for _, p := range ps {
		if p.Field == name || strings.HasPrefix(p.Field, name+".") || strings.HasPrefix(p.Field, name+"[") {
			out = append(out, p)
		}
	}
	return out
}

func TestSpecs(t *testing.T) {
	categories := make([]string, len(spec.Categories()))
	for i, c := range spec.Categories() {
		categories[i] = c.Name
	}
	for _, r := range spec.All() {
		s := r.Spec
		t.Run(s.Type, func(t *testing.T) {
			if s.Summary == "" || strings.Contains(s.Summary, "\n") {
				t.Error("want a one-line summary")
			}
			if !slices.Contains(categories, s.Category) {
				t.Errorf("category %q is not one of %q", s.Category, categories)
			}
			if r.Proto.Type() != s.Type {
				t.Errorf("prototype type %q", r.Proto.Type())
			}
			checkFields(t, s.Fields, "", true)
			rel := s.Relations
			if len(rel.Fixed) == 0 && !rel.Dynamic && rel.FromField == "" {
				t.Error("the node emits no relation")
			}
			for _, name := range []string{rel.FromField, rel.DynamicIf} {
				if name != "" && !slices.ContainsFunc(s.Fields, func(f *spec.Field) bool { return f.Name == name }) {
					t.Errorf("relations name unknown field %q", name)
				}
			}
			if _, err := json.Marshal(s); err != nil {
				t.Errorf("spec does not encode: %v", err)
			}

			base := baseConfig(t, s)
			if ps := s.Check(base); len(ps) > 0 {
				t.Errorf("defaults (with required examples) do not validate:\n%v", ps)
			}
			plain := *s // field checks only, without the spec's Validate
			plain.Validate = nil
			for _, f := range s.Fields {
				for what, v := range map[string]any{"default": f.Default, "example": f.Example} {
					if v == nil {
						continue
					}
					cfg := maps.Clone(base)
					cfg[f.Name] = v
					if ps := fieldProblems(plain.Check(cfg), f.Name); len(ps) > 0 {
						t.Errorf("%s of %q does not validate:\n%v", what, f.Name, ps)
					}
				}
			}
			for _, ex := range s.Examples {
				if ex.Title == "" {
					t.Error("example without a title")
				}
				if ps := s.Check(ex.Config); len(ps) > 0 {
					t.Errorf("example %q does not validate:\n%v", ex.Title, ps)
				}
			}

			for _, cfg := range append([]map[string]any{base}, examples(s)...) {
				n := r.Proto.New()
				if err := n.Init(types.NewConfig(), types.Configuration(cfg)); err != nil {
					t.Errorf("init with %v: %v", cfg, err)
				}
				n.Destroy()
			}
		})
	}
}

func examples(s *spec.Node) []map[string]any {
	var out []map[string]any
	for _, ex := range s.Examples {
		out = append(out, ex.Config)
	}
	return out
}

func checkFields(t *testing.T, fields []*spec.Field, prefix string, top bool) {
	t.Helper()
	for _, f := range fields {
		path := prefix + f.Name
		if f.Name == "" {
			t.Errorf("%s: field without a name", prefix)
		}
		if f.Help == "" {
			t.Errorf("field %q has no help", path)
		}
		if f.Vars && !top {
			t.Errorf("field %q: RuleGo substitutes ${vars.x} in top-level fields only", path)
		}
		if f.Required && f.Default != nil {
			t.Errorf("field %q is required and has a default", path)
		}
		checkShape(t, f, path)
		checkFields(t, f.Fields, path+".", false)
	}
}

func checkShape(t *testing.T, f *spec.Field, path string) {
	t.Helper()
	switch f.Type {
	case spec.Enum:
		if len(f.Enum) == 0 {
			t.Errorf("enum field %q has no values", path)
		}
	case spec.Ref:
		if f.RefKind == "" {
			t.Errorf("ref field %q has no kind", path)
		}
	case spec.Code:
		if f.Language == "" {
			t.Errorf("code field %q has no language", path)
		}
	case spec.Object:
		if len(f.Fields) == 0 {
			t.Errorf("object field %q has no fields", path)
		}
	case spec.List:
		if (len(f.Fields) == 0) == (f.Item == nil) {
			t.Errorf("list field %q needs fields or an item type", path)
		}
	}
	if f.Item != nil {
		checkShape(t, f.Item, path+"[]")
	}
}

// TestRuleGoKeys checks that the specs of RuleGo's nodes use RuleGo's
// configuration keys, so a validated config reaches the node unchanged.
// RuleGo matches keys to its Config struct case-insensitively.
func TestRuleGoKeys(t *testing.T) {
	for _, r := range spec.All() {
		if _, ours := r.Proto.(*LogNode); ours {
			continue
		}
		t.Run(r.Spec.Type, func(t *testing.T) {
			var keys []string
			if v := reflect.ValueOf(r.Proto).Elem(); v.Kind() == reflect.Struct {
				if c := v.FieldByName("Config"); c.IsValid() {
					for i := range c.NumField() {
						keys = append(keys, strings.ToLower(c.Type().Field(i).Name))
					}
				}
			}
			var names []string
			for _, f := range r.Spec.Fields {
				names = append(names, strings.ToLower(f.Name))
				if !slices.Contains(keys, strings.ToLower(f.Name)) {
					t.Errorf("field %q is not a key of RuleGo's config (%q)", f.Name, keys)
				}
			}
			for _, k := range keys {
				if !slices.Contains(names, k) {
					t.Errorf("RuleGo's config key %q has no field", k)
				}
			}
		})
	}
}
