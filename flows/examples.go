package flows

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
)

//go:embed examples/*.json
var exampleFiles embed.FS

// ExampleAuthor is the author of the example flows' first versions.
const ExampleAuthor = "sluice"

// Examples returns the shipped example flow documents by file name.
func Examples() (map[string][]byte, error) {
	entries, err := fs.ReadDir(exampleFiles, "examples")
	if err != nil {
		return nil, fmt.Errorf("read examples: %w", err)
	}
	out := make(map[string][]byte, len(entries))
	for _, e := range entries {
		b, err := exampleFiles.ReadFile("examples/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read example %s: %w", e.Name(), err)
		}
		out[e.Name()] = b
	}
	return out, nil
}

// LoadExamples saves the example flows for a tenant that has no flows yet,
// and returns how many it saved (0 when the tenant already has flows).
func (s *Service) LoadExamples(ctx context.Context, tenant string) (int, error) {
	existing, err := s.repo.ListFlows(ctx, tenant)
	if err != nil {
		return 0, fmt.Errorf("load examples: %w", err)
	}
	if len(existing) > 0 {
		return 0, nil
	}
	docs, err := Examples()
	if err != nil {
		return 0, fmt.Errorf("load examples: %w", err)
	}
	names := make([]string, 0, len(docs))
	for name := range docs {
		names = append(names, name)
	}
	sort.Strings(names)
	for i, name := range names {
		if _, err := s.Create(ctx, tenant, ExampleAuthor, "example flow", docs[name]); err != nil {
			return i, fmt.Errorf("load example %s: %w", name, err)
		}
	}
	return len(names), nil
}
