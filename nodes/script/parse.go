package script

import (
	"math"
	"strconv"
	"time"

	"github.com/dop251/goja"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// Relation of scriptParse when the script returns no result.
const relEmpty = "Empty"

// maxResults bounds the results of one payload.
const maxResults = 1000

// MsgTypeTelemetry is the type of the messages scriptParse emits.
const MsgTypeTelemetry = "TELEMETRY"

var parseSpec = &spec.Node{
	Type:     "scriptParse",
	Category: "transform",
	Summary:  "Turn a raw payload into unified telemetry with a JavaScript function.",
	Doc: "The script returns the unified telemetry result `{deviceId, ts, signals}` — or an array of them, when one payload carries several " +
		"devices or samples — and the node emits one `TELEMETRY` message per result on `Success`, its payload " +
		"`{\"deviceId\",\"ts\",\"signals\"}` and its metadata the input's with `deviceId` set from the result.\n\n" +
		"- `deviceId`: a non-empty string; when left out, the message's `deviceId` metadata is used.\n" +
		"- `ts`: milliseconds since the epoch (a number or a `Date`); when left out, the message's timestamp.\n" +
		"- `signals`: an object of at least one signal, each a finite number, a boolean or a string.\n" +
		"- `metadata` (optional): an object of strings, numbers or booleans added to the message's metadata.\n\n" +
		"A result of another shape sends the input to `Failure` with what was expected, e.g. " +
		"`result[1].signals.temperature: want a number, boolean or string, got object`. " +
		"A script that returns `null`, `undefined` or `[]` sends the input on `Empty`. At most 1000 results per payload.\n\n" + scriptsHelp,
	Fields:    fields("Body of `function (msg, metadata, msgType, dataType)`; returns `{deviceId, ts, signals}` or an array of them.", parseExample),
	Relations: spec.Relations{Fixed: []string{types.Success, relEmpty, types.Failure}},
	Validate:  validate,
	Examples: []spec.Example{
		{Title: "JSON payload", Config: map[string]any{"code": parseExample}},
		{Title: "Binary frame: big-endian int16 temperature in tenths, uint16 humidity, status bits", Config: map[string]any{"code": "" +
			"return {\n" +
			"  deviceId: metadata.deviceId,\n" +
			"  signals: {\n" +
			"    temperature: readInt16BE(msg, 0) / 10,\n" +
			"    humidity: readUint16BE(msg, 2),\n" +
			"    heating: bit(readUint8(msg, 4), 0),\n" +
			"  },\n" +
			"};"}},
		{Title: "Gateway batch: one message per device", Config: map[string]any{"code": "" +
			"return msg.devices.map(d => ({deviceId: d.id, ts: d.time * 1000, signals: {temperature: d.t}}));"}},
	},
}

const parseExample = "return {\n" +
	"  deviceId: msg.id,\n" +
	"  ts: msg.time,\n" +
	"  signals: {temperature: msg.temp, running: msg.state === 'on'},\n" +
	"};"

func init() { spec.Register(parseSpec, &Parse{}) }

// Parse is the scriptParse node.
type Parse struct{ core }

// Type implements types.Node.
func (n *Parse) Type() string { return parseSpec.Type }

// New implements types.Node.
func (n *Parse) New() types.Node { return &Parse{} }

// Init implements types.Node.
func (n *Parse) Init(_ types.Config, raw types.Configuration) error {
	var cfg config
	if err := parseSpec.Decode(raw, &cfg); err != nil {
		return err
	}
	return n.init(cfg)
}

// Destroy implements types.Node.
func (n *Parse) Destroy() { n.destroy() }

// OnMsg implements types.Node. Several results leave as several messages,
// all told before OnMsg returns (tellEach).
func (n *Parse) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	var outs []types.RuleMsg
	err := n.call(ctx, msg, func(v *vmState, res goja.Value, _ *goja.Object) error {
		var err error
		outs, err = v.telemetry(res, msg)
		return err
	})
	switch {
	case err != nil:
		ctx.TellFailure(msg, err)
	case len(outs) == 0:
		ctx.TellNext(msg, relEmpty)
	case len(outs) == 1:
		ctx.TellNext(outs[0], types.Success)
	default:
		rels := make([]string, len(outs))
		for i := range rels {
			rels[i] = types.Success
		}
		tellEach(ctx, outs, rels)
	}
}

// telemetry checks a parse script's result and builds its messages.
func (v *vmState) telemetry(res goja.Value, msg types.RuleMsg) ([]types.RuleMsg, error) {
	switch kindOf(res) {
	case kUndefined, kNull:
		return nil, nil
	case kObject:
	default:
		return nil, resultError("result: want an object {deviceId, ts, signals} or an array of them, got %s", typeName(res))
	}
	o := res.(*goja.Object)
	if o.ClassName() != "Array" {
		out, err := v.oneResult(o, "result", msg)
		if err != nil {
			return nil, err
		}
		return []types.RuleMsg{out}, nil
	}
	n := o.Get("length").ToInteger()
	if n > maxResults {
		return nil, resultError("result: %d results exceed the limit of %d per payload", n, maxResults)
	}
	outs := make([]types.RuleMsg, 0, n)
	for i := int64(0); i < n; i++ {
		path := "result[" + strconv.FormatInt(i, 10) + "]"
		item := o.Get(strconv.FormatInt(i, 10))
		r, ok := item.(*goja.Object)
		if !ok || r.ClassName() == "Array" {
			return nil, resultError("%s: want an object {deviceId, ts, signals}, got %s", path, typeName(item))
		}
		out, err := v.oneResult(r, path, msg)
		if err != nil {
			return nil, err
		}
		outs = append(outs, out)
	}
	return outs, nil
}

