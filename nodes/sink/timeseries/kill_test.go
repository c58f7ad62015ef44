package timeseries

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/nodes/sink/batch"
	"github.com/sluicehq/sluice/nodes/sink/sinktest/killtest"
	ts "github.com/sluicehq/sluice/store/timeseries"
)

const childEnv = "SLUICE_TSSINK_TEST_CHILD_DIR"

func sinkOptions(dir string) batch.Options {
	return batch.Options{Name: "kill/store", Logger: quiet, SpoolDir: filepath.Join(dir, "spool"), BatchSize: 50, Interval: time.Millisecond, SegmentBytes: 4096}
}

// runChild is the process TestKilledSinkLosesNothing kills: a sink on the
// real store that prints every point it has accepted.
func runChild(dir string) {
	killtest.Child(func() (func(int) error, error) {
		store, err := ts.Open(context.Background(), filepath.Join(dir, "data"), ts.Options{Logger: quiet})
		if err != nil {
			return nil, err
		}
		b, err := batch.Open[ts.Point](Target{store}, Codec{}, sinkOptions(dir))
		if err != nil {
			return nil, err
		}
		return func(i int) error {
			p := ts.Point{Tenant: "acme", Device: "a", Signal: "seq", TS: t0 + int64(i), Value: ts.Number(float64(i))}
			return b.Accept(context.Background(), []ts.Point{p})
		}, nil
	})
}

// TestKilledSinkLosesNothing: kill -9 a process that streams into the
// embedded store through a sink (some points written, some in the spool),
// start again on the same spool and store: every acknowledged point is in
// the store, once.
func TestKilledSinkLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := t.TempDir()
	acked := killtest.Kill(t, 3000, "points", childEnv+"="+dir)

	store := openStore(t, filepath.Join(dir, "data"))
	defer store.Close()
	written := len(query(t, store, "a")["a/seq"])
	b, err := batch.Open[ts.Point](Target{store}, Codec{}, sinkOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	eventually(t, 20*time.Second, "the replay", func() bool { return b.Status().Queued == 0 })
	got := query(t, store, "a")["a/seq"]
	if len(got) <= acked {
		t.Fatalf("%d points stored, %d acknowledged", len(got), acked+1)
	}
	for i, s := range got {
		if s.TS != t0+int64(i) || s.Value.Num != float64(i) {
			t.Fatalf("point %d is %+v: a gap or a duplicate", i, s)
		}
	}
	t.Logf("%d points acknowledged before the kill, %d of them in the store then, %d after the replay", acked+1, written, len(got))
}
