// Package mqtt is Sluice's MQTT connector: the mqttIn source node, the
// mqttOut publish node and the embedded broker that `sluice serve` runs.
package mqtt

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// InType is the node type of the MQTT source.
const InType = "mqttIn"

func init() {
	spec.Register(inSpec, engine.SourceNode{NodeType: InType})
	engine.RegisterSource(InType, newInSource)
}

var inSpec = &spec.Node{
	Type:     InType,
	Category: "connectors",
	Source:   true,
	Summary:  "Receive messages from an MQTT broker: subscribe to topics and start the flow with each message.",
	Doc: "Each message starts the flow as a `RAW` message (a script parses it) with metadata `connector` (mqttIn), `tenant`, `topic`, " +
		"`remoteAddr` (the broker), `receivedAt`, `qos`, `retained` and `duplicate` (when set), and `deviceId` plus any other `{name}` " +
		"that `topicPattern` extracts from the topic. The payload's `dataType` is JSON, TEXT, or BINARY (base64 in `data`).\n\n" +
		"**Delivery.** A QoS 1/2 message is acknowledged to the broker only after the flow has finished it (every branch ended), and " +
		"acknowledgements go out in the order the messages arrived (MQTT 3.1.1 §4.6): a message's acknowledgement waits for the earlier " +
		"ones. With `cleanSession` off and a `clientId`, the broker keeps unacknowledged messages across reconnects and Sluice restarts: " +
		"at-least-once. A message the flow fails (an unhandled Failure or a timeout) goes to the dead-letter store and is acknowledged; " +
		"with `redeliver` on it is not: the client reconnects (after `retryMin`, doubling while the message keeps failing) and the broker sends it again.\n\n" +
		"**Throughput.** The broker sends at most its in-flight window of unacknowledged QoS 1/2 messages to one client " +
		"(Mosquitto's `max_inflight_messages`, 20 by default; the embedded broker's is 8192), so a connection delivers at most " +
		"window ÷ flow latency messages per second: 20 messages in flight and 2 ms per message give 10,000 msg/s. Raise the window on " +
		"the broker, use QoS 0, or split the topics over nodes with their own client ids to go faster.\n\n" +
		"**Backpressure.** When the flow is full (its in-flight limit), the client waits for a slot: it stops reading from the socket, " +
		"and the broker holds the messages. Nothing is dropped by Sluice. Nodes that share a connection share this wait.\n\n" +
		"**Sharing.** mqttIn and mqttOut nodes of one tenant with the same broker, credentials and TLS settings and no `clientId` " +
		"share one connection, whichever flow they are in. A node with a `clientId` has its own; two nodes may not claim the same client id.",
	Fields: append(connFields(),
		&spec.Field{Name: "topics", Type: spec.List, Item: &spec.Field{Type: spec.String}, Required: true, Min: spec.Num(1),
			Help:    "Topic filters to subscribe to; `+` matches one level, `#` the rest.",
			Example: []any{"devices/+/telemetry"}},
		&spec.Field{Name: "qos", Label: "QoS", Type: spec.Int, Default: 1, Min: spec.Num(0), Max: spec.Num(2),
			Help: "Subscription QoS: 0 at most once, 1 at least once, 2 exactly once on the wire (Sluice still acknowledges after the flow, so a redelivery can repeat a message)."},
		&spec.Field{Name: "topicPattern", Type: spec.String, Default: "",
			Help: "Pattern that extracts metadata from the topic: `{name}` takes one level into metadata `name` (`{deviceId}` sets the device id), " +
				"`+` skips one level, a last `#` the rest. Topics of another shape pass without it.",
			Example: "devices/{deviceId}/telemetry"},
		&spec.Field{Name: "sharedGroup", Type: spec.String, Default: "", Advanced: true,
			Help:    "Shared subscription group: subscribe to `$share/{group}/{topic}` so that several Sluice instances split the messages (MQTT 5 brokers, Mosquitto 2, EMQX).",
			Example: "sluice"},
		&spec.Field{Name: "redeliver", Type: spec.Bool, Default: false,
			Help: "When the flow fails a message, do not acknowledge it: reconnect so that the broker delivers it again. Needs cleanSession off and QoS 1 or 2. A message that always fails is retried for ever, with growing pauses."},
		&spec.Field{Name: "payload", Type: spec.Enum, Enum: []string{"auto", "json", "text", "binary"}, Default: "auto",
			Help: "How to pass the payload: `auto` is JSON when it parses, else TEXT when it is UTF-8, else BINARY (base64); `json` refuses other payloads (counted as errors)."},
		&spec.Field{Name: "maxMessageBytes", Type: spec.Int, Default: 1 << 20, Min: spec.Num(0), Advanced: true,
			Help: "Largest payload accepted; a larger message is refused (counted as an error, acknowledged, not passed to the flow). 0: no limit."},
	),
	Relations: spec.Relations{Fixed: []string{types.Success}},
	Examples: []spec.Example{
		{Title: "Telemetry from the embedded broker", Config: map[string]any{
			"broker": "embedded", "topics": []any{"devices/+/telemetry"}, "topicPattern": "devices/{deviceId}/telemetry"}},
		{Title: "At-least-once from an external broker", Config: map[string]any{
			"broker": "tcp://broker.example.com:1883", "clientId": "sluice-plant-1", "cleanSession": false,
			"username": "sluice", "qos": 1, "topics": []any{"plant1/+/data", "plant1/+/status"},
			"topicPattern": "plant1/{deviceId}/+", "redeliver": true}},
		{Title: "TLS with a client certificate, load shared between instances", Config: map[string]any{
			"broker": "ssl://broker.example.com:8883", "topics": []any{"devices/#"}, "sharedGroup": "sluice",
			"tls": map[string]any{"ca": "/etc/sluice/ca.pem", "cert": "/etc/sluice/client.pem", "key": "/etc/sluice/client.key"}}},
	},
	Validate: func(cfg map[string]any) spec.Problems {
		ps := validateConn(cfg)
		topics, _ := cfg["topics"].([]any)
		for i, t := range topics {
			if s, ok := t.(string); ok {
				if err := checkFilter(s); err != nil {
					ps = append(ps, spec.Problem{Field: fmt.Sprintf("topics[%d]", i), Message: err.Error()})
				}
			}
		}
		if p, _ := cfg["topicPattern"].(string); p != "" {
			if _, err := parsePattern(p); err != nil {
				ps = append(ps, spec.Problem{Field: "topicPattern", Message: err.Error()})
			}
		}
		if g, _ := cfg["sharedGroup"].(string); strings.ContainsAny(g, "/+#") {
			ps = append(ps, spec.Problem{Field: "sharedGroup", Message: "must not contain /, + or #"})
		}
		if r, _ := cfg["redeliver"].(bool); r {
			clean, _ := cfg["cleanSession"].(bool)
			if clean || fmt.Sprint(cfg["qos"]) == "0" {
				ps = append(ps, spec.Problem{Field: "redeliver", Message: "needs cleanSession off (with a clientId) and qos 1 or 2: only a persistent session gets an unacknowledged message again"})
			}
		}
		return ps
	},
}

