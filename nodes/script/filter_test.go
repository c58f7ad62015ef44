package script_test

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
)

func TestFilter(t *testing.T) {
	m := newManager(t)
	rec := recorder(t)
	cases := []struct {
		name string
		code string
		msg  engine.Message
		rel  string
		fail string
	}{
		{name: "true", code: "return msg.temperature > 80;", msg: jsonMsg(`{"temperature":90}`, nil), rel: types.True},
		{name: "false", code: "return msg.temperature > 80;", msg: jsonMsg(`{"temperature":20}`, nil), rel: types.False},
		{name: "metadata and type", code: "return metadata.deviceType === 'boiler' && msgType === 'RAW' && dataType === 'JSON';",
			msg: jsonMsg(`{}`, map[string]string{"deviceType": "boiler"}), rel: types.True},
		{name: "binary", code: "return bit(readUint8(msg, 0), 7);", msg: engine.Message{Type: "RAW", DataType: "BINARY", Data: "gA=="}, rel: types.True},
		{name: "truthy is not enough", code: "return msg.temperature;", msg: jsonMsg(`{"temperature":90}`, nil),
			fail: "result: want true or false, got 90"},
		{name: "forgotten return", code: "msg.temperature > 80;", msg: jsonMsg(`{"temperature":90}`, nil),
			fail: "result: want true or false, got undefined"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("filter-%d", i)
			deploy(t, m, scriptFlow(id, "scriptFilter", map[string]any{"code": tc.code, "timeout": slowMachineTimeout}, types.True, types.False))
			r := submit(t, m, id, tc.msg)
			if tc.fail != "" {
				if r.Status != engine.StatusFailed {
					t.Fatalf("status %s, want failed", r.Status)
				}
				contains(t, "failure", failure(r), tc.fail)
				return
			}
			got := collect(t, rec, 1)[0]
			if r.Status != engine.StatusCompleted || got.node != "rec-"+tc.rel {
				t.Fatalf("status %s, reached %s; want rec-%s", r.Status, got.node, tc.rel)
			}
		})
	}
}

// What a filter does to msg and metadata does not leak into the message.
func TestFilterChangesDoNotLeak(t *testing.T) {
	m := newManager(t)
	rec := recorder(t)
	deploy(t, m, scriptFlow("leak", "scriptFilter", map[string]any{
		"code": "msg.temperature = 0; msg.extra = 1; metadata.deviceId = 'other'; metadata.added = 'x'; return true;",
	}, types.True))
	in := jsonMsg(`{"temperature":90}`, map[string]string{"deviceId": "a"})
	submit(t, m, "leak", in)
	out := collect(t, rec, 1)[0].msg
	if out.Data != in.Data || !reflect.DeepEqual(map[string]string(out.Metadata), in.Metadata) {
		t.Errorf("message changed: %q %v", out.Data, out.Metadata)
	}
}

func TestSwitch(t *testing.T) {
	m := newManager(t)
	rec := recorder(t)
	declared := []any{"Hot", "Cold", "Wet"}
	cases := []struct {
		name string
		code string
		cfg  map[string]any
		msg  string
		rels []string
		fail string
	}{
		{name: "one", code: "return msg.t > 80 ? 'Hot' : 'Cold';", msg: `{"t":90}`, rels: []string{"Hot"}},
		{name: "several", code: "const r = []; if (msg.t > 80) r.push('Hot'); if (msg.h > 90) r.push('Wet'); return r;",
			msg: `{"t":90,"h":95}`, rels: []string{"Hot", "Wet"}},
		{name: "duplicates once", code: "return ['Hot', 'Hot'];", msg: `{}`, rels: []string{"Hot"}},
		{name: "none is Default", code: "return [];", msg: `{}`, rels: []string{"Default"}},
		{name: "null is Default", code: "return null;", msg: `{}`, rels: []string{"Default"}},
		{name: "undeclared", code: "return 'Warm';", msg: `{}`,
			fail: `result: relation "Warm" is not declared in relations ("Hot", "Cold", "Wet")`},
		{name: "any relation", code: "return 'Warm';", cfg: map[string]any{"anyRelation": true, "relations": []any{}}, msg: `{}`, rels: []string{"Warm"}},
		{name: "Failure is not a choice", code: "return 'Failure';", msg: `{}`,
			fail: `result: "Failure" is the relation of script errors and cannot be chosen`},
		{name: "a number", code: "return 3;", msg: `{}`, fail: "result: want a relation name or an array of names, got 3"},
		{name: "an array with a number", code: "return ['Hot', 3];", msg: `{}`, fail: "result[1]: want a relation name, got 3"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.rels) > 1 {
				requireTellEach(t)
			}
			id := fmt.Sprintf("switch-%d", i)
			cfg := map[string]any{"code": tc.code, "relations": declared}
			for k, v := range tc.cfg {
				cfg[k] = v
			}
			rels := []string{"Hot", "Cold", "Wet", "Default"}
			if len(tc.rels) == 1 && !slices.Contains(rels, tc.rels[0]) {
				rels = append(rels, tc.rels[0])
			}
			deploy(t, m, scriptFlow(id, "scriptSwitch", cfg, rels...))
			r := submit(t, m, id, jsonMsg(tc.msg, nil))
			if tc.fail != "" {
				if r.Status != engine.StatusFailed {
					t.Fatalf("status %s, want failed", r.Status)
				}
				contains(t, "failure", failure(r), tc.fail)
				return
			}
			if r.Status != engine.StatusCompleted {
				t.Fatalf("status %s: %s", r.Status, r.Error)
			}
			var got []string
			for _, g := range collect(t, rec, len(tc.rels)) {
				got = append(got, g.node[len("rec-"):])
			}
			sort.Strings(got)
			want := slices.Clone(tc.rels)
			sort.Strings(want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("relations %v, want %v", got, want)
			}
		})
	}
}

// Validation checks a switch's connections against its declared relations.
func TestSwitchValidation(t *testing.T) {
	f := scriptFlow("sw", "scriptSwitch", map[string]any{"code": "return 'Hot';", "relations": []any{"Hot"}}, "Hot", "Cold")
	ps := engine.Validate(f, engine.ValidateOptions{})
	if len(ps) != 1 {
		t.Fatalf("problems %v, want one", ps)
	}
	contains(t, "problem", ps[0].String(), `this node cannot emit relation "Cold"`)

	f = scriptFlow("sw", "scriptSwitch", map[string]any{"code": "return 'Hot';"}, "Hot")
	ps = engine.Validate(f, engine.ValidateOptions{})
	if len(ps) == 0 {
		t.Fatal("no problem for a switch without relations")
	}
	contains(t, "problem", ps[0].String(), `field "relations": declare the relations the script returns, or set anyRelation`)

	f = scriptFlow("sw", "scriptSwitch", map[string]any{"code": "return 'Hot';", "anyRelation": true}, "Hot", "Whatever")
	if ps := engine.Validate(f, engine.ValidateOptions{}); len(ps) != 0 {
		t.Fatalf("problems %v with anyRelation", ps)
	}
}
