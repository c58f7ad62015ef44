package flows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/store"
)

// Get returns the latest version of a flow, secrets masked.
func (s *Service) Get(ctx context.Context, tenant, id string) (Version, error) {
	return s.GetVersion(ctx, tenant, id, 0)
}

// GetVersion returns one version of a flow (0: the latest), secrets masked.
func (s *Service) GetVersion(ctx context.Context, tenant, id string, v int) (Version, error) {
	fv, f, err := s.loadVersion(ctx, tenant, id, v)
	if err != nil {
		return Version{}, err
	}
	maskFlow(f)
	return versionOf(fv, f), nil
}

// Versions lists a flow's versions, newest first, without their documents.
func (s *Service) Versions(ctx context.Context, tenant, id string) ([]Version, error) {
	fvs, err := s.repo.FlowVersions(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	out := make([]Version, len(fvs))
	for i, fv := range fvs {
		out[i] = versionOf(fv, nil)
	}
	return out, nil
}

// List summarises a tenant's flows.
func (s *Service) List(ctx context.Context, tenant string) ([]store.FlowSummary, error) {
	return s.repo.ListFlows(ctx, tenant)
}

// Diff compares two versions of a flow. A secret that changed shows as a
// change from Mask to Mask; its values never leave the store.
func (s *Service) Diff(ctx context.Context, tenant, id string, from, to int) (Diff, error) {
	a, err := s.load(ctx, tenant, id, from)
	if err != nil {
		return Diff{}, fmt.Errorf("diff flow %q: %w", id, err)
	}
	b, err := s.load(ctx, tenant, id, to)
	if err != nil {
		return Diff{}, fmt.Errorf("diff flow %q: %w", id, err)
	}
	d := diffSecretAware(a, b)
	d.From, d.To = from, to
	return d, nil
}

// Runtime returns version v (0: the latest) ready to run: secrets decrypted
// and node configs migrated to their types' current spec versions. It is for
// deploying and testing, never for showing.
func (s *Service) Runtime(ctx context.Context, tenant, id string, v int) (*engine.Flow, error) {
	f, err := s.load(ctx, tenant, id, v)
	if err != nil {
		return nil, err
	}
	if err := openFlow(f, s.box); err != nil {
		return nil, fmt.Errorf("flow %q: %w", id, err)
	}
	if err := migrateFlow(f); err != nil {
		return nil, fmt.Errorf("flow %q: %w", id, err)
	}
	return f, nil
}

// Export returns the latest version as an indented JSON file, secrets masked.
func (s *Service) Export(ctx context.Context, tenant, id string) ([]byte, error) {
	v, err := s.Get(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(v.Flow, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("export flow %q: %w", id, err)
	}
	return append(b, '\n'), nil
}

// RuntimeDraft prepares a posted draft of flow id for a test run: a secret
// sent back as Mask takes the value stored in the latest saved version (the
// same node id, type and path), other values are used as sent, and configs are
// migrated. A flow that was never saved simply has no stored secrets.
func (s *Service) RuntimeDraft(ctx context.Context, tenant, id string, draft *engine.Flow) (*engine.Flow, error) {
	f := draft.Clone()
	var prev *engine.Flow
	latest, err := s.repo.LatestFlow(ctx, tenant, id)
	switch {
	case err == nil:
		if prev, err = engine.ParseFlow(latest.Doc); err != nil {
			return nil, fmt.Errorf("flow %q: stored version %d: %w", id, latest.Version, err)
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("flow %q: %w", id, err)
	}
	stored := secretsOf(prev)
	for i := range f.Metadata.Nodes {
		n := &f.Metadata.Nodes[i]
		for _, ref := range nodeSecrets(n) {
			if ref.get() != Mask {
				if s, ok := ref.get().(string); ok && store.IsSealed(s) {
					ref.set("") // ciphertext from a client is never opened
				}
				continue
			}
			ref.set("")
			if p, ok := stored[n.ID]; ok && p.typ == n.Type {
				if old, ok := p.values[ref.path]; ok {
					ref.set(old)
				}
			}
		}
	}
	if err := openFlow(f, s.box); err != nil {
		return nil, fmt.Errorf("flow %q: %w", id, err)
	}
	if err := migrateFlow(f); err != nil {
		return nil, fmt.Errorf("flow %q: %w", id, err)
	}
	return f, nil
}
