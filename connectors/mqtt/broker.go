package mqtt

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/engine"
)

// DefaultBrokerAddr is where the embedded broker listens unless told
// otherwise.
const DefaultBrokerAddr = ":1883"

// BrokerConfig configures the embedded broker. Zero values take the
// defaults.
type BrokerConfig struct {
	// Addr is the TCP address to listen on (default ":1883").
	Addr string
	// MaxConnections bounds the open TCP connections, authenticated or not
	// (default 10000); more are closed at once.
	MaxConnections int
	// MaxMessageBytes bounds an MQTT packet (default 1 MiB); a client that
	// sends a larger one is disconnected.
	MaxMessageBytes int
	// ConnectTimeout is how long a new connection may take to send its
	// CONNECT packet (default 10s): slow or silent openers are closed.
	ConnectTimeout time.Duration
	// IdleTimeout closes a connection that sends nothing for this long when
	// the client asked for no keep-alive (keep-alive 0); with a keep-alive
	// the broker closes it after 1.5 keep-alive intervals of silence
	// (default 15m).
	IdleTimeout time.Duration
	// SessionExpiry is how long a persistent session (clean session off)
	// of a disconnected client is kept (default 24h). Sessions live in
	// memory: a restart of Sluice loses them.
	SessionExpiry time.Duration
}

func (c *BrokerConfig) defaults() {
	if c.Addr == "" {
		c.Addr = DefaultBrokerAddr
	}
	if c.MaxConnections <= 0 {
		c.MaxConnections = 10000
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 1 << 20
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 15 * time.Minute
	}
	if c.SessionExpiry <= 0 {
		c.SessionExpiry = 24 * time.Hour
	}
}

// internalUser starts the user name of Sluice's own clients (mqttIn and
// mqttOut with broker "embedded"); the rest is the tenant.
const internalUser = "$sluice/"

// Broker is the embedded MQTT broker (mochi-mqtt). Devices connect with the
// credentials of the device registry: a user name and password, or any
// user name with a device token as the password. Each tenant has its own
// topic space: a device sees, and publishes to, the topics of its tenant
// only; so do Sluice's flows through mqttIn and mqttOut with
// broker "embedded".
type Broker struct {
	cfg    BrokerConfig
	srv    *mochi.Server
	ln     *brokerListener
	auth   engine.DeviceAuth
	log    *slog.Logger
	secret string
	ctx    context.Context // for device lookups; cancelled at Close
	cancel context.CancelFunc
	since  time.Time

	refused   atomic.Uint64 // CONNECTs refused: unknown or wrong credentials
	overflow  atomic.Uint64 // TCP connections closed over MaxConnections
	open      atomic.Int64  // TCP connections open
	closeOnce sync.Once
	closed    atomic.Bool
	lastErr   atomic.Pointer[string]
}

// BrokerStatus is what the embedded broker reports.
type BrokerStatus struct {
	State       engine.SourceState `json:"state"` // listening or stopped
	Addr        string             `json:"addr"`
	Clients     int64              `json:"clients"`     // authenticated MQTT clients
	Connections int64              `json:"connections"` // open TCP connections
	Refused     uint64             `json:"refused"`     // unknown or wrong credentials
	Overflow    uint64             `json:"overflow"`    // connections closed over the limit
	Messages    int64              `json:"messages"`    // PUBLISH packets received
	Dropped     int64              `json:"dropped"`     // messages dropped for slow subscribers
	LastError   string             `json:"lastError,omitempty"`
	Since       time.Time          `json:"since"`
}

