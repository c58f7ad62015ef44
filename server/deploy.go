package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

// DeployAnswer is the answer of deploy and undeploy.
type DeployAnswer struct {
	ID       string        `json:"id"`
	Version  int           `json:"version"`
	Deployed bool          `json:"deployed"`
	Warnings spec.Problems `json:"warnings,omitempty"`
}

func (s *Server) deployFlow(c *fiber.Ctx) error {
	p := principalOf(c)
	id := c.Params("id")
	version, err := intQuery(c, "version", 0)
	if err != nil {
		return err
	}
	if version < 0 {
		return badRequest("deploy flow %q: query version: want a version of at least 1", id)
	}
	ctx, cancel := s.requestContext()
	defer cancel()
	s.deployMu.Lock()
	defer s.deployMu.Unlock()
	if err := s.checkOwner(p.Tenant, id); err != nil {
		return err
	}
	if version == 0 {
		latest, err := s.flows.Get(ctx, p.Tenant, id)
		if err != nil {
			return fmt.Errorf("deploy flow %q: %w", id, err)
		}
		version = latest.Version
	}
	f, err := s.flows.Runtime(ctx, p.Tenant, id, version)
	if err != nil {
		return fmt.Errorf("deploy flow %q version %d: %w", id, version, err)
	}
	ps := s.engine.Validate(f)
	if ps.HasErrors() {
		return validationError(fmt.Sprintf("deploy flow %q version %d: the flow has errors; the running version keeps running", id, version), ps)
	}
	if err := s.engine.Deploy(ctx, p.Tenant, f, version); err != nil {
		var eps spec.Problems
		if errors.As(err, &eps) {
			return validationError(fmt.Sprintf("deploy flow %q version %d: the flow has errors; the running version keeps running", id, version), eps)
		}
		return fmt.Errorf("deploy flow %q version %d: %w", id, version, err)
	}
	if err := s.db.Flows().SetDeployed(ctx, p.Tenant, id, version); err != nil {
		return fmt.Errorf("deploy flow %q version %d: record deployment: %w", id, version, err)
	}
	s.log.Info("flow deployed", "flow", id, "version", version, "tenant", p.Tenant, "user", p.Username, "warnings", len(ps))
	return c.JSON(DeployAnswer{ID: id, Version: version, Deployed: true, Warnings: ps})
}

func (s *Server) undeployFlow(c *fiber.Ctx) error {
	p := principalOf(c)
	id := c.Params("id")
	ctx, cancel := s.requestContext()
	defer cancel()
	s.deployMu.Lock()
	defer s.deployMu.Unlock()
	if _, err := s.flows.Get(ctx, p.Tenant, id); err != nil {
		return fmt.Errorf("undeploy flow %q: %w", id, err)
	}
	d, running := s.deployedFlow(p.Tenant, id)
	if running {
		if err := s.engine.Undeploy(ctx, id); err != nil && !errors.Is(err, engine.ErrNotDeployed) {
			return fmt.Errorf("undeploy flow %q: %w", id, err)
		}
	}
	// Clear the record even when the engine did not run it (a deployed
	// version that failed to restore), so that it is not restored again.
	if err := s.db.Flows().SetDeployed(ctx, p.Tenant, id, 0); err != nil {
		return fmt.Errorf("undeploy flow %q: %w", id, err)
	}
	if !running {
		return newError(http.StatusConflict, CodeNotDeployed, "undeploy flow %q: flow is not deployed", id)
	}
	s.log.Info("flow undeployed", "flow", id, "version", d.Version, "tenant", p.Tenant, "user", p.Username)
	return c.JSON(DeployAnswer{ID: id, Version: d.Version, Deployed: false})
}

// StatusAnswer is the answer of GET /api/v1/flows/{id}/status.
type StatusAnswer struct {
	ID            string `json:"id"`
	LatestVersion int    `json:"latestVersion"`
	// Deployed says whether the engine runs the flow now; Version is the
	// version it runs.
	Deployed bool       `json:"deployed"`
	Version  int        `json:"version,omitempty"`
	Since    *time.Time `json:"since,omitempty"`
	// RecordedVersion is the deployed version in the store: the one that
	// is restored after a restart (0: none).
	RecordedVersion int `json:"recordedVersion"`
	// Stats are the engine's counters for the flow.
	Stats any `json:"stats,omitempty"`
}

