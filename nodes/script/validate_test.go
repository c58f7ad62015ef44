package script_test

import (
	"maps"
	"strings"
	"testing"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

var nodeTypes = []string{"scriptParse", "scriptTransform", "scriptFilter", "scriptSwitch"}

// A script that does not compile is a problem of its field, located by
// line and column in the script as written, in `sluice validate`, the API
// and at deploy.
func TestValidateReportsSyntaxErrors(t *testing.T) {
	cases := []struct {
		name, field, code, library, want string
		vars                             map[string]any
	}{
		{name: "first line", field: "code", code: "const a = ;\nreturn a;",
			want: "syntax error at line 1:11: Unexpected token ;"},
		{name: "third line", field: "code", code: "const a = 1;\nconst b = 2;\nreturn a +* b;",
			want: "syntax error at line 3:11: Unexpected token *"},
		{name: "unclosed brace", field: "code", code: "if (msg.x) {\n  return 1;",
			want: "syntax error at line 2:12: unexpected end of the code: a brace, bracket or parenthesis is not closed"},
		{name: "closing the function", field: "code", code: "return 1;\n}); (function () {",
			want: "syntax error at line 2:2: unbalanced braces: the code is the body of a function and must not close it"},
		{name: "strict mode", field: "code", code: "with (msg) { return a; }",
			want: "syntax error at line 1:1: "},
		{name: "library", field: "library", code: "return f();", library: "function f() {\n  return 1\n}}",
			want: "syntax error at line 3:2: Unexpected token }"},
		{name: "library in a flow variable", field: "library", code: "return f();", library: "${vars.lib}",
			vars: map[string]any{"lib": "function f( {}"}, want: "syntax error at line 1:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, typ := range nodeTypes {
				cfg := map[string]any{"code": tc.code}
				if tc.library != "" {
					cfg["library"] = tc.library
				}
				if typ == "scriptSwitch" {
					cfg["anyRelation"] = true
				}
				f := scriptFlow("v", typ, cfg)
				if tc.vars != nil {
					f.RuleChain.Configuration = map[string]any{"vars": tc.vars}
				}
				ps := engine.Validate(f, engine.ValidateOptions{})
				if len(ps) != 1 || ps[0].Field != tc.field || ps[0].Node != "n1" || !strings.HasPrefix(ps[0].Message, tc.want) {
					t.Fatalf("%s: problems %v\nwant one on field %q: %s", typ, ps, tc.field, tc.want)
				}
				err := newManager(t).Deploy(ctxT(t), tenant, f, 1)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: deploy error %v, want %q", typ, err, tc.want)
				}
			}
		})
	}
}

// Every spec is complete, its examples validate and initialise.
func TestSpecs(t *testing.T) {
	for _, typ := range nodeTypes {
		t.Run(typ, func(t *testing.T) {
			r, ok := spec.Lookup(typ)
			if !ok {
				t.Fatal("not registered")
			}
			s := r.Spec
			if s.Summary == "" || s.Doc == "" || len(s.Examples) == 0 {
				t.Error("summary, doc or examples missing")
			}
			for _, f := range s.Fields {
				if f.Help == "" {
					t.Errorf("field %q has no help", f.Name)
				}
			}
			base := s.Defaults()
			for _, f := range s.Fields {
				if f.Required {
					base[f.Name] = f.Example
				}
			}
			if typ == "scriptSwitch" {
				base["relations"] = []any{"Hot", "Cold", "Normal"}
			}
			configs := []map[string]any{base}
			for _, ex := range s.Examples {
				cfg := maps.Clone(ex.Config)
				configs = append(configs, cfg)
				if ps := s.Check(cfg); len(ps) > 0 {
					t.Errorf("example %q: %v", ex.Title, ps)
				}
			}
			for _, cfg := range configs {
				if ps := s.Check(cfg); len(ps) > 0 {
					t.Errorf("config %v: %v", cfg, ps)
				}
				n := r.Proto.New()
				if err := n.Init(types.NewConfig(), types.Configuration(cfg)); err != nil {
					t.Errorf("init %v: %v", cfg, err)
				}
				n.Destroy()
			}
			// The flow variables RuleGo injects are ignored, and a misspelt
			// field is refused.
			n := r.Proto.New()
			if err := n.Init(types.NewConfig(), types.Configuration{"code": "return true;", "timeot": "1s", "anyRelation": true}); err == nil ||
				!strings.Contains(err.Error(), `field "timeot": unknown field (did you mean "timeout"?)`) {
				t.Errorf("misspelt field: %v", err)
			}
		})
	}
}
