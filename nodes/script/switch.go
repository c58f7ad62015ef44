package script

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dop251/goja"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"

	"github.com/sluicehq/sluice/engine/spec"
)

// relDefault is scriptSwitch's relation when the script names none.
const relDefault = "Default"

var switchSpec = &spec.Node{
	Type:     "scriptSwitch",
	Category: "filter",
	Summary:  "Route a message on the relations a JavaScript function names.",
	Doc: "The script returns a relation name or an array of them, and the message leaves unchanged on each (one copy per relation). " +
		"`null`, `undefined` or `[]` send it on `Default`.\n\n" +
		"Declare the names in `relations`, so that validation can check the flow's connections; a name the script returns that " +
		"is not declared sends the message to `Failure`. With `anyRelation` set, any name is accepted and connections are not checked.\n\n" +
		scriptsHelp,
	Fields: append(fields("Body of `function (msg, metadata, msgType, dataType)`; returns a relation name or an array of names.", switchExample),
		&spec.Field{Name: "relations", Type: spec.List, Item: &spec.Field{Type: spec.String, Help: "A relation name."}, Default: []any{},
			Help: "The relation names the script may return; each is an output of the node.", Example: []any{"Hot", "Cold"}},
		&spec.Field{Name: "anyRelation", Type: spec.Bool, Default: false, Advanced: true,
			Help: "Accept any relation name the script returns (connections are then not checked against `relations`)."},
	),
	Relations: spec.Relations{FromField: "relations", Fixed: []string{relDefault, types.Failure}, DynamicIf: "anyRelation"},
	Validate: func(cfg map[string]any) spec.Problems {
		ps := validate(cfg)
		rels, _ := cfg["relations"].([]any)
		if anyRel, _ := cfg["anyRelation"].(bool); !anyRel && len(rels) == 0 {
			ps = append(ps, spec.Problem{Field: "relations", Message: "declare the relations the script returns, or set anyRelation"})
		}
		for i, r := range rels {
			s, _ := r.(string)
			switch {
			case strings.TrimSpace(s) == "":
				ps = append(ps, spec.Problem{Field: fmt.Sprintf("relations[%d]", i), Message: "must not be empty"})
			case s == types.Failure:
				ps = append(ps, spec.Problem{Field: fmt.Sprintf("relations[%d]", i), Message: "Failure is the relation of script errors; choose another name"})
			}
		}
		return ps
	},
	Examples: []spec.Example{
		{Title: "Temperature bands", Config: map[string]any{"code": switchExample, "relations": []any{"Hot", "Cold", "Normal"}}},
		{Title: "Route on every matching condition", Config: map[string]any{"relations": []any{"LowBattery", "Offline"}, "code": "" +
			"const out = [];\n" +
			"if (msg.battery < 10) out.push('LowBattery');\n" +
			"if (msg.lastSeen < now() - 600000) out.push('Offline');\n" +
			"return out;"}},
	},
}

const switchExample = "if (msg.temperature > 80) return 'Hot';\n" +
	"if (msg.temperature < 5) return 'Cold';\n" +
	"return 'Normal';"

func init() { spec.Register(switchSpec, &Switch{}) }

type switchConfig struct {
	config
	Relations   []string `json:"relations"`
	AnyRelation bool     `json:"anyRelation"`
}

// Switch is the scriptSwitch node.
type Switch struct {
	core
	relations []string
	any       bool
}

// Type implements types.Node.
func (n *Switch) Type() string { return switchSpec.Type }

// New implements types.Node.
func (n *Switch) New() types.Node { return &Switch{} }

// Init implements types.Node.
func (n *Switch) Init(_ types.Config, raw types.Configuration) error {
	var cfg switchConfig
	if err := switchSpec.Decode(raw, &cfg); err != nil {
		return err
	}
	n.relations, n.any = cfg.Relations, cfg.AnyRelation
	return n.init(cfg.config)
}

// Destroy implements types.Node.
func (n *Switch) Destroy() { n.destroy() }

// OnMsg implements types.Node.
func (n *Switch) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	var rels []string
	err := n.call(ctx, msg, func(_ *vmState, res goja.Value, _ *goja.Object) error {
		var err error
		rels, err = n.names(res)
		return err
	})
	switch {
	case err != nil:
		ctx.TellFailure(msg, err)
	case len(rels) == 0:
		ctx.TellNext(msg, relDefault)
	case len(rels) == 1:
		ctx.TellNext(msg, rels[0])
	default:
		mt, ok := ctx.(engine.MultiTeller)
		if !ok {
			ctx.TellNext(msg, rels...) // see engine.MultiTeller for RuleGo's race with several relations
			return
		}
		msgs := make([]types.RuleMsg, len(rels))
		for i := range msgs {
			msgs[i] = msg.Copy()
		}
		mt.TellEach(msgs, rels)
	}
}

// names reads the relation names a switch script returned.
func (n *Switch) names(res goja.Value) ([]string, error) {
	var vals []goja.Value
	switch kindOf(res) {
	case kUndefined, kNull:
		return nil, nil
	case kString:
		vals = []goja.Value{res}
	case kObject:
		o := res.(*goja.Object)
		if o.ClassName() != "Array" {
			return nil, resultError("result: want a relation name or an array of names, got %s", typeName(res))
		}
		l := o.Get("length").ToInteger()
		if l > int64(max(len(n.relations), 64)) {
			return nil, resultError("result: %d relation names are more than the node can emit", l)
		}
		for i := int64(0); i < l; i++ {
			vals = append(vals, o.Get(fmt.Sprint(i)))
		}
	default:
		return nil, resultError("result: want a relation name or an array of names, got %s", typeOrValue(res))
	}
	var rels []string
	for i, val := range vals {
		if kindOf(val) != kString || val.String() == "" {
			return nil, resultError("result[%d]: want a relation name, got %s", i, typeOrValue(val))
		}
		r := val.String()
		if r == types.Failure {
			return nil, resultError("result: %q is the relation of script errors and cannot be chosen", r)
		}
		if !n.any && r != relDefault && !slices.Contains(n.relations, r) {
			return nil, resultError("result: relation %q is not declared in relations (%s)", r, quoteList(n.relations))
		}
		if !slices.Contains(rels, r) {
			rels = append(rels, r)
		}
	}
	return rels, nil
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
