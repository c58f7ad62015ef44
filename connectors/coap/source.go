package coap

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/plgd-dev/go-coap/v3/message/codes"
	"github.com/plgd-dev/go-coap/v3/message/pool"
	coapNet "github.com/plgd-dev/go-coap/v3/net"
	"github.com/plgd-dev/go-coap/v3/net/blockwise"
	"github.com/plgd-dev/go-coap/v3/net/monitor/inactivity"
	"github.com/plgd-dev/go-coap/v3/net/responsewriter"
	"github.com/plgd-dev/go-coap/v3/options"
	"github.com/plgd-dev/go-coap/v3/udp"
	udpClient "github.com/plgd-dev/go-coap/v3/udp/client"
	udpServer "github.com/plgd-dev/go-coap/v3/udp/server"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

type config struct {
	Listen         string            `json:"listen"`
	Paths          []string          `json:"paths"`
	ObservePaths   []string          `json:"observePaths"`
	Auth           string            `json:"auth"`
	TokenQuery     string            `json:"tokenQuery"`
	TokenOption    int               `json:"tokenOption"`
	DataType       string            `json:"dataType"`
	MaxPayloadSize int               `json:"maxPayloadSize"`
	MaxPeers       int               `json:"maxPeers"`
	IdleTimeout    spec.JSONDuration `json:"idleTimeout"`
}

// maxDatagram is the largest UDP payload; the connector reads whole
// datagrams and answers 4.13 itself above maxPayloadSize.
const maxDatagram = 65535

type rw = responsewriter.ResponseWriter[*udpClient.Conn]

// source is the runtime of a coapIn node.
type source struct {
	sc       engine.SourceContext
	cfg      config
	log      *slog.Logger
	paths    [][]string // patterns, split into segments
	observes [][]string
	tick     time.Duration // period of the inactivity checks

	ctx    context.Context
	cancel context.CancelFunc

	hub        *hub
	releaseHub func() error
	srv        *udpServer.Server
	ln         *coapNet.UDPConn
	serveDone  chan struct{}
	runner     sync.WaitGroup // the periodic runner's goroutine
	gate       gate           // requests being handled
	inflight   sync.WaitGroup // messages in the flow
	refused    sync.Map       // *udpClient.Conn over maxPeers

	peers                 atomic.Int64
	msgs, bytes, errCount atomic.Uint64
	mu                    sync.Mutex
	state                 engine.SourceState
	lastErr               string
	since                 time.Time
}

var _ engine.Source = (*source)(nil)

var errTooManyPeers = errors.New("too many CoAP endpoints")

