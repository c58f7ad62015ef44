package ws

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
	fiberws "github.com/gofiber/contrib/websocket"
	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/rulego/rulego/api/types"

	httpin "github.com/sluicehq/sluice/connectors/http"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// InType is the node type of the WebSocket-in connector.
const InType = "wsIn"

func init() {
	spec.Register(inSpec, engine.SourceNode{NodeType: InType})
	engine.RegisterSource(InType, newSource)
}

var inSpec = &spec.Node{
	Type:     InType,
	Category: "connectors",
	Summary:  "Receive device messages over a WebSocket at /ws/{path} on the API server's port.",
	Source:   true,
	Doc: "Devices open a WebSocket to `/ws/{path}` on the API server's address and authenticate on the upgrade with their token in " +
		"`?token=TOKEN` (browsers cannot set headers), `Authorization: Bearer TOKEN` or `X-Device-Token: TOKEN`; an unknown or wrong " +
		"token is refused with `401`, a device of another tenant with `403`, before any upgrade. With `auth: none` (trusted networks " +
		"only) `?deviceId=` names the device.\n\n" +
		"Each text or binary frame becomes one message, `msg.Type` `RAW`: a text frame holding JSON is `JSON`, other text `TEXT`, a " +
		"binary frame `BINARY` (base64 in the payload). Metadata: `connector`, `tenant`, `deviceId` (when known), `path`, `remoteAddr`, " +
		"`receivedAt`. A [`wsPush`](#wspush) node sends back to a connected device by its id.\n\n" +
		"Backpressure: a connection's frames are submitted one at a time and wait for room in the flow, so a device that sends faster " +
		"than the flow runs is slowed down by TCP, never dropped. The server pings every `pingInterval`; a connection that sends " +
		"nothing, not even a pong, for `idleTimeout` is closed. A frame larger than `maxMessageSize` closes the connection " +
		"(code 1009); beyond `maxConnections` an upgrade is refused with `503`.",
	Fields: []*spec.Field{
		{Name: "path", Type: spec.String, Required: true, Exclusive: "wsPath",
			Help:    "Path below /ws/ that this node serves, without leading slash; one flow per path. Letters, digits, `-._~` and `/` between segments.",
			Example: "devices"},
		{Name: "auth", Type: spec.Enum, Enum: []string{"token", "none"}, Default: "token",
			Help: "`token`: each device sends its own token from the device registry when it connects. `none`: no authentication, for trusted networks only."},
		{Name: "maxMessageSize", Type: spec.Int, Default: 64 << 10, Min: spec.Num(1),
			Help: "Largest accepted frame in bytes; a larger one closes the connection with code 1009."},
		{Name: "maxConnections", Type: spec.Int, Default: 1000, Min: spec.Num(1),
			Help: "Most connections open at once on this path; more are refused with 503."},
		{Name: "idleTimeout", Type: spec.Duration, Default: "60s", Min: spec.Num(0.01), Max: spec.Num(86400),
			Help: "A connection that sends nothing (no frame, no pong) for this long is closed."},
		{Name: "pingInterval", Type: spec.Duration, Default: "20s", Min: spec.Num(0.01), Max: spec.Num(86400),
			Help: "How often the server pings each connection; must be shorter than idleTimeout so that live devices answer in time."},
		{Name: "writeTimeout", Type: spec.Duration, Default: "10s", Min: spec.Num(0.01), Max: spec.Num(600), Advanced: true,
			Help: "How long a write to a device (a push, a ping) may take before the connection counts as broken."},
	},
	Relations: spec.Relations{Fixed: []string{types.Success}},
	Examples: []spec.Example{
		{Title: "Devices with tokens", Config: map[string]any{"path": "devices"}},
		{Title: "Dashboard gateway on a trusted network, large frames", Config: map[string]any{
			"path": "gateway", "auth": "none", "maxMessageSize": 1 << 20, "maxConnections": 10, "idleTimeout": "5m", "pingInterval": "1m"}},
	},
	Validate: func(cfg map[string]any) spec.Problems {
		var ps spec.Problems
		if p, _ := cfg["path"].(string); httpin.CleanPath(p) != p || p == "" || !validPath(p) {
			ps = append(ps, spec.Problem{Field: "path", Message: "want segments of letters, digits and -._~ separated by /, without leading or trailing slash, e.g. \"devices\""})
		}
		idle, err1 := time.ParseDuration(asString(cfg["idleTimeout"]))
		ping, err2 := time.ParseDuration(asString(cfg["pingInterval"]))
		if err1 == nil && err2 == nil && ping >= idle {
			ps = append(ps, spec.Problem{Field: "pingInterval", Message: fmt.Sprintf("must be shorter than idleTimeout (%s), or live devices are closed as idle", idle)})
		}
		return ps
	},
}

