// Package coap is the CoAP connector (RFC 7252 over UDP): devices POST or PUT
// to resource paths with their token, and observe (RFC 7641) resources that a
// flow updates with the coapNotify node. DTLS is not supported yet.
package coap

import (
	"net"
	"strconv"
	"strings"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// Node types.
const (
	NodeType   = "coapIn"
	NotifyType = "coapNotify"
)

// Device authentication modes.
const (
	AuthToken = "token"
	AuthNone  = "none"
)

func init() {
	spec.Register(coapSpec, engine.SourceNode{NodeType: NodeType})
	engine.RegisterSource(NodeType, newSource)
	spec.Register(notifySpec, &NotifyNode{})
}

var coapSpec = &spec.Node{
	Type:     NodeType,
	Category: "connectors",
	Summary:  "Listen for CoAP requests (UDP): devices POST or PUT readings and observe command resources.",
	Source:   true,
	Doc: "A device sends `POST` or `PUT` to one of `paths` with its token in the query (`?token=...`, see `tokenQuery`) or in a CoAP option " +
		"(`tokenOption`); confirmable and non-confirmable requests are both accepted. Once the message is admitted to the flow the answer is `2.04 Changed`; " +
		"`4.01 Unauthorized` for a missing, unknown or foreign token (counted, never reaches the flow), `4.03 Forbidden` when the path names another device, " +
		"`4.13 Request Entity Too Large` above `maxPayloadSize`, `5.03 Service Unavailable` when the flow is full. " +
		"Backpressure: fail fast — a full flow answers 5.03 at once, and the device retries later (UDP has no flow control to wait on). " +
		"A path segment `{deviceId}` matches the authenticated device's id only. " +
		"Each request becomes a `RAW` message whose dataType follows the Content-Format (`application/json` JSON, `text/plain` TEXT, anything else BINARY, base64) " +
		"or `dataType` when the request has none. Metadata: `connector`, `tenant`, `deviceId`, `path`, `method`, `coapType` (CON or NON), `remoteAddr`, `receivedAt`. " +
		"A device may `GET` with Observe one of `observePaths` (e.g. `/commands/{deviceId}`); a `coapNotify` node in any flow of the tenant sets the resource's value and notifies its observers. " +
		"Payloads must fit in one datagram: block-wise transfer (RFC 7959) is refused with 4.13. DTLS (`coaps://`) is not supported yet.",
	Fields: []*spec.Field{
		{Name: "listen", Type: spec.String, Default: ":5683", Exclusive: "udpListen",
			Help: "UDP address to listen on, host:port; an empty host listens on every interface.", Example: "127.0.0.1:5683"},
		{Name: "paths", Type: spec.List, Item: &spec.Field{Type: spec.String}, Default: []any{"/telemetry"}, Min: spec.Num(1),
			Help: "Resource paths devices POST or PUT to; a segment `{deviceId}` must be the device's own id.", Example: []any{"/telemetry", "/devices/{deviceId}/events"}},
		{Name: "observePaths", Type: spec.List, Item: &spec.Field{Type: spec.String}, Default: []any{"/commands/{deviceId}"},
			Help: "Resource paths devices may GET and observe; their values are set by coapNotify nodes.", Example: []any{"/commands/{deviceId}"}},
		{Name: "auth", Type: spec.Enum, Enum: []string{AuthToken, AuthNone}, Default: AuthToken,
			Help: "`token`: every request carries a device token checked against the device registry; `none`: anonymous (the device id comes from a `{deviceId}` segment, unchecked)."},
		{Name: "tokenQuery", Type: spec.String, Default: "token",
			Help: "Name of the URI query parameter that carries the device token (`coap://host/telemetry?token=...`)."},
		{Name: "tokenOption", Type: spec.Int, Default: 0, Min: spec.Num(0), Max: spec.Num(65535), Advanced: true,
			Help: "A CoAP option number that may carry the device token instead (an even, elective number such as 2048); 0 turns it off.", Example: 2048},
		{Name: "dataType", Type: spec.Enum, Enum: []string{"JSON", "TEXT", "BINARY"}, Default: "TEXT",
			Help: "The message's dataType when a request has no Content-Format option."},
		{Name: "maxPayloadSize", Type: spec.Int, Default: 1024, Min: spec.Num(1), Max: spec.Num(65000),
			Help: "Largest request payload in bytes; a larger one is answered 4.13."},
		{Name: "maxPeers", Type: spec.Int, Default: 10000, Min: spec.Num(1), Advanced: true,
			Help: "Remote endpoints (address and port) tracked at once; datagrams from further ones are dropped and counted as errors."},
		{Name: "idleTimeout", Type: spec.Duration, Default: "2m", Min: spec.Num(0.1),
			Help: "How long a silent endpoint is remembered; one that observes a resource is pinged instead and forgotten only when it stops answering."},
	},
	Relations: spec.Relations{Fixed: []string{types.Success}},
	Examples: []spec.Example{
		{Title: "Telemetry with device tokens, commands by observe", Config: map[string]any{"listen": ":5683", "paths": []any{"/telemetry"}, "observePaths": []any{"/commands/{deviceId}"}}},
		{Title: "Per-device paths, JSON without Content-Format", Config: map[string]any{
			"listen": ":5684", "paths": []any{"/devices/{deviceId}/telemetry"}, "dataType": "JSON", "maxPayloadSize": 4096}},
	},
	Validate: func(cfg map[string]any) spec.Problems {
		var ps spec.Problems
		if l, _ := cfg["listen"].(string); l != "" {
			if _, _, err := net.SplitHostPort(l); err != nil {
				ps = append(ps, spec.Problem{Field: "listen", Message: "want host:port, e.g. \":5683\": " + err.Error()})
			}
		}
		for _, field := range []string{"paths", "observePaths"} {
			l, _ := cfg[field].([]any)
			for i, p := range l {
				s, _ := p.(string)
				if msg := checkPattern(s); msg != "" {
					ps = append(ps, spec.Problem{Field: field + "[" + strconv.Itoa(i) + "]", Message: msg})
				}
			}
		}
		if n := asInt(cfg["tokenOption"]); n%2 == 1 {
			ps = append(ps, spec.Problem{Field: "tokenOption", Message: "want an even (elective) option number: devices may not understand an odd (critical) one"})
		}
		if tq, _ := cfg["tokenQuery"].(string); tq == "" && asInt(cfg["tokenOption"]) == 0 && cfg["auth"] != AuthNone {
			ps = append(ps, spec.Problem{Field: "tokenQuery", Message: "set tokenQuery or tokenOption: devices need a way to send their token"})
		}
		return ps
	},
}

func checkPattern(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "want a path starting with \"/\""
	}
	for _, seg := range strings.Split(strings.Trim(p, "/"), "/") {
		if strings.ContainsAny(seg, "{}") && seg != "{deviceId}" {
			return "the only placeholder is a whole segment {deviceId}"
		}
		if strings.ContainsAny(seg, "?#") {
			return "a path has no query or fragment"
		}
	}
	return ""
}

