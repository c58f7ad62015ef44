package alarm

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/engine/spec"
)

// Condition operators. and/or combine rules; the others compare one signal.
const (
	OpAnd     = "and"
	OpOr      = "or"
	OpGT      = ">"
	OpGE      = ">="
	OpLT      = "<"
	OpLE      = "<="
	OpEQ      = "=="
	OpNE      = "!="
	OpOutside = "outside"
	OpInside  = "inside"
	OpNoData  = "noData"
)

// leafOps are the operators of a rule on one signal, groupOps of a group.
var (
	leafOps  = []string{OpGT, OpGE, OpLT, OpLE, OpEQ, OpNE, OpOutside, OpInside, OpNoData}
	groupOps = []string{OpAnd, OpOr}
)

// Rate units: how many milliseconds the rate of change is expressed per.
var ratePer = map[string]float64{"second": 1e3, "minute": 60e3, "hour": 3600e3}

// maxWindowPoints bounds the samples kept for one signal's rate window; a
// denser stream shortens the window to its newest points.
const maxWindowPoints = 512

// ruleNamePattern is what a rule name may look like: it is part of state
// keys and alarm records.
var ruleNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// conditionConfig is a group: rules combined with and/or. It is also the
// root of a rule's condition.
type conditionConfig struct {
	Op    string       `json:"op"`
	Rules []itemConfig `json:"rules"`
}

// itemConfig is one entry of a group: a rule on a signal, or a nested group
// (op and/or with rules).
type itemConfig struct {
	Op       string       `json:"op"`
	Signal   string       `json:"signal"`
	Value    *float64     `json:"value"`
	Text     *string      `json:"text"`
	Low      *float64     `json:"low"`
	High     *float64     `json:"high"`
	Window   string       `json:"window"`
	Per      string       `json:"per"`
	Timeout  string       `json:"timeout"`
	Deadband float64      `json:"deadband"`
	Rules    []itemConfig `json:"rules"`
}

// cond is a compiled condition node.
type cond struct {
	op       string
	kids     []*cond
	signal   string
	value    float64
	text     string
	isText   bool
	low      float64
	high     float64
	window   int64   // ms; > 0: compare the rate of change
	per      float64 // ms per rate unit
	timeout  int64   // ms, noData
	deadband float64
}

// compiler collects the problems of a configuration, with field paths.
type compiler struct {
	probs   spec.Problems
	signals map[string]bool
	windows map[string]int64 // signal -> widest rate window
}

func (c *compiler) add(path, format string, args ...any) {
	c.probs = append(c.probs, spec.Problem{Severity: spec.Error, Field: path, Message: fmt.Sprintf(format, args...)})
}

// duration parses an optional duration field ("" is zero).
func (c *compiler) duration(path, s string) int64 {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		c.add(path, "not a valid duration: %s", err.Error())
		return 0
	}
	if d < 0 {
		c.add(path, "must not be negative")
		return 0
	}
	return d.Milliseconds()
}

// group compiles a group at path.
func (c *compiler) group(path string, g conditionConfig) *cond {
	op := g.Op
	if op == "" {
		op = OpAnd
	}
	if op != OpAnd && op != OpOr {
		c.add(join(path, "op"), "want %q or %q, got %q", OpAnd, OpOr, g.Op)
	}
	if len(g.Rules) == 0 {
		c.add(join(path, "rules"), "want at least one rule")
	}
	n := &cond{op: op}
	for i, it := range g.Rules {
		n.kids = append(n.kids, c.item(fmt.Sprintf("%s[%d]", join(path, "rules"), i), it))
	}
	return n
}

