package mqtt

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// testBroker is a broker a test runs against: Mosquitto, or the embedded
// broker (devices log in with registry credentials; mqttIn uses "embedded").
type testBroker struct {
	name       string
	url        string // for the test's own clients
	user, pass string // device credentials
	nodeBroker string // the mqttIn/mqttOut broker field
	embedded   *Broker
}

func (b *testBroker) provide(m *engine.Manager) {
	if b.embedded != nil {
		b.embedded.Provide(m.Resources())
	}
}

// forEachBroker runs fn against Mosquitto and against the embedded broker.
func forEachBroker(t *testing.T, fn func(t *testing.T, b *testBroker)) {
	t.Run("mosquitto", func(t *testing.T) {
		mq := startMosquitto(t)
		fn(t, &testBroker{name: "mosquitto", url: mq.url(), nodeBroker: mq.url()})
	})
	t.Run("embedded", func(t *testing.T) {
		eb := startEmbedded(t, BrokerConfig{})
		fn(t, &testBroker{name: "embedded", url: eb.Addr(), user: "boiler-7", pass: "s3cret", nodeBroker: Embedded, embedded: eb})
	})
}

func TestReceiveWithDeviceIDFromTopic(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b *testBroker) {
		m := conntest.NewManager(t, engine.Options{})
		b.provide(m)
		p := conntest.Record(t, "telemetry")
		cfg := baseIn(b.nodeBroker, "devices/+/telemetry", "plant/#")
		cfg["topicPattern"] = "devices/{deviceId}/telemetry"
		conntest.Deploy(t, m, "default", inFlow("telemetry", cfg, conntest.RecordType), 1)
		waitState(t, m, "telemetry", engine.StateConnected)

		dev := testClient(t, b.url, "dev-boiler-7", b.user, b.pass)
		publish(t, dev, "devices/boiler-7/telemetry", 1, `{"temperature":81.5}`)
		got := p.Next(t, wait)
		if got.Type != "RAW" || got.DataType != types.JSON || got.Data != `{"temperature":81.5}` {
			t.Errorf("message = %s %s %q", got.Type, got.DataType, got.Data)
		}
		md := got.Metadata.Values()
		for k, want := range map[string]string{"connector": InType, "tenant": "default", "deviceId": "boiler-7", "topic": "devices/boiler-7/telemetry", "qos": "1"} {
			if md[k] != want {
				t.Errorf("metadata %s = %q, want %q", k, md[k], want)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, md["receivedAt"]); err != nil {
			t.Errorf("receivedAt %q: %v", md["receivedAt"], err)
		}
		if !strings.HasPrefix(md["remoteAddr"], "127.0.0.1:") {
			t.Errorf("remoteAddr = %q", md["remoteAddr"])
		}

		// A topic of another shape has no device id; binary payloads are base64.
		publish(t, dev, "plant/hall-2/raw", 0, "\x00\xff\x10")
		got = p.Next(t, wait)
		if got.DataType != types.BINARY || got.Data != base64.StdEncoding.EncodeToString([]byte("\x00\xff\x10")) {
			t.Errorf("binary message = %s %q", got.DataType, got.Data)
		}
		if _, ok := got.Metadata.Values()["deviceId"]; ok {
			t.Errorf("deviceId set for a topic the pattern does not match: %v", got.Metadata.Values())
		}
		publish(t, dev, "plant/hall-2/text", 0, "hello")
		if got = p.Next(t, wait); got.DataType != types.TEXT || got.Data != "hello" {
			t.Errorf("text message = %s %q", got.DataType, got.Data)
		}
		st := waitState(t, m, "telemetry", engine.StateConnected)
		if st.Messages != 3 || st.Bytes != uint64(len(`{"temperature":81.5}`)+3+5) || st.Connections != 1 {
			t.Errorf("status = %+v", st)
		}
	})
}

