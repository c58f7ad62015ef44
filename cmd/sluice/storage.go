package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"time"

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
		log.Info("time-series store: InfluxDB", "url", ic.URL)
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
