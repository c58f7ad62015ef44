// Package modbus is Sluice's Modbus TCP connector: the modbusPoll source
// polls devices' registers and emits unified telemetry, and the modbusWrite
// node sets registers and coils. Both use github.com/simonvetter/modbus.
//
// Import it for its side effect of registering the node types:
//
//	import _ "github.com/sluicehq/sluice/connectors/modbus"
package modbus

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// Node types.
const (
	PollType  = "modbusPoll"
	WriteType = "modbusWrite"
)

func init() {
	spec.Register(pollSpec, engine.SourceNode{NodeType: PollType})
	engine.RegisterSource(PollType, newPoller)
	spec.Register(writeSpec, &WriteNode{})
}

// formatFields are the fields that say how a value sits in registers; the
// poller's register map and the write node's writes share them.
func formatFields(write bool) []*spec.Field {
	typeHelp := "Data type: int16 and uint16 take one register, int32, uint32 and float32 two, float64 four; bool is a coil or discrete input (required for those areas), or a register that is not 0."
	scaleHelp := "The signal is raw × scale + offset (0.1 turns 215 into 21.5); must not be 0. Ignored for bool."
	offsetHelp := "Added after scaling. Ignored for bool."
	if write {
		typeHelp = "Data type: int16 and uint16 take one register, int32, uint32 and float32 two, float64 four; bool is a coil (required for that area), or a register set to 1 or 0."
		scaleHelp = "The register gets (value − offset) / scale, so that it matches a register map that reads raw × scale + offset (0.1 writes 21.5 as 215); must not be 0. Ignored for bool."
		offsetHelp = "Subtracted before scaling. Ignored for bool."
	}
	return []*spec.Field{
		{Name: "type", Type: spec.Enum, Enum: typeNames, Default: string(Uint16), Help: typeHelp},
		{Name: "wordOrder", Type: spec.Enum, Enum: orderNames, Default: string(Big),
			Help: "Order of the registers of a multi-register value: big puts the high word first (ABCD), little the low word first (CDAB)."},
		{Name: "byteOrder", Type: spec.Enum, Enum: orderNames, Default: string(Big), Advanced: true,
			Help: "Order of the two bytes inside each register: big is the Modbus standard; little swaps them (BADC, or DCBA with word order little)."},
		{Name: "scale", Type: spec.Float, Default: 1.0, Help: scaleHelp, Example: 0.1},
		{Name: "offset", Type: spec.Float, Default: 0.0, Help: offsetHelp, Example: -40.0},
	}
}

