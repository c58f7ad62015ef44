package conntest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// The node types that end a test flow. Each hands what reaches it to the
// Recorder of its flow (Record) and tells Success; without a recorder it
// only tells Success.
const (
	// RecordType records each message. Its optional "tag" goes into the
	// message's metadata as "tag", to tell flow versions apart.
	RecordType = "conntest/record"
	// CountType only counts.
	CountType = "conntest/count"
	// HoldType signals each message on Held and holds it until Release:
	// the flow fills up.
	HoldType = "conntest/hold"
)

// Recorder collects what reaches the test nodes of its flows.
type Recorder struct {
	mu      sync.Mutex
	msgs    []types.RuleMsg
	taken   int // msgs handed out by Next
	before  func(types.RuleMsg) error
	arrived chan struct{} // poked after each message
	count   atomic.Int64
	held    chan struct{}
	release chan struct{}
	once    sync.Once
}

var recorders = struct {
	sync.Mutex
	m map[string]*Recorder // flow id → its recorder
}{m: map[string]*Recorder{}}

// Record returns the recorder of flows, for the rest of the test. Call it
// after the engine is made: held messages are released when the test ends,
// before the engine shuts down.
func Record(t testing.TB, flows ...string) *Recorder {
	t.Helper()
	r := &Recorder{arrived: make(chan struct{}, 1), held: make(chan struct{}, 1024), release: make(chan struct{})}
	recorders.Lock()
	for _, id := range flows {
		recorders.m[id] = r
	}
	recorders.Unlock()
	t.Cleanup(func() {
		r.Release()
		recorders.Lock()
		for _, id := range flows {
			if recorders.m[id] == r {
				delete(recorders.m, id)
			}
		}
		recorders.Unlock()
	})
	return r
}

// Before makes fn see each message that reaches a RecordType node, before
// it is recorded; when fn returns an error, the message is recorded and
// leaves on Failure with it.
func (r *Recorder) Before(fn func(types.RuleMsg) error) {
	r.mu.Lock()
	r.before = fn
	r.mu.Unlock()
}

// Next returns the next message recorded, waiting for it at most within.
func (r *Recorder) Next(t testing.TB, within time.Duration) types.RuleMsg {
	t.Helper()
	timeout := time.After(within)
	for {
		r.mu.Lock()
		if r.taken < len(r.msgs) {
			m := r.msgs[r.taken]
			r.taken++
			r.mu.Unlock()
			return m
		}
		r.mu.Unlock()
		select {
		case <-r.arrived:
		case <-timeout:
			t.Fatalf("no message reached the flow within %s", within)
			return types.RuleMsg{}
		}
	}
}

// None fails the test when a message was recorded that Next has not
// returned yet.
func (r *Recorder) None(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.taken < len(r.msgs) {
		m := r.msgs[r.taken]
		t.Fatalf("unexpected message reached the flow: %s %v", m.Data, m.Metadata.Values())
	}
}

// All is every message recorded so far.
func (r *Recorder) All() []types.RuleMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]types.RuleMsg(nil), r.msgs...)
}

// Count is how many messages reached the test nodes of the flows.
func (r *Recorder) Count() int64 { return r.count.Load() }

// WaitCount waits until Count reaches n, at most within.
func (r *Recorder) WaitCount(t testing.TB, n int64, within time.Duration) {
	t.Helper()
	timeout := time.After(within)
	for r.count.Load() < n {
		select {
		case <-r.arrived:
		case <-timeout:
			t.Fatalf("counted %d messages in %s, want %d", r.count.Load(), within, n)
		}
	}
}

// Held signals each message that reaches a HoldType node.
func (r *Recorder) Held() <-chan struct{} { return r.held }

// Release lets every held message, and every later one, go on.
func (r *Recorder) Release() { r.once.Do(func() { close(r.release) }) }

func (r *Recorder) poke() {
	select {
	case r.arrived <- struct{}{}:
	default:
	}
}

func recorderOf(ctx types.RuleContext) *Recorder {
	env := engine.EnvOf(ctx)
	if env == nil {
		return nil
	}
	recorders.Lock()
	defer recorders.Unlock()
	return recorders.m[env.FlowID]
}

type testNode struct {
	typ string
	tag string
}

func (n *testNode) Type() string    { return n.typ }
func (n *testNode) New() types.Node { return &testNode{typ: n.typ} }
func (n *testNode) Init(_ types.Config, c types.Configuration) error {
	n.tag, _ = c["tag"].(string)
	return nil
}
func (n *testNode) Destroy() {}

func (n *testNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	r := recorderOf(ctx)
	if r == nil {
		ctx.TellSuccess(msg)
		return
	}
	r.count.Add(1)
	switch n.typ {
	case CountType:
		r.poke()
	case HoldType:
		select {
		case r.held <- struct{}{}:
		default:
		}
		<-r.release
	case RecordType:
		if n.tag != "" {
			msg.Metadata = msg.Metadata.Copy()
			msg.Metadata.PutValue("tag", n.tag)
		}
		r.mu.Lock()
		before := r.before
		r.mu.Unlock()
		var err error
		if before != nil {
			err = before(msg)
		}
		r.mu.Lock()
		r.msgs = append(r.msgs, msg.Copy())
		r.mu.Unlock()
		r.poke()
		if err != nil {
			ctx.TellFailure(msg, err)
			return
		}
	}
	ctx.TellSuccess(msg)
}

func init() {
	rel := spec.Relations{Fixed: []string{types.Success, types.Failure}}
	spec.Register(&spec.Node{Type: RecordType, Category: "action", Summary: "records for the test", Relations: rel,
		Fields: []*spec.Field{{Name: "tag", Type: spec.String, Default: "", Help: "put into the metadata as tag"}}}, &testNode{typ: RecordType})
	spec.Register(&spec.Node{Type: CountType, Category: "action", Summary: "counts for the test", Relations: rel}, &testNode{typ: CountType})
	spec.Register(&spec.Node{Type: HoldType, Category: "action", Summary: "holds for the test", Relations: rel}, &testNode{typ: HoldType})
}
