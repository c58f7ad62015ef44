package spec

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// thermo is a spec exercising every field type.
var thermo = &Node{
	Type:     "test/thermo",
	Category: "filter",
	Summary:  "test spec",
	Fields: []*Field{
		{Name: "threshold", Type: Float, Required: true, Min: Num(-50), Max: Num(150), Help: "h"},
		{Name: "high", Type: Float, Help: "h"},
		{Name: "count", Type: Int, Min: Num(1), Default: 5, Vars: true, Help: "h"},
		{Name: "enabled", Type: Bool, Default: true, Vars: true, Help: "h"},
		{Name: "name", Type: String, Vars: true, Help: "h"},
		{Name: "key", Type: Secret, Help: "h"},
		{Name: "mode", Type: Enum, Enum: []string{"a", "b"}, Default: "a", Help: "h"},
		{Name: "every", Type: Duration, Min: Num(1), Help: "h"},
		{Name: "schedule", Type: Cron, Help: "h"},
		{Name: "cond", Type: Expression, Predicate: true, Help: "h"},
		{Name: "calc", Type: Expression, Help: "h"},
		{Name: "script", Type: Code, Language: "javascript", Help: "h"},
		{Name: "target", Type: Ref, RefKind: RefFlow, Help: "h"},
		{Name: "cases", Type: List, Min: Num(1), Help: "h", Fields: []*Field{
			{Name: "case", Type: Expression, Predicate: true, Required: true, Help: "h"},
			{Name: "then", Type: String, Required: true, Help: "h"},
		}},
		{Name: "tags", Type: List, Item: &Field{Type: String}, Help: "h"},
		{Name: "opts", Type: Object, Help: "h", Fields: []*Field{
			{Name: "retries", Type: Int, Default: 3, Help: "h"},
			{Name: "backoff", Type: Duration, Help: "h"},
		}},
		{Name: "labels", Type: Map, Max: Num(2), Help: "h"},
		{Name: "limits", Type: Map, Item: &Field{Type: Int, Min: Num(0)}, Help: "h"},
	},
	Relations: Relations{FromField: "cases", FromKey: "then", Fixed: []string{"Default", "Failure"}},
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		cfg  map[string]any
		want []string
	}{
		{"valid", map[string]any{
			"threshold": int64(30), "high": 40.5, "count": int64(2), "enabled": false, "name": "n", "mode": "b",
			"every": "1m30s", "schedule": "*/5 * * * * *", "cond": "msg.temperature > 50", "calc": "msg.a * 2",
			"script": "return msg;", "target": "other",
			"cases":  []any{map[string]any{"case": `metadata.kind == "x"`, "then": "X"}},
			"tags":   []any{"a", "b"},
			"opts":   map[string]any{"retries": int64(1), "backoff": "2s"},
			"labels": map[string]any{"a": "1"}, "limits": map[string]any{"x": int64(3)},
		}, nil},
		{"null counts as missing", map[string]any{"threshold": int64(1), "high": nil}, nil},
		{"wrong number", map[string]any{"threshold": "30C"}, []string{`field "threshold": want a number, got "30C"`}},
		{"required", map[string]any{}, []string{`field "threshold": required`}},
		{"required null", map[string]any{"threshold": nil}, []string{`field "threshold": required`}},
		{"below min", map[string]any{"threshold": int64(-51)}, []string{`field "threshold": must be at least -50`}},
		{"above max", map[string]any{"threshold": 150.5}, []string{`field "threshold": must be at most 150`}},
		{"int min", map[string]any{"threshold": int64(1), "count": int64(0)}, []string{`field "count": must be at least 1`}},
		{"int from float", map[string]any{"threshold": int64(1), "count": 2.5}, []string{`field "count": want an integer, got 2.5`}},
		{"whole float is an int", map[string]any{"threshold": int64(1), "count": 2.0}, nil},
		{"int from string", map[string]any{"threshold": int64(1), "count": "5"}, []string{`field "count": want an integer, got "5"`}},
		{"bool", map[string]any{"threshold": int64(1), "enabled": "yes"}, []string{`field "enabled": want true or false, got "yes"`}},
		{"string", map[string]any{"threshold": int64(1), "name": int64(5)}, []string{`field "name": want a string, got 5`}},
		{"secret", map[string]any{"threshold": int64(1), "key": true}, []string{`field "key": want a string, got true`}},
		{"unknown with suggestion", map[string]any{"threshold": int64(1), "thresold": int64(2)},
			[]string{`field "thresold": unknown field (did you mean "threshold"?)`}},
		{"unknown, other case", map[string]any{"threshold": int64(1), "Mode": "a"},
			[]string{`field "Mode": unknown field (did you mean "mode"?)`}},
		{"unknown without suggestion", map[string]any{"threshold": int64(1), "zzz": int64(2), "aaa": "x"},
			[]string{`field "aaa": unknown field`, `field "zzz": unknown field`}},
		{"enum", map[string]any{"threshold": int64(1), "mode": "c"}, []string{`field "mode": want one of "a", "b", got "c"`}},
		{"duration", map[string]any{"threshold": int64(1), "every": "5x"},
			[]string{`field "every": not a valid duration: time: unknown unit "x" in duration "5x"`}},
		{"duration number", map[string]any{"threshold": int64(1), "every": int64(5)}, []string{`field "every": want a string, got 5`}},
		{"duration min", map[string]any{"threshold": int64(1), "every": "500ms"}, []string{`field "every": must be at least 1s`}},
		{"cron", map[string]any{"threshold": int64(1), "schedule": "* * * * *"},
			[]string{`field "schedule": not a valid cron expression: expected exactly 6 fields, found 5: [* * * * *]`}},
		{"cron descriptor", map[string]any{"threshold": int64(1), "schedule": "@every 5s"}, nil},
		{"expression syntax", map[string]any{"threshold": int64(1), "calc": "msg.a +"},
			[]string{`field "calc": does not compile: unexpected token EOF (1:7)`}},
		{"predicate not bool", map[string]any{"threshold": int64(1), "cond": "1 + 2"},
			[]string{`field "cond": does not compile: expected bool, but got int`}},
		{"metadata values are strings", map[string]any{"threshold": int64(1), "cond": "metadata.temp > 50"},
			[]string{`field "cond": does not compile: invalid operation: > (mismatched types string and int) (1:15)`}},
		{"payload may be a list", map[string]any{"threshold": int64(1), "cond": "msg[0].v > 1 || len(msg) > 2"}, nil},
		{"list item path", map[string]any{"threshold": int64(1), "cases": []any{
			map[string]any{"case": "true", "then": "A"},
			map[string]any{"case": "msg.x >"},
		}}, []string{`field "cases[1].case": does not compile: unexpected token EOF (1:7)`, `field "cases[1].then": required`}},
		{"list item unknown", map[string]any{"threshold": int64(1), "cases": []any{map[string]any{"case": "true", "then": "A", "than": "B"}}},
			[]string{`field "cases[0].than": unknown field (did you mean "then"?)`}},
		{"list item not an object", map[string]any{"threshold": int64(1), "cases": []any{"x"}}, []string{`field "cases[0]": want an object, got "x"`}},
		{"empty list", map[string]any{"threshold": int64(1), "cases": []any{}}, []string{`field "cases": must have at least 1 item`}},
		{"not a list", map[string]any{"threshold": int64(1), "cases": map[string]any{}}, []string{`field "cases": want a list, got an object`}},
		{"scalar list", map[string]any{"threshold": int64(1), "tags": []any{"a", int64(2)}}, []string{`field "tags[1]": want a string, got 2`}},
		{"object", map[string]any{"threshold": int64(1), "opts": "x"}, []string{`field "opts": want an object, got "x"`}},
		{"nested unknown", map[string]any{"threshold": int64(1), "opts": map[string]any{"retires": int64(2)}},
			[]string{`field "opts.retires": unknown field (did you mean "retries"?)`}},
		{"map values", map[string]any{"threshold": int64(1), "labels": map[string]any{"a": int64(1)}}, []string{`field "labels.a": want a string, got 1`}},
		{"map size", map[string]any{"threshold": int64(1), "labels": map[string]any{"a": "1", "b": "2", "c": "3"}},
			[]string{`field "labels": must have at most 2 items`}},
		{"typed map values", map[string]any{"threshold": int64(1), "limits": map[string]any{"x": int64(-1)}}, []string{`field "limits.x": must be at least 0`}},
		{"vars where allowed", map[string]any{"threshold": int64(1), "count": "${vars.n}", "enabled": "${ vars.on }", "name": "dev-${vars.site}"}, nil},
		{"vars where not allowed", map[string]any{"threshold": "${vars.t}"},
			[]string{`field "threshold": ${vars.x} placeholders are not allowed in this field`}},
		{"several problems in field order", map[string]any{"high": "x", "mode": "z"},
			[]string{`field "threshold": required`, `field "high": want a number, got "x"`, `field "mode": want one of "a", "b", got "z"`}},
		{"long strings are cut", map[string]any{"threshold": strings.Repeat("x", 50)},
			[]string{`field "threshold": want a number, got "` + strings.Repeat("x", 37) + `..."`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := render(thermo.Check(tt.cfg))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func render(ps Problems) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func TestCheckResolved(t *testing.T) {
	got := render(thermo.CheckResolved(map[string]any{"threshold": int64(1), "count": "7", "enabled": "false", "name": "${vars.site}"}))
	want := []string{`field "name": variable ${vars.site} is not defined in the flow`}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	got = render(thermo.CheckResolved(map[string]any{"threshold": int64(1), "count": "seven"}))
	want = []string{`field "count": want an integer, got "seven"`}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestValidateHook(t *testing.T) {
	var seen map[string]any
	n := &Node{Type: "test/hook", Fields: []*Field{
		{Name: "a", Type: String, Default: "x", Help: "h"},
		{Name: "b", Type: Int, Help: "h"},
	}, Validate: func(cfg map[string]any) Problems {
		seen = cfg
		return Problems{{Field: "b", Message: "needs a"}, {Severity: Warning, Message: "hmm"}}
	}}
	ps := n.Check(map[string]any{"b": int64(1)})
	if got, want := render(ps), []string{`field "b": needs a`, "hmm"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if ps[0].Severity != Error || ps[1].Severity != Warning {
		t.Errorf("severities %q %q", ps[0].Severity, ps[1].Severity)
	}
	if seen["a"] != "x" {
		t.Errorf("hook saw %v, want the default applied", seen)
	}
	seen = nil
	n.Check(map[string]any{"b": "x"})
	if seen != nil {
		t.Error("hook ran although a field was mistyped")
	}
}

func TestDecode(t *testing.T) {
	type opts struct {
		Retries int          `json:"retries"`
		Backoff JSONDuration `json:"backoff"`
	}
	type cfg struct {
		Threshold float64        `json:"threshold"`
		Count     int            `json:"count"`
		Enabled   bool           `json:"enabled"`
		Mode      string         `json:"mode"`
		Opts      opts           `json:"opts"`
		Every     JSONDuration   `json:"every"`
		Limits    map[string]int `json:"limits"`
	}
	var c cfg
	raw := map[string]any{
		"threshold": int64(20), "count": "7", "enabled": "false", "every": "2s",
		"opts": map[string]any{"backoff": "1m"}, "limits": map[string]any{"x": 4},
		"vars": map[string]any{"a": "b"}, "secrets": map[string]any{}, "$initNetResource": true,
	}
	if err := thermo.Decode(raw, &c); err != nil {
		t.Fatal(err)
	}
	want := cfg{Threshold: 20, Count: 7, Enabled: false, Mode: "a", Opts: opts{Retries: 3, Backoff: JSONDuration(time.Minute)},
		Every: JSONDuration(2 * time.Second), Limits: map[string]int{"x": 4}}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}

	err := thermo.Decode(map[string]any{"threshold": "hot", "count": "${vars.n}"}, &c)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %v is not Problems", err)
	}
	if got, want := err.Error(), "field \"threshold\": want a number, got \"hot\"\nfield \"count\": variable ${vars.n} is not defined in the flow"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestDefaults(t *testing.T) {
	d := thermo.Defaults()
	want := map[string]any{"count": 5, "enabled": true, "mode": "a", "opts": map[string]any{"retries": 3}}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("got %v, want %v", d, want)
	}
	d["opts"].(map[string]any)["retries"] = 9
	if thermo.Defaults()["opts"].(map[string]any)["retries"] != 3 {
		t.Error("defaults are shared")
	}
}

func TestRelationsFor(t *testing.T) {
	dyn := &Node{Type: "test/dyn", Fields: []*Field{{Name: "extend", Type: Bool, Default: false}},
		Relations: Relations{Fixed: []string{"Success", "Failure"}, DynamicIf: "extend"}}
	keyed := &Node{Type: "test/keyed", Relations: Relations{FromField: "routes", Fixed: []string{"Failure"}}}
	tests := []struct {
		name    string
		n       *Node
		cfg     map[string]any
		want    []string
		dynamic bool
	}{
		{"cases then fixed", thermo, map[string]any{"cases": []any{
			map[string]any{"then": "Hot"}, map[string]any{"then": "Cold"}, map[string]any{"then": "Hot"}, "junk",
		}}, []string{"Hot", "Cold", "Default", "Failure"}, false},
		{"no cases", thermo, nil, []string{"Default", "Failure"}, false},
		{"map keys sorted", keyed, map[string]any{"routes": map[string]any{"b": "x", "a": "y"}}, []string{"a", "b", "Failure"}, false},
		{"dynamic if set", dyn, map[string]any{"extend": true}, []string{"Success", "Failure"}, true},
		{"not dynamic by default", dyn, map[string]any{}, []string{"Success", "Failure"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dynamic := tt.n.RelationsFor(tt.cfg)
			if !slices.Equal(got, tt.want) || dynamic != tt.dynamic {
				t.Errorf("got %q %v, want %q %v", got, dynamic, tt.want, tt.dynamic)
			}
		})
	}
}

func TestWalk(t *testing.T) {
	var got []string
	thermo.Walk(map[string]any{
		"target": "f2",
		"cases":  []any{map[string]any{"then": "A"}},
		"opts":   map[string]any{"retries": int64(1)},
		"limits": map[string]any{"b": int64(1), "a": int64(2)},
	}, func(path string, f *Field, v any) { got = append(got, path) })
	want := []string{"target", "cases", "cases[0].then", "opts", "opts.retries", "limits", "limits.a", "limits.b"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"exprFilter", "exprTransform", "switch", "log"}
	for in, want := range map[string]string{
		"exprFiltr": "exprFilter", "exprfilter": "exprFilter", "swtich": "switch", "lg": "log", "mqtt": "", "": "",
	} {
		if got := Suggest(in, cands); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProblemString(t *testing.T) {
	p := Problem{Severity: Error, Flow: "boiler-room", Node: "alarm1", NodeType: "threshold", Field: "high", Message: `want a number, got "30C"`}
	if got, want := p.String(), `flow "boiler-room": node "alarm1" (threshold): field "high": want a number, got "30C"`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
