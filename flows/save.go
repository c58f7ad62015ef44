package flows

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/store"
)

// Create saves a new flow: its id is ruleChain.id. A flow with validation
// errors can be saved (a draft); validation is a separate step.
func (s *Service) Create(ctx context.Context, tenant, author, comment string, doc []byte) (Version, error) {
	f, err := parse(doc)
	if err != nil {
		return Version{}, err
	}
	return s.save(ctx, tenant, f.RuleChain.ID, f, author, comment, 0, false)
}

// Update saves a new version of flow id. baseVersion is the version the edit
// started from (-1: no check; 0: the flow must not exist yet); a stale one
// is a *ConflictError. A secret sent back as Mask keeps the stored secret.
// With baseVersion -1 a flow that does not exist is store.ErrNotFound.
func (s *Service) Update(ctx context.Context, tenant, id, author, comment string, doc []byte, baseVersion int) (Version, error) {
	f, err := parse(doc)
	if err != nil {
		return Version{}, err
	}
	if f.RuleChain.ID != id {
		return Version{}, badRequest("update flow %q: the document's ruleChain.id is %q", id, f.RuleChain.ID)
	}
	return s.save(ctx, tenant, id, f, author, comment, baseVersion, baseVersion == -1)
}

// Import saves a flow document: a new flow, or a new version of an existing
// one (masked secrets then keep the stored ones).
func (s *Service) Import(ctx context.Context, tenant, author string, doc []byte) (Version, error) {
	f, err := parse(doc)
	if err != nil {
		return Version{}, err
	}
	return s.save(ctx, tenant, f.RuleChain.ID, f, author, "import", -1, false)
}

func parse(doc []byte) (*engine.Flow, error) {
	f, err := engine.ParseFlow(doc)
	if err != nil {
		return nil, &BadRequestError{Err: err}
	}
	return f, nil
}

// save stamps spec versions, seals secrets (restoring masked ones from the
// latest version) and appends a version. With mustExist, a flow that does
// not exist yet is store.ErrNotFound.
func (s *Service) save(ctx context.Context, tenant, id string, f *engine.Flow, author, comment string, base int, mustExist bool) (Version, error) {
	if !validID(id) {
		return Version{}, badRequest("flow id %q: want 1 to 64 letters, digits, '_' or '-'", id)
	}
	var prev *engine.Flow
	latest, err := s.repo.LatestFlow(ctx, tenant, id)
	switch {
	case err == nil:
		if prev, err = engine.ParseFlow(latest.Doc); err != nil {
			return Version{}, fmt.Errorf("save flow %q: stored version %d: %w", id, latest.Version, err)
		}
	case !errors.Is(err, store.ErrNotFound) || mustExist:
		return Version{}, fmt.Errorf("save flow %q: %w", id, err)
	}
	stampFlow(f)
	if err := sealFlow(f, secretsOf(prev), s.box); err != nil {
		return Version{}, fmt.Errorf("save flow %q: %w", id, err)
	}
	doc, err := f.Marshal()
	if err != nil {
		return Version{}, fmt.Errorf("save flow %q: encode: %w", id, err)
	}
	fv, err := s.repo.SaveFlowVersion(ctx, store.FlowVersion{
		Tenant: tenant, FlowID: id, Name: f.RuleChain.Name, Doc: doc, Author: author, Comment: comment,
	}, base)
	var ce *store.ConflictError
	if errors.As(err, &ce) {
		return Version{}, s.conflict(ctx, tenant, id, base, ce.Current)
	}
	if err != nil {
		return Version{}, err
	}
	return shown(fv)
}

// conflict describes a refused save: what changed from base to current.
func (s *Service) conflict(ctx context.Context, tenant, id string, base, current int) error {
	to, err := s.load(ctx, tenant, id, current)
	if err != nil {
		return fmt.Errorf("flow %q: version conflict: %w", id, err)
	}
	from := &engine.Flow{}
	if base > 0 && base <= current {
		if from, err = s.load(ctx, tenant, id, base); err != nil {
			return fmt.Errorf("flow %q: version conflict: %w", id, err)
		}
	} else if base > current {
		from = to // an unknown base: nothing to tell
	}
	d := diffSecretAware(from, to)
	d.From, d.To = base, current
	return &ConflictError{Current: current, Changes: d}
}

// Rollback saves a new version whose content is that of version to.
func (s *Service) Rollback(ctx context.Context, tenant, id string, to int, author, comment string) (Version, error) {
	old, err := s.repo.FlowVersionAt(ctx, tenant, id, to)
	if err != nil {
		return Version{}, fmt.Errorf("rollback flow %q: %w", id, err)
	}
	if comment == "" {
		comment = fmt.Sprintf("rollback to version %d", to)
	}
	fv, err := s.repo.SaveFlowVersion(ctx, store.FlowVersion{
		Tenant: tenant, FlowID: id, Name: old.Name, Doc: old.Doc, Author: author, Comment: comment,
	}, -1)
	if err != nil {
		return Version{}, fmt.Errorf("rollback flow %q: %w", id, err)
	}
	return shown(fv)
}

// Delete deletes a flow and all its versions. Undeploying it first is the
// caller's job.
func (s *Service) Delete(ctx context.Context, tenant, id string) error {
	return s.repo.DeleteFlow(ctx, tenant, id)
}

// shown is a saved version as the API shows it: parsed back from what was
// stored, secrets masked.
func shown(fv store.FlowVersion) (Version, error) {
	f, err := engine.ParseFlow(fv.Doc)
	if err != nil {
		return Version{}, fmt.Errorf("flow %q version %d: %w", fv.FlowID, fv.Version, err)
	}
	maskFlow(f)
	return versionOf(fv, f), nil
}
