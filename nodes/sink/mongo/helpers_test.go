package mongo

import (
	"context"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	mongodrv "go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/sink/sinktest"
	"github.com/sluicehq/sluice/nodes/sink/sinktest/killtest"
	"github.com/sluicehq/sluice/store/mongostore/mongotest"
)

// TestMain runs the kill test's child when asked to; otherwise the tests,
// failing if a goroutine outlives them.
func TestMain(m *testing.M) {
	killtest.Main(m, childDirEnv, func(dir string) { runChild(dir, os.Getenv(childURIEnv)) })
}

var quiet = sinktest.Quiet

const t0 = int64(1763800000000)

func ctxT(t testing.TB) context.Context { return sinktest.Context(t, 60*time.Second) }

// rig is a real engine with the resources sluice serve provides.
type rig struct{ *sinktest.Rig }

func newRig(t testing.TB) rig { return rig{sinktest.NewRig(t)} }

func cfg(s *mongotest.Server, kv ...any) map[string]any {
	m := map[string]any{"uri": s.URI(), "flushInterval": "5ms"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func flowOf(t testing.TB, id string, config map[string]any) *engine.Flow {
	t.Helper()
	return sinktest.Flow(t, id, "mongo", Type, config)
}

func (r rig) deploy(t testing.TB, tenant string, f *engine.Flow, version int) {
	t.Helper()
	r.Deploy(t, tenant, f, version)
}

func (r rig) sendType(t testing.TB, flow, typ, device, data string) *engine.Result {
	t.Helper()
	return r.Send(t, flow, typ, device, data, nil)
}

func (r rig) send(t testing.TB, flow, device, data string) *engine.Result {
	t.Helper()
	return r.Send(t, flow, "TELEMETRY", device, data, nil)
}

var (
	tele       = sinktest.Telemetry
	eventually = sinktest.Eventually
	ok         = sinktest.OK
	failure    = sinktest.Failure
)

// docs returns a collection's documents in natural (insertion) order.
func docs(t testing.TB, c *mongodrv.Client, db, coll string, filter any) []bson.M {
	t.Helper()
	if filter == nil {
		filter = bson.D{}
	}
	cur, err := c.Database(db).Collection(coll).Find(ctxT(t), filter, options.Find())
	if err != nil {
		t.Fatalf("find in %s.%s: %v", db, coll, err)
	}
	var out []bson.M
	if err := cur.All(ctxT(t), &out); err != nil {
		t.Fatalf("read %s.%s: %v", db, coll, err)
	}
	return out
}

func count(t testing.TB, c *mongodrv.Client, db, coll string) int64 {
	t.Helper()
	n, err := c.Database(db).Collection(coll).CountDocuments(ctxT(t), bson.D{})
	if err != nil {
		return -1
	}
	return n
}
