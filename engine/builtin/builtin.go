// Package builtin registers the RuleGo built-in node types that Sluice
// exposes, each with its spec, and Sluice's own replacements for built-ins it
// does not trust (log). Import it for its side effect:
//
//	import _ "github.com/sluicehq/sluice/engine/builtin"
//
// The specs' field names are RuleGo's configuration keys exactly, so a
// validated configuration passes unchanged to the RuleGo node's Init.
// RuleGo's jsFilter, jsSwitch and jsTransform are deliberately absent: their
// sandbox leaks the engine context and secrets (RULEGO-NOTES §6.9).
package builtin

import "github.com/rulego/rulego/api/types"

// Relation names used by the specs.
const (
	relSuccess = types.Success
	relFailure = types.Failure
	relTrue    = types.True
	relFalse   = types.False
	relDefault = "Default" // filter.KeyDefaultRelationType
)

// exprHelp is the shared description of the expression environment.
const exprHelp = "An [expr-lang](https://expr-lang.org/docs/language-definition) expression over `msg` (the payload, decoded when it is JSON), `metadata` (a map of strings), `msgType`, `dataType`, `id`, `ts` (milliseconds) and `data` (the raw payload)."
