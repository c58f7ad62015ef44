package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/nodes/backtest"
)

// BacktestRequest is the body of POST /api/v1/flows/{id}/nodes/{nodeId}/backtest.
type BacktestRequest struct {
	// From (inclusive, required) and To (exclusive, default now): RFC 3339
	// or Unix milliseconds, as a string or a number.
	From json.RawMessage `json:"from"`
	To   json.RawMessage `json:"to,omitempty"`
	// Devices limits the run to these devices (absent: every device the
	// node would see).
	Devices []string `json:"devices,omitempty"`
	// Version is the flow version whose node runs (absent or 0: the latest
	// saved).
	Version int `json:"version,omitempty"`
	// Config replaces the node's saved configuration for this run, so that
	// a setting can be tried before it is saved.
	Config json.RawMessage `json:"config,omitempty"`
}

// BacktestAnswer is the answer of a backtest: which node of which version
// ran, and what it would have done.
type BacktestAnswer struct {
	FlowID  string `json:"flowId"`
	NodeID  string `json:"nodeId"`
	Version int    `json:"version"`
	// Draft is true when the request's config replaced the saved one.
	Draft bool `json:"draft,omitempty"`
	*backtest.Result
}

// bodyTime reads a time of a JSON body, in Unix milliseconds: a number of
// milliseconds, or a string (RFC 3339 or milliseconds) as the telemetry
// API's from and to. ok is false when absent.
func bodyTime(where, name string, raw json.RawMessage) (ms int64, ok bool, err error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	var x any
	if err := json.Unmarshal(raw, &x); err != nil {
		return 0, false, badRequest("%s: %s: %s", where, name, err.Error())
	}
	switch v := x.(type) {
	case float64:
		if v == math.Trunc(v) && v >= float64(minTimeParam) && v <= float64(maxTimeParam) {
			return int64(v), true, nil
		}
	case string:
		ms, err := parseTimeParam(v)
		if err != nil {
			return 0, false, badRequest("%s: %s: %s", where, name, err.Error())
		}
		return ms, true, nil
	}
	return 0, false, badRequest("%s: %s: want RFC 3339 (2025-11-22T10:00:00Z) or Unix milliseconds, got %s", where, name, raw)
}

// backtestRoutes are the routes of the backtest API.
func (s *Server) backtestRoutes() []route {
	return []route{
		{Method: http.MethodPost, Path: APIPrefix + "/flows/:id/nodes/:nodeId/backtest", Tag: "flows", Auth: true, Body: "BacktestRequest",
			Summary: "Run a node's configuration over stored telemetry and return what it would have done (an alarm node: when its alarms would have become active, updated and cleared). " +
				"Body {from, to (RFC 3339 or Unix ms; to defaults to now), devices (optional), version (optional, default latest saved), config (optional: replaces the saved configuration)}.",
			Handler: s.backtestNode},
	}
}

func (s *Server) backtestNode(c *fiber.Ctx) error {
	var req BacktestRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	p := principalOf(c)
	id, nodeID := c.Params("id"), c.Params("nodeId")
	where := fmt.Sprintf("backtest flow %q node %q", id, nodeID)
	from, ok, err := bodyTime(where, "from", req.From)
	if err != nil {
		return err
	}
	if !ok {
		return badRequest("%s: from: required (RFC 3339 or Unix milliseconds)", where)
	}
	to, ok, err := bodyTime(where, "to", req.To)
	if err != nil {
		return err
	}
	if !ok {
		to = time.Now().UnixMilli()
	}
	if req.Version < 0 {
		return badRequest("%s: version: want a version of at least 1, got %d", where, req.Version)
	}
	draft := len(req.Config) > 0 && string(req.Config) != "null"
	var override map[string]any
	if draft {
		if err := json.Unmarshal(req.Config, &override); err != nil || override == nil {
			return badRequest("%s: config: want a JSON object (the node's configuration)", where)
		}
	}
	ctx, cancel := s.requestContext()
	defer cancel()

	// The version as saved (secrets masked), then its runtime form: secrets
	// opened and configs migrated, as a deploy or a test run gets them.
	v, err := s.flows.GetVersion(ctx, p.Tenant, id, req.Version)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	var f *engine.Flow
	if draft {
		nd, ok := v.Flow.NodeByID(nodeID)
		if !ok {
			return notFound("%s: flow %q version %d has no node %q", where, id, v.Version, nodeID)
		}
		nd.Configuration = override
		f, err = s.flows.RuntimeDraft(ctx, p.Tenant, id, v.Flow)
	} else {
		f, err = s.flows.Runtime(ctx, p.Tenant, id, v.Version)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	nd, ok := f.NodeByID(nodeID)
	if !ok {
		return notFound("%s: flow %q version %d has no node %q", where, id, v.Version, nodeID)
	}
	run, ok := backtest.Lookup(nd.Type)
	if !ok {
		types := backtest.Types()
		have := strings.Join(types, ", ")
		if len(types) == 0 {
			have = "none"
		}
		return badRequest("%s: node %s (type %s) has no backtest; backtests exist for: %s", where, nodeID, nd.Type, have)
	}
	reader, err := s.telemetryStore()
	if err != nil {
		return err
	}
	cfg, err := json.Marshal(nd.Configuration)
	if err != nil {
		return fmt.Errorf("%s: encode configuration: %w", where, err)
	}
	if string(cfg) == "null" {
		cfg = []byte("{}")
	}
	res, err := run(ctx, backtest.Request{
		Tenant: p.Tenant, FlowID: id, NodeID: nodeID, NodeType: nd.Type, Config: cfg,
		From: from, To: to, Devices: req.Devices, Reader: reader, Resources: s.engine.Resources(),
	})
	if err != nil {
		return backtestError(where, id, nd, err)
	}
	return c.JSON(BacktestAnswer{FlowID: id, NodeID: nodeID, Version: v.Version, Draft: draft, Result: res})
}

// backtestError answers 400 for a request the backtest refused, with the
// configuration's problems (if any) as details located at the node.
func backtestError(where, flowID string, nd *engine.Node, err error) error {
	if !errors.Is(err, backtest.ErrBadRequest) {
		return fmt.Errorf("%s: %w", where, err)
	}
	msg := strings.TrimPrefix(err.Error(), backtest.ErrBadRequest.Error()+": ")
	e := badRequest("%s: %s", where, msg)
	e.cause = err
	var ps spec.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			p.Flow, p.Node, p.NodeType = flowID, nd.ID, nd.Type
			e.info.Details = append(e.info.Details, p)
		}
	}
	return e
}
