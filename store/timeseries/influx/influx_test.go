package influx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	ts "github.com/sluicehq/sluice/store/timeseries"
	"github.com/sluicehq/sluice/store/timeseries/influx/influxtest"
	"github.com/sluicehq/sluice/store/timeseries/tstest"
)

// No goroutine may outlive a test: the HTTP client's included.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var quiet = slog.New(slog.DiscardHandler)

var prefixes atomic.Int64

// openT opens a store on srv with a database prefix of its own, so that
// the stores of one server do not see each other's points.
func openT(t testing.TB, srv *influxtest.Server, o Options) *Store {
	t.Helper()
	o.URL = srv.URL
	if o.DatabasePrefix == "" {
		o.DatabasePrefix = fmt.Sprintf("t%d", prefixes.Add(1))
	}
	if o.Logger == nil {
		o.Logger = quiet
	}
	s, err := Open(tstest.Ctx(t), o)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	srv := influxtest.Start(t, influxtest.Options{})
	tstest.Run(t, func(t *testing.T) ts.Store { return openT(t, srv, Options{BatchSize: 50}) })
}

func TestDatabaseName(t *testing.T) {
	for tenant, want := range map[string]string{
		"acme":    "sluice_acme",
		"Acme42":  "sluice_Acme42",
		"acme-eu": "sluice_acme_2deu",
		"acme_eu": "sluice_acme_5feu",
		"":        "sluice_",
		"ü":       "sluice__c3_bc",
		`a"b`:     "sluice_a_22b",
	} {
		if got := DatabaseName("sluice", tenant); got != want {
			t.Errorf("DatabaseName(%q) = %q, want %q", tenant, got, want)
		}
	}
}

// TestLayout: a database per tenant, created on the first write; the
// measurement, tags and fields that Grafana or InfluxQL users see.
func TestLayout(t *testing.T) {
	srv := influxtest.Start(t, influxtest.Options{})
	s := openT(t, srv, Options{DatabasePrefix: "sluice"})
	ctx := tstest.Ctx(t)
	p := tstest.Num("acme", "boiler-7", "temperature", tstest.T0, 81.5)
	p.Tags = map[string]string{"site": "north"}
	tstest.MustWrite(t, s, p,
		ts.Point{Tenant: "acme", Device: "boiler-7", Signal: "running", TS: tstest.T0, Value: ts.Bool(true)},
		ts.Point{Tenant: "acme", Device: "boiler-7", Signal: "mode", TS: tstest.T0, Value: ts.String("eco")},
		tstest.Num("globex", "pump", "rpm", tstest.T0, 1500),
	)
	dbs, err := srv.Query(ctx, "", "SHOW DATABASES")
	if err != nil {
		t.Fatal(err)
	}
	for _, db := range []string{`"sluice_acme"`, `"sluice_globex"`} {
		if !strings.Contains(dbs, db) {
			t.Errorf("databases %s: no %s", dbs, db)
		}
	}
	for q, want := range map[string]string{
		`SELECT "num" FROM "telemetry" WHERE "device" = 'boiler-7' AND "signal" = 'temperature'`: `[["2025-11-22T10:00:00Z",81.5]]`,
		`SELECT "bool" FROM "telemetry" WHERE "signal" = 'running'`:                              `[["2025-11-22T10:00:00Z",true]]`,
		`SELECT "str" FROM "telemetry" WHERE "signal" = 'mode'`:                                  `[["2025-11-22T10:00:00Z","eco"]]`,
		`SELECT "tags" FROM "telemetry_tags"`:                                                    `[["2025-11-22T10:00:00Z","{\"site\":\"north\"}"]]`,
		`SHOW TAG KEYS FROM "telemetry"`:                                                         `[["device"],["signal"]]`,
	} {
		got, err := srv.Query(ctx, "sluice_acme", q)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(got, `"values":`+want) {
			t.Errorf("%s = %s\nwant values %s", q, got, want)
		}
	}
	if got, _ := srv.Query(ctx, "sluice_globex", `SELECT count("num") FROM "telemetry"`); !strings.Contains(got, `,1]]`) {
		t.Errorf("globex = %s", got)
	}
}

