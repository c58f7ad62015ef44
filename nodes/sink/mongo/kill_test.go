package mongo

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/sluicehq/sluice/nodes/sink/batch"
	"github.com/sluicehq/sluice/nodes/sink/sinktest/killtest"
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
	killtest.Child(func() (func(int) error, error) {
		tg, err := newTarget(uri, indexes{}, quiet)
		if err != nil {
			return nil, err
		}
		b, err := batch.Open[Item](tg, Codec{}, sinkOptions(dir))
		if err != nil {
			return nil, err
		}
		return func(i int) error { return b.Accept(context.Background(), []Item{killItem(nil, i)}) }, nil
	})
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
	acked := killtest.Kill(t, 3000, "items", childDirEnv+"="+dir, childURIEnv+"="+s.URI())
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
