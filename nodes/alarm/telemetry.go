package alarm

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// sample is one decoded telemetry result: only the signals some rule reads
// are kept, as decoded.vals[from:to].
type sample struct {
	deviceID string
	ts       int64
	from, to int
}

// decoded is a decoded payload; one is reused per call.
type decoded struct {
	samples []sample
	vals    []sigVal
}

func (d *decoded) reset() {
	d.samples = d.samples[:0]
	d.vals = d.vals[:0]
}

func (d *decoded) valsOf(r *sample) []sigVal { return d.vals[r.from:r.to] }

// sigVal is a signal's value without boxing.
type sigVal struct {
	idx  int // index into compiled.names
	kind valueKind
	num  float64
	str  string
}

// valueOf converts a decoded JSON value; other types have kind none.
func valueOf(v any) sigVal {
	switch x := v.(type) {
	case float64:
		return sigVal{kind: kindNum, num: x}
	case bool:
		if x {
			return sigVal{kind: kindBool, num: 1}
		}
		return sigVal{kind: kindBool}
	case string:
		return sigVal{kind: kindStr, str: x}
	}
	return sigVal{}
}

var errNotTelemetry = errors.New(`want unified telemetry {"deviceId","ts","signals":{name: value}} or a list of them`)

// decodeTelemetry decodes a payload, one result or a list, into d.
// signals maps the signal names the rules read to their index. The common
// flat shape is scanned without allocating; anything unusual (escaped
// strings, say) goes through encoding/json.
func decodeTelemetry(data string, signals map[string]int, d *decoded) error {
	d.reset()
	s := scanner{b: data, d: d}
	s.ws()
	if s.i >= len(s.b) {
		return fmt.Errorf("%w, got an empty payload", errNotTelemetry)
	}
	var ok bool
	switch s.b[s.i] {
	case '{':
		ok = s.result(signals)
	case '[':
		ok = s.list(signals)
	default:
		return fmt.Errorf("%w, got %.40q", errNotTelemetry, data)
	}
	if ok {
		s.ws()
		ok = s.i == len(s.b)
	}
	if !ok || s.noSignals {
		d.reset()
		return decodeSlow(data, signals, d)
	}
	return nil
}

// wireTelemetry is the unified telemetry result as encoding/json decodes it.
type wireTelemetry struct {
	DeviceID string         `json:"deviceId"`
	Ts       millis         `json:"ts"`
	Signals  map[string]any `json:"signals"`
}

// millis is a Unix time in milliseconds; JSON may write it as an integer or
// a float.
type millis int64

// UnmarshalJSON implements json.Unmarshaler.
func (m *millis) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = 0
		return nil
	}
	ms, ok := parseMillis(string(b))
	if !ok {
		return fmt.Errorf("ts: want Unix milliseconds, got %s", b)
	}
	*m = millis(ms)
	return nil
}

func parseMillis(s string) (int64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// decodeSlow decodes with encoding/json, for the exact error messages and
// the shapes the scanner leaves alone.
func decodeSlow(data string, signals map[string]int, d *decoded) error {
	var list []wireTelemetry
	b := []byte(data)
	s := scanner{b: data}
	s.ws()
	if s.peek() == '[' {
		if err := json.Unmarshal(b, &list); err != nil {
			return fmt.Errorf("%w: %s", errNotTelemetry, err.Error())
		}
	} else {
		list = make([]wireTelemetry, 1)
		if err := json.Unmarshal(b, &list[0]); err != nil {
			return fmt.Errorf("%w: %s", errNotTelemetry, err.Error())
		}
	}
	for _, w := range list {
		if w.Signals == nil {
			return fmt.Errorf("%w: no signals object", errNotTelemetry)
		}
		r := sample{deviceID: w.DeviceID, ts: int64(w.Ts), from: len(d.vals)}
		flattenSignals(w.Signals, "", func(name string, v any) {
			if idx, ok := signals[name]; ok {
				sv := valueOf(v)
				sv.idx = idx
				d.vals = append(d.vals, sv)
			}
		})
		r.to = len(d.vals)
		d.samples = append(d.samples, r)
	}
	return nil
}

// flattenSignals calls fn for every signal of m by the name the time-series
// sink stores it under (nodes/sink/timeseries): a nested object's signals
// by dotted names at any depth ({"motor": {"rpm": 3}} is "motor.rpm"); a
// null is no signal. Where the sink refuses a message (an array, an empty
// name), the alarm skips that value and reads the rest.
func flattenSignals(m map[string]any, prefix string, fn func(name string, v any)) {
	for k, v := range m {
		if k == "" {
			continue
		}
		switch x := v.(type) {
		case nil, []any:
			continue
		case map[string]any:
			flattenSignals(x, prefix+k+".", fn)
			continue
		}
		fn(prefix+k, v)
	}
}

// scanner reads the flat telemetry shape. Any surprise makes it report
// false, and the caller falls back to encoding/json.
type scanner struct {
	b         string
	i         int
	d         *decoded
	noSignals bool // a result without a signals object: an error the slow path words
	// key holds the dotted name of the signal being read (nested objects).
	key []byte
}

// put adds a signal's value to the sample whose values start at from; a
// repeated name replaces the earlier value, as in encoding/json.
func (s *scanner) put(from int, v sigVal) {
	for i := from; i < len(s.d.vals); i++ {
		if s.d.vals[i].idx == v.idx {
			s.d.vals[i] = v
			return
		}
	}
	s.d.vals = append(s.d.vals, v)
}

// list reads [result, ...].
func (s *scanner) list(signals map[string]int) bool {
	s.i++ // [
	s.ws()
	if s.peek() == ']' {
		s.i++
		return true
	}
	for {
		s.ws()
		if !s.result(signals) {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// str reads a string without escapes (with escapes: false).
func (s *scanner) str() (string, bool) {
	if s.peek() != '"' {
		return "", false
	}
	start := s.i + 1
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			v := s.b[start:j]
			return v, utf8.ValidString(v)
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
}

// number reads a JSON number.
func (s *scanner) number() (float64, bool) {
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			s.i++
			continue
		}
		break
	}
	f, err := strconv.ParseFloat(s.b[start:s.i], 64)
	return f, err == nil && start < s.i
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i >= len(lit) && s.b[s.i:s.i+len(lit)] == lit {
		s.i += len(lit)
		return true
	}
	return false
}

// value reads a scalar value; objects and arrays are skipped (kind none).
func (s *scanner) value() (sigVal, bool) {
	switch c := s.peek(); {
	case c == '"':
		v, ok := s.str()
		return sigVal{kind: kindStr, str: v}, ok
	case c == 't':
		return sigVal{kind: kindBool, num: 1}, s.literal("true")
	case c == 'f':
		return sigVal{kind: kindBool}, s.literal("false")
	case c == 'n':
		return sigVal{}, s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		f, ok := s.number()
		return sigVal{kind: kindNum, num: f}, ok
	case c == '{' || c == '[':
		return sigVal{}, s.skip()
	}
	return sigVal{}, false
}

// skip skips an object or array (strings without escapes only).
func (s *scanner) skip() bool {
	depth := 0
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.i++
				return true
			}
		case '"':
			if _, ok := s.str(); !ok {
				return false
			}
			continue
		}
		s.i++
	}
	return false
}

