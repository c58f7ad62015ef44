package mqtt

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/connectors/conntest"
	"github.com/sluicehq/sluice/engine"
)

// outFlow is a flow with one mqttOut node "out".
func outFlow(id string, cfg map[string]any) *engine.Flow {
	return &engine.Flow{
		RuleChain: engine.FlowInfo{ID: id, Name: id},
		Metadata:  engine.FlowMetadata{Nodes: []engine.Node{{ID: "out", Type: OutType, Configuration: cfg}}},
	}
}

type received struct {
	topic, payload string
	retained       bool
}

// subscribe subscribes a test client and returns what it receives.
func subscribe(t *testing.T, c paho.Client, filter string) <-chan received {
	t.Helper()
	ch := make(chan received, 64)
	tok := c.Subscribe(filter, 1, func(_ paho.Client, m paho.Message) {
		ch <- received{m.Topic(), string(m.Payload()), m.Retained()}
	})
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return ch
}

func nextReceived(t *testing.T, ch <-chan received) received {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("nothing received")
		return received{}
	}
}

func submit(t *testing.T, m *engine.Manager, flowID string, msg engine.Message) *engine.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r, err := m.Submit(ctx, flowID, msg, engine.SubmitOptions{Wait: true})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func command(device, data string) engine.Message {
	return engine.Message{Type: "COMMAND", DataType: "JSON", Data: data, Metadata: map[string]string{"deviceId": device}}
}

func TestPublish(t *testing.T) {
	forEachBroker(t, func(t *testing.T, b *testBroker) {
		m := conntest.NewManager(t, engine.Options{})
		b.provide(m)
		sub := testClient(t, b.url, "subscriber", b.user, b.pass)
		got := subscribe(t, sub, "devices/#")
		cfg := map[string]any{"broker": b.nodeBroker, "topic": "devices/${metadata.deviceId}/${msg.kind}", "qos": 1, "retryMin": "50ms"}
		conntest.Deploy(t, m, "default", outFlow("commands", cfg), 1)

		// A test run reports the topic and publishes nothing.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tr, err := m.Test(ctx, "default", outFlow("commands", cfg), command("boiler-7", `{"kind":"test","on":true}`), "", false)
		if err != nil {
			t.Fatal(err)
		}
		if tr.Result.Status != engine.StatusCompleted || tr.Result.Ends[0].Msg.Metadata["wouldPublishTopic"] != "devices/boiler-7/test" {
			t.Fatalf("test run = %+v", tr.Result)
		}

		r := submit(t, m, "commands", command("boiler-7", `{"kind":"commands","on":true}`))
		if r.Status != engine.StatusCompleted || r.Ends[0].Relation != types.Success || r.Ends[0].Msg.Metadata["publishedTopic"] != "devices/boiler-7/commands" {
			t.Fatalf("result = %+v", r)
		}
		if rc := nextReceived(t, got); rc.topic != "devices/boiler-7/commands" || rc.payload != `{"kind":"commands","on":true}` {
			t.Fatalf("received %+v (the test run must publish nothing)", rc)
		}

		// A placeholder the message lacks is a Failure, not a strange topic.
		r = submit(t, m, "commands", command("boiler-7", `{"on":true}`))
		if r.Status != engine.StatusFailed || !strings.Contains(r.Error, "placeholder") {
			t.Fatalf("result = %+v", r)
		}
	})
}

// On the embedded broker each tenant has its own topics: a command of the
// default tenant reaches a device of that tenant, not one of "acme" that
// subscribed to the same topic; and acme's messages do not reach the
// default tenant's flows.
func TestEmbeddedTenantsAreIsolated(t *testing.T) {
	eb := startEmbedded(t, BrokerConfig{})
	m := conntest.NewManager(t, engine.Options{})
	eb.Provide(m.Resources())

	own := testClient(t, eb.Addr(), "boiler-7", "boiler-7", "s3cret")
	intruder := testClient(t, eb.Addr(), "intruder-1", "intruder-1", "acme!!")
	ownGot := subscribe(t, own, "devices/+/commands")
	intruderGot := subscribe(t, intruder, "#")

	conntest.Deploy(t, m, "default", outFlow("cmd", map[string]any{"broker": Embedded, "topic": "devices/${metadata.deviceId}/commands"}), 1)
	p := conntest.Record(t, "in-default")
	conntest.Deploy(t, m, "default", inFlow("in-default", baseIn(Embedded, "devices/+/telemetry"), conntest.RecordType), 1)
	waitState(t, m, "in-default", engine.StateConnected)

	if r := submit(t, m, "cmd", command("boiler-7", `{"on":1}`)); r.Status != engine.StatusCompleted {
		t.Fatalf("result = %+v", r)
	}
	if rc := nextReceived(t, ownGot); rc.topic != "devices/boiler-7/commands" {
		t.Fatalf("device got %+v", rc)
	}
	publish(t, intruder, "devices/boiler-7/telemetry", 1, "spoofed")
	publish(t, own, "devices/boiler-7/telemetry", 1, "real")
	if got := p.Next(t, wait); got.Data != "real" {
		t.Fatalf("the default tenant's flow got %q from another tenant", got.Data)
	}
	// The intruder saw only its own message (its "#" covers acme's topics).
	if rc := nextReceived(t, intruderGot); rc.payload != "spoofed" || rc.topic != "devices/boiler-7/telemetry" {
		t.Fatalf("intruder got %+v", rc)
	}
	select {
	case rc := <-intruderGot:
		t.Fatalf("intruder got %+v from another tenant", rc)
	default:
	}
}

func TestPublishUnreachable(t *testing.T) {
	m := conntest.NewManager(t, engine.Options{})
	cfg := map[string]any{"broker": "tcp://127.0.0.1:" + strconv.Itoa(conntest.FreePort(t)), "topic": "x", "timeout": "200ms", "retryMin": "50ms"}
	conntest.Deploy(t, m, "default", outFlow("unreachable-out", cfg), 1)
	r := submit(t, m, "unreachable-out", command("d", `{}`))
	if r.Status != engine.StatusFailed || !strings.Contains(r.Error, "not connected") || !strings.Contains(r.Error, "connection refused") {
		t.Fatalf("result = %+v", r)
	}
}

// mqttIn and mqttOut nodes with the same settings share one connection.
func TestInAndOutShareAConnection(t *testing.T) {
	eb := startEmbedded(t, BrokerConfig{})
	m := conntest.NewManager(t, engine.Options{})
	eb.Provide(m.Resources())
	p := conntest.Record(t, "loop-in")
	conntest.Deploy(t, m, "default", inFlow("loop-in", baseIn(Embedded, "loop/+"), conntest.RecordType), 1)
	waitState(t, m, "loop-in", engine.StateConnected)
	conntest.Deploy(t, m, "default", outFlow("loop-out", map[string]any{"broker": Embedded, "topic": "loop/${metadata.deviceId}", "retryMin": "50ms", "retryMax": "500ms", "keepAlive": "5s"}), 1)
	if r := submit(t, m, "loop-out", command("d1", `{"x":1}`)); r.Status != engine.StatusCompleted {
		t.Fatalf("result = %+v", r)
	}
	if got := p.Next(t, wait); got.Data != `{"x":1}` || got.Metadata.Values()["topic"] != "loop/d1" {
		t.Fatalf("got %q on %v", got.Data, got.Metadata.Values())
	}
	if n := eb.Status().Clients; n != 1 {
		t.Fatalf("broker clients = %d, want 1", n)
	}
}
