package server

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// backtestFlow is a saved flow with a threshold alarm (temperature above
// limit) and a log node.
func backtestFlow(id string, limit float64) map[string]any {
	return map[string]any{
		"ruleChain": map[string]any{"id": id, "name": "Boiler alarms"},
		"metadata": map[string]any{
			"nodes": []any{
				map[string]any{"id": "alarm", "type": "thresholdAlarm", "configuration": backtestConfig(limit)},
				map[string]any{"id": "log1", "type": "log", "configuration": map[string]any{"message": "alarm"}},
			},
			"connections": []any{map[string]any{"fromId": "alarm", "toId": "log1", "type": "Active"}},
		},
	}
}

func backtestConfig(limit float64) map[string]any {
	return map[string]any{"rules": []any{map[string]any{
		"name": "hot", "severity": "minor",
		"condition": map[string]any{"rules": []any{map[string]any{"op": ">", "signal": "temperature", "value": limit}}},
	}}}
}

type backtestAnswer struct {
	FlowID, NodeID, NodeType string
	Version                  int
	Draft                    bool
	From, To                 int64
	Fired, Points            int
	Events                   []struct {
		TS       int64    `json:"ts"`
		DeviceID string   `json:"deviceId"`
		Kind     string   `json:"kind"`
		Rule     string   `json:"rule"`
		Severity string   `json:"severity"`
		Value    *float64 `json:"value"`
	}
}

// events renders the answer's events as "kind device @seconds =value".
func (a backtestAnswer) events() []string {
	out := []string{}
	for _, e := range a.Events {
		s := fmt.Sprintf("%s %s %s %s @%ds", e.Kind, e.DeviceID, e.Rule, e.Severity, (e.TS-tsT0.UnixMilli())/1000)
		if e.Value != nil {
			s += fmt.Sprintf(" =%g", *e.Value)
		}
		out = append(out, s)
	}
	return out
}

func TestBacktestEndpoint(t *testing.T) {
	e := newEnv(t)
	withTelemetry(t, e)
	e.createFlow(backtestFlow("boilers", 5))
	ms := tsT0.UnixMilli()
	path := "/api/v1/flows/boilers/nodes/alarm/backtest"
	// from in RFC 3339, to in Unix ms (a number or a string).
	body := map[string]any{"from": tsT0.Format(time.RFC3339), "to": ms + 180_000}
	var a backtestAnswer
	e.mustDo(http.MethodPost, path, "", body, http.StatusOK, &a)
	want := []string{"active boiler-2 hot minor @0s =100", "active boiler-1 hot minor @100s =6"}
	if got := a.events(); !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	// boiler-1's nine temperatures and boiler-2's one; not the other
	// tenant's, nor the mode signal.
	if a.FlowID != "boilers" || a.NodeID != "alarm" || a.NodeType != "thresholdAlarm" || a.Version != 1 || a.Draft ||
		a.Fired != 2 || a.Points != 10 || a.From != ms || a.To != ms+180_000 {
		t.Fatalf("answer %+v", a)
	}

	// Some devices only.
	a = backtestAnswer{}
	e.mustDo(http.MethodPost, path, "", map[string]any{"from": fmt.Sprint(ms), "to": fmt.Sprint(ms + 180_000), "devices": []string{"boiler-1"}}, http.StatusOK, &a)
	if got := a.events(); !reflect.DeepEqual(got, []string{"active boiler-1 hot minor @100s =6"}) {
		t.Fatalf("boiler-1 only: %v", got)
	}

	// A configuration tried before it is saved.
	a = backtestAnswer{}
	body["config"] = backtestConfig(8)
	e.mustDo(http.MethodPost, path, "", body, http.StatusOK, &a)
	want = []string{"active boiler-2 hot minor @0s =100", "active boiler-1 hot minor @160s =9"}
	if got := a.events(); !reflect.DeepEqual(got, want) || !a.Draft || a.Version != 1 {
		t.Fatalf("draft config: %v (draft %v, version %d), want %v", got, a.Draft, a.Version, want)
	}
	delete(body, "config")

	// The latest version by default; an older one on request.
	e.mustDo(http.MethodPut, "/api/v1/flows/boilers", "", backtestFlow("boilers", 50), http.StatusOK, nil)
	a = backtestAnswer{}
	e.mustDo(http.MethodPost, path, "", body, http.StatusOK, &a)
	if got := a.events(); a.Version != 2 || !reflect.DeepEqual(got, []string{"active boiler-2 hot minor @0s =100"}) {
		t.Fatalf("latest (version %d): %v", a.Version, got)
	}
	a = backtestAnswer{}
	body["version"] = 1
	e.mustDo(http.MethodPost, path, "", body, http.StatusOK, &a)
	if a.Version != 1 || a.Fired != 2 {
		t.Fatalf("version 1: %+v", a)
	}
}

