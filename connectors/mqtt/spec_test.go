package mqtt

import (
	"maps"
	"strings"
	"testing"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine/spec"
)

// The specs are complete: every field described, defaults and examples
// valid, the client id exclusive.
func TestSpecs(t *testing.T) {
	for _, s := range []*spec.Node{inSpec, outSpec} {
		t.Run(s.Type, func(t *testing.T) {
			reg, ok := spec.Lookup(s.Type)
			if !ok || reg.Spec != s || s.Category != "connectors" || s.Summary == "" || strings.Contains(s.Summary, "\n") {
				t.Fatalf("registration = %+v", reg)
			}
			if s.Source != (s.Type == InType) {
				t.Errorf("Source = %v", s.Source)
			}
			var check func(fs []*spec.Field, path string)
			check = func(fs []*spec.Field, path string) {
				for _, f := range fs {
					if f.Help == "" {
						t.Errorf("field %s%s has no help", path, f.Name)
					}
					if f.Required && f.Default != nil {
						t.Errorf("field %s%s is required and has a default", path, f.Name)
					}
					if f.Required && f.Example == nil {
						t.Errorf("required field %s%s has no example", path, f.Name)
					}
					check(f.Fields, path+f.Name+".")
				}
			}
			check(s.Fields, "")
			base := s.Defaults()
			for _, f := range s.Fields {
				if f.Required {
					base[f.Name] = f.Example
				}
				if f.Name == "clientId" && f.Exclusive != "mqttClientId" {
					t.Errorf("clientId is not exclusive")
				}
			}
			if ps := s.Check(base); len(ps) > 0 {
				t.Errorf("defaults do not validate: %v", ps)
			}
			for _, f := range s.Fields {
				if f.Example == nil {
					continue
				}
				cfg := maps.Clone(base)
				cfg[f.Name] = f.Example
				if ps := s.Check(cfg); len(ps) > 0 && f.Name != "clientId" {
					t.Errorf("example of %s does not validate: %v", f.Name, ps)
				}
			}
			if len(s.Examples) == 0 {
				t.Error("no examples")
			}
			for _, ex := range s.Examples {
				if ps := s.Check(ex.Config); len(ps) > 0 {
					t.Errorf("example %q: %v", ex.Title, ps)
				}
				if s == outSpec {
					n := (&OutNode{}).New()
					if err := n.Init(types.NewConfig(), types.Configuration(ex.Config)); err != nil {
						t.Errorf("init with example %q: %v", ex.Title, err)
					}
					n.Destroy()
				} else if _, err := newInSource(testSourceContext(), ex.Config); err != nil {
					t.Errorf("source from example %q: %v", ex.Title, err)
				}
			}
		})
	}
}
