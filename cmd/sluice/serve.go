package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	httpin "github.com/sluicehq/sluice/connectors/http"
	"github.com/sluicehq/sluice/connectors/mqtt"
	"github.com/sluicehq/sluice/connectors/ws"
	"github.com/sluicehq/sluice/designer"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/flows"
	"github.com/sluicehq/sluice/nodes/alarm"
	"github.com/sluicehq/sluice/nodes/script"
	"github.com/sluicehq/sluice/nodes/sink/batch"
	tssink "github.com/sluicehq/sluice/nodes/sink/timeseries"
	"github.com/sluicehq/sluice/nodes/stats"
	"github.com/sluicehq/sluice/server"
	"github.com/sluicehq/sluice/store"
)

func newServeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the server: API, designer, engine; restores the deployed flows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd.Flags())
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addConfigFlags(cmd.Flags())
	return cmd
}

// serve runs sluice until ctx ends (SIGINT, SIGTERM), then shuts down
// gracefully: stop accepting, drain the engine, close the store.
func serve(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	log := newLogger(cfg, stderr)
	slog.SetDefault(log) // nodes that log use the default logger
	if err := os.MkdirAll(cfg.Data.Dir, 0o700); err != nil {
		return fmt.Errorf("serve: data directory: %w", err)
	}
	db, err := store.Open(ctx, cfg.Data.Dir, store.Options{MaxDeadLetters: cfg.Store.MaxDeadLetters})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	// The time-series store (embedded, or InfluxDB when configured) closes
	// after the engine has drained (defers run in reverse order).
	tsStore, tsHealth, err := openTimeseries(ctx, cfg, log)
	if err != nil {
		_ = db.Close()
		return fmt.Errorf("serve: %w", err)
	}
	defer func() {
		if err := tsStore.Close(); err != nil {
			log.Warn("close time-series store", "err", err)
		}
	}()
	// Until the server owns the store and the engine, close them here.
	var mgr *engine.Manager
	owned := false
	defer func() {
		if owned {
			return
		}
		if mgr != nil {
			sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
			_ = mgr.Shutdown(sctx)
			cancel()
		}
		_ = db.Close()
	}()

	// Alarm history and statistics results: the system database, or
	// MongoDB when configured (closed after the engine has drained).
	records, err := openRecords(ctx, cfg, db, log)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer records.close(log)

	key, err := store.LoadSecretKey(cfg.Data.Dir)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	box, err := store.NewSecretBox(key)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	svc := flows.NewService(db.Flows(), box)

	users, err := db.Users().CountUsers(ctx)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	firstStart := users == 0
	generated, err := server.EnsureAdmin(ctx, db, cfg.Admin.Password)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if firstStart && cfg.Flows.Examples {
		n, err := svc.LoadExamples(ctx, store.DefaultTenant)
		if err != nil {
			log.Error("load example flows", "err", err)
		} else if n > 0 {
			log.Info("example flows loaded", "flows", n)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	state, err := engine.NewMemoryState(ctx, kvPersister{db.KV()})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	opts := engineOptions(cfg, log)
	opts.State = state
	opts.DeadLetters = server.NewDeadLetterSink(db.DeadLetters(), log)
	opts.Metrics = reg
	devices := server.NewDeviceAuth(db)
	opts.Devices = devices
	// Sinks report their queues and spools here: in /metrics and in each
	// flow's status.
	sinks := batch.NewRegistry()
	opts.NodeStatuses = func(flow string) map[string]any {
		st := sinks.Statuses(flow)
		if len(st) == 0 {
			return nil
		}
		out := make(map[string]any, len(st))
		for node, s := range st {
			out[node] = s
		}
		return out
	}
	mgr = engine.NewManager(opts)
	// The global script library, data/scripts/library.js, when present.
	lib, err := script.LoadLibrary(cfg.Data.Dir)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	lib.Provide(mgr.Resources())
	// Sinks: the time-series store, the data directory for their spools,
	// and the registry that reports their queues as metrics.
	mgr.Resources().Provide(tssink.StoreKey, tsStore)
	mgr.Resources().Provide(batch.DataDirKey, cfg.Data.Dir)
	reg.MustRegister(sinks)
	mgr.Resources().Provide(batch.RegistryKey, sinks)
	// Alarm nodes record alarm changes and history in the store.
	// Changes the records store cannot take wait in an outbox in the system
	// database and are replayed in order.
	rec, err := server.NewDurableAlarmRecorder(ctx, records.alarms, db.KV(), log, server.AlarmRecorderOptions{})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	// The server's Shutdown closes the recorder (its outbox drain stops)
	// after the engine has drained and before the system database closes;
	// until the server owns them, this does, before the deferred db.Close
	// above (defers run in reverse order). Close is idempotent.
	defer func() { _ = rec.Close() }()
	mgr.Resources().Provide(alarm.RecorderKey, rec)
	reg.MustRegister(rec)
	// Statistics nodes record each run for GET /api/v1/stats.
	mgr.Resources().Provide(stats.RecordsKey, records.stats)
	// Statistics select devices by their registry tags.
	mgr.Resources().Provide(stats.DevicesKey, db.Devices())
	// The httpIn and wsIn connectors serve on the API server's port.
	ingest, wsIngest := httpin.NewRouter(), ws.NewRouter()
	mgr.Resources().Provide(httpin.RouterKey, ingest)
	mgr.Resources().Provide(ws.RouterKey, wsIngest)
	// The embedded MQTT broker for devices. A broker that cannot start (its
	// port is taken) is reported in the log and in /healthz; the rest runs.
	broker, brokerStatus := startBroker(ctx, cfg, devices, mgr, reg, log, stdout)
	if broker != nil {
		defer func() { // after the server's shutdown: flows disconnect first
			bctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
			defer cancel()
			if err := broker.Close(bctx); err != nil {
				log.Warn("embedded MQTT broker did not close cleanly", "err", err)
			}
		}()
	}

	srv := server.New(server.Config{
		SessionTTL:     cfg.Auth.SessionTTL,
		APITokenTTL:    cfg.Auth.APITokenTTL,
		RequestTimeout: cfg.HTTP.RequestTimeout,
	}, server.Deps{DB: db, Flows: svc, Engine: mgr, Logger: log, Metrics: reg, Designer: designerFS(), Devices: devices,
		IngestHTTP: ingest, IngestWS: wsIngest, Components: components(brokerStatus, tsHealth, records.health, rec.Health), Telemetry: tsStore, Alarms: records.alarms})
	owned = true

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.HTTP.Addr)
	if err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
		defer cancel()
		return errors.Join(fmt.Errorf("serve: listen on %s: %w", cfg.HTTP.Addr, err), srv.Shutdown(sctx))
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	url := "http://" + displayAddr(ln.Addr())
	log.Info("listening", "addr", ln.Addr().String(), "url", url, "version", version)
	fmt.Fprintf(stdout, "Sluice %s is running at %s\n", version, url)
	if designer.Built() {
		fmt.Fprintf(stdout, "Open %s in a browser for the designer\n", url)
	} else {
		fmt.Fprintln(stdout, "The designer is not built into this binary (make build builds it); the API works")
	}
	switch {
	case generated != "":
		fmt.Fprintf(stdout, "Log in as %q with password %s (generated on first start and shown only now; set SLUICE_ADMIN_PASSWORD to choose it)\n", server.AdminUser, generated)
	case firstStart:
		fmt.Fprintf(stdout, "Log in as %q with the password from SLUICE_ADMIN_PASSWORD\n", server.AdminUser)
	default:
		fmt.Fprintf(stdout, "Log in with your user (the first start created %q)\n", server.AdminUser)
	}
	fmt.Fprintf(stdout, "  curl -s -X POST %s/api/v1/auth/login -d '{\"username\":\"admin\",\"password\":\"...\"}'\n", url)

	restored, failed := srv.Restore(ctx)
	log.Info("deployed flows restored", "flows", restored, "failed", failed)
	srv.SetReady(true)

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", context.Cause(ctx))
	case serveErr = <-served:
		log.Error("server stopped", "err", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(sctx)
	if serveErr == nil {
		serveErr = <-served
	}
	if err := errors.Join(serveErr, shutdownErr); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// startBroker starts the embedded MQTT broker unless mqtt.addr is empty. It
// returns the broker (nil when off or failed) and what /healthz reports.
func startBroker(ctx context.Context, cfg Config, devices engine.DeviceAuth, mgr *engine.Manager, reg *prometheus.Registry, log *slog.Logger, stdout io.Writer) (*mqtt.Broker, func() map[string]any) {
	if cfg.MQTT.Addr == "" {
		return nil, func() map[string]any {
			return map[string]any{"mqttBroker": map[string]any{"state": engine.StateStopped, "reason": "turned off (mqtt.addr is empty)"}}
		}
	}
	broker, err := mqtt.StartBroker(ctx, mqtt.BrokerConfig{Addr: cfg.MQTT.Addr}, devices, log)
	if err != nil {
		log.Error("embedded MQTT broker not started", "err", err)
		failed := mqtt.BrokerStatus{State: engine.StateError, LastError: err.Error()}
		return nil, func() map[string]any { return map[string]any{"mqttBroker": failed} }
	}
	broker.Provide(mgr.Resources())
	reg.MustRegister(broker.Collector())
	log.Info("embedded MQTT broker listening", "addr", broker.Addr())
	fmt.Fprintf(stdout, "MQTT broker for devices at %s\n", broker.Addr())
	return broker, func() map[string]any { return map[string]any{"mqttBroker": broker.Status()} }
}

// displayAddr is the address to print: a wildcard host becomes localhost.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