// item compiles one entry of a group.
func (c *compiler) item(path string, it itemConfig) *cond {
	if it.Op == OpAnd || it.Op == OpOr {
		for name, set := range map[string]bool{
			"signal": it.Signal != "", "value": it.Value != nil, "text": it.Text != nil, "low": it.Low != nil,
			"high": it.High != nil, "window": it.Window != "", "timeout": it.Timeout != "", "deadband": it.Deadband != 0,
		} {
			if set {
				c.add(join(path, name), "a group (op %q) takes rules, not %s", it.Op, name)
			}
		}
		return c.group(path, conditionConfig{Op: it.Op, Rules: it.Rules})
	}
	n := &cond{op: it.Op, signal: it.Signal, deadband: it.Deadband}
	if len(it.Rules) > 0 {
		c.add(join(path, "rules"), "only a group (op \"and\" or \"or\") has rules")
	}
	if it.Deadband < 0 {
		c.add(join(path, "deadband"), "must not be negative")
	}
	switch it.Op {
	case OpGT, OpGE, OpLT, OpLE:
		c.needSignal(path, it)
		if it.Value == nil {
			c.add(join(path, "value"), "required for %q", it.Op)
		} else {
			n.value = *it.Value
		}
		c.notFor(path, it.Op, "text", it.Text != nil)
		c.notFor(path, it.Op, "low", it.Low != nil)
		c.notFor(path, it.Op, "high", it.High != nil)
		c.notFor(path, it.Op, "timeout", it.Timeout != "")
	case OpEQ, OpNE:
		c.needSignal(path, it)
		switch {
		case it.Value != nil && it.Text != nil:
			c.add(join(path, "text"), "set value (a number) or text (a string), not both")
		case it.Value != nil:
			n.value = *it.Value
		case it.Text != nil:
			n.text, n.isText = *it.Text, true
			c.notFor(path, it.Op+" with text", "window", it.Window != "")
			c.notFor(path, it.Op+" with text", "deadband", it.Deadband != 0)
		default:
			c.add(join(path, "value"), "required for %q (or text, for a string signal)", it.Op)
		}
		c.notFor(path, it.Op, "low", it.Low != nil)
		c.notFor(path, it.Op, "high", it.High != nil)
		c.notFor(path, it.Op, "timeout", it.Timeout != "")
	case OpOutside, OpInside:
		c.needSignal(path, it)
		switch {
		case it.Low == nil:
			c.add(join(path, "low"), "required for %q", it.Op)
		case it.High == nil:
			c.add(join(path, "high"), "required for %q", it.Op)
		case *it.Low > *it.High:
			c.add(join(path, "high"), "must not be below low (%s)", strconv.FormatFloat(*it.Low, 'g', -1, 64))
		default:
			n.low, n.high = *it.Low, *it.High
		}
		c.notFor(path, it.Op, "value", it.Value != nil)
		c.notFor(path, it.Op, "text", it.Text != nil)
		c.notFor(path, it.Op, "timeout", it.Timeout != "")
	case OpNoData:
		n.timeout = c.duration(join(path, "timeout"), it.Timeout)
		if it.Timeout == "" || n.timeout <= 0 {
			c.add(join(path, "timeout"), "required for %q: how long without data, e.g. \"5m\"", it.Op)
		}
		for name, set := range map[string]bool{"value": it.Value != nil, "text": it.Text != nil, "low": it.Low != nil,
			"high": it.High != nil, "window": it.Window != "", "deadband": it.Deadband != 0} {
			c.notFor(path, it.Op, name, set)
		}
		if it.Signal != "" {
			c.signals[it.Signal] = true
		}
		return n
	case "":
		c.add(join(path, "op"), "required")
		return n
	default:
		c.add(join(path, "op"), "unknown operator %q", it.Op)
		return n
	}
	if it.Window != "" {
		n.window = c.duration(join(path, "window"), it.Window)
		if n.window <= 0 {
			c.add(join(path, "window"), "must be more than zero")
		}
		per := it.Per
		if per == "" {
			per = "minute"
		}
		p, ok := ratePer[per]
		if !ok {
			c.add(join(path, "per"), "want second, minute or hour, got %q", it.Per)
		}
		n.per = p
		if n.window > c.windows[it.Signal] {
			c.windows[it.Signal] = n.window
		}
	}
	return n
}