// A flow that fails a message before it is acknowledged gets it again when
// the node redelivers: the client reconnects without acknowledging and the
// broker sends the message again (persistent session, QoS 1). The failed
// attempt is dead-lettered.
func TestRedeliveryWhenTheFlowFails(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b *testBroker) {
		dl := deadLetters{ch: make(chan engine.DeadLetter, 16)}
		m := conntest.NewManager(t, engine.Options{DeadLetters: dl})
		b.provide(m)
		p := conntest.Record(t, "redeliver")
		failOnce(p)
		cfg := baseIn(b.nodeBroker, "devices/+/telemetry")
		cfg["clientId"] = "sluice-redeliver-" + b.name
		cfg["cleanSession"] = false
		cfg["redeliver"] = true
		cfg["topicPattern"] = "devices/{deviceId}/telemetry"
		conntest.Deploy(t, m, "default", inFlow("redeliver", cfg, conntest.RecordType), 1)
		waitState(t, m, "redeliver", engine.StateConnected)

		dev := testClient(t, b.url, "dev-redeliver", b.user, b.pass)
		publish(t, dev, "devices/boiler-7/telemetry", 1, `{"n":1}`)
		first := p.Next(t, wait)
		second := p.Next(t, wait)
		if first.Data != `{"n":1}` || second.Data != `{"n":1}` {
			t.Fatalf("attempts = %q, %q", first.Data, second.Data)
		}
		if second.Metadata.Values()["duplicate"] != "true" {
			t.Errorf("the redelivered message is not marked duplicate: %v", second.Metadata.Values())
		}
		select {
		case d := <-dl.ch:
			if d.Msg.Data != `{"n":1}` || d.Error == "" {
				t.Errorf("dead letter = %+v", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the failed attempt was not dead-lettered")
		}
		// Acknowledged now: the next message comes alone.
		publish(t, dev, "devices/boiler-7/telemetry", 1, `{"n":2}`)
		if got := p.Next(t, wait); got.Data != `{"n":2}` {
			t.Fatalf("after the redelivery: %q", got.Data)
		}
		if got := p.Next(t, wait); got.Data != `{"n":2}` { // failOnce fails each new payload once
			t.Fatalf("after the redelivery: %q", got.Data)
		}
		st := waitState(t, m, "redeliver", engine.StateConnected)
		if st.Errors < 2 || !strings.Contains(st.LastError, "redelivers") {
			t.Errorf("status = %+v", st)
		}
	})
}

// Without redeliver, a failed message is dead-lettered and acknowledged:
// it does not come back, even after a reconnect of the persistent session.
func TestFailedMessageAcknowledgedWithoutRedeliver(t *testing.T) {
	mq := startMosquitto(t)
	dl := deadLetters{ch: make(chan engine.DeadLetter, 16)}
	m := conntest.NewManager(t, engine.Options{DeadLetters: dl})
	p := conntest.Record(t, "noredeliver")
	failOnce(p)
	cfg := baseIn(mq.url(), "devices/+/telemetry")
	cfg["clientId"] = "sluice-noredeliver"
	cfg["cleanSession"] = false
	conntest.Deploy(t, m, "default", inFlow("noredeliver", cfg, conntest.RecordType), 1)
	waitState(t, m, "noredeliver", engine.StateConnected)
	dev := testClient(t, mq.url(), "dev", "", "")
	publish(t, dev, "devices/a/telemetry", 1, "m1")
	if got := p.Next(t, wait); got.Data != "m1" {
		t.Fatalf("got %q", got.Data)
	}
	<-dl.ch
	// Reconnect the persistent session: an unacknowledged m1 would come back.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Undeploy(ctx, "noredeliver"); err != nil {
		t.Fatal(err)
	}
	conntest.Deploy(t, m, "default", inFlow("noredeliver", cfg, conntest.RecordType), 1)
	waitState(t, m, "noredeliver", engine.StateConnected)
	publish(t, dev, "devices/a/telemetry", 1, "m2")
	if got := p.Next(t, wait); got.Data != "m2" {
		t.Fatalf("after reconnect got %q, want m2 (m1 was acknowledged)", got.Data)
	}
}

