package script_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"testing"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
)

type telemetry struct {
	DeviceID string         `json:"deviceId"`
	Ts       int64          `json:"ts"`
	Signals  map[string]any `json:"signals"`
}

func TestParse(t *testing.T) {
	m := newManager(t)
	rec := recorder(t)
	const ts = 1763800000000
	cases := []struct {
		name string
		code string
		msg  engine.Message
		want []telemetry         // on Success, in order
		md   []map[string]string // metadata keys each output must carry
		fail string              // else: the Failure error contains this
		rel  string              // else: the relation (Empty)
	}{
		{
			name: "json",
			code: "return {deviceId: msg.id, ts: msg.time, signals: {temperature: msg.temp, running: msg.state === 'on', mode: msg.mode}};",
			msg:  jsonMsg(`{"id":"boiler-7","time":1763800000000,"temp":81.5,"state":"on","mode":"eco"}`, nil),
			want: []telemetry{{"boiler-7", ts, map[string]any{"temperature": 81.5, "running": true, "mode": "eco"}}},
			md:   []map[string]string{{"deviceId": "boiler-7"}},
		},
		{
			name: "device id from metadata, ts as a Date, metadata added",
			code: "return {ts: new Date(msg.at), signals: {t: msg.t}, metadata: {unit: 'C', rssi: -71}};",
			msg:  jsonMsg(`{"at":"2025-11-22T08:26:40Z","t":20}`, map[string]string{"deviceId": "dev-1", "topic": "t/1"}),
			want: []telemetry{{"dev-1", ts, map[string]any{"t": 20.0}}},
			md:   []map[string]string{{"deviceId": "dev-1", "topic": "t/1", "unit": "C", "rssi": "-71"}},
		},
		{
			name: "text payload",
			code: "const [id, t, h] = msg.split(';');\nreturn {deviceId: id, ts: 1763800000000, signals: {temperature: parseFloat(t), humidity: parseInt(h, 10)}};",
			msg:  engine.Message{Type: "RAW", DataType: "TEXT", Data: "th-3;21.25;40"},
			want: []telemetry{{"th-3", ts, map[string]any{"temperature": 21.25, "humidity": 40.0}}},
		},
		{
			name: "binary payload",
			code: "return {deviceId: bytesToHex(msg.subarray(0, 2)), ts: 1763800000000, signals: {\n" +
				"  temperature: readInt16BE(msg, 2) / 10, humidity: readUint16LE(msg, 4), heating: bit(readUint8(msg, 6), 0), level: bits(readUint8(msg, 6), 4, 4)}};",
			msg: engine.Message{Type: "RAW", DataType: "BINARY",
				Data: base64.StdEncoding.EncodeToString([]byte{0xab, 0x01, 0xff, 0x9c, 0x2c, 0x01, 0x71})},
			want: []telemetry{{"ab01", ts, map[string]any{"temperature": -10.0, "humidity": 300.0, "heating": true, "level": 7.0}}},
		},
		{
			name: "one payload, several devices",
			code: "return msg.devices.map(d => ({deviceId: d.id, ts: d.time * 1000, signals: {t: d.t}}));",
			msg:  jsonMsg(`{"devices":[{"id":"a","time":1763800000,"t":1},{"id":"b","time":1763800001,"t":2},{"id":"c","time":1763800002,"t":3}]}`, nil),
			want: []telemetry{
				{"a", ts, map[string]any{"t": 1.0}},
				{"b", ts + 1000, map[string]any{"t": 2.0}},
				{"c", ts + 2000, map[string]any{"t": 3.0}},
			},
			md: []map[string]string{{"deviceId": "a"}, {"deviceId": "b"}, {"deviceId": "c"}},
		},
		{name: "null is empty", code: "return null;", msg: jsonMsg(`{}`, nil), rel: "Empty"},
		{name: "no return is empty", code: "msg.x = 1;", msg: jsonMsg(`{}`, nil), rel: "Empty"},
		{name: "empty array is empty", code: "return [];", msg: jsonMsg(`{}`, nil), rel: "Empty"},
		{name: "a number", code: "return 5;", msg: jsonMsg(`{}`, nil),
			fail: "result: want an object {deviceId, ts, signals} or an array of them, got number"},
		{name: "nested signal", code: "return [{deviceId: 'a', signals: {t: 1}}, {deviceId: 'b', signals: {temperature: {value: 1}}}];", msg: jsonMsg(`{}`, nil),
			fail: "result[1].signals.temperature: want a number, boolean or string, got object"},
		{name: "null signal", code: "return {deviceId: 'a', signals: {t: null}};", msg: jsonMsg(`{}`, nil),
			fail: "result.signals.t: want a number, boolean or string, got null"},
		{name: "NaN signal", code: "return {deviceId: 'a', signals: {t: parseFloat('x')}};", msg: jsonMsg(`{}`, nil),
			fail: "result.signals.t: want a finite number, got NaN"},
		{name: "no device id anywhere", code: "return {signals: {t: 1}};", msg: jsonMsg(`{}`, nil),
			fail: "result.deviceId: want a non-empty string, got undefined (and the message has no deviceId metadata)"},
		{name: "numeric device id", code: "return {deviceId: 7, signals: {t: 1}};", msg: jsonMsg(`{}`, nil),
			fail: "result.deviceId: want a non-empty string, got number"},
		{name: "ts as text", code: "return {deviceId: 'a', ts: '2025-11-22', signals: {t: 1}};", msg: jsonMsg(`{}`, nil),
			fail: "result.ts: want milliseconds since the epoch (a number) or a Date, got string"},
		{name: "ts in the year 50000", code: "return {deviceId: 'a', ts: 1e15, signals: {t: 1}};", msg: jsonMsg(`{}`, nil),
			fail: "result.ts: want milliseconds since the epoch, got 1000000000000000"},
		{name: "no signals", code: "return {deviceId: 'a', signals: {}};", msg: jsonMsg(`{}`, nil),
			fail: "result.signals: want at least one signal, got an empty object"},
		{name: "signals missing", code: "return {deviceId: 'a'};", msg: jsonMsg(`{}`, nil),
			fail: "result.signals: want an object of signal values, got undefined"},
		{name: "misspelt key", code: "return {deviceId: 'a', signal: {t: 1}};", msg: jsonMsg(`{}`, nil),
			fail: "result.signal: unknown key (want deviceId, ts, signals and optionally metadata)"},
		{name: "array item not an object", code: "return [{deviceId: 'a', signals: {t: 1}}, 'b'];", msg: jsonMsg(`{}`, nil),
			fail: "result[1]: want an object {deviceId, ts, signals}, got string"},
		{name: "too many results", code: "return Array.from({length: 1001}, (_, i) => ({deviceId: 'd' + i, signals: {t: i}}));", msg: jsonMsg(`{}`, nil),
			fail: "result: 1001 results exceed the limit of 1000 per payload"},
		{name: "payload not JSON", code: "return null;", msg: jsonMsg(`{"id":`, nil),
			fail: "payload is not valid JSON"},
		{name: "binary not base64", code: "return null;", msg: engine.Message{Type: "RAW", DataType: "BINARY", Data: "%%%"},
			fail: "BINARY payload is not base64"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.want) > 1 {
				requireTellEach(t)
			}
			id := fmt.Sprintf("parse-%d", i)
			deploy(t, m, scriptFlow(id, "scriptParse", map[string]any{"code": tc.code, "timeout": slowMachineTimeout}, types.Success))
			r := submit(t, m, id, tc.msg)
			switch {
			case tc.fail != "":
				if r.Status != engine.StatusFailed {
					t.Fatalf("status %s, want failed; ends %v", r.Status, ends(r))
				}
				contains(t, "failure", failure(r), tc.fail)
			case tc.rel != "":
				if r.Status != engine.StatusCompleted || !reflect.DeepEqual(ends(r), []string{"n1/" + tc.rel}) {
					t.Fatalf("status %s, ends %v; want n1/%s", r.Status, ends(r), tc.rel)
				}
			default:
				if r.Status != engine.StatusCompleted {
					t.Fatalf("status %s (%s), ends %v", r.Status, r.Error, ends(r))
				}
				got := collect(t, rec, len(tc.want))
				sort.Slice(got, func(a, b int) bool { return got[a].msg.Metadata["deviceId"] < got[b].msg.Metadata["deviceId"] })
				for j, w := range tc.want {
					out := got[j].msg
					if out.Type != "TELEMETRY" || out.DataType != types.JSON {
						t.Errorf("message %d: type %s/%s, want TELEMETRY/JSON", j, out.Type, out.DataType)
					}
					var tel telemetry
					if err := json.Unmarshal([]byte(out.Data), &tel); err != nil {
						t.Fatalf("message %d: payload %q: %v", j, out.Data, err)
					}
					if !reflect.DeepEqual(tel, w) {
						t.Errorf("message %d: payload %s, want %+v", j, out.Data, w)
					}
					if out.Ts != w.Ts {
						t.Errorf("message %d: ts %d, want %d", j, out.Ts, w.Ts)
					}
					if j < len(tc.md) {
						for k, v := range tc.md[j] {
							if out.Metadata[k] != v {
								t.Errorf("message %d: metadata %s = %q, want %q", j, k, out.Metadata[k], v)
							}
						}
					}
				}
			}
		})
	}
}

