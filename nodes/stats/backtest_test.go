package stats

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/nodes/backtest"
)

func TestBacktestTilesTheRangeWithWindows(t *testing.T) {
	s := openTS(t, t.TempDir())
	boilerData(t, s)
	f, ok := backtest.Lookup(Type)
	if !ok {
		t.Fatal("no backtest registered for cronStats")
	}
	cfg, _ := json.Marshal(map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "aggregates": []any{"count", "max"},
		"calc": "return msg.groups.map(g => Object.assign(g, {w: metadata.windowFrom === String(msg.window.from)}));"})
	req := backtest.Request{Tenant: tenant, FlowID: "f", NodeID: "n", NodeType: Type, Config: cfg,
		From: at(9 * hr), To: at(12*hr + 30*mi), Reader: s}
	res, err := f(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// Three whole windows; the last half hour is left out.
	if res.Fired != 3 || len(res.Events) != 3 || res.NodeType != Type || res.From != req.From || res.To != req.To {
		t.Fatalf("result %+v", res)
	}
	for i, ev := range res.Events {
		if ev.Kind != "stats" || ev.TS != at(hr*10)+int64(i)*hr.Milliseconds() {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
	groups := func(i int) []map[string]any { return res.Events[i].Data["groups"].([]map[string]any) }
	if g := groups(0); len(g) != 3 || g[0]["deviceId"] != "b1" || g[0]["count"] != 8.0 || g[0]["max"] != 9.0 || g[0]["w"] != true {
		t.Errorf("9-10: %+v", g)
	}
	if g := groups(1); len(g) != 1 || g[0]["max"] != 1000.0 {
		t.Errorf("10-11: %+v", g)
	}
	if g := groups(2); len(g) != 0 {
		t.Errorf("11-12: %+v", g)
	}
	// 8 + 2 + 1 temperature points in 9-10, the 10:00 point in 10-11.
	if res.Points != 12 {
		t.Errorf("points %d", res.Points)
	}
	w := res.Events[0].Data["window"].(map[string]any)
	if w["from"] != at(9*hr) || w["to"] != at(10*hr) {
		t.Errorf("window %v", w)
	}

	// Limited to some devices: within the node's own selection.
	req.Devices = []string{"p1", "nobody"}
	res, err = f(context.Background(), req)
	if err != nil || len(groups(0)) != 1 || groups(0)[0]["deviceId"] != "p1" {
		t.Fatalf("devices p1: %+v %v", res, err)
	}

	for _, tc := range []struct {
		cfg      map[string]any
		from, to int64
		want     string
	}{
		{map[string]any{"signals": []any{"t"}}, at(0), at(hr), "select devices"},
		{map[string]any{"deviceGlob": "*", "signals": []any{"t"}, "lead": "2h"}, at(0), at(hr), "shorter than one window"},
		{map[string]any{"deviceGlob": "*", "signals": []any{"t"}, "lead": "1ms"}, at(0), at(hr), "windows of 1ms; at most 10000"},
		{map[string]any{"deviceGlob": "*", "signals": []any{"t"}}, at(hr), at(0), "must be after"},
		{map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "calc": "throw new Error('x');"}, at(9 * hr), at(10 * hr), "calc: script error at line 1:"},
	} {
		b, _ := json.Marshal(tc.cfg)
		_, err := f(context.Background(), backtest.Request{Tenant: tenant, NodeType: Type, Config: b, From: tc.from, To: tc.to, Reader: s})
		if !errors.Is(err, backtest.ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want a bad request with %q", tc.cfg, err, tc.want)
		}
	}
}

// TestBacktestBudget: the stored values of the windows are counted first
// and a range holding more than a backtest reads is refused, saying what
// to narrow; the groups a result keeps are bounded, the windows after the
// bound left out and the result marked truncated.
func TestBacktestBudget(t *testing.T) {
	s := openTS(t, t.TempDir())
	boilerData(t, s)
	f, _ := backtest.Lookup(Type)
	cfg, _ := json.Marshal(map[string]any{"deviceGlob": "*", "signals": []any{"temperature"}, "aggregates": []any{"count"}})
	req := backtest.Request{Tenant: tenant, FlowID: "f", NodeID: "n", NodeType: Type, Config: cfg, From: at(9 * hr), To: at(12*hr + 30*mi), Reader: s}

	oldValues, oldGroups := BacktestMaxValues, BacktestMaxGroups
	t.Cleanup(func() { BacktestMaxValues, BacktestMaxGroups = oldValues, oldGroups })

	// 12 temperature values in the three windows 9-12 (8+1 of b1, 2 of
	// b2, 1 of p1).
	BacktestMaxValues = 11
	_, err := f(context.Background(), req)
	if !errors.Is(err, backtest.ErrBadRequest) || !strings.Contains(err.Error(), "the 3 windows hold 12 stored values") ||
		!strings.Contains(err.Error(), "at most 11") || !strings.Contains(err.Error(), "narrow from and to, or name fewer devices") {
		t.Fatalf("over the value budget: %v", err)
	}
	// Fewer devices fit.
	narrow := req
	narrow.Devices = []string{"b2", "p1"}
	if res, err := f(context.Background(), narrow); err != nil || res.Points != 3 || res.Fired != 3 {
		t.Fatalf("two devices: %+v %v", res, err)
	}
	BacktestMaxValues = 12
	if res, err := f(context.Background(), req); err != nil || res.Fired != 3 || res.Truncated {
		t.Fatalf("at the value budget: %+v %v", res, err)
	}

	// The first window has 3 groups, the second 1, the third none.
	for _, tc := range []struct {
		maxGroups, events int
		truncated         bool
	}{{4, 3, false}, {3, 1, true}, {2, 0, true}} {
		BacktestMaxGroups = tc.maxGroups
		res, err := f(context.Background(), req)
		if err != nil || len(res.Events) != tc.events || res.Fired != tc.events || res.Truncated != tc.truncated {
			t.Errorf("at most %d groups: %+v %v; want %d events, truncated %v", tc.maxGroups, res, err, tc.events, tc.truncated)
		}
	}
}

// TestBacktestExtremeRanges: ends outside years 1 to 9999 are refused by
// name; the window count of a range whose width overflows int64 no longer
// goes negative (which made the result's capacity negative: a panic).
func TestBacktestExtremeRanges(t *testing.T) {
	s := openTS(t, t.TempDir())
	f, _ := backtest.Lookup(Type)
	cfg, _ := json.Marshal(map[string]any{"deviceGlob": "*", "signals": []any{"t"}, "lead": "8784h"})
	for _, tc := range []struct {
		from, to int64
		want     string
	}{
		{-5e18, 5e18, "range: from: -5000000000000000000 is out of range: want a time in years 1 to 9999"},
		{math.MinInt64, math.MaxInt64, "range: from: -9223372036854775808 is out of range"},
		{0, math.MaxInt64, "range: to: 9223372036854775807 is out of range"},
		{minTime, maxTime + 1, "range: to: 253402300800000 is out of range"},
	} {
		_, err := f(context.Background(), backtest.Request{Tenant: tenant, NodeType: Type, Config: cfg, From: tc.from, To: tc.to, Reader: s})
		if !errors.Is(err, backtest.ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("[%d, %d): %v, want a bad request with %q", tc.from, tc.to, err, tc.want)
		}
	}
	// Years 1 to 9999 whole: 9,978 windows of 366 days; their values are
	// counted in buckets of at most 100 years (a time.Duration of the
	// whole range would overflow) and here refused.
	write(t, s, pt("d", "t", 0, 1.0), pt("d", "t", hr, 2.0))
	old := BacktestMaxValues
	t.Cleanup(func() { BacktestMaxValues = old })
	BacktestMaxValues = 1
	_, err := f(context.Background(), backtest.Request{Tenant: tenant, NodeType: Type, Config: cfg, From: minTime, To: maxTime, Reader: s})
	if !errors.Is(err, backtest.ErrBadRequest) || !strings.Contains(err.Error(), "the 9978 windows hold 2 stored values") {
		t.Fatalf("years 1 to 9999: %v", err)
	}
	// The first and the last windows of those years.
	BacktestMaxValues = old
	lead := int64(8784 * hr / time.Millisecond)
	for _, r := range [][2]int64{{minTime, minTime + 2*lead}, {maxTime - 2*lead, maxTime}} {
		res, err := f(context.Background(), backtest.Request{Tenant: tenant, NodeType: Type, Config: cfg, From: r[0], To: r[1], Reader: s})
		if err != nil || res.Fired != 2 || res.Events[1].TS != r[1] {
			t.Errorf("[%d, %d): %+v %v", r[0], r[1], res, err)
		}
	}
}
