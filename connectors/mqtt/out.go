package mqtt

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/rulego/rulego/api/types"
	"github.com/rulego/rulego/components/base"
	"github.com/rulego/rulego/utils/str"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// OutType is the node type of the MQTT publisher.
const OutType = "mqttOut"

func init() {
	spec.Register(outSpec, &OutNode{})
}

var outSpec = &spec.Node{
	Type:     OutType,
	Category: "connectors",
	Summary:  "Publish the message to an MQTT broker, for example a command to a device.",
	Doc: "The payload is published as it is (a BINARY message's base64 `data` is decoded first) to the topic the template gives; " +
		"the message then leaves on `Success` with metadata `publishedTopic`, or on `Failure` when the broker cannot be reached within " +
		"`timeout` or refuses it. With QoS 1/2, Success means the broker acknowledged the message. In a test run nothing is published: " +
		"the message leaves on Success with metadata `wouldPublishTopic`. The connection is shared with mqttIn and mqttOut nodes of " +
		"the same tenant, broker, credentials and TLS settings (see mqttIn). With `broker: embedded` a device subscribed to the topic " +
		"on Sluice's own broker receives it.",
	Fields: append(connFields(),
		&spec.Field{Name: "topic", Type: spec.String, Required: true,
			Help:    "Topic to publish to; `${metadata.key}` and `${msg.key}` are replaced per message. No wildcards.",
			Example: "devices/${metadata.deviceId}/commands"},
		&spec.Field{Name: "qos", Label: "QoS", Type: spec.Int, Default: 1, Min: spec.Num(0), Max: spec.Num(2),
			Help: "Publish QoS: 0 fire and forget, 1 or 2 wait for the broker's acknowledgement."},
		&spec.Field{Name: "retain", Type: spec.Bool, Default: false,
			Help: "Ask the broker to keep the message as the topic's last value, for devices that subscribe later."},
		&spec.Field{Name: "timeout", Type: spec.Duration, Default: "10s", Min: spec.Num(0.001),
			Help: "How long to wait for a connection and the broker's acknowledgement before the message goes to Failure."},
	),
	Relations: spec.Relations{Fixed: []string{types.Success, types.Failure}},
	Examples: []spec.Example{
		{Title: "Command a device on the embedded broker", Config: map[string]any{
			"broker": "embedded", "topic": "devices/${metadata.deviceId}/commands", "qos": 1}},
		{Title: "Retained set-point on an external broker", Config: map[string]any{
			"broker": "tcp://broker.example.com:1883", "username": "sluice", "topic": "plant1/${metadata.deviceId}/setpoint", "retain": true}},
	},
	Validate: func(cfg map[string]any) spec.Problems {
		ps := validateConn(cfg)
		if t, _ := cfg["topic"].(string); t != "" {
			if err := checkTopicTemplate(t); err != nil {
				ps = append(ps, spec.Problem{Field: "topic", Message: err.Error()})
			}
		}
		return ps
	},
}

// checkTopicTemplate rejects wildcards outside placeholders.
func checkTopicTemplate(t string) error {
	plain := t
	for {
		i := strings.Index(plain, "${")
		if i < 0 {
			break
		}
		j := strings.Index(plain[i:], "}")
		if j < 0 {
			return errors.New("unclosed ${")
		}
		plain = plain[:i] + "x" + plain[i+j+1:]
	}
	return checkTopicName(plain)
}

func checkTopicName(t string) error {
	switch {
	case t == "":
		return errors.New("empty topic")
	case strings.ContainsAny(t, "+#"):
		return fmt.Errorf("%q: a topic to publish to cannot hold wildcards (+ or #)", t)
	case strings.ContainsRune(t, 0):
		return fmt.Errorf("%q: a topic cannot hold NUL", t)
	}
	return nil
}

type outConfig struct {
	connConfig
	Topic   string            `json:"topic"`
	QoS     int               `json:"qos"`
	Retain  bool              `json:"retain"`
	Timeout spec.JSONDuration `json:"timeout"`
}

