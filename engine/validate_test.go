package engine_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	_ "github.com/sluicehq/sluice/engine/builtin"
	"github.com/sluicehq/sluice/engine/spec"
)

// vSourceNode stands in for a connector: a source node claiming a listen
// address.
type vSourceNode struct{}

func (vSourceNode) Type() string                                 { return "test/vsource" }
func (vSourceNode) New() types.Node                              { return vSourceNode{} }
func (vSourceNode) Init(types.Config, types.Configuration) error { return nil }
func (vSourceNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	ctx.TellSuccess(msg)
}
func (vSourceNode) Destroy() {}

func init() {
	spec.Register(&spec.Node{
		Type: "test/vsource", Category: "connectors", Summary: "a test source", Source: true,
		Fields: []*spec.Field{
			{Name: "listen", Type: spec.String, Required: true, Vars: true, Exclusive: "listen address", Help: "address"},
		},
		Relations: spec.Relations{Fixed: []string{types.Success}},
	}, vSourceNode{})
}

// doc builds a flow document: nodes and connections are JSON arrays; extra
// adds or replaces top-level ruleChain / metadata members.
func doc(id, nodes, conns string, extra ...string) string {
	rc := fmt.Sprintf(`"id":%q,"name":"test"`, id)
	md := fmt.Sprintf(`"nodes":%s,"connections":%s`, nodes, conns)
	for _, e := range extra {
		switch {
		case strings.HasPrefix(e, "rc:"):
			rc += "," + strings.TrimPrefix(e, "rc:")
		case strings.HasPrefix(e, "md:"):
			md += "," + strings.TrimPrefix(e, "md:")
		}
	}
	return fmt.Sprintf(`{"ruleChain":{%s},"metadata":{%s}}`, rc, md)
}

func parse(t testing.TB, s string) *engine.Flow {
	t.Helper()
	f, err := engine.ParseFlow([]byte(s))
	if err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return f
}

const (
	logA   = `{"id":"a","type":"log"}`
	logB   = `{"id":"b","type":"log"}`
	logC   = `{"id":"c","type":"log"}`
	a2b    = `{"fromId":"a","toId":"b","type":"Success"}`
	b2c    = `{"fromId":"b","toId":"c","type":"Success"}`
	noConn = `[]`
)

