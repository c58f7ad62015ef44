package tcp

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

type config struct {
	Listen               string            `json:"listen"`
	Framing              string            `json:"framing"`
	LengthBytes          int               `json:"lengthBytes"`
	ByteOrder            string            `json:"byteOrder"`
	LengthIncludesHeader bool              `json:"lengthIncludesHeader"`
	FrameSize            int               `json:"frameSize"`
	Delimiter            string            `json:"delimiter"`
	DelimiterHex         string            `json:"delimiterHex"`
	Identify             string            `json:"identify"`
	AddressMap           map[string]string `json:"addressMap"`
	Encoding             string            `json:"encoding"`
	Reply                string            `json:"reply"`
	AckText              string            `json:"ackText"`
	MaxConnections       int               `json:"maxConnections"`
	IdleTimeout          spec.JSONDuration `json:"idleTimeout"`
	MaxFrameSize         int               `json:"maxFrameSize"`
}

var nack = []byte("nack\n")

// source is the runtime of a tcpIn node.
type source struct {
	sc      engine.SourceContext
	cfg     config
	framing Framing
	addrs   map[string]string // canonical IP -> device id
	log     *slog.Logger

	ctx    context.Context // cancelled when Stop gives up waiting
	cancel context.CancelFunc

	ln         net.Listener
	acceptDone chan struct{}
	connWG     sync.WaitGroup // one per connection goroutine
	inflight   sync.WaitGroup // messages submitted and not finished

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	stopping bool

	stats stats
}

var _ engine.Source = (*source)(nil)

func newSource(sc engine.SourceContext, raw map[string]any) (engine.Source, error) {
	var cfg config
	if err := tcpSpec.Decode(raw, &cfg); err != nil {
		return nil, fmt.Errorf("tcpIn: %w", err)
	}
	f := Framing{
		Mode: cfg.Framing, LengthBytes: cfg.LengthBytes, LittleEndian: cfg.ByteOrder == "little",
		LengthIncludesHeader: cfg.LengthIncludesHeader, FixedSize: cfg.FrameSize, MaxFrame: cfg.MaxFrameSize,
	}
	if cfg.Framing == FrameDelimiter {
		f.Delimiter = []byte(cfg.Delimiter)
		if cfg.DelimiterHex != "" {
			b, err := hex.DecodeString(strings.ReplaceAll(cfg.DelimiterHex, " ", ""))
			if err != nil {
				return nil, fmt.Errorf("tcpIn: delimiterHex: %w", err)
			}
			f.Delimiter = b
		}
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("tcpIn: %w", err)
	}
	addrs := make(map[string]string, len(cfg.AddressMap))
	for k, v := range cfg.AddressMap {
		ip := net.ParseIP(k)
		if ip == nil {
			return nil, fmt.Errorf("tcpIn: addressMap: %q is not an IP address", k)
		}
		addrs[canonicalIP(ip)] = v
	}
	logger := sc.Logger
	if logger == nil {
		logger = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &source{sc: sc, cfg: cfg, framing: f, addrs: addrs, log: logger, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	s.stats.set(engine.StateStopped, "")
	return s, nil
}

func canonicalIP(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.String()
}

// Start implements engine.Source.
func (s *source) Start(ctx context.Context) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		err = fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
		s.stats.set(engine.StateError, err.Error())
		s.cancel()
		return err
	}
	s.ln = ln
	s.acceptDone = make(chan struct{})
	s.stats.set(engine.StateListening, "")
	s.log.Info("tcp connector listening", "addr", ln.Addr().String())
	go s.accept()
	return nil
}

func (s *source) accept() {
	defer close(s.acceptDone)
	backoff := 5 * time.Millisecond
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, never spin.
			s.fail(fmt.Errorf("accept: %w", err))
			select {
			case <-time.After(backoff):
			case <-s.ctx.Done():
				return
			}
			backoff = min(backoff*2, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !s.track(c) {
			s.fail(fmt.Errorf("%s: refused: %d connections open, the maximum", c.RemoteAddr(), s.cfg.MaxConnections))
			_ = c.Close()
			continue
		}
		s.connWG.Add(1)
		go s.serve(c)
	}
}

