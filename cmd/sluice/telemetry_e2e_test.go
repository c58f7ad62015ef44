package main

import (
	"net/http"
	"testing"
	"time"
)

// TestServeParseAndStore: a device's raw HTTP payload is parsed by a script
// into unified telemetry, stored by the time-series sink of a real
// `sluice serve`, and read back through the telemetry API.
func TestServeParseAndStore(t *testing.T) {
	srv := startServe(t, t.TempDir(), "SLUICE_ADMIN_PASSWORD="+adminPassword)
	c := login(t, srv.url, adminPassword)
	var dev struct {
		Token string `json:"token"`
	}
	c.do(http.MethodPost, "/api/v1/devices", map[string]any{"id": "boiler-7"}, http.StatusCreated, &dev)

	flow := `{"ruleChain":{"id":"store-readings","name":"Store readings"},"metadata":{"nodes":[
		{"id":"in","type":"httpIn","configuration":{"path":"readings"}},
		{"id":"parse","type":"scriptParse","configuration":{"code":"return {deviceId: metadata.deviceId, ts: msg.t, signals: {temperature: msg.temp / 10, running: msg.on === 1}};"}},
		{"id":"store","type":"timeseriesSink"}],
		"connections":[{"fromId":"in","toId":"parse","type":"Success"},{"fromId":"parse","toId":"store","type":"Success"}]}}`
	c.do(http.MethodPost, "/api/v1/flows", flow, http.StatusCreated, nil)
	c.do(http.MethodPost, "/api/v1/flows/store-readings/deploy", nil, http.StatusOK, nil)

	ts := time.Now().Add(-time.Minute).UnixMilli()
	dc := &client{t: t, base: srv.url}
	dc.do(http.MethodPost, "/ingest/readings", map[string]any{"t": ts, "temp": 815, "on": 1}, http.StatusAccepted, nil, "Authorization", "Bearer "+dev.Token)

	var latest struct {
		Device  string `json:"deviceId"`
		Signals map[string]struct {
			TS    int64 `json:"ts"`
			Value any   `json:"value"`
		} `json:"signals"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c.do(http.MethodGet, "/api/v1/telemetry/latest?device=boiler-7", nil, http.StatusOK, &latest)
		if len(latest.Signals) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("latest values never arrived: %+v", latest)
		}
		time.Sleep(50 * time.Millisecond)
	}
	temp, running := latest.Signals["temperature"], latest.Signals["running"]
	if temp.TS != ts || temp.Value != 81.5 || running.Value != true {
		t.Fatalf("latest = %+v, want temperature 81.5 and running true at %d", latest, ts)
	}

	// The sink's queue shows in the flow's status.
	var st struct {
		Stats struct {
			Nodes map[string]struct {
				State   string `json:"state"`
				Written int    `json:"written"`
			} `json:"nodes"`
		} `json:"stats"`
	}
	c.do(http.MethodGet, "/api/v1/flows/store-readings/status", nil, http.StatusOK, &st)
	if s := st.Stats.Nodes["store"]; s.State == "" || s.Written != 2 {
		t.Fatalf("sink status = %+v, want a state and 2 points written", st.Stats.Nodes)
	}
}
