package builtin

import (
	"github.com/rulego/rulego/components/transform"

	"github.com/sluicehq/sluice/engine/spec"
)

func init() {
	spec.Register(exprTransformSpec, &transform.ExprTransformNode{})
	spec.Register(metadataTransformSpec, &transform.MetadataTransformNode{})
}

var exprTransformSpec = &spec.Node{
	Type:     "exprTransform",
	Category: "transform",
	Summary:  "Replace the payload with the result of an expression, or with an object built from several.",
	Doc: "With `expr`, the payload becomes the expression's result. With `mapping`, it becomes a JSON object " +
		"whose keys are the mapping's keys and whose values are the results of their expressions. " +
		"An expression that fails at run time sends the message on `Failure`.\n\n" + exprHelp,
	Fields: []*spec.Field{
		{Name: "expr", Type: spec.Expression, Help: "Expression whose result becomes the payload.", Example: "msg.temperature * 1.8 + 32"},
		{Name: "mapping", Type: spec.Map, Item: &spec.Field{Type: spec.Expression}, Help: "Payload keys and the expressions that compute them.",
			Example: map[string]any{"tempF": "msg.temperature * 1.8 + 32", "device": "metadata.deviceId"}},
	},
	Relations: spec.Relations{Fixed: []string{relSuccess, relFailure}},
	Examples: []spec.Example{
		{Title: "Celsius to Fahrenheit", Config: map[string]any{"expr": "msg.temperature * 1.8 + 32"}},
		{Title: "Reshape", Config: map[string]any{"mapping": map[string]any{"name": "upper(msg.name)", "alarm": "msg.temperature > 50", "device": "metadata.deviceId"}}},
	},
	Validate: func(cfg map[string]any) spec.Problems {
		e, _ := cfg["expr"].(string)
		m, _ := cfg["mapping"].(map[string]any)
		switch {
		case e == "" && len(m) == 0:
			return spec.Problems{{Field: "expr", Message: "set expr or mapping"}}
		case e != "" && len(m) > 0:
			return spec.Problems{{Severity: spec.Warning, Field: "mapping", Message: "ignored: expr is set"}}
		}
		return nil
	},
}

var metadataTransformSpec = &spec.Node{
	Type:     "metadataTransform",
	Category: "transform",
	Summary:  "Set metadata keys from expressions.",
	Doc: "Each mapping key becomes a metadata key holding its expression's result as a string. " +
		"With `isNew` the metadata is replaced by the mapping's keys; otherwise they are added to it. " +
		"An expression that fails at run time sends the message on `Failure`.\n\n" + exprHelp,
	Fields: []*spec.Field{
		{Name: "mapping", Type: spec.Map, Item: &spec.Field{Type: spec.Expression}, Required: true, Min: spec.Num(1),
			Help: "Metadata keys and the expressions that compute them.", Example: map[string]any{"temperature": "msg.temperature"}},
		{Name: "isNew", Type: spec.Bool, Default: false, Help: "Replace the metadata instead of adding to it."},
	},
	Relations: spec.Relations{Fixed: []string{relSuccess, relFailure}},
	Examples: []spec.Example{
		{Title: "Copy payload values to metadata", Config: map[string]any{"mapping": map[string]any{"temperature": "msg.temperature", "alarm": "msg.temperature > 50"}}},
	},
}
