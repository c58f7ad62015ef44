package flows_test

import (
	"testing"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/flows"
)

func parseFlow(t *testing.T, doc string) *engine.Flow {
	t.Helper()
	f, err := engine.ParseFlow([]byte(doc))
	if err != nil {
		t.Fatalf("parse %s: %v", doc, err)
	}
	return f
}

func TestDiffFlows(t *testing.T) {
	const base = `{"ruleChain": {"id": "f", "name": "F", "configuration": {"vars": {"a": 1}}},
		"metadata": {"nodes": [
			{"id": "n1", "type": "log", "name": "one", "configuration": {"message": "m", "opts": {"level": "info", "tags": ["a"]}},
			 "additionalInfo": {"x": 1, "y": 2, "specVersion": 1, "note": "keep"}},
			{"id": "n2", "type": "log"}
		],
		"connections": [{"fromId": "n1", "toId": "n2", "type": "Success"}]}}`
	empty := `{"from": 0, "to": 0, "changed": [], "nodes": {"added": [], "removed": [], "changed": []},
		"connections": {"added": [], "removed": []}}`

	cases := []struct {
		name string
		a, b string
		want string
	}{
		{"identical", base, base, empty},
		{"key order and number spelling do not matter", base,
			`{"metadata": {"connections": [{"type": "Success", "toId": "n2", "fromId": "n1"}],
			  "nodes": [
				{"additionalInfo": {"note": "keep", "specVersion": 1.0, "y": 2, "x": 1}, "configuration": {"opts": {"tags": ["a"], "level": "info"}, "message": "m"},
				 "name": "one", "type": "log", "id": "n1"},
				{"type": "log", "id": "n2"}]},
			  "ruleChain": {"configuration": {"vars": {"a": 1}}, "name": "F", "id": "f"}}`,
			empty},
		{"header fields", base,
			`{"ruleChain": {"id": "f", "name": "G", "debugMode": true, "configuration": {"vars": {"a": 2, "b": 1}}, "additionalInfo": {"d": "x"}},
			  "metadata": {"firstNodeIndex": 1, "nodes": [
				{"id": "n1", "type": "log", "name": "one", "configuration": {"message": "m", "opts": {"level": "info", "tags": ["a"]}},
				 "additionalInfo": {"x": 1, "y": 2, "specVersion": 1, "note": "keep"}},
				{"id": "n2", "type": "log"}],
			  "connections": [{"fromId": "n1", "toId": "n2", "type": "Success"}]}}`,
			`{"from": 0, "to": 0,
			  "changed": ["name", "debugMode", "configuration.vars.a", "configuration.vars.b", "additionalInfo.d", "metadata.firstNodeIndex"],
			  "nodes": {"added": [], "removed": [], "changed": []}, "connections": {"added": [], "removed": []}}`},
		{"node fields, nested config keys, lists whole, position, other additionalInfo", base,
			`{"ruleChain": {"id": "f", "name": "F", "configuration": {"vars": {"a": 1}}},
			  "metadata": {"nodes": [
				{"id": "n1", "type": "exprFilter", "name": "uno", "debugMode": true,
				 "configuration": {"message": "m", "opts": {"level": "debug", "tags": ["a", "b"]}, "extra": true},
				 "additionalInfo": {"x": 1, "y": 3, "specVersion": 2, "note": "keep"}},
				{"id": "n2", "type": "log", "additionalInfo": {"x": 0, "y": 0}}],
			  "connections": [{"fromId": "n1", "toId": "n2", "type": "Success"}]}}`,
			`{"from": 0, "to": 0, "changed": [],
			  "nodes": {"added": [], "removed": [], "changed": [
				{"id": "n1", "fields": [
					{"field": "type", "from": "log", "to": "exprFilter"},
					{"field": "name", "from": "one", "to": "uno"},
					{"field": "debugMode", "from": false, "to": true},
					{"field": "configuration.extra", "from": null, "to": true},
					{"field": "configuration.opts.level", "from": "info", "to": "debug"},
					{"field": "configuration.opts.tags", "from": ["a"], "to": ["a", "b"]},
					{"field": "position", "from": {"x": 1, "y": 2}, "to": {"x": 1, "y": 3}},
					{"field": "additionalInfo.specVersion", "from": 1, "to": 2}
				]},
				{"id": "n2", "fields": [{"field": "position", "from": null, "to": {"x": 0, "y": 0}}]}
			  ]},
			  "connections": {"added": [], "removed": []}}`},
		{"nodes and connections added and removed; a label change is a new connection", base,
			`{"ruleChain": {"id": "f", "name": "F", "configuration": {"vars": {"a": 1}}},
			  "metadata": {"nodes": [
				{"id": "n1", "type": "log", "name": "one", "configuration": {"message": "m", "opts": {"level": "info", "tags": ["a"]}},
				 "additionalInfo": {"x": 1, "y": 2, "specVersion": 1, "note": "keep"}},
				{"id": "n3", "type": "log"}],
			  "connections": [{"fromId": "n1", "toId": "n3", "type": "Success"}, {"fromId": "n1", "toId": "n3", "type": "Failure", "label": "oops"}]}}`,
			`{"from": 0, "to": 0, "changed": [],
			  "nodes": {"added": [{"id": "n3", "type": "log"}], "removed": [{"id": "n2", "type": "log"}], "changed": []},
			  "connections": {
				"added": [{"fromId": "n1", "toId": "n3", "type": "Success"}, {"fromId": "n1", "toId": "n3", "type": "Failure", "label": "oops"}],
				"removed": [{"fromId": "n1", "toId": "n2", "type": "Success"}]}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			requireJSON(t, flows.DiffFlows(parseFlow(t, tc.a), parseFlow(t, tc.b)), tc.want)
		})
	}

	t.Run("from nothing", func(t *testing.T) {
		d := flows.DiffFlows(nil, parseFlow(t, base))
		requireEqual(t, d.Changed, []string{"id", "name", "configuration.vars"})
		requireEqual(t, len(d.Nodes.Added), 2)
		requireEqual(t, len(d.Connections.Added), 1)
	})
}