func (c *compiler) needSignal(path string, it itemConfig) {
	if it.Signal == "" {
		c.add(join(path, "signal"), "required for %q", it.Op)
		return
	}
	c.signals[it.Signal] = true
}

func (c *compiler) notFor(path, op, field string, set bool) {
	if set {
		c.add(join(path, field), "not used by %q", op)
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// valueKind is the type of a signal's value.
type valueKind uint8

const (
	kindNone valueKind = iota
	kindNum
	kindBool
	kindStr
)

// point is one sample of a rate window.
type point struct {
	T int64   `json:"t"`
	V float64 `json:"v"`
}

// sigState is what a rule remembers of one signal of a device.
type sigState struct {
	Kind valueKind `json:"k,omitempty"`
	Num  float64   `json:"n,omitempty"`
	Str  string    `json:"s,omitempty"`
	// Ts is the device time of the value (0: never seen).
	Ts int64 `json:"ts,omitempty"`
	// Win are the recent numeric samples, for rate rules.
	Win []point `json:"w,omitempty"`
}

// set stores a sample of the signal at device time ts; window > 0 keeps it
// for rates.
//
// A sample older than the newest (out of order within the late tolerance)
// still sets the value, as if it had arrived in order; the newest time is
// kept, and its rate point goes in its place.
func (s *sigState) set(v sigVal, ts, window int64) {
	if ts > s.Ts {
		s.Ts = ts
	}
	s.Kind, s.Num, s.Str = v.kind, v.num, v.str
	if window <= 0 {
		return
	}
	num, ok := s.number()
	if !ok {
		return
	}
	i := len(s.Win)
	for i > 0 && s.Win[i-1].T > ts {
		i--
	}
	switch {
	case i > 0 && s.Win[i-1].T == ts:
		s.Win[i-1].V = num
	case i == len(s.Win):
		s.Win = append(s.Win, point{T: ts, V: num})
	default:
		s.Win = append(s.Win, point{})
		copy(s.Win[i+1:], s.Win[i:])
		s.Win[i] = point{T: ts, V: num}
	}
	// Drop what the widest window no longer needs, and bound the memory.
	newest := s.Win[len(s.Win)-1].T
	cut := 0
	for cut < len(s.Win)-1 && s.Win[cut].T < newest-window {
		cut++
	}
	if len(s.Win)-cut > maxWindowPoints {
		cut = len(s.Win) - maxWindowPoints
	}
	if cut > 0 {
		s.Win = append(s.Win[:0], s.Win[cut:]...)
	}
}

// number is the value as a number: bools are 1 and 0, numeric strings parse.
func (s *sigState) number() (float64, bool) {
	switch s.Kind {
	case kindNum, kindBool:
		return s.Num, true
	case kindStr:
		f, err := strconv.ParseFloat(s.Str, 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

// text is the value as a string.
func (s *sigState) text() (string, bool) {
	switch s.Kind {
	case kindStr:
		return s.Str, true
	case kindBool:
		return strconv.FormatBool(s.Num == 1), true
	case kindNum:
		return strconv.FormatFloat(s.Num, 'g', -1, 64), true
	}
	return "", false
}

// value is the value as JSON shows it (nil when none).
func (s *sigState) value() any {
	switch s.Kind {
	case kindNum:
		return s.Num
	case kindBool:
		return s.Num == 1
	case kindStr:
		return s.Str
	}
	return nil
}

// rate is the change per unit over the newest window ms of samples; false
// without two samples in the window.
func (s *sigState) rate(window int64, per float64) (float64, bool) {
	n := len(s.Win)
	if n < 2 {
		return 0, false
	}
	last := s.Win[n-1]
	i := 0
	for i < n-1 && s.Win[i].T < last.T-window {
		i++
	}
	first := s.Win[i]
	if last.T == first.T {
		return 0, false
	}
	return (last.V - first.V) / float64(last.T-first.T) * per, true
}

// evalEnv is what a condition is evaluated against: one rule's memory of a
// device at device time now.
type evalEnv struct {
	sig    map[string]*sigState
	now    int64 // device ms
	any    int64 // device time of the device's last sample
	first  int64 // device time from which silence counts
	maxAge int64 // ms; 0: values never go stale
}

// eval evaluates c. hold selects the dead-band view (an active alarm's: a
// rule stays true until its value has moved deadband past the threshold).
// val is the value that decided the result, when there is one.
func (c *cond) eval(e *evalEnv, hold bool) (t Truth, val float64, hasVal bool) {
	switch c.op {
	case OpAnd, OpOr:
		// Kleene logic: a false rule decides an and, a true one an or (its
		// value is the alarm's); otherwise unknown wins over the rest.
		and := c.op == OpAnd
		decisive := truthOf(!and)
		unknown := false
		for i, k := range c.kids {
			kt, kv, kh := k.eval(e, hold)
			if kt == decisive {
				return kt, kv, kh
			}
			if kt == Unknown {
				unknown = true
			}
			if i == 0 {
				val, hasVal = kv, kh
			}
		}
		if unknown {
			return Unknown, 0, false
		}
		return truthOf(and), val, hasVal
	case OpNoData:
		last := e.any
		if c.signal != "" {
			if s := e.sig[c.signal]; s != nil && s.Ts != 0 {
				last = s.Ts
			} else {
				last = e.first
			}
		}
		if last < e.first {
			last = e.first
		}
		age := e.now - last
		return truthOf(age >= c.timeout), float64(age) / 1e3, true
	}
	s := e.sig[c.signal]
	if s == nil || s.Ts == 0 || e.maxAge > 0 && e.now-s.Ts > e.maxAge {
		return Unknown, 0, false
	}
	if c.isText {
		x, ok := s.text()
		if !ok {
			return Unknown, 0, false
		}
		if c.op == OpEQ {
			return truthOf(x == c.text), 0, false
		}
		return truthOf(x != c.text), 0, false
	}
	var x float64
	var ok bool
	if c.window > 0 {
		x, ok = s.rate(c.window, c.per)
	} else {
		x, ok = s.number()
	}
	if !ok {
		return Unknown, 0, false
	}
	d := 0.0
	if hold {
		d = c.deadband
	}
	switch c.op {
	case OpGT:
		t = truthOf(x > c.value-d)
	case OpGE:
		t = truthOf(x >= c.value-d)
	case OpLT:
		t = truthOf(x < c.value+d)
	case OpLE:
		t = truthOf(x <= c.value+d)
	case OpEQ:
		t = truthOf(math.Abs(x-c.value) <= d)
	case OpNE:
		t = truthOf(x != c.value)
	case OpOutside:
		t = truthOf(x < c.low+d || x > c.high-d)
	case OpInside:
		t = truthOf(x >= c.low-d && x <= c.high+d)
	default:
		t = Unknown
	}
	return t, x, true
}

// due is the earliest device time after now at which c may turn true or
// false without a new sample (a silence timeout), or 0.
func (c *cond) due(e *evalEnv) int64 {
	var d int64
	min := func(x int64) {
		if x > e.now && (d == 0 || x < d) {
			d = x
		}
	}
	switch c.op {
	case OpAnd, OpOr:
		for _, k := range c.kids {
			min(k.due(e))
		}
	case OpNoData:
		last := e.any
		if c.signal != "" {
			if s := e.sig[c.signal]; s != nil && s.Ts != 0 {
				last = s.Ts
			} else {
				last = e.first
			}
		}
		if last < e.first {
			last = e.first
		}
		min(last + c.timeout)
	}
	// A value going stale needs no look: unknown changes no alarm.
	return d
}
