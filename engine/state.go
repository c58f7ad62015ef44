package engine

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"
)

// StateStore holds runtime state that must outlive a flow version or a
// restart: alarm state, windows, locks. Keys are built with Env.StateKey.
// The in-process implementation is MemoryState; a Redis implementation comes
// with the scale-out work.
type StateStore interface {
	// Get returns the value of key; ok is false when it is missing or expired.
	Get(ctx context.Context, key string) (value []byte, ok bool, err error)
	// Set stores value; ttl 0 keeps it until deleted.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// CompareAndSet stores next only if the current value equals prev (nil
	// prev: only if the key is missing). It reports whether it stored.
	CompareAndSet(ctx context.Context, key string, prev, next []byte, ttl time.Duration) (bool, error)
	// Delete removes key.
	Delete(ctx context.Context, key string) error
	// Lock takes the per-key lock, waiting until it is free or ctx ends.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// StatePersister is where MemoryState writes through, so that state survives
// a restart (the embedded store's KV table).
type StatePersister interface {
	Load(ctx context.Context) (map[string]StateEntry, error)
	Put(ctx context.Context, key string, e StateEntry) error
	Remove(ctx context.Context, key string) error
}

// StateEntry is a stored value with its expiry (zero: never).
type StateEntry struct {
	Value     []byte
	ExpiresAt time.Time
}

func (e StateEntry) expired(now time.Time) bool {
	return !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt)
}

// MemoryState is the single-instance StateStore: a map guarded by a mutex,
// written through to a persister when it has one.
type MemoryState struct {
	persist StatePersister

	mu    sync.Mutex
	data  map[string]StateEntry
	locks map[string]chan struct{}
}

var _ StateStore = (*MemoryState)(nil)

// NewMemoryState loads the persisted state (when p is not nil) and returns
// the store. Scratch state for test runs passes a nil persister.
func NewMemoryState(ctx context.Context, p StatePersister) (*MemoryState, error) {
	s := &MemoryState{persist: p, data: map[string]StateEntry{}, locks: map[string]chan struct{}{}}
	if p != nil {
		d, err := p.Load(ctx)
		if err != nil {
			return nil, fmt.Errorf("load state: %w", err)
		}
		now := time.Now()
		for k, e := range d {
			if !e.expired(now) {
				s.data[k] = e
			}
		}
	}
	return s, nil
}

func expiry(ttl time.Duration) time.Time {
	if ttl <= 0 {
		return time.Time{}
	}
	return time.Now().Add(ttl)
}

// Get implements StateStore.
func (s *MemoryState) Get(_ context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.data[key]
	if !ok || e.expired(time.Now()) {
		return nil, false, nil
	}
	return bytes.Clone(e.Value), true, nil
}

// Set implements StateStore.
func (s *MemoryState) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store(ctx, key, StateEntry{Value: bytes.Clone(value), ExpiresAt: expiry(ttl)})
}

// store writes through under s.mu, so persisted order equals memory order.
func (s *MemoryState) store(ctx context.Context, key string, e StateEntry) error {
	if s.persist != nil {
		if err := s.persist.Put(ctx, key, e); err != nil {
			return fmt.Errorf("persist state %q: %w", key, err)
		}
	}
	s.data[key] = e
	return nil
}

// CompareAndSet implements StateStore.
func (s *MemoryState) CompareAndSet(ctx context.Context, key string, prev, next []byte, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, ok := s.data[key]
	if ok && cur.expired(time.Now()) {
		ok = false
	}
	switch {
	case prev == nil && ok, prev != nil && (!ok || !bytes.Equal(cur.Value, prev)):
		return false, nil
	}
	return true, s.store(ctx, key, StateEntry{Value: bytes.Clone(next), ExpiresAt: expiry(ttl)})
}

// Delete implements StateStore.
func (s *MemoryState) Delete(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.persist != nil {
		if err := s.persist.Remove(ctx, key); err != nil {
			return fmt.Errorf("persist state %q: %w", key, err)
		}
	}
	delete(s.data, key)
	return nil
}

// Lock implements StateStore.
func (s *MemoryState) Lock(ctx context.Context, key string) (func(), error) {
	for {
		s.mu.Lock()
		held, busy := s.locks[key]
		if !busy {
			ch := make(chan struct{})
			s.locks[key] = ch
			s.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					s.mu.Lock()
					delete(s.locks, key)
					s.mu.Unlock()
					close(ch)
				})
			}, nil
		}
		s.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, fmt.Errorf("lock %q: %w", key, ctx.Err())
		}
	}
}
