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
	Logger      *slog.Logger
}

// StateKey is the state key of a node's item; it survives redeploys because
// it names the flow and node, not the version.
func (e *Env) StateKey(nodeID, key string) string {
	return e.Tenant + "/" + e.FlowID + "/" + nodeID + "/" + key
}

type trackerKey struct{}

// EnvOf returns the environment of the message a node is handling, or nil
// outside a Sluice engine.
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

// tracker follows one root message through a flow version: which nodes hold
// it, the path it took, where its branches ended, and its trace sequence.
type tracker struct {
	env     *Env
	rootID  string
	start   time.Time
	seq     atomic.Uint64
	collect bool // keep every trace event (test runs)

	mu     sync.Mutex
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

func newTracker(env *Env, rootID string, collect bool) *tracker {
	return &tracker{env: env, rootID: rootID, start: time.Now(), collect: collect}
}

func (t *tracker) enter(ctx types.RuleContext, node string, now time.Time) {
	t.mu.Lock()
	t.hops = append(t.hops, hop{ctx: ctx, node: node, start: now})
	t.path = append(t.path, node)
	t.mu.Unlock()
}

// leave returns when the node was entered (zero when unknown).
func (t *tracker) leave(ctx types.RuleContext) time.Time {
	t.mu.Lock()
	var start time.Time
	for i := range t.hops {
		if t.hops[i].ctx == ctx {
			start = t.hops[i].start
			last := len(t.hops) - 1
			t.hops[i] = t.hops[last]
			t.hops[last] = hop{}
			t.hops = t.hops[:last]
			break
		}
	}
	t.mu.Unlock()
	return start
}

// holders returns the nodes that hold the message now.
func (t *tracker) holders() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	seen := map[string]bool{}
	for _, h := range t.hops {
		if !seen[h.node] {
			seen[h.node] = true
			out = append(out, h.node)
		}
	}
	if len(out) == 0 && len(t.path) > 0 {
		out = append(out, t.path[len(t.path)-1])
	}
	return out
}

func (t *tracker) addEnd(e End) {
	t.mu.Lock()
	t.ends = append(t.ends, e)
	if e.Relation == types.Failure && e.Error != "" && t.failed == nil {
		ec := e
		t.failed = &ec
	}
	t.mu.Unlock()
}

func (t *tracker) addEvent(ev TraceEvent) {
	t.mu.Lock()
	if !t.closed {
		t.events = append(t.events, ev)
	}
	t.mu.Unlock()
}

func (t *tracker) snapshotPath() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.path...)
}
