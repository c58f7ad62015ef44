package engine

import (
	"fmt"

	"github.com/rulego/rulego/api/types"
)

// guardedNode wraps every node type a Sluice engine runs: a panic in OnMsg
// becomes a Failure of that message naming the panic, instead of RuleGo's
// recovery, which ends the branch as if it had succeeded.
type guardedNode struct{ types.Node }

func (g guardedNode) New() types.Node { return guardedNode{g.Node.New()} }

func (g guardedNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	defer func() {
		if r := recover(); r != nil {
			ctx.TellFailure(msg, fmt.Errorf("panic: %v", r))
		}
	}()
	g.Node.OnMsg(ctx, msg)
}