// oneResult checks one {deviceId, ts, signals, metadata} and encodes it.
func (v *vmState) oneResult(o *goja.Object, path string, msg types.RuleMsg) (types.RuleMsg, error) {
	var deviceID string
	ts := msg.Ts
	var signals, extra *goja.Object
	for _, k := range o.Keys() {
		val := o.Get(k)
		switch k {
		case "deviceId":
			switch kindOf(val) {
			case kUndefined:
			case kString:
				deviceID = val.String()
			default:
				return types.RuleMsg{}, resultError("%s.deviceId: want a non-empty string, got %s", path, typeName(val))
			}
		case "ts":
			t, err := timestamp(val, path)
			if err != nil {
				return types.RuleMsg{}, err
			}
			if t != 0 {
				ts = t
			}
		case "signals":
			s, ok := val.(*goja.Object)
			if !ok || s.ClassName() == "Array" {
				return types.RuleMsg{}, resultError("%s.signals: want an object of signal values, got %s", path, typeName(val))
			}
			signals = s
		case "metadata":
			switch kindOf(val) {
			case kUndefined, kNull:
			case kObject:
				extra = val.(*goja.Object)
			default:
				return types.RuleMsg{}, resultError("%s.metadata: want an object, got %s", path, typeName(val))
			}
		default:
			return types.RuleMsg{}, resultError("%s.%s: unknown key (want deviceId, ts, signals and optionally metadata)", path, k)
		}
	}
	if deviceID == "" {
		deviceID = msg.Metadata[engine.MetaDeviceID]
		if deviceID == "" {
			return types.RuleMsg{}, resultError("%s.deviceId: want a non-empty string, got %s (and the message has no deviceId metadata)",
				path, typeName(o.Get("deviceId")))
		}
	}
	if signals == nil {
		return types.RuleMsg{}, resultError("%s.signals: want an object of signal values, got undefined", path)
	}
	buf := make([]byte, 0, 64+len(deviceID))
	buf = append(buf, `{"deviceId":`...)
	buf = appendString(buf, deviceID)
	buf = append(buf, `,"ts":`...)
	buf = strconv.AppendInt(buf, ts, 10)
	buf = append(buf, `,"signals":{`...)
	keys := signals.Keys()
	if len(keys) == 0 {
		return types.RuleMsg{}, resultError("%s.signals: want at least one signal, got an empty object", path)
	}
	for i, k := range keys {
		if k == "" {
			return types.RuleMsg{}, resultError("%s.signals: a signal name must not be empty", path)
		}
		val := signals.Get(k)
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendString(buf, k)
		buf = append(buf, ':')
		switch kindOf(val) {
		case kNumber:
			if f := val.ToFloat(); math.IsNaN(f) || math.IsInf(f, 0) {
				return types.RuleMsg{}, resultError("%s.signals.%s: want a finite number, got %s", path, k, typeName(val))
			}
			buf = appendNumber(buf, val)
		case kBool:
			buf = strconv.AppendBool(buf, val.ToBoolean())
		case kString:
			buf = appendString(buf, val.String())
		default:
			return types.RuleMsg{}, resultError("%s.signals.%s: want a number, boolean or string, got %s", path, k, typeName(val))
		}
		if len(buf) > maxOutput {
			return types.RuleMsg{}, resultError("%s: the telemetry exceeds %d bytes", path, maxOutput)
		}
	}
	buf = append(buf, "}}"...)

	out := msg.Copy()
	if extra != nil {
		md, err := readMetadata(extra, path+".metadata")
		if err != nil {
			return types.RuleMsg{}, err
		}
		for k, val := range md {
			out.Metadata[k] = val
		}
	}
	out.Metadata[engine.MetaDeviceID] = deviceID
	out.Type = MsgTypeTelemetry
	out.DataType = types.JSON
	out.Data = string(buf)
	out.Ts = ts
	return out, nil
}

// timestamp reads a result's ts: milliseconds as a number, or a Date.
// Undefined is 0 (use the message's).
func timestamp(val goja.Value, path string) (int64, error) {
	switch kindOf(val) {
	case kUndefined:
		return 0, nil
	case kNumber:
		f := val.ToFloat()
		if math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 || f > maxTs {
			return 0, resultError("%s.ts: want milliseconds since the epoch, got %s", path, val.String())
		}
		return int64(f), nil
	case kObject:
		o := val.(*goja.Object)
		if o.ClassName() == "Date" {
			if t, ok := o.Export().(time.Time); ok && !t.IsZero() {
				return t.UnixMilli(), nil
			}
			return 0, resultError("%s.ts: want a valid Date, got an invalid one", path)
		}
	}
	return 0, resultError("%s.ts: want milliseconds since the epoch (a number) or a Date, got %s", path, typeName(val))
}

// maxTs is the year 10000 in milliseconds: a larger ts is a unit mistake.
const maxTs = 253402300800000