func (s *source) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || len(s.conns) >= s.cfg.MaxConnections {
		return false
	}
	s.conns[c] = struct{}{}
	s.stats.conns.Add(1)
	return true
}

func (s *source) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c]; ok {
		delete(s.conns, c)
		s.stats.conns.Add(-1)
	}
}

func (s *source) serve(c net.Conn) {
	defer s.connWG.Done()
	defer s.untrack(c)
	defer c.Close()
	remote := c.RemoteAddr().String()
	dec := NewDecoder(c, s.framing)
	next := func() ([]byte, error) {
		// The deadline covers one whole frame, not one read: a device that
		// trickles bytes is cut as surely as a silent one.
		if err := c.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout.D())); err != nil {
			return nil, err
		}
		return dec.Next()
	}
	var device string
	switch s.cfg.Identify {
	case IdentifyAddress:
		host, _, _ := net.SplitHostPort(remote)
		ip := net.ParseIP(host)
		id, ok := "", false
		if ip != nil {
			id, ok = s.addrs[canonicalIP(ip)]
		}
		if !ok {
			s.fail(fmt.Errorf("%s: refused: address not in addressMap", remote))
			return
		}
		device = id
	case IdentifyToken:
		frame, err := next()
		if err != nil {
			s.connErr(remote, err, "before its token")
			return
		}
		dev, err := s.authenticate(strings.TrimSpace(string(frame)))
		if err != nil {
			s.fail(fmt.Errorf("%s: refused: %w", remote, err))
			s.reply(c, nack)
			return
		}
		device = dev.ID
		s.reply(c, []byte(s.cfg.AckText))
	}
	for {
		frame, err := next()
		if err != nil {
			s.connErr(remote, err, "")
			return
		}
		s.handle(c, frame, device, remote)
	}
}

func (s *source) authenticate(token string) (engine.Device, error) {
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	return engine.AuthenticateDevice(ctx, s.sc.Devices, s.sc.Tenant, token)
}

// connErr records why a connection ended; a clean close is not an error.
func (s *source) connErr(remote string, err error, when string) {
	if when != "" {
		when = " " + when
	}
	switch {
	case errors.Is(err, io.EOF):
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.fail(fmt.Errorf("%s: closed: no complete frame within the idle timeout of %s%s", remote, s.cfg.IdleTimeout.D(), when))
	case errors.Is(err, ErrFrameTooLarge):
		s.fail(fmt.Errorf("%s: closed: %w (maxFrameSize %d)", remote, err, s.cfg.MaxFrameSize))
	case errors.Is(err, io.ErrUnexpectedEOF):
		s.fail(fmt.Errorf("%s: connection closed inside a frame%s", remote, when))
	case errors.Is(err, net.ErrClosed):
		return // Stop closed it
	default:
		s.fail(fmt.Errorf("%s: read: %w", remote, err))
	}
}

func (s *source) handle(c net.Conn, frame []byte, device, remote string) {
	msg := engine.Message{Type: "RAW", Metadata: map[string]string{
		"connector":  NodeType,
		"tenant":     s.sc.Tenant,
		"remoteAddr": remote,
		"listen":     s.cfg.Listen,
		"receivedAt": time.Now().UTC().Format(time.RFC3339Nano),
		"encoding":   s.cfg.Encoding,
	}}
	if device != "" {
		msg.Metadata[engine.MetaDeviceID] = device
	}
	switch s.cfg.Encoding {
	case EncodingJSON:
		if !json.Valid(frame) {
			s.fail(fmt.Errorf("%s: frame refused: not valid JSON", remote))
			s.reply(c, nack)
			return
		}
		msg.DataType, msg.Data = "JSON", string(frame)
	case EncodingBase64:
		msg.DataType, msg.Data = "BINARY", base64.StdEncoding.EncodeToString(frame)
	case EncodingHex:
		msg.DataType, msg.Data = "TEXT", hex.EncodeToString(frame)
	default:
		msg.DataType, msg.Data = "TEXT", string(frame)
		if !utf8.Valid(frame) {
			msg.Data = strings.ToValidUTF8(msg.Data, "\uFFFD")
		}
	}
	s.inflight.Add(1)
	// Wait for a slot: while the flow is full this connection stops reading
	// and TCP flow control holds the device back.
	// A connection's frames keep their order even when no device is known.
	_, err := s.sc.In.Submit(s.ctx, msg, engine.SubmitOptions{OrderKey: orderKey(device, remote), Done: func(engine.Result) { s.inflight.Done() }})
	if err != nil {
		s.inflight.Done()
		s.fail(fmt.Errorf("%s: frame not admitted: %w", remote, err))
		s.reply(c, nack)
		return
	}
	s.stats.msgs.Add(1)
	s.stats.bytes.Add(uint64(len(frame)))
	s.reply(c, []byte(s.cfg.AckText))
}