// Acknowledgements leave in the order the messages arrived: a message that
// finished first waits for an earlier one still in the flow.
func TestAcksInArrivalOrder(t *testing.T) {
	eb := startEmbedded(t, BrokerConfig{})
	rec := &ackRecorder{}
	if err := eb.srv.AddHook(rec, nil); err != nil {
		t.Fatal(err)
	}
	m := conntest.NewManager(t, engine.Options{})
	eb.Provide(m.Resources())
	p := conntest.Record(t, "order")
	releaseA := gatesOn(p).gate("A")
	defer releaseA()
	cfg := baseIn(Embedded, "devices/+/telemetry")
	conntest.Deploy(t, m, "default", inFlow("order", cfg, conntest.RecordType), 1)
	waitState(t, m, "order", engine.StateConnected)

	// Messages of one topic run in order; of different topics in parallel,
	// unless their topics hash to the same lane. A is held in the flow; of
	// four later messages on other topics, at least one passes it (all four
	// sharing A's lane has a chance of 64^-4).
	dev := testClient(t, eb.Addr(), "dev-order", "boiler-7", "s3cret")
	publish(t, dev, "devices/d0/telemetry", 1, "A")
	for i := 1; i <= 4; i++ {
		publish(t, dev, fmt.Sprintf("devices/d%d/telemetry", i), 1, fmt.Sprintf("B%d", i))
	}
	if got := p.Next(t, wait); got.Data == "A" {
		t.Fatal("A finished while held")
	}
	cl := clientFor(t, m, "default", cfg)
	conntest.Eventually(t, wait, "a later message finished while A is pending in the ack queue", func() bool {
		cl.mu.Lock()
		cn := cl.cur
		cl.mu.Unlock()
		if cn == nil {
			return false
		}
		q := cn.acks
		q.mu.Lock()
		defer q.mu.Unlock()
		es := q.entries[q.head:]
		if len(es) != 5 || es[0].pending.Load() != 1 {
			return false
		}
		for _, e := range es[1:] {
			if e.pending.Load() == 0 {
				return true
			}
		}
		return false
	})
	if acks := rec.acks(); len(acks) != 0 {
		t.Fatalf("acknowledged %v while the first message is still in the flow", acks)
	}
	releaseA()
	conntest.Eventually(t, wait, "five acknowledgements", func() bool { return len(rec.acks()) == 5 })
	sent, acks := rec.sent(), rec.acks()
	if !slices.Equal(sent, acks) {
		t.Fatalf("PUBLISH ids %v, PUBACK ids %v: want the same order", sent, acks)
	}
}

// clientFor is the shared client that an mqttIn node with cfg of tenant
// uses (found through the manager's resources).
func clientFor(t *testing.T, m *engine.Manager, tenant string, cfg map[string]any) *client {
	t.Helper()
	var c inConfig
	if err := inSpec.Decode(cfg, &c); err != nil {
		t.Fatal(err)
	}
	d, err := c.connConfig.resolve(tenant, m.Resources())
	if err != nil {
		t.Fatal(err)
	}
	v, release, err := m.Resources().Acquire(d.key, func() (any, func() error, error) {
		return nil, nil, errors.New("no such client")
	})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	return v.(*client)
}

func TestUnreachableBrokerIsRetrying(t *testing.T) {
	m := conntest.NewManager(t, engine.Options{})
	port := conntest.FreePort(t)
	cfg := baseIn(fmt.Sprintf("tcp://127.0.0.1:%d", port), "a/#")
	cfg["retryMin"], cfg["retryMax"] = "20ms", "100ms"
	conntest.Deploy(t, m, "default", inFlow("unreachable", cfg, conntest.RecordType), 1)
	var st engine.SourceStatus
	conntest.Eventually(t, wait, "several failed attempts", func() bool {
		st = conntest.Status(t, m, "unreachable")
		return st.Errors >= 3
	})
	if st.State != engine.StateRetrying || !strings.Contains(st.LastError, "connection refused") || !strings.Contains(st.LastError, "retrying in") {
		t.Fatalf("status = %+v", st)
	}
}

func TestEmbeddedBrokerNotRunning(t *testing.T) {
	m := conntest.NewManager(t, engine.Options{})
	conntest.Deploy(t, m, "default", inFlow("noembedded", baseIn(Embedded, "a/#"), conntest.RecordType), 1)
	st := conntest.Status(t, m, "noembedded")
	if st.State != engine.StateError || !strings.Contains(st.LastError, "SLUICE_MQTT_ADDR") {
		t.Fatalf("status = %+v", st)
	}
}

