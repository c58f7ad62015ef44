// Package server is Sluice's HTTP face: the REST API under /api/v1, the trace
// WebSocket, authentication, the static designer, health and metrics.
//
// Every route is declared once in a route table (routes.go); the router and
// the OpenAPI document are both generated from it, so they cannot drift.
package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/flows"
	"github.com/sluicehq/sluice/store"
	"github.com/sluicehq/sluice/store/timeseries"
)

// Config holds the server's settings. Zero values mean the defaults.
type Config struct {
	// SessionTTL is how long a login session lasts (default 12h).
	SessionTTL time.Duration
	// APITokenTTL is the default lifetime of an API token created without an
	// explicit expiry (default 90 days).
	APITokenTTL time.Duration
	// TicketTTL is how long a WebSocket ticket may wait for its first use
	// (default 30s).
	TicketTTL time.Duration
	// RequestTimeout bounds a request that waits on the engine, such as an
	// injected message with ?wait=true or a test run (default 60s).
	RequestTimeout time.Duration
	// BodyLimit is the largest request body in bytes (default 4 MiB).
	BodyLimit int
	// TraceBuffer is the number of trace events buffered per WebSocket
	// subscriber before events are dropped (default 1024).
	TraceBuffer int
}

func (c Config) withDefaults() Config {
	if c.SessionTTL <= 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.APITokenTTL <= 0 {
		c.APITokenTTL = 90 * 24 * time.Hour
	}
	if c.TicketTTL <= 0 {
		c.TicketTTL = 30 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 60 * time.Second
	}
	if c.BodyLimit <= 0 {
		c.BodyLimit = 4 << 20
	}
	if c.TraceBuffer <= 0 {
		c.TraceBuffer = 1024
	}
	return c
}

// Deps are the parts the server serves. Shutdown drains Engine, closes the
// alarm recorder the engine uses (an *AlarmRecorder under alarm.RecorderKey:
// its outbox drain stops) and closes DB.
type Deps struct {
	DB      *store.DB
	Flows   *flows.Service
	Engine  *engine.Manager
	Logger  *slog.Logger
	Metrics *prometheus.Registry
	// Designer holds the designer's static files, served at /; nil serves
	// nothing there.
	Designer fs.FS
	// Devices is the device authenticator the engine uses, so that the
	// devices API can make it forget changed devices (nil: nothing to tell).
	Devices *DeviceAuth
	// IngestHTTP and IngestWS are the routers of the httpIn and wsIn
	// connectors, served under /ingest/* and /ws/* (nil: 404 there).
	IngestHTTP IngestRouter
	IngestWS   IngestRouter
	// Components reports the state of the process's other parts (the
	// embedded MQTT broker, say), shown by GET /healthz.
	Components func() map[string]any
	// Telemetry is the time-series store GET /api/v1/telemetry reads (nil:
	// those routes answer 503). The server does not close it.
	Telemetry timeseries.Reader
	// Alarms keeps alarm records and their history (nil: the system
	// database's, DB.Alarms()); MongoDB when configured.
	Alarms store.AlarmRepo
}

// Server is Sluice's HTTP server.
type Server struct {
	cfg Config
	db  *store.DB
	// alarms is the alarm repository: DB.Alarms() or MongoDB's.
	alarms store.AlarmRepo
	// devices is the engine's device authenticator (may be nil).
	devices *DeviceAuth
	flows   *flows.Service
	// ingestHTTP and ingestWS dispatch device traffic to connectors.
	ingestHTTP, ingestWS IngestRouter
	components           func() map[string]any
	engine               *engine.Manager
	log                  *slog.Logger
	reg                  *prometheus.Registry
	app                  *fiber.App
	routes               []route
	// traceWS upgrades trace requests (built once: it holds the upgrader).
	traceWS fiber.Handler
	// telemetry is the time-series store the telemetry API reads (may be nil).
	telemetry timeseries.Reader
	// ownAlarmRec is the alarm recorder the server made for the engine
	// (nil when the engine had one): Shutdown closes it.
	ownAlarmRec *AlarmRecorder

	tickets tickets
	ready   atomic.Bool

	// deployMu serialises the changes of what runs (deploy, undeploy,
	// delete, restore), so that the engine and the recorded deployed
	// versions agree.
	deployMu sync.Mutex

	// base is the parent context of every request that waits on the engine;
	// it is cancelled when Shutdown gives up waiting.
	base       context.Context
	cancelBase context.CancelFunc
	// streams tracks the WebSocket handlers; closing stop ends them. A
	// stream or a listener registers under mu only while stopping is false,
	// so that nothing starts after Shutdown looked.
	mu        sync.Mutex
	stopping  bool
	listeners []net.Listener
	streams   sync.WaitGroup
	stop      chan struct{}

	shutdownOnce sync.Once
	shutdownErr  error
}

