package builtin

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/rulego/rulego/api/types"
	"github.com/rulego/rulego/components/base"
	"github.com/rulego/rulego/utils/str"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

func init() {
	spec.Register(logSpec, &LogNode{})
}

var logSpec = &spec.Node{
	Type:     "log",
	Category: "action",
	Summary:  "Write a line to the server log and pass the message on.",
	Doc: "Sluice's own log node (RuleGo's runs JavaScript). The line is logged with the node id, message id and type as attributes; " +
		"without a `message`, the payload and metadata are logged instead. Placeholders left unresolved stay as written.",
	Fields: []*spec.Field{
		{Name: "message", Type: spec.String, Default: "", Vars: true,
			Help:    "Text to log; `${msg.key}` and `${metadata.key}` are replaced per message. Empty logs the payload and metadata.",
			Example: "boiler ${metadata.deviceId} at ${msg.temperature} °C"},
		{Name: "level", Type: spec.Enum, Enum: []string{"debug", "info", "warn", "error"}, Default: "info", Help: "Log level."},
	},
	Relations: spec.Relations{Fixed: []string{relSuccess}},
	Examples: []spec.Example{
		{Title: "Log a reading", Config: map[string]any{"message": "boiler ${metadata.deviceId} at ${msg.temperature} °C"}},
		{Title: "Log whole messages at debug level", Config: map[string]any{"level": "debug"}},
	},
}

type logConfig struct {
	Message string `json:"message"`
	Level   string `json:"level"`
}

// LogNode logs each message through the flow's logger (slog.Default outside
// a Sluice engine) and
// passes it on on Success.
type LogNode struct {
	cfg    logConfig
	level  slog.Level
	tmpl   str.Template
	logger *slog.Logger
}

var _ types.Node = (*LogNode)(nil)

// Type implements types.Node.
func (n *LogNode) Type() string { return logSpec.Type }

// New implements types.Node.
func (n *LogNode) New() types.Node { return &LogNode{} }

// Init implements types.Node.
func (n *LogNode) Init(_ types.Config, raw types.Configuration) error {
	if err := logSpec.Decode(raw, &n.cfg); err != nil {
		return fmt.Errorf("log: %w", err)
	}
	if err := n.level.UnmarshalText([]byte(n.cfg.Level)); err != nil {
		return fmt.Errorf("log: level: %w", err)
	}
	n.tmpl = str.NewTemplate(n.cfg.Message)
	n.logger = slog.Default()
	return nil
}

// OnMsg implements types.Node.
func (n *LogNode) OnMsg(ctx types.RuleContext, msg types.RuleMsg) {
	attrs := []slog.Attr{
		slog.String("node", ctx.GetSelfId()),
		slog.String("msgId", msg.Id),
		slog.String("msgType", msg.Type),
	}
	text := n.cfg.Message
	switch {
	case text == "":
		text = "message"
		attrs = append(attrs, slog.String("data", msg.Data), slog.Any("metadata", msg.Metadata.Values()))
	case !n.tmpl.IsNotVar():
		text = n.tmpl.Execute(base.NodeUtils.GetEvn(ctx, msg))
	}
	logger := n.logger
	if env := engine.EnvOf(ctx); env != nil && env.Logger != nil {
		logger = env.Logger // carries the flow and version
	}
	logger.LogAttrs(ctx.GetContext(), n.level, strings.ReplaceAll(text, "\n", " "), attrs...)
	ctx.TellSuccess(msg)
}

// Destroy implements types.Node.
func (n *LogNode) Destroy() {}