// The broker goes away and comes back on the same port: the client
// reconnects and subscribes again (Mosquitto without persistence forgets
// the session).
func TestBrokerRestart(t *testing.T) {
	mq := startMosquitto(t)
	m := conntest.NewManager(t, engine.Options{})
	p := conntest.Record(t, "restart")
	conntest.Deploy(t, m, "default", inFlow("restart", baseIn(mq.url(), "devices/+/telemetry"), conntest.RecordType), 1)
	waitState(t, m, "restart", engine.StateConnected)
	dev := testClient(t, mq.url(), "dev-before", "", "")
	publish(t, dev, "devices/a/telemetry", 1, "before")
	if got := p.Next(t, wait); got.Data != "before" {
		t.Fatalf("got %q", got.Data)
	}
	mq.stop()
	st := waitState(t, m, "restart", engine.StateRetrying)
	if st.LastError == "" {
		t.Errorf("retrying without a reason: %+v", st)
	}
	mq.start()
	waitState(t, m, "restart", engine.StateConnected)
	dev = testClient(t, mq.url(), "dev-after", "", "")
	publish(t, dev, "devices/a/telemetry", 1, "after")
	if got := p.Next(t, wait); got.Data != "after" {
		t.Fatalf("got %q", got.Data)
	}
}

// Two flows with the same broker settings share one connection; a node
// with its own client id has its own.
func TestSharedClient(t *testing.T) {
	eb := startEmbedded(t, BrokerConfig{})
	m := conntest.NewManager(t, engine.Options{})
	eb.Provide(m.Resources())
	pa, pb := conntest.Record(t, "flow-a"), conntest.Record(t, "flow-b")
	conntest.Deploy(t, m, "default", inFlow("flow-a", baseIn(Embedded, "a/+"), conntest.RecordType), 1)
	conntest.Deploy(t, m, "default", inFlow("flow-b", baseIn(Embedded, "b/+"), conntest.RecordType), 1)
	waitState(t, m, "flow-a", engine.StateConnected)
	waitState(t, m, "flow-b", engine.StateConnected)
	if n := eb.Status().Clients; n != 1 {
		t.Fatalf("broker clients = %d, want 1 shared connection", n)
	}
	dev := testClient(t, eb.Addr(), "dev-shared", "pump-1", "tok-pump-1")
	publish(t, dev, "a/1", 1, "for a")
	publish(t, dev, "b/1", 1, "for b")
	if got := pa.Next(t, wait); got.Data != "for a" {
		t.Errorf("flow a got %q", got.Data)
	}
	if got := pb.Next(t, wait); got.Data != "for b" {
		t.Errorf("flow b got %q", got.Data)
	}

	own := baseIn(Embedded, "c/+")
	own["clientId"] = "sluice-own"
	conntest.Record(t, "flow-c")
	conntest.Deploy(t, m, "default", inFlow("flow-c", own, conntest.RecordType), 1)
	waitState(t, m, "flow-c", engine.StateConnected)
	if n := eb.Status().Clients; n != 3 { // shared, own, the device
		t.Fatalf("broker clients = %d, want 3", n)
	}

	// Undeploying one sharer keeps the connection for the other.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Undeploy(ctx, "flow-a"); err != nil {
		t.Fatal(err)
	}
	publish(t, dev, "b/2", 1, "still b")
	if got := pb.Next(t, wait); got.Data != "still b" {
		t.Errorf("flow b got %q", got.Data)
	}
	if n := eb.Status().Clients; n != 3 {
		t.Errorf("broker clients after undeploying one sharer = %d, want 3", n)
	}
}

