package builtin

import (
	"github.com/rulego/rulego/components/action"
	"github.com/rulego/rulego/components/filter"
	"github.com/rulego/rulego/components/flow"

	"github.com/sluicehq/sluice/engine/spec"
)

func init() {
	spec.Register(forkSpec, &filter.ForkNode{})
	spec.Register(joinSpec, &action.JoinNode{})
	spec.Register(flowSpec, &flow.ChainNode{})
}

var forkSpec = &spec.Node{
	Type:     "fork",
	Category: "flow",
	Summary:  "Send a copy of the message down every Success connection in parallel.",
	Doc:      "Connect several nodes on `Success`: each gets its own copy of the message. Use `join` to wait for the branches and merge their results.",
	Fields:   []*spec.Field{},
	Relations: spec.Relations{
		Fixed: []string{relSuccess},
	},
}

var joinSpec = &spec.Node{
	Type:     "join",
	Category: "flow",
	Summary:  "Wait for the parallel branches of a message and merge their results.",
	Doc: "When every node connected into the join has handled the message, one message leaves on `Success`: its payload is a JSON list of the messages " +
		"that arrived and its metadata the union of theirs. When the timeout passes first, the message leaves on `Failure`.",
	Fields: []*spec.Field{
		{Name: "timeout", Type: spec.Int, Required: true, Min: spec.Num(1), Vars: true,
			Help: "Seconds to wait for all branches before giving up. Required: a join without a timeout could hold a message forever.", Example: 10},
	},
	Relations: spec.Relations{Fixed: []string{relSuccess, relFailure}},
}

var flowSpec = &spec.Node{
	Type:     "flow",
	Category: "flow",
	Summary:  "Run the message through another flow (a sub-flow).",
	Doc: "The deployed version of the target flow runs the message. Without `extend`, the node waits until every branch of the sub-flow has ended, " +
		"then sends one message on `Success` (or on `Failure` when a branch failed) whose payload is a JSON list of the branches' final messages. " +
		"With `extend`, each branch's final message leaves this node on the relation it ended with, so any relation may be connected.",
	Fields: []*spec.Field{
		{Name: "targetId", Label: "Flow", Type: spec.Ref, RefKind: spec.RefFlow, Required: true, Help: "Id of the flow to run.", Example: "enrich-readings"},
		{Name: "extend", Type: spec.Bool, Default: false, Help: "Pass each branch's result on its own relation instead of merging them."},
	},
	Relations: spec.Relations{Fixed: []string{relSuccess, relFailure}, DynamicIf: "extend"},
	Examples: []spec.Example{
		{Title: "Merge the results", Config: map[string]any{"targetId": "enrich-readings"}},
		{Title: "Pass relations through", Config: map[string]any{"targetId": "classify", "extend": true}},
	},
}