// New builds the server and registers its routes. It does not listen yet.
func New(cfg Config, deps Deps) *Server {
	cfg = cfg.withDefaults()
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	reg := deps.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	base, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:        cfg,
		db:         deps.DB,
		devices:    deps.Devices,
		ingestHTTP: deps.IngestHTTP,
		ingestWS:   deps.IngestWS,
		components: deps.Components,
		telemetry:  deps.Telemetry,
		alarms:     deps.Alarms,
		flows:      deps.Flows,
		engine:     deps.Engine,
		log:        log,
		reg:        reg,
		base:       base,
		cancelBase: cancel,
		stop:       make(chan struct{}),
	}
	if s.alarms == nil && s.db != nil {
		s.alarms = s.db.Alarms()
	}
	s.tickets.ttl = cfg.TicketTTL
	s.app = fiber.New(fiber.Config{
		AppName:               "sluice",
		DisableStartupMessage: true,
		ErrorHandler:          s.errorHandler,
		BodyLimit:             cfg.BodyLimit,
		ReadTimeout:           30 * time.Second,
		IdleTimeout:           60 * time.Second,
		StrictRouting:         false,
		CaseSensitive:         true,
		// Immutable: strings from Params, Query and Body stay valid after the
		// handler returns, so they are safe to keep.
		Immutable: true,
	})
	s.traceWS = s.newTraceHandler()
	s.routes = s.routeTable()
	s.register(deps.Designer)
	return s
}

// App returns the Fiber app, for tests (app.Test) and embedding.
func (s *Server) App() *fiber.App { return s.app }

// SetReady marks the server ready (GET /readyz answers 200 while the store
// is reachable): call it once the deployed flows are restored.
func (s *Server) SetReady(ready bool) { s.ready.Store(ready) }

// Listen listens on addr and serves until Shutdown. The context bounds only
// setting up the listener.
func (s *Server) Listen(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return s.Serve(ln)
}

// Serve serves on ln until Shutdown; it returns nil after a shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		_ = ln.Close()
		return nil
	}
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
	if err := s.app.Listener(ln); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// Shutdown stops accepting requests and waits for the running ones (until
// ctx ends), closes the trace streams, drains the engine, closes the alarm
// recorder (its outbox drain ends before the store closes under it) and
// closes the store. It is safe to call more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.SetReady(false)
		s.mu.Lock()
		s.stopping = true
		listeners := s.listeners
		s.mu.Unlock()
		close(s.stop)
		var errs []error
		if len(listeners) > 0 {
			if err := s.app.ShutdownWithContext(ctx); err != nil {
				errs = append(errs, fmt.Errorf("shutdown http: %w", err))
			}
			// A Serve that registered its listener here but not yet with
			// the HTTP server stops when its listener closes.
			for _, ln := range listeners {
				_ = ln.Close()
			}
		}
		s.cancelBase()
		waitGroup(ctx, &s.streams)
		if s.engine != nil {
			if err := s.engine.Shutdown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("shutdown engine: %w", err))
			}
		}
		s.closeAlarmRecorders()
		if s.db != nil {
			if err := s.db.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close store: %w", err))
			}
		}
		s.shutdownErr = errors.Join(errs...)
	})
	return s.shutdownErr
}

// waitGroup waits for wg or ctx, whichever ends first.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// requestContext is the context of a request that waits on the engine:
// bounded by RequestTimeout and cancelled when the server shuts down.
func (s *Server) requestContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(s.base, s.cfg.RequestTimeout)
}
