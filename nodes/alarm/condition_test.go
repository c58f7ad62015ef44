package alarm

import (
	"strings"
	"testing"

	"github.com/rulego/rulego/api/types"
)

// compileRule compiles a one-rule configuration through the spec (defaults,
// strict decoding) and returns its rule.
func compileRule(t *testing.T, cfg map[string]any) *rule {
	t.Helper()
	var c thresholdConfig
	if err := thresholdSpec.Decode(cfg, &c); err != nil {
		t.Fatalf("decode: %v", err)
	}
	cc, ps := compileThreshold(c)
	if ps.HasErrors() {
		t.Fatalf("compile: %v", ps)
	}
	return cc.rules[0]
}

// base is a device time (ms) the pure tests count from.
const base = int64(1_700_000_000_000)

// step is a sample at device second at; want is the strict truth and hold
// the dead-band truth after it.
type step struct {
	at   int64 // seconds
	sigs sig
	want Truth
	hold Truth
}

func TestRuleTypes(t *testing.T) {
	T, F, U := True, False, Unknown
	tests := []struct {
		name   string
		item   map[string]any
		maxAge string
		steps  []step
	}{
		{"greater", leaf("op", ">", "signal", "t", "value", 80.0), "", []step{
			{0, sig{"x": 1.0}, U, U}, // never seen: unknown
			{1, sig{"t": 80.0}, F, F}, {2, sig{"t": 80.5}, T, T}, {3, sig{"t": -5.0}, F, F}}},
		{"greater or equal", leaf("op", ">=", "signal", "t", "value", 80.0), "", []step{
			{1, sig{"t": 79.9}, F, F}, {2, sig{"t": 80.0}, T, T}}},
		{"less", leaf("op", "<", "signal", "t", "value", 10.0), "", []step{
			{1, sig{"t": 10.0}, F, F}, {2, sig{"t": 9.99}, T, T}}},
		{"less or equal", leaf("op", "<=", "signal", "t", "value", 10.0), "", []step{
			{1, sig{"t": 10.01}, F, F}, {2, sig{"t": 10.0}, T, T}}},
		{"equal number, bool as 1/0", leaf("op", "==", "signal", "run", "value", 0.0), "", []step{
			{1, sig{"run": true}, F, F}, {2, sig{"run": false}, T, T}, {3, sig{"run": 0.0}, T, T}, {4, sig{"run": "0"}, T, T}}},
		{"not equal number", leaf("op", "!=", "signal", "mode", "value", 2.0), "", []step{
			{1, sig{"mode": 2.0}, F, F}, {2, sig{"mode": 3.0}, T, T}}},
		{"equal text", leaf("op", "==", "signal", "state", "text", "fault"), "", []step{
			{1, sig{"state": "ok"}, F, F}, {2, sig{"state": "fault"}, T, T}}},
		{"not equal text, bools as text", leaf("op", "!=", "signal", "door", "text", "false"), "", []step{
			{1, sig{"door": false}, F, F}, {2, sig{"door": true}, T, T}}},
		{"non-numeric string is unknown", leaf("op", ">", "signal", "t", "value", 1.0), "", []step{
			{1, sig{"t": "hot"}, U, U}, {2, sig{"t": "2.5"}, T, T}}},
		{"outside", leaf("op", "outside", "signal", "p", "low", 1.5, "high", 3.0), "", []step{
			{1, sig{"p": 1.5}, F, F}, {2, sig{"p": 3.0}, F, F}, {3, sig{"p": 1.49}, T, T}, {4, sig{"p": 3.01}, T, T}}},
		{"inside (inclusive)", leaf("op", "inside", "signal", "p", "low", 1.5, "high", 3.0), "", []step{
			{1, sig{"p": 1.49}, F, F}, {2, sig{"p": 1.5}, T, T}, {3, sig{"p": 3.0}, T, T}, {4, sig{"p": 3.5}, F, F}}},
		{"rate per minute", leaf("op", ">", "signal", "t", "value", 2.0, "window", "5m"), "", []step{
			{0, sig{"t": 20.0}, U, U},   // one sample: no rate
			{60, sig{"t": 21.0}, F, F},  // 1/min
			{120, sig{"t": 25.0}, T, T}, // (25-20)/2min = 2.5/min
			{600, sig{"t": 26.0}, U, U}, // the 5m window holds this sample only
			{660, sig{"t": 26.5}, F, F}, // 0.5/min
		}},
		{"rate per second falling", leaf("op", "<", "signal", "lvl", "value", -0.1, "window", "10s", "per", "second"), "", []step{
			{0, sig{"lvl": 100.0}, U, U}, {5, sig{"lvl": 99.0}, T, T}, {10, sig{"lvl": 99.0}, F, F}}},
		{"no data for a signal", leaf("op", "noData", "signal", "p", "timeout", "10s"), "", []step{
			{0, sig{"t": 1.0}, F, F},  // never seen: counts from the device's first sample
			{10, sig{"t": 1.0}, T, T}, // 10s without p
			{11, sig{"p": 2.0}, F, F},
			{20, sig{"t": 1.0}, F, F}, {21, sig{"t": 1.0}, T, T}}},
		{"no data from the device", leaf("op", "noData", "timeout", "10s"), "", []step{
			{0, sig{"t": 1.0}, F, F}, {9, sig{"x": 1.0}, F, F}}},
		{"stale value is unknown", leaf("op", ">", "signal", "t", "value", 80.0), "30s", []step{
			{0, sig{"t": 90.0}, T, T}, {30, sig{"x": 1.0}, T, T}, {31, sig{"x": 1.0}, U, U}, {32, sig{"t": 10.0}, F, F}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			settings := []any{}
			if tc.maxAge != "" {
				settings = append(settings, "maxAge", tc.maxAge)
			}
			r := compileRule(t, oneRule([]any{tc.item}, settings...))
			mem := map[string]*sigState{}
			var any, first int64
			for i, s := range tc.steps {
				ts := base + s.at*1000
				if i == 0 {
					first = ts
				}
				any = ts
				for _, rs := range r.reads {
					if v, ok := s.sigs[rs.name]; ok {
						if mem[rs.name] == nil {
							mem[rs.name] = &sigState{}
						}
						mem[rs.name].set(valueOf(v), ts, rs.window)
					}
				}
				e := evalEnv{sig: mem, now: ts, any: any, first: first, maxAge: r.maxAge}
				got, _, _ := r.raise.eval(&e, false)
				hold, _, _ := r.raise.eval(&e, true)
				if got != s.want || hold != s.hold {
					t.Errorf("step %d (t=%ds %v): got %v/%v, want %v/%v", i, s.at, s.sigs, got, hold, s.want, s.hold)
				}
			}
		})
	}
}

