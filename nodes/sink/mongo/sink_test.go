package mongo

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rulego/rulego/api/types"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/bson/primitive"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/nodes/sink/batch"
	"github.com/sluicehq/sluice/store/mongostore/mongotest"
)

func TestInsertDocuments(t *testing.T) {
	s := mongotest.Start(t)
	c := s.Client(t)
	r := newRig(t)
	r.deploy(t, "acme", flowOf(t, "plant", cfg(s)), 1)
	r.deploy(t, "acme", flowOf(t, "raw", cfg(s, "collection", "raw_{msgType}", "payloadField", "data", "metaField", "")), 1)

	md := ok(t, r.send(t, "plant", "boiler-7", tele("boiler-7", t0, `{"temperature": 81.5, "count": 3, "running": true, "motor": {"rpm": 1500}, "list": [1, "x"]}`)))
	if md[MetaWrites] != "1" || md[MetaDryRun] != "" {
		t.Errorf("metadata = %v", md)
	}
	// A list: one document each; the device from the metadata; ts as RFC 3339.
	ok(t, r.send(t, "plant", "boiler-8", `[{"v": 1, "ts": "2025-11-22T08:26:42Z"}, {"v": 2}]`))
	// Any payload under a field: text, and JSON that is no object.
	ok(t, r.sendType(t, "raw", "RAW", "gw-1", `not json at all`))
	ok(t, r.sendType(t, "raw", "RAW", "", `[1, 2.5, "x"]`))

	eventually(t, 10*time.Second, "three documents", func() bool { return count(t, c, "sluice_acme", "messages") == 3 })
	got := docs(t, c, "sluice_acme", "messages", nil)
	d := got[0]
	if _, isID := d["_id"].(primitive.ObjectID); !isID {
		t.Errorf("_id = %T %v, want an ObjectId", d["_id"], d["_id"])
	}
	if id := d["_id"].(primitive.ObjectID); id.Timestamp().Unix() != t0/1000 {
		t.Errorf("_id time = %v, want the item's time", id.Timestamp())
	}
	if d["deviceId"] != "boiler-7" || d["ts"] != t0 || d["_ts"] != primitive.NewDateTimeFromTime(time.UnixMilli(t0)) {
		t.Errorf("document = %v", d)
	}
	sig := d["signals"].(bson.M)
	if sig["temperature"] != 81.5 || sig["count"] != int64(3) || sig["running"] != true ||
		!reflect.DeepEqual(sig["motor"], bson.M{"rpm": int64(1500)}) || !reflect.DeepEqual(sig["list"], bson.A{int64(1), "x"}) {
		t.Errorf("signals = %#v", sig)
	}
	meta := d["_meta"].(bson.M)
	if meta["type"] != "TELEMETRY" || meta["flow"] != "plant" || meta["node"] != "mongo" || meta["tenant"] != "acme" || meta["msgId"] == "" ||
		meta["metadata"].(bson.M)["deviceId"] != "boiler-7" {
		t.Errorf("_meta = %v", meta)
	}
	if got[1]["deviceId"] != "boiler-8" || got[1]["v"] != int64(1) || got[2]["v"] != int64(2) ||
		got[1]["_ts"] != primitive.NewDateTimeFromTime(time.Date(2025, 11, 22, 8, 26, 42, 0, time.UTC)) {
		t.Errorf("list documents = %v", got[1:])
	}
	if got[1]["_id"] == got[2]["_id"] {
		t.Error("two items of one message have one _id")
	}

	eventually(t, 10*time.Second, "the raw documents", func() bool { return count(t, c, "sluice_acme", "raw_RAW") == 2 })
	raw := docs(t, c, "sluice_acme", "raw_RAW", nil)
	if raw[0]["data"] != "not json at all" || raw[0]["deviceId"] != "gw-1" || raw[0]["_meta"] != nil {
		t.Errorf("raw text document = %v", raw[0])
	}
	if !reflect.DeepEqual(raw[1]["data"], bson.A{int64(1), 2.5, "x"}) {
		t.Errorf("raw JSON document = %v", raw[1])
	}
	st := r.Reg.Statuses("plant")["mongo"]
	if st.Written != 3 || st.State != batch.StateOK || st.LastError != "" {
		t.Errorf("status = %+v", st)
	}
}

