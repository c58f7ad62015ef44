package mongo

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

	"go.mongodb.org/mongo-driver/bson"

	"github.com/sluicehq/sluice/nodes/sink/batch"
	"github.com/sluicehq/sluice/store/mongostore/mongotest"
)

const (
	childDirEnv = "SLUICE_MONGOSINK_TEST_CHILD_DIR"
	childURIEnv = "SLUICE_MONGOSINK_TEST_CHILD_URI"
)

func sinkOptions(dir string) batch.Options {
	return batch.Options{Name: "kill/mongo", Logger: quiet, SpoolDir: filepath.Join(dir, "spool"), BatchSize: 50, Interval: time.Millisecond, SegmentBytes: 4096}
}

// killItem is item i of the kill test: an insert with the _id the node
// would fix for it.
func killItem(t testing.TB, i int) Item {
	d := bson.D{{Key: "i", Value: int64(i)}}
	id, err := fixedID("msg-"+strconv.Itoa(i), 0, t0+int64(i), d)
	if err == nil {
		var doc []byte
		if doc, err = bson.Marshal(append(bson.D{{Key: "_id", Value: id}}, d...)); err == nil {
			return Item{DB: "db", Coll: "kill", Op: OpInsert, Doc: doc}
		}
	}
	if t != nil {
		t.Fatal(err)
	}
	panic(err)
}

// runChild is the process TestKilledSinkLosesNothing kills: a sink on the
// real FerretDB that prints every item it has accepted.
func runChild(dir, uri string) {
	tg, err := newTarget(uri, indexes{}, quiet)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	b, err := batch.Open[Item](tg, Codec{}, sinkOptions(dir))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		if err := b.Accept(context.Background(), []Item{killItem(nil, i)}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(i) // acknowledged
	}
}

// TestKilledSinkLosesNothing: kill -9 a process that writes into FerretDB
// through a sink (some documents written, some in the spool), start again
// on the same spool: every acknowledged document is there, once, in order.
func TestKilledSinkLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	s := mongotest.Start(t)
	c := s.Client(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir, childURIEnv+"="+s.URI())
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
	written := count(t, c, "db", "kill")

	tg, err := newTarget(s.URI(), indexes{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.close()
	b, err := batch.Open[Item](tg, Codec{}, sinkOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	eventually(t, 30*time.Second, "the replay", func() bool { return b.Status().Queued == 0 })
	got := docs(t, c, "db", "kill", nil)
	if len(got) <= acked {
		t.Fatalf("%d documents stored, %d acknowledged", len(got), acked+1)
	}
	for i, d := range got {
		if d["i"] != int64(i) {
			t.Fatalf("document %d is %v: a gap, a duplicate or out of order", i, d)
		}
	}
	t.Logf("%d items acknowledged before the kill, %d of them in FerretDB then, %d after the replay", acked+1, written, len(got))
}
