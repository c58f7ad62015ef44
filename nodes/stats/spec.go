// Package stats is the cron statistics node: triggered by the schedule
// connector, it reads a window of raw telemetry from the time-series store,
// aggregates it per device and signal (optionally per time bucket), runs an
// optional JavaScript calculation over the figures and emits a STATS
// message — once per window across a cluster, catching up windows missed
// while Sluice was down when asked to. Each run is recorded for the
// statistics API. docs/statistics.md is the user's guide.
package stats

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/nodes/script"
	"github.com/sluicehq/sluice/store"
)

// Type is the node type.
const Type = "cronStats"

// MsgType is the message type of the statistics the node emits.
const MsgType = "STATS"

// RecordsKey is the engine resource (engine.Resources) under which the
// process provides the store.StatsRepo that keeps each run. Without one,
// the node still emits its messages.
const RecordsKey = "stats.records"

// DevicesKey is the engine resource (engine.Resources) under which the
// process provides the device registry (a DeviceLister: store.DeviceRepo,
// such as store.DB.Devices()) that resolves deviceTag against the tags
// users give devices. Without one, deviceTag looks at the tags of the
// stored series only.
const DevicesKey = "stats.devices"

// DeviceLister lists a tenant's registered devices a page at a time, by
// tag (store.DeviceRepo satisfies it).
type DeviceLister interface {
	ListDevices(ctx context.Context, f store.DeviceFilter) ([]store.Device, int, error)
}

// RelSkipped is the relation of a trigger that computes nothing: its
// window was done already, or another run of the node holds the lock.
const RelSkipped = "Skipped"

// Metadata the node sets on the messages it emits.
const (
	MetaJob        = "statsJob"
	MetaWindowFrom = "windowFrom" // Unix ms, inclusive
	MetaWindowTo   = "windowTo"   // Unix ms, exclusive
	// MetaRun is tick, catchUp or backfill.
	MetaRun    = "statsRun"
	MetaGroups = "statsGroups"
	// MetaMissed counts the whole windows between the last completed one
	// and this run's that were not computed (catchUp none, or beyond
	// maxCatchUp).
	MetaMissed = "statsMissed"
	MetaRecord = "statsRecordId"
	// MetaSkipped says why a trigger left on Skipped: done or busy.
	MetaSkipped = "statsSkipped"
	// MetaError is the error of the window that failed after others of the
	// same trigger succeeded (its message leaves on Failure).
	MetaError  = "error"
	MetaDryRun = "dryRun"
)

// Run kinds (MetaRun).
const (
	RunTick     = "tick"
	RunCatchUp  = "catchUp"
	RunBackfill = "backfill"
)

// Aggregates.
const (
	AggAvg    = "avg"
	AggMin    = "min"
	AggMax    = "max"
	AggSum    = "sum"
	AggCount  = "count"
	AggFirst  = "first"
	AggLast   = "last"
	AggStddev = "stddev"
	AggP50    = "p50"
	AggP95    = "p95"
	AggP99    = "p99"
	AggDelta  = "delta"
	AggTWA    = "twa"
)

var aggNames = []string{AggAvg, AggMin, AggMax, AggSum, AggCount, AggFirst, AggLast, AggStddev, AggP50, AggP95, AggP99, AggDelta, AggTWA}

// Limits.
const (
	// maxBuckets bounds the buckets of one window (lead / every).
	maxBuckets = 10000
	// maxSignals bounds the signals of one node.
	maxSignals = 100
	// maxSettle bounds settle (seconds): the tick's message must still have
	// time to read and compute within engine.messageTimeout (30s by
	// default), and the node cannot see that timeout.
	maxSettle = 20
	// defaultSettle is settle's default: several flush intervals (1s by
	// default) of the sinks that write the points.
	defaultSettle = "5s"
)

