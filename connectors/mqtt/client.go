package mqtt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/sluicehq/sluice/engine"
)

// client is one MQTT connection, shared by the nodes whose connection
// settings are equal (engine.Resources, keyed by dialConfig.key). It owns a
// goroutine that connects, reconnects with backoff, keeps the nodes'
// subscriptions on the broker and acknowledges received messages in order.
//
// Every connection is a fresh paho client with auto-reconnect off: Sluice
// decides when to reconnect (a lost connection, or a message to redeliver)
// and a new paho client never replays a previous one's state.
type client struct {
	d      dialConfig
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	resync chan struct{} // the set of subscriptions changed

	subs atomic.Pointer[[]*subscription] // copy-on-write, read per message

	mu       sync.Mutex
	subList  []*subscription
	cur      *conn // the live connection; nil while down
	up       chan struct{}
	gen      uint64
	state    engine.SourceState
	lastErr  string
	since    time.Time
	errors   atomic.Uint64
	ackedOK  atomic.Bool // a message was acknowledged after success since the last redelivery
	connects atomic.Uint64
}

// conn is one network connection of a client.
type conn struct {
	gen     uint64
	pc      paho.Client
	acks    *ackQueue
	lost    chan error
	kick    chan struct{}
	stop    chan struct{}
	ackDone chan struct{}
	remote  atomic.Pointer[string]
	// subscribed: filter -> QoS granted on this connection (run goroutine).
	subscribed map[string]byte
}

func (cn *conn) remoteAddr() string {
	if p := cn.remote.Load(); p != nil {
		return *p
	}
	return ""
}

// subscription is one node's filters on a client.
type subscription struct {
	filters []string // as sent to the broker (with $share/{group}/ when shared)
	qos     byte
	deliver func(cn *conn, m paho.Message, e *ackEntry)
	// readyGen is the connection generation on which the broker granted all
	// the filters (0: none yet).
	readyGen atomic.Uint64
	subErr   atomic.Pointer[string]
}

func (s *subscription) matches(topic string) bool {
	for _, f := range s.filters {
		if matchTopic(f, topic) {
			return true
		}
	}
	return false
}

// newClient starts a client with the subscription sub (none when nil). It
// is in place before the first connect: on a persistent session the broker
// sends the messages it kept as soon as it has accepted the connection,
// before any SUBSCRIBE, and a message that matches no subscription is
// acknowledged (nobody wants it), so a subscription added after the
// connect could lose them.
func newClient(d dialConfig, log *slog.Logger, sub *subscription) *client {
	ctx, cancel := context.WithCancel(context.Background())
	c := &client{
		d: d, log: log.With("broker", d.brokerText, "clientId", d.clientID), ctx: ctx, cancel: cancel,
		done: make(chan struct{}), resync: make(chan struct{}, 1), up: make(chan struct{}),
		state: engine.StateRetrying, since: time.Now(),
	}
	if sub != nil {
		c.subList = append(c.subList, sub)
	}
	c.publishSubs()
	go c.run()
	return c
}

// acquireClient returns the shared client for d from res (opening it when
// nobody holds it) and its release function. sub, when not nil, is added to
// the client's subscriptions; a client opened here has it before it
// connects.
func acquireClient(res *engine.Resources, d dialConfig, log *slog.Logger, sub *subscription) (*client, func() error, error) {
	opened := false
	v, release, err := res.Acquire(d.key, func() (any, func() error, error) {
		c := newClient(d, log, sub)
		opened = true
		return c, func() error { c.cancel(); return nil }, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("mqtt client: %w", err)
	}
	c := v.(*client)
	if sub != nil && !opened {
		c.add(sub)
	}
	return c, release, nil
}

// wait returns when the client's goroutine has ended (after the last
// release), or ctx ends.
func (c *client) wait(ctx context.Context) error {
	if c.ctx.Err() == nil {
		return nil // still in use by other nodes
	}
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mqtt client %s: disconnect: %w", c.d.clientID, context.Cause(ctx))
	}
}

