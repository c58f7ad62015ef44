package redis

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/nodes/sink/batch"
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
	t := newTarget(conn{Addr: addr}, 0, quiet)
	b, err := batch.Open[Item](t, Codec{}, sinkOptions(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		items := []Item{{Kind: KindStream, Key: "kill", Fields: []string{"i", strconv.Itoa(i)}}}
		t.assign(items, []uint64{uint64(t0 + int64(i/3))}) // three items per millisecond
		if err := b.Accept(context.Background(), items); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(i) // acknowledged
	}
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
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childAddrEnv+"="+s.addr())
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
	for acked < 3000 && lines.Scan() {
		if acked, err = strconv.Atoi(lines.Text()); err != nil {
			t.Fatalf("child said %q", lines.Text())
		}
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	_ = cmd.Wait() // killed: the error says so
	if acked < 3000 {
		t.Fatalf("the child acknowledged only %d items", acked+1)
	}
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