func asString(v any) string { s, _ := v.(string); return s }

func validPath(p string) bool {
	seg := 0
	for _, r := range p {
		switch {
		case r == '/':
			if seg == 0 {
				return false
			}
			seg = 0
		case r == '-' || r == '.' || r == '_' || r == '~' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			seg++
		default:
			return false
		}
	}
	return seg > 0
}

type inConfig struct {
	Path           string            `json:"path"`
	Auth           string            `json:"auth"`
	MaxMessageSize int               `json:"maxMessageSize"`
	MaxConnections int               `json:"maxConnections"`
	IdleTimeout    spec.JSONDuration `json:"idleTimeout"`
	PingInterval   spec.JSONDuration `json:"pingInterval"`
	WriteTimeout   spec.JSONDuration `json:"writeTimeout"`
}

// source is the runtime of a wsIn node.
type source struct {
	sc      engine.SourceContext
	cfg     inConfig
	log     *slog.Logger
	stats   httpin.Stats
	upgrade fiber.Handler

	router  *Router
	remove  func()
	release func() error

	base   context.Context // cancelled when Stop gives up waiting
	cancel context.CancelFunc

	mu       sync.Mutex
	conns    map[*conn]struct{}
	stopping bool
	drained  chan struct{} // closed when stopping and the last connection ended
}

var _ engine.Source = (*source)(nil)

// Locals keys the upgrade handler passes to the connection.
const (
	localDevice = "sluice.ws.device"
	localRemote = "sluice.ws.remote"
	localPath   = "sluice.ws.path"
)

