package script_test

import (
	"fmt"
	"testing"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
)

func TestTransform(t *testing.T) {
	m := newManager(t)
	rec := recorder(t)
	in := jsonMsg(`{"temperature":20,"id":"a"}`, map[string]string{"deviceId": "a", "topic": "t/a"})
	cases := []struct {
		name     string
		code     string
		msg      engine.Message
		data     string
		dataType types.DataType
		msgType  string
		md       map[string]string // exactly
		fail     string
	}{
		{
			name: "change the payload, add metadata in place",
			code: "msg.temperatureF = msg.temperature * 9 / 5 + 32;\nmetadata.unit = 'F';\nreturn msg;",
			msg:  in, data: `{"temperature":20,"id":"a","temperatureF":68}`, dataType: types.JSON, msgType: "RAW",
			md: map[string]string{"deviceId": "a", "topic": "t/a", "unit": "F"},
		},
		{
			name: "envelope",
			code: "return {msg: {value: msg.temperature}, metadata: {deviceId: metadata.deviceId, n: 2, ok: true, gone: null}, msgType: 'READING'};",
			msg:  in, data: `{"value":20}`, dataType: types.JSON, msgType: "READING",
			md: map[string]string{"deviceId": "a", "n": "2", "ok": "true"},
		},
		{
			name: "envelope without msg keeps the payload",
			code: "return {msgType: 'SEEN'};",
			msg:  in, data: `{"temperature":20,"id":"a"}`, dataType: types.JSON, msgType: "SEEN",
			md: map[string]string{"deviceId": "a", "topic": "t/a"},
		},
		{
			name: "an object that only looks like an envelope is a payload",
			code: "return {msg: 'hi', extra: 1};",
			msg:  in, data: `{"msg":"hi","extra":1}`, dataType: types.JSON, msgType: "RAW",
			md: map[string]string{"deviceId": "a", "topic": "t/a"},
		},
		{
			name: "string is TEXT",
			code: "return `${msg.id}=${msg.temperature}`;",
			msg:  in, data: "a=20", dataType: types.TEXT, msgType: "RAW",
			md: map[string]string{"deviceId": "a", "topic": "t/a"},
		},
		{
			name: "bytes are BINARY",
			code: "return hexToBytes('cafe01');",
			msg:  in, data: "yv4B", dataType: types.BINARY, msgType: "RAW",
			md: map[string]string{"deviceId": "a", "topic": "t/a"},
		},
		{
			name: "JSON text with dataType JSON",
			code: "return {msg: '[1,2]', dataType: 'JSON'};",
			msg:  in, data: "[1,2]", dataType: types.JSON, msgType: "RAW",
			md: map[string]string{"deviceId": "a", "topic": "t/a"},
		},
		{
			name: "numbers, NaN, undefined and functions as JSON.stringify writes them",
			code: "return {a: 1.5, b: 1e21, c: NaN, d: undefined, e: () => 1, f: [undefined, 2], g: new Date(0), h: 'é\"\\n'};",
			msg:  in, data: `{"a":1.5,"b":1e+21,"c":null,"f":[null,2],"g":"1970-01-01T00:00:00.000Z","h":"é\"\n"}`, dataType: types.JSON, msgType: "RAW",
			md: map[string]string{"deviceId": "a", "topic": "t/a"},
		},
		{name: "forgotten return", code: "msg.x = 1;", msg: in,
			fail: "result: want the new payload or {msg, metadata, msgType}, got undefined (is a return missing?)"},
		{name: "metadata value an object", code: "metadata.x = {a: 1}; return msg;", msg: in,
			fail: "metadata.x: want a string, number or boolean, got object"},
		{name: "envelope metadata not an object", code: "return {msg: 1, metadata: 'x'};", msg: in,
			fail: "result.metadata: want an object, got string"},
		{name: "empty msgType", code: "return {msg: 1, msgType: ''};", msg: in,
			fail: "result.msgType: want a non-empty string, got string"},
		{name: "unknown dataType", code: "return {msg: 1, dataType: 'XML'};", msg: in,
			fail: `result.dataType: want "JSON", "TEXT" or "BINARY", got string`},
		{name: "TEXT wants a string", code: "return {msg: 1, dataType: 'TEXT'};", msg: in,
			fail: "result.msg: dataType TEXT wants a string, got number"},
		{name: "JSON text that does not parse", code: "return {msg: '{', dataType: 'JSON'};", msg: in,
			fail: "result.msg: dataType JSON with a string wants JSON text, and this does not parse"},
		{name: "payload over 1 MiB", code: "return 'x'.repeat(1100000);", msg: in,
			fail: "result: 1100000 bytes exceed the limit of 1048576"},
		{name: "JSON payload over 1 MiB", code: "return {s: 'x'.repeat(1100000)};", msg: in,
			fail: "result: the payload exceeds 1048576 bytes"},
		{name: "a Promise", code: "return (async () => msg)();", msg: in,
			fail: "result: a Promise; scripts run synchronously, return the value itself"},
		{name: "circular payload", code: "const o = {}; o.o = o; return o;", msg: in,
			fail: "TypeError: converting circular structure to JSON"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprintf("transform-%d", i)
			deploy(t, m, scriptFlow(id, "scriptTransform", map[string]any{"code": tc.code, "timeout": slowMachineTimeout}, types.Success))
			r := submit(t, m, id, tc.msg)
			if tc.fail != "" {
				if r.Status != engine.StatusFailed {
					t.Fatalf("status %s, want failed", r.Status)
				}
				contains(t, "failure", failure(r), tc.fail)
				return
			}
			if r.Status != engine.StatusCompleted {
				t.Fatalf("status %s: %s", r.Status, r.Error)
			}
			out := collect(t, rec, 1)[0].msg
			if out.Data != tc.data || out.DataType != tc.dataType || out.Type != tc.msgType {
				t.Errorf("got %s %s %q, want %s %s %q", out.Type, out.DataType, out.Data, tc.msgType, tc.dataType, tc.data)
			}
			if fmt.Sprint(map[string]string(out.Metadata)) != fmt.Sprint(tc.md) {
				t.Errorf("metadata %v, want %v", out.Metadata, tc.md)
			}
		})
	}
}