func TestHysteresisEdges(t *testing.T) {
	tests := []struct {
		name string
		item map[string]any
		// x: strict truth, hold (dead-band) truth
		vals []float64
		want []Truth
		hold []Truth
	}{
		{"> with dead band 2", leaf("op", ">", "signal", "x", "value", 80.0, "deadband", 2.0),
			[]float64{80.01, 80, 78.01, 78, 77.99},
			[]Truth{True, False, False, False, False},
			[]Truth{True, True, True, False, False}},
		{">= with dead band 2", leaf("op", ">=", "signal", "x", "value", 80.0, "deadband", 2.0),
			[]float64{80, 78, 77.99},
			[]Truth{True, False, False},
			[]Truth{True, True, False}},
		{"< with dead band 1", leaf("op", "<", "signal", "x", "value", 10.0, "deadband", 1.0),
			[]float64{9.99, 10, 10.99, 11},
			[]Truth{True, False, False, False},
			[]Truth{True, True, True, False}},
		{"<= with dead band 1", leaf("op", "<=", "signal", "x", "value", 10.0, "deadband", 1.0),
			[]float64{10, 11, 11.01},
			[]Truth{True, False, False},
			[]Truth{True, True, False}},
		{"outside with dead band 0.1", leaf("op", "outside", "signal", "x", "low", 1.5, "high", 3.0, "deadband", 0.1),
			[]float64{3.01, 2.95, 2.9, 1.55, 1.6, 1.49},
			[]Truth{True, False, False, False, False, True},
			[]Truth{True, True, False, True, False, True}},
		{"inside with dead band 0.5", leaf("op", "inside", "signal", "x", "low", 10.0, "high", 20.0, "deadband", 0.5),
			[]float64{10, 9.5, 9.49, 20.5, 20.51},
			[]Truth{True, False, False, False, False},
			[]Truth{True, True, False, True, False}},
		{"== with dead band is a tolerance", leaf("op", "==", "signal", "x", "value", 5.0, "deadband", 0.5),
			[]float64{5, 5.5, 5.51},
			[]Truth{True, False, False},
			[]Truth{True, True, False}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := compileRule(t, oneRule([]any{tc.item}))
			for i, x := range tc.vals {
				mem := map[string]*sigState{"x": {}}
				mem["x"].set(valueOf(x), 1000, 0)
				e := evalEnv{sig: mem, now: 1000, any: 1000, first: 1000}
				got, _, _ := r.raise.eval(&e, false)
				hold, _, _ := r.raise.eval(&e, true)
				if got != tc.want[i] || hold != tc.hold[i] {
					t.Errorf("x=%v: got %v/%v, want %v/%v", x, got, hold, tc.want[i], tc.hold[i])
				}
			}
		})
	}
}