func newSource(sc engine.SourceContext, raw map[string]any) (engine.Source, error) {
	var cfg inConfig
	if err := inSpec.Decode(raw, &cfg); err != nil {
		return nil, fmt.Errorf("wsIn: %w", err)
	}
	s := &source{sc: sc, cfg: cfg, log: sc.Logger, conns: map[*conn]struct{}{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	s.upgrade = fiberws.New(s.serve, fiberws.Config{
		HandshakeTimeout: cfg.WriteTimeout.D(),
		RecoverHandler:   s.recoverConn,
	})
	return s, nil
}

// AcquireRouter returns the process's WebSocket router (provided under
// RouterKey by the server) and a release function; the router belongs to
// the process, so releasing it does nothing.
func AcquireRouter(res *engine.Resources) (*Router, func() error, error) {
	r, err := engine.Provided[*Router](res, RouterKey, "the WebSocket router")
	if err != nil {
		return nil, nil, err
	}
	return r, func() error { return nil }, nil
}

// Start implements engine.Source: it adds the node's path to the router.
func (s *source) Start(context.Context) error {
	r, release, err := AcquireRouter(s.sc.Resources)
	if err != nil {
		s.stats.SetState(engine.StateError)
		return fmt.Errorf("wsIn: %w", err)
	}
	remove, err := r.add(s.cfg.Path, fmt.Sprintf("flow %q, node %q", s.sc.FlowID, s.sc.NodeID), s.handle)
	if err != nil {
		_ = release()
		s.stats.SetState(engine.StateError)
		return fmt.Errorf("wsIn: %w", err)
	}
	s.router, s.remove, s.release = r, remove, release
	s.stats.SetState(engine.StateListening)
	s.log.Info("websocket ingest listening", "path", Prefix+"/"+s.cfg.Path, "auth", s.cfg.Auth)
	return nil
}

// Stop implements engine.Source: new upgrades answer 404; every connection
// stops reading, finishes submitting the frame it holds (until ctx ends) and
// is closed with code 1001.
func (s *source) Stop(ctx context.Context) error {
	if s.remove != nil {
		s.remove()
	}
	s.mu.Lock()
	if !s.stopping {
		s.stopping = true
		s.drained = make(chan struct{})
		if len(s.conns) == 0 {
			close(s.drained)
		}
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	drained := s.drained
	s.mu.Unlock()
	for _, c := range conns {
		c.stop(websocket.CloseGoingAway, "server stopping")
	}
	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		// Frames still waiting for room in the flow give up.
		s.cancel()
		grace := time.NewTimer(time.Second)
		defer grace.Stop()
		select {
		case <-drained:
		case <-grace.C:
			err = fmt.Errorf("wsIn: stop: connections still open: %w", context.Cause(ctx))
		}
	}
	s.cancel()
	if s.release != nil {
		if rerr := s.release(); rerr != nil && err == nil {
			err = fmt.Errorf("wsIn: release router: %w", rerr)
		}
		s.release = nil
	}
	s.stats.SetState(engine.StateStopped)
	return err
}

// Status implements engine.Source.
func (s *source) Status() engine.SourceStatus { return s.stats.Status() }

func (s *source) refuse(c *fiber.Ctx, status int, code, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	s.stats.Fail("upgrade %s from %s: %d %s", c.Path(), c.Context().RemoteAddr(), status, msg)
	s.log.Debug("websocket ingest: upgrade refused", "path", c.Path(), "remoteAddr", c.Context().RemoteAddr().String(), "status", status, "reason", msg)
	return httpin.WriteError(c, status, code, msg)
}

// handle authenticates an upgrade request and upgrades it.
func (s *source) handle(c *fiber.Ctx) error {
	if !fiberws.IsWebSocketUpgrade(c) {
		return s.refuse(c, fiber.StatusUpgradeRequired, httpin.CodeUpgradeRequired, "this path is a WebSocket: connect with ws://HOST%s", c.Path())
	}
	s.mu.Lock()
	stopping, open := s.stopping, len(s.conns)
	s.mu.Unlock()
	if stopping {
		return httpin.WriteError(c, fiber.StatusServiceUnavailable, httpin.CodeOverloaded, "this path is stopping; retry")
	}
	if open >= s.cfg.MaxConnections {
		c.Set(fiber.HeaderRetryAfter, "5")
		return s.refuse(c, fiber.StatusServiceUnavailable, httpin.CodeOverloaded, "too many connections on this path (limit %d); retry later", s.cfg.MaxConnections)
	}
	device := ""
	if s.cfg.Auth == "none" {
		device = strings.Clone(c.Query("deviceId")) // outlives the request
	} else {
		dev, err := httpin.Authenticate(s.base, s.sc.Devices, s.sc.Tenant, httpin.DeviceToken(c))
		if err != nil {
			status, code, msg := httpin.RefusalStatus(err)
			if status == fiber.StatusServiceUnavailable {
				s.log.Warn("websocket ingest: device registry did not answer", "error", err)
			}
			if status == fiber.StatusUnauthorized {
				c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="sluice"`)
			}
			return s.refuse(c, status, code, "%s", msg)
		}
		device = dev.ID
	}
	c.Locals(localDevice, device)
	c.Locals(localRemote, c.Context().RemoteAddr().String())
	c.Locals(localPath, strings.Clone(c.Path()))
	if err := s.upgrade(c); err != nil {
		return s.refuse(c, fiber.StatusBadRequest, httpin.CodeBadRequest, "websocket handshake failed: %v", err)
	}
	return nil
}

func (s *source) recoverConn(c *fiberws.Conn) {
	if r := recover(); r != nil {
		s.stats.Fail("connection handler panicked: %v", r)
		s.log.Error("websocket ingest: connection handler panicked", "panic", r)
	}
}

// addConn registers a new connection unless the source is stopping or full.
func (s *source) addConn(c *conn) (ok bool, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopping:
		return false, "server stopping"
	case len(s.conns) >= s.cfg.MaxConnections:
		return false, "too many connections"
	}
	s.conns[c] = struct{}{}
	s.stats.Conn(1)
	s.router.register(c)
	return true, ""
}

func (s *source) removeConn(c *conn) {
	s.router.unregister(c)
	c.markClosed()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	s.stats.Conn(-1)
	if s.stopping && len(s.conns) == 0 {
		close(s.drained)
	}
}

// serve runs one upgraded connection: it reads frames and submits them until
// the device goes away, idles out or the source stops.
func (s *source) serve(fc *fiberws.Conn) {
	device, _ := fc.Locals(localDevice).(string)
	remote, _ := fc.Locals(localRemote).(string)
	path, _ := fc.Locals(localPath).(string)
	ctx, cancel := context.WithCancel(s.base)
	defer cancel()
	c := &conn{ws: fc.Conn, tenant: s.sc.Tenant, device: device, path: s.cfg.Path, remote: remote,
		idle: s.cfg.IdleTimeout.D(), writeTimeout: s.cfg.WriteTimeout.D(), ctx: ctx, cancel: cancel}
	if ok, reason := s.addConn(c); !ok {
		code := websocket.CloseTryAgainLater
		if reason == "server stopping" {
			code = websocket.CloseGoingAway
		}
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		return
	}
	defer s.removeConn(c)

	ws := c.ws
	ws.SetReadLimit(int64(s.cfg.MaxMessageSize))
	ws.SetPongHandler(func(string) error { c.armRead(); return nil })
	ws.SetPingHandler(func(data string) error {
		c.armRead()
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(c.writeTimeout))
		var ne net.Error
		if errors.Is(err, websocket.ErrCloseSent) || errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	quit := make(chan struct{})
	pinged := make(chan struct{})
	go c.ping(s.cfg.PingInterval.D(), quit, pinged)
	defer func() {
		close(quit)
		<-pinged
	}()

	s.log.Debug("websocket device connected", "deviceId", device, "remoteAddr", remote)
	for {
		if !c.armRead() {
			return // stopping
		}
		mt, data, err := ws.ReadMessage()
		if err != nil {
			s.closed(c, err)
			return
		}
		now := time.Now()
		var dataType, payload string
		if mt == websocket.BinaryMessage {
			dataType, payload = string(types.BINARY), base64.StdEncoding.EncodeToString(data)
		} else {
			dataType, payload, _ = httpin.Sniff(data)
		}
		md := map[string]string{
			httpin.MetaConnector:  InType,
			httpin.MetaTenant:     s.sc.Tenant,
			httpin.MetaPath:       path,
			httpin.MetaRemoteAddr: remote,
			httpin.MetaReceivedAt: now.UTC().Format(time.RFC3339Nano),
		}
		if device != "" {
			md[httpin.MetaDeviceID] = device
		}
		msg := engine.Message{ID: uuid.NewString(), Ts: now.UnixMilli(), Type: "RAW", DataType: dataType, Data: payload, Metadata: md}
		// Wait for room in the flow: a fast device is slowed down by TCP.
		if _, err := s.sc.In.Submit(ctx, msg, engine.SubmitOptions{}); err != nil {
			if ctx.Err() != nil {
				s.stats.Fail("device %q at %s: frame not admitted before the connector stopped", device, remote)
				return
			}
			s.stats.Fail("device %q at %s: the flow did not accept a frame: %v", device, remote, err)
			c.stop(websocket.CloseTryAgainLater, "flow not running")
			return
		}
		s.stats.Message(len(data))
	}
}

// closed reports why a connection's read ended.
func (s *source) closed(c *conn, err error) {
	var ne net.Error
	switch {
	case c.stopped():
		// Stop closed it.
	case errors.Is(err, websocket.ErrReadLimit):
		s.stats.Fail("device %q at %s: frame larger than %d bytes; connection closed (1009)", c.device, c.remote, s.cfg.MaxMessageSize)
	case errors.As(err, &ne) && ne.Timeout():
		s.log.Debug("websocket device idle: closed", "deviceId", c.device, "remoteAddr", c.remote, "idleTimeout", c.idle)
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "idle timeout"), time.Now().Add(time.Second))
	case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived):
		s.log.Debug("websocket device disconnected", "deviceId", c.device, "remoteAddr", c.remote)
	default:
		s.log.Debug("websocket device connection ended", "deviceId", c.device, "remoteAddr", c.remote, "error", err)
	}
}

// conn is one device connection. Its websocket.Conn belongs to the
// connection's handler: once the handler ends, fasthttp recycles the network
// connection, so other goroutines (Stop, pushes) touch it only under mu or
// writeMu while closed is false.
type conn struct {
	ws           *websocket.Conn
	tenant       string
	device       string
	path         string
	remote       string
	idle         time.Duration
	writeTimeout time.Duration
	ctx          context.Context
	cancel       context.CancelFunc

	writeMu sync.Mutex // one data writer at a time
	mu      sync.Mutex // guards stopping, closed and read deadline changes
	// stopping: Stop ended reading. closed: the handler ended; set under
	// both mutexes, so either one makes reading it safe.
	stopping bool
	closed   bool
}

// armRead extends the read deadline by the idle timeout, unless the
// connection is stopping.
func (c *conn) armRead() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopping || c.closed {
		return false
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(c.idle))
	return true
}

// stop ends reading (the frame being submitted still finishes) and sends a
// close frame.
func (c *conn) stop(code int, reason string) {
	c.mu.Lock()
	if c.stopping || c.closed {
		c.mu.Unlock()
		return
	}
	c.stopping = true
	_ = c.ws.SetReadDeadline(time.Now())
	c.mu.Unlock()
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if !c.closed {
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	}
}

func (c *conn) stopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopping
}

// markClosed makes later writes and stops no-ops: the connection's handler
// is ending. It waits for a write in progress.
func (c *conn) markClosed() {
	c.writeMu.Lock()
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.writeMu.Unlock()
}

// write sends one data frame.
func (c *conn) write(binary bool, data []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.closed {
		return fmt.Errorf("device %q at %s: connection closed", c.device, c.remote)
	}
	mt := websocket.TextMessage
	if binary {
		mt = websocket.BinaryMessage
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.writeTimeout))
	if err := c.ws.WriteMessage(mt, data); err != nil {
		return fmt.Errorf("device %q at %s: %w", c.device, c.remote, err)
	}
	return nil
}

// ping pings the device every interval until quit is closed.
func (c *conn) ping(every time.Duration, quit <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-quit:
			return
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.writeTimeout)); err != nil {
				return
			}
		}
	}
}
