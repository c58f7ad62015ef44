package batch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sluicehq/sluice/nodes/sink/sinktest/killtest"
)

const childEnv = "SLUICE_BATCH_TEST_CHILD_SPOOL"

// runChild is the process TestKilledProcessLosesNothing kills: it accepts
// readings into a spool whose target is down and prints each accepted one.
func runChild(dir string) {
	killtest.Child(func() (func(int) error, error) {
		b, err := Open[item](&target{down: errors.New("down")}, itemCodec{}, Options{
			Name: "child", SpoolDir: dir, Logger: quiet, BatchSize: 10, Interval: time.Millisecond, SegmentBytes: 512,
		})
		if err != nil {
			return nil, err
		}
		return func(i int) error { return b.Accept(context.Background(), []item{{Dev: "a", Seq: i}}) }, nil
	})
}

// TestKilledProcessLosesNothing: kill -9 a process whose spool holds data
// (its target is down), start again on the same spool: every reading it
// acknowledged arrives, once and in order.
func TestKilledProcessLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := t.TempDir()
	acked := killtest.Kill(t, 2000, "readings", childEnv+"="+dir)

	tg := &target{}
	b := open(t, tg, Options{SpoolDir: dir, BatchSize: 100, Interval: time.Millisecond})
	eventually(t, 20*time.Second, "the replay", func() bool { return b.Status().Queued == 0 && tg.count() > acked })
	got := tg.items()
	// Readings the child accepted but had not printed yet may be there too.
	checkExactlyOnceInOrder(t, got, map[string]int{"a": len(got)})
	t.Logf("%d readings acknowledged before the kill, %d replayed", acked+1, len(got))
}