func TestTrees(t *testing.T) {
	T, F, U := True, False, Unknown
	hot := leaf("op", ">", "signal", "t", "value", 80.0)
	low := leaf("op", "<", "signal", "p", "value", 1.0)
	stopped := leaf("op", "==", "signal", "run", "value", 0.0)
	tests := []struct {
		name string
		cond map[string]any
		sigs sig
		want Truth
		val  float64
	}{
		{"and: all true", map[string]any{"op": "and", "rules": []any{hot, low}}, sig{"t": 90.0, "p": 0.5}, T, 90},
		{"and: one false wins over unknown", map[string]any{"op": "and", "rules": []any{hot, low}}, sig{"p": 2.0}, F, 2},
		{"and: unknown", map[string]any{"op": "and", "rules": []any{hot, low}}, sig{"t": 90.0}, U, 0},
		{"or: one true wins over unknown", map[string]any{"op": "or", "rules": []any{hot, low}}, sig{"p": 0.5}, T, 0.5},
		{"or: all false", map[string]any{"op": "or", "rules": []any{hot, low}}, sig{"t": 20.0, "p": 2.0}, F, 20},
		{"or: unknown", map[string]any{"op": "or", "rules": []any{hot, low}}, sig{"t": 20.0}, U, 0},
		{"or over and groups (across keys)", map[string]any{"op": "or", "rules": []any{
			map[string]any{"op": "and", "rules": []any{hot, stopped}},
			low,
		}}, sig{"t": 90.0, "run": false, "p": 5.0}, T, 90},
		{"nested two deep", map[string]any{"op": "and", "rules": []any{
			map[string]any{"op": "or", "rules": []any{
				map[string]any{"op": "and", "rules": []any{hot, stopped}},
				low,
			}},
			leaf("op", "noData", "signal", "t", "timeout", "1h"),
		}}, sig{"t": 90.0, "run": true, "p": 0.2}, F, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := compileRule(t, map[string]any{"rules": []any{map[string]any{"name": "r", "condition": tc.cond}}})
			mem := map[string]*sigState{}
			for k, v := range tc.sigs {
				mem[k] = &sigState{}
				mem[k].set(valueOf(v), 1000, 0)
			}
			e := evalEnv{sig: mem, now: 1000, any: 1000, first: 1000}
			got, val, _ := r.raise.eval(&e, false)
			if got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if tc.want != Unknown && val != tc.val {
				t.Errorf("value %v, want %v", val, tc.val)
			}
		})
	}
}