// A redeploy that leaves the node's config unchanged keeps the connection
// and loses no message.
func TestRedeployKeepsConnection(t *testing.T) {
	eb := startEmbedded(t, BrokerConfig{})
	m := conntest.NewManager(t, engine.Options{})
	eb.Provide(m.Resources())
	p := conntest.Record(t, "keep")
	cfg := baseIn(Embedded, "k/+")
	conntest.Deploy(t, m, "default", inFlow("keep", cfg, conntest.RecordType), 1)
	waitState(t, m, "keep", engine.StateConnected)
	cl := clientFor(t, m, "default", cfg)
	f := inFlow("keep", baseIn(Embedded, "k/+"), conntest.RecordType)
	f.Metadata.Nodes[1].Name = "renamed"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.Deploy(ctx, "default", f, 2); err != nil {
		t.Fatal(err)
	}
	if got := clientFor(t, m, "default", cfg); got != cl || cl.connects.Load() != 1 {
		t.Fatalf("the redeploy replaced the connection (connects %d)", cl.connects.Load())
	}
	dev := testClient(t, eb.Addr(), "dev-keep", "boiler-7", "s3cret")
	publish(t, dev, "k/1", 1, "x")
	if got := p.Next(t, wait); got.Data != "x" {
		t.Fatalf("got %q", got.Data)
	}
}

func TestMaxMessageBytes(t *testing.T) {
	mq := startMosquitto(t)
	m := conntest.NewManager(t, engine.Options{})
	p := conntest.Record(t, "limit")
	cfg := baseIn(mq.url(), "t/#")
	cfg["maxMessageBytes"] = 16
	conntest.Deploy(t, m, "default", inFlow("limit", cfg, conntest.RecordType), 1)
	waitState(t, m, "limit", engine.StateConnected)
	dev := testClient(t, mq.url(), "dev-limit", "", "")
	publish(t, dev, "t/big", 1, strings.Repeat("x", 17))
	publish(t, dev, "t/small", 1, "ok")
	if got := p.Next(t, wait); got.Data != "ok" {
		t.Fatalf("got %q, want the small message only", got.Data)
	}
	st := conntest.Status(t, m, "limit")
	if st.Errors != 1 || !strings.Contains(st.LastError, "maxMessageBytes") {
		t.Fatalf("status = %+v", st)
	}
}

// Mosquitto with a password file: wrong credentials retry, right ones
// connect.
func TestBrokerCredentials(t *testing.T) {
	conntest.Need(t, mosquittoBin, "apt-get install mosquitto mosquitto-clients")
	dir := t.TempDir()
	pw := dir + "/passwd"
	if out, err := runCmd("/usr/bin/mosquitto_passwd", "-b", "-c", pw, "sluice", "right"); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	mq := startMosquitto(t, "allow_anonymous false", "password_file "+pw)
	m := conntest.NewManager(t, engine.Options{})
	bad := baseIn(mq.url(), "x/#")
	bad["username"], bad["password"] = "sluice", "wrong"
	conntest.Deploy(t, m, "default", inFlow("bad-creds", bad, conntest.RecordType), 1)
	var st engine.SourceStatus
	conntest.Eventually(t, wait, "a refused connect", func() bool {
		st = conntest.Status(t, m, "bad-creds")
		return st.Errors > 0
	})
	if st.State != engine.StateRetrying || !strings.Contains(strings.ToLower(st.LastError), "not authorized") {
		t.Fatalf("status = %+v", st)
	}
	good := baseIn(mq.url(), "y/#")
	good["username"], good["password"] = "sluice", "right"
	p := conntest.Record(t, "good-creds")
	conntest.Deploy(t, m, "default", inFlow("good-creds", good, conntest.RecordType), 1)
	waitState(t, m, "good-creds", engine.StateConnected)
	dev := testClient(t, mq.url(), "dev-creds", "sluice", "right")
	publish(t, dev, "y/1", 0, "in")
	if got := p.Next(t, wait); got.Data != "in" {
		t.Fatalf("got %q", got.Data)
	}
}

