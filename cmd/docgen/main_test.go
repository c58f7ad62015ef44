package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/engine/spec"
)

// TestDocsUpToDate fails when docs/nodes.md differs from what the specs
// generate.
func TestDocsUpToDate(t *testing.T) {
	var buf bytes.Buffer
	if err := render(&buf, spec.All()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "nodes.md")
	have, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("docs/nodes.md is missing (%v): run make docs", err)
	}
	if !bytes.Equal(have, buf.Bytes()) {
		t.Fatalf("docs/nodes.md is stale: run make docs (go run ./cmd/docgen > docs/nodes.md)\n%s", firstDiff(string(have), buf.String()))
	}
}

func TestRenderCoversEveryType(t *testing.T) {
	var buf bytes.Buffer
	if err := render(&buf, spec.All()); err != nil {
		t.Fatal(err)
	}
	for _, r := range spec.All() {
		if !strings.Contains(buf.String(), "\n### `"+r.Spec.Type+"`\n") {
			t.Errorf("%s has no section", r.Spec.Type)
		}
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "first difference at line " + strconv.Itoa(i+1) + ":\n  file:      " + x + "\n  generated: " + y
		}
	}
	return ""
}
