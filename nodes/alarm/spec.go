package alarm

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine/spec"
)

// ThresholdType is the node type of the threshold alarm.
const ThresholdType = "thresholdAlarm"

// Relations of the alarm nodes besides Success and Failure.
const (
	RelActive   = "Active"
	RelUpdated  = "Updated"
	RelCleared  = "Cleared"
	RelReminder = "Reminder"
)

// conditionDepth is how deep groups may nest inside a rule's condition (an
// escalation's: one level).
const conditionDepth = 2

var thresholdSpec = &spec.Node{
	Type:     ThresholdType,
	Category: "alarm",
	Summary:  "Raise, escalate and clear alarms when telemetry signals cross thresholds, change too fast or go silent.",
	Doc: "Input: unified telemetry `{\"deviceId\", \"ts\", \"signals\": {name: value}}` (or a list of them); `deviceId` falls back to the metadata's. " +
		"Each rule raises at most one active alarm per device; its `condition` combines rules on signals with `and`/`or` (groups nest). " +
		"A rule compares a signal's value (`>` `>=` `<` `<=` `==` `!=`, `outside`/`inside` `[low, high]`, both bounds inclusive for `inside`), " +
		"or with `window` its rate of change per `per`, or fires with `noData` after `timeout` without the signal (without `signal`: without any data from the device). " +
		"Booleans compare as 1 and 0; `text` compares strings with `==`/`!=`. A signal never seen or older than `maxAge` makes its rule unknown: unknown neither raises nor clears. " +
		"The alarm becomes active once the condition has held for `duration` and `samples` consecutive samples; an active alarm clears once its condition, " +
		"widened by each rule's `deadband` (hysteresis), has been false for `clearAfter`. If it fires again within `clearAfter`, the same alarm counts a repeat. " +
		"`escalations` raise (or lower) the severity while their condition holds and/or once the alarm has been active for `after`; the last one that applies wins. " +
		"With `clearOnSilence`, an active alarm clears (reason `silence`) once the device has sent none of the rule's signals for that long; the old values raise nothing until a new sample. " +
		"Active, unacknowledged alarms are re-sent on `Reminder` every `reminder`. " +
		"Nested objects in `signals` are read by dotted names, as the time-series sink stores them (`{\"motor\": {\"rpm\": 3}}` is the signal `motor.rpm`); nulls and arrays are no values. " +
		"\n\nEvery message passes on `Success`; alarm changes leave as `ALARM` messages with payload " +
		"`{\"alarmId\",\"rule\",\"deviceId\",\"signals\",\"value\",\"severity\",\"status\",\"acknowledged\",\"since\",\"ts\",\"count\"}` on `Active` (a new alarm), " +
		"`Updated` (a repeat, a severity change, an acknowledgement), `Cleared` and `Reminder`; their metadata adds `alarmId`, `alarmRule`, `alarmSeverity`, `alarmStatus`, " +
		"`alarmChange` (created, updated, acknowledged, cleared, reminder) and, for operators' actions, `alarmBy` and `alarmComment`. " +
		"\n\nTime is the device's: `ts` in Unix milliseconds, per device in arrival order. A sample older than the last one seen for its device and signal by more than " +
		"`lateTolerance` passes on `Success` with metadata `late=true` and changes no alarm. A `ts` more than `futureTolerance` ahead of the server's clock is " +
		"replaced by the receive time (metadata `tsClamped=true`). Deadlines that pass without new data (silence, durations, clear hold-offs, reminders, escalations " +
		"by time) are checked every `tick` by the node's timer in a deployed flow. The state of every device and rule is kept in the engine's state store and " +
		"survives redeploys and restarts. In `sluice serve`, alarms and their history are recorded for the alarm API (GET /api/v1/alarms); acknowledging or clearing " +
		"an alarm there reaches the node: reminders stop, and a cleared alarm whose condition still holds comes back as a new alarm. " +
		"\n\nEach alarm event is a message of its own, which the node's timer submits in the device's order (a failing notifier never fails the telemetry). " +
		"A test run has no timer: the node answers with the first alarm event instead of the telemetry (metadata `alarmEvents` counts them) and records nothing " +
		"unless the run has side effects.",
	Fields: []*spec.Field{
		{Name: "rules", Type: spec.List, Required: true, Min: spec.Num(1), Max: spec.Num(64), Fields: ruleFields(),
			Help: "The alarm rules; each has a unique name and raises its own alarm per device.",
			Example: []any{map[string]any{
				"name": "overheat", "severity": "major", "duration": "30s", "clearAfter": "1m",
				"condition": map[string]any{"op": "and", "rules": []any{
					map[string]any{"op": ">", "signal": "temperature", "value": 80.0, "deadband": 2.0},
				}},
			}}},
		{Name: "lateTolerance", Type: spec.Duration, Default: "5s", Min: spec.Num(0),
			Help: "A sample older than the last one seen for its device and signal by more than this is late: it passes with metadata late=true and changes no alarm."},
		{Name: "futureTolerance", Type: spec.Duration, Default: "5m", Min: spec.Num(0), Advanced: true,
			Help: "A ts further ahead of the server's clock than this is replaced by the receive time (metadata tsClamped=true)."},
		{Name: "tick", Type: spec.Duration, Default: "1s", Min: spec.Num(0.01), Max: spec.Num(60), Advanced: true,
			Help: "How often the node's timer looks for deadlines passing without data (silence, durations, clear hold-offs, reminders)."},
	},
	Relations: spec.Relations{Fixed: []string{types.Success, types.Failure, RelActive, RelUpdated, RelCleared, RelReminder}},
	Examples: []spec.Example{
		{Title: "Boiler overheat with hysteresis, escalating to critical", Config: map[string]any{"rules": []any{map[string]any{
			"name": "overheat", "severity": "major", "duration": "30s", "clearAfter": "2m", "reminder": "15m",
			"condition": map[string]any{"rules": []any{map[string]any{"op": ">", "signal": "temperature", "value": 80.0, "deadband": 2.0}}},
			"escalations": []any{map[string]any{"severity": "critical",
				"condition": map[string]any{"rules": []any{map[string]any{"op": ">", "signal": "temperature", "value": 95.0, "deadband": 2.0}}}}},
		}}}},
		{Title: "Pressure out of band or pump stopped, three samples in a row", Config: map[string]any{"rules": []any{map[string]any{
			"name": "pressure", "severity": "minor", "samples": 3,
			"condition": map[string]any{"op": "or", "rules": []any{
				map[string]any{"op": "outside", "signal": "pressure", "low": 1.5, "high": 3.0, "deadband": 0.1},
				map[string]any{"op": "==", "signal": "running", "value": 0.0},
			}},
		}}}},
		{Title: "Temperature rising faster than 2 °C per minute", Config: map[string]any{"rules": []any{map[string]any{
			"name": "heating-fast", "severity": "warning",
			"condition": map[string]any{"rules": []any{map[string]any{"op": ">", "signal": "temperature", "window": "5m", "value": 2.0}}},
		}}}},
		{Title: "Device silent for 10 minutes", Config: map[string]any{"rules": []any{map[string]any{
			"name": "offline", "severity": "major",
			"condition": map[string]any{"rules": []any{map[string]any{"op": "noData", "timeout": "10m"}}},
		}}}},
	},
	Validate: func(cfg map[string]any) spec.Problems {
		var c thresholdConfig
		b, err := json.Marshal(cfg)
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		if err != nil {
			return spec.Problems{{Message: "decode configuration: " + err.Error()}}
		}
		_, ps := compileThreshold(c)
		return ps
	},
}

