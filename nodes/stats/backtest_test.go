package stats

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

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
