package engine

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rulego/rulego/api/types"
)

// Errors of message admission.
var (
	ErrOverloaded  = errors.New("overloaded: the flow's in-flight limit is reached")
	ErrNotDeployed = errors.New("flow is not deployed")
	ErrTimeout     = errors.New("message timed out")
	ErrStopping    = errors.New("flow is stopping")
)

// MetaDeviceID is the metadata key that names a message's device; messages
// of one device are processed in arrival order.
const MetaDeviceID = "deviceId"

// Message is a message as Sluice's API and connectors see it.
type Message struct {
	ID       string            `json:"id,omitempty"`
	Ts       int64             `json:"ts,omitempty"`
	Type     string            `json:"type"`
	DataType string            `json:"dataType,omitempty"`
	Data     string            `json:"data"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

func (m Message) ruleMsg() types.RuleMsg {
	dt := types.DataType(m.DataType)
	if dt == "" {
		dt = types.JSON
	}
	md := types.NewMetadata()
	for k, v := range m.Metadata {
		md[k] = v
	}
	ts := m.Ts
	if ts == 0 {
		ts = time.Now().UnixMilli()
	}
	rm := types.NewMsg(ts, m.Type, dt, md, m.Data)
	if m.ID != "" {
		rm.Id = m.ID
	}
	return rm
}

func messageOf(rm types.RuleMsg) Message {
	md := make(map[string]string, len(rm.Metadata))
	for k, v := range rm.Metadata {
		md[k] = v
	}
	return Message{ID: rm.Id, Ts: rm.Ts, Type: rm.Type, DataType: string(rm.DataType), Data: rm.Data, Metadata: md}
}

// Status of a finished message.
type Status string

// Message statuses.
const (
	StatusCompleted Status = "completed" // every branch ended, none in an unhandled Failure
	StatusFailed    Status = "failed"    // a branch ended in an unhandled Failure: dead-lettered
	StatusTimedOut  Status = "timedOut"  // the message deadline passed: dead-lettered
)

// End is where one branch of a message ended.
type End struct {
	Node     string  `json:"node"`
	Relation string  `json:"relation"`
	Error    string  `json:"error,omitempty"`
	Msg      Message `json:"msg"`
}

// Result is what became of a message.
type Result struct {
	MsgID  string `json:"msgId"`
	Status Status `json:"status"`
	Error  string `json:"error,omitempty"`
	Ends   []End  `json:"ends"`
}

// Env is what a node may learn about the flow it runs in. Nodes reach it with
// EnvOf(ctx) from OnMsg; it travels in the message's context.
type Env struct {
	FlowID  string
	Tenant  string
	Version int
	// State outlives a flow version: key it with StateKey.
	State StateStore
	// SideEffects is false in test runs: sinks, notifiers and publishers
	// must then report what they would have done instead of doing it.
	SideEffects bool
	// Resources shares clients between nodes and connectors.
	Resources *Resources
	Logger    *slog.Logger
}

// StateKey is the state key of a node's item; it survives redeploys because
// it names the flow and node, not the version.
func (e *Env) StateKey(nodeID, key string) string {
	return e.Tenant + "/" + e.FlowID + "/" + nodeID + "/" + key
}

type trackerKey struct{}

// EnvOf returns the environment of the message a node is handling, or nil
// outside a Sluice engine. Inside a sub-chain it is the target flow's.
func EnvOf(ctx types.RuleContext) *Env {
	if t := trackerOf(ctx.GetContext()); t != nil {
		return t.env
	}
	return nil
}

func trackerOf(c context.Context) *tracker {
	if c == nil {
		return nil
	}
	t, _ := c.Value(trackerKey{}).(*tracker)
	return t
}

// tracker is a message's view of one flow version: the root flow's, or a
// sub-chain target's (child), all sharing the message's trackCore.
type tracker struct {
	env  *Env
	v    *version
	root bool
	*trackCore
}

// trackCore follows one root message: how many hops it still has to run,
// which nodes hold it, the path it took, where its branches ended, and its
// trace sequence.
type trackCore struct {
	rootID  string
	collect bool // keep every trace event (test runs)
	// pending counts hops started or scheduled and not yet finished; the
	// message is done when it drops to zero (onZero).
	pending atomic.Int64
	onZero  func()

	mu     sync.Mutex
	seq    uint64
	hops   []hop // hops entered and not yet left (few at a time: a slice beats a map)
	path   []string
	ends   []End
	events []TraceEvent
	failed *End
	closed bool
}

type hop struct {
	ctx   types.RuleContext
	node  string
	start time.Time
}

func newTracker(v *version, rootID string, collect bool, onZero func()) *tracker {
	c := &trackCore{rootID: rootID, collect: collect, onZero: onZero}
	c.pending.Store(1) // the first hop
	return &tracker{env: v.env, v: v, root: true, trackCore: c}
}

// child is the tracker of a sub-chain call into version v.
func (t *tracker) child(v *version) *tracker {
	return &tracker{env: v.env, v: v, trackCore: t.trackCore}
}

// add schedules n more hops.
func (c *trackCore) add(n int64) { c.pending.Add(n) }

// done finishes one hop; the last one finishes the message.
func (c *trackCore) done() {
	if c.pending.Add(-1) == 0 && c.onZero != nil {
		c.onZero()
	}
}

func (c *trackCore) enter(ctx types.RuleContext, node string, now time.Time) {
	c.mu.Lock()
	c.hops = append(c.hops, hop{ctx: ctx, node: node, start: now})
	c.path = append(c.path, node)
	c.mu.Unlock()
}

// leave returns when the node was entered (zero when unknown).
func (c *trackCore) leave(ctx types.RuleContext) time.Time {
	c.mu.Lock()
	var start time.Time
	for i := range c.hops {
		if c.hops[i].ctx == ctx {
			start = c.hops[i].start
			last := len(c.hops) - 1
			c.hops[i] = c.hops[last]
			c.hops[last] = hop{}
			c.hops = c.hops[:last]
			break
		}
	}
	c.mu.Unlock()
	return start
}

// holders returns the nodes that hold the message now.
func (c *trackCore) holders() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, h := range c.hops {
		if !seen[h.node] {
			seen[h.node] = true
			out = append(out, h.node)
		}
	}
	if len(out) == 0 && len(c.path) > 0 {
		out = append(out, c.path[len(c.path)-1])
	}
	return out
}

func (c *trackCore) addEnd(e End) {
	c.mu.Lock()
	if !c.closed {
		c.ends = append(c.ends, e)
		if e.Relation == types.Failure && e.Error != "" && c.failed == nil {
			ec := e
			c.failed = &ec
		}
	}
	c.mu.Unlock()
}

func (c *trackCore) snapshotPath() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.path...)
}