// StartBroker starts the embedded broker on cfg.Addr. auth checks device
// credentials (nil refuses every device). A port that is taken is an error
// whose text names the setting to change.
func StartBroker(ctx context.Context, cfg BrokerConfig, auth engine.DeviceAuth, log *slog.Logger) (*Broker, error) {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "mqtt-broker")
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("embedded MQTT broker: listen on %s: %w; set SLUICE_MQTT_ADDR (or --mqtt) to a free address, or to \"\" to turn the broker off", cfg.Addr, err)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("embedded MQTT broker: internal secret: %w", err)
	}
	b := &Broker{cfg: cfg, auth: auth, log: log, secret: hex.EncodeToString(secret), since: time.Now()}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.ln = &brokerListener{ln: ln, b: b, sem: make(chan struct{}, cfg.MaxConnections), served: make(chan struct{}), conns: map[*limitConn]struct{}{}}

	caps := mochi.NewDefaultServerCapabilities()
	caps.MaximumPacketSize = uint32(cfg.MaxMessageBytes)
	caps.MaximumSessionExpiryInterval = uint32(cfg.SessionExpiry / time.Second)
	caps.MaximumClients = int64(cfg.MaxConnections)
	b.srv = mochi.New(&mochi.Options{Capabilities: caps, Logger: log, InlineClient: false})
	fail := func(err error) (*Broker, error) {
		_ = ln.Close()
		b.cancel()
		return nil, fmt.Errorf("embedded MQTT broker: %w", err)
	}
	if err := b.srv.AddHook(&brokerHook{b: b}, nil); err != nil {
		return fail(err)
	}
	if err := b.srv.AddListener(b.ln); err != nil {
		return fail(err)
	}
	if err := b.srv.Serve(); err != nil {
		_ = b.srv.Close()
		return fail(err)
	}
	log.Info("embedded MQTT broker listening", "addr", ln.Addr().String())
	return b, nil
}

// Addr is the URL Sluice's own clients connect to: tcp://127.0.0.1:PORT
// when the broker listens on every interface.
func (b *Broker) Addr() string {
	return "tcp://" + clientAddr(b.ln.ln.Addr())
}

func clientAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// Credentials are what Sluice's own clients of tenant present: they see
// that tenant's topics, like its devices.
func (b *Broker) Credentials(tenant string) (username, password string) {
	return internalUser + tenant, b.secret
}

// Provide makes the broker available to mqttIn and mqttOut nodes with
// broker "embedded": its address under ResourceEmbeddedAddr and its
// credentials under ResourceEmbeddedCredentials.
func (b *Broker) Provide(r *engine.Resources) {
	r.Provide(ResourceEmbeddedAddr, b.Addr())
	r.Provide(ResourceEmbeddedCredentials, b.Credentials)
}

// Status reports the broker's state and counters.
func (b *Broker) Status() BrokerStatus {
	st := BrokerStatus{
		State: engine.StateListening, Addr: b.ln.Address(), Since: b.since,
		Clients:     atomic.LoadInt64(&b.srv.Info.ClientsConnected),
		Connections: b.open.Load(), Refused: b.refused.Load(), Overflow: b.overflow.Load(),
		Messages: atomic.LoadInt64(&b.srv.Info.MessagesReceived),
		Dropped:  atomic.LoadInt64(&b.srv.Info.MessagesDropped) + atomic.LoadInt64(&b.srv.Info.InflightDropped),
	}
	if b.closed.Load() {
		st.State = engine.StateStopped
	}
	if p := b.lastErr.Load(); p != nil {
		st.LastError = *p
	}
	return st
}

// Close stops listening, disconnects every client and waits (up to ctx)
// for their connections to end.
func (b *Broker) Close(ctx context.Context) error {
	var err error
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		b.cancel()
		// End every connection first: mochi's Close waits for its client
		// goroutines, and must not start waiting while one is still being
		// set up.
		if serr := b.ln.shutdown(ctx); serr != nil {
			err = fmt.Errorf("embedded MQTT broker: close: %w", serr)
			return
		}
		_ = b.srv.Close()
		b.log.Info("embedded MQTT broker stopped")
	})
	return err
}

// authenticate returns the tenant of a CONNECT's credentials.
func (b *Broker) authenticate(username, password string) (string, error) {
	if rest, ok := strings.CutPrefix(username, internalUser); ok {
		if subtle.ConstantTimeCompare([]byte(password), []byte(b.secret)) == 1 && rest != "" {
			return rest, nil
		}
		return "", engine.ErrUnauthorized
	}
	if b.auth == nil {
		return "", errors.New("no device registry: every device is refused")
	}
	if password == "" {
		return "", engine.ErrUnauthorized
	}
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	d, err := b.auth.ByPassword(ctx, username, password)
	if err != nil {
		var terr error
		d, terr = b.auth.ByToken(ctx, password)
		if terr != nil {
			if !errors.Is(err, engine.ErrUnauthorized) {
				return "", err
			}
			return "", terr
		}
	}
	if d.Tenant == "" {
		return "", fmt.Errorf("device %q has no tenant", d.ID)
	}
	return d.Tenant, nil
}

// Tenants' topic spaces. A client's id is rewritten to
// "{tenant}/{client id}" once it has authenticated (so that a client of one
// tenant cannot take over another tenant's session), and every topic it
// publishes or subscribes to gets the same prefix, which is removed again
// from what it receives.