func ruleFields() []*spec.Field {
	return []*spec.Field{
		{Name: "name", Type: spec.String, Required: true, Example: "overheat",
			Help: "Name of the rule, unique in the node: letters, digits, . _ -; alarms and the API show it as the alarm's rule."},
		{Name: "severity", Type: spec.Enum, Enum: severities, Default: "major", Help: "Severity of the alarm before any escalation."},
		conditionField("condition", "When the alarm fires: rules on signals combined with and/or.", true, conditionDepth),
		{Name: "duration", Type: spec.Duration, Default: "0s", Min: spec.Num(0),
			Help: "How long the condition must hold (device time) before the alarm becomes active."},
		{Name: "samples", Type: spec.Int, Default: int64(1), Min: spec.Num(1),
			Help: "How many consecutive samples must meet the condition before the alarm becomes active."},
		{Name: "clearAfter", Type: spec.Duration, Default: "0s", Min: spec.Num(0),
			Help: "How long the condition (widened by the dead bands) must be false before the alarm clears."},
		{Name: "reminder", Type: spec.Duration, Default: "0s", Min: spec.Num(0),
			Help: "Re-send an active, unacknowledged alarm on Reminder this often; 0s sends no reminders."},
		{Name: "clearOnSilence", Type: spec.Duration, Default: "0s", Min: spec.Num(0), Example: "10m",
			Help: "Clear the active alarm (reason silence) once the device has sent none of the signals the rule reads for this long (device time); until a new sample, the old values raise nothing. 0s: an alarm stays active through silence."},
		{Name: "maxAge", Type: spec.Duration, Default: "0s", Min: spec.Num(0), Advanced: true,
			Help: "A signal value older than this (device time) is unknown; 0s keeps values until replaced."},
		{Name: "escalations", Type: spec.List, Max: spec.Num(8),
			Help: "Further severities: each applies while its condition holds and/or once the alarm has been active for after; the last that applies wins.",
			Fields: []*spec.Field{
				{Name: "severity", Type: spec.Enum, Enum: severities, Required: true, Example: "critical", Help: "Severity while this escalation applies."},
				{Name: "after", Type: spec.Duration, Min: spec.Num(0), Example: "30m",
					Help: "Applies once the alarm has been active this long (device time)."},
				conditionField("condition", "Applies while this condition holds (with dead bands while it applies).", false, 1),
			}},
	}
}

