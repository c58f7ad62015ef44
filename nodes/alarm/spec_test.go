package alarm

import (
	"slices"
	"testing"

	"github.com/sluicehq/sluice/engine/spec"
)

// TestSpecShape applies the registry-wide spec checks of engine/builtin's
// TestSpecs to this package's node (that test does not link it).
func TestSpecShape(t *testing.T) {
	r, ok := spec.Lookup(ThresholdType)
	if !ok || r.Proto.Type() != ThresholdType {
		t.Fatal("thresholdAlarm is not registered")
	}
	s := r.Spec
	if s.Summary == "" || s.Doc == "" {
		t.Error("want a summary and a doc")
	}
	var walk func(fs []*spec.Field, path string)
	walk = func(fs []*spec.Field, path string) {
		for _, f := range fs {
			p := path + f.Name
			if f.Help == "" {
				t.Errorf("field %s has no help", p)
			}
			if f.Required && f.Default != nil {
				t.Errorf("field %s is required and has a default", p)
			}
			if f.Type == spec.Enum && len(f.Enum) == 0 || f.Type == spec.List && len(f.Fields) == 0 || f.Type == spec.Object && len(f.Fields) == 0 {
				t.Errorf("field %s: incomplete %s", p, f.Type)
			}
			walk(f.Fields, p+".")
		}
	}
	walk(s.Fields, "")
	for _, rel := range []string{"Success", "Failure", RelActive, RelUpdated, RelCleared, RelReminder} {
		if !slices.Contains(s.Relations.Fixed, rel) {
			t.Errorf("relation %s missing", rel)
		}
	}
	if ps := s.Check(s.Defaults()); len(ps) == 0 {
		t.Error("a configuration without rules validates")
	}
}

// TestSpecCategory fails until the palette has the alarm category
// (engine/spec/spec.go: categories).
func TestSpecCategory(t *testing.T) {
	for _, c := range spec.Categories() {
		if c.Name == thresholdSpec.Category {
			return
		}
	}
	t.Errorf("category %q is not one of spec.Categories(): add {Name: \"alarm\", Label: \"Alarm\", Help: ...} to engine/spec/spec.go", thresholdSpec.Category)
}
