package script

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/dop251/goja"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine/spec"
)

var transformSpec = &spec.Node{
	Type:     "scriptTransform",
	Category: "transform",
	Summary:  "Rewrite a message's payload, metadata or type with a JavaScript function.",
	Doc: "The script returns the new payload, or an envelope `{msg, metadata, msgType, dataType}` (an object with at least one of these " +
		"keys and no other). The message leaves on `Success`.\n\n" +
		"- Payload: an object, array, number, boolean or null becomes JSON; a string becomes TEXT; a `Uint8Array` becomes BINARY " +
		"(base64). An envelope's `dataType` overrides this: `JSON` takes a string as JSON text (it must parse), `TEXT` wants a string, " +
		"`BINARY` a `Uint8Array` or base64 text. An envelope without `msg` keeps the payload.\n" +
		"- Metadata: an envelope's `metadata` replaces the message's; otherwise the `metadata` object as the script left it " +
		"(`metadata.unit = 'C'; return msg;` adds a key). Values are strings, numbers or booleans; null drops a key.\n" +
		"- `msgType`: a non-empty string.\n\n" +
		"`undefined` (a forgotten `return`) sends the message to `Failure`; so does a payload over 1 MiB.\n\n" + scriptsHelp,
	Fields:    fields("Body of `function (msg, metadata, msgType, dataType)`; returns the new payload or `{msg, metadata, msgType}`.", transformExample),
	Relations: spec.Relations{Fixed: []string{types.Success, types.Failure}},
	Validate:  validate,
	Examples: []spec.Example{
		{Title: "Convert units", Config: map[string]any{"code": transformExample}},
		{Title: "Change the type and tag the metadata", Config: map[string]any{"code": "" +
			"return {msg: {value: msg.v}, metadata: Object.assign({}, metadata, {source: 'legacy'}), msgType: 'READING'};"}},
	},
}

const transformExample = "msg.temperatureF = msg.temperature * 9 / 5 + 32;\n" +
	"metadata.unit = 'F';\n" +
	"return msg;"

func init() { spec.Register(transformSpec, &Transform{}) }

// Transform is the scriptTransform node.
type Transform struct{ core }

// Type implements types.Node.
func (n *Transform) Type() string { return transformSpec.Type }

// New implements types.Node.
func (n *Transform) New() types.Node { return &Transform{} }

// Init implements types.Node.
func (n *Transform) Init(_ types.Config, raw types.Configuration) error {
	var cfg config
	if err := transformSpec.Decode(raw, &cfg); err != nil {
		return err
	}
	return n.init(cfg)
}

// Destroy implements types.Node.
func (n *Transform) Destroy() { n.destroy() }

// OnMsg implements types.Node.
func (n *Transform) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	var out types.RuleMsg
	err := n.call(ctx, msg, func(v *vmState, res goja.Value, md *goja.Object) error {
		var err error
		out, err = v.transformed(res, md, msg)
		return err
	})
	if err != nil {
		ctx.TellFailure(msg, err)
		return
	}
	ctx.TellSuccess(out)
}

var envelopeKeys = []string{"msg", "metadata", "msgType", "dataType"}

// isEnvelope reports whether o is {msg, metadata, msgType, dataType}: at
// least one of those keys and no other.
func isEnvelope(o *goja.Object) bool {
	if o.ClassName() != "Object" {
		return false
	}
	keys := o.Keys()
	if len(keys) == 0 {
		return false
	}
	for _, k := range keys {
		if !slices.Contains(envelopeKeys, k) {
			return false
		}
	}
	return true
}

