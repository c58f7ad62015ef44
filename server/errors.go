package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/flows"
	"github.com/sluicehq/sluice/store"
)

// Error codes of the API's error body.
const (
	CodeBadRequest      = "bad_request"
	CodeUnauthorized    = "unauthorized"
	CodeForbidden       = "forbidden"
	CodeNotFound        = "not_found"
	CodeMethod          = "method_not_allowed"
	CodeConflict        = "conflict"
	CodeNotDeployed     = "not_deployed"
	CodeValidation      = "validation_failed"
	CodeOverloaded      = "overloaded"
	CodeTimeout         = "timeout"
	CodeUpgradeRequired = "upgrade_required"
	CodeTooLarge        = "payload_too_large"
	CodeInternal        = "internal"
)

// ErrorBody is the JSON body of every error answer:
//
//	{"error":{"code","message","details":[{"severity","flow","node","field","message"}]}}
type ErrorBody struct {
	Error ErrorInfo `json:"error"`
}

// ErrorInfo is the error object of ErrorBody.
type ErrorInfo struct {
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Details spec.Problems `json:"details,omitempty"`
	// CurrentVersion is set on a version conflict: the latest stored version.
	CurrentVersion int `json:"currentVersion,omitempty"`
	// Diff is set on a version conflict: what changed since the base version.
	Diff *flows.Diff `json:"diff,omitempty"`
}

// apiError is an error with its HTTP status and body.
type apiError struct {
	status int
	info   ErrorInfo
	cause  error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.info.Message + ": " + e.cause.Error()
	}
	return e.info.Message
}

func (e *apiError) Unwrap() error { return e.cause }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, info: ErrorInfo{Code: code, Message: fmt.Sprintf(format, args...)}}
}

func badRequest(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, CodeBadRequest, format, args...)
}

func notFound(format string, args ...any) *apiError {
	return newError(http.StatusNotFound, CodeNotFound, format, args...)
}

func unauthorized(format string, args ...any) *apiError {
	return newError(http.StatusUnauthorized, CodeUnauthorized, format, args...)
}

// validationError answers 422 with the problems as details.
func validationError(message string, ps spec.Problems) *apiError {
	e := newError(http.StatusUnprocessableEntity, CodeValidation, "%s", message)
	e.info.Details = ps
	return e
}

// toAPIError maps an error of the store, flows or engine packages to its
// HTTP status and body. Errors it does not know are internal (500).
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		return newError(fe.Code, codeOfStatus(fe.Code), "%s", lowerFirst(fe.Message))
	}
	var ps spec.Problems
	if errors.As(err, &ps) {
		return validationError("the flow has errors", ps)
	}
	var fc *flows.ConflictError
	if errors.As(err, &fc) {
		e := newError(http.StatusConflict, CodeConflict,
			"version conflict: the flow changed since the base version; latest is %d", fc.Current)
		e.info.CurrentVersion = fc.Current
		d := fc.Changes
		e.info.Diff = &d
		e.info.Details = diffProblems(d)
		e.cause = err
		return e
	}
	var sc *store.ConflictError
	if errors.As(err, &sc) {
		e := newError(http.StatusConflict, CodeConflict, "%s", err.Error())
		e.info.CurrentVersion = sc.Current
		e.cause = err
		return e
	}
	var br *flows.BadRequestError
	if errors.As(err, &br) {
		e := badRequest("%s", err.Error())
		e.cause = err
		return e
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		e := badRequest("invalid JSON: %s", err.Error())
		e.cause = err
		return e
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		e := notFound("%s", err.Error())
		e.cause = err
		return e
	case errors.Is(err, store.ErrExists):
		e := newError(http.StatusConflict, CodeConflict, "%s", err.Error())
		e.cause = err
		return e
	case errors.Is(err, engine.ErrNotDeployed):
		e := newError(http.StatusConflict, CodeNotDeployed, "%s", err.Error())
		e.cause = err
		return e
	case errors.Is(err, engine.ErrOverloaded), errors.Is(err, engine.ErrStopping):
		e := newError(http.StatusServiceUnavailable, CodeOverloaded, "%s", err.Error())
		e.cause = err
		return e
	case errors.Is(err, context.Canceled):
		e := newError(http.StatusServiceUnavailable, CodeOverloaded, "the server is shutting down")
		e.cause = err
		return e
	case errors.Is(err, engine.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		e := newError(http.StatusGatewayTimeout, CodeTimeout, "%s", err.Error())
		e.cause = err
		return e
	}
	return &apiError{status: http.StatusInternalServerError, info: ErrorInfo{Code: CodeInternal, Message: "internal error"}, cause: err}
}

// diffProblems lists what changed since a base version in the problem shape,
// so that the designer can badge the nodes another edit touched.
func diffProblems(d flows.Diff) spec.Problems {
	var ps spec.Problems
	add := func(node, field, msg string) {
		ps = append(ps, spec.Problem{Severity: spec.Warning, Node: node, Field: field, Message: msg})
	}
	for _, f := range d.Changed {
		add("", f, "changed by another edit")
	}
	for _, n := range d.Nodes.Added {
		add(n.ID, "", "node added by another edit")
	}
	for _, n := range d.Nodes.Removed {
		add(n.ID, "", "node removed by another edit")
	}
	for _, c := range d.Nodes.Changed {
		for _, f := range c.Fields {
			add(c.ID, f.Field, "changed by another edit")
		}
	}
	for _, c := range d.Connections.Added {
		add(c.FromID, "", fmt.Sprintf("connection %s -[%s]-> %s added by another edit", c.FromID, c.Type, c.ToID))
	}
	for _, c := range d.Connections.Removed {
		add(c.FromID, "", fmt.Sprintf("connection %s -[%s]-> %s removed by another edit", c.FromID, c.Type, c.ToID))
	}
	return ps
}

func codeOfStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return CodeBadRequest
	case http.StatusUnauthorized:
		return CodeUnauthorized
	case http.StatusForbidden:
		return CodeForbidden
	case http.StatusNotFound:
		return CodeNotFound
	case http.StatusMethodNotAllowed:
		return CodeMethod
	case http.StatusConflict:
		return CodeConflict
	case http.StatusUnprocessableEntity:
		return CodeValidation
	case http.StatusServiceUnavailable:
		return CodeOverloaded
	case http.StatusUpgradeRequired:
		return CodeUpgradeRequired
	case http.StatusRequestEntityTooLarge:
		return CodeTooLarge
	case http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return CodeTimeout
	}
	if status >= 500 {
		return CodeInternal
	}
	return CodeBadRequest
}

func lowerFirst(s string) string {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return s
	}
	return string(s[0]+('a'-'A')) + s[1:]
}

// errorHandler is Fiber's error handler: every error becomes the JSON error
// body; internal errors are logged, never shown.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	ae := toAPIError(err)
	if ae.status >= 500 && ae.status != http.StatusServiceUnavailable && ae.status != http.StatusGatewayTimeout {
		s.log.Error("request failed", "method", c.Method(), "path", c.Path(), "err", err)
	}
	return c.Status(ae.status).JSON(ErrorBody{Error: ae.info})
}
