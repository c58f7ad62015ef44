package engine_test

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine/spec"
)

// Test-only node types, registered once for this package's tests.

// passNode tells Success.
type passNode struct{}

func (passNode) Type() string                                   { return "test/pass" }
func (passNode) New() types.Node                                { return passNode{} }
func (passNode) Init(types.Config, types.Configuration) error   { return nil }
func (passNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) { ctx.TellSuccess(msg) }
func (passNode) Destroy()                                       {}

// failNode tells Failure.
type failNode struct{}

func (failNode) Type() string                                 { return "test/fail" }
func (failNode) New() types.Node                              { return failNode{} }
func (failNode) Init(types.Config, types.Configuration) error { return nil }
func (failNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	ctx.TellFailure(msg, errors.New("boom"))
}
func (failNode) Destroy() {}

// hangNode never tells: the message holds its slot until its deadline.
type hangNode struct{}

func (hangNode) Type() string                                 { return "test/hang" }
func (hangNode) New() types.Node                              { return hangNode{} }
func (hangNode) Init(types.Config, types.Configuration) error { return nil }
func (hangNode) OnMsg(types.RuleContext, types.RuleMsg)       {}
func (hangNode) Destroy()                                     {}

// recordNode hands every message to the recorder of its test and tells
// Success; it also records the environment it saw.
type recordNode struct{}

var recorder struct {
	sync.Mutex
	fn func(ctx types.RuleContext, msg types.RuleMsg)
}

func setRecorder(fn func(ctx types.RuleContext, msg types.RuleMsg)) {
	recorder.Lock()
	recorder.fn = fn
	recorder.Unlock()
}

func (recordNode) Type() string                                 { return "test/record" }
func (recordNode) New() types.Node                              { return recordNode{} }
func (recordNode) Init(types.Config, types.Configuration) error { return nil }
func (recordNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	recorder.Lock()
	fn := recorder.fn
	recorder.Unlock()
	if fn != nil {
		fn(ctx, msg)
	}
	ctx.TellSuccess(msg)
}
func (recordNode) Destroy() {}

var destroyed atomic.Int64

// versionNode stamps its configured version into metadata, to see which
// flow version handled a message; Destroy is counted.
type versionNode struct{ tag string }

func (*versionNode) Type() string    { return "test/version" }
func (*versionNode) New() types.Node { return &versionNode{} }
func (n *versionNode) Init(_ types.Config, c types.Configuration) error {
	n.tag, _ = c["tag"].(string)
	return nil
}
func (n *versionNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	msg.Metadata["tag"] = n.tag
	ctx.TellSuccess(msg)
}
func (*versionNode) Destroy() { destroyed.Add(1) }

func init() {
	rel := spec.Relations{Fixed: []string{types.Success, types.Failure}}
	spec.Register(&spec.Node{Type: "test/pass", Category: "test", Summary: "passes", Relations: rel}, passNode{})
	spec.Register(&spec.Node{Type: "test/fail", Category: "test", Summary: "fails", Relations: rel}, failNode{})
	spec.Register(&spec.Node{Type: "test/hang", Category: "test", Summary: "hangs", Relations: rel}, hangNode{})
	spec.Register(&spec.Node{Type: "test/record", Category: "test", Summary: "records", Relations: rel}, recordNode{})
	spec.Register(&spec.Node{Type: "test/version", Category: "test", Summary: "tags", Relations: rel,
		Fields: []*spec.Field{{Name: "tag", Type: spec.String, Help: "tag"}}}, &versionNode{})
}

// panicNode panics.
type panicNode struct{}

func (panicNode) Type() string                                 { return "test/panic" }
func (panicNode) New() types.Node                              { return panicNode{} }
func (panicNode) Init(types.Config, types.Configuration) error { return nil }
func (panicNode) OnMsg(types.RuleContext, types.RuleMsg)       { panic("kaboom") }
func (panicNode) Destroy()                                     {}

func init() {
	spec.Register(&spec.Node{Type: "test/panic", Category: "test", Summary: "panics",
		Relations: spec.Relations{Fixed: []string{types.Success, types.Failure}}}, panicNode{})
}
