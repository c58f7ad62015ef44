package ws

import (
	"encoding/base64"
	"fmt"
	"sync"

	"github.com/rulego/rulego/api/types"
	"github.com/rulego/rulego/components/base"
	"github.com/rulego/rulego/utils/str"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// PushType is the node type of the WebSocket push node.
const PushType = "wsPush"

// MetaPushReport is the metadata key in which a test run's wsPush reports
// what it would have sent.
const MetaPushReport = "wsPush"

func init() {
	spec.Register(pushSpec, &PushNode{})
}

var pushSpec = &spec.Node{
	Type:     PushType,
	Category: "connectors",
	Summary:  "Send the message to a device connected over WebSocket, by its device id.",
	Doc: "The payload goes to every open connection of the device as one frame: a `BINARY` payload (base64) as a binary frame, " +
		"anything else as a text frame. The device is the one whose id `deviceId` names (by default the message's own " +
		"`metadata.deviceId`, so a flow fed by [`wsIn`](#wsin) answers the device that sent); only devices of the flow's tenant " +
		"are reached, and only those that connected with a device token (or `?deviceId=` on a `wsIn` with `auth: none`). " +
		"The message leaves on `Success` once a connection took the frame; a device that is not connected, or whose " +
		"connections all fail to take it within their write timeout, sends it on `Failure` with the reason. In a test run " +
		"nothing is sent: metadata `wsPush` says what would have been.",
	Fields: []*spec.Field{
		{Name: "deviceId", Type: spec.String, Default: "${metadata.deviceId}", Vars: true,
			Help:    "Device to send to; `${metadata.key}` and `${msg.key}` are replaced per message.",
			Example: "${metadata.targetDevice}"},
		{Name: "path", Type: spec.String, Default: "", Vars: true,
			Help:    "Only connections on this /ws/ path (a wsIn node's `path`); empty reaches the device on any path.",
			Example: "devices"},
	},
	Relations: spec.Relations{Fixed: []string{types.Success, types.Failure}},
	Examples: []spec.Example{
		{Title: "Answer the device that sent the message", Config: map[string]any{}},
		{Title: "Command a device named in the payload", Config: map[string]any{"deviceId": "${msg.target}", "path": "devices"}},
	},
}

type pushConfig struct {
	DeviceID string `json:"deviceId"`
	Path     string `json:"path"`
}

// PushNode sends messages to connected WebSocket devices.
type PushNode struct {
	cfg  pushConfig
	tmpl str.Template

	mu      sync.Mutex
	router  *Router
	release func() error
}

var _ types.Node = (*PushNode)(nil)

// Type implements types.Node.
func (n *PushNode) Type() string { return PushType }

// New implements types.Node.
func (n *PushNode) New() types.Node { return &PushNode{} }

// Init implements types.Node.
func (n *PushNode) Init(_ types.Config, raw types.Configuration) error {
	if err := pushSpec.Decode(raw, &n.cfg); err != nil {
		return fmt.Errorf("wsPush: %w", err)
	}
	n.tmpl = str.NewTemplate(n.cfg.DeviceID)
	return nil
}

// OnMsg implements types.Node.
func (n *PushNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	deviceID := n.cfg.DeviceID
	if !n.tmpl.IsNotVar() {
		deviceID = n.tmpl.Execute(base.NodeUtils.GetEvn(ctx, msg))
	}
	if deviceID == "" {
		ctx.TellFailure(msg, fmt.Errorf("wsPush: no device id: %q is empty for this message", n.cfg.DeviceID))
		return
	}
	binary := msg.DataType == types.BINARY
	data := []byte(msg.Data)
	if binary {
		b, err := base64.StdEncoding.DecodeString(msg.Data)
		if err != nil {
			ctx.TellFailure(msg, fmt.Errorf("wsPush: binary payload is not base64: %w", err))
			return
		}
		data = b
	}
	env := engine.EnvOf(ctx)
	if env == nil {
		ctx.TellFailure(msg, fmt.Errorf("wsPush: runs only inside a Sluice engine"))
		return
	}
	if !env.SideEffects {
		frame := "text"
		if binary {
			frame = "binary"
		}
		msg.Metadata.PutValue(MetaPushReport, fmt.Sprintf("would send a %s frame of %d bytes to device %q (test run: nothing sent)", frame, len(data), deviceID))
		ctx.TellSuccess(msg)
		return
	}
	r, err := n.routerOf(env)
	if err != nil {
		ctx.TellFailure(msg, fmt.Errorf("wsPush: %w", err))
		return
	}
	if _, err := r.Send(env.Tenant, deviceID, n.cfg.Path, binary, data); err != nil {
		ctx.TellFailure(msg, fmt.Errorf("wsPush: %w", err))
		return
	}
	ctx.TellSuccess(msg)
}

// routerOf acquires the WebSocket router once per node instance.
func (n *PushNode) routerOf(env *engine.Env) (*Router, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.router != nil {
		return n.router, nil
	}
	r, release, err := AcquireRouter(env.Resources)
	if err != nil {
		return nil, err
	}
	n.router, n.release = r, release
	return r, nil
}

// Destroy implements types.Node.
func (n *PushNode) Destroy() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.release != nil {
		_ = n.release()
		n.router, n.release = nil, nil
	}
}
