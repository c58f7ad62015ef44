package modbus

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/engine"
)

func writeNode(port int, writes ...any) engine.Node {
	return engine.Node{ID: "write", Type: WriteType, Configuration: map[string]any{
		"host": "127.0.0.1", "port": port, "unitId": 3, "timeout": "500ms", "writes": writes,
	}}
}

func command(data string) engine.Message {
	return engine.Message{Type: "COMMAND", Data: data, Metadata: map[string]string{engine.MetaDeviceID: "boiler-7"}}
}

var commandWrites = []any{
	map[string]any{"field": "setpoint", "address": 10, "type": "int16", "scale": 0.1},
	map[string]any{"field": "signals.count", "address": 20, "type": "uint32", "wordOrder": "little"},
	map[string]any{"value": 1500.0, "address": 30, "type": "float32"},
	map[string]any{"value": 1.0, "area": "coil", "address": 4, "type": "bool"},
	map[string]any{"field": "on", "area": "coil", "address": 5, "type": "bool"},
}

const commandData = `{"setpoint": 21.5, "signals": {"count": 4000000000}, "on": false}`

func TestWriteChangesRegisters(t *testing.T) {
	d := startDevice(t)
	d.coils[5] = true
	m := conntest.NewManager(t, engine.Options{})
	conntest.Deploy(t, m, "acme", flowOf(t, "cmd", writeNode(d.port, commandWrites...), hook("")), 1)
	r, err := m.Submit(conntest.Context(t, 30*time.Second), "cmd", command(commandData), engine.SubmitOptions{Wait: true})
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	if r.Status != engine.StatusCompleted || len(r.Ends) != 1 || r.Ends[0].Node != "rec" {
		t.Fatalf("result = %+v", r)
	}
	if got := d.getHolding(10, 1); got[0] != 215 {
		t.Errorf("setpoint register = %d, want 215", got[0])
	}
	if got, want := d.getHolding(20, 2), layout(binary.BigEndian.AppendUint32(nil, 4000000000), true, false); !slices.Equal(got, want) {
		t.Errorf("count registers = %#04x, want %#04x", got, want)
	}
	if got, want := d.getHolding(30, 2), layout(binary.BigEndian.AppendUint32(nil, math.Float32bits(1500)), false, false); !slices.Equal(got, want) {
		t.Errorf("float registers = %#04x, want %#04x", got, want)
	}
	d.mu.Lock()
	c4, c5 := d.coils[4], d.coils[5]
	d.mu.Unlock()
	if !c4 || c5 {
		t.Errorf("coils 4, 5 = %v, %v; want true, false", c4, c5)
	}
	md := r.Ends[0].Msg.Metadata
	if md[MetaDryRun] != "" {
		t.Errorf("dryRun = %q on a real write", md[MetaDryRun])
	}
	var ops []writeOp
	if err := json.Unmarshal([]byte(md[MetaWrites]), &ops); err != nil || len(ops) != 5 || !slices.Equal(ops[0].Registers, []uint16{215}) {
		t.Errorf("modbusWrites = %s (%v)", md[MetaWrites], err)
	}
	// The connection is kept for the next message.
	if _, err := m.Submit(conntest.Context(t, 30*time.Second), "cmd", command(commandData), engine.SubmitOptions{Wait: true}); err != nil {
		t.Fatal(err)
	}
	if n := d.clientCount(); n != 1 {
		t.Errorf("%d connections for two messages, want 1", n)
	}
}

// TestWriteInTestRunReportsInstead: a test run (no side effects) writes
// nothing, does not even connect, and says what it would write.
func TestWriteInTestRunReportsInstead(t *testing.T) {
	d := startDevice(t)
	d.setHolding(10, 0xAAAA)
	m := conntest.NewManager(t, engine.Options{})
	res, err := m.Test(conntest.Context(t, 30*time.Second), "acme", flowOf(t, "cmd", writeNode(d.port, commandWrites...), hook("")), command(commandData), "", false)
	if err != nil {
		t.Fatalf("test run: %v", err)
	}
	if res.Result.Status != engine.StatusCompleted || len(res.Result.Ends) != 1 {
		t.Fatalf("result = %+v", res.Result)
	}
	md := res.Result.Ends[0].Msg.Metadata
	if md[MetaDryRun] != "true" {
		t.Errorf("dryRun = %q", md[MetaDryRun])
	}
	want := `[{"area":"holding","address":10,"type":"int16","value":21.5,"registers":[215]},` +
		`{"area":"holding","address":20,"type":"uint32","value":4000000000,"registers":[10240,61035]},` +
		`{"area":"holding","address":30,"type":"float32","value":1500,"registers":[17595,32768]},` +
		`{"area":"coil","address":4,"type":"bool","value":1,"coil":true},` +
		`{"area":"coil","address":5,"type":"bool","value":false,"coil":false}]`
	if md[MetaWrites] != want {
		t.Errorf("modbusWrites =\n%s\nwant\n%s", md[MetaWrites], want)
	}
	if got := d.getHolding(10, 1); got[0] != 0xAAAA || d.clientCount() != 0 {
		t.Errorf("the test run touched the device: register %#04x, %d connections", got[0], d.clientCount())
	}
}