func (s *Server) flowStatus(c *fiber.Ctx) error {
	p := principalOf(c)
	id := c.Params("id")
	ctx := c.UserContext()
	latest, err := s.flows.Get(ctx, p.Tenant, id)
	if err != nil {
		return fmt.Errorf("flow %q status: %w", id, err)
	}
	out := StatusAnswer{ID: id, LatestVersion: latest.Version}
	sums, err := s.flows.List(ctx, p.Tenant)
	if err != nil {
		return fmt.Errorf("flow %q status: %w", id, err)
	}
	for _, sum := range sums {
		if sum.FlowID == id {
			out.RecordedVersion = sum.DeployedVersion
		}
	}
	if d, ok := s.deployedFlow(p.Tenant, id); ok {
		out.Deployed = true
		out.Version = d.Version
		since := d.Since
		out.Since = &since
		out.Stats = s.flowStats(id)
	}
	return c.JSON(out)
}

// MessageRequest is a message in the API: the body of an injection and the
// message of a test run.
type MessageRequest struct {
	ID       string            `json:"id,omitempty"`
	Type     string            `json:"type"`
	DataType string            `json:"dataType,omitempty"`
	Data     rawData           `json:"data"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

func (m MessageRequest) message() (engine.Message, error) {
	if m.Type == "" {
		return engine.Message{}, badRequest("message: type is required (for example \"TELEMETRY\")")
	}
	switch m.DataType {
	case "", "JSON", "TEXT", "BINARY":
	default:
		return engine.Message{}, badRequest("message: dataType: want JSON, TEXT or BINARY, got %q", m.DataType)
	}
	dt := m.DataType
	if dt == "" {
		dt = "JSON"
	}
	return engine.Message{ID: m.ID, Type: m.Type, DataType: dt, Data: string(m.Data), Metadata: m.Metadata}, nil
}

// rawData accepts a message's data as a JSON string (taken as is) or as any
// other JSON value (taken as its JSON text), so that
// {"data":{"temperature":21}} and {"data":"{\"temperature\":21}"} are the same.
type rawData string

func (d *rawData) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*d = rawData(s)
		return nil
	}
	if string(b) == "null" {
		*d = ""
		return nil
	}
	*d = rawData(b)
	return nil
}

// InjectAnswer is the answer of POST /api/v1/flows/{id}/messages without
// ?wait=true.
type InjectAnswer struct {
	MsgID    string `json:"msgId,omitempty"`
	Accepted bool   `json:"accepted"`
}

func (s *Server) injectMessage(c *fiber.Ctx) error {
	var req MessageRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	msg, err := req.message()
	if err != nil {
		return err
	}
	wait, err := boolQuery(c, "wait")
	if err != nil {
		return err
	}
	p := principalOf(c)
	id := c.Params("id")
	if !s.deployedIn(p.Tenant, id) {
		if _, err := s.flows.Get(c.UserContext(), p.Tenant, id); err != nil {
			return fmt.Errorf("inject into flow %q: %w", id, err)
		}
		return newError(http.StatusConflict, CodeNotDeployed, "inject into flow %q: flow is not deployed", id)
	}
	if msg.ID == "" {
		if msg.ID, err = newMessageID(); err != nil {
			return err
		}
	}
	ctx, cancel := s.requestContext()
	defer cancel()
	res, err := s.engine.Submit(ctx, id, msg, engine.SubmitOptions{Wait: wait, FailFast: true})
	if err != nil {
		return fmt.Errorf("inject into flow %q: %w", id, err)
	}
	if wait {
		return c.JSON(res)
	}
	return c.Status(http.StatusAccepted).JSON(InjectAnswer{MsgID: msg.ID, Accepted: true})
}

// TestRequest is the body of POST /api/v1/flows/{id}/test.
type TestRequest struct {
	Message   MessageRequest `json:"message"`
	StartNode string         `json:"startNode,omitempty"`
	// Draft is a flow document to test instead of the saved latest version.
	Draft       json.RawMessage `json:"draft,omitempty"`
	SideEffects bool            `json:"sideEffects,omitempty"`
}

func (s *Server) testFlow(c *fiber.Ctx) error {
	var req TestRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	msg, err := req.Message.message()
	if err != nil {
		return err
	}
	p := principalOf(c)
	id := c.Params("id")
	ctx, cancel := s.requestContext()
	defer cancel()
	var f *engine.Flow
	if len(req.Draft) > 0 && string(req.Draft) != "null" {
		f, err = s.draftRuntime(ctx, p.Tenant, id, req.Draft)
		if err != nil {
			return err
		}
	} else {
		f, err = s.flows.Runtime(ctx, p.Tenant, id, 0)
		if err != nil {
			return fmt.Errorf("test flow %q: %w", id, err)
		}
	}
	if req.StartNode != "" {
		if _, ok := f.NodeByID(req.StartNode); !ok {
			return badRequest("test flow %q: startNode: no node %q in the flow", id, req.StartNode)
		}
	}
	res, err := s.engine.Test(ctx, p.Tenant, f, msg, req.StartNode, req.SideEffects)
	if err != nil {
		var ps spec.Problems
		if errors.As(err, &ps) {
			return validationError(fmt.Sprintf("test flow %q: the flow has errors", id), ps)
		}
		return fmt.Errorf("test flow %q: %w", id, err)
	}
	out := TestAnswer{MsgID: res.Result.MsgID, Status: string(res.Result.Status), Error: res.Result.Error,
		Trace: res.Trace, Outputs: res.Result.Ends, Problems: res.Problems}
	if out.Trace == nil {
		out.Trace = []engine.TraceEvent{}
	}
	if out.Outputs == nil {
		out.Outputs = []engine.End{}
	}
	return c.JSON(out)
}

// TestAnswer is the answer of POST /api/v1/flows/{id}/test: the whole
// ordered trace and where each branch of the message ended.
type TestAnswer struct {
	MsgID  string `json:"msgId"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// Trace lists every node event in order.
	Trace []engine.TraceEvent `json:"trace"`
	// Outputs are the ends of the message's branches: the node, the
	// relation and the message as it left.
	Outputs []engine.End `json:"outputs"`
	// Problems are the flow's warnings.
	Problems spec.Problems `json:"problems,omitempty"`
}