var pollSpec = &spec.Node{
	Type:     PollType,
	Category: "connectors",
	Summary:  "Poll Modbus TCP devices and emit one telemetry message per device and poll.",
	Doc: "Each device is polled on its own interval, on its own connection. Registers of one area that are next to each other " +
		"are read in one request (up to 125 registers or 2000 bits per request), and each successful poll emits one message of type " +
		"`TELEMETRY` whose payload is the unified telemetry shape `{\"deviceId\",\"ts\",\"signals\":{name: value}}` and whose metadata " +
		"holds `connector`, `tenant`, `deviceId`, `unitId`, `remoteAddr` (host:port) and `receivedAt`. A poll that fails emits nothing: " +
		"the device is retried with exponential backoff between `retryMin` and `retryMax` while the other devices keep polling, the error " +
		"is counted and the node's status turns `retrying` with the device named in `lastError`; it is `connected` again once every " +
		"device answers. When the flow is full the poller waits for room (never drops a reading), so its next poll comes later. " +
		"Integer signals without scale and offset are whole numbers; scaled signals and floats are numbers; a NaN or infinite float is null.",
	Fields: []*spec.Field{
		{Name: "devices", Type: spec.List, Required: true, Min: spec.Num(1),
			Help: "The devices to poll; each reads the whole register map.",
			Example: []any{map[string]any{"deviceId": "boiler-7", "host": "192.168.1.50", "port": 502, "unitId": 1,
				"pollInterval": "5s", "timeout": "1s"}},
			Fields: []*spec.Field{
				{Name: "deviceId", Type: spec.String, Required: true, Help: "The device id that messages carry; unique in the list.", Example: "boiler-7"},
				{Name: "host", Type: spec.String, Required: true, Help: "Host name or IP address of the device or gateway.", Example: "192.168.1.50"},
				{Name: "port", Type: spec.Int, Default: 502, Min: spec.Num(1), Max: spec.Num(65535), Help: "TCP port."},
				{Name: "unitId", Type: spec.Int, Default: 1, Min: spec.Num(0), Max: spec.Num(255),
					Help: "Modbus unit (slave) id; behind a gateway, the id of the serial device."},
				{Name: "pollInterval", Type: spec.Duration, Default: "1s", Min: spec.Num(0), Max: spec.Num(86400),
					Help: "Time from the start of one poll to the start of the next. 0 polls back to back, as fast as the device answers and the flow takes the messages: for benchmarks, not for real devices.", Example: "5s"},
				{Name: "timeout", Type: spec.Duration, Default: "1s", Min: spec.Num(0.001), Max: spec.Num(60),
					Help: "How long one request may wait for the device's answer.", Example: "500ms"},
			}},
		{Name: "registers", Type: spec.List, Required: true, Min: spec.Num(1),
			Help:    "The register map: one entry per signal.",
			Example: []any{map[string]any{"signal": "temperature", "area": "holding", "address": 0, "type": "int16", "scale": 0.1}},
			Fields: append([]*spec.Field{
				{Name: "signal", Type: spec.String, Required: true, Help: "Name of the signal in `signals`; unique in the map.", Example: "temperature"},
				{Name: "area", Type: spec.Enum, Enum: areaNames, Default: string(Holding),
					Help: "holding and input are 16-bit registers; coil and discrete are single bits (type bool)."},
				{Name: "address", Type: spec.Int, Required: true, Min: spec.Num(0), Max: spec.Num(65535),
					Help: "Zero-based address of the first register or bit as sent on the wire (register 40001 in a device manual is holding address 0).", Example: 0},
			}, formatFields(false)...)},
		{Name: "maxGap", Type: spec.Int, Default: 0, Min: spec.Num(0), Max: spec.Num(maxRegistersPerRead - 1), Advanced: true,
			Help: "Read across up to this many unused addresses to join two groups of signals into one request; keep 0 for devices that refuse reads of unmapped addresses."},
		{Name: "retryMin", Type: spec.Duration, Default: "500ms", Min: spec.Num(0.01), Max: spec.Num(3600), Advanced: true,
			Help: "First wait before polling a device that did not answer again; it doubles on every failure."},
		{Name: "retryMax", Type: spec.Duration, Default: "30s", Min: spec.Num(0.01), Max: spec.Num(3600), Advanced: true,
			Help: "Longest wait between retries of a device that does not answer."},
	},
	Relations: spec.Relations{Fixed: []string{"Success"}},
	Source:    true,
	Examples: []spec.Example{
		{Title: "A boiler controller", Config: map[string]any{
			"devices": []any{map[string]any{"deviceId": "boiler-7", "host": "192.168.1.50", "pollInterval": "5s"}},
			"registers": []any{
				map[string]any{"signal": "temperature", "address": 0, "type": "int16", "scale": 0.1},
				map[string]any{"signal": "pressure", "address": 1, "type": "float32"},
				map[string]any{"signal": "running", "area": "coil", "address": 0, "type": "bool"},
			},
		}},
		{Title: "Two energy meters behind a gateway", Config: map[string]any{
			"devices": []any{
				map[string]any{"deviceId": "meter-1", "host": "10.0.0.20", "unitId": 1, "pollInterval": "10s"},
				map[string]any{"deviceId": "meter-2", "host": "10.0.0.20", "unitId": 2, "pollInterval": "10s"},
			},
			"registers": []any{
				map[string]any{"signal": "voltage", "area": "input", "address": 0, "type": "float32", "wordOrder": "little"},
				map[string]any{"signal": "energy", "area": "input", "address": 2, "type": "uint32", "scale": 0.01},
			},
		}},
	},
	Validate: validatePoll,
}

var writeSpec = &spec.Node{
	Type:     WriteType,
	Category: "connectors",
	Summary:  "Write values from the message, or fixed values, to a Modbus TCP device's registers and coils.",
	Doc: "Each write takes its value from a payload field (`field`, a dotted path such as `signals.setpoint`) or a fixed `value`, " +
		"converts it to the register type (raw = (value − offset) / scale, rounded for integer types; a value that does not fit is an error, never wrapped) " +
		"and writes it: one register with function 6, several with function 16, a coil with function 5. The writes run in order on one connection; " +
		"the first that fails stops the rest and sends the message to `Failure` with the device's error. On success the message leaves on `Success` " +
		"with metadata `modbusWrites` (JSON: what was written). In a test run the node writes nothing and reports what it would write in " +
		"`modbusWrites`, with metadata `dryRun` set to `true`.",
	Fields: []*spec.Field{
		{Name: "host", Type: spec.String, Required: true, Vars: true, Help: "Host name or IP address of the device or gateway.", Example: "192.168.1.50"},
		{Name: "port", Type: spec.Int, Default: 502, Min: spec.Num(1), Max: spec.Num(65535), Vars: true, Help: "TCP port."},
		{Name: "unitId", Type: spec.Int, Default: 1, Min: spec.Num(0), Max: spec.Num(255), Vars: true, Help: "Modbus unit (slave) id."},
		{Name: "timeout", Type: spec.Duration, Default: "2s", Min: spec.Num(0.001), Max: spec.Num(60), Help: "How long one request may wait for the device's answer."},
		{Name: "writes", Type: spec.List, Required: true, Min: spec.Num(1),
			Help:    "What to write, in order.",
			Example: []any{map[string]any{"field": "setpoint", "address": 10, "type": "int16", "scale": 0.1}},
			Fields: append([]*spec.Field{
				{Name: "field", Type: spec.String, Help: "Dotted path of the value in the payload (`setpoint`, `signals.setpoint`); a number or a bool. Set this or value.", Example: "signals.setpoint"},
				{Name: "value", Type: spec.Float, Help: "A fixed value to write instead of a payload field; for a coil, 0 is off and anything else on.", Example: 1.0},
				{Name: "area", Type: spec.Enum, Enum: []string{string(Holding), string(Coil)}, Default: string(Holding),
					Help: "holding registers, or a coil (type bool)."},
				{Name: "address", Type: spec.Int, Required: true, Min: spec.Num(0), Max: spec.Num(65535),
					Help: "Zero-based address of the first register or of the coil.", Example: 10},
			}, formatFields(true)...)},
	},
	Relations: spec.Relations{Fixed: []string{"Success", "Failure"}},
	Examples: []spec.Example{
		{Title: "Set a temperature setpoint from a command", Config: map[string]any{
			"host": "192.168.1.50",
			"writes": []any{
				map[string]any{"field": "setpoint", "address": 10, "type": "int16", "scale": 0.1},
			},
		}},
		{Title: "Switch a pump on", Config: map[string]any{
			"host": "192.168.1.50", "unitId": 3,
			"writes": []any{
				map[string]any{"value": 1.0, "area": "coil", "address": 4, "type": "bool"},
				map[string]any{"value": 1500.0, "address": 20, "type": "float32", "wordOrder": "little"},
			},
		}},
	},
	Validate: validateWrite,
}