// A payload that carries several devices leaves as one message per device;
// each reaches the next node and the message completes only after all of
// them.
func TestParseSplitReachesNextNode(t *testing.T) {
	requireTellEach(t)
	m := newManager(t)
	rec := recorder(t)
	deploy(t, m, scriptFlow("split", "scriptParse", map[string]any{
		"code": "return msg.map((t, i) => ({deviceId: 'd' + i, signals: {t}}));",
	}, types.Success))
	const n = 5
	var payload []int
	for i := range n {
		payload = append(payload, i)
	}
	data, _ := json.Marshal(payload)
	for round := range 200 {
		r := submit(t, m, "split", jsonMsg(string(data), nil))
		if r.Status != engine.StatusCompleted || len(r.Ends) != n {
			t.Fatalf("round %d: status %s, %d ends %v; want completed with %d ends", round, r.Status, len(r.Ends), ends(r), n)
		}
		got := collect(t, rec, n)
		seen := map[string]bool{}
		for _, g := range got {
			seen[g.msg.Metadata["deviceId"]] = true
		}
		if len(seen) != n {
			t.Fatalf("round %d: devices %v", round, seen)
		}
	}
}

// Without a next node, every result is a branch end of the message.
func TestParseSplitEnds(t *testing.T) {
	requireTellEach(t)
	m := newManager(t)
	deploy(t, m, scriptFlow("split-ends", "scriptParse", map[string]any{
		"code": "return [1, 2, 3].map(i => ({deviceId: 'd' + i, signals: {i}}));",
	}))
	r := submit(t, m, "split-ends", jsonMsg(`{}`, nil))
	if want := []string{"n1/Success", "n1/Success", "n1/Success"}; r.Status != engine.StatusCompleted || !reflect.DeepEqual(ends(r), want) {
		t.Fatalf("status %s, ends %v; want completed, %v", r.Status, ends(r), want)
	}
}
