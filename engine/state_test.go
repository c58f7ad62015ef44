package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine"
)

// mapPersister keeps persisted entries in a map, standing in for the
// embedded store's KV table (tested with the real table in cmd/sluice).
type mapPersister struct {
	mu sync.Mutex
	m  map[string]engine.StateEntry
}

func (p *mapPersister) Load(context.Context) (map[string]engine.StateEntry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]engine.StateEntry{}
	for k, v := range p.m {
		out[k] = v
	}
	return out, nil
}

func (p *mapPersister) Put(_ context.Context, k string, e engine.StateEntry) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[k] = e
	return nil
}

func (p *mapPersister) Remove(_ context.Context, k string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.m, k)
	return nil
}

func TestMemoryStateCASTTLAndReload(t *testing.T) {
	ctx := context.Background()
	p := &mapPersister{m: map[string]engine.StateEntry{}}
	s, err := engine.NewMemoryState(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := s.CompareAndSet(ctx, "k", nil, []byte("a"), 0); !ok || err != nil {
		t.Fatalf("CAS on a missing key: %v %v", ok, err)
	}
	if ok, _ := s.CompareAndSet(ctx, "k", nil, []byte("b"), 0); ok {
		t.Fatal("CAS expecting a missing key stored over an existing one")
	}
	if ok, _ := s.CompareAndSet(ctx, "k", []byte("x"), []byte("b"), 0); ok {
		t.Fatal("CAS with a wrong previous value stored")
	}
	if ok, _ := s.CompareAndSet(ctx, "k", []byte("a"), []byte("b"), 0); !ok {
		t.Fatal("CAS with the right previous value did not store")
	}
	if err := s.Set(ctx, "short", []byte("1"), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, ok, _ := s.Get(ctx, "short"); return !ok })
	if err := s.Set(ctx, "gone", []byte("1"), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	// A new store over the same persister sees what the first one wrote.
	s2, err := engine.NewMemoryState(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := s2.Get(ctx, "k"); !ok || string(v) != "b" {
		t.Fatalf("reloaded k = %q %v, want b", v, ok)
	}
	for _, k := range []string{"short", "gone"} {
		if _, ok, _ := s2.Get(ctx, k); ok {
			t.Fatalf("reloaded store has %q", k)
		}
	}
}

func TestMemoryStateLock(t *testing.T) {
	ctx := context.Background()
	s, _ := engine.NewMemoryState(ctx, nil)
	unlock, err := s.Lock(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(short, "k"); err == nil {
		t.Fatal("second Lock of a held key succeeded")
	}
	got := make(chan struct{})
	go func() {
		u, err := s.Lock(ctx, "k")
		if err == nil {
			u()
		}
		close(got)
	}()
	unlock()
	<-got
}