// checkOwner refuses to touch a flow id that another tenant runs: the
// engine knows flows by id only.
func (s *Server) checkOwner(tenant, id string) error {
	for _, d := range s.engine.Deployed() {
		if d.FlowID == id && d.Tenant != tenant {
			return newError(http.StatusConflict, CodeConflict, "flow id %q is deployed by another tenant; choose another id", id)
		}
	}
	return nil
}

// newMessageID is a random UUID (version 4), so that the caller of an
// injection without ?wait=true can find its message in the trace.
func newMessageID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("message id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:]), nil
}

// draftRuntime parses a draft flow for a test run. Its id must be the URL's
// (an empty id takes it); masked secrets take the saved flow's values.
func (s *Server) draftRuntime(ctx context.Context, tenant, id string, doc []byte) (*engine.Flow, error) {
	f, err := engine.ParseFlow(doc)
	if err != nil {
		return nil, badRequest("test flow %q: draft: %s", id, err.Error())
	}
	if f.RuleChain.ID == "" {
		f.RuleChain.ID = id
	}
	if f.RuleChain.ID != id {
		return nil, badRequest("test flow %q: draft: ruleChain.id is %q, want %q", id, f.RuleChain.ID, id)
	}
	// Secrets sent back masked take the values stored with the saved flow.
	rf, err := s.flows.RuntimeDraft(ctx, tenant, id, f)
	if err != nil {
		return nil, fmt.Errorf("test flow %q: draft: %w", id, err)
	}
	return rf, nil
}

// flowStats returns the engine's counters for a deployed flow.
func (s *Server) flowStats(id string) any {
	st, err := s.engine.Status(id)
	if err != nil {
		return nil
	}
	return st
}
