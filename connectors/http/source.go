package http

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/textproto"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/rulego/rulego/api/types"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// InType is the node type of the HTTP-in connector.
const InType = "httpIn"

// Prefix is the URL prefix under which the server mounts the Router.
const Prefix = "/ingest"

// Metadata keys the connector sets on every message.
const (
	MetaConnector   = "connector"
	MetaTenant      = "tenant"
	MetaDeviceID    = engine.MetaDeviceID
	MetaPath        = "path"
	MetaRemoteAddr  = "remoteAddr"
	MetaReceivedAt  = "receivedAt"
	MetaContentType = "contentType"
)

// reserved reports whether the connector sets a metadata key itself: header
// mappings must not overwrite it.
func reserved(key string) bool {
	switch key {
	case MetaConnector, MetaTenant, MetaDeviceID, MetaPath, MetaRemoteAddr, MetaReceivedAt, MetaContentType:
		return true
	}
	return false
}

func init() {
	spec.Register(inSpec, engine.SourceNode{NodeType: InType})
	engine.RegisterSource(InType, newSource)
}

// pathRE is an ingest path: segments of unreserved URL characters, no
// leading or trailing slash, so that two spellings never name one path.
var pathRE = regexp.MustCompile(`^[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*$`)

// metaKeyRE is a metadata key that ${metadata.key} templates can name.
var metaKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var inSpec = &spec.Node{
	Type:     InType,
	Category: "connectors",
	Summary:  "Receive device requests over HTTP at /ingest/{path} on the API server's port.",
	Source:   true,
	Doc: "Devices `POST` (or `PUT`) to `/ingest/{path}` on the API server's address. A device authenticates with its token in " +
		"`Authorization: Bearer TOKEN`, `X-Device-Token: TOKEN` or `?token=TOKEN`; an unknown or wrong token answers `401`, a device " +
		"of another tenant `403`, and neither reaches the flow. With `auth: none` (trusted networks only) no token is asked and " +
		"`X-Device-Id` or `?deviceId=` names the device.\n\n" +
		"The body becomes the message's payload, `msg.Type` `RAW`: `application/json` (checked) is `JSON`, `text/*` is `TEXT`, other " +
		"types are `BINARY` (base64 in the payload); with no content type (or curl's default form type) JSON is detected, else text, " +
		"else binary. Compressed bodies (`Content-Encoding`) are refused with `415`.\n\n" +
		"In `async` mode (default) the answer is `202 Accepted` with `{\"msgId\"}` as soon as the flow admitted the message; a flow at " +
		"its in-flight limit answers `503` with `Retry-After` at once (fail fast: the device retries, nothing is dropped silently). In " +
		"`sync` mode the request waits for the flow: `200` with the payload of the last branch that ended, `502` when the flow failed, " +
		"`504` when it took longer than `syncTimeout`.\n\n" +
		"Limits: `maxBodySize` (`413`; the server's own body limit caps it), a per-device token-bucket rate limit (`429` with " +
		"`Retry-After`), and the server's read timeout for slow senders. Metadata: `connector`, `tenant`, `deviceId` (when known), " +
		"`path`, `remoteAddr`, `receivedAt`, `contentType`, plus the headers mapped by `headers`.",
	Fields: []*spec.Field{
		{Name: "path", Type: spec.String, Required: true, Exclusive: "ingestPath",
			Help:    "Path below /ingest/ that this node serves, without leading slash; one flow per path. Letters, digits, `-._~` and `/` between segments.",
			Example: "boiler-room/telemetry"},
		{Name: "auth", Type: spec.Enum, Enum: []string{"token", "none"}, Default: "token",
			Help: "`token`: each device sends its own token from the device registry. `none`: no authentication, for trusted networks only."},
		{Name: "mode", Type: spec.Enum, Enum: []string{"async", "sync"}, Default: "async",
			Help: "`async`: answer 202 once the message is admitted. `sync`: wait for the flow and answer with its result."},
		{Name: "syncTimeout", Type: spec.Duration, Default: "30s", Min: spec.Num(0.001), Max: spec.Num(600),
			Help: "In sync mode, how long a request waits for the flow before it answers 504."},
		{Name: "maxBodySize", Type: spec.Int, Default: 1 << 20, Min: spec.Num(1),
			Help: "Largest accepted body in bytes; larger answers 413. The server's body limit (4 MiB by default) applies first."},
		{Name: "rateLimit", Type: spec.Float, Default: 20.0, Min: spec.Num(0),
			Help: "Requests per second each device may make (its remote address when the device is unknown); more answers 429. 0 turns the limit off."},
		{Name: "rateBurst", Type: spec.Int, Default: 40, Min: spec.Num(1),
			Help: "Requests a device may make at once above the rate (the token bucket's size)."},
		{Name: "headers", Type: spec.Map, Default: map[string]any{}, Advanced: true,
			Help:    "Request headers copied into metadata: header name → metadata key.",
			Example: map[string]any{"X-Request-Id": "requestId", "X-Firmware": "firmware"}},
	},
	Relations: spec.Relations{Fixed: []string{types.Success}},
	Examples: []spec.Example{
		{Title: "Telemetry with device tokens", Config: map[string]any{"path": "boiler-room/telemetry"}},
		{Title: "Request/response: answer with the flow's result", Config: map[string]any{"path": "commands", "mode": "sync", "syncTimeout": "5s"}},
		{Title: "Trusted network gateway, no tokens, higher rate", Config: map[string]any{
			"path": "gateway", "auth": "none", "rateLimit": 500.0, "rateBurst": 1000,
			"headers": map[string]any{"X-Request-Id": "requestId"}}},
	},
	Validate: validateIn,
}