// mountOf is the topic prefix of a tenant: "/", "+", "#" and "%" escaped.
func mountOf(tenant string) string {
	r := strings.NewReplacer("%", "%25", "/", "%2F", "+", "%2B", "#", "%23")
	return r.Replace(tenant) + "/"
}

// clientMount is the prefix of an authenticated client (from its id).
func clientMount(cl *mochi.Client) string {
	if cl == nil || cl.Net.Inline {
		return ""
	}
	i := strings.IndexByte(cl.ID, '/')
	if i < 0 {
		return ""
	}
	return cl.ID[:i+1]
}

func mountFilter(mount, f string) string {
	if rest, ok := strings.CutPrefix(f, sharePrefix); ok {
		if group, filter, ok := strings.Cut(rest, "/"); ok {
			return sharePrefix + group + "/" + mount + filter
		}
	}
	return mount + f
}

type brokerHook struct {
	mochi.HookBase
	b *Broker
}

func (h *brokerHook) ID() string { return "sluice" }

func (h *brokerHook) Provides(x byte) bool {
	return bytes.IndexByte([]byte{
		mochi.OnConnectAuthenticate, mochi.OnACLCheck, mochi.OnPublish, mochi.OnSubscribe,
		mochi.OnUnsubscribe, mochi.OnPacketEncode, mochi.OnWill,
	}, x) >= 0
}

func (h *brokerHook) OnConnectAuthenticate(cl *mochi.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	tenant, err := h.b.authenticate(user, string(pk.Connect.Password))
	if err != nil {
		h.b.refused.Add(1)
		msg := fmt.Sprintf("refused client %q from %s (user %q): %v", cl.ID, cl.Net.Remote, user, err)
		h.b.lastErr.Store(&msg)
		h.b.log.Warn("mqtt client refused", "client", cl.ID, "remote", cl.Net.Remote, "username", user, "error", err)
		return false
	}
	cl.ID = mountOf(tenant) + cl.ID
	return true
}

func (h *brokerHook) OnACLCheck(*mochi.Client, string, bool) bool { return true }

func (h *brokerHook) OnPublish(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if m := clientMount(cl); m != "" {
		pk.TopicName = m + pk.TopicName
	}
	return pk, nil
}

func (h *brokerHook) OnSubscribe(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if m := clientMount(cl); m != "" {
		fs := make(packets.Subscriptions, len(pk.Filters))
		copy(fs, pk.Filters)
		for i := range fs {
			fs[i].Filter = mountFilter(m, fs[i].Filter)
		}
		pk.Filters = fs
	}
	return pk
}

func (h *brokerHook) OnUnsubscribe(cl *mochi.Client, pk packets.Packet) packets.Packet {
	return h.OnSubscribe(cl, pk)
}

func (h *brokerHook) OnPacketEncode(cl *mochi.Client, pk packets.Packet) packets.Packet {
	if pk.FixedHeader.Type == packets.Publish {
		if m := clientMount(cl); m != "" {
			pk.TopicName = strings.TrimPrefix(pk.TopicName, m)
		}
	}
	return pk
}

func (h *brokerHook) OnWill(cl *mochi.Client, will mochi.Will) (mochi.Will, error) {
	if m := clientMount(cl); m != "" && !strings.HasPrefix(will.TopicName, m) {
		will.TopicName = m + will.TopicName
	}
	return will, nil
}

// brokerListener is the broker's TCP listener (a mochi listener). It
// bounds the open connections, gives each a deadline for its CONNECT (after
// that the broker sets deadlines from the keep-alive), and knows every
// connection and every connection goroutine, so that Close can end them all
// before mochi's own Close waits for its clients.
type brokerListener struct {
	ln        net.Listener
	b         *Broker
	sem       chan struct{}
	log       *slog.Logger
	served    chan struct{} // closed when Serve returns
	serving   sync.WaitGroup
	mu        sync.Mutex
	conns     map[*limitConn]struct{}
	closeOnce sync.Once
}

var _ listeners.Listener = (*brokerListener)(nil)

func (l *brokerListener) ID() string                  { return "sluice" }
func (l *brokerListener) Address() string             { return l.ln.Addr().String() }
func (l *brokerListener) Protocol() string            { return "tcp" }
func (l *brokerListener) Init(log *slog.Logger) error { l.log = log; return nil }

