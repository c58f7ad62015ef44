package mongo

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.mongodb.org/mongo-driver/bson"
	mongodrv "go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/sink/batch"
	"github.com/sluicehq/sluice/store/mongostore/mongotest"
)

// TestMain runs the kill test's child when asked to; otherwise the tests,
// failing if a goroutine outlives them.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		runChild(dir, os.Getenv(childURIEnv))
		return
	}
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.DiscardHandler)

const t0 = int64(1763800000000)

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rig is a real engine with the resources sluice serve provides.
type rig struct {
	m   *engine.Manager
	dir string
	reg *batch.Registry
}

func newRig(t testing.TB) *rig {
	t.Helper()
	m := engine.NewManager(engine.Options{Metrics: prometheus.NewRegistry(), Logger: quiet, MessageTimeout: 10 * time.Second})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	r := &rig{m: m, dir: t.TempDir(), reg: batch.NewRegistry()}
	m.Resources().Provide(batch.DataDirKey, r.dir)
	m.Resources().Provide(batch.RegistryKey, r.reg)
	return r
}

func cfg(s *mongotest.Server, kv ...any) map[string]any {
	m := map[string]any{"uri": s.URI(), "flushInterval": "5ms"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func flowOf(t testing.TB, id string, config map[string]any) *engine.Flow {
	t.Helper()
	f := engine.Flow{RuleChain: engine.FlowInfo{ID: id, Name: id}}
	f.Metadata.Nodes = []engine.Node{{ID: "mongo", Type: Type, Configuration: config}}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := engine.ParseFlow(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (r *rig) deploy(t testing.TB, tenant string, f *engine.Flow, version int) {
	t.Helper()
	if err := r.m.Deploy(ctxT(t), tenant, f, version); err != nil {
		t.Fatalf("deploy: %v", err)
	}
}

func (r *rig) sendType(t testing.TB, flow, typ, device, data string) *engine.Result {
	t.Helper()
	md := map[string]string{}
	if device != "" {
		md[engine.MetaDeviceID] = device
	}
	res, err := r.m.Submit(ctxT(t), flow, engine.Message{Type: typ, Data: data, Metadata: md}, engine.SubmitOptions{Wait: true})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return res
}

func (r *rig) send(t testing.TB, flow, device, data string) *engine.Result {
	t.Helper()
	return r.sendType(t, flow, "TELEMETRY", device, data)
}

func tele(device string, at int64, signals string) string {
	return fmt.Sprintf(`{"deviceId":%q,"ts":%d,"signals":%s}`, device, at, signals)
}

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

func ok(t testing.TB, res *engine.Result) map[string]string {
	t.Helper()
	if res.Status != engine.StatusCompleted || len(res.Ends) != 1 || res.Ends[0].Relation != "Success" {
		t.Fatalf("result = %+v", res)
	}
	return res.Ends[0].Msg.Metadata
}

func failure(t testing.TB, res *engine.Result, want string) {
	t.Helper()
	if len(res.Ends) != 1 || res.Ends[0].Relation != "Failure" {
		t.Fatalf("want a Failure (%s), got %+v", want, res)
	}
	if got := res.Ends[0].Error; !strings.Contains(got, want) {
		t.Errorf("failure %q: want it to say %q", got, want)
	}
}

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
