// Package flows is Sluice's flow model on top of the store: every save is a
// new version, stale saves are refused with what changed, secrets are sealed
// at rest and masked on the way out, and node configs carry the spec version
// they were written for.
package flows

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/store"
)

// Mask is what the API shows for a secret; sent back, it keeps the secret.
const Mask = "********"

// Version is one version of a flow as the API shows it.
type Version struct {
	FlowID    string       `json:"flowId"`
	Version   int          `json:"version"`
	Name      string       `json:"name"`
	Author    string       `json:"author"`
	Comment   string       `json:"comment"`
	CreatedAt time.Time    `json:"createdAt"`
	Flow      *engine.Flow `json:"flow,omitempty"`
}

// ConflictError refuses a save based on a version that is no longer the
// latest; Changes is what changed from that base to the latest version.
type ConflictError struct {
	Current int  `json:"current"`
	Changes Diff `json:"changes"`
}

// Error implements error.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("version conflict: latest is %d", e.Current)
}

// BadRequestError is a request the caller must fix: a document that does
// not parse, a bad id, a body id that differs from the URL's.
type BadRequestError struct{ Err error }

func (e *BadRequestError) Error() string { return e.Err.Error() }
func (e *BadRequestError) Unwrap() error { return e.Err }

func badRequest(format string, args ...any) error {
	return &BadRequestError{Err: fmt.Errorf(format, args...)}
}

// Service manages flows and their versions.
type Service struct {
	repo store.FlowRepo
	box  *store.SecretBox
}

// NewService returns a service over a flow repository; box seals secrets.
func NewService(repo store.FlowRepo, box *store.SecretBox) *Service {
	return &Service{repo: repo, box: box}
}

// load reads and parses one stored version (0: the latest), secrets sealed.
func (s *Service) load(ctx context.Context, tenant, id string, v int) (*engine.Flow, error) {
	_, f, err := s.loadVersion(ctx, tenant, id, v)
	return f, err
}

func (s *Service) loadVersion(ctx context.Context, tenant, id string, v int) (store.FlowVersion, *engine.Flow, error) {
	var fv store.FlowVersion
	var err error
	if v == 0 {
		fv, err = s.repo.LatestFlow(ctx, tenant, id)
	} else {
		fv, err = s.repo.FlowVersionAt(ctx, tenant, id, v)
	}
	if err != nil {
		return store.FlowVersion{}, nil, err
	}
	f, err := engine.ParseFlow(fv.Doc)
	if err != nil {
		return store.FlowVersion{}, nil, fmt.Errorf("flow %q version %d: %w", id, fv.Version, err)
	}
	return fv, f, nil
}

func versionOf(fv store.FlowVersion, f *engine.Flow) Version {
	return Version{FlowID: fv.FlowID, Version: fv.Version, Name: fv.Name, Author: fv.Author,
		Comment: fv.Comment, CreatedAt: fv.CreatedAt, Flow: f}
}

// validID reports whether id matches [A-Za-z0-9_-]{1,64}.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