// validatePoll checks what single fields cannot: unique device ids and
// signal names, types that fit their area and address, retry bounds.
func validatePoll(cfg map[string]any) spec.Problems {
	var ps spec.Problems
	ids := map[string]int{}
	for i, d := range items(cfg["devices"]) {
		id, _ := d["deviceId"].(string)
		if j, dup := ids[id]; dup && id != "" {
			ps = append(ps, spec.Problem{Field: fmt.Sprintf("devices[%d].deviceId", i), Message: fmt.Sprintf("device id %q is also used by devices[%d]", id, j)})
			continue
		}
		ids[id] = i
	}
	signals := map[string]int{}
	for i, r := range items(cfg["registers"]) {
		path := fmt.Sprintf("registers[%d]", i)
		name, _ := r["signal"].(string)
		if j, dup := signals[name]; dup && name != "" {
			ps = append(ps, spec.Problem{Field: path + ".signal", Message: fmt.Sprintf("signal %q is also defined by registers[%d]", name, j)})
		} else {
			signals[name] = i
		}
		ps = append(ps, checkFormat(r, path, false)...)
	}
	lo, _ := durationOf(cfg["retryMin"])
	hi, _ := durationOf(cfg["retryMax"])
	if lo > 0 && hi > 0 && hi < lo {
		ps = append(ps, spec.Problem{Field: "retryMax", Message: fmt.Sprintf("must be at least retryMin (%s)", lo)})
	}
	return ps
}

func validateWrite(cfg map[string]any) spec.Problems {
	var ps spec.Problems
	for i, w := range items(cfg["writes"]) {
		path := fmt.Sprintf("writes[%d]", i)
		field, _ := w["field"].(string)
		_, hasValue := w["value"]
		switch {
		case field == "" && !hasValue:
			ps = append(ps, spec.Problem{Field: path, Message: "set field (a payload path) or value (a fixed value)"})
		case field != "" && hasValue:
			ps = append(ps, spec.Problem{Field: path + ".value", Message: "set field or value, not both"})
		}
		ps = append(ps, checkFormat(w, path, true)...)
	}
	return ps
}

// checkFormat checks one register map entry or write: a bit area wants type
// bool, the value must end by address 65535, scale must not be 0.
func checkFormat(r map[string]any, path string, write bool) spec.Problems {
	var ps spec.Problems
	area := Area(str(r["area"]))
	typ := Type(str(r["type"]))
	if area.bits() && typ != Bool {
		ps = append(ps, spec.Problem{Field: path + ".type", Message: fmt.Sprintf("area %q holds single bits: want type \"bool\", got %q", area, typ)})
	}
	if addr, ok := intOf(r["address"]); ok && !area.bits() {
		if n := typ.Registers(); n > 0 && addr+int64(n)-1 > 65535 {
			ps = append(ps, spec.Problem{Field: path + ".address", Message: fmt.Sprintf("%s needs %d registers: it would end past address 65535", typ, n)})
		}
	}
	if s, ok := floatOf(r["scale"]); ok && s == 0 {
		what := "the signal would always be the offset"
		if write {
			what = "the value cannot be converted back"
		}
		ps = append(ps, spec.Problem{Field: path + ".scale", Message: "must not be 0: " + what})
	}
	return ps
}

// items returns the objects of a list value.
func items(v any) []map[string]any {
	l, _ := v.([]any)
	out := make([]map[string]any, 0, len(l))
	for _, x := range l {
		m, _ := x.(map[string]any)
		out = append(out, m)
	}
	return out
}

func str(v any) string { s, _ := v.(string); return s }

func intOf(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) {
			return int64(x), true
		}
	case string:
		i, err := strconv.ParseInt(x, 10, 64)
		return i, err == nil
	}
	return 0, false
}

func floatOf(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

func durationOf(v any) (time.Duration, bool) {
	s, ok := v.(string)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}