func TestWriteFailures(t *testing.T) {
	d := startDevice(t)
	d.refuseFrom = 100
	closed := conntest.FreePort(t)
	m := conntest.NewManager(t, engine.Options{})
	prefix := fmt.Sprintf("modbusWrite to 127.0.0.1:%d unit 3: ", d.port)
	setpoint := map[string]any{"field": "setpoint", "address": 10, "type": "int16"}
	cases := []struct {
		name   string
		port   int
		write  map[string]any
		data   string
		prefix string
		want   string
	}{
		{"device refuses", d.port, map[string]any{"value": 1.0, "address": 100}, `{}`, prefix,
			"writes[0]: write holding register 100: illegal data address"},
		{"device refuses a multi-register write", d.port, map[string]any{"value": 1.0, "address": 99, "type": "float32"}, `{}`, prefix,
			"writes[0]: write holding registers 99-100: illegal data address"},
		{"nobody listens", closed, map[string]any{"value": 1.0, "address": 0}, `{}`, fmt.Sprintf("modbusWrite to 127.0.0.1:%d unit 3: ", closed),
			"connect: dial tcp 127.0.0.1:"},
		{"missing field", d.port, setpoint, `{"temperature": 3}`, prefix, `writes[0]: field "setpoint" is not in the payload`},
		{"out of range", d.port, setpoint, `{"setpoint": 70000}`, prefix, `writes[0] (field "setpoint"): value 70000 does not fit int16`},
		{"a string", d.port, setpoint, `{"setpoint": "21"}`, prefix, `writes[0] (field "setpoint"): want a number, got the string "21"`},
		{"not JSON", d.port, setpoint, `setpoint=21`, prefix, "decode payload: invalid character"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := fmt.Sprintf("fail%d", i)
			conntest.Deploy(t, m, "acme", flowOf(t, id, writeNode(c.port, c.write), hook("")), 1)
			r, err := m.Submit(conntest.Context(t, 30*time.Second), id, command(c.data), engine.SubmitOptions{Wait: true})
			if err != nil {
				t.Fatalf("submit: %v", err)
			}
			if r.Status != engine.StatusFailed || len(r.Ends) != 1 || r.Ends[0].Relation != "Failure" ||
				!strings.HasPrefix(r.Ends[0].Error, c.prefix+c.want) {
				t.Fatalf("result = %+v\nwant a Failure with %q", r, c.prefix+c.want)
			}
		})
	}
}

func TestWriteConfigProblems(t *testing.T) {
	for _, c := range []struct {
		write map[string]any
		want  string
	}{
		{map[string]any{"address": int64(1)}, `field "writes[0]": set field (a payload path) or value (a fixed value)`},
		{map[string]any{"address": int64(1), "field": "a", "value": 1.0}, `field "writes[0].value": set field or value, not both`},
		{map[string]any{"address": int64(1), "value": 1.0, "area": "coil"}, `field "writes[0].type": area "coil" holds single bits: want type "bool", got "uint16"`},
		{map[string]any{"address": int64(1), "value": 1.0, "area": "input"}, `field "writes[0].area": want one of "holding", "coil", got "input"`},
		{map[string]any{"address": int64(1), "value": 1.0, "scale": 0.0}, `field "writes[0].scale": must not be 0: the value cannot be converted back`},
	} {
		ps := writeSpec.Check(map[string]any{"host": "plc", "writes": []any{c.write}})
		if len(ps) != 1 || ps[0].String() != c.want {
			t.Errorf("problems for %v:\n%v\nwant %s", c.write, ps, c.want)
		}
	}
	for _, ex := range writeSpec.Examples {
		if ps := writeSpec.Check(ex.Config); len(ps) != 0 {
			t.Errorf("example %q: %v", ex.Title, ps)
		}
	}
}