// conditionField is a group: and/or over rules, which may be groups again,
// depth levels down.
func conditionField(name, help string, required bool, depth int) *spec.Field {
	return &spec.Field{Name: name, Type: spec.Object, Required: required, Help: help, Fields: []*spec.Field{
		{Name: "op", Type: spec.Enum, Enum: groupOps, Default: OpAnd, Help: "and: every rule must hold; or: any one."},
		{Name: "rules", Type: spec.List, Required: true, Min: spec.Num(1), Max: spec.Num(32), Fields: itemFields(depth),
			Help: "Rules on signals, or nested groups (op and/or with their own rules)."},
	}}
}

func itemFields(depth int) []*spec.Field {
	ops := leafOps
	if depth > 0 {
		ops = append(slices.Clone(leafOps), groupOps...)
	}
	fs := []*spec.Field{
		{Name: "op", Type: spec.Enum, Enum: ops, Required: true, Example: OpGT,
			Help: "Comparison (> >= < <= == !=), outside or inside [low, high], noData (silence), or and/or for a nested group."},
		{Name: "signal", Type: spec.String, Example: "temperature",
			Help: "Signal name in the telemetry's signals; noData without a signal watches the whole device."},
		{Name: "value", Type: spec.Float, Example: 80.0, Help: "Threshold for > >= < <= == != (a rate with window)."},
		{Name: "text", Type: spec.String, Example: "fault", Help: "String to compare with == or != instead of value."},
		{Name: "low", Type: spec.Float, Example: 1.5, Help: "Lower bound for outside and inside."},
		{Name: "high", Type: spec.Float, Example: 3.0, Help: "Upper bound for outside and inside."},
		{Name: "window", Type: spec.Duration, Min: spec.Num(0), Example: "5m",
			Help: "Compare the signal's rate of change over this window (per per) instead of its value."},
		{Name: "per", Type: spec.Enum, Enum: []string{"second", "minute", "hour"}, Default: "minute", Advanced: true,
			Help: "Unit of a rate of change: change per second, minute or hour."},
		{Name: "timeout", Type: spec.Duration, Min: spec.Num(0), Example: "10m", Help: "noData: fires after this long without the signal."},
		{Name: "deadband", Type: spec.Float, Default: 0.0, Min: spec.Num(0),
			Help: "Hysteresis: an active alarm's rule stays true until the value is this far past the threshold on the good side."},
	}
	if depth > 0 {
		fs = append(fs, &spec.Field{Name: "rules", Type: spec.List, Min: spec.Num(1), Max: spec.Num(32), Fields: itemFields(depth - 1),
			Help: "The rules of a nested group (op and or or)."})
	}
	return fs
}

// thresholdConfig is the decoded configuration.
type thresholdConfig struct {
	Rules           []ruleConfig `json:"rules"`
	LateTolerance   string       `json:"lateTolerance"`
	FutureTolerance string       `json:"futureTolerance"`
	Tick            string       `json:"tick"`
}

type ruleConfig struct {
	Name       string          `json:"name"`
	Severity   string          `json:"severity"`
	Condition  conditionConfig `json:"condition"`
	Duration   string          `json:"duration"`
	Samples    int             `json:"samples"`
	ClearAfter string          `json:"clearAfter"`
	Reminder   string          `json:"reminder"`
	// ClearOnSilence clears an active alarm after this long without a
	// sample of the rule's signals.
	ClearOnSilence string             `json:"clearOnSilence"`
	MaxAge         string             `json:"maxAge"`
	Escalations    []escalationConfig `json:"escalations"`
}

type escalationConfig struct {
	Severity  string           `json:"severity"`
	After     string           `json:"after"`
	Condition *conditionConfig `json:"condition"`
}

// rule is a compiled rule.
type rule struct {
	name    string
	policy  Policy
	raise   *cond
	esc     []*cond // nil where an escalation has no condition
	signals []string
	// reads are the signals with their index in compiled.index and their
	// widest rate window (ms).
	reads  []ruleSignal
	maxAge int64
	// silence is clearOnSilence (ms; 0: off).
	silence int64
}

type ruleSignal struct {
	name   string
	idx    int
	window int64
}

// compiled is a compiled configuration.
type compiled struct {
	rules []*rule
	// index numbers the signals some rule reads.
	index     map[string]int
	lateTol   int64 // ms
	futureTol int64 // ms
	tick      time.Duration
	// grace is how long after a start the timer waits before it looks at
	// devices it knows only from the store: the longest silence timeout
	// (noData, clearOnSilence), so that the downtime itself raises or clears
	// no alarm for devices that report again.
	grace int64
}

