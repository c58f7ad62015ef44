package batch

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// modes runs a test with the queue in memory and with a spool.
func modes(t *testing.T, fn func(t *testing.T, spool string)) {
	t.Run("memory", func(t *testing.T) { fn(t, "") })
	t.Run("spool", func(t *testing.T) { fn(t, t.TempDir()) })
}

func TestBatchesBySize(t *testing.T) {
	modes(t, func(t *testing.T, dir string) {
		tg := &target{}
		b := open(t, tg, Options{SpoolDir: dir, BatchSize: 100, Interval: time.Hour, QueueSize: 1000})
		for i := range 250 {
			accept(t, b, item{Dev: "a", Seq: i})
		}
		// Two full batches go at once; the last 50 wait for the interval.
		eventually(t, 10*time.Second, "two batches", func() bool { return tg.count() == 200 })
		if st := b.Status(); st.Queued != 50 || st.Batches != 2 || st.LastBatchSize != 100 || st.Accepted != 250 {
			t.Errorf("status = %+v", st)
		}
		// Close writes the rest.
		if err := b.Close(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		checkExactlyOnceInOrder(t, tg.items(), map[string]int{"a": 250})
		if !slices.Equal(tg.batches, []int{100, 100, 50}) {
			t.Errorf("batches = %v", tg.batches)
		}
		if st := b.Status(); st.State != StateClosed || st.Queued != 0 || st.Written != 250 {
			t.Errorf("status after close = %+v", st)
		}
	})
}

func TestBatchesByInterval(t *testing.T) {
	modes(t, func(t *testing.T, dir string) {
		tg := &target{}
		b := open(t, tg, Options{SpoolDir: dir, BatchSize: 1000, Interval: 20 * time.Millisecond})
		accept(t, b, item{Dev: "a"}, item{Dev: "a", Seq: 1}, item{Dev: "a", Seq: 2})
		eventually(t, 10*time.Second, "the interval's batch", func() bool { return tg.count() == 3 })
		if st := b.Status(); st.Batches != 1 || st.LastBatchSize != 3 || st.Queued != 0 || st.SpoolBytes != 0 {
			t.Errorf("status = %+v", st)
		}
	})
}

// TestTargetFailsThenRecovers: while the target fails, items keep being
// accepted (into the spool); the failed batch is retried with backoff; when
// the target is back, every item arrives exactly once and in order per
// device.
func TestTargetFailsThenRecovers(t *testing.T) {
	modes(t, func(t *testing.T, dir string) {
		tg := &target{}
		b := open(t, tg, Options{SpoolDir: dir, BatchSize: 50, Interval: 5 * time.Millisecond, QueueSize: 300,
			RetryMin: time.Millisecond, RetryMax: 20 * time.Millisecond, SegmentBytes: 4096, SpoolMaxBytes: 1 << 20})
		const devices, per = 4, 400
		var wg sync.WaitGroup
		failAt := make(chan struct{})
		for d := range devices {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range per {
					if d == 0 && i == per/4 {
						tg.setDown(errors.New("connection refused"))
						close(failAt)
					}
					// Without a spool the queue fills during the outage
					// and Accept waits (backpressure) until it drains.
					if err := b.Accept(context.Background(), []item{{Dev: devName(d), Seq: i}}); err != nil {
						t.Errorf("accept: %v", err)
						return
					}
				}
			}()
		}
		<-failAt
		eventually(t, 10*time.Second, "failed writes", func() bool { return b.Status().Failures >= 3 })
		if st := b.Status(); st.State != StateRetrying {
			t.Errorf("status during the outage = %+v", st)
		}
		tg.setDown(nil)
		wg.Wait()
		eventually(t, 20*time.Second, "every item written", func() bool { return b.Status().Queued == 0 })
		st := b.Status()
		if st.State != StateOK || st.Failures == 0 || st.Written != devices*per || st.LastError != "connection refused" {
			t.Errorf("status = %+v", st)
		}
		want := map[string]int{}
		for d := range devices {
			want[devName(d)] = per
		}
		checkExactlyOnceInOrder(t, tg.items(), want)
		if dir != "" {
			segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
			if len(segs) != 1 || st.SpoolBytes != 0 {
				t.Errorf("after catching up: segments %v, spool bytes %d; want one empty segment", segs, st.SpoolBytes)
			}
		}
	})
}

