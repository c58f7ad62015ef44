package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/flows"
)

// FlowAnswer is one version of a flow as the API returns it.
type FlowAnswer struct {
	ID        string       `json:"id"`
	Version   int          `json:"version"`
	Name      string       `json:"name"`
	Author    string       `json:"author"`
	Comment   string       `json:"comment,omitempty"`
	CreatedAt time.Time    `json:"createdAt"`
	Flow      *engine.Flow `json:"flow,omitempty"`
	// Problems are the validation problems of this version; a flow with
	// errors can be saved as a draft but not deployed.
	Problems spec.Problems `json:"problems,omitempty"`
}

// FlowSummary is one entry of GET /api/v1/flows.
type FlowSummary struct {
	ID              string     `json:"id"`
	Name            string     `json:"name"`
	Version         int        `json:"version"`
	Author          string     `json:"author"`
	UpdatedAt       time.Time  `json:"updatedAt"`
	DeployedVersion int        `json:"deployedVersion"`
	DeployedAt      *time.Time `json:"deployedAt,omitempty"`
}

func flowAnswer(v flows.Version) FlowAnswer {
	return FlowAnswer{ID: v.FlowID, Version: v.Version, Name: v.Name, Author: v.Author, Comment: v.Comment, CreatedAt: v.CreatedAt, Flow: v.Flow}
}

// withProblems validates the answer's flow so that the client sees at once
// what would stop a deploy.
func (s *Server) withProblems(a FlowAnswer) FlowAnswer {
	if a.Flow != nil && s.engine != nil {
		a.Problems = s.engine.Validate(a.Flow)
	}
	return a
}

func (s *Server) nodes(c *fiber.Ctx) error {
	regs := spec.All()
	out := make([]*spec.Node, 0, len(regs))
	for _, r := range regs {
		out = append(out, r.Spec)
	}
	return c.JSON(out)
}

func (s *Server) listFlows(c *fiber.Ctx) error {
	p := principalOf(c)
	sums, err := s.flows.List(c.UserContext(), p.Tenant)
	if err != nil {
		return fmt.Errorf("list flows: %w", err)
	}
	out := make([]FlowSummary, 0, len(sums))
	for _, f := range sums {
		out = append(out, FlowSummary{ID: f.FlowID, Name: f.Name, Version: f.Version, Author: f.Author, UpdatedAt: f.UpdatedAt, DeployedVersion: f.DeployedVersion, DeployedAt: f.DeployedAt})
	}
	return c.JSON(out)
}

func (s *Server) createFlow(c *fiber.Ctx) error {
	doc, err := jsonBody(c)
	if err != nil {
		return err
	}
	p := principalOf(c)
	v, err := s.flows.Create(c.UserContext(), p.Tenant, p.Username, c.Query("comment"), doc)
	if err != nil {
		var ce *flows.ConflictError
		if errors.As(err, &ce) {
			e := newError(http.StatusConflict, CodeConflict, "create flow: a flow with this id already exists (latest version %d); save a new version with PUT /api/v1/flows/{id}", ce.Current)
			e.info.CurrentVersion = ce.Current
			return e
		}
		return fmt.Errorf("create flow: %w", err)
	}
	c.Set(fiber.HeaderLocation, APIPrefix+"/flows/"+url.PathEscape(v.FlowID))
	c.Set(fiber.HeaderETag, etag(v.Version))
	return c.Status(http.StatusCreated).JSON(s.withProblems(flowAnswer(v)))
}

func (s *Server) getFlow(c *fiber.Ctx) error {
	p := principalOf(c)
	v, err := s.flows.Get(c.UserContext(), p.Tenant, c.Params("id"))
	if err != nil {
		return fmt.Errorf("get flow %q: %w", c.Params("id"), err)
	}
	c.Set(fiber.HeaderETag, etag(v.Version))
	return c.JSON(s.withProblems(flowAnswer(v)))
}

func (s *Server) updateFlow(c *fiber.Ctx) error {
	base, err := baseVersion(c)
	if err != nil {
		return err
	}
	doc, err := jsonBody(c)
	if err != nil {
		return err
	}
	p := principalOf(c)
	id := c.Params("id")
	v, err := s.flows.Update(c.UserContext(), p.Tenant, id, p.Username, c.Query("comment"), doc, base)
	if err != nil {
		return fmt.Errorf("update flow %q: %w", id, err)
	}
	c.Set(fiber.HeaderETag, etag(v.Version))
	return c.JSON(s.withProblems(flowAnswer(v)))
}

func (s *Server) deleteFlow(c *fiber.Ctx) error {
	p := principalOf(c)
	id := c.Params("id")
	ctx, cancel := s.requestContext()
	defer cancel()
	s.deployMu.Lock()
	defer s.deployMu.Unlock()
	if _, err := s.flows.Get(ctx, p.Tenant, id); err != nil {
		return fmt.Errorf("delete flow %q: %w", id, err)
	}
	if s.deployedIn(p.Tenant, id) {
		if err := s.engine.Undeploy(ctx, id); err != nil && !errors.Is(err, engine.ErrNotDeployed) {
			return fmt.Errorf("delete flow %q: undeploy: %w", id, err)
		}
	}
	if err := s.flows.Delete(ctx, p.Tenant, id); err != nil {
		return fmt.Errorf("delete flow %q: %w", id, err)
	}
	s.log.Info("flow deleted", "flow", id, "tenant", p.Tenant, "user", p.Username)
	return c.SendStatus(http.StatusNoContent)
}

