package builtin

import (
	"github.com/rulego/rulego/components/action"

	"github.com/sluicehq/sluice/engine/spec"
)

func init() {
	spec.Register(delaySpec, &action.DelayNode{})
}

var delaySpec = &spec.Node{
	Type:     "delay",
	Category: "action",
	Summary:  "Hold a message for a while, then pass it on.",
	Doc: "Messages wait in memory, so a delayed message is lost when its flow is redeployed or the server stops, " +
		"and a delay longer than the engine's per-message timeout fails the message. " +
		"When `maxPendingMsgs` are already waiting, a new message leaves on `Failure` at once. " +
		"With `overwrite`, only one message waits at a time: a newer message replaces it, and the newest leaves when the period ends.",
	Fields: []*spec.Field{
		{Name: "periodInSeconds", Type: spec.Int, Default: 60, Min: spec.Num(0), Vars: true, Help: "How long each message waits, in seconds."},
		{Name: "periodInSecondsPattern", Type: spec.String, Default: "", Vars: true,
			Help: "Per-message delay in seconds from `${metadata.key}` or `${msg.key}`; overrides periodInSeconds when set. A value that is not a whole number sends the message on `Failure`.", Example: "${metadata.delay}"},
		{Name: "maxPendingMsgs", Type: spec.Int, Default: 1000, Min: spec.Num(1), Vars: true, Help: "Most messages waiting at once."},
		{Name: "overwrite", Type: spec.Bool, Default: false, Help: "Keep only the newest message while one waits."},
	},
	Relations: spec.Relations{Fixed: []string{relSuccess, relFailure}},
	Examples: []spec.Example{
		{Title: "Wait five seconds", Config: map[string]any{"periodInSeconds": 5}},
		{Title: "Debounce", Config: map[string]any{"periodInSeconds": 10, "overwrite": true}},
	},
}