var statsSpec = &spec.Node{
	Type:     Type,
	Category: "transform",
	Summary:  "Compute statistics of stored telemetry over a time window at each tick: avg, min, max, percentiles, counter delta, time-weighted average.",
	Doc: "Wire it after a `schedule` connector. Each incoming message is a tick: the window is `[tick − lead, tick)` — the start is included, " +
		"the end is not, so back-to-back windows never count a point twice. The tick is the metadata `scheduledTime` (RFC 3339, set by the schedule " +
		"connector), else the payload's `scheduled`, else the time the message arrives. The node reads the window `settle` (default 5s) after " +
		"its end, so that points still in a sink's batch queue at the tick are stored by then; a window that ended longer ago is read at once. A message whose payload (or metadata `statsFrom`/`statsTo`) " +
		"holds `from` and `to` (Unix milliseconds or RFC 3339, in years 1 to 9999) asks for that window instead: a backfill.\n\n" +
		"The node reads the raw points of the selected devices and `signals` in the window from the process's time-series store, and computes the " +
		"`aggregates` per device and signal — per time bucket of `every` with `every` set. Numbers count, booleans as 1 and 0, strings are skipped; " +
		"a device and signal (or bucket) without points has no group. `delta` is a counter's increase (a drop is a reset: the new value counts from " +
		"zero), `twa` the time-weighted average with each value held until the next; both start from the last point before the window (or bucket) " +
		"when it is at most `lookback` old. Percentiles interpolate linearly between the closest ranks; `stddev` is the sample standard deviation. " +
		"See docs/statistics.md for the exact definitions.\n\n" +
		"The optional `calc` is JavaScript (the script nodes' sandbox) called with `msg` = the STATS payload; it returns the groups (an array of " +
		"objects), for instance with derived figures added.\n\n" +
		"Output: one `STATS` message per window on `Success`, payload `{\"job\", \"window\": {\"from\", \"to\"}, \"groups\": [{\"deviceId\", \"signal\", " +
		"\"bucket\"?, \"avg\", ...}]}`, metadata `statsJob`, `windowFrom`, `windowTo`, `statsRun` (tick, catchUp, backfill), `statsGroups`, `statsMissed`. " +
		"Each window runs once across all instances that share state: the node takes a lock in the state store and keeps the last completed window " +
		"there; a tick whose window is done already, or that finds the lock taken, leaves on `Skipped`. With `catchUp: all`, windows missed while " +
		"Sluice was down (between the last completed window and this one, `lead` long each) are computed first, oldest first, at most `maxCatchUp`, " +
		"each as its own message. In `sluice serve` every run is recorded for GET /api/v1/stats. A test run without side effects computes the tick's window only and " +
		"records nothing. Errors (no time-series store, a calc that throws) go to `Failure`.",
	Fields: []*spec.Field{
		{Name: "job", Type: spec.String, Default: "", Example: "boiler-hourly",
			Help: "Name of the statistic, in the payload and the records; empty uses the node's id."},
		{Name: "signals", Type: spec.List, Required: true, Min: spec.Num(1), Max: spec.Num(maxSignals),
			Item: &spec.Field{Type: spec.String, Help: "A signal name."}, Example: []any{"temperature", "energy"},
			Help: "The signals to aggregate."},
		{Name: "devices", Type: spec.List, Default: []any{}, Max: spec.Num(10000),
			Item: &spec.Field{Type: spec.String, Help: "A device id."}, Example: []any{"boiler-7", "boiler-8"},
			Help: "Devices by id. The selection is these devices plus those that match deviceGlob and deviceTag; set at least one of the three."},
		{Name: "deviceGlob", Type: spec.String, Default: "", Example: "boiler-*",
			Help: "Devices whose id matches this pattern (`*` any run of characters except `/`, `?` one character, `[a-z]` a class), among the devices with stored points."},
		{Name: "deviceTag", Type: spec.String, Default: "", Example: "site=berlin",
			Help: "Devices with this tag: registered devices whose tags include it exactly (the device registry, as in `sluice serve`), and devices whose stored series carry it as `key=value`; with deviceGlob, a device must match both."},
		{Name: "aggregates", Type: spec.List, Default: []any{AggAvg, AggMin, AggMax, AggCount}, Min: spec.Num(1),
			Item: &spec.Field{Type: spec.Enum, Enum: aggNames, Help: "An aggregate."},
			Help: "What to compute: avg, min, max, sum, count, first, last, stddev, p50, p95, p99, delta (counter increase), twa (time-weighted average)."},
		{Name: "lead", Type: spec.Duration, Default: "1h", Min: spec.Num(0.001), Max: spec.Num(366 * 24 * 3600),
			Help: "Length of the window that ends at the tick."},
		{Name: "settle", Type: spec.Duration, Default: defaultSettle, Min: spec.Num(0), Max: spec.Num(maxSettle), Advanced: true,
			Help: "Read the window this long after its end, so that points written just before the tick and still in a sink's batch queue (flushInterval) are stored; 0s reads at once. At most 20s, to leave the run time within engine.messageTimeout. Test runs and windows that ended longer ago do not wait."},
		{Name: "every", Type: spec.Duration, Default: "0s", Min: spec.Num(0),
			Help: "Group by time bucket of this width too (buckets start at the window's start and must tile it); 0s: one group per device and signal."},
		{Name: "lookback", Type: spec.Duration, Default: "1h", Min: spec.Num(0), Advanced: true,
			Help: "delta and twa start from the last point before the window (or bucket) when it is at most this old; 0s starts them at the first point inside."},
		{Name: "calc", Type: spec.Code, Language: "javascript", Default: "",
			Example: "return msg.groups.map(g => Object.assign(g, {range: g.max - g.min}));",
			Help:    "Optional body of `function (msg, metadata, msgType, dataType)`, called once per window with msg = the STATS payload; returns the groups (an array of objects)."},
		{Name: "calcLibrary", Type: spec.Code, Language: "javascript", Default: "", Vars: true, Advanced: true,
			Help: "JavaScript run before calc, once per VM: functions and constants it can call (`${vars.name}` shares one between nodes)."},
		{Name: "calcTimeout", Type: spec.Duration, Default: "1s", Min: spec.Num(0.001), Max: spec.Num(10), Advanced: true,
			Help: "Time limit of one calc call (one per window): a calc still running then is stopped and the window fails."},
		{Name: "catchUp", Type: spec.Enum, Enum: []string{"none", "all"}, Default: "none",
			Help: "all: windows missed while Sluice was down are computed first, oldest first, each as its own message; none: only the tick's window."},
		{Name: "maxCatchUp", Type: spec.Int, Default: int64(24), Min: spec.Num(1), Max: spec.Num(1000),
			Help: "At most this many missed windows are caught up (the most recent ones); older ones are counted in statsMissed."},
	},
	Relations: spec.Relations{Fixed: []string{types.Success, types.Failure, RelSkipped}},
	Examples: []spec.Example{
		{Title: "Hourly temperature statistics of every boiler", Config: map[string]any{
			"job": "boiler-hourly", "deviceGlob": "boiler-*", "signals": []any{"temperature"},
			"aggregates": []any{AggAvg, AggMin, AggMax, AggP95}, "lead": "1h"}},
		{Title: "Daily energy per meter in hourly buckets, caught up after downtime", Config: map[string]any{
			"job": "energy-daily", "deviceTag": "meter", "signals": []any{"energy"}, "aggregates": []any{AggDelta, AggLast},
			"lead": "24h", "every": "1h", "catchUp": "all", "maxCatchUp": 7}},
		{Title: "Duty cycle and a derived figure", Config: map[string]any{
			"job": "pumps", "devices": []any{"pump-1", "pump-2"}, "signals": []any{"running", "flow"}, "aggregates": []any{AggTWA, AggSum},
			"lead": "15m", "calc": "return msg.groups.map(g => g.signal === 'running' ? Object.assign(g, {dutyPercent: 100 * g.twa}) : g);"}},
	},
	Validate: func(cfg map[string]any) spec.Problems {
		var c config
		if err := decodeMap(cfg, &c); err != nil {
			return spec.Problems{{Message: "decode configuration: " + err.Error()}}
		}
		_, ps := compile(c)
		return ps
	},
}

