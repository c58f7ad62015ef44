package modbus

import (
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	_ "github.com/sluicehq/sluice/engine/builtin" // the docs' flows log
	"github.com/sluicehq/sluice/engine/spec"
)

// TestSpecs holds the connector's specs to the rules of engine/builtin's
// spec test: every field described, required fields with an example and no
// default, every default, example and spec example valid, and the runtime
// accepts every example.
func TestSpecs(t *testing.T) {
	for _, s := range []*spec.Node{pollSpec, writeSpec} {
		t.Run(s.Type, func(t *testing.T) {
			reg, ok := spec.Lookup(s.Type)
			if !ok || reg.Spec != s || s.Category != "connectors" || s.Summary == "" {
				t.Fatalf("registration = %+v", reg)
			}
			if s.Source != (s.Type == PollType) {
				t.Errorf("Source = %v", s.Source)
			}
			checkFieldDocs(t, s.Fields, "")
			base := s.Defaults()
			for _, f := range s.Fields {
				if f.Required {
					base[f.Name] = f.Example
				}
			}
			if ps := s.Check(base); len(ps) > 0 {
				t.Errorf("defaults with the required examples: %v", ps)
			}
			for _, f := range s.Fields {
				if f.Example == nil {
					continue
				}
				cfg := maps.Clone(base)
				cfg[f.Name] = f.Example
				if ps := s.Check(cfg); len(ps) > 0 {
					t.Errorf("example of %q: %v", f.Name, ps)
				}
			}
			if len(s.Examples) == 0 {
				t.Error("no examples")
			}
			if _, err := json.Marshal(s); err != nil {
				t.Errorf("spec does not encode: %v", err)
			}
			for _, cfg := range append([]map[string]any{base}, exampleConfigs(s)...) {
				if ps := s.Check(cfg); len(ps) > 0 {
					t.Errorf("config %v: %v", cfg, ps)
				}
				if s.Source {
					if _, err := newPoller(engine.SourceContext{FlowID: "f", NodeID: "n"}, cfg); err != nil {
						t.Errorf("newPoller(%v): %v", cfg, err)
					}
					continue
				}
				n := reg.Proto.New()
				if err := n.Init(types.NewConfig(), types.Configuration(cfg)); err != nil {
					t.Errorf("init with %v: %v", cfg, err)
				}
				n.Destroy()
			}
		})
	}
}

func exampleConfigs(s *spec.Node) []map[string]any {
	var out []map[string]any
	for _, ex := range s.Examples {
		out = append(out, ex.Config)
	}
	return out
}

func checkFieldDocs(t *testing.T, fields []*spec.Field, prefix string) {
	t.Helper()
	for _, f := range fields {
		path := prefix + f.Name
		if f.Help == "" {
			t.Errorf("field %q has no help", path)
		}
		if f.Required && (f.Default != nil || f.Example == nil) {
			t.Errorf("required field %q: default %v, example %v", path, f.Default, f.Example)
		}
		if f.Vars && prefix != "" {
			t.Errorf("field %q: ${vars.x} works in top-level fields only", path)
		}
		checkFieldDocs(t, f.Fields, path+".")
	}
}

// TestDocFlowsValidate keeps the flows of docs/connectors/modbus.md valid.
func TestDocFlowsValidate(t *testing.T) {
	doc, err := os.ReadFile("../../docs/connectors/modbus.md")
	if err != nil {
		t.Fatalf("read the connector's docs: %v", err)
	}
	n := 0
	for _, block := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		if !strings.Contains(block[1], `"ruleChain"`) {
			continue
		}
		n++
		f, err := engine.ParseFlow([]byte(block[1]))
		if err != nil {
			t.Errorf("flow %d: %v", n, err)
			continue
		}
		if ps := engine.Validate(f, engine.ValidateOptions{}); len(ps) > 0 {
			t.Errorf("flow %q: %v", f.RuleChain.ID, ps)
		}
	}
	if n != 2 {
		t.Errorf("%d flows in the docs, want 2", n)
	}
}
