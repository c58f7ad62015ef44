package batch

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/nodes/sink/sinktest/killtest"
)

// TestMain runs the kill test's child when asked to (see TestKilledProcess
// LosesNothing); otherwise the tests, failing if a goroutine outlives them.
func TestMain(m *testing.M) { killtest.Main(m, childEnv, runChild) }

// item is the test's payload: a device's n-th reading.
type item struct {
	Dev string
	Seq int
}

type itemCodec struct{}

func (itemCodec) Append(dst []byte, it item) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(it.Dev)))
	dst = append(dst, it.Dev...)
	return binary.AppendVarint(dst, int64(it.Seq))
}

func (itemCodec) Decode(b []byte) (item, error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || uint64(len(b)-k) < n {
		return item{}, errors.New("short item")
	}
	dev := string(b[k : k+int(n)])
	seq, k2 := binary.Varint(b[k+int(n):])
	if k2 <= 0 {
		return item{}, errors.New("short item")
	}
	return item{Dev: dev, Seq: int(seq)}, nil
}

// target records what it is written; it can be down (every write fails)
// or held (writes block until released).
type target struct {
	mu      sync.Mutex
	down    error
	hold    chan struct{}
	got     []item
	batches []int
	calls   int
}

func (t *target) Write(ctx context.Context, items []item) error {
	t.mu.Lock()
	t.calls++
	hold, down := t.hold, t.down
	t.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if down != nil {
		return down
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.got = append(t.got, items...)
	t.batches = append(t.batches, len(items))
	return nil
}

func (t *target) setDown(err error) {
	t.mu.Lock()
	t.down = err
	t.mu.Unlock()
}

func (t *target) items() []item {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]item(nil), t.got...)
}

func (t *target) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.got)
}

var quiet = slog.New(slog.DiscardHandler)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// open opens a batcher that the test closes.
func open(t testing.TB, w Writer[item], o Options) *Batcher[item] {
	t.Helper()
	o.Logger = quiet
	if o.Name == "" {
		o.Name = "test/sink"
	}
	b, err := Open[item](w, itemCodec{}, o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) }) // a second Close is a no-op
	return b
}

func accept(t testing.TB, b *Batcher[item], items ...item) {
	t.Helper()
	if err := b.Accept(ctxT(t), items); err != nil {
		t.Fatalf("accept: %v", err)
	}
}

// eventually polls cond every 5ms until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkExactlyOnceInOrder checks that got holds, for each device, its
// readings 0..want[dev]-1 once each and in order.
func checkExactlyOnceInOrder(t testing.TB, got []item, want map[string]int) {
	t.Helper()
	next := map[string]int{}
	for _, it := range got {
		if it.Seq != next[it.Dev] {
			t.Fatalf("device %s: reading %d arrived where %d was due (duplicate, gap or reordering)", it.Dev, it.Seq, next[it.Dev])
		}
		next[it.Dev]++
	}
	for dev, n := range want {
		if next[dev] != n {
			t.Errorf("device %s: %d readings arrived, want %d", dev, next[dev], n)
		}
	}
	if len(next) != len(want) {
		t.Errorf("devices %v arrived, want %v", next, want)
	}
}

func devName(d int) string { return fmt.Sprintf("dev-%d", d) }
