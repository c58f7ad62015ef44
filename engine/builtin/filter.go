package builtin

import (
	"strings"

	"github.com/rulego/rulego/components/filter"

	"github.com/sluicehq/sluice/engine/spec"
)

func init() {
	spec.Register(switchSpec, &filter.SwitchNode{})
	spec.Register(msgTypeSwitchSpec, &filter.MsgTypeSwitchNode{})
	spec.Register(exprFilterSpec, &filter.ExprFilterNode{})
	spec.Register(fieldFilterSpec, &filter.FieldFilterNode{})
}

var switchSpec = &spec.Node{
	Type:     "switch",
	Category: "filter",
	Summary:  "Route a message on the relation of the first case whose condition holds.",
	Doc: "Cases are tried in order. The first case whose `case` expression is true sends the message on its `then` relation; " +
		"when none matches, the message goes on `Default`. An expression that fails at run time sends it on `Failure`.\n\n" + exprHelp,
	Fields: []*spec.Field{{
		Name:     "cases",
		Type:     spec.List,
		Required: true,
		Min:      spec.Num(1),
		Help:     "The cases, tried in order; each adds its `then` relation to the node's outputs.",
		Example:  []any{map[string]any{"case": "msg.temperature > 50", "then": "Hot"}},
		Fields: []*spec.Field{
			{Name: "case", Type: spec.Expression, Predicate: true, Required: true, Help: "Condition; must evaluate to true or false.", Example: "msg.temperature > 50"},
			{Name: "then", Type: spec.String, Required: true, Help: "Relation the message leaves on when the condition holds.", Example: "Hot"},
		},
	}},
	Relations: spec.Relations{FromField: "cases", FromKey: "then", Fixed: []string{relDefault, relFailure}},
	Examples: []spec.Example{{
		Title: "Temperature bands",
		Config: map[string]any{"cases": []any{
			map[string]any{"case": "msg.temperature >= 20 && msg.temperature <= 50", "then": "Warm"},
			map[string]any{"case": "msg.temperature > 50", "then": "Hot"},
		}},
	}},
}

var msgTypeSwitchSpec = &spec.Node{
	Type:     "msgTypeSwitch",
	Category: "filter",
	Summary:  "Route a message on a relation named after its message type.",
	Doc: "A message of type `TELEMETRY` leaves on the relation `TELEMETRY`. When no connection has that name, " +
		"it leaves on `Default`. Any relation name may be connected.",
	Fields:    []*spec.Field{},
	Relations: spec.Relations{Fixed: []string{relDefault}, Dynamic: true},
}

var exprFilterSpec = &spec.Node{
	Type:     "exprFilter",
	Category: "filter",
	Summary:  "Send a message on True or False depending on a condition.",
	Doc:      "The message leaves on `True` when the expression is true and on `False` otherwise; an expression that fails at run time sends it on `Failure`.\n\n" + exprHelp,
	Fields: []*spec.Field{
		{Name: "expr", Type: spec.Expression, Predicate: true, Required: true, Help: "Condition; must evaluate to true or false.", Example: "msg.temperature > 50"},
	},
	Relations: spec.Relations{Fixed: []string{relTrue, relFalse, relFailure}},
	Examples: []spec.Example{
		{Title: "Hot and humid", Config: map[string]any{"expr": "msg.temperature > 30 && msg.humidity > 80"}},
		{Title: "By metadata", Config: map[string]any{"expr": `metadata.deviceType == "boiler"`}},
	},
}

var fieldFilterSpec = &spec.Node{
	Type:     "fieldFilter",
	Category: "filter",
	Summary:  "Send a message on True or False depending on which payload and metadata keys it has.",
	Doc: "Names are comma-separated, without spaces. With `checkAllKeys` every listed key must be present (payload keys in the JSON payload, " +
		"metadata keys in the metadata); without it, one is enough. A JSON payload that does not decode sends the message on `Failure`.",
	Fields: []*spec.Field{
		{Name: "checkAllKeys", Type: spec.Bool, Default: false, Help: "Require every listed key instead of at least one."},
		{Name: "dataNames", Type: spec.String, Default: "", Help: "Top-level payload keys, comma-separated.", Example: "temperature,humidity"},
		{Name: "metadataNames", Type: spec.String, Default: "", Help: "Metadata keys, comma-separated.", Example: "deviceId"},
	},
	Relations: spec.Relations{Fixed: []string{relTrue, relFalse, relFailure}},
	Examples: []spec.Example{
		{Title: "Has a temperature or a humidity", Config: map[string]any{"dataNames": "temperature,humidity"}},
		{Title: "Has both keys and a device id", Config: map[string]any{"checkAllKeys": true, "dataNames": "temperature,humidity", "metadataNames": "deviceId"}},
	},
	Validate: func(cfg map[string]any) spec.Problems {
		var ps spec.Problems
		data, _ := cfg["dataNames"].(string)
		meta, _ := cfg["metadataNames"].(string)
		all, _ := cfg["checkAllKeys"].(bool)
		for _, f := range []struct{ name, v string }{{"dataNames", data}, {"metadataNames", meta}} {
			for _, n := range strings.Split(f.v, ",") {
				if n != strings.TrimSpace(n) {
					ps = append(ps, spec.Problem{Field: f.name, Message: `names must not have spaces around the commas`})
					break
				}
			}
		}
		switch {
		case data == "" && meta == "":
			ps = append(ps, spec.Problem{Field: "dataNames", Message: "set dataNames, metadataNames or both"})
		case all && (data == "" || meta == ""):
			// RuleGo splits "" into one empty name, which is never present.
			ps = append(ps, spec.Problem{Field: "checkAllKeys", Message: "needs both dataNames and metadataNames: with one of them empty every message goes to False"})
		}
		return ps
	},
}
