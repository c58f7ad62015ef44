package mqtt

import (
	"sync"
	"sync/atomic"
)

// outcome is what became of a message in one flow.
type outcome int32

const (
	// outcomeAck: the flow handled it (completed, or failed and
	// dead-lettered without redeliver): acknowledge.
	outcomeAck outcome = iota
	// outcomeAbandon: the node is stopping and did not take it. On a
	// persistent session leave it (and everything after it) unacknowledged
	// for the next session; otherwise acknowledge.
	outcomeAbandon
	// outcomeRedeliver: do not acknowledge; on a persistent session,
	// reconnect so that the broker sends it again.
	outcomeRedeliver
)

// acker is the one method of a received message the queue needs
// (paho.Message.Ack).
type acker interface{ Ack() }

// ackEntry is one received QoS 1/2 message waiting for the flows it went to.
type ackEntry struct {
	m       acker
	pending atomic.Int32 // flows still holding it
	worst   atomic.Int32 // the gravest outcome so far
	q       *ackQueue
}

// finish records one flow's outcome; the last one lets the queue move on.
func (e *ackEntry) finish(o outcome) {
	for {
		w := e.worst.Load()
		if int32(o) <= w || e.worst.CompareAndSwap(w, int32(o)) {
			break
		}
	}
	if e.pending.Add(-1) == 0 {
		e.q.poke()
	}
}

// ackQueue acknowledges messages in the order they arrived (MQTT 3.1.1
// §4.6): a message's PUBACK/PUBREC waits until every earlier message of the
// connection has been acknowledged. Flows finish messages out of order
// (different devices run in parallel), so finished entries wait at the queue
// until the ones before them are done.
type ackQueue struct {
	mu      sync.Mutex
	entries []*ackEntry
	head    int
	wake    chan struct{}
	// persistent: the session survives a reconnect, so a message that is
	// not acknowledged is sent again. Without it, nothing is redelivered and
	// a message is acknowledged whatever its outcome.
	persistent bool
	// kick asks the connection to reconnect (redelivery); called once.
	kick func()
	// acked is told of every acknowledgement (ok: the flows handled it).
	acked func(ok bool)
	// stopped: a redelivery is pending; nothing more is acknowledged on
	// this connection.
	stopped bool
}

func newAckQueue(persistent bool, kick func(), acked func(ok bool)) *ackQueue {
	return &ackQueue{wake: make(chan struct{}, 1), persistent: persistent, kick: kick, acked: acked}
}

// push appends a message that n flows will finish.
func (q *ackQueue) push(m acker, n int) *ackEntry {
	e := &ackEntry{m: m, q: q}
	e.pending.Store(int32(n))
	q.mu.Lock()
	q.entries = append(q.entries, e)
	q.mu.Unlock()
	if n == 0 {
		q.poke()
	}
	return e
}

func (q *ackQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next pops the head entry when it is finished.
func (q *ackQueue) next() *ackEntry {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped || q.head == len(q.entries) {
		return nil
	}
	e := q.entries[q.head]
	if e.pending.Load() > 0 {
		return nil
	}
	q.entries[q.head] = nil
	q.head++
	if q.head == len(q.entries) {
		q.entries, q.head = q.entries[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.entries) {
		n := copy(q.entries, q.entries[q.head:])
		clear(q.entries[n:])
		q.entries, q.head = q.entries[:n], 0
	}
	return e
}

// flush acknowledges every finished entry at the head of the queue, in
// order. It stops at the first unfinished one, and for good at one to
// redeliver on a persistent session: that entry and all after it stay
// unacknowledged, and the connection is asked to reconnect.
func (q *ackQueue) flush() {
	for {
		e := q.next()
		if e == nil {
			return
		}
		o := outcome(e.worst.Load())
		if o != outcomeAck && q.persistent {
			q.mu.Lock()
			q.stopped = true
			q.mu.Unlock()
			if o == outcomeRedeliver {
				q.kick()
			}
			return
		}
		e.m.Ack()
		if q.acked != nil {
			q.acked(o == outcomeAck)
		}
	}
}

// run acknowledges until stop is closed, then flushes once more.
func (q *ackQueue) run(stop <-chan struct{}) {
	for {
		select {
		case <-q.wake:
			q.flush()
		case <-stop:
			q.flush()
			return
		}
	}
}
