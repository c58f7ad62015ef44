package batch

import (
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine"
)

// TestSharedJoinAfterLeaveFails: a message that reaches a sink node after
// its Destroy (Leave) — the drain deadline passed while an upstream node
// still ran — gets ErrStopped and acquires nothing: the batcher (its
// goroutines, its spool) is not opened again and stays out of the
// registry, and Leave releases what the first Join took exactly once.
func TestSharedJoinAfterLeaveFails(t *testing.T) {
	res := engine.NewResources()
	reg := NewRegistry()
	res.Provide(RegistryKey, reg)
	ref := Ref{Tenant: "acme", Flow: "plant", Node: "sink1", Sink: "testSink"}
	opts := Options{Name: ref.String(), SpoolDir: ref.SpoolDir(t.TempDir()), Logger: quiet}
	tg := &target{}
	opened, released := 0, 0
	join := func() (*Batcher[item], []func() error, error) {
		b, release, err := AcquireWriter[item](res, ref, opts, tg, itemCodec{})
		if err != nil {
			return nil, nil, err
		}
		opened++
		return b, []func() error{func() error { released++; return release() }}, nil
	}

	var sh Shared[*Batcher[item]]
	b, err := sh.Join(join)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := sh.Join(join); err != nil || again != b || opened != 1 {
		t.Fatalf("second join: %p %v (opened %d), want the same batcher", again, err, opened)
	}
	accept(t, b, item{Dev: "d", Seq: 0})
	eventually(t, 10*time.Second, "the item written", func() bool { return tg.count() == 1 })
	if st := reg.Statuses("plant"); len(st) != 1 {
		t.Fatalf("statuses before leave = %+v", st)
	}

	sh.Leave()
	if released != 1 || len(reg.Statuses("plant")) != 0 {
		t.Fatalf("after leave: released %d, statuses %+v", released, reg.Statuses("plant"))
	}
	for range 2 {
		got, err := sh.Join(join)
		if !errors.Is(err, ErrStopped) || got != nil {
			t.Fatalf("join after leave: %v, %v; want ErrStopped", got, err)
		}
	}
	if opened != 1 || len(reg.Statuses("plant")) != 0 {
		t.Errorf("join after leave opened the batcher again (opened %d, statuses %+v)", opened, reg.Statuses("plant"))
	}
	sh.Leave() // a second Leave releases nothing more
	if released != 1 {
		t.Errorf("released %d times", released)
	}
	// The batcher is closed: it accepts nothing.
	if err := b.Accept(ctxT(t), []item{{Dev: "d", Seq: 1}}); err == nil {
		t.Error("the left batcher accepted an item")
	}
}