func validateIn(cfg map[string]any) spec.Problems {
	var ps spec.Problems
	if p, _ := cfg["path"].(string); !pathRE.MatchString(p) {
		ps = append(ps, spec.Problem{Field: "path", Message: "want segments of letters, digits and -._~ separated by /, without leading or trailing slash, e.g. \"boiler-room/telemetry\""})
	}
	ps = append(ps, validateHeaderMap(cfg, "headers")...)
	return ps
}

// validateHeaderMap checks a header name → metadata key map field.
func validateHeaderMap(cfg map[string]any, field string) spec.Problems {
	var ps spec.Problems
	m, _ := cfg[field].(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, h := range keys {
		key, _ := m[h].(string)
		switch {
		case !validHeaderName(h):
			ps = append(ps, spec.Problem{Field: field + "." + h, Message: "not a valid header name"})
		case !metaKeyRE.MatchString(key):
			ps = append(ps, spec.Problem{Field: field + "." + h, Message: fmt.Sprintf("metadata key %q: want letters, digits and _, not starting with a digit", key)})
		case reserved(key):
			ps = append(ps, spec.Problem{Field: field + "." + h, Message: fmt.Sprintf("metadata key %q is set by the connector itself", key)})
		}
	}
	return ps
}

func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for _, r := range h {
		if r > 127 || !(r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

type inConfig struct {
	Path        string            `json:"path"`
	Auth        string            `json:"auth"`
	Mode        string            `json:"mode"`
	SyncTimeout spec.JSONDuration `json:"syncTimeout"`
	MaxBodySize int               `json:"maxBodySize"`
	RateLimit   float64           `json:"rateLimit"`
	RateBurst   int               `json:"rateBurst"`
	Headers     map[string]string `json:"headers"`
}

// source is the runtime of an httpIn node.
type source struct {
	sc      engine.SourceContext
	cfg     inConfig
	log     *slog.Logger
	limiter *limiter
	headers [][2]string // canonical header name, metadata key
	stats   Stats
	gate    gate

	base   context.Context // cancelled by Stop: sync waits give up
	cancel context.CancelFunc
	remove func()
}

var _ engine.Source = (*source)(nil)

func newSource(sc engine.SourceContext, raw map[string]any) (engine.Source, error) {
	var cfg inConfig
	if err := inSpec.Decode(raw, &cfg); err != nil {
		return nil, fmt.Errorf("httpIn: %w", err)
	}
	s := &source{sc: sc, cfg: cfg, log: sc.Logger, limiter: newLimiter(cfg.RateLimit, cfg.RateBurst)}
	if s.log == nil {
		s.log = slog.Default()
	}
	for h, key := range cfg.Headers {
		s.headers = append(s.headers, [2]string{textproto.CanonicalMIMEHeaderKey(h), key})
	}
	s.base, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

// RouterOf returns the process's HTTP ingest router (provided under
// RouterKey by the server).
func RouterOf(res *engine.Resources) (*Router, error) {
	return engine.Provided[*Router](res, RouterKey, "the HTTP ingest router")
}

// Start implements engine.Source: it adds the node's path to the router.
func (s *source) Start(context.Context) error {
	r, err := RouterOf(s.sc.Resources)
	if err != nil {
		s.stats.SetState(engine.StateError)
		return fmt.Errorf("httpIn: %w", err)
	}
	remove, err := r.Add(s.cfg.Path, fmt.Sprintf("flow %q, node %q", s.sc.FlowID, s.sc.NodeID), s.handle)
	if err != nil {
		s.stats.SetState(engine.StateError)
		return fmt.Errorf("httpIn: %w", err)
	}
	s.remove = remove
	s.stats.SetState(engine.StateListening)
	s.log.Info("http ingest listening", "path", Prefix+"/"+s.cfg.Path, "mode", s.cfg.Mode, "auth", s.cfg.Auth)
	return nil
}

// Stop implements engine.Source: the path answers 404 from now on; requests
// in progress finish (sync ones until ctx ends, then they answer 503).
func (s *source) Stop(ctx context.Context) error {
	if s.remove != nil {
		s.remove()
	}
	done := s.gate.close()
	err := wait(ctx, done)
	s.cancel()
	if err != nil {
		// Cancelled waits answer at once; give them a moment to do so.
		grace, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if werr := wait(grace, done); werr != nil {
			err = fmt.Errorf("httpIn: stop: requests still running: %w", err)
		} else {
			err = nil
		}
	}
	s.stats.SetState(engine.StateStopped)
	return err
}

// Status implements engine.Source.
func (s *source) Status() engine.SourceStatus { return s.stats.Status() }

// refuse counts a refused request and answers it.
func (s *source) refuse(c *fiber.Ctx, status int, code, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	s.stats.Fail("%s %s from %s: %d %s", c.Method(), c.Path(), c.Context().RemoteAddr(), status, msg)
	s.log.Debug("http ingest: request refused", "path", c.Path(), "remoteAddr", c.Context().RemoteAddr().String(), "status", status, "reason", msg)
	return WriteError(c, status, code, msg)
}

func (s *source) handle(c *fiber.Ctx) error {
	if !s.gate.enter() {
		return WriteError(c, fiber.StatusServiceUnavailable, CodeOverloaded, "this ingest path is stopping; retry")
	}
	defer s.gate.leave()
	s.stats.Conn(1)
	defer s.stats.Conn(-1)
	now := time.Now()

	if m := c.Method(); m != fiber.MethodPost && m != fiber.MethodPut {
		c.Set(fiber.HeaderAllow, "POST, PUT")
		return s.refuse(c, fiber.StatusMethodNotAllowed, CodeMethod, "method %s: send data with POST or PUT", m)
	}
	deviceID, err := s.authenticate(c)
	if err != nil {
		status, code, msg := RefusalStatus(err)
		if status == fiber.StatusServiceUnavailable {
			s.log.Warn("http ingest: device registry did not answer", "error", err)
		}
		if status == fiber.StatusUnauthorized {
			c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="sluice"`)
		}
		return s.refuse(c, status, code, "%s", msg)
	}
	key := deviceID
	if key == "" {
		key = "ip:" + c.IP()
	}
	if ok, after := s.limiter.allow(key, now); !ok {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Max(1, math.Ceil(after.Seconds())))))
		return s.refuse(c, fiber.StatusTooManyRequests, CodeTooManyRequests, "rate limit of %g requests per second exceeded; retry later", s.cfg.RateLimit)
	}
	if enc := c.Get(fiber.HeaderContentEncoding); enc != "" && !strings.EqualFold(enc, "identity") {
		return s.refuse(c, fiber.StatusUnsupportedMediaType, CodeUnsupported, "Content-Encoding %q is not accepted; send the body uncompressed", enc)
	}
	body := c.Request().Body() // raw: Fiber's Body() would inflate compressed bodies
	if len(body) > s.cfg.MaxBodySize {
		return s.refuse(c, fiber.StatusRequestEntityTooLarge, CodeTooLarge, "body of %d bytes is larger than the limit of %d bytes", len(body), s.cfg.MaxBodySize)
	}
	mediaType := mediaTypeOf(c.Get(fiber.HeaderContentType))
	dataType, data, err := payload(mediaType, body)
	if err != nil {
		return s.refuse(c, fiber.StatusBadRequest, CodeBadRequest, "%s", err.Error())
	}

	// Fiber's strings point into fasthttp's buffers unless the app is
	// Immutable: clone what outlives the request.
	md := make(map[string]string, 7+len(s.headers))
	for _, h := range s.headers {
		if v := c.Get(h[0]); v != "" {
			md[h[1]] = strings.Clone(v)
		}
	}
	md[MetaConnector] = InType
	md[MetaTenant] = s.sc.Tenant
	md[MetaPath] = strings.Clone(c.Path())
	md[MetaRemoteAddr] = c.Context().RemoteAddr().String()
	md[MetaReceivedAt] = now.UTC().Format(time.RFC3339Nano)
	if mediaType != "" {
		md[MetaContentType] = strings.Clone(mediaType)
	}
	if deviceID != "" {
		md[MetaDeviceID] = deviceID
	}
	msg := engine.Message{ID: uuid.NewString(), Ts: now.UnixMilli(), Type: "RAW", DataType: dataType, Data: data, Metadata: md}
	c.Set("X-Message-Id", msg.ID)

	if s.cfg.Mode != "sync" {
		if _, err := s.sc.In.Submit(s.base, msg, engine.SubmitOptions{FailFast: true}); err != nil {
			return s.submitError(c, err)
		}
		s.stats.Message(len(body))
		return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"msgId": msg.ID})
	}

	ctx, cancel := context.WithTimeout(s.base, s.cfg.SyncTimeout.D())
	defer cancel()
	r, err := s.sc.In.Submit(ctx, msg, engine.SubmitOptions{Wait: true, FailFast: true})
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			s.stats.Message(len(body)) // admitted: it runs on in the flow
			return s.refuseMsg(c, fiber.StatusGatewayTimeout, CodeTimeout, msg.ID, "no result from the flow within %s; the message may still complete", s.cfg.SyncTimeout.D())
		}
		return s.submitError(c, err)
	}
	s.stats.Message(len(body))
	switch r.Status {
	case engine.StatusCompleted:
		return respond(c, r)
	case engine.StatusFailed:
		return s.refuseMsg(c, fiber.StatusBadGateway, CodeFlowFailed, r.MsgID, "the flow failed: %s", r.Error)
	default:
		return s.refuseMsg(c, fiber.StatusGatewayTimeout, CodeTimeout, r.MsgID, "the flow timed out: %s", r.Error)
	}
}

// refuseMsg answers a sync request whose message did not complete.
func (s *source) refuseMsg(c *fiber.Ctx, status int, code, msgID, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	s.stats.Fail("message %s from %s: %s", msgID, c.Context().RemoteAddr(), msg)
	return c.Status(status).JSON(ErrorBody{Error: ErrorInfo{Code: code, Message: msg, MsgID: msgID}})
}

// submitError answers a message the flow did not admit.
func (s *source) submitError(c *fiber.Ctx, err error) error {
	c.Set(fiber.HeaderRetryAfter, "1")
	switch {
	case errors.Is(err, engine.ErrOverloaded):
		return s.refuse(c, fiber.StatusServiceUnavailable, CodeOverloaded, "the flow is at its in-flight limit; retry later")
	case errors.Is(err, engine.ErrNotDeployed), errors.Is(err, engine.ErrStopping), errors.Is(err, context.Canceled):
		return s.refuse(c, fiber.StatusServiceUnavailable, CodeOverloaded, "the flow is not running; retry later")
	}
	s.log.Warn("http ingest: submit failed", "path", c.Path(), "error", err)
	return s.refuse(c, fiber.StatusServiceUnavailable, CodeOverloaded, "the flow did not accept the message: %v", err)
}

// respond answers a completed sync request with the payload of the last
// branch that ended.
func respond(c *fiber.Ctx, r *engine.Result) error {
	if len(r.Ends) == 0 {
		return c.SendStatus(fiber.StatusNoContent)
	}
	m := r.Ends[len(r.Ends)-1].Msg
	c.Status(fiber.StatusOK)
	switch m.DataType {
	case string(types.BINARY):
		if b, err := base64.StdEncoding.DecodeString(m.Data); err == nil {
			c.Set(fiber.HeaderContentType, fiber.MIMEOctetStream)
			return c.Send(b)
		}
		c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
	case string(types.TEXT):
		c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
	default:
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	}
	return c.SendString(m.Data)
}

// refusal is a request refused before it reached the flow.
type refusal struct {
	status    int
	code, msg string
}

func (r *refusal) Error() string { return r.msg }

// authenticate returns the requesting device's id ("" when unknown).
func (s *source) authenticate(c *fiber.Ctx) (string, error) {
	if s.cfg.Auth == "none" {
		if id := c.Get("X-Device-Id"); id != "" {
			return strings.Clone(id), nil
		}
		return strings.Clone(c.Query("deviceId")), nil
	}
	dev, err := Authenticate(s.base, s.sc.Devices, s.sc.Tenant, DeviceToken(c))
	if err != nil {
		return "", err
	}
	return dev.ID, nil
}

// authTimeout bounds a device registry lookup.
const authTimeout = 5 * time.Second

// Authenticate checks a device token against the registry for a source of
// tenant. A refusal is a *refusal error with its status: 401 for a missing,
// unknown or wrong token (or no registry), 403 for a device of another
// tenant; other errors mean the registry did not answer.
func Authenticate(ctx context.Context, devices engine.DeviceAuth, tenant, token string) (engine.Device, error) {
	ctx, cancel := context.WithTimeout(ctx, authTimeout)
	defer cancel()
	dev, err := engine.AuthenticateDevice(ctx, devices, tenant, token)
	switch {
	case err == nil:
		return dev, nil
	case token == "":
		return engine.Device{}, &refusal{fiber.StatusUnauthorized, CodeUnauthorized, "missing device token: send Authorization: Bearer TOKEN, X-Device-Token: TOKEN or ?token=TOKEN"}
	case devices == nil:
		return engine.Device{}, &refusal{fiber.StatusUnauthorized, CodeUnauthorized, "device authentication is not available on this server"}
	case errors.Is(err, engine.ErrOtherTenant):
		return engine.Device{}, &refusal{fiber.StatusForbidden, CodeForbidden, fmt.Sprintf("device %q may not send to this path: it belongs to another tenant", dev.ID)}
	case errors.Is(err, engine.ErrUnauthorized):
		return engine.Device{}, &refusal{fiber.StatusUnauthorized, CodeUnauthorized, "unknown or wrong device token"}
	default:
		return engine.Device{}, fmt.Errorf("device registry: %w", err)
	}
}

// RefusalStatus returns the HTTP status, code and message of an
// Authenticate error: its refusal's, or 503 when the registry did not answer
// (the message then hides the registry's error: log that one).
func RefusalStatus(err error) (status int, code, msg string) {
	var r *refusal
	if errors.As(err, &r) {
		return r.status, r.code, r.msg
	}
	return fiber.StatusServiceUnavailable, CodeOverloaded, "device authentication is unavailable; retry later"
}

// mediaTypeOf returns the lower-case media type of a Content-Type header.
func mediaTypeOf(ct string) string {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	return strings.ToLower(strings.TrimSpace(ct))
}

// payload turns a body into a message payload and its data type.
func payload(mediaType string, body []byte) (dataType, data string, err error) {
	switch {
	case mediaType == fiber.MIMEApplicationJSON || strings.HasSuffix(mediaType, "+json"):
		if !json.Valid(body) {
			return "", "", errors.New("body is not valid JSON (Content-Type says JSON)")
		}
		return string(types.JSON), string(body), nil
	case strings.HasPrefix(mediaType, "text/") || mediaType == fiber.MIMEApplicationXML:
		if !utf8.Valid(body) {
			return "", "", errors.New("text body is not valid UTF-8; send binary data as application/octet-stream")
		}
		return string(types.TEXT), string(body), nil
	case mediaType == "" || mediaType == fiber.MIMEApplicationForm:
		return Sniff(body)
	default:
		return string(types.BINARY), base64.StdEncoding.EncodeToString(body), nil
	}
}

// Sniff chooses the data type of an undeclared payload: JSON when it parses,
// else text when it is UTF-8, else binary (base64).
func Sniff(b []byte) (dataType, data string, err error) {
	switch {
	case len(b) > 0 && json.Valid(b):
		return string(types.JSON), string(b), nil
	case utf8.Valid(b):
		return string(types.TEXT), string(b), nil
	default:
		return string(types.BINARY), base64.StdEncoding.EncodeToString(b), nil
	}
}
