package alarm

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine/spec"
)

// JointType is the node type of the joint alarm.
const JointType = "jointAlarm"

// Modes of the joint alarm's missing field.
const (
	missingFalse   = "false"
	missingUnknown = "unknown"
)

var jointSpec = &spec.Node{
	Type:     JointType,
	Category: "alarm",
	Summary:  "Raise and clear one alarm from a condition over signals of several devices, written as an expression.",
	Doc: "Input: unified telemetry `{\"deviceId\", \"ts\", \"signals\": {name: value}}` (or a list of them) of any device; `deviceId` falls back to the metadata's. " +
		"The `condition` is an expr-lang expression reading devices' latest values with `dev(\"device-id\").signal`, for example " +
		"`dev(\"boiler-7\").temperature > 80 && !dev(\"pump-2\").running`. The node keeps the latest value (and its time) of every signal the expression reads, " +
		"and evaluates the condition at every message of a device it reads. A value older than `maxAge` (device time) is stale; while a value the expression " +
		"reads is missing or stale, the condition is `missing`: unknown (holds the alarm as it is) or false (starts the clear). " +
		"\n\nThe lifecycle is the threshold alarm's: the alarm becomes active once the condition has held for `duration` and `samples` consecutive samples, " +
		"clears once it has been false for `clearAfter`, counts repeats within the hold-off, escalates with `escalations` (by time and/or by their own expression), " +
		"and sends `Reminder`s while active and unacknowledged. The alarm's `deviceId` is `alarmDevice`, its `rule` is `name`. " +
		"\n\nEvery message passes on `Success` (marked `late=true` when it is older than a value it carries by more than `lateTolerance`; it then changes nothing). " +
		"Alarm changes leave as `ALARM` messages on `Active`, `Updated`, `Cleared` and `Reminder`, with the threshold alarm's payload and metadata; " +
		"`signals` shows the values read, named `device.signal`. State survives redeploys and restarts; in `sluice serve` alarms are recorded for the alarm API, " +
		"whose acknowledge and clear reach the node.",
	Fields: []*spec.Field{
		{Name: "name", Type: spec.String, Required: true, Example: "boiler-without-pump",
			Help: "Name of the rule (the alarm's rule): letters, digits, . _ -."},
		{Name: "alarmDevice", Type: spec.String, Default: "joint", Example: "boiler-room",
			Help: "The alarm's deviceId (the alarm API lists and filters by it)."},
		{Name: "condition", Type: spec.Expression, Predicate: true, Required: true,
			Example: `dev("boiler-7").temperature > 80 && !dev("pump-2").running`,
			Help:    `When the alarm fires: an expression over dev("device-id").signal values; booleans, numbers and strings as the telemetry has them.`},
		{Name: "severity", Type: spec.Enum, Enum: severities, Default: "major", Help: "Severity of the alarm before any escalation."},
		{Name: "duration", Type: spec.Duration, Default: "0s", Min: spec.Num(0),
			Help: "How long the condition must hold (device time) before the alarm becomes active."},
		{Name: "samples", Type: spec.Int, Default: int64(1), Min: spec.Num(1),
			Help: "How many consecutive messages must meet the condition before the alarm becomes active."},
		{Name: "clearAfter", Type: spec.Duration, Default: "0s", Min: spec.Num(0),
			Help: "How long the condition must be false before the alarm clears."},
		{Name: "reminder", Type: spec.Duration, Default: "0s", Min: spec.Num(0),
			Help: "Re-send an active, unacknowledged alarm on Reminder this often; 0s sends no reminders."},
		{Name: "maxAge", Type: spec.Duration, Default: "5m", Min: spec.Num(0),
			Help: "A value older than this (device time) is stale; 0s keeps values until replaced."},
		{Name: "missing", Type: spec.Enum, Enum: []string{missingUnknown, missingFalse}, Default: missingUnknown,
			Help: "The condition while a value it reads is missing or stale: unknown (the alarm stays as it is) or false (an active alarm clears after clearAfter)."},
		{Name: "escalations", Type: spec.List, Max: spec.Num(8),
			Help: "Further severities: each applies while its condition holds and/or once the alarm has been active for after; the last that applies wins.",
			Fields: []*spec.Field{
				{Name: "severity", Type: spec.Enum, Enum: severities, Required: true, Example: "critical", Help: "Severity while this escalation applies."},
				{Name: "after", Type: spec.Duration, Min: spec.Num(0), Example: "30m", Help: "Applies once the alarm has been active this long (device time)."},
				{Name: "condition", Type: spec.Expression, Predicate: true, Example: `dev("boiler-7").temperature > 95`,
					Help: "Applies while this expression holds (same dev() reads as the condition)."},
			}},
		{Name: "lateTolerance", Type: spec.Duration, Default: "5s", Min: spec.Num(0),
			Help: "A message older than a value it carries by more than this is late: it passes with metadata late=true and changes no alarm."},
		{Name: "futureTolerance", Type: spec.Duration, Default: "5m", Min: spec.Num(0), Advanced: true,
			Help: "A ts further ahead of the server's clock than this is replaced by the receive time (metadata tsClamped=true)."},
		{Name: "tick", Type: spec.Duration, Default: "1s", Min: spec.Num(0.01), Max: spec.Num(60), Advanced: true,
			Help: "How often the node's timer looks for deadlines passing without data (durations, clear hold-offs, stale values, reminders)."},
	},
	Relations: spec.Relations{Fixed: []string{types.Success, types.Failure, RelActive, RelUpdated, RelCleared, RelReminder}},
	Examples: []spec.Example{
		{Title: "Boiler hot while its pump is stopped, for 30 seconds", Config: map[string]any{
			"name": "boiler-without-pump", "alarmDevice": "boiler-room", "severity": "major", "duration": "30s", "clearAfter": "1m",
			"condition": `dev("boiler-7").temperature > 80 && !dev("pump-2").running`, "maxAge": "2m",
		}},
		{Title: "Supply and return differ too much; stale data clears", Config: map[string]any{
			"name": "delta-t", "alarmDevice": "loop-1", "severity": "minor", "missing": "false",
			"condition":   `dev("supply").temperature - dev("return").temperature > 25`,
			"escalations": []any{map[string]any{"severity": "major", "after": "1h"}},
		}},
	},
	Validate: func(cfg map[string]any) spec.Problems {
		var c jointConfig
		b, err := json.Marshal(cfg)
		if err == nil {
			err = json.Unmarshal(b, &c)
		}
		if err != nil {
			return spec.Problems{{Message: "decode configuration: " + err.Error()}}
		}
		_, ps := compileJoint(c)
		return ps
	},
}

