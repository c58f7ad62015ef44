package modbus

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

func dev(id string, d *testDevice, interval string) map[string]any {
	return map[string]any{"deviceId": id, "host": "127.0.0.1", "port": d.port, "unitId": 7, "pollInterval": interval, "timeout": "500ms"}
}

func pollNode(cfg map[string]any) engine.Node {
	return engine.Node{ID: "poll", Type: PollType, Configuration: cfg}
}

// TestPollEveryTypeAndOrder reads one of each type in each word and byte
// order from a real Modbus server and checks the telemetry message, its
// metadata, the number of read requests and the status.
func TestPollEveryTypeAndOrder(t *testing.T) {
	d := startDevice(t)
	var regs []any
	want := map[string]any{}
	addr := 0
	put := func(signal string, typ Type, word, byt Order, be []byte, value any, extra map[string]any) {
		d.setHolding(addr, layout(be, word == Little, byt == Little)...)
		r := map[string]any{"signal": signal, "address": addr, "type": string(typ), "wordOrder": string(word), "byteOrder": string(byt)}
		for k, v := range extra {
			r[k] = v
		}
		regs = append(regs, r)
		want[signal] = value
		addr += typ.Registers()
	}
	be16 := func(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	be64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	f64 := -98765.4321
	var i32 int32 = -123456789
	var i16 int16 = -1234
	for _, word := range []Order{Big, Little} {
		for _, byt := range []Order{Big, Little} {
			sfx := "_" + string(word[0]) + string(byt[0])
			put("i32"+sfx, Int32, word, byt, be32(uint32(i32)), -123456789.0, nil)
			put("u32"+sfx, Uint32, word, byt, be32(4000000000), 4000000000.0, nil)
			put("f32"+sfx, Float32, word, byt, be32(math.Float32bits(1234.5)), 1234.5, nil)
			put("f64"+sfx, Float64, word, byt, be64(math.Float64bits(f64)), f64, nil)
		}
		put("i16_"+string(word[0]), Int16, Big, word, be16(uint16(i16)), -1234.0, nil)
		put("u16_"+string(word[0]), Uint16, Big, word, be16(65000), 65000.0, nil)
	}
	put("scaled", Int16, Big, Big, be16(215), 11.5, map[string]any{"scale": 0.1, "offset": -10.0})
	put("flag", Bool, Big, Big, be16(2), true, nil)
	holdingRegs := addr

	d.input[10] = 777
	copy(d.input[11:], layout(be32(math.Float32bits(-0.5)), true, false))
	regs = append(regs,
		map[string]any{"signal": "in_u16", "area": "input", "address": 10},
		map[string]any{"signal": "in_f32", "area": "input", "address": 11, "type": "float32", "wordOrder": "little"},
		map[string]any{"signal": "pump", "area": "coil", "address": 3, "type": "bool"},
		map[string]any{"signal": "valve", "area": "coil", "address": 4, "type": "bool"},
		map[string]any{"signal": "door", "area": "discrete", "address": 7, "type": "bool"},
	)
	want["in_u16"], want["in_f32"], want["pump"], want["valve"], want["door"] = 777.0, -0.5, true, false, true
	d.coils[3], d.discrete[7] = true, true

	m := conntest.NewManager(t, engine.Options{})
	rec := conntest.Record(t, "plant")
	before := time.Now().UnixMilli()
	// One poll only (the next is an hour away), to count its requests.
	conntest.Deploy(t, m, "acme", flowOf(t, "plant", pollNode(map[string]any{
		"devices": []any{dev("boiler-7", d, "1h")}, "registers": regs,
	}), hook("")), 1)
	conntest.Eventually(t, wait, "the first telemetry message", func() bool { return count(rec, "boiler-7") == 1 })

	msg, _ := last(rec, "boiler-7")
	if msg.Type != "TELEMETRY" || msg.DataType != "JSON" {
		t.Errorf("type %q, dataType %q", msg.Type, msg.DataType)
	}
	var got struct {
		DeviceID string         `json:"deviceId"`
		Ts       int64          `json:"ts"`
		Signals  map[string]any `json:"signals"`
	}
	if err := json.Unmarshal([]byte(msg.Data), &got); err != nil {
		t.Fatalf("payload %s: %v", msg.Data, err)
	}
	if got.DeviceID != "boiler-7" || got.Ts < before || got.Ts > time.Now().UnixMilli() || msg.Ts != got.Ts {
		t.Errorf("deviceId %q, ts %d (msg ts %d), want boiler-7 and a time since %d", got.DeviceID, got.Ts, msg.Ts, before)
	}
	for name, w := range want {
		if !reflect.DeepEqual(got.Signals[name], w) {
			t.Errorf("signal %s = %v, want %v", name, got.Signals[name], w)
		}
	}
	if len(got.Signals) != len(want) {
		t.Errorf("%d signals, want %d: %s", len(got.Signals), len(want), msg.Data)
	}
	md := msg.Metadata
	for k, v := range map[string]string{"connector": PollType, "tenant": "acme", "deviceId": "boiler-7", "unitId": "7", "remoteAddr": d.addr()} {
		if md.GetValue(k) != v {
			t.Errorf("metadata %s = %q, want %q", k, md.GetValue(k), v)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, md.GetValue("receivedAt")); err != nil {
		t.Errorf("metadata receivedAt %q: %v", md.GetValue("receivedAt"), err)
	}
	// Holding, input, coils, discrete inputs: one request each.
	if n := d.reads.Load(); n != 4 {
		t.Errorf("%d read requests for one poll, want 4", n)
	}
	st := conntest.SourceStatus(t, m, "plant", "poll")
	wantBytes := uint64(2*holdingRegs + 2*3 + 1 + 1)
	if st.State != engine.StateConnected || st.Connections != 1 || st.Messages != 1 || st.Bytes != wantBytes || st.Errors != 0 || st.LastError != "" {
		t.Errorf("status = %+v, want connected, 1 connection, 1 message, %d bytes, no error", st, wantBytes)
	}
}

// TestDeviceStopsAnswering: one of two devices goes away; it is retried
// with backoff and named in the status while the other keeps producing;
// when it answers again the status is connected again.
func TestDeviceStopsAnswering(t *testing.T) {
	a, b := startDevice(t), startDevice(t)
	a.setHolding(0, 1)
	b.setHolding(0, 2)
	m := conntest.NewManager(t, engine.Options{})
	rec := conntest.Record(t, "two")
	conntest.Deploy(t, m, "acme", flowOf(t, "two", pollNode(map[string]any{
		"devices":   []any{dev("a", a, "10ms"), dev("b", b, "10ms")},
		"registers": []any{map[string]any{"signal": "v", "address": 0}},
		"retryMin":  "20ms", "retryMax": "200ms",
	}), hook("")), 1)
	status := func() engine.SourceStatus { return conntest.SourceStatus(t, m, "two", "poll") }
	conntest.Eventually(t, wait, "both devices to report", func() bool {
		return count(rec, "a") > 0 && count(rec, "b") > 0 && status().State == engine.StateConnected
	})
	if st := status(); st.Connections != 2 {
		t.Errorf("connections = %d, want 2", st.Connections)
	}

	a.stop()
	conntest.Eventually(t, wait, "status retrying", func() bool { return status().State == engine.StateRetrying })
	st := status()
	if !strings.Contains(st.LastError, `device "a" (`+a.addr()) || strings.Contains(st.LastError, `device "b"`) {
		t.Errorf("lastError = %q, want device a named, not b", st.LastError)
	}
	if st.Errors == 0 {
		t.Error("the failed poll was not counted")
	}
	nb := count(rec, "b")
	conntest.Eventually(t, wait, "device b to keep producing", func() bool { return count(rec, "b") >= nb+10 })
	if st := status(); st.State != engine.StateRetrying || st.Connections != 1 {
		t.Errorf("while a is down: status %+v, want retrying with 1 connection", st)
	}
	// Backoff, not a busy loop: far fewer failures than polls of b.
	if st := status(); st.Errors > uint64(count(rec, "b")) {
		t.Errorf("%d errors while b made %d polls: device a is retried too often", st.Errors, count(rec, "b"))
	}

	if err := a.start(); err != nil {
		t.Fatalf("restart device a: %v", err)
	}
	na := count(rec, "a")
	conntest.Eventually(t, wait, "device a to answer again", func() bool {
		return count(rec, "a") > na && status().State == engine.StateConnected
	})
	if st := status(); st.Connections != 2 || !strings.Contains(st.LastError, `device "a"`) {
		t.Errorf("after recovery: %+v, want 2 connections and the last error kept", st)
	}
}

// TestModbusExceptionKeepsConnection: a device that refuses a read (a
// register map that does not match it) is retrying with the device's answer
// in words, on the same connection.
func TestModbusExceptionKeepsConnection(t *testing.T) {
	d := startDevice(t)
	d.refuseFrom = 100
	m := conntest.NewManager(t, engine.Options{})
	conntest.Deploy(t, m, "acme", flowOf(t, "bad-map", pollNode(map[string]any{
		"devices":   []any{dev("meter", d, "10ms")},
		"registers": []any{map[string]any{"signal": "v", "address": 100}},
		"retryMin":  "10ms", "retryMax": "20ms",
	}), hook("")), 1)
	conntest.Eventually(t, wait, "a few refused polls", func() bool { return conntest.SourceStatus(t, m, "bad-map", "poll").Errors >= 3 })
	st := conntest.SourceStatus(t, m, "bad-map", "poll")
	want := fmt.Sprintf(`device "meter" (%s, unit 7): read holding registers 100-100: illegal data address`, d.addr())
	if st.State != engine.StateRetrying || st.LastError != want || st.Connections != 1 {
		t.Errorf("status = %+v\nwant retrying, lastError %q, 1 connection", st, want)
	}
	if n := d.clientCount(); n != 1 {
		t.Errorf("%d connections made, want 1", n)
	}
}

// TestUnreachableDevice: nothing listens; the poller retries with backoff
// and stops promptly on undeploy.
func TestUnreachableDevice(t *testing.T) {
	port := conntest.FreePort(t)
	m := conntest.NewManager(t, engine.Options{})
	conntest.Deploy(t, m, "acme", flowOf(t, "nobody", pollNode(map[string]any{
		"devices":   []any{map[string]any{"deviceId": "ghost", "host": "127.0.0.1", "port": port}},
		"registers": []any{map[string]any{"signal": "v", "address": 0}},
		"retryMin":  "10ms", "retryMax": "40ms",
	}), hook("")), 1)
	conntest.Eventually(t, wait, "two failed connects", func() bool { return conntest.SourceStatus(t, m, "nobody", "poll").Errors >= 2 })
	st := conntest.SourceStatus(t, m, "nobody", "poll")
	if st.State != engine.StateRetrying || !strings.HasPrefix(st.LastError, fmt.Sprintf(`device "ghost" (127.0.0.1:%d): connect: `, port)) ||
		!strings.Contains(st.LastError, "connection refused") {
		t.Errorf("status = %+v", st)
	}
	if err := m.Undeploy(conntest.Context(t, 30*time.Second), "nobody"); err != nil {
		t.Fatalf("undeploy: %v", err)
	}
}

// TestRedeployKeepsPolling: a redeploy that leaves the poller's config
// unchanged keeps its connection; the new version gets its messages.
func TestRedeployKeepsPolling(t *testing.T) {
	d := startDevice(t)
	m := conntest.NewManager(t, engine.Options{})
	rec := conntest.Record(t, "keep")
	cfg := map[string]any{"devices": []any{dev("x", d, "5ms")}, "registers": []any{map[string]any{"signal": "v", "address": 0}}}
	conntest.Deploy(t, m, "acme", flowOf(t, "keep", pollNode(cfg), hook("v1")), 1)
	conntest.Eventually(t, wait, "a message", func() bool { return count(rec, "x") > 0 })
	conntest.Deploy(t, m, "acme", flowOf(t, "keep", pollNode(cfg), hook("v2")), 2)
	conntest.Eventually(t, wait, "a message through version 2", func() bool {
		msg, _ := last(rec, "x")
		return msg.Metadata.GetValue("tag") == "v2"
	})
	if n := d.clientCount(); n != 1 {
		t.Errorf("%d connections to the device across the redeploy, want 1", n)
	}
}

func TestPollConfigProblems(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{
			"devices":   []any{map[string]any{"deviceId": "a", "host": "h"}},
			"registers": []any{map[string]any{"signal": "s", "address": int64(0)}},
		}
	}
	cases := []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"no devices", func(c map[string]any) { c["devices"] = []any{} }, `field "devices": must have at least 1 item`},
		{"missing host", func(c map[string]any) { delete(c["devices"].([]any)[0].(map[string]any), "host") }, `field "devices[0].host": required`},
		{"bad interval", func(c map[string]any) { c["devices"].([]any)[0].(map[string]any)["pollInterval"] = "often" },
			`field "devices[0].pollInterval": not a valid duration: time: invalid duration "often"`},
		{"bad area", func(c map[string]any) { c["registers"].([]any)[0].(map[string]any)["area"] = "holdings" },
			`field "registers[0].area": want one of "holding", "input", "coil", "discrete", got "holdings"`},
		{"duplicate device", func(c map[string]any) {
			c["devices"] = append(c["devices"].([]any), map[string]any{"deviceId": "a", "host": "h2"})
		}, `field "devices[1].deviceId": device id "a" is also used by devices[0]`},
		{"duplicate signal", func(c map[string]any) {
			c["registers"] = append(c["registers"].([]any), map[string]any{"signal": "s", "address": int64(5)})
		}, `field "registers[1].signal": signal "s" is also defined by registers[0]`},
		{"coil of float", func(c map[string]any) {
			c["registers"] = []any{map[string]any{"signal": "s", "area": "coil", "address": int64(0), "type": "float32"}}
		}, `field "registers[0].type": area "coil" holds single bits: want type "bool", got "float32"`},
		{"past the end", func(c map[string]any) {
			c["registers"] = []any{map[string]any{"signal": "s", "address": int64(65535), "type": "float32"}}
		}, `field "registers[0].address": float32 needs 2 registers: it would end past address 65535`},
		{"zero scale", func(c map[string]any) { c["registers"].([]any)[0].(map[string]any)["scale"] = 0.0 },
			`field "registers[0].scale": must not be 0: the signal would always be the offset`},
		{"retry bounds", func(c map[string]any) { c["retryMin"], c["retryMax"] = "10s", "1s" },
			`field "retryMax": must be at least retryMin (10s)`},
		{"misspelt key", func(c map[string]any) { c["register"] = c["registers"] },
			`field "register": unknown field (did you mean "registers"?)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := base()
			c.edit(cfg)
			ps := pollSpec.Check(cfg)
			if len(ps) != 1 || ps[0].String() != c.want {
				t.Fatalf("problems:\n%v\nwant %s", ps, c.want)
			}
		})
	}
	if ps := pollSpec.Check(base()); len(ps) != 0 {
		t.Fatalf("base config: %v", ps)
	}
	for _, ex := range pollSpec.Examples {
		if ps := pollSpec.Check(ex.Config); len(ps) != 0 {
			t.Errorf("example %q: %v", ex.Title, ps)
		}
	}
	// A flow with a bad poller is refused before anything runs.
	m := conntest.NewManager(t, engine.Options{})
	cfg := base()
	cfg["registers"].([]any)[0].(map[string]any)["type"] = "int64"
	err := m.Deploy(conntest.Context(t, 30*time.Second), "acme", flowOf(t, "bad", pollNode(cfg), hook("")), 1)
	var ps spec.Problems
	if !errors.As(err, &ps) || len(ps) != 1 || !strings.HasPrefix(ps[0].String(), `flow "bad": node "poll" (modbusPoll): field "registers[0].type": want one of "int16"`) {
		t.Fatalf("deploy of a bad poller: %v", err)
	}
}

// BenchmarkPollToCountingFlow measures telemetry messages per second from
// four devices polled back to back into a flow that only counts.
func BenchmarkPollToCountingFlow(b *testing.B) {
	d := startDevice(b)
	for i := range 10 {
		d.setHolding(i, uint16(i))
	}
	var regs []any
	for i := range 10 {
		regs = append(regs, map[string]any{"signal": "s" + strconv.Itoa(i), "address": i})
	}
	var devices []any
	for i := range 4 {
		devices = append(devices, dev("d"+strconv.Itoa(i), d, "0s"))
	}
	m := conntest.NewManager(b, engine.Options{})
	rec := conntest.Record(b, "bench")
	conntest.Deploy(b, m, "acme", flowOf(b, "bench", pollNode(map[string]any{"devices": devices, "registers": regs}), engine.Node{ID: "count", Type: conntest.CountType}), 1)
	conntest.Eventually(b, wait, "the first message", func() bool { return rec.Count() > 0 })
	b.ResetTimer()
	start, t0 := rec.Count(), time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for rec.Count() < start+int64(b.N) {
		<-tick.C
	}
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "msgs/s")
	b.StopTimer()
	if st := conntest.SourceStatus(b, m, "bench", "poll"); st.Errors != 0 {
		b.Errorf("status after the run: %+v", st)
	}
}
