// Package http is the HTTP-in connector: devices POST readings to the API
// server's own port under /ingest/{path}, and the httpIn source of the flow
// that claims the path submits each request body into the flow.
//
// Fiber cannot remove routes at run time, so the server mounts one catch-all
// route (server.MountIngest) that dispatches to a Router; httpIn sources add
// their path to the Router when they start and remove it when they stop.
package http

import (
	"fmt"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
)

// RouterKey is the key under which the process provides the HTTP ingest
// Router in the engine's Resources (engine.Resources.Provide).
const RouterKey = "http.ingest.router"

// Router maps ingest paths (below the mount prefix, without a leading slash)
// to the handlers of the sources that serve them. It is safe for concurrent
// use; a nil *Router serves nothing.
type Router struct {
	mu     sync.RWMutex
	routes map[string]*route
}

type route struct {
	owner   string
	handler fiber.Handler
}

// NewRouter returns an empty router.
func NewRouter() *Router { return &Router{routes: map[string]*route{}} }

// CleanPath trims the slashes around an ingest path: "/boiler/" and "boiler"
// are the same path.
func CleanPath(p string) string { return strings.Trim(p, "/") }

// Add serves path with h until the returned remove function is called. owner
// names who serves it (flow and node), for the error when the path is taken.
// Removing twice, or after another owner took the path, does nothing.
func (r *Router) Add(path, owner string, h fiber.Handler) (remove func(), err error) {
	path = CleanPath(path)
	if path == "" {
		return nil, fmt.Errorf("add ingest route: empty path")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if cur, ok := r.routes[path]; ok {
		return nil, fmt.Errorf("add ingest route: path %q is already served by %s", path, cur.owner)
	}
	rt := &route{owner: owner, handler: h}
	r.routes[path] = rt
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.routes[path] == rt {
				delete(r.routes, path)
			}
		})
	}, nil
}

// Lookup returns the handler serving path, or nil.
func (r *Router) Lookup(path string) fiber.Handler {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	rt := r.routes[CleanPath(path)]
	r.mu.RUnlock()
	if rt == nil {
		return nil
	}
	return rt.handler
}

// Paths returns the served paths, for diagnostics.
func (r *Router) Paths() []string {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.routes))
	for p := range r.routes {
		out = append(out, p)
	}
	return out
}

// ErrorBody is the JSON body of an error answer, the same shape as the API's:
//
//	{"error":{"code":"unauthorized","message":"..."}}
type ErrorBody struct {
	Error ErrorInfo `json:"error"`
}

// ErrorInfo is the error object of ErrorBody.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// MsgID names the message, when one was admitted (sync mode failures).
	MsgID string `json:"msgId,omitempty"`
}

// Error codes of ingest answers (the API's codes where they overlap).
const (
	CodeBadRequest      = "bad_request"
	CodeUnauthorized    = "unauthorized"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeMethod          = "method_not_allowed"
	CodeTooLarge        = "payload_too_large"
	CodeUnsupported     = "unsupported_media_type"
	CodeTooManyRequests = "too_many_requests"
	CodeOverloaded      = "overloaded"
	CodeFlowFailed      = "flow_failed"
	CodeTimeout         = "timeout"
	CodeUpgradeRequired = "upgrade_required"
)

// WriteError answers with status and the JSON error body.
func WriteError(c *fiber.Ctx, status int, code, message string) error {
	return c.Status(status).JSON(ErrorBody{Error: ErrorInfo{Code: code, Message: message}})
}

// DeviceToken returns the device token of a request: the bearer token of the
// Authorization header, else the X-Device-Token header, else ?token=. The
// string is a copy: it may outlive the request.
func DeviceToken(c *fiber.Ctx) string {
	if a := c.Get(fiber.HeaderAuthorization); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return strings.Clone(strings.TrimSpace(a[7:]))
	}
	if t := c.Get("X-Device-Token"); t != "" {
		return strings.Clone(t)
	}
	return strings.Clone(c.Query("token"))
}