func newSource(sc engine.SourceContext, raw map[string]any) (engine.Source, error) {
	var cfg config
	if err := coapSpec.Decode(raw, &cfg); err != nil {
		return nil, fmt.Errorf("coapIn: %w", err)
	}
	logger := sc.Logger
	if logger == nil {
		logger = slog.Default()
	}
	tick := min(max(cfg.IdleTimeout.D()/4, 50*time.Millisecond), 5*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	s := &source{sc: sc, cfg: cfg, log: logger, tick: tick, ctx: ctx, cancel: cancel, state: engine.StateStopped, since: time.Now()}
	for _, p := range cfg.Paths {
		s.paths = append(s.paths, segments(p))
	}
	for _, p := range cfg.ObservePaths {
		s.observes = append(s.observes, segments(p))
	}
	return s, nil
}

func segments(p string) []string { return strings.Split(strings.Trim(p, "/"), "/") }

// match finds path among patterns; a {deviceId} segment yields its value.
func match(patterns [][]string, path string) (ok bool, device string) {
	segs := segments(path)
	for _, pat := range patterns {
		if len(pat) != len(segs) {
			continue
		}
		dev, hit := "", true
		for i, p := range pat {
			switch {
			case p == "{deviceId}" && segs[i] != "":
				dev = segs[i]
			case p != segs[i]:
				hit = false
			}
			if !hit {
				break
			}
		}
		if hit {
			return true, dev
		}
	}
	return false, ""
}

// monitorOpt installs the inactivity monitor of each endpoint.
type monitorOpt struct {
	create func() udpClient.InactivityMonitor
}

func (o monitorOpt) UDPServerApply(cfg *udpServer.Config) { cfg.CreateInactivityMonitor = o.create }

// Start implements engine.Source.
func (s *source) Start(context.Context) error {
	h, release, err := acquireHub(s.sc.Resources, s.sc.Tenant, s.cfg.Listen)
	if err != nil {
		s.cancel()
		return s.startErr(fmt.Errorf("observe resources: %w", err))
	}
	ln, err := coapNet.NewListenUDP("udp", s.cfg.Listen)
	if err != nil {
		_ = release()
		s.cancel()
		return s.startErr(fmt.Errorf("listen udp %s: %w", s.cfg.Listen, err))
	}
	s.hub, s.releaseHub, s.ln = h, release, ln
	s.srv = udp.NewServer(
		options.WithContext(s.ctx),
		options.WithHandlerFunc(s.serveCoAP),
		options.WithMaxMessageSize(maxDatagram),
		options.WithBlockwise(false, blockwise.SZX1024, time.Second),
		options.WithPeriodicRunner(s.periodic),
		options.WithOnNewConn(s.onNewConn),
		options.WithRequestMonitor(s.requestMonitor),
		options.WithErrors(func(err error) { s.log.Debug("coap server", "error", err) }),
		monitorOpt{create: s.newMonitor},
	)
	s.serveDone = make(chan struct{})
	go func() {
		defer close(s.serveDone)
		if err := s.srv.Serve(ln); err != nil {
			s.fail(fmt.Errorf("serve: %w", err))
			s.setState(engine.StateError)
		}
	}()
	s.setState(engine.StateListening)
	s.log.Info("coap connector listening", "addr", ln.LocalAddr().String())
	return nil
}

func (s *source) startErr(err error) error {
	s.fail(err)
	s.setState(engine.StateError)
	return err
}

// periodic runs the server's inactivity checks until the source stops.
func (s *source) periodic(f func(now time.Time) bool) {
	s.runner.Add(1)
	go func() {
		defer s.runner.Done()
		t := time.NewTicker(s.tick)
		defer t.Stop()
		for {
			select {
			case <-s.ctx.Done():
				return
			case now := <-t.C:
				if !f(now) {
					return
				}
			}
		}
	}()
}

// Keep-alive of observing endpoints: a CoAP ping (an empty confirmable
// message) is answered with a Reset; an endpoint that misses pingAttempts
// pings pingTimeout apart is forgotten (RFC 7252 ACK_TIMEOUT, MAX_RETRANSMIT).
const (
	pingTimeout  = 2 * time.Second
	pingAttempts = 4
)

// newMonitor closes an endpoint silent for idleTimeout, unless it observes a
// resource: then it is pinged, and closed only when it stops answering. (The
// library's KeepAlive is not used: the server checks inactivity again when
// the answer to a ping arrives, before handling it, and so cancels the very
// ping being answered.)
func (s *source) newMonitor() udpClient.InactivityMonitor {
	var mu sync.Mutex
	var sent time.Time // when the outstanding ping went out; zero: none
	var attempts int
	var cancel func()
	pong := func() {
		mu.Lock()
		defer mu.Unlock()
		sent, attempts, cancel = time.Time{}, 0, nil
	}
	return inactivity.New(s.cfg.IdleTimeout.D(), func(cc *udpClient.Conn) {
		if !s.hub.observing(cc) {
			_ = cc.Close()
			return
		}
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if !sent.IsZero() && now.Sub(sent) < pingTimeout {
			return // waiting for the answer
		}
		if cancel != nil {
			cancel()
			cancel = nil
		}
		if attempts >= pingAttempts {
			s.log.Info("coap observer stopped answering pings", "remote", cc.RemoteAddr().String())
			_ = cc.Close()
			return
		}
		c, err := cc.AsyncPing(pong)
		if err != nil {
			_ = cc.Close()
			return
		}
		sent, cancel = now, c
		attempts++
	})
}

func (s *source) onNewConn(cc *udpClient.Conn) {
	n := s.peers.Add(1)
	cc.AddOnClose(func() {
		s.peers.Add(-1)
		s.hub.dropPeer(cc)
		s.refused.Delete(cc)
	})
	if n > int64(s.cfg.MaxPeers) {
		s.refused.Store(cc, struct{}{})
	}
}

// requestMonitor drops the endpoint of a datagram beyond maxPeers.
func (s *source) requestMonitor(cc *udpClient.Conn, _ *pool.Message) (bool, error) {
	if _, ok := s.refused.Load(cc); ok {
		s.fail(fmt.Errorf("%s: dropped: %d endpoints tracked, the maximum", cc.RemoteAddr(), s.cfg.MaxPeers))
		return false, errTooManyPeers
	}
	return false, nil
}

func (s *source) serveCoAP(w *rw, r *pool.Message) {
	if !s.gate.enter() {
		return
	}
	defer s.gate.leave()
	cc := w.Conn()
	if r.Type() == message.Reset {
		// A device that no longer wants a notification answers it so.
		s.hub.resetBy(cc, r.MessageID())
		return
	}
	if r.Code() == codes.Empty {
		return
	}
	path, err := r.Options().Path()
	if err != nil {
		path = "/"
	}
	switch r.Code() {
	case codes.POST, codes.PUT:
		s.ingest(w, r, path)
	case codes.GET:
		s.get(w, r, path)
	default:
		respond(w, codes.MethodNotAllowed, "")
	}
}

func respond(w *rw, code codes.Code, text string, opts ...message.Option) {
	if text == "" {
		_ = w.SetResponse(code, message.TextPlain, nil, opts...)
		return
	}
	// The diagnostic payload of an error (RFC 7252 §5.5.2).
	_ = w.SetResponse(code, message.TextPlain, bytes.NewReader([]byte(text)), opts...)
}

// token returns the device token of r: the query parameter, else the option.
func (s *source) token(r *pool.Message) string {
	if s.cfg.TokenQuery != "" {
		if qs, err := r.Queries(); err == nil {
			for _, q := range qs {
				if k, v, _ := strings.Cut(q, "="); k == s.cfg.TokenQuery {
					return v
				}
			}
		}
	}
	if s.cfg.TokenOption > 0 {
		if v, err := r.Options().GetString(message.OptionID(s.cfg.TokenOption)); err == nil {
			return v
		}
		if v, err := r.Options().GetBytes(message.OptionID(s.cfg.TokenOption)); err == nil {
			return string(v)
		}
	}
	return ""
}

// authorize checks the device of r for path (seg is the path's {deviceId}
// segment); on refusal it answers, counts and returns false.
func (s *source) authorize(w *rw, r *pool.Message, path, seg string) (deviceID string, ok bool) {
	remote := w.Conn().RemoteAddr().String()
	if s.cfg.Auth == AuthNone {
		return seg, true
	}
	dev, err := s.authenticate(s.token(r))
	if err != nil {
		s.fail(fmt.Errorf("%s %s: refused: %w", remote, path, err))
		respond(w, codes.Unauthorized, "unknown or missing device token")
		return "", false
	}
	if seg != "" && seg != dev.ID {
		s.fail(fmt.Errorf("%s %s: refused: device %q may not use another device's path", remote, path, dev.ID))
		respond(w, codes.Forbidden, "path of another device")
		return "", false
	}
	return dev.ID, true
}

func (s *source) authenticate(token string) (engine.Device, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	return engine.AuthenticateDevice(ctx, s.sc.Devices, s.sc.Tenant, token)
}

func (s *source) tooLarge(w *rw, remote, path string, size int64) {
	s.fail(fmt.Errorf("%s %s: refused: payload of %d bytes, more than maxPayloadSize %d", remote, path, size, s.cfg.MaxPayloadSize))
	var buf [4]byte
	n, _ := message.EncodeUint32(buf[:], uint32(s.cfg.MaxPayloadSize))
	// Size1 tells the device the largest payload accepted (RFC 7959 §4).
	respond(w, codes.RequestEntityTooLarge, "payload too large", message.Option{ID: message.Size1, Value: buf[:n]})
}

func (s *source) ingest(w *rw, r *pool.Message, path string) {
	cc := w.Conn()
	remote := cc.RemoteAddr().String()
	ok, seg := match(s.paths, path)
	if !ok {
		respond(w, codes.NotFound, "")
		return
	}
	device, ok := s.authorize(w, r, path, seg)
	if !ok {
		return
	}
	if r.HasOption(message.Block1) {
		size := int64(-1)
		if v, err := r.GetOptionUint32(message.Size1); err == nil {
			size = int64(v)
		}
		s.tooLarge(w, remote, path, size)
		return
	}
	if size, err := r.BodySize(); err == nil && size > int64(s.cfg.MaxPayloadSize) {
		s.tooLarge(w, remote, path, size)
		return
	}
	body, err := r.ReadBody()
	if err != nil {
		s.fail(fmt.Errorf("%s %s: read payload: %w", remote, path, err))
		respond(w, codes.BadRequest, "unreadable payload")
		return
	}
	dataType := s.cfg.DataType
	if cf, err := r.ContentFormat(); err == nil {
		switch cf {
		case message.AppJSON:
			dataType = "JSON"
		case message.TextPlain:
			dataType = "TEXT"
		default:
			dataType = "BINARY"
		}
	}
	msg := engine.Message{Type: "RAW", DataType: dataType, Metadata: map[string]string{
		"connector":  NodeType,
		"tenant":     s.sc.Tenant,
		"path":       path,
		"method":     r.Code().String(),
		"coapType":   coapType(r.Type()),
		"remoteAddr": remote,
		"receivedAt": time.Now().UTC().Format(time.RFC3339Nano),
	}}
	if device != "" {
		msg.Metadata[engine.MetaDeviceID] = device
	}
	switch dataType {
	case "BINARY":
		msg.Data = base64.StdEncoding.EncodeToString(body)
	case "JSON":
		if !json.Valid(body) {
			s.fail(fmt.Errorf("%s %s: refused: payload is not valid JSON", remote, path))
			respond(w, codes.BadRequest, "payload is not valid JSON")
			return
		}
		msg.Data = string(body)
	default:
		msg.Data = string(body)
	}
	s.inflight.Add(1)
	// Fail fast: UDP has no flow control to wait on; the device retries.
	if _, err := s.sc.In.Submit(s.ctx, msg, engine.SubmitOptions{FailFast: true, Done: func(engine.Result) { s.inflight.Done() }}); err != nil {
		s.inflight.Done()
		s.fail(fmt.Errorf("%s %s: not admitted: %w", remote, path, err))
		respond(w, codes.ServiceUnavailable, "flow is busy, retry later")
		return
	}
	s.msgs.Add(1)
	s.bytes.Add(uint64(len(body)))
	respond(w, codes.Changed, "")
}

func coapType(t message.Type) string {
	if t == message.NonConfirmable {
		return "NON"
	}
	return "CON"
}

// get answers a GET of an observable resource, registering or cancelling an
// observation (RFC 7641) when asked.
func (s *source) get(w *rw, r *pool.Message, path string) {
	cc := w.Conn()
	ok, seg := match(s.observes, path)
	if !ok {
		respond(w, codes.NotFound, "")
		return
	}
	if _, ok := s.authorize(w, r, path, seg); !ok {
		return
	}
	token := string(r.Token())
	obs, err := r.Observe()
	var v value
	register := err == nil && obs == 0
	switch {
	case register:
		o := &observer{path: path, peer: cc, token: token}
		tok := []byte(token) // r's token belongs to the message pool
		o.notify = func(v value) error {
			mid, err := notify(cc, tok, v)
			if err == nil {
				s.hub.setMID(o, mid)
			}
			return err
		}
		v = s.hub.get(path, o)
	case err == nil && obs == 1:
		s.hub.remove(path, cc, token)
		v = s.hub.get(path, nil)
	default:
		v = s.hub.get(path, nil)
	}
	var body *bytes.Reader
	if len(v.payload) > 0 {
		body = bytes.NewReader(v.payload)
	}
	if body != nil {
		_ = w.SetResponse(codes.Content, v.format, body)
	} else {
		_ = w.SetResponse(codes.Content, message.TextPlain, nil)
	}
	if register {
		w.Message().SetObserve(v.seq)
	}
}

// notify sends a non-confirmable notification of v to an observer.
func notify(cc *udpClient.Conn, token []byte, v value) (int32, error) {
	if err := cc.Context().Err(); err != nil {
		return 0, fmt.Errorf("endpoint gone: %w", err)
	}
	m := cc.AcquireMessage(cc.Context())
	defer cc.ReleaseMessage(m)
	m.SetCode(codes.Content)
	m.SetToken(token)
	m.SetObserve(v.seq)
	if len(v.payload) > 0 {
		m.SetContentFormat(v.format)
		m.SetBody(bytes.NewReader(v.payload))
	}
	m.SetType(message.NonConfirmable)
	mid := cc.GetMessageID()
	m.SetMessageID(mid)
	if err := cc.WriteMessage(m); err != nil {
		return 0, fmt.Errorf("notify %s: %w", cc.RemoteAddr(), err)
	}
	return mid, nil
}

// Stop implements engine.Source.
func (s *source) Stop(ctx context.Context) error {
	if s.srv == nil {
		s.cancel()
		return nil
	}
	idle := s.gate.close()
	s.srv.Stop()
	_ = s.ln.Close()
	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = fmt.Errorf("stop coapIn %s: requests still being handled: %w", s.cfg.Listen, context.Cause(ctx))
	}
	s.cancel()
	<-s.serveDone
	s.runner.Wait()
	if err == nil {
		done := make(chan struct{})
		go func() {
			s.inflight.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			err = fmt.Errorf("stop coapIn %s: messages still in the flow: %w", s.cfg.Listen, context.Cause(ctx))
		}
	}
	if rerr := s.releaseHub(); rerr != nil && err == nil {
		err = fmt.Errorf("stop coapIn %s: %w", s.cfg.Listen, rerr)
	}
	s.setState(engine.StateStopped)
	s.log.Info("coap connector stopped", "addr", s.cfg.Listen)
	return err
}