// transformed builds the message a transform script's result describes.
func (v *vmState) transformed(res goja.Value, md *goja.Object, msg types.RuleMsg) (types.RuleMsg, error) {
	if kindOf(res) == kUndefined {
		return msg, resultError("result: want the new payload or {msg, metadata, msgType}, got undefined (is a return missing?)")
	}
	out := msg.Copy()
	payload, hasPayload := res, true
	metaSrc, metaPath := md, "metadata"
	var dataType string
	if o, ok := res.(*goja.Object); ok && isEnvelope(o) {
		payload = o.Get("msg")
		hasPayload = kindOf(payload) != kUndefined
		if m := o.Get("metadata"); kindOf(m) != kUndefined {
			mo, ok := m.(*goja.Object)
			if !ok || mo.ClassName() == "Array" {
				return msg, resultError("result.metadata: want an object, got %s", typeName(m))
			}
			metaSrc, metaPath = mo, "result.metadata"
		}
		if t := o.Get("msgType"); kindOf(t) != kUndefined {
			if kindOf(t) != kString || t.String() == "" {
				return msg, resultError("result.msgType: want a non-empty string, got %s", typeName(t))
			}
			out.Type = t.String()
		}
		if d := o.Get("dataType"); kindOf(d) != kUndefined {
			dataType = d.String()
			if kindOf(d) != kString || !slices.Contains([]string{"JSON", "TEXT", "BINARY"}, dataType) {
				return msg, resultError("result.dataType: want \"JSON\", \"TEXT\" or \"BINARY\", got %s", typeOrValue(d))
			}
		}
	}
	newMD, err := readMetadata(metaSrc, metaPath)
	if err != nil {
		return msg, err
	}
	out.Metadata = newMD
	if hasPayload {
		path := "result"
		if payload != res {
			path = "result.msg"
		}
		dt, data, err := v.encodePayload(payload, dataType, path)
		if err != nil {
			return msg, err
		}
		out.DataType, out.Data = dt, data
	} else if dataType != "" {
		out.DataType = types.DataType(dataType)
	}
	return out, nil
}

// encodePayload turns a script value into a message's data. want is the
// envelope's dataType, or "" to follow the value.
func (v *vmState) encodePayload(val goja.Value, want, path string) (types.DataType, string, error) {
	var bytes []byte
	if o, ok := val.(*goja.Object); ok {
		bytes = exportBytes(o)
	}
	isString := kindOf(val) == kString
	switch {
	case want == "BINARY" || (want == "" && bytes != nil):
		if bytes != nil {
			if len(bytes) > maxOutput*3/4 {
				return "", "", resultError("%s: %d bytes exceed the limit of %d", path, len(bytes), maxOutput*3/4)
			}
			return types.BINARY, base64.StdEncoding.EncodeToString(bytes), nil
		}
		if isString {
			s := val.String()
			if _, err := base64.StdEncoding.DecodeString(s); err != nil {
				return "", "", resultError("%s: dataType BINARY wants a Uint8Array or base64 text: %v", path, err)
			}
			return types.BINARY, s, v.sizeCheck(path, len(s))
		}
		return "", "", resultError("%s: dataType BINARY wants a Uint8Array or base64 text, got %s", path, typeName(val))
	case want == "TEXT" || (want == "" && isString):
		if !isString {
			return "", "", resultError("%s: dataType TEXT wants a string, got %s", path, typeName(val))
		}
		s := val.String()
		return types.TEXT, s, v.sizeCheck(path, len(s))
	}
	// JSON.
	if isString && want == "JSON" {
		s := val.String()
		if !json.Valid([]byte(s)) {
			return "", "", resultError("%s: dataType JSON with a string wants JSON text, and this does not parse", path)
		}
		return types.JSON, s, v.sizeCheck(path, len(s))
	}
	if bytes != nil {
		return "", "", resultError("%s: dataType JSON cannot hold a %s; use BINARY", path, typeName(val))
	}
	b, err := v.encodeJSON(val, maxOutput)
	if err != nil {
		return "", "", resultError("%s: %s", path, outputProblem(err))
	}
	if b == nil {
		return "", "", resultError("%s: want a payload, got %s", path, typeName(val))
	}
	return types.JSON, string(b), nil
}

func (v *vmState) sizeCheck(path string, n int) error {
	if n > maxOutput {
		return resultError("%s: %d bytes exceed the limit of %d", path, n, maxOutput)
	}
	return nil
}

func outputProblem(err error) string {
	if err == errTooBig {
		return fmt.Sprintf("the payload exceeds %d bytes", maxOutput)
	}
	return err.Error()
}
