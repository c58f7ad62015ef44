package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"time"

	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/mongostore"
	"github.com/sluicehq/sluice/store/timeseries"
	"github.com/sluicehq/sluice/store/timeseries/influx"
)

// healthCheckTimeout bounds one check of an external server in /healthz.
const healthCheckTimeout = 2 * time.Second

// openTimeseries opens the configured time-series store. The second result
// reports an external store's health for /healthz (nil for the embedded
// store, which lives in the process).
func openTimeseries(ctx context.Context, cfg Config, log *slog.Logger) (timeseries.Store, func() map[string]any, error) {
	switch cfg.Timeseries.Backend {
	case "", "embedded":
		st, err := timeseries.Open(ctx, cfg.Data.Dir, timeseries.Options{
			Retention: cfg.Timeseries.Retention, DownsampleAfter: cfg.Timeseries.DownsampleAfter,
			DownsampleTo: cfg.Timeseries.DownsampleTo, MaintainEvery: cfg.Timeseries.MaintainEvery, Logger: log,
		})
		if err != nil {
			return nil, nil, err
		}
		return st, nil, nil
	case "influxdb":
		ic := cfg.Timeseries.Influx
		if ic.URL == "" {
			return nil, nil, fmt.Errorf("timeseries.influx.url: want the InfluxDB URL with timeseries.backend influxdb")
		}
		st, err := influx.Open(ctx, influx.Options{URL: ic.URL, Token: ic.Token, DatabasePrefix: ic.DatabasePrefix,
			RetentionPolicy: ic.RetentionPolicy, RetentionDuration: ic.RetentionDuration, Logger: log})
		if err != nil {
			return nil, nil, fmt.Errorf("timeseries.backend influxdb: %w", err)
		}
		shown := ic.URL
		if u, err := url.Parse(ic.URL); err == nil {
			shown = u.Redacted() // never log a password in the URL
		}
		log.Info("time-series store: InfluxDB", "url", shown)
		return st, pingHealth("influxdb", st.Ping), nil
	}
	return nil, nil, fmt.Errorf("timeseries.backend %q: want embedded or influxdb", cfg.Timeseries.Backend)
}

// pingHealth reports an external server's state in /healthz under name:
// {"state":"ok"} or {"state":"error","error":...}. A server that is down
// does not make the process unready: sinks spool until it returns.
func pingHealth(name string, ping func(context.Context) error) func() map[string]any {
	return func() map[string]any {
		ctx, cancel := context.WithTimeout(context.Background(), healthCheckTimeout)
		defer cancel()
		if err := ping(ctx); err != nil {
			return map[string]any{name: map[string]any{"state": "error", "error": err.Error()}}
		}
		return map[string]any{name: map[string]any{"state": "ok"}}
	}
}

// components merges the /healthz reports of the process's parts; nil
// reports are skipped.
func components(parts ...func() map[string]any) func() map[string]any {
	return func() map[string]any {
		out := map[string]any{}
		for _, p := range parts {
			if p != nil {
				maps.Copy(out, p())
			}
		}
		return out
	}
}

// records are where alarm history and statistics results go.
type records struct {
	alarms store.AlarmRepo
	stats  store.StatsRepo
	// health reports MongoDB in /healthz (nil for the system database).
	health func() map[string]any
	close  func(*slog.Logger)
}

// recordsOpenTimeout bounds the first contact with MongoDB at start.
const recordsOpenTimeout = 30 * time.Second

// openRecords opens MongoDB when records.mongo.uri is set; otherwise the
// records stay in the system database. A MongoDB that does not answer at
// start stops the start: records written elsewhere would be lost to it.
func openRecords(ctx context.Context, cfg Config, db *store.DB, log *slog.Logger) (records, error) {
	r := records{alarms: db.Alarms(), stats: db.Stats(), close: func(*slog.Logger) {}}
	mc := cfg.Records.Mongo
	if mc.URI == "" {
		return r, nil
	}
	octx, cancel := context.WithTimeout(ctx, recordsOpenTimeout)
	defer cancel()
	recs, err := mongostore.Open(octx, mongostore.Options{URI: mc.URI, Database: mc.Database, Logger: log})
	if err != nil {
		return r, fmt.Errorf("records.mongo: %w", err)
	}
	log.Info("alarm history and statistics results go to MongoDB", "database", recs.Database())
	r.alarms, r.stats = recs.Alarms(), recs.Stats()
	r.health = pingHealth("mongodb", recs.Ping)
	r.close = func(log *slog.Logger) {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := recs.Close(cctx); err != nil {
			log.Warn("close MongoDB records", "err", err)
		}
	}
	return r, nil
}