// Serve accepts connections until the listener is closed.
func (l *brokerListener) Serve(establish listeners.EstablishFn) {
	defer close(l.served)
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		select {
		case l.sem <- struct{}{}:
		default:
			l.b.overflow.Add(1)
			_ = c.Close()
			continue
		}
		_ = c.SetDeadline(time.Now().Add(l.b.cfg.ConnectTimeout))
		lc := &limitConn{Conn: c, idle: l.b.cfg.IdleTimeout}
		lc.release = sync.OnceFunc(func() {
			l.mu.Lock()
			delete(l.conns, lc)
			l.mu.Unlock()
			l.b.open.Add(-1)
			<-l.sem
		})
		l.mu.Lock()
		l.conns[lc] = struct{}{}
		l.mu.Unlock()
		l.b.open.Add(1)
		l.serving.Add(1)
		go func() {
			defer l.serving.Done()
			if err := establish(l.ID(), lc); err != nil && l.log != nil {
				l.log.Debug("mqtt connection ended", "remote", c.RemoteAddr().String(), "error", err)
			}
		}()
	}
}

// shutdown stops accepting, closes every connection and waits (up to ctx)
// for their goroutines.
func (l *brokerListener) shutdown(ctx context.Context) error {
	l.closeOnce.Do(func() { _ = l.ln.Close() })
	select {
	case <-l.served:
	case <-ctx.Done():
		return context.Cause(ctx)
	}
	l.mu.Lock()
	for c := range l.conns {
		_ = c.Conn.Close()
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() {
		l.serving.Wait() // every Add happened in Serve, which has returned
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Close is mochi's: it closes the clients mochi still knows (sessions).
func (l *brokerListener) Close(closeClients listeners.CloseFn) {
	l.closeOnce.Do(func() { _ = l.ln.Close() })
	closeClients(l.ID())
}

type limitConn struct {
	net.Conn
	idle    time.Duration
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}

// SetDeadline turns "no deadline" (a client without keep-alive) into the
// idle timeout.
func (c *limitConn) SetDeadline(t time.Time) error {
	if t.IsZero() && c.idle > 0 {
		t = time.Now().Add(c.idle)
	}
	return c.Conn.SetDeadline(t)
}

// Collector exports the broker's status as Prometheus metrics
// (sluice_mqtt_broker_*); sluice serve registers it next to the engine's.
func (b *Broker) Collector() prometheus.Collector { return brokerCollector{b} }

type brokerCollector struct{ b *Broker }

var (
	descBrokerClients     = prometheus.NewDesc("sluice_mqtt_broker_clients", "MQTT clients connected to the embedded broker.", nil, nil)
	descBrokerConnections = prometheus.NewDesc("sluice_mqtt_broker_connections", "Open TCP connections of the embedded broker, authenticated or not.", nil, nil)
	descBrokerRefused     = prometheus.NewDesc("sluice_mqtt_broker_refused_total", "CONNECTs refused for unknown or wrong credentials.", nil, nil)
	descBrokerOverflow    = prometheus.NewDesc("sluice_mqtt_broker_overflow_total", "TCP connections closed because MaxConnections was reached.", nil, nil)
	descBrokerMessages    = prometheus.NewDesc("sluice_mqtt_broker_messages_received_total", "PUBLISH packets received by the embedded broker.", nil, nil)
	descBrokerDropped     = prometheus.NewDesc("sluice_mqtt_broker_messages_dropped_total", "Messages the embedded broker dropped for subscribers that could not keep up.", nil, nil)
)

func (c brokerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBrokerClients, descBrokerConnections, descBrokerRefused, descBrokerOverflow, descBrokerMessages, descBrokerDropped} {
		ch <- d
	}
}

func (c brokerCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.b.Status()
	ch <- prometheus.MustNewConstMetric(descBrokerClients, prometheus.GaugeValue, float64(st.Clients))
	ch <- prometheus.MustNewConstMetric(descBrokerConnections, prometheus.GaugeValue, float64(st.Connections))
	ch <- prometheus.MustNewConstMetric(descBrokerRefused, prometheus.CounterValue, float64(st.Refused))
	ch <- prometheus.MustNewConstMetric(descBrokerOverflow, prometheus.CounterValue, float64(st.Overflow))
	ch <- prometheus.MustNewConstMetric(descBrokerMessages, prometheus.CounterValue, float64(st.Messages))
	ch <- prometheus.MustNewConstMetric(descBrokerDropped, prometheus.CounterValue, float64(st.Dropped))
}