// add subscribes s (on the live connection now, and at every reconnect).
func (c *client) add(s *subscription) {
	c.mu.Lock()
	c.subList = append(c.subList, s)
	c.publishSubs()
	c.mu.Unlock()
	c.poke()
}

// remove unsubscribes s; filters other subscriptions use stay.
func (c *client) remove(s *subscription) {
	c.mu.Lock()
	for i, x := range c.subList {
		if x == s {
			c.subList = append(c.subList[:i:i], c.subList[i+1:]...)
			break
		}
	}
	c.publishSubs()
	c.mu.Unlock()
	c.poke()
}

func (c *client) publishSubs() {
	cp := append([]*subscription(nil), c.subList...)
	c.subs.Store(&cp)
}

func (c *client) poke() {
	select {
	case c.resync <- struct{}{}:
	default:
	}
}

// clientStatus is the connection part of a node's status.
type clientStatus struct {
	state     engine.SourceState
	lastErr   string
	since     time.Time
	errors    uint64
	gen       uint64 // of the live connection; 0 when down
	connected bool
}

func (c *client) status() clientStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := clientStatus{state: c.state, lastErr: c.lastErr, since: c.since, errors: c.errors.Load(), connected: c.cur != nil}
	if c.cur != nil {
		st.gen = c.cur.gen
	}
	return st
}

func (c *client) setState(s engine.SourceState, lastErr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setStateLocked(s, lastErr)
}

// failed counts a failed or lost connection and says why, in one step: a
// status never shows the count without the reason.
func (c *client) failed(lastErr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errors.Add(1)
	c.setStateLocked(engine.StateRetrying, lastErr)
}

func (c *client) setStateLocked(s engine.SourceState, lastErr string) {
	if c.state != s {
		c.since = time.Now()
	}
	c.state = s
	if lastErr != "" || s == engine.StateConnected {
		c.lastErr = lastErr
	}
}

// run connects and reconnects until the client is closed.
func (c *client) run() {
	defer close(c.done)
	delay := c.d.retryMin     // after a failed connect
	kickDelay := c.d.retryMin // before a redelivery reconnect
	for c.ctx.Err() == nil {
		cn, err := c.connect()
		if err != nil {
			if c.ctx.Err() != nil {
				break
			}
			c.failed(fmt.Sprintf("connect to %s: %s (retrying in %s)", strings.Join(c.d.brokers, ", "), errText(err), delay))
			c.log.Warn("mqtt connect failed", "error", err, "retryIn", delay)
			if !c.sleep(delay) {
				break
			}
			delay = min(delay*2, c.d.retryMax)
			continue
		}
		delay = c.d.retryMin
		c.connects.Add(1)
		c.log.Info("mqtt connected", "remote", cn.remoteAddr())
		kicked, lostErr := c.serve(cn)
		switch {
		case lostErr != nil:
			c.failed("connection lost: " + errText(lostErr))
			c.log.Warn("mqtt connection lost", "error", lostErr)
			c.sleep(delay) // false when closed: the loop ends

		case kicked:
			if c.ackedOK.Swap(false) {
				kickDelay = c.d.retryMin
			}
			c.setState(engine.StateRetrying, fmt.Sprintf("reconnecting in %s so that the broker redelivers an unacknowledged message", kickDelay))
			c.log.Info("mqtt reconnecting for redelivery", "in", kickDelay)
			c.sleep(kickDelay)
			kickDelay = min(kickDelay*2, c.d.retryMax)
		}
	}
	c.setState(engine.StateStopped, "")
}

func (c *client) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.ctx.Done():
		return false
	}
}

// errText is an error in words, without paho's prefixes' noise.
func errText(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "network Error : ")
	return s
}