func TestValidation(t *testing.T) {
	m := conntest.NewManager(t, engine.Options{})
	cases := []struct {
		name string
		cfg  map[string]any
		want string
	}{
		{"redeliver needs a persistent session", map[string]any{"broker": "tcp://h:1883", "topics": []any{"a"}, "redeliver": true},
			`field "redeliver": needs cleanSession off`},
		{"persistent session needs a client id", map[string]any{"broker": "tcp://h:1883", "topics": []any{"a"}, "cleanSession": false},
			`field "clientId": required when cleanSession is off`},
		{"bad broker", map[string]any{"broker": "http://h", "topics": []any{"a"}}, `field "broker": "http://h": want a URL`},
		{"bad filter", map[string]any{"broker": "tcp://h:1883", "topics": []any{"a/#/b"}}, `field "topics[0]": "a/#/b": # must be the last level`},
		{"bad pattern", map[string]any{"broker": "tcp://h:1883", "topics": []any{"a"}, "topicPattern": "a/{x"}, `field "topicPattern"`},
		{"no topics", map[string]any{"broker": "tcp://h:1883", "topics": []any{}}, `field "topics": must have at least 1 item`},
		{"cert without key", map[string]any{"broker": "ssl://h:8883", "topics": []any{"a"}, "tls": map[string]any{"cert": "c.pem"}}, `field "tls": cert and key go together`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ps := m.Validate(inFlow("v", c.cfg, conntest.RecordType))
			if !strings.Contains(ps.Error(), c.want) {
				t.Fatalf("problems:\n%v\nwant one containing %s", ps, c.want)
			}
		})
	}
	// Two flows cannot claim one client id.
	mq := "tcp://127.0.0.1:1" // never connects; the claim is what counts
	a := baseIn(mq, "a")
	a["clientId"] = "plant-1"
	conntest.Deploy(t, m, "default", inFlow("claim-a", a, conntest.RecordType), 1)
	b := baseIn(mq, "b")
	b["clientId"] = "plant-1"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := m.Deploy(ctx, "default", inFlow("claim-b", b, conntest.RecordType), 1)
	var ps spec.Problems
	if !errors.As(err, &ps) || !strings.Contains(err.Error(), `mqttClientId "plant-1" is also claimed by flow "claim-a"`) {
		t.Fatalf("deploy of a second claimant: %v", err)
	}
}

// Two Sluice instances in one shared subscription group split the
// messages: each gets some, none is lost or doubled.
func TestSharedSubscription(t *testing.T) {
	mq := startMosquitto(t)
	var ps []*conntest.Recorder
	for _, inst := range []string{"a", "b"} {
		m := conntest.NewManager(t, engine.Options{})
		ps = append(ps, conntest.Record(t, "share-"+inst))
		cfg := baseIn(mq.url(), "jobs/+")
		cfg["sharedGroup"] = "sluice"
		cfg["clientId"] = "sluice-instance-" + inst
		conntest.Deploy(t, m, "default", inFlow("share-"+inst, cfg, conntest.CountType), 1)
		waitState(t, m, "share-"+inst, engine.StateConnected)
	}
	dev := testClient(t, mq.url(), "dev-share", "", "")
	const n = 20
	for i := range n {
		publish(t, dev, fmt.Sprintf("jobs/%d", i), 1, "job")
	}
	conntest.Eventually(t, wait, "every message counted once", func() bool { return ps[0].Count()+ps[1].Count() >= n })
	a, b := ps[0].Count(), ps[1].Count()
	if a+b != n || a == 0 || b == 0 {
		t.Fatalf("instance a got %d, b got %d of %d", a, b, n)
	}
}

// With a persistent session, messages published while the flow is not
// deployed (Sluice stopped) wait on the broker and arrive afterwards.
func TestPersistentSessionKeepsMessagesWhileAway(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b *testBroker) {
		m := conntest.NewManager(t, engine.Options{})
		b.provide(m)
		p := conntest.Record(t, "away")
		cfg := baseIn(b.nodeBroker, "devices/+/telemetry")
		cfg["clientId"] = "sluice-away"
		cfg["cleanSession"] = false
		conntest.Deploy(t, m, "default", inFlow("away", cfg, conntest.RecordType), 1)
		waitState(t, m, "away", engine.StateConnected)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := m.Undeploy(ctx, "away"); err != nil {
			t.Fatal(err)
		}
		dev := testClient(t, b.url, "dev-away", b.user, b.pass)
		publish(t, dev, "devices/x/telemetry", 1, "while away")
		conntest.Deploy(t, m, "default", inFlow("away", cfg, conntest.RecordType), 1)
		if got := p.Next(t, wait); got.Data != "while away" {
			t.Fatalf("got %q", got.Data)
		}
	})
}
