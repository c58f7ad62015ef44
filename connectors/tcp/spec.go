// Package tcp is the raw TCP connector: a listener that cuts each
// connection's byte stream into frames (newline, length-prefixed, fixed size
// or a custom delimiter) and submits every frame to its flow.
package tcp

import (
	"encoding/hex"
	"net"
	"sort"
	"strings"

	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// NodeType is the type of the raw TCP connector node.
const NodeType = "tcpIn"

// Device identification modes.
const (
	IdentifyToken   = "token"
	IdentifyAddress = "address"
	IdentifyNone    = "none"
)

// Payload encodings.
const (
	EncodingText   = "text"
	EncodingJSON   = "json"
	EncodingBase64 = "base64"
	EncodingHex    = "hex"
)

func init() {
	spec.Register(tcpSpec, engine.SourceNode{NodeType: NodeType})
	engine.RegisterSource(NodeType, newSource)
}

var tcpSpec = &spec.Node{
	Type:     NodeType,
	Category: "connectors",
	Summary:  "Listen on a TCP port and turn each frame a device sends into a message.",
	Source:   true,
	Doc: "Devices open a TCP connection and stream frames. `framing` says where a frame ends: a newline (`\\r\\n` accepted), " +
		"a length prefix of 1, 2 or 4 bytes (big or little endian), a fixed size, or a custom delimiter. Empty frames are skipped (keep-alives). " +
		"With `identify: token` the first frame of a connection is the device's token, checked against the device registry; with " +
		"`identify: address` the remote IP is looked up in `addressMap`; an unknown device is refused, counted and disconnected. " +
		"Each frame becomes a `RAW` message: `encoding` `text` (dataType TEXT), `json` (dataType JSON; invalid JSON is refused), " +
		"`base64` (dataType BINARY) or `hex` (dataType TEXT, the bytes as hexadecimal). Metadata: `connector`, `tenant`, `deviceId`, " +
		"`remoteAddr`, `listen`, `receivedAt`, and `encoding`. " +
		"Backpressure: a connection waits while its flow is full, and stops reading, so TCP flow control slows the device down; nothing is dropped. " +
		"`idleTimeout` bounds the time to receive one whole frame, so a device that trickles bytes (slowloris) is cut too. " +
		"With `reply: ack` the connector writes `ackText` after each admitted frame (and after an accepted token) and `nack\\n` after a refused one.",
	Fields: []*spec.Field{
		{Name: "listen", Type: spec.String, Default: ":7000", Exclusive: "tcpListen",
			Help: "Address to listen on, host:port; an empty host listens on every interface.", Example: "127.0.0.1:7000"},
		{Name: "framing", Type: spec.Enum, Enum: []string{FrameNewline, FrameLength, FrameFixed, FrameDelimiter}, Default: FrameNewline,
			Help: "Where a frame ends: `newline`, `length` (a length prefix), `fixed` (every frame is `frameSize` bytes) or `delimiter`."},
		{Name: "lengthBytes", Type: spec.Int, Default: 2, Min: spec.Num(1), Max: spec.Num(4),
			Help: "With `framing: length`: size of the length prefix, 1, 2 or 4 bytes."},
		{Name: "byteOrder", Type: spec.Enum, Enum: []string{"big", "little"}, Default: "big",
			Help: "With `framing: length`: byte order of the length prefix."},
		{Name: "lengthIncludesHeader", Type: spec.Bool, Default: false, Advanced: true,
			Help: "With `framing: length`: the prefix counts its own bytes as well as the payload's."},
		{Name: "frameSize", Type: spec.Int, Default: 0, Min: spec.Num(0),
			Help: "With `framing: fixed`: the size of every frame in bytes.", Example: 16},
		{Name: "delimiter", Type: spec.String, Default: "",
			Help: "With `framing: delimiter`: the text that ends a frame (JSON escapes such as `\\r\\n` allowed).", Example: "|"},
		{Name: "delimiterHex", Type: spec.String, Default: "", Advanced: true,
			Help: "With `framing: delimiter`: the delimiter as hexadecimal bytes, for binary delimiters (instead of `delimiter`).", Example: "7e"},
		{Name: "identify", Type: spec.Enum, Enum: []string{IdentifyToken, IdentifyAddress, IdentifyNone}, Default: IdentifyToken,
			Help: "How a device is identified: `token` (the first frame is its token), `address` (remote IP in `addressMap`) or `none` (anonymous)."},
		{Name: "addressMap", Type: spec.Map, Default: map[string]any{},
			Help: "With `identify: address`: remote IP address to device id.", Example: map[string]any{"10.0.0.17": "boiler-7"}},
		{Name: "encoding", Type: spec.Enum, Enum: []string{EncodingText, EncodingJSON, EncodingBase64, EncodingHex}, Default: EncodingText,
			Help: "How a frame becomes the message's payload: `text`, `json`, `base64` (dataType BINARY) or `hex`."},
		{Name: "reply", Type: spec.Enum, Enum: []string{"none", "ack"}, Default: "none",
			Help: "`ack`: write `ackText` after each admitted frame, `nack\\n` after a refused one."},
		{Name: "ackText", Type: spec.String, Default: "ack\n", Advanced: true,
			Help: "With `reply: ack`: the bytes written after an admitted frame."},
		{Name: "maxConnections", Type: spec.Int, Default: 1000, Min: spec.Num(1),
			Help: "Connections open at once; further ones are closed at once and counted as errors."},
		{Name: "idleTimeout", Type: spec.Duration, Default: "60s", Min: spec.Num(0.001),
			Help: "Longest time to receive one whole frame; a connection that takes longer is closed."},
		{Name: "maxFrameSize", Type: spec.Int, Default: 65536, Min: spec.Num(1), Max: spec.Num(16 << 20),
			Help: "Largest frame in bytes; a larger one closes the connection."},
	},
	Relations: spec.Relations{Fixed: []string{types.Success}},
	Examples: []spec.Example{
		{Title: "Lines of JSON from devices that send their token first", Config: map[string]any{
			"listen": ":7000", "framing": "newline", "encoding": "json", "reply": "ack"}},
		{Title: "Binary frames with a 2-byte big-endian length, devices known by address", Config: map[string]any{
			"listen": ":7001", "framing": "length", "lengthBytes": 2, "byteOrder": "big", "encoding": "base64",
			"identify": "address", "addressMap": map[string]any{"10.0.0.17": "boiler-7"}}},
		{Title: "Fixed 16-byte records as hex", Config: map[string]any{
			"listen": ":7002", "framing": "fixed", "frameSize": 16, "encoding": "hex", "identify": "none"}},
	},
	Validate: validate,
}

func validate(cfg map[string]any) spec.Problems {
	var ps spec.Problems
	add := func(field, msg string) { ps = append(ps, spec.Problem{Field: field, Message: msg}) }
	if l, _ := cfg["listen"].(string); l != "" {
		if _, _, err := net.SplitHostPort(l); err != nil {
			add("listen", "want host:port, e.g. \":7000\": "+err.Error())
		}
	}
	maxFrame := asInt(cfg["maxFrameSize"])
	switch cfg["framing"] {
	case FrameLength:
		if n := asInt(cfg["lengthBytes"]); n != 1 && n != 2 && n != 4 {
			add("lengthBytes", "want 1, 2 or 4")
		}
	case FrameFixed:
		n := asInt(cfg["frameSize"])
		switch {
		case n <= 0:
			add("frameSize", "required with framing \"fixed\"")
		case n > maxFrame:
			add("frameSize", "must not exceed maxFrameSize")
		}
	case FrameDelimiter:
		d, _ := cfg["delimiter"].(string)
		h, _ := cfg["delimiterHex"].(string)
		switch {
		case d == "" && h == "":
			add("delimiter", "required with framing \"delimiter\" (or delimiterHex)")
		case d != "" && h != "":
			add("delimiterHex", "set delimiter or delimiterHex, not both")
		case h != "":
			if b, err := hex.DecodeString(strings.ReplaceAll(h, " ", "")); err != nil || len(b) == 0 {
				add("delimiterHex", "want hexadecimal bytes such as \"0d0a\"")
			}
		}
	}
	if cfg["identify"] == IdentifyAddress {
		m, _ := cfg["addressMap"].(map[string]any)
		if len(m) == 0 {
			add("addressMap", "required with identify \"address\"")
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if net.ParseIP(k) == nil {
				add("addressMap."+k, "not an IP address")
			}
		}
	}
	return ps
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
