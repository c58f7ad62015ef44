package engine

import (
	"sync"
	"sync/atomic"
	"time"
)

// Trace directions.
const (
	DirIn  = "in"  // a node received the message
	DirOut = "out" // a node emitted the message on a relation
)

// TraceEvent is one step of one message through a flow.
type TraceEvent struct {
	Flow     string `json:"flow"`
	Version  int    `json:"version"`
	RootID   string `json:"rootId"`
	MsgID    string `json:"msgId"`
	ParentID string `json:"parentId,omitempty"`
	// Seq orders the events of one root message.
	Seq       uint64            `json:"seq"`
	Node      string            `json:"node"`
	NodeType  string            `json:"nodeType,omitempty"`
	Direction string            `json:"direction"`
	Relation  string            `json:"relation,omitempty"`
	Error     string            `json:"error,omitempty"`
	Duration  time.Duration     `json:"durationNs,omitempty"`
	Ts        time.Time         `json:"ts"`
	MsgType   string            `json:"msgType,omitempty"`
	DataType  string            `json:"dataType,omitempty"`
	Data      string            `json:"data"`
	Truncated bool              `json:"truncated,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// TraceBus fans trace events out to subscribers of a flow. Publishing never
// blocks: a subscriber whose buffer is full loses the event and its dropped
// counter grows. With no subscriber for a flow, the engine does not even
// build the events (Active).
type TraceBus struct {
	mu     sync.Mutex
	subs   map[string][]*Subscription // copy-on-write per flow
	active sync.Map                   // flow id -> *atomic.Int32 (subscriber count)
	drops  atomic.Uint64
}

// NewTraceBus returns an empty bus.
func NewTraceBus() *TraceBus { return &TraceBus{subs: map[string][]*Subscription{}} }

// Subscription receives the trace events of one flow.
type Subscription struct {
	bus     *TraceBus
	flow    string
	ch      chan TraceEvent
	dropped atomic.Uint64
	once    sync.Once
}

// C is the channel of events; it is closed by Close.
func (s *Subscription) C() <-chan TraceEvent { return s.ch }

// Dropped is how many events this subscriber lost because it was slow.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close unsubscribes and closes C.
func (s *Subscription) Close() { s.once.Do(func() { s.bus.remove(s) }) }

// Subscribe starts receiving the events of a flow (every version of it).
func (b *TraceBus) Subscribe(flow string, buffer int) *Subscription {
	if buffer <= 0 {
		buffer = 256
	}
	s := &Subscription{bus: b, flow: flow, ch: make(chan TraceEvent, buffer)}
	b.mu.Lock()
	old := b.subs[flow]
	next := make([]*Subscription, 0, len(old)+1)
	next = append(append(next, old...), s)
	b.subs[flow] = next
	b.counter(flow).Add(1)
	b.mu.Unlock()
	return s
}

func (b *TraceBus) counter(flow string) *atomic.Int32 {
	c, _ := b.active.LoadOrStore(flow, new(atomic.Int32))
	return c.(*atomic.Int32)
}

func (b *TraceBus) remove(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old := b.subs[s.flow]
	next := make([]*Subscription, 0, len(old))
	for _, x := range old {
		if x != s {
			next = append(next, x)
		}
	}
	b.subs[s.flow] = next
	b.counter(s.flow).Add(-1)
	close(s.ch) // publish holds b.mu, so no send races with this close
}

// Active reports whether anyone listens to the flow.
func (b *TraceBus) Active(flow string) bool {
	c, ok := b.active.Load(flow)
	return ok && c.(*atomic.Int32).Load() > 0
}

// Dropped is how many events all subscribers lost in total.
func (b *TraceBus) Dropped() uint64 { return b.drops.Load() }

func (b *TraceBus) publish(ev TraceEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, s := range b.subs[ev.Flow] {
		select {
		case s.ch <- ev:
		default:
			s.dropped.Add(1)
			b.drops.Add(1)
		}
	}
}