// TestSpoolReplayAfterCrash: a batcher that dies without writing its queue
// (the target was down) leaves it in the spool; the next one writes it
// first, in order, then what comes after.
func TestSpoolReplayAfterCrash(t *testing.T) {
	dir := t.TempDir()
	down := &target{down: errors.New("down")}
	b := open(t, down, Options{SpoolDir: dir, BatchSize: 10, Interval: time.Millisecond, QueueSize: 25, SegmentBytes: 200, RetryMin: time.Millisecond})
	for i := range 100 {
		accept(t, b, item{Dev: "a", Seq: i}, item{Dev: "b", Seq: i})
	}
	eventually(t, 10*time.Second, "a failed write", func() bool { return b.Status().Failures > 0 })
	b.abandon() // a crash: no last write, no sync, no cursor

	tg := &target{}
	b2 := open(t, tg, Options{SpoolDir: dir, BatchSize: 10, Interval: time.Millisecond})
	if st := b2.Status(); st.Queued != 200 && st.Written == 0 {
		t.Errorf("reopened status = %+v, want 200 queued", st)
	}
	accept(t, b2, item{Dev: "a", Seq: 100})
	eventually(t, 10*time.Second, "the replay", func() bool { return tg.count() == 201 })
	checkExactlyOnceInOrder(t, tg.items(), map[string]int{"a": 101, "b": 100})
}

// TestSpoolReplayAfterPartialWrite: after a crash, what was written before
// it may be written again (at least once), never skipped.
func TestSpoolReplayAfterPartialWrite(t *testing.T) {
	dir := t.TempDir()
	tg := &target{}
	b := open(t, tg, Options{SpoolDir: dir, BatchSize: 7, Interval: time.Millisecond})
	for i := range 50 {
		accept(t, b, item{Dev: "a", Seq: i})
	}
	eventually(t, 10*time.Second, "some writes", func() bool { return tg.count() > 0 })
	b.abandon()
	first := tg.items()

	tg2 := &target{}
	b2 := open(t, tg2, Options{SpoolDir: dir, BatchSize: 7, Interval: time.Millisecond})
	accept(t, b2, item{Dev: "a", Seq: 50})
	eventually(t, 10*time.Second, "the replay", func() bool { return b2.Status().Queued == 0 })
	again := tg2.items()
	if len(again) == 0 || again[len(again)-1].Seq != 50 {
		t.Fatalf("replay = %v", again)
	}
	// The replay starts at or before where the first writer stopped, and
	// together they cover every reading in order.
	if again[0].Seq > len(first) {
		t.Fatalf("replay starts at %d, after the %d written: readings skipped", again[0].Seq, len(first))
	}
	for i, it := range again {
		if it.Seq != again[0].Seq+i {
			t.Fatalf("replay out of order at %d: %v", i, again)
		}
	}
}

func TestTornRecordIsCutOff(t *testing.T) {
	dir := t.TempDir()
	down := &target{down: errors.New("down")}
	b := open(t, down, Options{SpoolDir: dir, Interval: time.Hour})
	for i := range 10 {
		accept(t, b, item{Dev: "a", Seq: i})
	}
	b.abandon()
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if len(segs) != 1 {
		t.Fatalf("segments %v", segs)
	}
	// A crash in the middle of a write: half a frame at the end.
	f, err := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{40, 0, 0, 0, 1, 2, 3, 4, 'x'}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	tg := &target{}
	b2 := open(t, tg, Options{SpoolDir: dir, Interval: time.Millisecond})
	accept(t, b2, item{Dev: "a", Seq: 10})
	eventually(t, 10*time.Second, "the replay", func() bool { return tg.count() == 11 })
	checkExactlyOnceInOrder(t, tg.items(), map[string]int{"a": 11})
}