var notifySpec = &spec.Node{
	Type:     NotifyType,
	Category: "connectors",
	Summary:  "Set the value of a CoAP resource that devices observe, and notify them.",
	Doc: "The message's payload becomes the value of the resource at `path` on the coapIn listener `server` (written as in that node's `listen`), " +
		"in the flow's tenant; every device observing it gets a notification (non-confirmable, Content-Format from the message's dataType: " +
		"JSON `application/json`, TEXT `text/plain`, BINARY `application/octet-stream` with the base64 payload decoded). " +
		"A device that GETs the resource later receives the last value. Metadata `coapPath` and `coapObservers` (how many were notified) are added. " +
		"In a test run nothing is set: the node reports the path and how many observers it would notify, with metadata `coapDryRun` = `true`.",
	Fields: []*spec.Field{
		{Name: "server", Type: spec.String, Default: ":5683",
			Help: "The `listen` address of the coapIn node whose devices observe the resource, written the same way."},
		{Name: "path", Type: spec.String, Default: "/commands/${metadata.deviceId}",
			Help: "Resource path; `${metadata.key}` and `${msg.key}` are replaced per message.", Example: "/commands/${metadata.deviceId}"},
	},
	Relations: spec.Relations{Fixed: []string{types.Success, types.Failure}},
	Examples: []spec.Example{
		{Title: "Command to the message's device", Config: map[string]any{"server": ":5683", "path": "/commands/${metadata.deviceId}"}},
	},
	Validate: func(cfg map[string]any) spec.Problems {
		if p, _ := cfg["path"].(string); !strings.HasPrefix(p, "/") {
			return spec.Problems{{Field: "path", Message: "want a path starting with \"/\""}}
		}
		return nil
	},
}

func asInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case float64:
		return int64(x)
	}
	return 0
}