// connect opens one connection.
func (c *client) connect() (*conn, error) {
	cn := &conn{lost: make(chan error, 1), kick: make(chan struct{}, 1), stop: make(chan struct{}), ackDone: make(chan struct{}), subscribed: map[string]byte{}}
	cn.acks = newAckQueue(!c.d.clean, func() {
		select {
		case cn.kick <- struct{}{}:
		default:
		}
	}, func(ok bool) {
		if ok {
			c.ackedOK.Store(true)
		}
	})
	o := paho.NewClientOptions()
	for _, b := range c.d.brokers {
		o.AddBroker(b)
	}
	o.SetProtocolVersion(4) // MQTT 3.1.1; no second CONNECT as 3.1 after a refusal
	o.SetClientID(c.d.clientID)
	o.SetUsername(c.d.username)
	o.SetPassword(c.d.password)
	o.SetCleanSession(c.d.clean)
	o.SetKeepAlive(c.d.keepAlive)
	o.SetPingTimeout(min(max(c.d.keepAlive, time.Second), 10*time.Second))
	o.SetConnectTimeout(c.d.connectTO)
	o.SetWriteTimeout(c.d.connectTO)
	o.SetAutoReconnect(false)
	o.SetConnectRetry(false)
	o.SetResumeSubs(false)
	o.SetAutoAckDisabled(true)
	o.SetOrderMatters(true) // one message at a time, in arrival order
	if c.d.tls != nil {
		o.SetTLSConfig(c.d.tls)
	}
	o.SetConnectionAttemptHandler(func(u *url.URL, t *tls.Config) *tls.Config {
		h := u.Host
		cn.remote.Store(&h)
		return t
	})
	o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) { c.onMessage(cn, m) })
	o.SetConnectionLostHandler(func(_ paho.Client, err error) {
		select {
		case cn.lost <- err:
		default:
		}
	})
	cn.pc = paho.NewClient(o)
	tok := cn.pc.Connect()
	select {
	case <-tok.Done():
	case <-c.ctx.Done():
		<-tok.Done() // bounded by connectTimeout
		if tok.Error() == nil {
			cn.pc.Disconnect(0)
		}
		return nil, c.ctx.Err()
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.gen++
	cn.gen = c.gen
	c.cur = cn
	close(c.up)
	c.mu.Unlock()
	c.setState(engine.StateConnected, "")
	go func() {
		defer close(cn.ackDone)
		cn.acks.run(cn.stop)
	}()
	return cn, nil
}

// serve keeps cn's subscriptions in line until cn is lost, a redelivery
// asks for a reconnect (kicked), or the client is closed.
func (c *client) serve(cn *conn) (kicked bool, lost error) {
	// A subscription the broker refused or did not answer is tried again,
	// with backoff.
	var retry <-chan time.Time
	delay := c.d.retryMin
	resync := func() {
		if c.sync(cn) {
			retry, delay = nil, c.d.retryMin
			return
		}
		retry = time.After(delay)
		delay = min(delay*2, c.d.retryMax)
	}
	resync()
	for {
		select {
		case <-retry:
			resync()
		case err := <-cn.lost:
			c.down(cn, false)
			return false, err
		case <-cn.kick:
			c.down(cn, true)
			return true, nil
		case <-c.resync:
			resync()
		case <-c.ctx.Done():
			c.down(cn, true)
			return false, nil
		}
	}
}

// down takes cn out of service: no more publishing on it, acknowledge what
// is finished (on a redelivery, nothing more), and disconnect.
func (c *client) down(cn *conn, disconnect bool) {
	c.mu.Lock()
	if c.cur == cn {
		c.cur = nil
		c.up = make(chan struct{})
	}
	c.mu.Unlock()
	close(cn.stop)
	<-cn.ackDone
	if disconnect {
		cn.pc.Disconnect(250)
	}
}

