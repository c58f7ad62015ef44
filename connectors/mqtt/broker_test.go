package mqtt

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/engine"
)

// connectErr is the error of a device's CONNECT (nil when accepted).
func connectErr(t *testing.T, url, id, user, password string) error {
	t.Helper()
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetUsername(user).SetPassword(password).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatal("connect: no answer")
	}
	if tok.Error() == nil {
		c.Disconnect(100)
	}
	return tok.Error()
}

func TestEmbeddedBrokerAuthenticatesDevices(t *testing.T) {
	b := startEmbedded(t, BrokerConfig{})
	for _, c := range []struct {
		name, user, pass string
		ok               bool
	}{
		{"registered device", "boiler-7", "s3cret", true},
		{"device token as password, any user name", "whatever", "tok-pump-1", true},
		{"unknown device", "ghost", "boo", false},
		{"wrong password", "boiler-7", "guess", false},
		{"no credentials", "", "", false},
		{"forged internal user", internalUser + "default", "not-the-secret", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := connectErr(t, b.Addr(), "c-"+strings.ReplaceAll(c.name, " ", "-"), c.user, c.pass)
			if c.ok && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !c.ok && (err == nil || !strings.Contains(strings.ToLower(err.Error()), "not authorized")) {
				t.Fatalf("connect error = %v, want a refusal", err)
			}
		})
	}
	st := b.Status()
	if st.Refused != 4 || !strings.Contains(st.LastError, "refused client") || st.State != "listening" {
		t.Fatalf("status = %+v", st)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(b.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var refused float64 = -1
	for _, mf := range mfs {
		if mf.GetName() == "sluice_mqtt_broker_refused_total" {
			refused = mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	if refused != 4 {
		t.Fatalf("sluice_mqtt_broker_refused_total = %v, want 4", refused)
	}
}

func TestEmbeddedBrokerWithoutRegistryRefusesDevices(t *testing.T) {
	b, err := StartBroker(context.Background(), BrokerConfig{Addr: "127.0.0.1:0"}, nil, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close(context.Background()) }()
	if err := connectErr(t, b.Addr(), "d", "boiler-7", "s3cret"); err == nil {
		t.Fatal("a device connected without a registry")
	}
	u, p := b.Credentials("default")
	if err := connectErr(t, b.Addr(), "sluice-x", u, p); err != nil {
		t.Fatalf("Sluice's own client refused: %v", err)
	}
}

func TestEmbeddedBrokerPortTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = StartBroker(context.Background(), BrokerConfig{Addr: ln.Addr().String()}, testDevices, discardLogger())
	if err == nil || !strings.Contains(err.Error(), "address already in use") ||
		!strings.Contains(err.Error(), "SLUICE_MQTT_ADDR") || !strings.Contains(err.Error(), "--mqtt") {
		t.Fatalf("error = %v", err)
	}
}

// closedByPeer reads from c until the broker closes it.
func closedByPeer(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the broker kept the connection open")
	}
}

func TestEmbeddedBrokerLimits(t *testing.T) {
	t.Run("slow CONNECT", func(t *testing.T) {
		b := startEmbedded(t, BrokerConfig{ConnectTimeout: 200 * time.Millisecond})
		c, err := net.Dial("tcp", strings.TrimPrefix(b.Addr(), "tcp://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte{0x10}); err != nil { // the first byte of a CONNECT, and no more
			t.Fatal(err)
		}
		closedByPeer(t, c)
	})
	t.Run("max connections", func(t *testing.T) {
		b := startEmbedded(t, BrokerConfig{MaxConnections: 2, ConnectTimeout: time.Minute})
		addr := strings.TrimPrefix(b.Addr(), "tcp://")
		var open []net.Conn
		for range 2 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			open = append(open, c)
		}
		conntest.Eventually(t, wait, "two open connections", func() bool { return b.Status().Connections == 2 })
		extra, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer extra.Close()
		closedByPeer(t, extra)
		if st := b.Status(); st.Overflow != 1 || st.Connections != 2 {
			t.Fatalf("status = %+v", st)
		}
		_ = open[0].Close()
		conntest.Eventually(t, wait, "a free slot", func() bool { return b.Status().Connections == 1 })
		if err := connectErr(t, b.Addr(), "after", "boiler-7", "s3cret"); err != nil {
			t.Fatalf("a connection within the limit was refused: %v", err)
		}
	})
	t.Run("oversize message", func(t *testing.T) {
		b := startEmbedded(t, BrokerConfig{MaxMessageBytes: 128})
		lost := make(chan error, 1)
		o := paho.NewClientOptions().AddBroker(b.Addr()).SetClientID("big").SetUsername("boiler-7").SetPassword("s3cret").
			SetAutoReconnect(false).SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
		c := paho.NewClient(o)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("connect: %v", tok.Error())
		}
		defer c.Disconnect(0)
		c.Publish("devices/boiler-7/telemetry", 1, false, strings.Repeat("x", 512))
		select {
		case <-lost:
		case <-time.After(10 * time.Second):
			t.Fatal("an oversize message did not end the connection")
		}
	})
	t.Run("idle without keep-alive", func(t *testing.T) {
		b := startEmbedded(t, BrokerConfig{IdleTimeout: 200 * time.Millisecond})
		lost := make(chan error, 1)
		o := paho.NewClientOptions().AddBroker(b.Addr()).SetClientID("idle").SetUsername("boiler-7").SetPassword("s3cret").
			SetKeepAlive(0).SetAutoReconnect(false).SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err })
		c := paho.NewClient(o)
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("connect: %v", tok.Error())
		}
		defer c.Disconnect(0)
		select {
		case <-lost:
		case <-time.After(10 * time.Second):
			t.Fatal("an idle connection without keep-alive stayed open")
		}
	})
}