// jointConfig is the decoded configuration.
type jointConfig struct {
	Name            string                  `json:"name"`
	AlarmDevice     string                  `json:"alarmDevice"`
	Condition       string                  `json:"condition"`
	Severity        string                  `json:"severity"`
	Duration        string                  `json:"duration"`
	Samples         int                     `json:"samples"`
	ClearAfter      string                  `json:"clearAfter"`
	Reminder        string                  `json:"reminder"`
	MaxAge          string                  `json:"maxAge"`
	Missing         string                  `json:"missing"`
	Escalations     []jointEscalationConfig `json:"escalations"`
	LateTolerance   string                  `json:"lateTolerance"`
	FutureTolerance string                  `json:"futureTolerance"`
	Tick            string                  `json:"tick"`
}

type jointEscalationConfig struct {
	Severity  string `json:"severity"`
	After     string `json:"after"`
	Condition string `json:"condition"`
}

// jointCompiled is a compiled joint configuration. It carries a threshold
// compilation (one rule, no condition tree) so that the joint node runs
// through the threshold node's runtime, commands, events and records.
type jointCompiled struct {
	c       *compiled
	r       *rule
	device  string
	raise   *jointExpr
	esc     []*jointExpr // nil where an escalation has no condition
	maxAge  int64
	missing Truth
	// reads maps a device to its signals the expressions read, and those
	// to their state keys.
	reads map[string]map[string]string
}

