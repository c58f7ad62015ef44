package batch

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

const childEnv = "SLUICE_BATCH_TEST_CHILD_SPOOL"

// runChild is the process TestKilledProcessLosesNothing kills: it accepts
// readings into a spool whose target is down and prints each accepted one.
func runChild(dir string) {
	b, err := Open[item](&target{down: errors.New("down")}, itemCodec{}, Options{
		Name: "child", SpoolDir: dir, Logger: quiet, BatchSize: 10, Interval: time.Millisecond, SegmentBytes: 512,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		if err := b.Accept(context.Background(), []item{{Dev: "a", Seq: i}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(i) // acknowledged
	}
}

// TestKilledProcessLosesNothing: kill -9 a process whose spool holds data
// (its target is down), start again on the same spool: every reading it
// acknowledged arrives, once and in order.
func TestKilledProcessLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := -1
	lines := bufio.NewScanner(out)
	for acked < 2000 && lines.Scan() {
		n, err := strconv.Atoi(lines.Text())
		if err != nil {
			t.Fatalf("child said %q", lines.Text())
		}
		acked = n
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: the error says so
	if acked < 2000 {
		t.Fatalf("the child acknowledged only %d readings", acked+1)
	}

	tg := &target{}
	b := open(t, tg, Options{SpoolDir: dir, BatchSize: 100, Interval: time.Millisecond})
	eventually(t, 20*time.Second, "the replay", func() bool { return b.Status().Queued == 0 && tg.count() > acked })
	got := tg.items()
	// Readings the child accepted but had not printed yet may be there too.
	checkExactlyOnceInOrder(t, got, map[string]int{"a": len(got)})
	t.Logf("%d readings acknowledged before the kill, %d replayed", acked+1, len(got))
}