func (s *source) setState(st engine.SourceState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state != st {
		s.since = time.Now()
	}
	s.state = st
}

func (s *source) fail(err error) {
	s.errCount.Add(1)
	s.mu.Lock()
	s.lastErr = err.Error()
	s.mu.Unlock()
	s.log.Info("coap connector error", "addr", s.cfg.Listen, "error", err)
}

// Status implements engine.Source; connections are the endpoints tracked.
func (s *source) Status() engine.SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return engine.SourceStatus{State: s.state, Connections: s.peers.Load(), Messages: s.msgs.Load(), Bytes: s.bytes.Load(),
		Errors: s.errCount.Load(), LastError: s.lastErr, Since: s.since}
}

// gate counts requests being handled and refuses new ones once closed.
type gate struct {
	mu     sync.Mutex
	n      int
	closed bool
	idle   chan struct{}
}

func (g *gate) enter() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	g.n++
	return true
}

func (g *gate) leave() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n--
	if g.closed && g.n == 0 && g.idle != nil {
		close(g.idle)
		g.idle = nil
	}
}

// close refuses new requests; the channel closes when none is left.
func (g *gate) close() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	ch := make(chan struct{})
	if g.n == 0 {
		close(ch)
	} else {
		g.idle = ch
	}
	return ch
}