// compileJoint checks a decoded configuration's meaning and compiles it.
func compileJoint(cfg jointConfig) (*jointCompiled, spec.Problems) {
	c := &compiler{}
	out := &jointCompiled{c: &compiled{index: map[string]int{}}, device: orDefault(cfg.AlarmDevice, "joint"), reads: map[string]map[string]string{}}
	out.c.lateTol = c.duration("lateTolerance", orDefault(cfg.LateTolerance, "5s"))
	out.c.futureTol = c.duration("futureTolerance", orDefault(cfg.FutureTolerance, "5m"))
	out.c.tick = time.Duration(c.duration("tick", orDefault(cfg.Tick, "1s"))) * time.Millisecond
	if out.c.tick < 10*time.Millisecond {
		out.c.tick = 10 * time.Millisecond
	}
	if !ruleNamePattern.MatchString(cfg.Name) {
		c.add("name", "want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, got %q", cfg.Name)
	}
	if strings.TrimSpace(out.device) == "" || len(out.device) > 256 {
		c.add("alarmDevice", "want a device id of 1 to 256 characters, got %q", cfg.AlarmDevice)
	}
	sev := severityRank(orDefault(cfg.Severity, "major"))
	if sev < 0 {
		c.add("severity", "want one of %q, got %q", severities, cfg.Severity)
		sev = 0
	}
	switch orDefault(cfg.Missing, missingUnknown) {
	case missingUnknown:
		out.missing = Unknown
	case missingFalse:
		out.missing = False
	default:
		c.add("missing", "want %q or %q, got %q", missingUnknown, missingFalse, cfg.Missing)
	}
	if cfg.Samples < 0 {
		c.add("samples", "must be at least 1")
	}
	r := &rule{name: cfg.Name, policy: Policy{
		Duration:   c.duration("duration", cfg.Duration),
		Samples:    cfg.Samples,
		ClearAfter: c.duration("clearAfter", cfg.ClearAfter),
		Reminder:   c.duration("reminder", cfg.Reminder),
		Severity:   sev,
	}}
	out.maxAge = c.duration("maxAge", orDefault(cfg.MaxAge, "5m"))
	refs := map[jointRef]bool{}
	var err error
	if out.raise, err = compileJointExpr(cfg.Condition); err != nil {
		c.add("condition", "%s", err.Error())
	} else {
		for _, ref := range out.raise.refs {
			refs[ref] = true
		}
	}
	for j, ec := range cfg.Escalations {
		path := fmt.Sprintf("escalations[%d]", j)
		esev := severityRank(ec.Severity)
		if esev < 0 {
			c.add(join(path, "severity"), "want one of %q, got %q", severities, ec.Severity)
			esev = 0
		}
		e := Escalation{Severity: esev, After: c.duration(join(path, "after"), ec.After)}
		var x *jointExpr
		if strings.TrimSpace(ec.Condition) != "" {
			if x, err = compileJointExpr(ec.Condition); err != nil {
				c.add(join(path, "condition"), "%s", err.Error())
			} else {
				e.Cond = true
				for _, ref := range x.refs {
					refs[ref] = true
				}
			}
		} else if e.After <= 0 {
			c.add(path, "set a condition, an after, or both")
		}
		r.policy.Escalations = append(r.policy.Escalations, e)
		out.esc = append(out.esc, x)
	}
	byKey := map[string]jointRef{}
	for ref := range refs {
		k := ref.key()
		if other, dup := byKey[k]; dup {
			c.add("condition", "dev(%q).%s and dev(%q).%s share the name %q: rename one", ref.dev, ref.signal, other.dev, other.signal, k)
		}
		byKey[k] = ref
		m := out.reads[ref.dev]
		if m == nil {
			m = map[string]string{}
			out.reads[ref.dev] = m
		}
		m[ref.signal] = k
		if _, ok := out.c.index[ref.signal]; !ok {
			out.c.index[ref.signal] = len(out.c.index)
		}
		r.signals = append(r.signals, k)
	}
	sort.Strings(r.signals)
	if c.probs.HasErrors() {
		return nil, c.probs
	}
	out.r = r
	out.c.rules = []*rule{r}
	return out, c.probs
}
