package coap

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/plgd-dev/go-coap/v3/message"
	"github.com/rulego/rulego/api/types"
	"github.com/rulego/rulego/components/base"
	"github.com/rulego/rulego/utils/str"

	"github.com/sluicehq/sluice/engine"
)

type notifyConfig struct {
	Server string `json:"server"`
	Path   string `json:"path"`
}

// NotifyNode sets the value of an observable CoAP resource and notifies the
// devices observing it.
type NotifyNode struct {
	cfg  notifyConfig
	tmpl str.Template

	mu      sync.Mutex
	hub     *hub
	release func() error
}

var _ types.Node = (*NotifyNode)(nil)

// Type implements types.Node.
func (n *NotifyNode) Type() string { return NotifyType }

// New implements types.Node.
func (n *NotifyNode) New() types.Node { return &NotifyNode{} }

// Init implements types.Node.
func (n *NotifyNode) Init(_ types.Config, raw types.Configuration) error {
	if err := notifySpec.Decode(raw, &n.cfg); err != nil {
		return fmt.Errorf("coapNotify: %w", err)
	}
	n.tmpl = str.NewTemplate(n.cfg.Path)
	return nil
}

// hubFor returns the hub of the node's server in env's tenant, acquired on
// first use and held until Destroy.
func (n *NotifyNode) hubFor(env *engine.Env) (*hub, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.hub != nil {
		return n.hub, nil
	}
	h, release, err := acquireHub(env.Resources, env.Tenant, n.cfg.Server)
	if err != nil {
		return nil, err
	}
	n.hub, n.release = h, release
	return h, nil
}

// OnMsg implements types.Node.
func (n *NotifyNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	env := engine.EnvOf(ctx)
	if env == nil || env.Resources == nil {
		ctx.TellFailure(msg, errors.New("coapNotify: runs only inside a Sluice engine"))
		return
	}
	path := n.cfg.Path
	if !n.tmpl.IsNotVar() {
		path = n.tmpl.Execute(base.NodeUtils.GetEvn(ctx, msg))
	}
	path = "/" + strings.Trim(path, "/")
	if strings.Contains(path, "${") || strings.Contains(path, "//") {
		ctx.TellFailure(msg, fmt.Errorf("coapNotify: path %q: a placeholder is missing from the message", path))
		return
	}
	payload, format, err := payloadOf(msg)
	if err != nil {
		ctx.TellFailure(msg, fmt.Errorf("coapNotify: %w", err))
		return
	}
	h, err := n.hubFor(env)
	if err != nil {
		ctx.TellFailure(msg, fmt.Errorf("coapNotify: %w", err))
		return
	}
	msg.Metadata.PutValue("coapPath", path)
	if !env.SideEffects {
		// A test run: say what would happen, change nothing.
		msg.Metadata.PutValue("coapDryRun", "true")
		msg.Metadata.PutValue("coapObservers", strconv.Itoa(h.count(path)))
		ctx.TellSuccess(msg)
		return
	}
	msg.Metadata.PutValue("coapObservers", strconv.Itoa(h.set(path, payload, format)))
	ctx.TellSuccess(msg)
}

func payloadOf(msg types.RuleMsg) ([]byte, message.MediaType, error) {
	switch msg.DataType {
	case types.JSON:
		return []byte(msg.Data), message.AppJSON, nil
	case types.BINARY:
		b, err := base64.StdEncoding.DecodeString(msg.Data)
		if err != nil {
			return nil, 0, fmt.Errorf("binary payload is not base64: %w", err)
		}
		return b, message.AppOctets, nil
	default:
		return []byte(msg.Data), message.TextPlain, nil
	}
}

// Destroy implements types.Node.
func (n *NotifyNode) Destroy() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.release != nil {
		_ = n.release()
		n.hub, n.release = nil, nil
	}
}