// OutNode publishes messages (mqttOut). It joins the shared client lazily,
// at its first message, because only then does it know its flow's tenant
// and resources.
type OutNode struct {
	cfg  outConfig
	tmpl str.Template

	mu      sync.Mutex
	cl      *client
	release func() error
	own     *engine.Resources // outside a Sluice engine
}

var _ types.Node = (*OutNode)(nil)

// Type implements types.Node.
func (n *OutNode) Type() string { return OutType }

// New implements types.Node.
func (n *OutNode) New() types.Node { return &OutNode{} }

// Init implements types.Node.
func (n *OutNode) Init(_ types.Config, raw types.Configuration) error {
	if err := outSpec.Decode(raw, &n.cfg); err != nil {
		return fmt.Errorf("mqttOut: %w", err)
	}
	n.tmpl = str.NewTemplate(n.cfg.Topic)
	return nil
}

// OnMsg implements types.Node.
func (n *OutNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	topic := n.cfg.Topic
	if !n.tmpl.IsNotVar() {
		topic = n.tmpl.Execute(base.NodeUtils.GetEvn(ctx, msg))
	}
	if i := strings.Index(topic, "${"); i >= 0 {
		ctx.TellFailure(msg, fmt.Errorf("mqttOut: topic %q: placeholder not found in the message", topic))
		return
	}
	if err := checkTopicName(topic); err != nil {
		ctx.TellFailure(msg, fmt.Errorf("mqttOut: %w", err))
		return
	}
	payload := []byte(msg.Data)
	if msg.DataType == types.BINARY {
		b, err := base64.StdEncoding.DecodeString(msg.Data)
		if err != nil {
			ctx.TellFailure(msg, fmt.Errorf("mqttOut: BINARY data is not base64: %w", err))
			return
		}
		payload = b
	}
	env := engine.EnvOf(ctx)
	if env != nil && !env.SideEffects {
		msg.Metadata.PutValue("wouldPublishTopic", topic)
		ctx.TellSuccess(msg)
		return
	}
	cl, err := n.client(env)
	if err != nil {
		ctx.TellFailure(msg, fmt.Errorf("mqttOut: %w", err))
		return
	}
	pctx := ctx.GetContext()
	if pctx == nil {
		pctx = context.Background()
	}
	pctx, cancel := context.WithTimeout(pctx, n.cfg.Timeout.D())
	defer cancel()
	if err := cl.publish(pctx, topic, byte(n.cfg.QoS), n.cfg.Retain, payload); err != nil {
		ctx.TellFailure(msg, fmt.Errorf("mqttOut: %w", err))
		return
	}
	msg.Metadata.PutValue("publishedTopic", topic)
	ctx.TellSuccess(msg)
}

// client joins the shared client of this node's connection settings.
func (n *OutNode) client(env *engine.Env) (*client, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cl != nil {
		return n.cl, nil
	}
	tenant, res, log := "default", n.own, slog.Default()
	if env != nil {
		tenant, res = env.Tenant, env.Resources
		if env.Logger != nil {
			log = env.Logger
		}
	}
	if res == nil {
		n.own = engine.NewResources()
		res = n.own
	}
	d, err := n.cfg.connConfig.resolve(tenant, res)
	if err != nil {
		return nil, err
	}
	cl, release, err := acquireClient(res, d, log.With("node", OutType), nil)
	if err != nil {
		return nil, err
	}
	n.cl, n.release = cl, release
	return cl, nil
}

// Destroy implements types.Node: it leaves the shared client; the last
// node to leave closes the connection.
func (n *OutNode) Destroy() {
	n.mu.Lock()
	cl, release := n.cl, n.release
	n.cl, n.release = nil, nil
	n.mu.Unlock()
	if cl == nil {
		return
	}
	_ = release()
	ctx, cancel := context.WithTimeout(context.Background(), cl.d.connectTO+time.Second)
	defer cancel()
	if err := cl.wait(ctx); err != nil {
		slog.Default().Warn("mqttOut: client did not stop in time", "error", err)
	}
}