// TestRefusesWhatInfluxCannotHold: points the line protocol or InfluxDB's
// times cannot carry fail with ErrBadPoint, before anything is written.
func TestRefusesWhatInfluxCannotHold(t *testing.T) {
	srv := influxtest.Start(t, influxtest.Options{})
	s := openT(t, srv, Options{})
	for _, p := range []ts.Point{
		tstest.Num("acme", "line\nbreak", "x", tstest.T0, 1),
		tstest.Num("acme", "d", "cr\r", tstest.T0, 1),
		tstest.Num("acme", `ends\`, "x", tstest.T0, 1),
		tstest.Num("acme", "d", `back\,comma`, tstest.T0, 1),
		tstest.Num("acme", "d", "x", maxMs+1, 1),
		tstest.Num("acme", "d", "x", minMs-1, 1),
		{Tenant: "acme", Device: "d", Signal: "x", TS: tstest.T0, Value: ts.String("\xff")},
	} {
		err := s.Write(tstest.Ctx(t), []ts.Point{tstest.Num("acme", "d", "ok", tstest.T0, 1), p})
		if !errors.Is(err, ts.ErrBadPoint) {
			t.Errorf("write %q/%q at %d: %v, want ErrBadPoint", p.Device, p.Signal, p.TS, err)
		}
	}
	if r := tstest.MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"d"}, From: 0, To: tstest.T0 + 1}); len(r.Series) != 0 {
		t.Errorf("a refused batch left %+v", r)
	}
	// The extremes InfluxDB holds are fine.
	tstest.MustWrite(t, s, tstest.Num("acme", "d", "x", maxMs, 1), tstest.Num("acme", "d", "x", minMs, 2))
	if l, err := s.Latest(tstest.Ctx(t), "acme", "d"); err != nil || len(l) != 1 || l[0].TS != maxMs {
		t.Errorf("latest = %+v, %v", l, err)
	}
}

// TestWriteFailsWhileInfluxIsDown: with the server gone a write fails (not
// as a bad point: the sink retries it) and the store works again when the
// server is back, with what it had.
func TestWriteFailsWhileInfluxIsDown(t *testing.T) {
	srv := influxtest.Start(t, influxtest.Options{})
	s := openT(t, srv, Options{Timeout: 2 * time.Second})
	tstest.MustWrite(t, s, tstest.Num("acme", "d", "x", tstest.T0, 1))
	srv.Kill()
	err := s.Write(tstest.Ctx(t), []ts.Point{tstest.Num("acme", "d", "x", tstest.T0+1, 2)})
	if err == nil || errors.Is(err, ts.ErrBadPoint) {
		t.Fatalf("write while influxd is down: %v, want a retryable error", err)
	}
	if _, err := s.Query(tstest.Ctx(t), ts.Query{Tenant: "acme", Devices: []string{"d"}, From: 0, To: tstest.T0 + 10}); err == nil {
		t.Error("query while influxd is down: no error")
	}
	if err := s.Ping(tstest.Ctx(t)); err == nil {
		t.Error("ping while influxd is down: no error")
	}
	srv.Restart()
	if err := s.Ping(tstest.Ctx(t)); err != nil {
		t.Errorf("ping: %v", err)
	}
	tstest.MustWrite(t, s, tstest.Num("acme", "d", "x", tstest.T0+1, 2))
	got := tstest.Flat(tstest.MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"d"}, From: 0, To: tstest.T0 + 10}))["d/x"]
	if len(got) != 2 || got[0].Value.Num != 1 || got[1].Value.Num != 2 {
		t.Errorf("after the restart = %+v", got)
	}
}

// TestDroppedDatabaseComesBack: a database dropped behind the store's back
// is created again by the next write.
func TestDroppedDatabaseComesBack(t *testing.T) {
	srv := influxtest.Start(t, influxtest.Options{})
	s := openT(t, srv, Options{DatabasePrefix: "sluice"})
	tstest.MustWrite(t, s, tstest.Num("acme", "d", "x", tstest.T0, 1))
	if _, err := srv.Query(tstest.Ctx(t), "", `DROP DATABASE "sluice_acme"`); err != nil {
		t.Fatal(err)
	}
	tstest.MustWrite(t, s, tstest.Num("acme", "d", "x", tstest.T0+1, 2))
	if got := tstest.Flat(tstest.MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"d"}, From: 0, To: tstest.T0 + 10}))["d/x"]; len(got) != 1 || got[0].Value.Num != 2 {
		t.Errorf("after the drop = %+v", got)
	}
}

// TestAuthAndRetentionPolicy: with authentication on, a "user:password"
// token writes and reads (Flux, the write API and InfluxQL); a wrong one
// fails, not as a bad point. A retention policy other than autogen is
// created with its duration in each tenant's database.
func TestAuthAndRetentionPolicy(t *testing.T) {
	srv := influxtest.Start(t, influxtest.Options{Auth: true})
	s := openT(t, srv, Options{Token: "admin:secret", DatabasePrefix: "sluice", RetentionPolicy: "two_weeks", RetentionDuration: 14 * 24 * time.Hour})
	p := tstest.Num("acme", "d", "x", time.Now().UnixMilli(), 1)
	p.Tags = map[string]string{"site": "north"}
	tstest.MustWrite(t, s, p)
	if got := tstest.Flat(tstest.MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"d"}, From: 0, To: p.TS + 1}))["d/x"]; len(got) != 1 {
		t.Errorf("query = %+v", got)
	}
	// A point older than the policy's duration is dropped by InfluxDB, as
	// the policy asks; the rest of the write is stored, and the write does
	// not fail (the sink would retry or reject the whole batch).
	tooOld := tstest.Num("acme", "d", "x", time.Now().Add(-30*24*time.Hour).UnixMilli(), 0)
	tstest.MustWrite(t, s, tooOld, tstest.Num("acme", "d", "y", p.TS, 5))
	if got := tstest.Flat(tstest.MustQuery(t, s, ts.Query{Tenant: "acme", Devices: []string{"d"}, From: 0, To: p.TS + 1})); len(got["d/x"]) != 1 || len(got["d/y"]) != 1 {
		t.Errorf("after a write with a point beyond the policy = %+v", got)
	}
	if d, err := s.Devices(tstest.Ctx(t), "acme"); err != nil || len(d) != 1 || d[0].Tags["site"] != "north" {
		t.Errorf("devices = %+v, %v", d, err)
	}
	rps, err := srv.Query(tstest.Ctx(t), "", `SHOW RETENTION POLICIES ON "sluice_acme"`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rps, `["two_weeks","336h0m0s"`) {
		t.Errorf("retention policies = %s", rps)
	}
	// A second store finds the policy there and leaves it as it is.
	s2 := openT(t, srv, Options{Token: "admin:secret", DatabasePrefix: "sluice", RetentionPolicy: "two_weeks", RetentionDuration: 2 * time.Hour})
	tstest.MustWrite(t, s2, tstest.Num("acme", "d", "x", p.TS+1, 2))
	if rps, _ := srv.Query(tstest.Ctx(t), "", `SHOW RETENTION POLICIES ON "sluice_acme"`); !strings.Contains(rps, `["two_weeks","336h0m0s"`) {
		t.Errorf("retention policies after a second store = %s", rps)
	}

	bad := openT(t, srv, Options{Token: "admin:wrong", DatabasePrefix: "sluice"})
	err = bad.Write(tstest.Ctx(t), []ts.Point{tstest.Num("acme", "d", "x", p.TS+2, 3)})
	if err == nil || errors.Is(err, ts.ErrBadPoint) {
		t.Errorf("write with a wrong password: %v, want a retryable error", err)
	}
	if _, err := bad.Query(tstest.Ctx(t), ts.Query{Tenant: "acme", Devices: []string{"d"}, From: 0, To: p.TS + 1}); err == nil {
		t.Error("query with a wrong password: no error")
	}
}

func TestClosedStore(t *testing.T) {
	srv := influxtest.Start(t, influxtest.Options{})
	s := openT(t, srv, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := tstest.Ctx(t)
	if err := s.Write(ctx, []ts.Point{tstest.Num("acme", "d", "x", tstest.T0, 1)}); !errors.Is(err, ts.ErrClosed) {
		t.Errorf("write: %v", err)
	}
	if _, err := s.Query(ctx, ts.Query{Devices: []string{"d"}, From: 0, To: 1}); !errors.Is(err, ts.ErrClosed) {
		t.Errorf("query: %v", err)
	}
	if _, err := s.Latest(ctx, "", "d"); !errors.Is(err, ts.ErrClosed) {
		t.Errorf("latest: %v", err)
	}
	if _, err := s.Devices(ctx, ""); !errors.Is(err, ts.ErrClosed) {
		t.Errorf("devices: %v", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ts.ErrClosed) {
		t.Errorf("ping: %v", err)
	}
}

// TestOpenWithoutServer: the store opens while InfluxDB is unreachable
// (the process starts; writes fail until it is up).
func TestOpenWithoutServer(t *testing.T) {
	s, err := Open(context.Background(), Options{URL: "http://127.0.0.1:1", Logger: quiet, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Write(tstest.Ctx(t), []ts.Point{tstest.Num("acme", "d", "x", tstest.T0, 1)}); err == nil || errors.Is(err, ts.ErrBadPoint) {
		t.Errorf("write: %v, want a retryable error", err)
	}
}

func TestOptionsChecked(t *testing.T) {
	for _, o := range []Options{
		{},
		{URL: "127.0.0.1:8086"},
		{URL: "ftp://x"},
		{URL: "http://x", DatabasePrefix: "no-dash"},
		{URL: "http://x", RetentionPolicy: `a"b`},
		{URL: "http://x", RetentionDuration: time.Minute},
		{URL: "http://x", RetentionDuration: -time.Hour},
	} {
		if s, err := Open(context.Background(), o); err == nil {
			_ = s.Close()
			t.Errorf("open with %+v: no error", o)
		}
	}
}
