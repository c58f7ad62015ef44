package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/engine"
)

// Every client, broker and manager a test starts is stopped: no goroutine
// may outlive the tests.
func TestMain(m *testing.M) { conntest.Main(m) }

// wait is how long a test waits for what must happen.
const wait = 15 * time.Second

const mosquittoBin = "/usr/sbin/mosquitto"

// mosquitto is a Mosquitto broker the test started on a free port.
type mosquitto struct {
	t      testing.TB
	port   int
	conf   string
	cmd    *exec.Cmd
	exited chan struct{}
	stderr *strings.Builder
}

// startMosquitto writes a config (extra lines appended) and starts the
// broker; it is stopped at the end of the test.
func startMosquitto(t testing.TB, extra ...string) *mosquitto {
	t.Helper()
	conntest.Need(t, mosquittoBin, "apt-get install mosquitto mosquitto-clients")
	dir := t.TempDir()
	m := &mosquitto{t: t, port: conntest.FreePort(t), conf: filepath.Join(dir, "mosquitto.conf")}
	lines := []string{
		fmt.Sprintf("listener %d 127.0.0.1", m.port),
		"persistence false",
		"max_queued_messages 0",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
	}
	if !slicesContainsPrefix(extra, "allow_anonymous") {
		lines = append(lines, "allow_anonymous true")
	}
	if os.Geteuid() == 0 {
		lines = append(lines, "user root")
	}
	lines = append(lines, extra...)
	if err := os.WriteFile(m.conf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m.start()
	t.Cleanup(m.stop)
	return m
}

func slicesContainsPrefix(ss []string, p string) bool {
	for _, s := range ss {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func (m *mosquitto) url() string { return fmt.Sprintf("tcp://127.0.0.1:%d", m.port) }

// start runs the broker and waits until it accepts connections.
func (m *mosquitto) start() {
	m.t.Helper()
	m.cmd = exec.Command(mosquittoBin, "-c", m.conf)
	m.stderr = &strings.Builder{}
	m.cmd.Stderr = &lockedWriter{w: m.stderr}
	if err := m.cmd.Start(); err != nil {
		m.t.Fatalf("start mosquitto: %v", err)
	}
	m.exited = make(chan struct{})
	cmd, exited := m.cmd, m.exited
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", m.port), time.Second)
		if err == nil {
			_ = c.Close()
			return
		}
		select {
		case <-exited:
			m.t.Fatalf("mosquitto exited: %s", m.stderr)
		default:
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("mosquitto does not accept connections on %d: %v", m.port, err)
		}
		time.Sleep(20 * time.Millisecond) // polling for readiness
	}
}

// stop ends the broker (SIGTERM) and waits for it.
func (m *mosquitto) stop() {
	if m.cmd == nil {
		return
	}
	_ = m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	m.cmd = nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// testDevices: boiler-7 (default tenant) with a password, pump-1 (default)
// with a token, intruder-1 of tenant "acme" with a password.
var testDevices = conntest.Devices{
	Passwords: map[string]engine.Device{
		"boiler-7\x00s3cret":   {ID: "boiler-7", Tenant: "default", Name: "Boiler 7"},
		"intruder-1\x00acme!!": {ID: "intruder-1", Tenant: "acme", Name: "Acme device"},
	},
	Tokens: map[string]engine.Device{"tok-pump-1": {ID: "pump-1", Tenant: "default", Name: "Pump 1"}},
}

// startEmbedded starts the embedded broker on a free port; it is closed at
// the end of the test.
func startEmbedded(t testing.TB, cfg BrokerConfig) *Broker {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	b, err := StartBroker(context.Background(), cfg, testDevices, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return b
}

// failOnce makes the record nodes of rec's flows fail each new payload the
// first time it arrives (recorded all the same).
func failOnce(rec *conntest.Recorder) {
	var mu sync.Mutex
	seen := map[string]int{}
	rec.Before(func(msg types.RuleMsg) error {
		mu.Lock()
		defer mu.Unlock()
		seen[msg.Data]++
		if seen[msg.Data] == 1 {
			return errors.New("first attempt fails")
		}
		return nil
	})
}

// gates holds the messages of rec's flows whose data has a gate until it
// opens.
type gates struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

func gatesOn(rec *conntest.Recorder) *gates {
	g := &gates{m: map[string]chan struct{}{}}
	rec.Before(func(msg types.RuleMsg) error {
		g.mu.Lock()
		ch := g.m[msg.Data]
		g.mu.Unlock()
		if ch != nil {
			<-ch
		}
		return nil
	})
	return g
}

// gate makes messages with data d wait until the returned func is called.
func (g *gates) gate(d string) func() {
	ch := make(chan struct{})
	g.mu.Lock()
	g.m[d] = ch
	g.mu.Unlock()
	return sync.OnceFunc(func() { close(ch) })
}

// deadLetters records dead letters.
type deadLetters struct{ ch chan engine.DeadLetter }

func (d deadLetters) DeadLetter(_ context.Context, dl engine.DeadLetter) { d.ch <- dl }

// inFlow is a flow: an mqttIn node "in" (cfg) into a node of type then.
func inFlow(id string, cfg map[string]any, then string) *engine.Flow {
	return conntest.Flow(id, InType, cfg, then)
}

func waitState(t testing.TB, m *engine.Manager, flowID string, want engine.SourceState) engine.SourceStatus {
	t.Helper()
	var st engine.SourceStatus
	conntest.Eventually(t, wait, fmt.Sprintf("flow %s source %s", flowID, want), func() bool {
		st = conntest.Status(t, m, flowID)
		return st.State == want
	})
	return st
}

// testClient is a plain paho client of the test (a device, or a subscriber).
func testClient(t testing.TB, url, id, user, password string) paho.Client {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(user).SetPassword(password).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("test client %s: connect to %s: %v", id, url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

func publish(t testing.TB, c paho.Client, topic string, qos byte, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish to %s: %v", topic, tok.Error())
	}
}

// baseIn is an mqttIn config with quick retries.
func baseIn(broker string, topics ...string) map[string]any {
	ts := make([]any, len(topics))
	for i, s := range topics {
		ts[i] = s
	}
	return map[string]any{"broker": broker, "topics": ts, "retryMin": "50ms", "retryMax": "500ms", "keepAlive": "5s"}
}

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// ackRecorder is a hook on the embedded broker that records the packet ids
// of the PUBLISH packets it sends to Sluice's clients and of the PUBACKs it
// receives from them, in order.
type ackRecorder struct {
	mochi.HookBase
	mu          sync.Mutex
	pubs, packs []uint16
}

func (r *ackRecorder) ID() string { return "ack-recorder" }
func (r *ackRecorder) Provides(b byte) bool {
	return b == mochi.OnPacketSent || b == mochi.OnPacketRead
}

func sluiceClient(cl *mochi.Client) bool { return strings.Contains(cl.ID, "/sluice-") }

func (r *ackRecorder) OnPacketSent(cl *mochi.Client, pk packets.Packet, _ []byte) {
	if pk.FixedHeader.Type == packets.Publish && pk.FixedHeader.Qos > 0 && sluiceClient(cl) {
		r.mu.Lock()
		r.pubs = append(r.pubs, pk.PacketID)
		r.mu.Unlock()
	}
}

func (r *ackRecorder) OnPacketRead(cl *mochi.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Puback && sluiceClient(cl) {
		r.mu.Lock()
		r.packs = append(r.packs, pk.PacketID)
		r.mu.Unlock()
	}
	return pk, nil
}

func (r *ackRecorder) sent() []uint16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint16(nil), r.pubs...)
}

func (r *ackRecorder) acks() []uint16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint16(nil), r.packs...)
}

func testSourceContext() engine.SourceContext {
	return engine.SourceContext{FlowID: "f", NodeID: "in", Tenant: "default", Resources: engine.NewResources()}
}
