package alarm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/nodes/backtest"
	"github.com/sluicehq/sluice/store/timeseries"
)

// pt is a stored point of the backtest tests: device, signal, seconds after
// t0, value.
type pt struct {
	dev, sig string
	at       int // seconds after t0
	v        any
}

// openHistory opens an embedded time-series store in a temp dir holding
// pts (tenant acme) and a point of another tenant.
func openHistory(t *testing.T, pts []pt) *timeseries.Embedded {
	t.Helper()
	s, err := timeseries.Open(context.Background(), t.TempDir(), timeseries.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	out := []timeseries.Point{{Tenant: "other", Device: "boiler-1", Signal: "temperature", TS: t0.UnixMilli(), Value: timeseries.Number(500)}}
	for _, p := range pts {
		v, err := timeseries.ValueOf(p.v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, timeseries.Point{Tenant: "acme", Device: p.dev, Signal: p.sig, TS: t0.Add(time.Duration(p.at) * time.Second).UnixMilli(), Value: v})
	}
	if err := s.Write(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	return s
}

// runBacktest runs the backtest of nodeType with cfg over [t0+from, t0+to)
// seconds.
func runBacktest(t *testing.T, r timeseries.Reader, nodeType string, cfg any, from, to int, devices ...string) (*backtest.Result, error) {
	t.Helper()
	f, ok := backtest.Lookup(nodeType)
	if !ok {
		t.Fatalf("no backtest for %s; have %v", nodeType, backtest.Types())
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return f(ctx, backtest.Request{
		Tenant: "acme", FlowID: "f1", NodeID: "alarm", NodeType: nodeType, Config: b,
		From: t0.Add(time.Duration(from) * time.Second).UnixMilli(), To: t0.Add(time.Duration(to) * time.Second).UnixMilli(),
		Devices: devices, Reader: r,
	})
}

// evs renders events as "kind device rule severity @seconds [=value]".
func evs(res *backtest.Result) []string {
	out := []string{}
	for _, e := range res.Events {
		s := fmt.Sprintf("%s %s %s %s @%gs", e.Kind, e.DeviceID, e.Rule, e.Severity, float64(e.TS-t0.UnixMilli())/1e3)
		if e.Value != nil {
			s += fmt.Sprintf(" =%g", *e.Value)
		}
		out = append(out, s)
	}
	return out
}

func TestBacktestThreshold(t *testing.T) {
	gt80 := []any{leaf("op", ">", "signal", "temperature", "value", 80.0)}
	cases := []struct {
		name    string
		cfg     map[string]any
		pts     []pt
		to      int
		devices []string
		want    []string
		fired   int
	}{
		{
			name: "duration over samples",
			cfg:  oneRule(gt80, "duration", "30s"),
			pts: []pt{{"b1", "temperature", 0, 70.0}, {"b1", "temperature", 10, 85.0}, {"b1", "temperature", 20, 86.0},
				{"b1", "temperature", 30, 87.0}, {"b1", "temperature", 40, 88.0}, {"b1", "temperature", 50, 70.0}},
			to:    60,
			want:  []string{"active b1 r major @40s =88", "cleared b1 r major @50s =70"},
			fired: 1,
		},
		{
			// The duration ends between samples: the alarm is active at
			// 30 s, when the node's timer would have looked.
			name:  "duration ends between samples",
			cfg:   oneRule(gt80, "duration", "30s"),
			pts:   []pt{{"b1", "temperature", 0, 85.0}, {"b1", "temperature", 60, 85.0}, {"b1", "temperature", 120, 70.0}},
			to:    180,
			want:  []string{"active b1 r major @30s =85", "cleared b1 r major @120s =70"},
			fired: 1,
		},
		{
			name: "consecutive samples",
			cfg:  oneRule(gt80, "samples", 3),
			pts: []pt{{"b1", "temperature", 0, 85.0}, {"b1", "temperature", 10, 85.0}, {"b1", "temperature", 20, 70.0},
				{"b1", "temperature", 30, 81.0}, {"b1", "temperature", 40, 82.0}, {"b1", "temperature", 50, 83.0}},
			to:    60,
			want:  []string{"active b1 r major @50s =83"},
			fired: 1,
		},
		{
			// Dead band 2: the alarm holds down to 78 and clears 20 s after
			// the value went below, without a sample at that time.
			name: "hysteresis clear",
			cfg:  oneRule([]any{leaf("op", ">", "signal", "temperature", "value", 80.0, "deadband", 2.0)}, "clearAfter", "20s"),
			pts: []pt{{"b1", "temperature", 0, 81.0}, {"b1", "temperature", 10, 79.0}, {"b1", "temperature", 20, 78.5},
				{"b1", "temperature", 30, 77.0}, {"b1", "temperature", 40, 77.5}, {"b1", "temperature", 100, 76.0}},
			to:    120,
			want:  []string{"active b1 r major @0s =81", "cleared b1 r major @50s =77.5"},
			fired: 1,
		},
		{
			// Back above the threshold within clearAfter: the same alarm
			// counts a repeat.
			name: "repeat within clearAfter",
			cfg:  oneRule(gt80, "clearAfter", "1m"),
			pts: []pt{{"b1", "temperature", 0, 81.0}, {"b1", "temperature", 10, 70.0}, {"b1", "temperature", 20, 90.0},
				{"b1", "temperature", 30, 70.0}},
			to:    120,
			want:  []string{"active b1 r major @0s =81", "updated b1 r major @20s =90", "cleared b1 r major @90s =70"},
			fired: 1,
		},
		{
			// An OR across signals fires on either; each device has its own
			// alarm.
			name: "or tree over two signals",
			cfg: map[string]any{"rules": []any{map[string]any{"name": "boiler", "severity": "minor", "condition": map[string]any{"op": "or", "rules": []any{
				leaf("op", ">", "signal", "temperature", "value", 80.0),
				leaf("op", "outside", "signal", "pressure", "low", 1.0, "high", 3.0),
			}}}}},
			pts: []pt{{"b1", "temperature", 0, 70.0}, {"b1", "pressure", 0, 2.0}, {"b1", "pressure", 10, 3.5}, {"b1", "pressure", 20, 2.0},
				{"b2", "temperature", 5, 90.0}, {"b2", "temperature", 15, 70.0}, {"b2", "pressure", 15, 2.0}, {"b2", "humidity", 16, 99.0}},
			to: 60,
			want: []string{"active b2 boiler minor @5s =90", "active b1 boiler minor @10s =3.5",
				"cleared b2 boiler minor @15s =70", "cleared b1 boiler minor @20s =70"},
			fired: 2,
		},
		{
			// Silence of a signal for 5 minutes: active when it passes
			// (no sample then), cleared by the next value.
			name: "silence of a signal",
			cfg:  oneRule([]any{leaf("op", "noData", "signal", "temperature", "timeout", "5m")}, "severity", "critical"),
			pts: []pt{{"b1", "temperature", 0, 20.0}, {"b1", "temperature", 60, 21.0}, {"b1", "temperature", 1200, 22.0},
				{"b1", "temperature", 1260, 22.0}},
			to:    1800,
			want:  []string{"active b1 r critical @360s =300", "cleared b1 r critical @1200s =0", "active b1 r critical @1560s =300"},
			fired: 2,
		},
		{
			// Silence of the whole device: any signal counts as data.
			name:  "silence of a device",
			cfg:   oneRule([]any{leaf("op", "noData", "timeout", "2m")}),
			pts:   []pt{{"b1", "status", 0, "ok"}, {"b1", "voltage", 100, 230.0}, {"b1", "status", 400, "ok"}},
			to:    450,
			want:  []string{"active b1 r major @220s =120", "cleared b1 r major @400s =0"},
			fired: 1,
		},
		{
			// No temperature for 2 minutes: the alarm clears at the limit
			// (value: the seconds of silence); a sample of a signal the
			// rule does not read changes nothing; the old value raises
			// nothing until a new sample raises a new alarm.
			name: "clear on silence",
			cfg:  oneRule(gt80, "clearOnSilence", "2m"),
			pts: []pt{{"b1", "temperature", 0, 90.0}, {"b1", "temperature", 30, 91.0}, {"b1", "humidity", 100, 50.0},
				{"b1", "temperature", 400, 95.0}},
			to:    600,
			want:  []string{"active b1 r major @0s =90", "cleared b1 r major @150s =120", "active b1 r major @400s =95", "cleared b1 r major @520s =120"},
			fired: 2,
		},
		{
			// Silence counts over every signal the rule reads: pressure
			// keeps the alarm alive while temperature is silent.
			name: "clear on silence of every signal the rule reads",
			cfg: oneRule([]any{map[string]any{"op": "or", "rules": []any{leaf("op", ">", "signal", "temperature", "value", 80.0),
				leaf("op", ">", "signal", "pressure", "value", 3.0)}}}, "clearOnSilence", "1m"),
			pts:   []pt{{"b1", "temperature", 0, 90.0}, {"b1", "pressure", 50, 2.0}, {"b1", "pressure", 100, 2.0}},
			to:    300,
			want:  []string{"active b1 r major @0s =90", "cleared b1 r major @160s =60"},
			fired: 1,
		},
		{
			name: "escalation by value and by time",
			cfg: oneRule(gt80, "severity", "minor", "escalations", []any{
				map[string]any{"severity": "major", "after": "1m"},
				map[string]any{"severity": "critical", "condition": map[string]any{"rules": []any{leaf("op", ">", "signal", "temperature", "value", 95.0)}}},
			}),
			pts: []pt{{"b1", "temperature", 0, 85.0}, {"b1", "temperature", 30, 96.0}, {"b1", "temperature", 40, 90.0},
				{"b1", "temperature", 120, 70.0}},
			to: 180,
			want: []string{"active b1 r minor @0s =85", "updated b1 r critical @30s =96", "updated b1 r minor @40s =90",
				"updated b1 r major @60s =90", "cleared b1 r major @120s =70"},
			fired: 1,
		},
		{
			name:    "named devices only",
			cfg:     oneRule(gt80),
			pts:     []pt{{"b1", "temperature", 0, 90.0}, {"b2", "temperature", 0, 90.0}, {"b3", "temperature", 0, 90.0}},
			to:      10,
			devices: []string{"b2", "b9"},
			want:    []string{"active b2 r major @0s =90"},
			fired:   1,
		},
		{
			name:  "reminders are not events",
			cfg:   oneRule(gt80, "reminder", "10s"),
			pts:   []pt{{"b1", "temperature", 0, 90.0}, {"b1", "temperature", 100, 70.0}},
			to:    200,
			want:  []string{"active b1 r major @0s =90", "cleared b1 r major @100s =70"},
			fired: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := openHistory(t, tc.pts)
			// Once in one slice, once in slices of two values: the same
			// events.
			for _, slice := range []int64{backtestSliceValues, 2} {
				old := backtestSliceValues
				backtestSliceValues = slice
				res, err := runBacktest(t, store, ThresholdType, tc.cfg, 0, tc.to, tc.devices...)
				backtestSliceValues = old
				if err != nil {
					t.Fatalf("slices of %d: %v", slice, err)
				}
				got := evs(res)
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("slices of %d: events\n%s\nwant\n%s", slice, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
				if res.Fired != tc.fired || res.NodeType != ThresholdType || res.Truncated {
					t.Fatalf("slices of %d: fired %d (want %d), type %q, truncated %v", slice, res.Fired, tc.fired, res.NodeType, res.Truncated)
				}
			}
		})
	}
}

func TestBacktestResultDetails(t *testing.T) {
	store := openHistory(t, []pt{{"b1", "temperature", 0, 90.0}, {"b1", "mode", 0, "auto"}, {"b1", "temperature", 10, 70.0}, {"b1", "temperature", 20, 71.0}})
	res, err := runBacktest(t, store, ThresholdType, oneRule([]any{leaf("op", ">", "signal", "temperature", "value", 80.0)}), 0, 60)
	if err != nil {
		t.Fatal(err)
	}
	// Only the signal the rule reads is read.
	if res.Points != 3 || res.Fired != 1 || len(res.Events) != 2 {
		t.Fatalf("result %+v", res)
	}
	a, c := res.Events[0], res.Events[1]
	if a.Data["alarmId"] == "" || a.Data["alarmId"] != c.Data["alarmId"] || c.Data["since"] != a.TS {
		t.Errorf("active %+v, cleared %+v: want one alarm", a.Data, c.Data)
	}
	if sig, _ := c.Data["signals"].(map[string]any); sig["temperature"] != 70.0 {
		t.Errorf("cleared signals %v", c.Data["signals"])
	}
	if res.From != t0.UnixMilli() || res.To != t0.Add(time.Minute).UnixMilli() {
		t.Errorf("range %d..%d", res.From, res.To)
	}
	// The same range shifted past the data: nothing fires.
	res, err = runBacktest(t, store, ThresholdType, oneRule([]any{leaf("op", ">", "signal", "temperature", "value", 80.0)}), 30, 90)
	if err != nil || res.Points != 0 || len(res.Events) != 0 || res.Events == nil {
		t.Fatalf("empty range: %+v, %v", res, err)
	}
}

func TestBacktestJoint(t *testing.T) {
	cfg := map[string]any{
		"name": "no-pump", "alarmDevice": "boiler-room", "severity": "minor", "duration": "10s", "maxAge": "5m",
		"condition": `dev("boiler-7").temperature > 80 && !dev("pump-2").running`,
	}
	store := openHistory(t, []pt{
		{"pump-2", "running", 0, false},
		{"boiler-7", "temperature", 5, 90.0},
		{"other", "temperature", 6, 99.0}, // not read
		{"pump-2", "voltage", 7, 230.0},   // not read
		{"boiler-7", "temperature", 20, 91.0},
		{"pump-2", "running", 30, true},
		{"pump-2", "running", 40, false},
		{"boiler-7", "temperature", 45, 92.0},
		{"boiler-7", "temperature", 50, 92.0},
		{"boiler-7", "temperature", 55, 92.0},
	})
	for _, slice := range []int64{backtestSliceValues, 1} {
		old := backtestSliceValues
		backtestSliceValues = slice
		res, err := runBacktest(t, store, JointType, cfg, 0, 400)
		backtestSliceValues = old
		if err != nil {
			t.Fatal(err)
		}
		// True from 5 s: active at 15 s (a deadline between samples);
		// cleared at 30 s; true again from 40 s: active at 50 s; the
		// pump's value goes stale 5 min after 40 s: unknown holds.
		want := []string{"active boiler-room no-pump minor @15s", "cleared boiler-room no-pump minor @30s", "active boiler-room no-pump minor @50s"}
		if got := evs(res); !reflect.DeepEqual(got, want) {
			t.Fatalf("slices of %d: events\n%s\nwant\n%s", slice, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if res.Fired != 2 || res.Points != 8 {
			t.Fatalf("slices of %d: fired %d points %d", slice, res.Fired, res.Points)
		}
	}
	// Stale values make the condition false with missing=false: the alarm
	// clears once the pump's value is older than maxAge.
	cfg["missing"] = "false"
	res, err := runBacktest(t, store, JointType, cfg, 0, 400)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"active boiler-room no-pump minor @15s", "cleared boiler-room no-pump minor @30s",
		"active boiler-room no-pump minor @50s", "cleared boiler-room no-pump minor @340.001s"}
	if got := evs(res); !reflect.DeepEqual(got, want) {
		t.Fatalf("missing=false: events\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A joint alarm reads the devices its condition names.
	_, err = runBacktest(t, store, JointType, cfg, 0, 400, "boiler-7")
	if !errors.Is(err, backtest.ErrBadRequest) || !strings.Contains(err.Error(), "boiler-7, pump-2") {
		t.Fatalf("devices for a joint alarm: %v", err)
	}
}

func TestBacktestRefused(t *testing.T) {
	store := openHistory(t, []pt{{"b1", "temperature", 0, 90.0}, {"b1", "temperature", 10, 91.0}, {"b2", "temperature", 10, 91.0}})
	good := oneRule([]any{leaf("op", ">", "signal", "temperature", "value", 80.0)})
	day := 24 * 3600
	cases := []struct {
		name     string
		nodeType string
		cfg      any
		from, to int
		devices  []string
		want     []string // in the error text
	}{
		{"too wide a range", ThresholdType, good, 0, 100 * day, nil, []string{"range: 100 days is wider", "at most 92 days"}},
		{"reversed range", ThresholdType, good, 10, 0, nil, []string{"range: to", "must be after from"}},
		{"missing value", ThresholdType, oneRule([]any{leaf("op", ">", "signal", "temperature")}), 0, 60, nil,
			[]string{`node "alarm" configuration`, "rules[0].condition.rules[0].value"}},
		{"mistyped duration", ThresholdType, oneRule([]any{leaf("op", ">", "signal", "temperature", "value", 80.0)}, "duration", 30), 0, 60, nil,
			[]string{"rules[0].duration"}},
		{"unknown key", ThresholdType, oneRule([]any{leaf("op", ">", "signal", "temperature", "value", 80.0, "treshold", 1.0)}), 0, 60, nil,
			[]string{"rules[0].condition.rules[0].treshold"}},
		{"not an object", ThresholdType, []any{1}, 0, 60, nil, []string{"configuration", "want a JSON object"}},
		{"joint expression", JointType, map[string]any{"name": "j", "condition": `dev("a").x >`}, 0, 60, nil, []string{"condition", "does not compile"}},
		{"empty device id", ThresholdType, good, 0, 60, []string{"b1", " "}, []string{"devices[1]"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := runBacktest(t, store, tc.nodeType, tc.cfg, tc.from, tc.to, tc.devices...)
			if !errors.Is(err, backtest.ErrBadRequest) {
				t.Fatalf("want a bad request, got %+v, %v", res, err)
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	t.Run("too many values", func(t *testing.T) {
		old := BacktestMaxValues
		BacktestMaxValues = 2
		defer func() { BacktestMaxValues = old }()
		_, err := runBacktest(t, store, ThresholdType, good, 0, 60)
		if !errors.Is(err, backtest.ErrBadRequest) || !strings.Contains(err.Error(), "holds 3 stored values") || !strings.Contains(err.Error(), "at most 2") {
			t.Fatalf("want a refusal naming the count, got %v", err)
		}
		// Fewer devices fit.
		if res, err := runBacktest(t, store, ThresholdType, good, 0, 60, "b2"); err != nil || res.Points != 1 {
			t.Fatalf("one device: %+v, %v", res, err)
		}
	})
	t.Run("too many devices", func(t *testing.T) {
		old := BacktestMaxDevices
		BacktestMaxDevices = 1
		defer func() { BacktestMaxDevices = old }()
		_, err := runBacktest(t, store, ThresholdType, good, 0, 60)
		if !errors.Is(err, backtest.ErrBadRequest) || !strings.Contains(err.Error(), "2 devices") {
			t.Fatalf("want a refusal naming the devices, got %v", err)
		}
	})
}

// TestBacktestExtremeRanges: ranges whose width overflows int64 or a
// time.Duration are refused as too wide (not let through by a wrapped
// width), and a range that ends at the largest int64 is replayed slice by
// slice without the slice bounds wrapping around.
func TestBacktestExtremeRanges(t *testing.T) {
	good := oneRule([]any{leaf("op", ">", "signal", "temperature", "value", 80.0)})
	cfg, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := backtest.Lookup(ThresholdType)
	run := func(r timeseries.Reader, from, to int64) (*backtest.Result, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return f(ctx, backtest.Request{Tenant: "acme", FlowID: "f1", NodeID: "alarm", NodeType: ThresholdType, Config: cfg, From: from, To: to, Reader: r})
	}
	store := openHistory(t, nil)
	for _, c := range []struct {
		from, to int64
		want     string
	}{
		{math.MinInt64, math.MaxInt64, "range: 213503982335 days is wider"}, // To-From wraps to -1
		{-1, math.MaxInt64, "range: 106751991167 days is wider"},            // To-From wraps to MinInt64
		{0, 1 << 62, "range: 53375995584 days is wider"},                    // fits int64; ×1ms does not
		{0, math.MaxInt64 / 1_000_000 * 2, "range: 213504 days is wider"},   // ×1ms wraps negative
		{0, BacktestMaxRange.Milliseconds() + 1, "range: 92.0 days is wider"},
	} {
		_, err := run(store, c.from, c.to)
		if !errors.Is(err, backtest.ErrBadRequest) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("[%d, %d): %v, want a bad request saying %q", c.from, c.to, err, c.want)
		}
	}

	// The end of the int64 range, read in slices of one value.
	end := int64(math.MaxInt64)
	w := []timeseries.Point{}
	for i, v := range []float64{90, 70, 95} {
		w = append(w, timeseries.Point{Tenant: "acme", Device: "b1", Signal: "temperature", TS: end - 900 + int64(i)*300, Value: timeseries.Number(v)})
	}
	if err := store.Write(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	old := backtestSliceValues
	backtestSliceValues = 1
	defer func() { backtestSliceValues = old }()
	res, err := run(store, end-1000, end)
	if err != nil {
		t.Fatal(err)
	}
	if res.Points != 3 || res.Fired != 2 {
		t.Errorf("at the end of time: %d points, fired %d: %v", res.Points, res.Fired, evs(res))
	}
}

func TestBacktestTruncated(t *testing.T) {
	var pts []pt
	for i := range backtest.MaxEvents + 10 {
		v := 90.0
		if i%2 == 1 {
			v = 70
		}
		pts = append(pts, pt{"b1", "temperature", i, v})
	}
	res, err := runBacktest(t, openHistory(t, pts), ThresholdType, oneRule([]any{leaf("op", ">", "signal", "temperature", "value", 80.0)}), 0, len(pts))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || len(res.Events) != backtest.MaxEvents || res.Fired != len(pts)/2 || res.Points != len(pts) {
		t.Fatalf("truncated %v, %d events, fired %d, points %d", res.Truncated, len(res.Events), res.Fired, res.Points)
	}
}

// TestBacktestSameAsLive runs one history through a deployed node and
// through a backtest: the same alarm changes at the same device times.
func TestBacktestSameAsLive(t *testing.T) {
	cfg := oneRule([]any{leaf("op", ">", "signal", "temperature", "value", 80.0, "deadband", 1.0)}, "samples", 2, "clearAfter", "12s")
	temps := []float64{70, 85, 86, 79.5, 78, 77, 90, 91, 92, 60, 60, 60}
	var pts []pt
	for i, v := range temps {
		pts = append(pts, pt{"b1", "temperature", i * 5, v})
	}
	h := newHarness(t, cfg, harnessOpts{})
	var live []string
	for _, p := range pts {
		for _, g := range alarms(h.sendAt(p.dev, time.Duration(p.at)*time.Second, sig{p.sig: p.v})) {
			live = append(live, fmt.Sprintf("%s@%d", g.rel, (g.ev.Ts-t0.UnixMilli())/1000))
		}
	}
	// Down since 45 s: the timer clears the alarm at 57 s.
	h.clock.Set(t0.Add(57 * time.Second))
	for _, g := range alarms(h.waitFor(RelCleared)) {
		live = append(live, fmt.Sprintf("%s@%d", g.rel, (g.ev.Ts-t0.UnixMilli())/1000))
	}
	res, err := runBacktest(t, openHistory(t, pts), ThresholdType, cfg, 0, len(temps)*5)
	if err != nil {
		t.Fatal(err)
	}
	var replayed []string
	for _, e := range res.Events {
		rel := map[string]string{"active": RelActive, "updated": RelUpdated, "cleared": RelCleared}[e.Kind]
		replayed = append(replayed, fmt.Sprintf("%s@%d", rel, (e.TS-t0.UnixMilli())/1000))
	}
	if want := []string{"Active@10", "Updated@30", "Cleared@57"}; !reflect.DeepEqual(live, want) || !reflect.DeepEqual(replayed, want) {
		t.Fatalf("live %v, backtest %v", live, replayed)
	}
}

// BenchmarkBacktest replays a day of one temperature per 10 s of ten
// devices (86,400 points) through a rule with a duration and a dead band.
func BenchmarkBacktest(b *testing.B) {
	s, err := timeseries.Open(context.Background(), b.TempDir(), timeseries.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	var pts []timeseries.Point
	for d := range 10 {
		for i := range 8640 {
			v := 60 + 30*float64((i/30+d)%3) // 60, 90, 120 in turns of 5 min
			pts = append(pts, timeseries.Point{Tenant: "acme", Device: fmt.Sprintf("d%d", d), Signal: "temperature",
				TS: t0.Add(time.Duration(i) * 10 * time.Second).UnixMilli(), Value: timeseries.Number(v)})
		}
	}
	if err := s.Write(context.Background(), pts); err != nil {
		b.Fatal(err)
	}
	cfg, _ := json.Marshal(oneRule([]any{leaf("op", ">", "signal", "temperature", "value", 80.0, "deadband", 2.0)}, "duration", "1m", "clearAfter", "30s"))
	f, _ := backtest.Lookup(ThresholdType)
	req := backtest.Request{Tenant: "acme", NodeID: "alarm", NodeType: ThresholdType, Config: cfg,
		From: t0.UnixMilli(), To: t0.Add(24 * time.Hour).UnixMilli(), Reader: s}
	b.ResetTimer()
	for b.Loop() {
		res, err := f(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		if res.Points != len(pts) || res.Fired == 0 {
			b.Fatalf("points %d fired %d", res.Points, res.Fired)
		}
	}
	b.ReportMetric(float64(len(pts)), "points/op")
}