func TestUpsertByKey(t *testing.T) {
	s := mongotest.Start(t)
	c := s.Client(t)
	r := newRig(t)
	r.deploy(t, "acme", flowOf(t, "alarms", cfg(s, "collection", "alarms", "key", []any{"alarmId"})), 1)
	r.deploy(t, "acme", flowOf(t, "stats", cfg(s, "collection", "stats", "key", []any{"job", "window.from"})), 1)
	r.deploy(t, "acme", flowOf(t, "latest", cfg(s, "collection", "latest", "key", []any{"deviceId"}, "upsertBy", "filter", "metaField", "")), 1)
	r.deploy(t, "acme", flowOf(t, "own", cfg(s, "collection", "own")), 1)

	alarm := func(status, severity string, at int64) string {
		return fmt.Sprintf(`{"alarmId":"a1","rule":"overheat","deviceId":"boiler-7","severity":%q,"status":%q,"ts":%d}`, severity, status, at)
	}
	ok(t, r.sendType(t, "alarms", "ALARM", "boiler-7", alarm("active", "major", t0)))
	ok(t, r.sendType(t, "alarms", "ALARM", "boiler-7", alarm("active", "critical", t0+1000)))
	ok(t, r.sendType(t, "alarms", "ALARM", "boiler-7", alarm("cleared", "critical", t0+2000)))
	eventually(t, 10*time.Second, "the alarm's last state", func() bool {
		d := docs(t, c, "sluice_acme", "alarms", nil)
		return len(d) == 1 && d[0]["status"] == "cleared"
	})
	a := docs(t, c, "sluice_acme", "alarms", nil)[0]
	if a["_id"] != "a1" || a["severity"] != "critical" || a["ts"] != t0+2000 {
		t.Errorf("alarm = %v", a)
	}

	stats := func(from int64, avg float64) string {
		return fmt.Sprintf(`{"job":"hourly","window":{"from":%d,"to":%d},"groups":[{"deviceId":"d1","signal":"t","avg":%g}]}`, from, from+3600000, avg)
	}
	ok(t, r.sendType(t, "stats", "STATS", "", stats(t0, 1.5)))
	ok(t, r.sendType(t, "stats", "STATS", "", stats(t0+3600000, 2.5)))
	ok(t, r.sendType(t, "stats", "STATS", "", stats(t0, 3.5))) // a rerun of the first window
	eventually(t, 10*time.Second, "two windows", func() bool {
		d := docs(t, c, "sluice_acme", "stats", bson.D{{Key: "_id", Value: bson.D{{Key: "job", Value: "hourly"}, {Key: "window_from", Value: t0}}}})
		return count(t, c, "sluice_acme", "stats") == 2 && len(d) == 1 && d[0]["groups"].(bson.A)[0].(bson.M)["avg"] == 3.5
	})

	for i := range 3 {
		ok(t, r.send(t, "latest", "d1", tele("d1", t0+int64(i), fmt.Sprintf(`{"i": %d}`, i))))
		ok(t, r.send(t, "latest", "d2", tele("d2", t0+int64(i), fmt.Sprintf(`{"i": %d}`, i))))
	}
	eventually(t, 10*time.Second, "the latest values", func() bool {
		d := docs(t, c, "sluice_acme", "latest", bson.D{{Key: "deviceId", Value: "d2"}})
		return count(t, c, "sluice_acme", "latest") == 2 && len(d) == 1 && d[0]["signals"].(bson.M)["i"] == int64(2)
	})
	idx, err := c.Database("sluice_acme").Collection("latest").Indexes().ListSpecifications(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	unique := false
	for _, ix := range idx {
		if ix.Name == "sluice_key" && ix.Unique != nil && *ix.Unique {
			unique = true
		}
	}
	if !unique {
		t.Errorf("no unique key index: %+v", idx)
	}

	// A sink started again (a restart of the process) finds its index in
	// place and writes on.
	tg, err := newTarget(s.URI(), indexes{unique: []string{"deviceId"}}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.close()
	upsert := Item{DB: "sluice_acme", Coll: "latest", Op: OpUpsert, Filter: mustBSON(t, bson.D{{Key: "deviceId", Value: "d3"}}),
		Doc: mustBSON(t, bson.D{{Key: "deviceId", Value: "d3"}})}
	if err := tg.Write(ctxT(t), []Item{upsert}); err != nil || tg.Note() != "" {
		t.Fatalf("write after a restart: %v (note %q)", err, tg.Note())
	}
	if n := count(t, c, "sluice_acme", "latest"); n != 3 {
		t.Errorf("latest: %d documents, want 3", n)
	}

	// A payload's own _id: an upsert by it.
	ok(t, r.send(t, "own", "", `{"_id": "x", "v": 1}`))
	ok(t, r.send(t, "own", "", `{"_id": "x", "v": 2}`))
	eventually(t, 10*time.Second, "the payload's _id", func() bool {
		d := docs(t, c, "sluice_acme", "own", nil)
		return len(d) == 1 && d[0]["_id"] == "x" && d[0]["v"] == int64(2)
	})
}

func TestDatabasePerTenant(t *testing.T) {
	s := mongotest.Start(t)
	c := s.Client(t)
	r := newRig(t)
	r.deploy(t, "acme", flowOf(t, "acme-plant", cfg(s)), 1)
	r.deploy(t, "globex", flowOf(t, "globex-plant", cfg(s, "database", "plant_{tenant}_{flow}")), 1)
	ok(t, r.send(t, "acme-plant", "a1", tele("a1", t0, `{"v": 1}`)))
	ok(t, r.send(t, "globex-plant", "g1", tele("g1", t0, `{"v": 2}`)))
	eventually(t, 10*time.Second, "a document per tenant", func() bool {
		return count(t, c, "sluice_acme", "messages") == 1 && count(t, c, "plant_globex_globex-plant", "messages") == 1
	})
	if d := docs(t, c, "plant_globex_globex-plant", "messages", nil)[0]; d["deviceId"] != "g1" || d["_meta"].(bson.M)["tenant"] != "globex" {
		t.Errorf("globex document = %v", d)
	}
	if d := docs(t, c, "sluice_acme", "messages", nil)[0]; d["deviceId"] != "a1" {
		t.Errorf("acme document = %v", d)
	}
	names, err := c.ListDatabaseNames(ctxT(t), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(names, []string{"plant_globex_globex-plant", "sluice_acme"}) {
		t.Errorf("databases = %v", names)
	}

	// A flow of globex that names acme's database (or the system records')
	// is refused at deploy: the database must contain {tenant}.
	for _, db := range []string{"sluice_acme", "sluice"} {
		err := r.M.Deploy(ctxT(t), "globex", flowOf(t, "globex-intruder", cfg(s, "database", db)), 1)
		if err == nil || !strings.Contains(err.Error(), "database: \""+db+"\" lacks {tenant}") {
			t.Errorf("deploy of a flow writing into %q: %v, want it refused", db, err)
		}
	}
	// A flow without a tenant has no database of its own.
	n := &Node{}
	if err := n.Init(types.Config{}, cfg(s)); err != nil {
		t.Fatal(err)
	}
	msg := types.NewMsg(t0, "RAW", types.JSON, types.NewMetadata(), `{"v": 1}`)
	if _, err := n.items(&engine.Env{FlowID: "plant"}, "mongo", msg); err == nil || !strings.Contains(err.Error(), "database: the flow has no tenant") {
		t.Errorf("a flow without a tenant: %v", err)
	}
	if got := count(t, c, "sluice_acme", "messages"); got != 1 {
		t.Errorf("sluice_acme holds %d documents, want acme's one", got)
	}
}

func TestBadDocuments(t *testing.T) {
	s := mongotest.Start(t)
	c := s.Client(t)
	r := newRig(t)
	r.deploy(t, "acme", flowOf(t, "plant", cfg(s)), 1)
	r.deploy(t, "acme", flowOf(t, "alarms", cfg(s, "collection", "alarms", "key", []any{"alarmId"})), 1)
	r.deploy(t, "acme", flowOf(t, "per-device", cfg(s, "collection", "dev_{deviceId}")), 1)
	r.deploy(t, "x.y", flowOf(t, "dots", cfg(s)), 1)

	failure(t, r.send(t, "plant", "d1", `not json`), "want a JSON object or a list of them")
	failure(t, r.send(t, "plant", "d1", `42`), "want a JSON object or a list of them")
	failure(t, r.send(t, "plant", "d1", `[{"a": 1}, 2]`), "item 1: want a JSON object, got a number")
	failure(t, r.send(t, "plant", "d1", `[]`), "an empty list")
	failure(t, r.send(t, "plant", "d1", `{"$set": {"a": 1}}`), `field "$set": field name "$set": must not start with $`)
	failure(t, r.send(t, "plant", "d1", `{"signals": {"motor.rpm": 1}}`), `field "signals.motor.rpm"`)
	failure(t, r.send(t, "plant", "d1", `{"ts": "yesterday"}`), `ts: want Unix milliseconds or an RFC 3339 time, got "yesterday"`)
	failure(t, r.sendType(t, "alarms", "ALARM", "d1", `{"rule": "r"}`), `key "alarmId": not in the document`)
	failure(t, r.sendType(t, "alarms", "ALARM", "d1", `{"alarmId": null}`), `key "alarmId": null`)
	failure(t, r.sendType(t, "alarms", "ALARM", "d1", `{"alarmId": [1]}`), `key "alarmId": a list cannot be a key`)
	failure(t, r.send(t, "per-device", "", `{"v": 1}`), "collection: {deviceId}: no device")
	failure(t, r.send(t, "dots", "d1", `{"v": 1}`), `database: database name "sluice_x.y": must not contain`)
	if res := r.send(t, "plant", "d1", `{"v": 1}`); res.Ends[0].Relation != "Success" {
		t.Errorf("a good document after bad ones: %+v", res)
	}
	eventually(t, 10*time.Second, "the good document", func() bool { return count(t, c, "sluice_acme", "messages") == 1 })
	if st := r.Reg.Statuses("plant")["mongo"]; st.Accepted != 1 || st.Rejected != 0 {
		t.Errorf("status = %+v", st)
	}

	// A document over the limit (lowered to 1 MiB: 16 MiB would take
	// seconds under the race detector).
	n := &Node{}
	if err := n.Init(types.Config{}, cfg(s)); err != nil {
		t.Fatal(err)
	}
	n.docLimit = 1 << 20
	big := types.NewMsg(t0, "RAW", types.JSON, types.NewMetadata(), `{"big": "`+strings.Repeat("x", 1<<20)+`"}`)
	if _, err := n.items(&engine.Env{Tenant: "acme", FlowID: "plant"}, "mongo", big); err == nil || !strings.Contains(err.Error(), "larger than MongoDB's limit of 1048576 bytes") {
		t.Errorf("a document over the limit: %v", err)
	}
}

// TestServerRefusesDocuments: a document the server refuses (here one
// that bypassed the node's checks) is skipped and the rest of its batch
// written; a batch of only refused documents is a permanent error.
func TestServerRefusesDocuments(t *testing.T) {
	s := mongotest.Start(t)
	c := s.Client(t)
	tg, err := newTarget(s.URI(), indexes{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.close()
	doc := func(id string, kv ...any) []byte {
		d := bson.D{{Key: "_id", Value: id}}
		for i := 0; i+1 < len(kv); i += 2 {
			d = append(d, bson.E{Key: kv[i].(string), Value: kv[i+1]})
		}
		b, err := bson.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	items := []Item{
		{DB: "db", Coll: "c", Op: OpInsert, Doc: doc("1", "v", 1)},
		{DB: "db", Coll: "c", Op: OpInsert, Doc: doc("2", "a.b", 1)},
		{DB: "db", Coll: "c", Op: OpInsert, Doc: doc("3", "v", 3)},
	}
	if err := tg.Write(ctxT(t), items); err != nil {
		t.Fatalf("write: %v", err)
	}
	if got := docs(t, c, "db", "c", nil); len(got) != 2 || got[0]["_id"] != "1" || got[1]["_id"] != "3" {
		t.Errorf("written = %v", got)
	}
	err = tg.Write(ctxT(t), items[1:2])
	if !batch.IsPermanent(err) || !strings.Contains(err.Error(), `key must not contain '.'`) {
		t.Errorf("only refused documents: %v", err)
	}
}

// TestReplayDoesNotDuplicate: writing a batch again (a replay after a
// crash or a failed confirmation), whole or in part, leaves one document
// per item, in order.
func TestReplayDoesNotDuplicate(t *testing.T) {
	s := mongotest.Start(t)
	c := s.Client(t)
	tg, err := newTarget(s.URI(), indexes{}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.close()
	items := make([]Item, 20)
	for i := range items {
		items[i] = killItem(t, i)
	}
	items[7] = Item{DB: "db", Coll: "other", Op: OpUpsert, Filter: mustBSON(t, bson.D{{Key: "_id", Value: "u"}}), Doc: mustBSON(t, bson.D{{Key: "_id", Value: "u"}, {Key: "n", Value: 7}})}
	if err := tg.Write(ctxT(t), items[:12]); err != nil {
		t.Fatal(err)
	}
	if err := tg.Write(ctxT(t), items[3:5]); err != nil { // a part again
		t.Fatal(err)
	}
	if err := tg.Write(ctxT(t), items); err != nil { // the whole batch again
		t.Fatal(err)
	}
	got := docs(t, c, "db", "kill", nil)
	if len(got) != 19 {
		t.Fatalf("%d documents, want 19", len(got))
	}
	for j, d := range got {
		want := j
		if j >= 7 {
			want = j + 1
		}
		if d["i"] != int64(want) {
			t.Fatalf("document %d = %v, want i %d", j, d, want)
		}
	}
	if n := count(t, c, "db", "other"); n != 1 {
		t.Errorf("upserts: %d documents", n)
	}
}

func mustBSON(t testing.TB, d bson.D) []byte {
	t.Helper()
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTTLRefusedByFerretDB: FerretDB refuses TTL indexes; the node says so
// in its status and log and writes on.
func TestTTLRefusedByFerretDB(t *testing.T) {
	s := mongotest.Start(t)
	c := s.Client(t)
	r := newRig(t)
	r.deploy(t, "acme", flowOf(t, "ttl", cfg(s, "ttl", 3600)), 1)
	for i := range 3 {
		ok(t, r.send(t, "ttl", "d1", tele("d1", t0+int64(i), `{"v": 1}`)))
	}
	eventually(t, 10*time.Second, "the documents", func() bool { return count(t, c, "sluice_acme", "messages") == 3 })
	st := r.Reg.Statuses("ttl")["mongo"]
	if st.State != batch.StateOK || !strings.Contains(st.LastError, "refused the TTL index on sluice_acme.messages") ||
		!strings.Contains(st.LastError, "documents do not expire") || st.Failures != 0 {
		t.Errorf("status = %+v", st)
	}
}

func TestDryRun(t *testing.T) {
	s := mongotest.Start(t)
	c := s.Client(t)
	r := newRig(t)
	f := flowOf(t, "dry", cfg(s, "collection", "alarms", "key", []any{"alarmId"}))
	tr, err := r.M.Test(ctxT(t), "acme", f, engine.Message{Type: "ALARM", Data: `[{"alarmId": "a1"}, {"alarmId": "a2"}]`}, "", false)
	if err != nil {
		t.Fatal(err)
	}
	res := tr.Result
	if len(res.Ends) != 1 || res.Ends[0].Relation != "Success" {
		t.Fatalf("%+v", res)
	}
	md := res.Ends[0].Msg.Metadata
	if md[MetaDryRun] != "true" || md[MetaWouldWrite] != "2" || md[MetaReport] != `would upsert 2 documents into "sluice_acme.alarms" (test run: nothing written)` {
		t.Errorf("metadata = %v", md)
	}
	if names, _ := c.ListDatabaseNames(ctxT(t), bson.D{}); len(names) != 0 {
		t.Errorf("a test run wrote to %v", names)
	}
}

func TestInitErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{}, "uri"},
		{map[string]any{"uri": "http://x"}, "uri: not a usable MongoDB connection string"},
		{map[string]any{"uri": "mongodb://x", "database": "a/{tenant}"}, "database: database name"},
		{map[string]any{"uri": "mongodb://x", "database": "{tenant}_{device}"}, "unknown placeholder {device}"},
		{map[string]any{"uri": "mongodb://x", "database": "sluice"}, `database: "sluice" lacks {tenant}`},
		{map[string]any{"uri": "mongodb://x", "database": "sluice_globex"}, `database: "sluice_globex" lacks {tenant}`},
		{map[string]any{"uri": "mongodb://x", "database": "plant_{flow}"}, `database: "plant_{flow}" lacks {tenant}`},
		{map[string]any{"uri": "mongodb://x", "database": "{Tenant}"}, "unknown placeholder {Tenant}"},
		{map[string]any{"uri": "mongodb://x", "collection": "system.x"}, "system. is reserved"},
		{map[string]any{"uri": "mongodb://x", "key": []any{"a", "a"}}, "listed twice"},
		{map[string]any{"uri": "mongodb://x", "key": []any{"a..b"}}, "not a field path"},
		{map[string]any{"uri": "mongodb://x", "key": []any{"_id"}, "upsertBy": "filter"}, "use upsertBy"},
		{map[string]any{"uri": "mongodb://x", "ttl": 60, "tsField": ""}, "ttl: needs tsField"},
		{map[string]any{"uri": "mongodb://x", "payloadField": "a.b"}, "payloadField"},
		{map[string]any{"uri": "mongodb://x", "upsertBy": "key"}, "upsertBy"},
	} {
		err := (&Node{}).Init(types.Config{}, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Init(%v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	if err := (&Node{}).Init(types.Config{}, map[string]any{"uri": "mongodb://u:p@h1:1,h2:2/?replicaSet=rs&authSource=admin"}); err != nil {
		t.Errorf("a good config: %v", err)
	}
	for _, ex := range sinkSpec.Examples {
		if err := (&Node{}).Init(types.Config{}, ex.Config); err != nil {
			t.Errorf("example %q: %v", ex.Title, err)
		}
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, it := range []Item{
		{DB: "db", Coll: "c", Op: OpInsert, Doc: []byte{5, 0, 0, 0, 0}},
		{DB: "d", Coll: "ü", Op: OpUpsert, Filter: []byte("f"), Doc: []byte("doc")},
	} {
		got, err := Codec{}.Decode(Codec{}.Append(nil, it))
		if err != nil || !reflect.DeepEqual(got, it) {
			t.Errorf("round trip of %+v: %+v, %v", it, got, err)
		}
	}
	b := Codec{}.Append(nil, Item{DB: "db", Coll: "c", Op: OpInsert, Doc: []byte("x")})
	for i := range len(b) {
		if _, err := (Codec{}).Decode(b[:i]); err == nil {
			t.Errorf("truncated at %d: no error", i)
		}
	}
	if _, err := (Codec{}).Decode(append([]byte{'x'}, b[1:]...)); err == nil {
		t.Error("unknown operation: no error")
	}
}

// TestOutage stops FerretDB mid-stream while messages keep coming, starts
// it again on the same port and directory, and checks that every document
// arrived exactly once and in order per device (inserts), and that the
// upserted documents hold the last values.
func TestOutage(t *testing.T) {
	s := mongotest.Start(t)
	c := s.Client(t)
	r := newRig(t)
	r.deploy(t, "acme", flowOf(t, "inserts", cfg(s, "collection", "dev_{deviceId}", "batchSize", 7)), 1)
	r.deploy(t, "acme", flowOf(t, "latest", cfg(s, "collection", "latest", "key", []any{"deviceId"}, "batchSize", 7)), 1)

	devices := []string{"d1", "d2", "d3"}
	const per = 300
	sendRange := func(from, to int) { r.SendRange(t, []string{"inserts", "latest"}, devices, t0, from, to) }
	sendRange(0, per/3)
	// FerretDB (SQLite backend) killed while it creates a database's or a
	// collection's tables may not start again ("no such table:
	// _ferretdb_collections"): let the first writes create them all.
	for _, coll := range []string{"dev_d1", "dev_d2", "dev_d3", "latest"} {
		eventually(t, 20*time.Second, "the first documents of "+coll, func() bool { return count(t, c, "sluice_acme", coll) > 0 })
	}
	mid := make(chan struct{})
	go func() { defer close(mid); sendRange(per/3, per/2) }() // FerretDB goes down mid-stream
	s.Kill()                                                  // as a crash would: what it committed stays
	<-mid
	sendRange(per/2, 2*per/3) // while it is down: into the spool
	eventually(t, 20*time.Second, "failed writes", func() bool {
		st := r.Reg.Statuses("inserts")["mongo"]
		return st.Failures > 0 && st.Queued > 0 && st.State == batch.StateRetrying
	})
	s.Start()
	sendRange(2*per/3, per)

	for _, d := range devices {
		eventually(t, 60*time.Second, "every document of "+d, func() bool { return count(t, c, "sluice_acme", "dev_"+d) >= per })
		got := docs(t, c, "sluice_acme", "dev_"+d, nil)
		if len(got) != per {
			t.Errorf("%s: %d documents, want %d", d, len(got), per)
		}
		for i, doc := range got {
			if v := doc["signals"].(bson.M)["i"]; v != int64(i) {
				t.Fatalf("%s: document %d has i = %v: a gap, a duplicate or out of order", d, i, v)
			}
		}
		eventually(t, 60*time.Second, "the last value of "+d, func() bool {
			l := docs(t, c, "sluice_acme", "latest", bson.D{{Key: "_id", Value: d}})
			return len(l) == 1 && l[0]["signals"].(bson.M)["i"] == int64(per-1)
		})
	}
	if n := count(t, c, "sluice_acme", "latest"); n != int64(len(devices)) {
		t.Errorf("latest: %d documents", n)
	}
	st := r.Reg.Statuses("inserts")["mongo"]
	if st.Failures == 0 || st.Written < uint64(len(devices)*per) || st.Queued != 0 {
		t.Errorf("insert sink status = %+v", st)
	}
}

func TestSpecs(t *testing.T) {
	s := sinkSpec
	reg, found := spec.Lookup(Type)
	if !found || reg.Spec != s || s.Summary == "" || strings.Contains(s.Summary, "\n") {
		t.Fatalf("registration = %+v", reg)
	}
	var check func(fs []*spec.Field)
	check = func(fs []*spec.Field) {
		for _, f := range fs {
			if f.Help == "" {
				t.Errorf("field %q has no help", f.Name)
			}
			if f.Required && (f.Default != nil || f.Example == nil) {
				t.Errorf("field %q is required: want no default and an example", f.Name)
			}
			check(f.Fields)
		}
	}
	check(s.Fields)
	base := s.Defaults()
	base["uri"] = "mongodb://127.0.0.1:27017"
	if ps := s.Check(base); len(ps) > 0 {
		t.Errorf("defaults: %v", ps)
	}
	for _, f := range s.Fields {
		if f.Example != nil {
			cfg := maps.Clone(base)
			cfg[f.Name] = f.Example
			if ps := s.Check(cfg); len(ps) > 0 {
				t.Errorf("example of %q: %v", f.Name, ps)
			}
			if err := (&Node{}).Init(types.NewConfig(), cfg); err != nil {
				t.Errorf("init with the example of %q: %v", f.Name, err)
			}
		}
	}
	for _, ex := range s.Examples {
		if ps := s.Check(ex.Config); len(ps) > 0 {
			t.Errorf("example %q: %v", ex.Title, ps)
		}
	}
	if _, err := json.Marshal(s); err != nil {
		t.Errorf("spec does not encode: %v", err)
	}
}

// TestRedeploy: a new version of the flow that names another server
// writes there; the node's status is registered through the redeploy and
// goes with the flow.
func TestRedeploy(t *testing.T) {
	s1, s2 := mongotest.Start(t), mongotest.Start(t)
	c1, c2 := s1.Client(t), s2.Client(t)
	r := newRig(t)
	r.deploy(t, "acme", flowOf(t, "plant", cfg(s1, "ttl", 60)), 1)
	ok(t, r.send(t, "plant", "d1", tele("d1", t0, `{"v": 1}`)))
	eventually(t, 10*time.Second, "the first document", func() bool { return count(t, c1, "sluice_acme", "messages") == 1 })
	r.deploy(t, "acme", flowOf(t, "plant", cfg(s2)), 2)
	ok(t, r.send(t, "plant", "d1", tele("d1", t0+1, `{"v": 2}`)))
	eventually(t, 10*time.Second, "the second document", func() bool { return count(t, c2, "sluice_acme", "messages") == 1 })
	if n := count(t, c1, "sluice_acme", "messages"); n != 1 {
		t.Errorf("the first server holds %d documents", n)
	}
	st, found := r.Reg.Statuses("plant")["mongo"]
	if !found || st.Written == 0 || st.LastError != "" { // the new version has no ttl: no note
		t.Errorf("status after the redeploy = %+v (registered: %v)", st, found)
	}
	if err := r.M.Undeploy(ctxT(t), "plant"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the sink to unregister", func() bool { return len(r.Reg.Statuses("plant")) == 0 })
}