// TestBackpressure: a full queue fails at once (Fail) or holds the caller
// until there is room or its deadline (Wait); nothing is dropped.
func TestBackpressure(t *testing.T) {
	modes(t, func(t *testing.T, dir string) {
		for _, mode := range []WhenFull{Fail, Wait} {
			t.Run(string(mode), func(t *testing.T) {
				hold := make(chan struct{})
				tg := &target{hold: hold}
				// Room for 10 items either way: 10 in memory, or about 10
				// records of 9 bytes (8 of frame + 4 of item) in the spool.
				b := open(t, tg, Options{SpoolDir: dir, WhenFull: mode, BatchSize: 4, Interval: time.Millisecond,
					QueueSize: 10, SpoolMaxBytes: 10 * 12, SegmentBytes: 10 * 12})
				for i := range 10 {
					accept(t, b, item{Dev: "a", Seq: i})
				}
				ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
				defer cancel()
				start := time.Now()
				err := b.Accept(ctx, []item{{Dev: "a", Seq: 10}})
				if !errors.Is(err, ErrFull) {
					t.Fatalf("accept into a full queue: %v, want ErrFull", err)
				}
				if mode == Wait && time.Since(start) < 40*time.Millisecond {
					t.Errorf("wait mode gave up after %s, before the caller's deadline", time.Since(start))
				}
				if mode == Wait && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("error %q does not carry the deadline", err)
				}
				if !strings.Contains(err.Error(), "10 items queued") {
					t.Errorf("error %q does not say what is queued", err)
				}
				if st := b.Status(); st.Refused != 1 {
					t.Errorf("status = %+v, want 1 refused", st)
				}
				// A waiting caller gets in once the target takes writes.
				done := make(chan error, 1)
				go func() { done <- b.Accept(context.Background(), []item{{Dev: "a", Seq: 10}}) }()
				if mode == Wait {
					select {
					case err := <-done:
						t.Fatalf("accept returned %v while the queue was full", err)
					case <-time.After(20 * time.Millisecond):
					}
				}
				close(hold)
				if err := <-done; mode == Wait && err != nil {
					t.Fatalf("accept after room was made: %v", err)
				} else if mode == Fail && err != nil {
					// Fail mode may still see the queue full: retry until in.
					eventually(t, 10*time.Second, "room", func() bool { return b.Accept(ctxT(t), []item{{Dev: "a", Seq: 10}}) == nil })
				}
				eventually(t, 10*time.Second, "every item written", func() bool { return tg.count() == 11 })
				checkExactlyOnceInOrder(t, tg.items(), map[string]int{"a": 11})
			})
		}
	})
}

func TestTooLargeAndClosed(t *testing.T) {
	modes(t, func(t *testing.T, dir string) {
		b := open(t, &target{}, Options{SpoolDir: dir, QueueSize: 2, SpoolMaxBytes: 20})
		big := []item{{Dev: "a"}, {Dev: "a", Seq: 1}, {Dev: "a", Seq: 2}}
		if err := b.Accept(ctxT(t), big); !errors.Is(err, ErrTooLarge) {
			t.Errorf("accept of more than the queue holds: %v, want ErrTooLarge", err)
		}
		if err := b.Close(ctxT(t)); err != nil {
			t.Fatal(err)
		}
		if err := b.Accept(ctxT(t), []item{{Dev: "a"}}); !errors.Is(err, ErrClosed) {
			t.Errorf("accept after close: %v, want ErrClosed", err)
		}
	})
}

