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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rulego/rulego/api/types"
	"go.uber.org/goleak"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// Every client, broker and manager a test starts is stopped: no goroutine
// may outlive the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const mosquittoBin = "/usr/sbin/mosquitto"

// needMosquitto skips without Mosquitto, except in CI where it must be
// installed (deploy/dev-services.sh).
func needMosquitto(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(mosquittoBin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is missing (apt-get install mosquitto mosquitto-clients; see deploy/dev-services.sh): %v", mosquittoBin, err)
		}
		t.Skipf("%s is missing: %v", mosquittoBin, err)
	}
}

// mosquitto is a Mosquitto broker the test started on a free port.
type mosquitto struct {
	t      testing.TB
	port   int
	conf   string
	cmd    *exec.Cmd
	exited chan struct{}
	stderr *strings.Builder
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	return port
}

// startMosquitto writes a config (extra lines appended) and starts the
// broker; it is stopped at the end of the test.
func startMosquitto(t testing.TB, extra ...string) *mosquitto {
	t.Helper()
	needMosquitto(t)
	dir := t.TempDir()
	m := &mosquitto{t: t, port: freePort(t), conf: filepath.Join(dir, "mosquitto.conf")}
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

// devices is a test double of the device registry: credentials to devices.
type devices struct {
	byPassword map[string]engine.Device // "user\x00password"
	byToken    map[string]engine.Device
}

func (d devices) ByToken(_ context.Context, token string) (engine.Device, error) {
	if dev, ok := d.byToken[token]; ok {
		return dev, nil
	}
	return engine.Device{}, engine.ErrUnauthorized
}

func (d devices) ByPassword(_ context.Context, user, password string) (engine.Device, error) {
	if dev, ok := d.byPassword[user+"\x00"+password]; ok {
		return dev, nil
	}
	return engine.Device{}, engine.ErrUnauthorized
}

// testDevices: boiler-7 (default tenant) with a password, pump-1 (default)
// with a token, intruder-1 of tenant "acme" with a password.
var testDevices = devices{
	byPassword: map[string]engine.Device{
		"boiler-7\x00s3cret":   {ID: "boiler-7", Tenant: "default", Name: "Boiler 7"},
		"intruder-1\x00acme!!": {ID: "intruder-1", Tenant: "acme", Name: "Acme device"},
	},
	byToken: map[string]engine.Device{"tok-pump-1": {ID: "pump-1", Tenant: "default", Name: "Pump 1"}},
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

// The probe node ends the test flows: it records what reaches it, and can
// fail a message the first time it sees it, or hold it until released.

const probeType = "mqtttest/probe"

type probe struct {
	ch    chan types.RuleMsg
	count atomic.Int64
	tick  chan struct{} // count mode: poked after each message
	mu    sync.Mutex
	seen  map[string]int
	gates map[string]chan struct{}
}

var probes = struct {
	sync.Mutex
	m map[string]*probe
}{m: map[string]*probe{}}

// probeFor returns the probe of a flow, created empty.
func probeFor(t testing.TB, flowID string) *probe {
	t.Helper()
	p := &probe{ch: make(chan types.RuleMsg, 1024), tick: make(chan struct{}, 1), seen: map[string]int{}, gates: map[string]chan struct{}{}}
	probes.Lock()
	probes.m[flowID] = p
	probes.Unlock()
	t.Cleanup(func() {
		probes.Lock()
		delete(probes.m, flowID)
		probes.Unlock()
	})
	return p
}

// gate makes messages with data d wait until the returned func is called.
func (p *probe) gate(d string) func() {
	ch := make(chan struct{})
	p.mu.Lock()
	p.gates[d] = ch
	p.mu.Unlock()
	return sync.OnceFunc(func() { close(ch) })
}

// waitCount waits until the count reaches n.
func (p *probe) waitCount(t testing.TB, n int64) {
	t.Helper()
	for p.count.Load() < n {
		select {
		case <-p.tick:
		case <-time.After(30 * time.Second):
			t.Fatalf("counted %d messages, want %d", p.count.Load(), n)
		}
	}
}

// next returns the next recorded message.
func (p *probe) next(t testing.TB) types.RuleMsg {
	t.Helper()
	select {
	case m := <-p.ch:
		return m
	case <-time.After(15 * time.Second):
		t.Fatal("no message reached the flow's end")
		return types.RuleMsg{}
	}
}

type probeNode struct{ mode string }

func (n *probeNode) Type() string    { return probeType }
func (n *probeNode) New() types.Node { return &probeNode{} }
func (n *probeNode) Init(_ types.Config, raw types.Configuration) error {
	n.mode, _ = raw["mode"].(string)
	return nil
}
func (n *probeNode) Destroy() {}
func (n *probeNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	env := engine.EnvOf(ctx)
	probes.Lock()
	p := probes.m[env.FlowID]
	probes.Unlock()
	if p == nil {
		ctx.TellSuccess(msg)
		return
	}
	switch n.mode {
	case "count":
		p.count.Add(1)
		select {
		case p.tick <- struct{}{}:
		default:
		}
		ctx.TellSuccess(msg)
		return
	case "failOnce":
		p.mu.Lock()
		p.seen[msg.Data]++
		first := p.seen[msg.Data] == 1
		p.mu.Unlock()
		p.ch <- msg
		if first {
			ctx.TellFailure(msg, errors.New("first attempt fails"))
			return
		}
		ctx.TellSuccess(msg)
		return
	case "gate":
		p.mu.Lock()
		g := p.gates[msg.Data]
		p.mu.Unlock()
		if g != nil {
			<-g
		}
	}
	p.ch <- msg
	ctx.TellSuccess(msg)
}

func init() {
	spec.Register(&spec.Node{Type: probeType, Category: "action", Summary: "test probe",
		Fields:    []*spec.Field{{Name: "mode", Type: spec.String, Default: "record", Help: "record, count, failOnce or gate"}},
		Relations: spec.Relations{Fixed: []string{types.Success}}}, &probeNode{})
}

// deadLetters records dead letters.
type deadLetters struct{ ch chan engine.DeadLetter }

func (d deadLetters) DeadLetter(_ context.Context, dl engine.DeadLetter) { d.ch <- dl }

// newManager returns a running manager, shut down at the end of the test.
func newManager(t testing.TB, o engine.Options) *engine.Manager {
	t.Helper()
	if o.Metrics == nil {
		o.Metrics = prometheus.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = discardLogger()
	}
	m := engine.NewManager(o)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := m.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return m
}

// inFlow is a flow: an mqttIn node "in" (cfg) into a probe (mode).
func inFlow(id string, cfg map[string]any, mode string) *engine.Flow {
	return &engine.Flow{
		RuleChain: engine.FlowInfo{ID: id, Name: id},
		Metadata: engine.FlowMetadata{
			Nodes: []engine.Node{
				{ID: "in", Type: InType, Configuration: cfg},
				{ID: "probe", Type: probeType, Configuration: map[string]any{"mode": mode}},
			},
			Connections: []engine.Connection{{FromID: "in", ToID: "probe", Type: types.Success}},
		},
	}
}

func deploy(t testing.TB, m *engine.Manager, tenant string, f *engine.Flow) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := m.Deploy(ctx, tenant, f, 1); err != nil {
		t.Fatalf("deploy %s: %v", f.RuleChain.ID, err)
	}
}

// waitFor polls cond until it holds (15 s at most).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling
	}
}

// sourceStatus is the status of node "in" of a flow.
func sourceStatus(t testing.TB, m *engine.Manager, flowID string) engine.SourceStatus {
	t.Helper()
	st, err := m.Status(flowID)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sources["in"]
}

func waitState(t testing.TB, m *engine.Manager, flowID string, want engine.SourceState) engine.SourceStatus {
	t.Helper()
	var st engine.SourceStatus
	waitFor(t, fmt.Sprintf("flow %s source %s", flowID, want), func() bool {
		st = sourceStatus(t, m, flowID)
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