// sync subscribes the filters the subscriptions want and cn lacks, and
// unsubscribes the ones nobody wants any more. It reports whether the
// broker granted every filter.
func (c *client) sync(cn *conn) bool {
	subs := *c.subs.Load()
	want := map[string]byte{}
	for _, s := range subs {
		for _, f := range s.filters {
			if q, ok := want[f]; !ok || s.qos > q {
				want[f] = s.qos
			}
		}
	}
	add := map[string]byte{}
	for f, q := range want {
		if g, ok := cn.subscribed[f]; !ok || g != q {
			add[f] = q
		}
	}
	var drop []string
	for f := range cn.subscribed {
		if _, ok := want[f]; !ok {
			drop = append(drop, f)
		}
	}
	refused := map[string]bool{}
	if len(add) > 0 {
		tok := cn.pc.SubscribeMultiple(add, nil)
		if !tok.WaitTimeout(c.d.connectTO) || tok.Error() != nil {
			err := tok.Error()
			if err == nil {
				err = errors.New("no answer from the broker")
			}
			c.setSubErr(subs, fmt.Sprintf("subscribe: %s", errText(err)))
			c.errors.Add(1) // after the reason: a status that sees the count sees why
			c.log.Warn("mqtt subscribe failed", "error", err)
			return false
		}
		for f, code := range tok.(*paho.SubscribeToken).Result() {
			if code == 0x80 {
				refused[f] = true
				continue
			}
			cn.subscribed[f] = add[f]
		}
		if len(refused) > 0 {
			names := make([]string, 0, len(refused))
			for f := range refused {
				names = append(names, f)
			}
			sort.Strings(names)
			c.log.Warn("mqtt subscription refused by the broker", "filters", names)
		}
	}
	if len(drop) > 0 {
		tok := cn.pc.Unsubscribe(drop...)
		if tok.WaitTimeout(c.d.connectTO) && tok.Error() == nil {
			for _, f := range drop {
				delete(cn.subscribed, f)
			}
		}
	}
	for _, s := range subs {
		ok := true
		for _, f := range s.filters {
			if _, in := cn.subscribed[f]; !in {
				ok = false
				if refused[f] {
					msg := fmt.Sprintf("the broker refused the subscription to %q (not authorised?)", f)
					s.subErr.Store(&msg)
				}
			}
		}
		if ok {
			s.subErr.Store(nil)
			s.readyGen.Store(cn.gen)
		}
	}
	if len(refused) > 0 {
		c.errors.Add(1) // after the reasons: a status that sees the count sees why
	}
	return len(refused) == 0
}

func (c *client) setSubErr(subs []*subscription, msg string) {
	for _, s := range subs {
		s.subErr.Store(&msg)
	}
}

// onMessage hands a received message to every subscription it matches. It
// runs on paho's router goroutine, one message at a time.
func (c *client) onMessage(cn *conn, m paho.Message) {
	subs := *c.subs.Load()
	var buf [4]*subscription
	targets := buf[:0]
	topic := m.Topic()
	for _, s := range subs {
		if s.matches(topic) {
			targets = append(targets, s)
		}
	}
	var e *ackEntry
	if m.Qos() > 0 {
		e = cn.acks.push(m, len(targets))
	}
	for _, s := range targets {
		s.deliver(cn, m, e)
	}
}

// publish sends a message, waiting up to ctx for a connection and for the
// broker's acknowledgement (QoS 1/2).
func (c *client) publish(ctx context.Context, topic string, qos byte, retain bool, payload []byte) error {
	var pc paho.Client
	for pc == nil {
		c.mu.Lock()
		if c.cur != nil {
			pc = c.cur.pc
		}
		up := c.up
		c.mu.Unlock()
		if pc != nil {
			break
		}
		select {
		case <-up:
		case <-ctx.Done():
			lastErr := c.status().lastErr
			if lastErr == "" {
				lastErr = "connecting"
			}
			return fmt.Errorf("not connected to %s: %s", c.d.brokerText, lastErr)
		}
	}
	tok := pc.Publish(topic, qos, retain, payload)
	select {
	case <-tok.Done():
		if err := tok.Error(); err != nil {
			return fmt.Errorf("publish to %q: %w", topic, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("publish to %q: no acknowledgement from the broker: %w", topic, context.Cause(ctx))
	}
}
