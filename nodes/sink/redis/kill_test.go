package redis

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/nodes/sink/batch"
	"github.com/sluicehq/sluice/nodes/sink/sinktest/killtest"
)

const (
	childDirEnv  = "SLUICE_REDISSINK_TEST_CHILD_DIR"
	childAddrEnv = "SLUICE_REDISSINK_TEST_CHILD_ADDR"
)

func sinkOptions(dir string) batch.Options {
	return batch.Options{Name: "kill/redis", Logger: quiet, SpoolDir: filepath.Join(dir, "spool"), BatchSize: 50, Interval: time.Millisecond, SegmentBytes: 4096}
}

// runChild is the process TestKilledSinkLosesNothing kills: a stream sink
// on the real Redis that prints every item it has accepted.
func runChild(dir, addr string) {
	killtest.Child(func() (func(int) error, error) {
		t := newTarget(conn{Addr: addr}, 0, quiet)
		b, err := batch.Open[Item](t, Codec{}, sinkOptions(dir))
		if err != nil {
			return nil, err
		}
		return func(i int) error {
			items := []Item{{Kind: KindStream, Key: "kill", Fields: []string{"i", strconv.Itoa(i)}}}
			t.assign(items, []uint64{uint64(t0 + int64(i/3))}) // three items per millisecond
			return b.Accept(context.Background(), items)
		}, nil
	})
}

// TestKilledSinkLosesNothing: kill -9 a process that streams into Redis
// through a sink (some items written, some in the spool), start again on
// the same spool: every acknowledged item is in the stream, once, in order.
func TestKilledSinkLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	s := startRedis(t)
	c := s.client()
	defer c.Close()
	dir := t.TempDir()
	acked := killtest.Kill(t, 3000, "items", childDirEnv+"="+dir, childAddrEnv+"="+s.addr())
	written, _ := c.XLen(ctxT(t), "kill").Result()

	tg := newTarget(conn{Addr: s.addr()}, 0, quiet)
	defer tg.close()
	b, err := batch.Open[Item](tg, Codec{}, sinkOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	eventually(t, 20*time.Second, "the replay", func() bool { return b.Status().Queued == 0 })
	got := streamOf(t, c, "kill")
	if len(got) <= acked {
		t.Fatalf("%d entries stored, %d acknowledged", len(got), acked+1)
	}
	for i, m := range got {
		if want := fmt.Sprintf("%d-%d", t0+int64(i/3), i%3); m.ID != want || m.Values["i"] != strconv.Itoa(i) {
			t.Fatalf("entry %d is %s %v: a gap or a duplicate", i, m.ID, m.Values)
		}
	}
	t.Logf("%d items acknowledged before the kill, %d of them in Redis then, %d after the replay", acked+1, written, len(got))
}