// maxSignalDepth is how deep the scanner follows nested signal objects;
// deeper payloads go through encoding/json (which has its own limit).
const maxSignalDepth = 32

// object reads a signals object (s.key[:plen] is its dotted prefix) into
// the sample whose values start at from. Nested objects are read by dotted
// names, as the time-series sink stores them (flattenSignals); a null, an
// array or an empty name is no signal.
func (s *scanner) object(signals map[string]int, from, plen, depth int) bool {
	s.i++ // {
	for first := true; ; first = false {
		s.ws()
		if s.peek() == '}' && first {
			s.i++
			return true
		}
		name, ok := s.str()
		if !ok {
			return false
		}
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		if s.peek() == '{' && name != "" {
			if depth+1 >= maxSignalDepth {
				return false
			}
			s.key = append(append(s.key[:plen], name...), '.')
			if !s.object(signals, from, len(s.key), depth+1) {
				return false
			}
		} else {
			v, ok := s.value()
			if !ok {
				return false
			}
			if v.kind != kindNone && name != "" {
				var idx int
				var read bool
				if plen == 0 {
					idx, read = signals[name]
				} else {
					s.key = append(s.key[:plen], name...)
					idx, read = signals[string(s.key)]
				}
				if read {
					v.idx = idx
					s.put(from, v)
				}
			}
		}
		s.ws()
		if s.peek() == ',' {
			s.i++
			continue
		}
		if s.peek() != '}' {
			return false
		}
		s.i++
		return true
	}
}

// result reads one {"deviceId","ts","signals"} object into s.d.
func (s *scanner) result(signals map[string]int) bool {
	r := sample{from: len(s.d.vals)}
	if s.peek() != '{' {
		return false
	}
	s.i++
	seenSignals := false
	for first := true; ; first = false {
		s.ws()
		if s.peek() == '}' && first {
			s.i++
			break
		}
		key, ok := s.str()
		if !ok {
			return false
		}
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		switch key {
		case "deviceId":
			switch s.peek() {
			case '"':
				v, ok := s.str()
				if !ok {
					return false
				}
				r.deviceID = v
			case 'n':
				if !s.literal("null") {
					return false
				}
			default:
				return false
			}
		case "ts":
			if s.literal("null") {
				break
			}
			start := s.i
			if _, ok := s.number(); !ok {
				return false
			}
			ms, ok := parseMillis(s.b[start:s.i])
			if !ok {
				return false
			}
			r.ts = ms
		case "signals":
			if s.peek() != '{' {
				return false
			}
			seenSignals = true
			if !s.object(signals, r.from, 0, 0) {
				return false
			}
		default:
			if _, ok := s.value(); !ok {
				return false
			}
		}
		s.ws()
		if s.peek() == ',' {
			s.i++
			continue
		}
		if s.peek() != '}' {
			return false
		}
		s.i++
		break
	}
	if !seenSignals {
		s.noSignals = true
	}
	r.to = len(s.d.vals)
	s.d.samples = append(s.d.samples, r)
	return true
}