// The docs' copy-paste examples: mosquitto_pub and mosquitto_sub as devices
// of the embedded broker, a token as the password.
func TestMosquittoClientsAgainstEmbeddedBroker(t *testing.T) {
	for _, bin := range []string{"/usr/bin/mosquitto_pub", "/usr/bin/mosquitto_sub"} {
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing (apt-get install mosquitto-clients): %v", bin, err)
			}
			t.Skipf("%s is missing", bin)
		}
	}
	b := startEmbedded(t, BrokerConfig{})
	m := conntest.NewManager(t, engine.Options{})
	b.Provide(m.Resources())
	p := conntest.Record(t, "cli")
	cfg := baseIn(Embedded, "devices/+/telemetry")
	cfg["topicPattern"] = "devices/{deviceId}/telemetry"
	conntest.Deploy(t, m, "default", inFlow("cli", cfg, conntest.RecordType), 1)
	conntest.Deploy(t, m, "default", outFlow("cli-cmd", map[string]any{"broker": Embedded, "topic": "devices/${metadata.deviceId}/commands"}), 1)
	waitState(t, m, "cli", engine.StateConnected)
	port := b.ln.ln.Addr().(*net.TCPAddr).Port
	args := func(extra ...string) []string {
		return append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(port)}, extra...)
	}

	out, err := runCmd("/usr/bin/mosquitto_pub", args("-i", "pump-1", "-u", "pump-1", "-P", "tok-pump-1", "-q", "1",
		"-t", "devices/pump-1/telemetry", "-m", `{"temperature": 81.5}`)...)
	if err != nil {
		t.Fatalf("mosquitto_pub: %v: %s", err, out)
	}
	if got := p.Next(t, wait); got.Data != `{"temperature": 81.5}` || got.Metadata.Values()["deviceId"] != "pump-1" {
		t.Fatalf("got %q %v", got.Data, got.Metadata.Values())
	}
	out, err = runCmd("/usr/bin/mosquitto_pub", args("-u", "pump-1", "-P", "wrong", "-t", "devices/pump-1/telemetry", "-m", "{}")...)
	if err == nil || !strings.Contains(out, "not authorised") {
		t.Fatalf("mosquitto_pub with a wrong password: %v: %s", err, out)
	}

	subs := atomic.LoadInt64(&b.srv.Info.Subscriptions)
	sub := exec.Command("/usr/bin/mosquitto_sub", args("-i", "pump-1-cmd", "-u", "pump-1", "-P", "tok-pump-1", "-q", "1",
		"-t", "devices/pump-1/commands", "-v", "-C", "1", "-W", "20")...)
	var stdout strings.Builder
	sub.Stdout = &stdout
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	conntest.Eventually(t, wait, "mosquitto_sub subscribed", func() bool { return atomic.LoadInt64(&b.srv.Info.Subscriptions) > subs })
	if r := submit(t, m, "cli-cmd", command("pump-1", `{"heat":"on"}`)); r.Status != engine.StatusCompleted {
		t.Fatalf("result = %+v", r)
	}
	if err := sub.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v", err)
	}
	if got := strings.TrimSpace(stdout.String()); got != `devices/pump-1/commands {"heat":"on"}` {
		t.Fatalf("mosquitto_sub printed %q", got)
	}
}