func TestBacktestEndpointErrors(t *testing.T) {
	e := newEnv(t)
	withTelemetry(t, e)
	e.createFlow(backtestFlow("boilers", 5))
	from := tsT0.Format(time.RFC3339)
	ok := map[string]any{"from": from, "to": tsT0.Add(time.Hour).Format(time.RFC3339)}
	cases := []struct {
		name   string
		path   string
		body   any
		status int
		want   []string
	}{
		{"no such flow", "/api/v1/flows/nope/nodes/alarm/backtest", ok, http.StatusNotFound, []string{`"nope"`}},
		{"no such node", "/api/v1/flows/boilers/nodes/pump/backtest", ok, http.StatusNotFound, []string{`no node "pump"`}},
		{"no such node in the draft", "/api/v1/flows/boilers/nodes/pump/backtest", map[string]any{"from": from, "config": backtestConfig(1)}, http.StatusNotFound, []string{`no node "pump"`}},
		{"no backtest", "/api/v1/flows/boilers/nodes/log1/backtest", ok, http.StatusBadRequest,
			[]string{"node log1 (type log) has no backtest; backtests exist for: ", "jointAlarm", "thresholdAlarm"}},
		{"no such version", "/api/v1/flows/boilers/nodes/alarm/backtest", map[string]any{"from": from, "version": 7}, http.StatusNotFound, []string{"version"}},
		{"no from", "/api/v1/flows/boilers/nodes/alarm/backtest", map[string]any{"to": from}, http.StatusBadRequest, []string{"from: required"}},
		{"bad from", "/api/v1/flows/boilers/nodes/alarm/backtest", map[string]any{"from": "yesterday"}, http.StatusBadRequest, []string{"from: want RFC 3339", "yesterday"}},
		{"fractional to", "/api/v1/flows/boilers/nodes/alarm/backtest", map[string]any{"from": from, "to": 1.5}, http.StatusBadRequest, []string{"to: want RFC 3339", "1.5"}},
		{"unknown key", "/api/v1/flows/boilers/nodes/alarm/backtest", map[string]any{"from": from, "devise": []string{"x"}}, http.StatusBadRequest, []string{"devise"}},
		{"config not an object", "/api/v1/flows/boilers/nodes/alarm/backtest", map[string]any{"from": from, "config": []int{1}}, http.StatusBadRequest, []string{"config: want a JSON object"}},
		{"too wide", "/api/v1/flows/boilers/nodes/alarm/backtest", map[string]any{"from": 0, "to": tsT0.UnixMilli()}, http.StatusBadRequest, []string{"range", "narrow from and to"}},
		{"from out of range", "/api/v1/flows/boilers/nodes/alarm/backtest", map[string]any{"from": "-9223372036854775808"}, http.StatusBadRequest, []string{"from: want a time between years 1 and 9999"}},
		{"to out of range", "/api/v1/flows/boilers/nodes/alarm/backtest", map[string]any{"from": from, "to": 9.2e18}, http.StatusBadRequest, []string{"to: want RFC 3339"}},
		{"reversed", "/api/v1/flows/boilers/nodes/alarm/backtest", map[string]any{"from": from, "to": tsT0.Add(-time.Hour).UnixMilli()}, http.StatusBadRequest, []string{"must be after from"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, _, b := e.do(http.MethodPost, tc.path, e.token, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, b)
			}
			msg := errorOf(t, b).Message
			t.Log(msg)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q does not say %q", msg, w)
				}
			}
		})
	}

	t.Run("config that does not decode", func(t *testing.T) {
		bad := backtestConfig(5)
		bad["rules"].([]any)[0].(map[string]any)["condition"] = map[string]any{"rules": []any{map[string]any{"op": ">", "signal": "temperature"}}}
		status, _, b := e.do(http.MethodPost, "/api/v1/flows/boilers/nodes/alarm/backtest", e.token, map[string]any{"from": from, "config": bad})
		if status != http.StatusBadRequest {
			t.Fatalf("status %d: %s", status, b)
		}
		info := errorOf(t, b)
		if !strings.Contains(info.Message, "rules[0].condition.rules[0].value") || len(info.Details) != 1 {
			t.Fatalf("error %+v", info)
		}
		if d := info.Details[0]; d.Field != "rules[0].condition.rules[0].value" || d.Node != "alarm" || d.NodeType != "thresholdAlarm" || d.Flow != "boilers" {
			t.Fatalf("detail %+v", d)
		}
	})
}

func TestBacktestEndpointWithoutStore(t *testing.T) {
	e := newEnv(t)
	e.createFlow(backtestFlow("boilers", 5))
	status, _, b := e.do(http.MethodPost, "/api/v1/flows/boilers/nodes/alarm/backtest", e.token, map[string]any{"from": tsT0.Format(time.RFC3339)})
	if status != http.StatusServiceUnavailable || errorOf(t, b).Code != CodeUnavailable {
		t.Fatalf("status %d: %s", status, b)
	}
}