func TestValidate(t *testing.T) {
	other := parse(t, doc("other", `[{"id":"src","type":"test/vsource","configuration":{"listen":":9000"}}]`, noConn))
	oldSelf := parse(t, doc("f1", `[{"id":"s1","type":"test/vsource","configuration":{"listen":":9001"}}]`, noConn))
	exists := func(id string) bool { return id == "known" || id == "f1" }

	tests := []struct {
		name string
		doc  string
		opts engine.ValidateOptions
		want []string
	}{
		{"valid", doc("f1", `[`+logA+`,`+logB+`]`, `[`+a2b+`]`), engine.ValidateOptions{}, nil},
		{"missing id", doc("", `[`+logA+`]`, noConn), engine.ValidateOptions{},
			[]string{`error: field "ruleChain.id": required`}},
		{"invalid id", doc("boiler room", `[`+logA+`]`, noConn), engine.ValidateOptions{},
			[]string{`error: flow "boiler room": field "ruleChain.id": invalid flow id: use 1 to 64 letters, digits, "_" or "-"`}},
		{"id too long", doc(strings.Repeat("x", 65), `[`+logA+`]`, noConn), engine.ValidateOptions{},
			[]string{`error: flow "` + strings.Repeat("x", 65) + `": field "ruleChain.id": invalid flow id: use 1 to 64 letters, digits, "_" or "-"`}},
		{"endpoints", doc("f1", `[`+logA+`]`, noConn, `md:"endpoints":[{"id":"e1","type":"endpoint/http"}]`), engine.ValidateOptions{},
			[]string{`error: flow "f1": metadata.endpoints is not supported: add connector nodes (category "connectors") to metadata.nodes instead`}},
		{"rule chain connections", doc("f1", `[`+logA+`]`, noConn, `md:"ruleChainConnections":[{"fromId":"a","toId":"x","type":"Success"}]`), engine.ValidateOptions{},
			[]string{`error: flow "f1": metadata.ruleChainConnections is not supported: use a flow node (type "flow") to call another flow`}},
		{"no nodes", doc("f1", `[]`, noConn), engine.ValidateOptions{},
			[]string{`error: flow "f1": no nodes: add at least one node to metadata.nodes`}},
		{"first node out of range", doc("f1", `[`+logA+`,`+logB+`]`, `[`+a2b+`]`, `md:"firstNodeIndex":2`), engine.ValidateOptions{},
			[]string{`error: flow "f1": field "metadata.firstNodeIndex": 2 is out of range: the flow has 2 nodes`}},
		{"vars not an object", doc("f1", `[`+logA+`]`, noConn, `rc:"configuration":{"vars":"x"}`), engine.ValidateOptions{},
			[]string{`error: flow "f1": field "ruleChain.configuration.vars": want an object of variable names and values`}},
		{"unknown type with suggestion", doc("f1", `[{"id":"a","type":"exprFiltr","configuration":{"expr":"true"}}]`, noConn), engine.ValidateOptions{},
			[]string{`error: flow "f1": node "a" (exprFiltr): unknown node type (did you mean "exprFilter"?)`}},
		{"unknown type", doc("f1", `[{"id":"a","type":"jsFilter"}]`, noConn), engine.ValidateOptions{},
			[]string{`error: flow "f1": node "a" (jsFilter): unknown node type`}},
		{"missing type", doc("f1", `[{"id":"a"}]`, noConn), engine.ValidateOptions{},
			[]string{`error: flow "f1": node "a": node type is required`}},
		{"duplicate id", doc("f1", `[`+logA+`,{"id":"a","type":"fork"}]`, noConn), engine.ValidateOptions{},
			[]string{`error: flow "f1": node "a" (fork): duplicate node id: metadata.nodes[0] has it too`}},
		{"empty id", doc("f1", `[`+logA+`,{"id":"","type":"log"}]`, noConn), engine.ValidateOptions{},
			[]string{`error: flow "f1": field "metadata.nodes[1].id": required`}},
		{"node without id located by index", doc("f1", `[`+logA+`,{"type":"join"},{"type":"jon"}]`, noConn), engine.ValidateOptions{},
			[]string{
				`error: flow "f1": field "metadata.nodes[1].id": required`,
				`error: flow "f1": field "metadata.nodes[1].configuration.timeout": required`,
				`error: flow "f1": field "metadata.nodes[2].id": required`,
				`error: flow "f1": field "metadata.nodes[2].type": unknown node type (did you mean "join"?)`,
			}},
		{"connection from missing node", doc("f1", `[`+logA+`]`, `[{"fromId":"zz","toId":"a","type":"Success"}]`), engine.ValidateOptions{},
			[]string{`error: flow "f1": field "metadata.connections[0]": connection from unknown node "zz"`}},
		{"connection to missing node", doc("f1", `[`+logA+`]`, `[{"fromId":"a","toId":"zz","type":"Success"}]`), engine.ValidateOptions{},
			[]string{`error: flow "f1": node "a" (log): field "metadata.connections[0]": connection to unknown node "zz"`}},
		{"relation the node cannot emit", doc("f1", `[{"id":"a","type":"exprFilter","configuration":{"expr":"msg.t > 1"}},`+logB+`]`, `[`+a2b+`]`),
			engine.ValidateOptions{},
			[]string{`error: flow "f1": node "a" (exprFilter): field "metadata.connections[0]": connection to "b": this node cannot emit relation "Success"; it emits "True", "False", "Failure"`}},
		{"connection without relation", doc("f1", `[`+logA+`,`+logB+`]`, `[{"fromId":"a","toId":"b","type":""}]`), engine.ValidateOptions{},
			[]string{`error: flow "f1": node "a" (log): field "metadata.connections[0]": connection to "b" has no relation`}},
		{"switch relations come from its cases", doc("f1",
			`[{"id":"a","type":"switch","configuration":{"cases":[{"case":"msg.t > 50","then":"Hot"}]}},`+logB+`,`+logC+`]`,
			`[{"fromId":"a","toId":"b","type":"Hot"},{"fromId":"a","toId":"c","type":"Cold"}]`), engine.ValidateOptions{},
			[]string{
				`error: flow "f1": node "a" (switch): field "metadata.connections[1]": connection to "c": this node cannot emit relation "Cold"; it emits "Hot", "Default", "Failure"`,
			}},
		{"dynamic relations", doc("f1", `[{"id":"a","type":"msgTypeSwitch"},`+logB+`]`, `[{"fromId":"a","toId":"b","type":"ALARM"}]`),
			engine.ValidateOptions{}, nil},
		{"config problems", doc("f1", `[{"id":"a","type":"exprFilter","configuration":{"expr":"msg.t >","exp":"x"}}]`, noConn),
			engine.ValidateOptions{},
			[]string{
				`error: flow "f1": node "a" (exprFilter): field "expr": does not compile: unexpected token EOF (1:7)`,
				`error: flow "f1": node "a" (exprFilter): field "exp": unknown field (did you mean "expr"?)`,
			}},
		{"config warning", doc("f1", `[{"id":"a","type":"exprTransform","configuration":{"expr":"msg","mapping":{"x":"msg.x"}}}]`, noConn),
			engine.ValidateOptions{},
			[]string{`warning: flow "f1": node "a" (exprTransform): field "mapping": ignored: expr is set`}},
		{"flow variables are substituted", doc("f1", `[{"id":"a","type":"delay","configuration":{"periodInSeconds":"${vars.p}"}}]`, noConn,
			`rc:"configuration":{"vars":{"p":5}}`), engine.ValidateOptions{}, nil},
		{"flow variable of the wrong type", doc("f1", `[{"id":"a","type":"delay","configuration":{"periodInSeconds":"${vars.p}"}}]`, noConn,
			`rc:"configuration":{"vars":{"p":"soon"}}`), engine.ValidateOptions{},
			[]string{`error: flow "f1": node "a" (delay): field "periodInSeconds": want an integer, got "soon"`}},
		{"undefined flow variable", doc("f1", `[{"id":"a","type":"delay","configuration":{"periodInSeconds":"${vars.q}"}}]`, noConn),
			engine.ValidateOptions{},
			[]string{`error: flow "f1": node "a" (delay): field "periodInSeconds": variable ${vars.q} is not defined in the flow`}},
		{"flow reference to a missing flow", doc("f1", `[{"id":"a","type":"flow","configuration":{"targetId":"nope"}}]`, noConn),
			engine.ValidateOptions{FlowExists: exists},
			[]string{`error: flow "f1": node "a" (flow): field "targetId": flow "nope" does not exist`}},
		{"flow reference to an existing flow", doc("f1", `[{"id":"a","type":"flow","configuration":{"targetId":"known"}}]`, noConn),
			engine.ValidateOptions{FlowExists: exists}, nil},
		{"flow references unchecked without FlowExists", doc("f1", `[{"id":"a","type":"flow","configuration":{"targetId":"nope"}}]`, noConn),
			engine.ValidateOptions{}, nil},
		{"flow calling itself", doc("f1", `[{"id":"a","type":"flow","configuration":{"targetId":"f1"}}]`, noConn),
			engine.ValidateOptions{FlowExists: exists},
			[]string{`error: flow "f1": node "a" (flow): field "targetId": a flow cannot call itself`}},
		{"conflict with another flow", doc("f1", `[{"id":"s1","type":"test/vsource","configuration":{"listen":"${vars.addr}"}}]`, noConn,
			`rc:"configuration":{"vars":{"addr":":9000"}}`), engine.ValidateOptions{Others: []*engine.Flow{other}},
			[]string{`error: flow "f1": node "s1" (test/vsource): field "listen": listen address ":9000" is also claimed by flow "other", node "src"`}},
		{"conflict inside the flow", doc("f1",
			`[{"id":"s1","type":"test/vsource","configuration":{"listen":":9001"}},{"id":"s2","type":"test/vsource","configuration":{"listen":":9001"}}]`, noConn),
			engine.ValidateOptions{Others: []*engine.Flow{other}},
			[]string{`error: flow "f1": node "s2" (test/vsource): field "listen": listen address ":9001" is also claimed by flow "f1", node "s1"`}},
		{"the running version of the same flow is no conflict", doc("f1", `[{"id":"s1","type":"test/vsource","configuration":{"listen":":9001"}}]`, noConn),
			engine.ValidateOptions{Others: []*engine.Flow{oldSelf, other}}, nil},
		{"cycle", doc("f1", `[`+logA+`,`+logB+`,`+logC+`]`, `[`+a2b+`,`+b2c+`,{"fromId":"c","toId":"b","type":"Success"}]`), engine.ValidateOptions{},
			[]string{`error: flow "f1": node "b" (log): cycle "b" -> "c" -> "b": set ruleChain.additionalInfo.allowCycles to true if it is intended`}},
		{"self loop", doc("f1", `[`+logA+`]`, `[{"fromId":"a","toId":"a","type":"Success"}]`), engine.ValidateOptions{},
			[]string{`error: flow "f1": node "a" (log): cycle "a" -> "a": set ruleChain.additionalInfo.allowCycles to true if it is intended`}},
		{"allowed cycle", doc("f1", `[`+logA+`,`+logB+`]`, `[`+a2b+`,{"fromId":"b","toId":"a","type":"Success"}]`, `rc:"additionalInfo":{"allowCycles":true}`),
			engine.ValidateOptions{}, nil},
		{"unreachable", doc("f1", `[`+logA+`,`+logB+`,`+logC+`]`, `[`+b2c+`]`), engine.ValidateOptions{},
			[]string{
				`warning: flow "f1": node "b" (log): unreachable: no path leads here from the first node (metadata.firstNodeIndex) or a source node`,
				`warning: flow "f1": node "c" (log): unreachable: no path leads here from the first node (metadata.firstNodeIndex) or a source node`,
			}},
		{"sources and the first node are roots", doc("f1",
			`[`+logA+`,{"id":"s1","type":"test/vsource","configuration":{"listen":":1"}},`+logB+`]`, `[{"fromId":"s1","toId":"b","type":"Success"}]`),
			engine.ValidateOptions{}, nil},
		{"disabled flow", doc("f1", `[`+logA+`]`, noConn, `rc:"disabled":true`), engine.ValidateOptions{}, nil},
		{"order: header, nodes, connections, cycles, unreachable", doc("",
			`[{"id":"a","type":"log"},{"id":"b","type":"lg"},{"id":"c","type":"log"},{"id":"d","type":"log"}]`,
			`[{"fromId":"a","toId":"x","type":"Success"},{"fromId":"c","toId":"c","type":"Success"}]`, `md:"endpoints":[{}]`),
			engine.ValidateOptions{},
			[]string{
				`error: field "ruleChain.id": required`,
				`error: metadata.endpoints is not supported: add connector nodes (category "connectors") to metadata.nodes instead`,
				`error: node "b" (lg): unknown node type (did you mean "log"?)`,
				`error: node "a" (log): field "metadata.connections[0]": connection to unknown node "x"`,
				`error: node "c" (log): cycle "c" -> "c": set ruleChain.additionalInfo.allowCycles to true if it is intended`,
				`warning: node "b" (lg): unreachable: no path leads here from the first node (metadata.firstNodeIndex) or a source node`,
				`warning: node "c" (log): unreachable: no path leads here from the first node (metadata.firstNodeIndex) or a source node`,
				`warning: node "d" (log): unreachable: no path leads here from the first node (metadata.firstNodeIndex) or a source node`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := renderProblems(engine.Validate(parse(t, tt.doc), tt.opts))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func renderProblems(ps spec.Problems) []string {
	var out []string
	for _, p := range ps {
		out = append(out, string(p.Severity)+": "+p.String())
	}
	return out
}

// TestValidateProblemFields checks the structured form the API returns.
func TestValidateProblemFields(t *testing.T) {
	ps := engine.Validate(parse(t, doc("f1", `[{"id":"a","type":"join","configuration":{"timeout":0}}]`, noConn)), engine.ValidateOptions{})
	b, err := json.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"severity":"error","flow":"f1","node":"a","nodeType":"join","field":"timeout","message":"must be at least 1"}]`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	if !ps.HasErrors() {
		t.Error("HasErrors is false")
	}
}
