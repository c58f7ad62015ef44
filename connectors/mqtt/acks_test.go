package mqtt

import (
	"slices"
	"sync"
	"testing"
)

type fakeMsg struct {
	id  int
	log *[]int
	mu  *sync.Mutex
}

func (m fakeMsg) Ack() {
	m.mu.Lock()
	*m.log = append(*m.log, m.id)
	m.mu.Unlock()
}

func TestAckQueueKeepsArrivalOrder(t *testing.T) {
	var log []int
	var mu sync.Mutex
	q := newAckQueue(true, func() { t.Fatal("kick") }, nil)
	es := make([]*ackEntry, 5)
	for i := range es {
		es[i] = q.push(fakeMsg{i, &log, &mu}, 1)
	}
	for _, i := range []int{4, 2, 3} { // later messages finish first
		es[i].finish(outcomeAck)
		q.flush()
	}
	if len(log) != 0 {
		t.Fatalf("acknowledged %v before message 0 finished", log)
	}
	es[0].finish(outcomeAck)
	q.flush()
	if !slices.Equal(log, []int{0}) {
		t.Fatalf("acks %v, want [0]", log)
	}
	es[1].finish(outcomeAck)
	q.flush()
	if !slices.Equal(log, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("acks %v", log)
	}
	// A message that no flow took (n = 0) is acknowledged in its turn.
	q.push(fakeMsg{5, &log, &mu}, 0)
	q.flush()
	if !slices.Equal(log, []int{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("acks %v", log)
	}
}

func TestAckQueueRedeliver(t *testing.T) {
	var log []int
	var mu sync.Mutex
	kicks := 0
	q := newAckQueue(true, func() { kicks++ }, nil)
	a := q.push(fakeMsg{0, &log, &mu}, 2) // two flows took it
	b := q.push(fakeMsg{1, &log, &mu}, 1)
	c := q.push(fakeMsg{2, &log, &mu}, 1)
	b.finish(outcomeAck)
	a.finish(outcomeAck)
	q.flush()
	if len(log) != 0 {
		t.Fatalf("acknowledged %v while a flow still holds message 0", log)
	}
	a.finish(outcomeRedeliver) // the second flow failed it
	c.finish(outcomeAck)
	q.flush()
	if len(log) != 0 || kicks != 1 {
		t.Fatalf("acks %v, kicks %d: want none and a reconnect", log, kicks)
	}

	// Without a persistent session nothing would come back: acknowledge.
	log = nil
	q = newAckQueue(false, func() { t.Fatal("kick") }, nil)
	q.push(fakeMsg{0, &log, &mu}, 1).finish(outcomeRedeliver)
	q.push(fakeMsg{1, &log, &mu}, 1).finish(outcomeAbandon)
	q.flush()
	if !slices.Equal(log, []int{0, 1}) {
		t.Fatalf("acks %v", log)
	}

	// Abandoned (the node is stopping) on a persistent session: left for the
	// next session, no reconnect.
	log = nil
	q = newAckQueue(true, func() { t.Fatal("kick") }, nil)
	q.push(fakeMsg{0, &log, &mu}, 1).finish(outcomeAck)
	q.push(fakeMsg{1, &log, &mu}, 1).finish(outcomeAbandon)
	q.push(fakeMsg{2, &log, &mu}, 1).finish(outcomeAck)
	q.flush()
	if !slices.Equal(log, []int{0}) {
		t.Fatalf("acks %v", log)
	}
}