func TestConfigProblems(t *testing.T) {
	rule := func(cond map[string]any, kv ...any) map[string]any {
		r := map[string]any{"name": "r", "condition": cond}
		for i := 0; i+1 < len(kv); i += 2 {
			r[kv[i].(string)] = kv[i+1]
		}
		return map[string]any{"rules": []any{r}}
	}
	one := func(it map[string]any) map[string]any { return map[string]any{"rules": []any{it}} }
	tests := []struct {
		name string
		cfg  map[string]any
		want string // field: message part
	}{
		{"missing value", rule(one(leaf("op", ">", "signal", "t"))), `rules[0].condition.rules[0].value: required for ">"`},
		{"missing signal", rule(one(leaf("op", "<", "value", 1.0))), `rules[0].condition.rules[0].signal: required`},
		{"low above high", rule(one(leaf("op", "inside", "signal", "p", "low", 3.0, "high", 1.0))), `rules[0].condition.rules[0].high: must not be below low`},
		{"noData without timeout", rule(one(leaf("op", "noData"))), `rules[0].condition.rules[0].timeout: required`},
		{"value and text", rule(one(leaf("op", "==", "signal", "s", "value", 1.0, "text", "x"))), `rules[0].condition.rules[0].text: set value`},
		{"group with a signal", rule(one(map[string]any{"op": "or", "signal": "t", "rules": []any{leaf("op", ">", "signal", "t", "value", 1.0)}})), `rules[0].condition.rules[0].signal: a group`},
		{"leaf with rules", rule(one(map[string]any{"op": ">", "signal": "t", "value": 1.0, "rules": []any{leaf("op", ">", "signal", "t", "value", 1.0)}})), `rules[0].condition.rules[0].rules: only a group`},
		{"unknown key", rule(one(leaf("op", ">", "signal", "t", "valu", 1.0))), `rules[0].condition.rules[0].valu: unknown field (did you mean "value"?)`},
		{"bad name", rule(one(leaf("op", ">", "signal", "t", "value", 1.0)), "name", "a b"), `rules[0].name: want 1 to 64`},
		{"escalation without criteria", rule(one(leaf("op", ">", "signal", "t", "value", 1.0)), "escalations", []any{map[string]any{"severity": "critical"}}), `rules[0].escalations[0]: set a condition`},
		{"clearOnSilence on a noData rule", rule(one(leaf("op", "noData", "signal", "t", "timeout", "1m")), "clearOnSilence", "5m"), `rules[0].clearOnSilence: not with a noData rule`},
		{"clearOnSilence not a duration", rule(one(leaf("op", ">", "signal", "t", "value", 1.0)), "clearOnSilence", "soon"), `rules[0].clearOnSilence:`},
		{"too deep", rule(one(map[string]any{"op": "or", "rules": []any{map[string]any{"op": "or", "rules": []any{
			map[string]any{"op": "and", "rules": []any{leaf("op", ">", "signal", "t", "value", 1.0)}}}}}})), `rules[0].condition.rules[0].rules[0].rules[0].op: want one of`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := thresholdSpec.Check(tc.cfg)
			var lines []string
			for _, p := range ps {
				lines = append(lines, p.Field+": "+p.Message)
			}
			all := strings.Join(lines, "\n")
			if !strings.Contains(all, tc.want) {
				t.Fatalf("problems:\n%s\nwant one containing %q", all, tc.want)
			}
			n := &Threshold{}
			if err := n.Init(types.NewConfig(), tc.cfg); err == nil {
				t.Error("Init accepted the configuration")
			}
		})
	}
	// Duplicate rule names.
	cfg := map[string]any{"rules": []any{
		map[string]any{"name": "r", "condition": one(leaf("op", ">", "signal", "t", "value", 1.0))},
		map[string]any{"name": "r", "condition": one(leaf("op", "<", "signal", "t", "value", 0.0))},
	}}
	if ps := thresholdSpec.Check(cfg); !strings.Contains(ps.Error(), `rule "r" is already rules[0]'s name`) {
		t.Errorf("duplicate names: %v", ps)
	}
}

func TestSpecExamples(t *testing.T) {
	for _, ex := range thresholdSpec.Examples {
		if ps := thresholdSpec.Check(ex.Config); len(ps) > 0 {
			t.Errorf("example %q: %v", ex.Title, ps)
		}
		n := &Threshold{}
		if err := n.Init(types.NewConfig(), ex.Config); err != nil {
			t.Errorf("example %q: init: %v", ex.Title, err)
		}
		n.Destroy()
	}
	if ps := thresholdSpec.Check(map[string]any{"rules": thresholdSpec.Fields[0].Example}); len(ps) > 0 {
		t.Errorf("rules example: %v", ps)
	}
}
