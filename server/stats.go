package server

import (
	"errors"
	"net/http"

	"github.com/gofiber/fiber/v2"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/nodes/stats"
	"github.com/sluicehq/sluice/store"
)

// Page limits of GET /api/v1/stats.
const (
	defaultStatsLimit = 50
	maxStatsLimit     = 1000
)

// StatsPage is the answer of GET /api/v1/stats.
type StatsPage struct {
	Items []store.StatsRecord `json:"items"`
	Total int                 `json:"total"`
}

// statsRoutes are the routes of the statistics API.
func (s *Server) statsRoutes() []route {
	s.ensureStatsRecords()
	qp := func(name, typ, desc string) param { return param{Name: name, Type: typ, Desc: desc} }
	return []route{
		{Method: http.MethodGet, Path: APIPrefix + "/stats", Summary: "List statistics records — one per run of a cronStats node over a window — newest window first; answers {items, total}.", Tag: "stats", Auth: true,
			Query: []param{
				qp("flow", "string", "Only records of this flow."),
				qp("node", "string", "Only records of this node (its id in the flow)."),
				qp("job", "string", "Only records of this job (the node's job name)."),
				qp("from", "string", "Only windows that end at this time or later (RFC 3339, or Unix milliseconds)."),
				qp("to", "string", "Only windows that end before this time (RFC 3339, or Unix milliseconds)."),
				qp("limit", "integer", "Page size (default 50, at most 1000)."),
				qp("offset", "integer", "Skip this many."),
			}, Handler: s.listStats},
	}
}

// ensureStatsRecords makes sure the engine's statistics nodes record their
// runs: in the repository sluice serve provides (stats.RecordsKey), or else
// in the server's store, which the server then provides for its lifetime.
// It runs once, when the routes are built.
func (s *Server) ensureStatsRecords() {
	if s.engine == nil || s.db == nil {
		return
	}
	// Acquired and never released: the repository lives as long as the server.
	_, _, err := s.engine.Resources().Acquire(stats.RecordsKey, func() (any, func() error, error) {
		return s.db.Stats(), nil, nil
	})
	if err != nil {
		s.log.Error("statistics records not available", "err", err)
	}
}

// statsRepo is where the statistics nodes record their runs: the engine's
// repository, else the server's store (nil: neither).
func (s *Server) statsRepo() store.StatsRepo {
	if s.engine != nil {
		if repo, err := engine.Provided[store.StatsRepo](s.engine.Resources(), stats.RecordsKey, "the statistics records"); err == nil {
			return repo
		}
	}
	if s.db != nil {
		return s.db.Stats()
	}
	return nil
}

var errNoStats = errors.New("no statistics records are kept in this server")

func (s *Server) listStats(c *fiber.Ctx) error {
	repo := s.statsRepo()
	if repo == nil {
		return newError(http.StatusServiceUnavailable, CodeUnavailable, "%s", errNoStats.Error())
	}
	p := principalOf(c)
	f := store.StatsFilter{Tenant: p.Tenant, FlowID: c.Query("flow"), NodeID: c.Query("node"), Job: c.Query("job")}
	var err error
	if f.From, err = timeQuery(c, "from"); err != nil {
		return err
	}
	if f.To, err = timeQuery(c, "to"); err != nil {
		return err
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		return badRequest("query to: must be after from")
	}
	if f.Limit, err = intQuery(c, "limit", defaultStatsLimit); err != nil {
		return err
	}
	if f.Offset, err = intQuery(c, "offset", 0); err != nil {
		return err
	}
	if f.Limit < 1 || f.Limit > maxStatsLimit {
		return badRequest("query limit: want 1 to %d, got %d", maxStatsLimit, f.Limit)
	}
	if f.Offset < 0 {
		return badRequest("query offset: want 0 or more, got %d", f.Offset)
	}
	items, total, err := repo.ListStats(c.UserContext(), f)
	if err != nil {
		return err
	}
	return c.JSON(StatsPage{Items: items, Total: total})
}