// config is the decoded configuration.
type config struct {
	Job         string   `json:"job"`
	Signals     []string `json:"signals"`
	Devices     []string `json:"devices"`
	DeviceGlob  string   `json:"deviceGlob"`
	DeviceTag   string   `json:"deviceTag"`
	Aggregates  []string `json:"aggregates"`
	Lead        string   `json:"lead"`
	Every       string   `json:"every"`
	Lookback    string   `json:"lookback"`
	Settle      string   `json:"settle"`
	Calc        string   `json:"calc"`
	CalcLibrary string   `json:"calcLibrary"`
	CalcTimeout string   `json:"calcTimeout"`
	CatchUp     string   `json:"catchUp"`
	MaxCatchUp  int      `json:"maxCatchUp"`
}

// compiled is a checked configuration.
type compiled struct {
	job     string
	signals []string
	ids     []string
	glob    string
	// tag is deviceTag (trimmed); hasTag when set. seriesTag when it is
	// key=value: then stored series tags tagKey=tagValue match too.
	tag              string
	hasTag           bool
	tagKey, tagValue string
	seriesTag        bool
	aggs             []string
	// needSorted: percentiles; needBase: delta or twa with a lookback.
	needSorted, needBase  bool
	lead, every, lookback int64 // ms
	settle                time.Duration
	catchUpAll            bool
	maxCatchUp            int
	calcCode, calcLib     string
	calcTimeout           time.Duration
}