// ValidateAnswer is the answer of POST /api/v1/flows/validate.
type ValidateAnswer struct {
	Valid    bool          `json:"valid"`
	Problems spec.Problems `json:"problems"`
}

func (s *Server) validateFlow(c *fiber.Ctx) error {
	doc, err := jsonBody(c)
	if err != nil {
		return err
	}
	f, err := engine.ParseFlow(doc)
	if err != nil {
		return c.JSON(ValidateAnswer{Valid: false, Problems: spec.Problems{{Severity: spec.Error, Message: err.Error()}}})
	}
	ps := s.engine.Validate(f)
	if ps == nil {
		ps = spec.Problems{}
	}
	return c.JSON(ValidateAnswer{Valid: !ps.HasErrors(), Problems: ps})
}

func (s *Server) importFlow(c *fiber.Ctx) error {
	doc, err := jsonBody(c)
	if err != nil {
		return err
	}
	p := principalOf(c)
	v, err := s.flows.Import(c.UserContext(), p.Tenant, p.Username, doc)
	if err != nil {
		return fmt.Errorf("import flow: %w", err)
	}
	c.Set(fiber.HeaderLocation, APIPrefix+"/flows/"+url.PathEscape(v.FlowID))
	c.Set(fiber.HeaderETag, etag(v.Version))
	status := http.StatusOK
	if v.Version == 1 {
		status = http.StatusCreated
	}
	return c.Status(status).JSON(s.withProblems(flowAnswer(v)))
}

func (s *Server) flowVersions(c *fiber.Ctx) error {
	p := principalOf(c)
	id := c.Params("id")
	vs, err := s.flows.Versions(c.UserContext(), p.Tenant, id)
	if err != nil {
		return fmt.Errorf("flow %q versions: %w", id, err)
	}
	if len(vs) == 0 {
		return notFound("flow %q not found", id)
	}
	out := make([]FlowAnswer, 0, len(vs))
	for _, v := range vs {
		out = append(out, flowAnswer(v))
	}
	return c.JSON(out)
}

func (s *Server) flowVersion(c *fiber.Ctx) error {
	n, err := intParam(c, "version")
	if err != nil {
		return err
	}
	p := principalOf(c)
	id := c.Params("id")
	v, err := s.flows.GetVersion(c.UserContext(), p.Tenant, id, n)
	if err != nil {
		return fmt.Errorf("flow %q version %d: %w", id, n, err)
	}
	c.Set(fiber.HeaderETag, etag(v.Version))
	return c.JSON(flowAnswer(v))
}

func (s *Server) diffFlow(c *fiber.Ctx) error {
	p := principalOf(c)
	id := c.Params("id")
	ctx := c.UserContext()
	to, err := intQuery(c, "to", 0)
	if err != nil {
		return err
	}
	if to == 0 {
		latest, err := s.flows.Get(ctx, p.Tenant, id)
		if err != nil {
			return fmt.Errorf("diff flow %q: %w", id, err)
		}
		to = latest.Version
	}
	from, err := intQuery(c, "from", to-1)
	if err != nil {
		return err
	}
	if from < 1 {
		return badRequest("diff flow %q: query from: want a version of at least 1", id)
	}
	d, err := s.flows.Diff(ctx, p.Tenant, id, from, to)
	if err != nil {
		return fmt.Errorf("diff flow %q: %w", id, err)
	}
	return c.JSON(d)
}

// RollbackRequest is the body of POST /api/v1/flows/{id}/rollback.
type RollbackRequest struct {
	Version int    `json:"version"`
	Comment string `json:"comment,omitempty"`
}

func (s *Server) rollbackFlow(c *fiber.Ctx) error {
	var req RollbackRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Version < 1 {
		return badRequest("rollback: version: want a version of at least 1, got %d", req.Version)
	}
	p := principalOf(c)
	id := c.Params("id")
	comment := req.Comment
	if comment == "" {
		comment = fmt.Sprintf("rollback to version %d", req.Version)
	}
	v, err := s.flows.Rollback(c.UserContext(), p.Tenant, id, req.Version, p.Username, comment)
	if err != nil {
		return fmt.Errorf("rollback flow %q to version %d: %w", id, req.Version, err)
	}
	c.Set(fiber.HeaderETag, etag(v.Version))
	return c.JSON(s.withProblems(flowAnswer(v)))
}

func (s *Server) exportFlow(c *fiber.Ctx) error {
	p := principalOf(c)
	id := c.Params("id")
	b, err := s.flows.Export(c.UserContext(), p.Tenant, id)
	if err != nil {
		return fmt.Errorf("export flow %q: %w", id, err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	c.Set(fiber.HeaderContentDisposition, fmt.Sprintf(`attachment; filename=%q`, id+".json"))
	return c.Send(b)
}

// deployedIn reports whether the engine runs flow id for tenant.
func (s *Server) deployedIn(tenant, id string) bool {
	_, ok := s.deployedFlow(tenant, id)
	return ok
}

func (s *Server) deployedFlow(tenant, id string) (engine.DeployedFlow, bool) {
	if s.engine == nil {
		return engine.DeployedFlow{}, false
	}
	for _, d := range s.engine.Deployed() {
		if d.FlowID == id && d.Tenant == tenant {
			return d, true
		}
	}
	return engine.DeployedFlow{}, false
}
