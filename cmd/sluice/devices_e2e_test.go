package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServeDevicesStream: a device registered through the API streams into
// deployed flows over HTTP ingest and the embedded MQTT broker of a real
// `sluice serve`; a wrong token is refused and never reaches a flow.
func TestServeDevicesStream(t *testing.T) {
	pub, err := exec.LookPath("mosquitto_pub")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mosquitto_pub is missing (apt-get install mosquitto-clients; make test installs it): %v", err)
		}
		t.Skip("mosquitto_pub not installed")
	}
	srv := startServe(t, t.TempDir(), "SLUICE_ADMIN_PASSWORD="+adminPassword)
	c := login(t, srv.url, adminPassword)
	brokerRe := regexp.MustCompile(`MQTT broker for devices at tcp://127\.0\.0\.1:(\d+)`)
	m := brokerRe.FindStringSubmatch(srv.stdout.String())
	if m == nil {
		t.Fatalf("no broker address in:\n%s", srv.stdout.String())
	}
	mqttPort := m[1]

	var dev struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	c.do(http.MethodPost, "/api/v1/devices", map[string]any{"id": "boiler-7", "name": "Boiler 7"}, http.StatusCreated, &dev)
	if dev.Token == "" {
		t.Fatal("no token shown at creation")
	}

	flow := `{"ruleChain":{"id":"devices-in","name":"Devices in"},"metadata":{"nodes":[
		{"id":"http","type":"httpIn","configuration":{"path":"boilers"}},
		{"id":"mqtt","type":"mqttIn","configuration":{"broker":"embedded","topics":["devices/+/telemetry"],"topicPattern":"devices/{deviceId}/telemetry"}},
		{"id":"log","type":"log","configuration":{"message":"reading from ${metadata.deviceId}"}}],
		"connections":[{"fromId":"http","toId":"log","type":"Success"},{"fromId":"mqtt","toId":"log","type":"Success"}]}}`
	c.do(http.MethodPost, "/api/v1/flows", flow, http.StatusCreated, nil)
	c.do(http.MethodPost, "/api/v1/flows/devices-in/deploy", nil, http.StatusOK, nil)

	type status struct {
		Stats struct {
			Processed int `json:"processed"`
			Sources   map[string]struct {
				State    string `json:"state"`
				Messages int    `json:"messages"`
				Errors   int    `json:"errors"`
			} `json:"sources"`
		} `json:"stats"`
	}
	waitStatus := func(what string, ok func(status) bool) status {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			var st status
			c.do(http.MethodGet, "/api/v1/flows/devices-in/status", nil, http.StatusOK, &st)
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %+v", what, st)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitStatus("the MQTT connector connects", func(st status) bool { return st.Stats.Sources["mqtt"].State == "connected" })

	// HTTP: a wrong token is refused; the device's token is admitted.
	dc := &client{t: t, base: srv.url}
	dc.do(http.MethodPost, "/ingest/boilers", `{"temperature":81.5}`, http.StatusUnauthorized, nil, "Authorization", "Bearer wrong")
	dc.do(http.MethodPost, "/ingest/boilers", `{"temperature":81.5}`, http.StatusAccepted, nil, "Authorization", "Bearer "+dev.Token)
	waitStatus("the HTTP reading is processed", func(st status) bool { return st.Stats.Processed == 1 && st.Stats.Sources["http"].Errors == 1 })

	// MQTT through the embedded broker: the token as password.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, pub, "-h", "127.0.0.1", "-p", mqttPort, "-i", "boiler-7", "-u", "boiler-7", "-P", dev.Token,
		"-q", "1", "-t", "devices/boiler-7/telemetry", "-m", `{"temperature":82}`).CombinedOutput()
	if err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
	refused, _ := exec.CommandContext(ctx, pub, "-h", "127.0.0.1", "-p", mqttPort, "-u", "boiler-7", "-P", "wrong",
		"-t", "devices/boiler-7/telemetry", "-m", `{}`).CombinedOutput()
	if !strings.Contains(strings.ToLower(string(refused)), "not authori") {
		t.Fatalf("a wrong MQTT password was not refused: %s", refused)
	}
	waitStatus("the MQTT reading is processed", func(st status) bool {
		return st.Stats.Processed == 2 && st.Stats.Sources["mqtt"].Messages == 1
	})
	if logs := srv.logs.String(); !strings.Contains(logs, "reading from boiler-7") {
		t.Fatalf("the flow's log node did not log the device's reading:\n%s", logs)
	}
}