// compile checks a decoded configuration's meaning and keeps what a run
// needs.
func compile(cfg config) (*compiled, spec.Problems) {
	var ps spec.Problems
	add := func(field, format string, args ...any) {
		ps = append(ps, spec.Problem{Severity: spec.Error, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	c := &compiled{job: cfg.Job, glob: cfg.DeviceGlob, catchUpAll: cfg.CatchUp == "all", maxCatchUp: cfg.MaxCatchUp,
		calcCode: cfg.Calc, calcLib: cfg.CalcLibrary}
	if c.maxCatchUp <= 0 {
		c.maxCatchUp = 24
	}
	seen := map[string]bool{}
	for i, s := range cfg.Signals {
		switch {
		case strings.TrimSpace(s) == "":
			add(fmt.Sprintf("signals[%d]", i), "must not be empty")
		case seen[s]:
			add(fmt.Sprintf("signals[%d]", i), "%q is listed twice", s)
		default:
			seen[s] = true
			c.signals = append(c.signals, s)
		}
	}
	if len(cfg.Signals) == 0 {
		add("signals", "want at least one signal")
	}
	seen = map[string]bool{}
	for i, d := range cfg.Devices {
		switch {
		case strings.TrimSpace(d) == "":
			add(fmt.Sprintf("devices[%d]", i), "must not be empty")
		case !seen[d]:
			seen[d] = true
			c.ids = append(c.ids, d)
		}
	}
	if c.glob != "" {
		if _, err := path.Match(c.glob, ""); err != nil {
			add("deviceGlob", "not a valid pattern %q: %v", c.glob, err)
		}
	}
	if cfg.DeviceTag != "" {
		c.tag, c.hasTag = strings.TrimSpace(cfg.DeviceTag), true
		if c.tag == "" {
			add("deviceTag", "want a tag (such as \"meter\" or \"site=berlin\"), got only spaces")
		}
		if k, v, ok := strings.Cut(c.tag, "="); ok && strings.TrimSpace(k) != "" {
			c.tagKey, c.tagValue, c.seriesTag = strings.TrimSpace(k), strings.TrimSpace(v), true
		}
	}
	if len(cfg.Devices) == 0 && c.glob == "" && !c.hasTag {
		add("devices", "select devices: set devices, deviceGlob or deviceTag (deviceGlob \"*\" selects every device)")
	}
	seen = map[string]bool{}
	for i, a := range cfg.Aggregates {
		switch {
		case !slices.Contains(aggNames, a):
			add(fmt.Sprintf("aggregates[%d]", i), "want one of %s, got %q", strings.Join(aggNames, ", "), a)
		case seen[a]:
			add(fmt.Sprintf("aggregates[%d]", i), "%q is listed twice", a)
		default:
			seen[a] = true
			c.aggs = append(c.aggs, a)
		}
	}
	if len(cfg.Aggregates) == 0 {
		add("aggregates", "want at least one aggregate")
	}
	c.needSorted = seen[AggP50] || seen[AggP95] || seen[AggP99]
	dur := func(field, s, def string) int64 {
		if s == "" {
			s = def
		}
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			add(field, "want a duration such as \"1h\", got %q", s)
			return 0
		}
		if d%time.Millisecond != 0 {
			add(field, "want whole milliseconds, got %s", d)
		}
		return d.Milliseconds()
	}
	c.lead = dur("lead", cfg.Lead, "1h")
	c.every = dur("every", cfg.Every, "0s")
	c.lookback = dur("lookback", cfg.Lookback, "1h")
	c.settle = time.Duration(dur("settle", cfg.Settle, defaultSettle)) * time.Millisecond
	if c.settle > maxSettle*time.Second {
		add("settle", "at most %ds: the tick's message must still have time to run within engine.messageTimeout, got %s", maxSettle, c.settle)
	}
	c.needBase = (seen[AggDelta] || seen[AggTWA]) && c.lookback > 0
	switch {
	case c.lead <= 0:
		add("lead", "want a positive duration")
	case c.every > 0 && c.lead%c.every != 0:
		add("every", "the buckets must tile the window: lead (%s) is not a multiple of every (%s)", ms(c.lead), ms(c.every))
	case c.every > 0 && c.lead/c.every > maxBuckets:
		add("every", "%d buckets per window; at most %d", c.lead/c.every, maxBuckets)
	}
	t, err := time.ParseDuration(orDefault(cfg.CalcTimeout, "1s"))
	if err != nil || t <= 0 {
		add("calcTimeout", "want a positive duration, got %q", cfg.CalcTimeout)
	}
	c.calcTimeout = t
	if strings.TrimSpace(cfg.Calc) != "" {
		codeErr, libErr := script.CheckCalc(cfg.Calc, cfg.CalcLibrary)
		if codeErr != nil {
			add("calc", "%s", codeErr.Error())
		}
		if libErr != nil {
			add("calcLibrary", "%s", libErr.Error())
		}
	} else if strings.TrimSpace(cfg.CalcLibrary) != "" {
		ps = append(ps, spec.Problem{Severity: spec.Warning, Field: "calcLibrary", Message: "calcLibrary is set but calc is empty: it is not used"})
	}
	return c, ps
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ms renders milliseconds as a duration.
func ms(v int64) string { return (time.Duration(v) * time.Millisecond).String() }

// errNoCalc is returned by newCalc for a configuration without one.
var errNoCalc = errors.New("no calc")

// newCalc compiles the configuration's calculation (errNoCalc without one).
func (c *compiled) newCalc() (*script.Calc, error) {
	if strings.TrimSpace(c.calcCode) == "" {
		return nil, errNoCalc
	}
	calc, err := script.NewCalc(script.CalcOptions{Code: c.calcCode, Library: c.calcLib, Timeout: c.calcTimeout})
	if err != nil {
		var se *script.SyntaxError
		if errors.As(err, &se) && se.File == "library" {
			return nil, fmt.Errorf("calcLibrary: %w", err)
		}
		return nil, fmt.Errorf("calc: %w", err)
	}
	return calc, nil
}
