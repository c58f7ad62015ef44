package engine

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/rulego/rulego/api/types"
	rgengine "github.com/rulego/rulego/engine"
)

// guardedNode wraps every node type a Sluice engine runs. It gives the node a
// countingCtx, so that Sluice knows when a message is done, and turns a panic
// in OnMsg into a Failure of that message naming the panic (RuleGo's own
// recovery ends the branch as if it had succeeded).
type guardedNode struct{ types.Node }

func (g guardedNode) New() types.Node { return guardedNode{g.Node.New()} }

func (g guardedNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	t := trackerOf(ctx.GetContext())
	if t == nil {
		g.Node.OnMsg(ctx, msg) // not a Sluice message
		return
	}
	cc := &countingCtx{RuleContext: ctx, t: t, node: ctx.GetSelfId()}
	defer func() {
		if r := recover(); r != nil {
			if cc.told.Load() {
				t.env.Logger.Error("node panicked after it had answered", "node", cc.node, "msgId", msg.Id, "panic", fmt.Sprint(r))
				return
			}
			cc.TellFailure(msg, fmt.Errorf("panic: %v", r))
		}
	}()
	g.Node.OnMsg(cc, msg)
}

// countingCtx is the RuleContext a node sees. Before a node's answer reaches
// RuleGo, it counts the hops the answer starts (from the flow's connections)
// into the message's tracker, records branch ends, and after it marks the
// node's own hop done. The message is finished when no hop is left. RuleGo's
// own completion callback cannot be used for this: with a fan-out it can fire
// before the last branch has even started.
type countingCtx struct {
	types.RuleContext
	t    *tracker
	node string
	told atomic.Bool
}

// hopDone finishes this node's hop, once: a node that answers several times
// (TellSelf, join) holds the message until its first answer.
func (c *countingCtx) hopDone() {
	if c.told.CompareAndSwap(false, true) {
		c.t.done()
	}
}

// schedule counts the hops that relations rels (falling back to def) start,
// and records the relations that end a branch.
func (c *countingCtx) schedule(msg types.RuleMsg, err error, def string, rels []string) {
	next := c.t.v.next[c.node]
	if len(rels) == 0 {
		c.end(msg, err, "")
		return
	}
	var n int64
	for _, r := range rels {
		k := next[r]
		if k == 0 && def != "" {
			k = next[def]
		}
		if k == 0 {
			c.end(msg, err, r)
		}
		n += int64(k)
	}
	c.t.add(n)
}

func (c *countingCtx) end(msg types.RuleMsg, err error, relation string) {
	if !c.t.root {
		return // a sub-chain's ends are its caller's business
	}
	e := End{Node: c.node, Relation: relation, Msg: messageOf(msg)}
	if err != nil {
		e.Error = err.Error()
	}
	c.t.addEnd(e)
}

func (c *countingCtx) TellSuccess(msg types.RuleMsg) {
	c.schedule(msg, nil, "", []string{types.Success})
	c.RuleContext.TellSuccess(msg)
	c.hopDone()
}

func (c *countingCtx) TellFailure(msg types.RuleMsg, err error) {
	c.schedule(msg, err, "", []string{types.Failure})
	c.RuleContext.TellFailure(msg, err)
	c.hopDone()
}

func (c *countingCtx) TellNext(msg types.RuleMsg, relationTypes ...string) {
	c.schedule(msg, nil, "", relationTypes)
	c.RuleContext.TellNext(msg, relationTypes...)
	c.hopDone()
}

func (c *countingCtx) TellNextOrElse(msg types.RuleMsg, defaultRelationType string, relationTypes ...string) {
	c.schedule(msg, nil, defaultRelationType, relationTypes)
	c.RuleContext.TellNextOrElse(msg, defaultRelationType, relationTypes...)
	c.hopDone()
}

func (c *countingCtx) TellSelf(msg types.RuleMsg, delayMs int64) {
	c.t.add(1) // the node runs again
	c.RuleContext.TellSelf(msg, delayMs)
	c.hopDone()
}

func (c *countingCtx) TellCollect(msg types.RuleMsg, callback func([]types.WrapperMsg)) bool {
	first := c.RuleContext.TellCollect(msg, callback)
	if !first {
		c.hopDone() // merged into the branch that collects: it answers for all
	}
	return first
}

// TellFlow runs a sub-chain on the currently deployed version of the target
// flow, counted into this message, with the target's Env.
func (c *countingCtx) TellFlow(ctx context.Context, flowID string, msg types.RuleMsg, onEnd types.OnEndFunc, onAllNodeCompleted func()) {
	m := c.t.v.m
	rt := m.runtime(flowID)
	var tv *version
	if rt != nil {
		tv = rt.acquireCurrent()
	}
	if tv == nil {
		c.TellFailure(msg, fmt.Errorf("sub-chain: flow %q is not deployed", flowID))
		return
	}
	if ctx == nil {
		ctx = c.GetContext()
	}
	c.t.add(1) // the sub-chain's first hop
	tv.eng.OnMsg(msg,
		types.WithContext(context.WithValue(ctx, trackerKey{}, c.t.child(tv))),
		types.WithOnEnd(onEnd),
		types.WithOnAllNodeCompleted(func() {
			tv.release()
			if onAllNodeCompleted != nil {
				onAllNodeCompleted()
			}
		}))
}

// MultiTeller is implemented by the RuleContext a Sluice node gets: it
// answers one message with several (a parse that splits one payload into
// readings of several devices). msgs[i] leaves on relations[i]; the input
// message is finished only when all of them are. Telling several times
// through RuleGo's own context is not safe: each Tell rewrites fields the
// previous Tell's children read.
type MultiTeller interface {
	TellEach(msgs []types.RuleMsg, relations []string)
}

var _ MultiTeller = (*countingCtx)(nil)

// TellEach implements MultiTeller: every message after the first leaves
// through a fresh RuleGo context of the same node, so no two answers share
// one; the node's hop is held until all of them are scheduled.
func (c *countingCtx) TellEach(msgs []types.RuleMsg, relations []string) {
	c.t.add(1) // hold the message while the answers are scheduled
	defer c.t.done()
	for i, m := range msgs {
		rc := c.RuleContext
		if i > 0 {
			if dc, ok := c.RuleContext.(*rgengine.DefaultRuleContext); ok {
				rc = dc.NewNextNodeRuleContext(dc.Self())
			}
		}
		c.schedule(m, nil, "", relations[i:i+1])
		rc.TellNext(m, relations[i])
	}
	c.hopDone()
}