// compileThreshold checks a decoded configuration's meaning and compiles it.
func compileThreshold(cfg thresholdConfig) (*compiled, spec.Problems) {
	out := &compiled{index: map[string]int{}}
	var probs spec.Problems
	top := &compiler{}
	out.lateTol = top.duration("lateTolerance", orDefault(cfg.LateTolerance, "5s"))
	out.futureTol = top.duration("futureTolerance", orDefault(cfg.FutureTolerance, "5m"))
	out.tick = time.Duration(top.duration("tick", orDefault(cfg.Tick, "1s"))) * time.Millisecond
	if out.tick < 10*time.Millisecond {
		out.tick = 10 * time.Millisecond
	}
	probs = append(probs, top.probs...)
	if len(cfg.Rules) == 0 {
		probs = append(probs, spec.Problem{Severity: spec.Error, Field: "rules", Message: "want at least one rule"})
	}
	names := map[string]int{}
	for i, rc := range cfg.Rules {
		path := fmt.Sprintf("rules[%d]", i)
		c := &compiler{signals: map[string]bool{}, windows: map[string]int64{}}
		r := &rule{name: rc.Name}
		switch {
		case !ruleNamePattern.MatchString(rc.Name):
			c.add(join(path, "name"), "want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, got %q", rc.Name)
		default:
			if j, dup := names[rc.Name]; dup {
				c.add(join(path, "name"), "rule %q is already rules[%d]'s name", rc.Name, j)
			}
			names[rc.Name] = i
		}
		sev := severityRank(orDefault(rc.Severity, "major"))
		if sev < 0 {
			c.add(join(path, "severity"), "want one of %q, got %q", severities, rc.Severity)
			sev = 0
		}
		r.policy = Policy{
			Duration:   c.duration(join(path, "duration"), rc.Duration),
			Samples:    rc.Samples,
			ClearAfter: c.duration(join(path, "clearAfter"), rc.ClearAfter),
			Reminder:   c.duration(join(path, "reminder"), rc.Reminder),
			Severity:   sev,
		}
		if rc.Samples < 0 {
			c.add(join(path, "samples"), "must be at least 1")
		}
		r.maxAge = c.duration(join(path, "maxAge"), rc.MaxAge)
		r.silence = c.duration(join(path, "clearOnSilence"), rc.ClearOnSilence)
		r.raise = c.group(join(path, "condition"), rc.Condition)
		for j, ec := range rc.Escalations {
			epath := fmt.Sprintf("%s[%d]", join(path, "escalations"), j)
			esev := severityRank(ec.Severity)
			if esev < 0 {
				c.add(join(epath, "severity"), "want one of %q, got %q", severities, ec.Severity)
				esev = 0
			}
			e := Escalation{Severity: esev, After: c.duration(join(epath, "after"), ec.After)}
			var ecnd *cond
			// The spec's defaults give an absent condition its op only.
			if ec.Condition != nil && len(ec.Condition.Rules) > 0 {
				ecnd = c.group(join(epath, "condition"), *ec.Condition)
				e.Cond = true
			}
			if ecnd == nil && e.After <= 0 {
				c.add(epath, "set a condition, an after, or both")
			}
			r.policy.Escalations = append(r.policy.Escalations, e)
			r.esc = append(r.esc, ecnd)
		}
		for s := range c.signals {
			r.signals = append(r.signals, s)
		}
		sort.Strings(r.signals)
		for _, s := range r.signals {
			idx, ok := out.index[s]
			if !ok {
				idx = len(out.index)
				out.index[s] = idx
			}
			r.reads = append(r.reads, ruleSignal{name: s, idx: idx, window: c.windows[s]})
		}
		noData := false
		for _, cn := range append([]*cond{r.raise}, r.esc...) {
			cn.walk(func(n *cond) {
				if n.op == OpNoData {
					noData = true
					if n.timeout > out.grace {
						out.grace = n.timeout
					}
				}
			})
		}
		if r.silence > 0 {
			// Silence is what a noData rule raises on: clearing it on
			// silence would make it flap.
			if noData {
				c.add(join(path, "clearOnSilence"), "not with a noData rule: silence is what raises it")
			}
			if r.silence > out.grace {
				out.grace = r.silence
			}
		}
		probs = append(probs, c.probs...)
		out.rules = append(out.rules, r)
	}
	if probs.HasErrors() {
		return nil, probs
	}
	return out, nil
}

// walk calls fn for c and every condition below it.
func (c *cond) walk(fn func(*cond)) {
	if c == nil {
		return
	}
	fn(c)
	for _, k := range c.kids {
		k.walk(fn)
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
