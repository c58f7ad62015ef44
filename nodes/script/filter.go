package script

import (
	"github.com/dop251/goja"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine/spec"
)

var filterSpec = &spec.Node{
	Type:     "scriptFilter",
	Category: "filter",
	Summary:  "Send a message on True or False as a JavaScript function decides.",
	Doc: "The script returns `true` or `false`, and the message leaves unchanged on `True` or `False`. Any other result " +
		"(a forgotten `return` gives `undefined`) sends it to `Failure`. Changes the script makes to `msg` or `metadata` are discarded.\n\n" + scriptsHelp,
	Fields:    fields("Body of `function (msg, metadata, msgType, dataType)`; returns true or false.", filterExample),
	Relations: spec.Relations{Fixed: []string{types.True, types.False, types.Failure}},
	Validate:  validate,
	Examples: []spec.Example{
		{Title: "Hot boilers", Config: map[string]any{"code": filterExample}},
		{Title: "Frames with the alarm bit set", Config: map[string]any{"code": "return dataType === 'BINARY' && bit(readUint8(msg, 0), 7);"}},
	},
}

const filterExample = "return metadata.deviceType === 'boiler' && msg.temperature > 80;"

func init() { spec.Register(filterSpec, &Filter{}) }

// Filter is the scriptFilter node.
type Filter struct{ core }

// Type implements types.Node.
func (n *Filter) Type() string { return filterSpec.Type }

// New implements types.Node.
func (n *Filter) New() types.Node { return &Filter{} }

// Init implements types.Node.
func (n *Filter) Init(_ types.Config, raw types.Configuration) error {
	var cfg config
	if err := filterSpec.Decode(raw, &cfg); err != nil {
		return err
	}
	return n.init(cfg)
}

// Destroy implements types.Node.
func (n *Filter) Destroy() { n.destroy() }

// OnMsg implements types.Node.
func (n *Filter) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	var pass bool
	err := n.call(ctx, msg, func(_ *vmState, res goja.Value, _ *goja.Object) error {
		if kindOf(res) != kBool {
			return resultError("result: want true or false, got %s", typeOrValue(res))
		}
		pass = res.ToBoolean()
		return nil
	})
	switch {
	case err != nil:
		ctx.TellFailure(msg, err)
	case pass:
		ctx.TellNext(msg, types.True)
	default:
		ctx.TellNext(msg, types.False)
	}
}