// TestCloseKeepsTheQueue: closing while the target is down keeps the queue
// in the spool (and returns promptly); without a spool, Close says how many
// items are lost.
func TestCloseKeepsTheQueue(t *testing.T) {
	dir := t.TempDir()
	down := &target{down: errors.New("down")}
	b := open(t, down, Options{SpoolDir: dir, Interval: time.Millisecond, RetryMin: time.Hour})
	accept(t, b, item{Dev: "a"}, item{Dev: "a", Seq: 1})
	eventually(t, 10*time.Second, "a failed write", func() bool { return b.Status().State == StateRetrying })
	start := time.Now()
	if err := b.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("close took %s with a failing target", time.Since(start))
	}
	tg := &target{}
	b2 := open(t, tg, Options{SpoolDir: dir, Interval: time.Millisecond})
	eventually(t, 10*time.Second, "the replay", func() bool { return tg.count() == 2 })
	if err := b2.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	mem := open(t, &target{down: errors.New("down")}, Options{Interval: time.Millisecond, RetryMin: time.Millisecond})
	accept(t, mem, item{Dev: "a"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := mem.Close(ctx); err == nil || !strings.Contains(err.Error(), "1 items not written") {
		t.Errorf("close of a memory queue holding an item: %v", err)
	}
}

// TestPermanentErrorIsCountedNotRetried: a batch the target refuses for
// good is dropped loudly (Rejected, LastError), and the items after it go on.
func TestPermanentErrorIsCountedNotRetried(t *testing.T) {
	var calls int
	var mu sync.Mutex
	var got []item
	w := WriterFunc[item](func(_ context.Context, items []item) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if items[0].Seq == 0 {
			return Permanent(errors.New("bad item"))
		}
		got = append(got, items...)
		return nil
	})
	b := open(t, w, Options{SpoolDir: t.TempDir(), BatchSize: 1, Interval: time.Millisecond})
	accept(t, b, item{Dev: "a"}, item{Dev: "a", Seq: 1})
	eventually(t, 10*time.Second, "the second item", func() bool { return b.Status().Written == 1 })
	if st := b.Status(); st.Rejected != 1 || st.LastError != "bad item" || st.Queued != 0 {
		t.Errorf("status = %+v", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 2 {
		t.Errorf("%d writes, want 2 (no retry of the refused one)", calls)
	}
}

// TestSegmentsGoOnceWritten: written spool files are removed; a restart
// replays nothing that was written before the cursor was saved at close.
func TestSegmentsGoOnceWritten(t *testing.T) {
	dir := t.TempDir()
	tg := &target{}
	b := open(t, tg, Options{SpoolDir: dir, BatchSize: 10, Interval: time.Millisecond, SegmentBytes: 100})
	for i := range 200 {
		accept(t, b, item{Dev: "a", Seq: i})
	}
	eventually(t, 10*time.Second, "every item", func() bool { return b.Status().Queued == 0 })
	if err := b.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if len(segs) != 1 {
		t.Errorf("segments left: %v, want the last one", segs)
	}
	tg2 := &target{}
	b2 := open(t, tg2, Options{SpoolDir: dir, Interval: time.Millisecond})
	if st := b2.Status(); st.Queued != 0 || st.SpoolBytes != 0 {
		t.Errorf("reopened status = %+v, want nothing to replay", st)
	}
	accept(t, b2, item{Dev: "a", Seq: 200})
	eventually(t, 10*time.Second, "the new item", func() bool { return tg2.count() == 1 })
	if got := tg2.items(); got[0].Seq != 200 {
		t.Errorf("after reopening wrote %v", got)
	}
}

func TestRetune(t *testing.T) {
	tg := &target{}
	b := open(t, tg, Options{BatchSize: 1000, Interval: time.Hour})
	accept(t, b, item{Dev: "a"})
	b.Retune(Options{BatchSize: 1, Interval: time.Millisecond})
	eventually(t, 10*time.Second, "the item under the new settings", func() bool { return tg.count() == 1 })
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	b := open(t, &target{}, Options{})
	remove := r.Add("f1", "sink1", "testSink", b)
	stale := r.Add("f1", "sink2", "testSink", b)
	r.Add("f1", "sink2", "testSink", b) // a newer registration of the same node
	stale()                             // removing the older one leaves the newer
	if got := r.Statuses("f1"); len(got) != 2 || got["sink1"].State != StateOK {
		t.Errorf("statuses = %+v", got)
	}
	remove()
	if got := r.Statuses("f1"); len(got) != 1 {
		t.Errorf("statuses after remove = %+v", got)
	}
}

func TestSpoolDirIsOneFolderPerNode(t *testing.T) {
	got := Ref{Tenant: "acme", Flow: "../x", Node: "a/b.c"}.SpoolDir("/data/spool")
	if want := "/data/spool/acme/%2E%2E%2Fx/a%2Fb%2Ec"; got != want {
		t.Errorf("spool dir = %q, want %q", got, want)
	}
}