type inConfig struct {
	connConfig
	Topics          []string `json:"topics"`
	QoS             int      `json:"qos"`
	TopicPattern    string   `json:"topicPattern"`
	SharedGroup     string   `json:"sharedGroup"`
	Redeliver       bool     `json:"redeliver"`
	Payload         string   `json:"payload"`
	MaxMessageBytes int      `json:"maxMessageBytes"`
}

// inSource is the runtime of an mqttIn node.
type inSource struct {
	sc  engine.SourceContext
	cfg inConfig
	pat *pattern

	ctx    context.Context // cancelled at Stop: a Submit waiting for a slot gives up
	cancel context.CancelFunc

	mu       sync.Mutex
	cl       *client
	release  func() error
	sub      *subscription
	started  bool
	stopped  bool
	inflight inflight

	messages atomic.Uint64
	bytes    atomic.Uint64
	errors   atomic.Uint64
	lastErr  atomic.Pointer[string]
}

func newInSource(sc engine.SourceContext, raw map[string]any) (engine.Source, error) {
	s := &inSource{sc: sc}
	if err := inSpec.Decode(raw, &s.cfg); err != nil {
		return nil, fmt.Errorf("mqttIn: %w", err)
	}
	pat, err := parsePattern(s.cfg.TopicPattern)
	if err != nil {
		return nil, fmt.Errorf("mqttIn: topicPattern: %w", err)
	}
	s.pat = pat
	if s.sc.Logger == nil {
		s.sc.Logger = discardLogger()
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// Start resolves the broker, joins (or opens) the shared client and
// subscribes. An unreachable broker is not an error: the status says
// retrying.
func (s *inSource) Start(context.Context) error {
	d, err := s.cfg.connConfig.resolve(s.sc.Tenant, s.sc.Resources)
	if err != nil {
		return fmt.Errorf("mqttIn: %w", err)
	}
	res := s.sc.Resources
	if res == nil {
		res = engine.NewResources()
	}
	sub := &subscription{qos: byte(s.cfg.QoS), deliver: s.deliver}
	for _, t := range s.cfg.Topics {
		if s.cfg.SharedGroup != "" {
			t = sharePrefix + s.cfg.SharedGroup + "/" + t
		}
		sub.filters = append(sub.filters, t)
	}
	// The subscription joins the client before it connects: a persistent
	// session's kept messages arrive right after the CONNACK.
	cl, release, err := acquireClient(res, d, s.sc.Logger, sub)
	if err != nil {
		return fmt.Errorf("mqttIn: %w", err)
	}
	s.mu.Lock()
	s.cl, s.release, s.sub, s.started = cl, release, sub, true
	s.mu.Unlock()
	return nil
}

// Stop stops receiving, waits for the messages in the flow (up to ctx) and
// leaves the client; the last node to leave closes the connection. On a
// persistent session the subscriptions stay on the broker, so messages
// published while Sluice is away wait there.
func (s *inSource) Stop(ctx context.Context) error {
	s.mu.Lock()
	if !s.started || s.stopped {
		s.stopped = true
		s.mu.Unlock()
		s.cancel()
		return nil
	}
	s.stopped = true
	s.mu.Unlock()
	if s.cl.d.clean {
		s.cl.remove(s.sub) // unsubscribe what no other node wants
	}
	s.cancel()
	err := s.inflight.wait(ctx)
	if rerr := s.release(); rerr != nil && err == nil {
		err = rerr
	}
	if werr := s.cl.wait(ctx); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return fmt.Errorf("mqttIn: stop: %w", err)
	}
	return nil
}

// Status reports the connection's state and this node's counters.
func (s *inSource) Status() engine.SourceStatus {
	s.mu.Lock()
	cl, sub, stopped := s.cl, s.sub, s.stopped
	s.mu.Unlock()
	st := engine.SourceStatus{Messages: s.messages.Load(), Bytes: s.bytes.Load(), Errors: s.errors.Load()}
	if p := s.lastErr.Load(); p != nil {
		st.LastError = *p
	}
	if cl == nil {
		st.State = engine.StateStopped
		return st
	}
	cs := cl.status()
	st.Errors += cs.errors
	st.Since = cs.since
	switch {
	case stopped:
		st.State = engine.StateStopped
	case cs.connected && sub.readyGen.Load() == cs.gen:
		st.State = engine.StateConnected
		st.Connections = 1
	case cs.connected:
		st.State = engine.StateRetrying
		st.LastError = "subscribing"
		if p := sub.subErr.Load(); p != nil {
			st.LastError = *p
		}
	default:
		st.State = cs.state
		if cs.lastErr != "" {
			st.LastError = cs.lastErr
		}
	}
	return st
}

// fail records a refused or failed message: the reason first, then the
// count (Status loads the count first), so that a status which counts the
// error also says why.
func (s *inSource) fail(err error) {
	msg := err.Error()
	s.lastErr.Store(&msg)
	s.errors.Add(1)
}

// deliver submits one received message into the flow. It runs on the
// client's receive goroutine: waiting here for a flow slot is the
// backpressure (the broker holds what the socket does not take).
func (s *inSource) deliver(cn *conn, m paho.Message, e *ackEntry) {
	topic := m.Topic()
	if s.ctx.Err() != nil { // stopping: leave it to the next session
		if e != nil {
			e.finish(outcomeAbandon)
		}
		return
	}
	payload := m.Payload()
	if max := s.cfg.MaxMessageBytes; max > 0 && len(payload) > max {
		s.fail(fmt.Errorf("message on %q refused: %d bytes, more than maxMessageBytes (%d)", topic, len(payload), max))
		if e != nil {
			e.finish(outcomeAck)
		}
		return
	}
	msg, err := s.message(cn, m, topic, payload)
	if err != nil {
		s.fail(err)
		if e != nil {
			e.finish(outcomeAck)
		}
		return
	}
	s.inflight.add()
	s.messages.Add(1) // before Submit: the flow may finish it before Submit returns
	s.bytes.Add(uint64(len(payload)))
	opts := engine.SubmitOptions{}
	if msg.Metadata[engine.MetaDeviceID] == "" {
		// Without a device id, keep the order per topic, as MQTT does.
		opts.OrderKey = topic
	}
	opts.Done = func(r engine.Result) {
		o := outcomeAck
		if r.Status != engine.StatusCompleted {
			if s.cfg.Redeliver {
				o = outcomeRedeliver
				s.fail(fmt.Errorf("message on %q %s in the flow (%s): dead-lettered, not acknowledged: the broker redelivers it", topic, r.Status, r.Error))
			} else {
				s.fail(fmt.Errorf("message on %q %s in the flow (%s): dead-lettered and acknowledged", topic, r.Status, r.Error))
			}
		}
		if e != nil {
			e.finish(o)
		}
		s.inflight.done()
	}
	_, err = s.sc.In.Submit(s.ctx, msg, opts)
	if err != nil {
		s.inflight.done()
		s.messages.Add(^uint64(0))
		s.bytes.Add(^uint64(len(payload) - 1))
		if s.ctx.Err() != nil {
			if e != nil {
				e.finish(outcomeAbandon)
			}
			return
		}
		s.fail(fmt.Errorf("message on %q not admitted: %w", topic, err))
		if e != nil {
			e.finish(outcomeRedeliver)
		}
		return
	}
}

// message builds the flow message of a received MQTT message.
func (s *inSource) message(cn *conn, m paho.Message, topic string, payload []byte) (engine.Message, error) {
	md := make(map[string]string, 10)
	md["connector"] = InType
	md["tenant"] = s.sc.Tenant
	md["topic"] = topic
	md["remoteAddr"] = cn.remoteAddr()
	md["receivedAt"] = time.Now().UTC().Format(time.RFC3339Nano)
	md["qos"] = strconv.Itoa(int(m.Qos()))
	if m.Retained() {
		md["retained"] = "true"
	}
	if m.Duplicate() {
		md["duplicate"] = "true"
	}
	s.pat.match(topic, func(name, value string) { md[name] = value })
	msg := engine.Message{Type: "RAW", Metadata: md}
	switch s.cfg.Payload {
	case "json":
		if !json.Valid(payload) {
			return msg, fmt.Errorf("message on %q refused: payload is not JSON (payload: json)", topic)
		}
		msg.DataType, msg.Data = "JSON", string(payload)
	case "text":
		msg.DataType, msg.Data = "TEXT", string(payload)
	case "binary":
		msg.DataType, msg.Data = "BINARY", base64.StdEncoding.EncodeToString(payload)
	default:
		switch {
		case len(payload) > 0 && json.Valid(payload):
			msg.DataType, msg.Data = "JSON", string(payload)
		case utf8.Valid(payload):
			msg.DataType, msg.Data = "TEXT", string(payload)
		default:
			msg.DataType, msg.Data = "BINARY", base64.StdEncoding.EncodeToString(payload)
		}
	}
	return msg, nil
}

// inflight counts messages handed to the flow and not finished.
type inflight struct {
	mu   sync.Mutex
	n    int
	zero chan struct{}
}

func (f *inflight) add() {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
}

func (f *inflight) done() {
	f.mu.Lock()
	f.n--
	if f.n == 0 && f.zero != nil {
		close(f.zero)
		f.zero = nil
	}
	f.mu.Unlock()
}

func (f *inflight) wait(ctx context.Context) error {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return nil
	}
	if f.zero == nil {
		f.zero = make(chan struct{})
	}
	ch, n := f.zero, f.n
	f.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%d messages still in the flow: %w", n, context.Cause(ctx))
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