func (s *source) reply(c net.Conn, b []byte) {
	if s.cfg.Reply != "ack" || len(b) == 0 {
		return
	}
	if err := c.SetWriteDeadline(time.Now().Add(s.cfg.IdleTimeout.D())); err != nil {
		return
	}
	if _, err := c.Write(b); err != nil && !errors.Is(err, net.ErrClosed) {
		s.fail(fmt.Errorf("%s: write reply: %w", c.RemoteAddr(), err))
	}
}

// Stop implements engine.Source: it closes the listener, stops reading every
// connection (a frame being submitted still is), waits for the connection
// goroutines and then for the messages in the flow, up to ctx.
func (s *source) Stop(ctx context.Context) error {
	if s.ln == nil {
		s.cancel()
		return nil
	}
	_ = s.ln.Close()
	<-s.acceptDone
	s.mu.Lock()
	s.stopping = true
	for c := range s.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.CloseRead()
		} else {
			_ = c.SetReadDeadline(time.Now())
		}
	}
	s.mu.Unlock()
	var err error
	if !waitCtx(ctx, &s.connWG) {
		// Give up on submissions still waiting for a slot.
		s.cancel()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
		s.connWG.Wait()
		err = fmt.Errorf("stop tcpIn %s: %w", s.cfg.Listen, context.Cause(ctx))
	}
	if !waitCtx(ctx, &s.inflight) && err == nil {
		err = fmt.Errorf("stop tcpIn %s: messages still in the flow: %w", s.cfg.Listen, context.Cause(ctx))
	}
	s.cancel()
	s.stats.set(engine.StateStopped, "")
	s.log.Info("tcp connector stopped", "addr", s.cfg.Listen)
	return err
}

// waitCtx waits for wg until ctx ends; it reports whether wg finished. The
// helper goroutine ends when wg does.
func waitCtx(ctx context.Context, wg *sync.WaitGroup) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// fail counts an error, keeps it as the last one and logs it.
func (s *source) fail(err error) {
	s.stats.fail(err)
	s.log.Info("tcp connector error", "addr", s.cfg.Listen, "error", err)
}

// Status implements engine.Source.
func (s *source) Status() engine.SourceStatus { return s.stats.status() }

// stats are a source's state and counters.
type stats struct {
	conns atomic.Int64
	msgs  atomic.Uint64
	bytes atomic.Uint64
	errs  atomic.Uint64

	mu      sync.Mutex
	state   engine.SourceState
	lastErr string
	since   time.Time
}

func (st *stats) set(state engine.SourceState, lastErr string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.state != state {
		st.since = time.Now()
	}
	st.state = state
	if lastErr != "" {
		st.lastErr = lastErr
	}
}

func (st *stats) fail(err error) {
	st.errs.Add(1)
	st.mu.Lock()
	st.lastErr = err.Error()
	st.mu.Unlock()
}

func (st *stats) status() engine.SourceStatus {
	st.mu.Lock()
	defer st.mu.Unlock()
	return engine.SourceStatus{
		State: st.state, Connections: st.conns.Load(), Messages: st.msgs.Load(), Bytes: st.bytes.Load(),
		Errors: st.errs.Load(), LastError: st.lastErr, Since: st.since,
	}
}

// orderKey orders a connection's frames: by device when it is known (the
// engine's default, shared with every connector), else by the connection.
func orderKey(device, remote string) string {
	if device != "" {
		return ""
	}
	return "tcp-conn:" + remote
}
