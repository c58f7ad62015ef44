package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/mongostore/mongotest"
	influxstore "github.com/sluicehq/sluice/store/timeseries/influx"
	"github.com/sluicehq/sluice/store/timeseries/influx/influxtest"
)

// TestServeWithInfluxDBAndMongoDB: with timeseries.backend influxdb and
// records.mongo.uri, a real `sluice serve` stores a device's telemetry in
// InfluxDB (the telemetry API reads it back from there), records the alarm
// it raises in MongoDB (the alarm API reads and acknowledges it there), and
// reports both servers in /healthz.
func TestServeWithInfluxDBAndMongoDB(t *testing.T) {
	influx := influxtest.Start(t, influxtest.Options{})
	mongo := mongotest.Start(t)
	srv := startServe(t, t.TempDir(), "SLUICE_ADMIN_PASSWORD="+adminPassword,
		"SLUICE_TS_BACKEND=influxdb", "SLUICE_TS_INFLUX_URL="+influx.URL, "SLUICE_TS_INFLUX_DATABASE_PREFIX=e2e",
		"SLUICE_RECORDS_MONGO_URI="+mongo.URI(), "SLUICE_RECORDS_MONGO_DATABASE=e2e_records")
	c := login(t, srv.url, adminPassword)

	var health struct {
		Components map[string]struct {
			State string `json:"state"`
		} `json:"components"`
	}
	c.do(http.MethodGet, "/healthz", nil, http.StatusOK, &health)
	if health.Components["influxdb"].State != "ok" || health.Components["mongodb"].State != "ok" {
		t.Fatalf("healthz components = %+v, want influxdb and mongodb ok", health.Components)
	}

	flow := `{"ruleChain":{"id":"hot","name":"Hot boilers"},"metadata":{"nodes":[
		{"id":"in","type":"httpIn","configuration":{"path":"hot"}},
		{"id":"parse","type":"scriptParse","configuration":{"code":"return {deviceId: metadata.deviceId, ts: msg.t, signals: {temperature: msg.temp}};"}},
		{"id":"alarm","type":"thresholdAlarm","configuration":{"rules":[{"name":"overheat","severity":"major",
			"condition":{"op":"and","rules":[{"op":">","signal":"temperature","value":80}]}}]}},
		{"id":"store","type":"timeseriesSink"}],
		"connections":[{"fromId":"in","toId":"parse","type":"Success"},{"fromId":"parse","toId":"alarm","type":"Success"},
			{"fromId":"alarm","toId":"store","type":"Success"}]}}`
	c.do(http.MethodPost, "/api/v1/flows", flow, http.StatusCreated, nil)
	c.do(http.MethodPost, "/api/v1/flows/hot/deploy", nil, http.StatusOK, nil)
	var dev struct {
		Token string `json:"token"`
	}
	c.do(http.MethodPost, "/api/v1/devices", map[string]any{"id": "boiler-7"}, http.StatusCreated, &dev)
	dc := &client{t: t, base: srv.url}
	ts := time.Now().Add(-time.Minute).UnixMilli()
	dc.do(http.MethodPost, "/ingest/hot", map[string]any{"t": ts, "temp": 91.5}, http.StatusAccepted, nil, "Authorization", "Bearer "+dev.Token)

	// The point is in InfluxDB, in the default tenant's database.
	waitFor(t, "the point in InfluxDB", func() bool {
		out, err := influx.Query(context.Background(), influxstore.DatabaseName("e2e", store.DefaultTenant), `SELECT "num" FROM "telemetry" WHERE "device" = 'boiler-7'`)
		return err == nil && strings.Contains(out, "91.5")
	})
	var latest struct {
		Signals map[string]struct {
			TS    int64 `json:"ts"`
			Value any   `json:"value"`
		} `json:"signals"`
	}
	c.do(http.MethodGet, "/api/v1/telemetry/latest?device=boiler-7", nil, http.StatusOK, &latest)
	if v := latest.Signals["temperature"]; v.TS != ts || v.Value != 91.5 {
		t.Fatalf("latest from InfluxDB = %+v, want 91.5 at %d", latest, ts)
	}

	// The alarm is recorded in MongoDB and acknowledged there.
	var page struct {
		Items []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"items"`
		Total int `json:"total"`
	}
	waitFor(t, "the alarm record", func() bool {
		c.do(http.MethodGet, "/api/v1/alarms?device=boiler-7", nil, http.StatusOK, &page)
		return page.Total == 1
	})
	id := page.Items[0].ID
	c.do(http.MethodPost, "/api/v1/alarms/"+id+"/ack", map[string]any{"comment": "on it"}, http.StatusOK, nil)
	n, err := countDocuments(mongo.URI(), "e2e_records", "alarms", bson.D{{Key: "id", Value: id}, {Key: "acknowledged", Value: true}})
	if err != nil || n != 1 {
		t.Fatalf("acknowledged alarm %s in MongoDB: %d, %v", id, n, err)
	}
}

// waitFor polls cond until it holds, failing the test after 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s never came", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// countDocuments counts the documents of a collection that match filter.
func countDocuments(uri, db, coll string, filter bson.D) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := mongo.Connect(ctx, options.Client().ApplyURI(uri))
	if err != nil {
		return 0, err
	}
	defer func() { _ = cl.Disconnect(context.Background()) }()
	return cl.Database(db).Collection(coll).CountDocuments(ctx, filter)
}
