package redis

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/sink/batch"
)

const t0 = int64(1763800000000)

func cfg(s *server, kv ...any) map[string]any {
	m := map[string]any{"server": s.addr(), "flushInterval": "5ms"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

func TestHashLatestValues(t *testing.T) {
	s := startRedis(t)
	c := s.client()
	defer c.Close()
	r := newRig(t)
	r.deploy(t, flowOf(t, "plant", cfg(s)), 1)

	md := ok(t, r.send(t, "plant", "boiler-7", tele("boiler-7", t0, `{"temperature": 81.5, "running": true, "mode": "eco", "motor": {"rpm": 1500}, "note": null, "list": [1,2]}`)))
	if md[MetaWrites] != "1" || md[MetaDryRun] != "" {
		t.Errorf("metadata = %v", md)
	}
	ok(t, r.send(t, "plant", "boiler-7", tele("boiler-7", t0+1000, `{"temperature": 82}`)))
	// A list; the device from the metadata.
	ok(t, r.send(t, "plant", "boiler-8", `[{"ts": 5, "signals": {"a": 1}}, {"ts": "2025-11-22T08:26:42Z", "signals": {"a": 2}}]`))

	key := "sluice:acme:latest:boiler-7"
	want := map[string]string{"temperature": "82", "running": "true", "mode": "eco", "motor.rpm": "1500", "list": "[1,2]", "_ts": strconv.FormatInt(t0+1000, 10)}
	eventually(t, 10*time.Second, "the hash", func() bool {
		got, _ := c.HGetAll(ctxT(t), key).Result()
		return reflect.DeepEqual(got, want)
	})
	want8 := map[string]string{"a": "2", "_ts": strconv.FormatInt(time.Date(2025, 11, 22, 8, 26, 42, 0, time.UTC).UnixMilli(), 10)}
	eventually(t, 10*time.Second, "the second hash", func() bool {
		got, _ := c.HGetAll(ctxT(t), "sluice:acme:latest:boiler-8").Result()
		return reflect.DeepEqual(got, want8)
	})
	st := r.Reg.Statuses("plant")["redis"]
	if st.Written != 4 || st.State != batch.StateOK {
		t.Errorf("status = %+v", st)
	}

	// Not telemetry: Failure.
	res := r.send(t, "plant", "boiler-7", `{"temperature": 1}`)
	if len(res.Ends) != 1 || res.Ends[0].Relation != "Failure" || !strings.Contains(res.Ends[0].Error, "unified telemetry") {
		t.Errorf("not telemetry: %+v", res)
	}
}

func streamOf(t testing.TB, c *goredis.Client, key string) []goredis.XMessage {
	t.Helper()
	got, err := c.XRange(ctxT(t), key, "-", "+").Result()
	if err != nil {
		t.Fatalf("xrange %s: %v", key, err)
	}
	return got
}

func TestStreamEntriesAndIDs(t *testing.T) {
	s := startRedis(t)
	c := s.client()
	defer c.Close()
	r := newRig(t)
	r.deploy(t, flowOf(t, "plant", cfg(s, "mode", "stream", "maxLen", 1000)), 1)

	ok(t, r.send(t, "plant", "p1", tele("p1", t0, `{"v": 1}`)))
	ok(t, r.send(t, "plant", "p1", tele("p1", t0, `{"v": 2}`)))   // the same millisecond
	ok(t, r.send(t, "plant", "p1", tele("p1", t0-5, `{"v": 3}`))) // a clock that went back
	ok(t, r.send(t, "plant", "p1", tele("p1", t0+7, `{"v": 4}`)))
	ok(t, r.send(t, "plant", "p1", `{"alarm": "high", "level": 3}`)) // any JSON

	key := "sluice:acme:stream:p1"
	eventually(t, 10*time.Second, "five entries", func() bool { return len(streamOf(t, c, key)) == 5 })
	got := streamOf(t, c, key)
	ids := []string{}
	for _, m := range got[:4] {
		ids = append(ids, m.ID)
	}
	wantIDs := []string{fmt.Sprint(t0, "-0"), fmt.Sprint(t0, "-1"), fmt.Sprint(t0, "-2"), fmt.Sprint(t0+7, "-0")}
	if !reflect.DeepEqual(ids, wantIDs) {
		t.Errorf("ids = %v, want %v", ids, wantIDs)
	}
	if v := got[1].Values; v["deviceId"] != "p1" || v["ts"] != strconv.FormatInt(t0, 10) || v["signals"] != `{"v":2}` {
		t.Errorf("entry = %v", v)
	}
	if v := got[4].Values; v["data"] != `{"alarm":"high","level":3}` || v["deviceId"] != "p1" {
		t.Errorf("any JSON entry = %v", v)
	}

	// Replaying written items writes nothing again.
	items := make([]Item, 0, 4)
	for _, m := range got[:4] {
		items = append(items, Item{Kind: KindStream, Key: key, ID: m.ID, Fields: []string{"deviceId", "p1", "ts", m.Values["ts"].(string), "signals", m.Values["signals"].(string)}})
	}
	tg := newTarget(conn{Addr: s.addr()}, 1000, quiet)
	defer tg.close()
	if err := tg.Write(ctxT(t), items); err != nil {
		t.Fatalf("replay: %v", err)
	}
	if n := len(streamOf(t, c, key)); n != 5 {
		t.Errorf("after a replay: %d entries, want 5", n)
	}
	// An item whose id is behind the top with other fields (ids given out
	// again after a restart) is added with a new id, not lost.
	if err := tg.Write(ctxT(t), []Item{{Kind: KindStream, Key: key, ID: fmt.Sprint(t0, "-0"), Fields: []string{"data", "new"}}}); err != nil {
		t.Fatalf("stale write: %v", err)
	}
	if all := streamOf(t, c, key); len(all) != 6 || all[5].Values["data"] != "new" {
		t.Errorf("after a stale write: %+v", all)
	}
	// A key of another type is refused for good; the rest of the batch is written.
	if err := c.Set(ctxT(t), "plain", "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	err := tg.Write(ctxT(t), []Item{{Kind: KindStream, Key: "plain", ID: "5-0", Fields: []string{"a", "1"}}, {Kind: KindHash, Key: "h", Fields: []string{"a", "1"}}})
	if !batch.IsPermanent(err) || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("wrong type: %v", err)
	}
	if v, _ := c.HGet(ctxT(t), "h", "a").Result(); v != "1" {
		t.Errorf("rest of the batch not written: %q", v)
	}
}

func TestStreamTrims(t *testing.T) {
	s := startRedis(t)
	c := s.client()
	defer c.Close()
	tg := newTarget(conn{Addr: s.addr()}, 10, quiet)
	defer tg.close()
	items := make([]Item, 2000)
	ms := make([]uint64, len(items))
	for i := range items {
		items[i] = Item{Kind: KindStream, Key: "trim", Fields: []string{"i", strconv.Itoa(i)}}
		ms[i] = uint64(i + 1)
	}
	tg.assign(items, ms)
	if err := tg.Write(ctxT(t), items); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.XLen(ctxT(t), "trim").Result(); n >= 2000 || n < 10 {
		t.Errorf("stream length %d: want trimmed to about 10", n)
	}
}

func TestPublish(t *testing.T) {
	s := startRedis(t)
	c := s.client()
	defer c.Close()
	sub := c.Subscribe(ctxT(t), "sluice:acme:telemetry:p1", "raw:acme")
	defer sub.Close()
	if _, err := sub.Receive(ctxT(t)); err != nil { // subscribed
		t.Fatal(err)
	}
	if _, err := sub.Receive(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	r := newRig(t)
	r.deploy(t, flowOf(t, "pub", cfg(s, "mode", "publish")), 1)
	r.deploy(t, flowOf(t, "raw", cfg(s, "mode", "publish", "key", "raw:{tenant}")), 1)

	md := ok(t, r.send(t, "pub", "p1", tele("p1", t0, `{"v": 1}`)))
	if md[MetaReceivers] != "1" {
		t.Errorf("metadata = %v", md)
	}
	ok(t, r.send(t, "raw", "", `[1, 2, 3]`))
	var got []string
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, err := sub.ReceiveMessage(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.Channel+" "+m.Payload)
	}
	want := []string{fmt.Sprintf(`sluice:acme:telemetry:p1 {"deviceId":"p1","ts":%d,"signals":{"v":1}}`, t0), "raw:acme [1,2,3]"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("published %q, want %q", got, want)
	}
	// Redis down: publish fails the message (fire and forget, no spool).
	s.stop()
	res := r.send(t, "pub", "p1", tele("p1", t0, `{"v": 2}`))
	if len(res.Ends) != 1 || res.Ends[0].Relation != "Failure" {
		t.Errorf("publish with redis down: %+v", res)
	}
}

func TestDryRun(t *testing.T) {
	s := startRedis(t)
	c := s.client()
	defer c.Close()
	r := newRig(t)
	for _, mode := range []string{"hash", "stream", "publish"} {
		f := flowOf(t, "dry-"+mode, cfg(s, "mode", mode))
		tr, err := r.M.Test(ctxT(t), "acme", f, engine.Message{Type: "TELEMETRY", Data: tele("d1", t0, `{"v": 1}`)}, "", false)
		if err != nil {
			t.Fatalf("%s: test: %v", mode, err)
		}
		res := tr.Result
		if len(res.Ends) != 1 || res.Ends[0].Relation != "Success" {
			t.Fatalf("%s: %+v", mode, res)
		}
		md := res.Ends[0].Msg.Metadata
		if md[MetaDryRun] != "true" || md[MetaWouldWrite] != "1" || !strings.Contains(md[MetaReport], "d1") {
			t.Errorf("%s: metadata = %v", mode, md)
		}
	}
	if keys, _ := c.Keys(ctxT(t), "*").Result(); len(keys) != 0 {
		t.Errorf("a test run wrote %v", keys)
	}
}

func TestInitErrors(t *testing.T) {
	for _, c := range []map[string]any{
		{},
		{"server": "x:1", "mode": "list"},
		{"server": "x:1", "key": "k:{device}"},
	} {
		if err := (&Node{}).Init(types.Config{}, c); err == nil {
			t.Errorf("Init(%v): no error", c)
		}
	}
}

// TestOutage stops Redis mid-stream while messages keep coming, starts it
// again on the same port, and checks that every point arrived exactly
// once and in order per device (stream mode), and that the hashes hold
// the last values (hash mode).
func TestOutage(t *testing.T) {
	s := startRedis(t)
	c := s.client()
	defer c.Close()
	r := newRig(t)
	r.deploy(t, flowOf(t, "streams", cfg(s, "mode", "stream", "batchSize", 7)), 1)
	r.deploy(t, flowOf(t, "hashes", cfg(s, "batchSize", 7)), 1)

	devices := []string{"d1", "d2", "d3"}
	const per = 300
	// sendRange sends points from..to-1 of every device, the devices at
	// once, each in order.
	sendRange := func(from, to int) { r.SendRange(t, []string{"streams", "hashes"}, devices, t0, from, to) }
	sendRange(0, per/3)
	mid := make(chan struct{})
	go func() { defer close(mid); sendRange(per/3, per/2) }() // Redis goes down mid-stream
	s.shutdown()
	<-mid
	sendRange(per/2, 2*per/3) // while Redis is down: into the spool
	eventually(t, 20*time.Second, "failed writes", func() bool {
		st := r.Reg.Statuses("streams")["redis"]
		return st.Failures > 0 && st.Queued > 0 && st.State == batch.StateRetrying
	})
	s.start()
	sendRange(2*per/3, per)

	for _, d := range devices {
		key := "sluice:acme:stream:" + d
		eventually(t, 60*time.Second, "every entry of "+d, func() bool {
			n, _ := c.XLen(ctxT(t), key).Result()
			return n >= per
		})
		got := streamOf(t, c, key)
		if len(got) != per {
			t.Errorf("%s: %d entries, want %d", d, len(got), per)
		}
		for i, m := range got {
			if want := fmt.Sprintf(`{"i":%d}`, i); m.Values["signals"] != want {
				t.Fatalf("%s: entry %d (%s) = %v, want signals %s", d, i, m.ID, m.Values, want)
			}
		}
		hkey := "sluice:acme:latest:" + d
		eventually(t, 60*time.Second, "the last value of "+d, func() bool {
			v, _ := c.HGet(ctxT(t), hkey, "i").Result()
			return v == strconv.Itoa(per-1)
		})
	}
	st := r.Reg.Statuses("streams")["redis"]
	if st.Failures == 0 || st.Written < uint64(len(devices)*per) || st.Queued != 0 {
		t.Errorf("stream sink status = %+v", st)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	for _, it := range []Item{
		{Kind: KindHash, Key: "k", Fields: []string{"a", "1", "b", ""}},
		{Kind: KindStream, Key: "s", ID: "5-1", Fields: []string{"data", `{"x":"ü"}`}},
		{Kind: KindStream, Key: "", Fields: []string{}},
	} {
		got, err := Codec{}.Decode(Codec{}.Append(nil, it))
		if err != nil || !reflect.DeepEqual(got, it) {
			t.Errorf("round trip of %+v: %+v, %v", it, got, err)
		}
	}
	b := Codec{}.Append(nil, Item{Kind: KindHash, Key: "k", Fields: []string{"a", "1"}})
	for i := range len(b) {
		if _, err := (Codec{}).Decode(b[:i]); err == nil {
			t.Errorf("truncated at %d: no error", i)
		}
	}
}
