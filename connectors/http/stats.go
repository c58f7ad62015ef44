package http

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/engine"
)

// Stats holds a source's state and counters, for its Status. The ws
// connector uses it too. The zero value is ready (state stopped).
type Stats struct {
	conns atomic.Int64
	msgs  atomic.Uint64
	bytes atomic.Uint64
	errs  atomic.Uint64

	mu      sync.Mutex
	state   engine.SourceState
	lastErr string
	since   time.Time
}

// SetState records a state change.
func (s *Stats) SetState(st engine.SourceState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != st {
		s.state, s.since = st, time.Now()
	}
}

// Fail counts an error (a refused request or frame) and keeps its text.
func (s *Stats) Fail(format string, args ...any) {
	s.errs.Add(1)
	msg := fmt.Sprintf(format, args...)
	s.mu.Lock()
	s.lastErr = msg
	s.mu.Unlock()
}

// Message counts a message admitted into the flow and its payload bytes.
func (s *Stats) Message(bytes int) {
	s.msgs.Add(1)
	s.bytes.Add(uint64(bytes))
}

// Conn counts a connection (or request in progress) opening (+1) or closing (-1).
func (s *Stats) Conn(delta int64) { s.conns.Add(delta) }

// Conns is the number of open connections.
func (s *Stats) Conns() int64 { return s.conns.Load() }

// Status is the engine's view of the counters.
func (s *Stats) Status() engine.SourceStatus {
	s.mu.Lock()
	st, lastErr, since := s.state, s.lastErr, s.since
	s.mu.Unlock()
	if st == "" {
		st = engine.StateStopped
	}
	return engine.SourceStatus{
		State: st, Connections: s.conns.Load(), Messages: s.msgs.Load(), Bytes: s.bytes.Load(),
		Errors: s.errs.Load(), LastError: lastErr, Since: since,
	}
}

// gate counts the requests a source is handling, so that Stop can wait for
// them; once closed it admits no more.
type gate struct {
	mu     sync.Mutex
	n      int
	closed bool
	zero   chan struct{} // closed when n drops to 0 after close
}

func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.n++
	return true
}

func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.n == 0 && g.closed {
		close(g.zero)
	}
}

// close admits no more requests; the channel is closed once the last one
// has left.
func (g *gate) close() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.closed = true
		g.zero = make(chan struct{})
		if g.n == 0 {
			close(g.zero)
		}
	}
	return g.zero
}

// wait waits for ch until ctx ends.
func wait(ctx context.Context, ch <-chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
