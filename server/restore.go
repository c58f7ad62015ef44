package server

import (
	"context"
	"errors"
	"strings"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
	"github.com/sluicehq/sluice/store"
)

// Restore deploys the recorded deployed version of every flow, as at the
// start of sluice serve. A flow that fails is logged with its problems and
// skipped; the others run. Flows deploy in rounds, so that a sub-chain
// target comes up before the flows that call it, whatever the order.
// Deploys through the API wait until it is done.
func (s *Server) Restore(ctx context.Context) (restored, failed int) {
	s.deployMu.Lock()
	defer s.deployMu.Unlock()
	recs, err := s.db.Flows().DeployedFlows(ctx)
	if err != nil {
		s.log.Error("restore deployed flows", "err", err)
		return 0, 0
	}
	type pending struct {
		rec  store.FlowVersion
		flow *engine.Flow
		err  error
	}
	var todo []pending
	for _, r := range recs {
		f, err := s.flows.Runtime(ctx, r.Tenant, r.FlowID, r.Version)
		if err != nil {
			s.log.Error("restore flow", "flow", r.FlowID, "tenant", r.Tenant, "version", r.Version, "err", err)
			failed++
			continue
		}
		todo = append(todo, pending{rec: r, flow: f})
	}
	for len(todo) > 0 {
		var next []pending
		for _, p := range todo {
			if err := s.engine.Deploy(ctx, p.rec.Tenant, p.flow, p.rec.Version); err != nil {
				p.err = err
				next = append(next, p)
				continue
			}
			restored++
		}
		if len(next) == len(todo) { // no progress: these cannot deploy
			for _, p := range next {
				s.logRestoreFailure(p.rec, p.err)
				failed++
			}
			break
		}
		todo = next
	}
	return restored, failed
}

func (s *Server) logRestoreFailure(r store.FlowVersion, err error) {
	var ps spec.Problems
	if errors.As(err, &ps) {
		lines := make([]string, 0, len(ps))
		for _, p := range ps {
			lines = append(lines, p.String())
		}
		s.log.Error("restore flow: the flow has errors; it stays undeployed until fixed", "flow", r.FlowID, "tenant", r.Tenant, "version", r.Version, "problems", strings.Join(lines, "; "))
		return
	}
	s.log.Error("restore flow", "flow", r.FlowID, "tenant", r.Tenant, "version", r.Version, "err", err)
}
