// Command docgen writes the node reference, docs/nodes.md, from the node
// specs: go run ./cmd/docgen > docs/nodes.md (make docs).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	_ "github.com/sluicehq/sluice/connectors/all"
	_ "github.com/sluicehq/sluice/engine/builtin"
	"github.com/sluicehq/sluice/engine/spec"
	_ "github.com/sluicehq/sluice/nodes/all"
)

func main() {
	if err := render(os.Stdout, spec.All()); err != nil {
		fmt.Fprintf(os.Stderr, "docgen: %v\n", err)
		os.Exit(1)
	}
}

// render writes the Markdown reference of regs, grouped by palette category.
func render(w io.Writer, regs []*spec.Registration) error {
	var b strings.Builder
	b.WriteString("# Node reference\n\n")
	b.WriteString("<!-- Generated from the node specs by `go run ./cmd/docgen`; do not edit. Run `make docs` after changing a spec. -->\n\n")
	b.WriteString("Every node type a flow can use, by palette category. A node's `configuration` is checked strictly against its fields: ")
	b.WriteString("an unknown or misspelt key, a value of the wrong type or out of range, and a missing required field are errors. ")
	b.WriteString("Fields marked *vars* accept `${vars.name}` placeholders, replaced by the flow's `ruleChain.configuration.vars` when it is deployed; *advanced* fields are folded away in the designer.\n\n")

	groups := group(regs)
	for _, g := range groups {
		fmt.Fprintf(&b, "- **%s**:", g.cat.Label)
		for i, r := range g.regs {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, " [`%s`](#%s)", r.Spec.Type, anchor(r.Spec.Type))
		}
		b.WriteString("\n")
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "\n## %s\n\n%s\n", g.cat.Label, g.cat.Help)
		for _, r := range g.regs {
			if err := node(&b, r.Spec); err != nil {
				return fmt.Errorf("render %s: %w", r.Spec.Type, err)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

type categoryGroup struct {
	cat  spec.Category
	regs []*spec.Registration
}

// group orders regs by spec.Categories(), then any other category by name.
func group(regs []*spec.Registration) []categoryGroup {
	byName := map[string][]*spec.Registration{}
	for _, r := range regs {
		byName[r.Spec.Category] = append(byName[r.Spec.Category], r)
	}
	var out []categoryGroup
	for _, c := range spec.Categories() {
		if rs := byName[c.Name]; len(rs) > 0 {
			out = append(out, categoryGroup{c, rs})
			delete(byName, c.Name)
		}
	}
	rest := make([]string, 0, len(byName))
	for name := range byName {
		rest = append(rest, name)
	}
	slices.Sort(rest)
	for _, name := range rest {
		out = append(out, categoryGroup{spec.Category{Name: name, Label: name}, byName[name]})
	}
	for _, g := range out {
		slices.SortFunc(g.regs, func(a, b *spec.Registration) int { return strings.Compare(a.Spec.Type, b.Spec.Type) })
	}
	return out
}

// anchor is GitHub's heading anchor for a "### `type`" heading.
func anchor(typ string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(typ) {
		if r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func node(b *strings.Builder, s *spec.Node) error {
	fmt.Fprintf(b, "\n### `%s`\n\n%s\n", s.Type, s.Summary)
	if s.Doc != "" {
		fmt.Fprintf(b, "\n%s\n", s.Doc)
	}
	b.WriteString("\n" + relations(s) + "\n")
	if len(s.Fields) == 0 {
		b.WriteString("\nNo configuration.\n")
	} else {
		b.WriteString("\n| Field | Type | Default | Required | Range | Description |\n|---|---|---|---|---|---|\n")
		for _, f := range s.Fields {
			if err := fieldRows(b, f, f.Name); err != nil {
				return err
			}
		}
	}
	for _, ex := range s.Examples {
		js, err := encode(ex.Config, "  ")
		if err != nil {
			return fmt.Errorf("example %q: %w", ex.Title, err)
		}
		fmt.Fprintf(b, "\nExample: %s\n\n```json\n%s\n```\n", ex.Title, js)
	}
	return nil
}

func relations(s *spec.Node) string {
	r := s.Relations
	var parts []string
	if r.FromField != "" {
		what := "one per key of `" + r.FromField + "`"
		if r.FromKey != "" {
			what = "one per item of `" + r.FromField + "`, named by its `" + r.FromKey + "`"
		}
		parts = append(parts, what)
	}
	for _, rel := range r.Fixed {
		parts = append(parts, "`"+rel+"`")
	}
	out := "**Relations:** " + strings.Join(parts, ", ")
	switch {
	case r.Dynamic:
		out += "; any other relation name may be connected (decided at run time)"
	case r.DynamicIf != "":
		out += "; with `" + r.DynamicIf + "` set, any relation name may be connected"
	}
	if len(parts) == 0 {
		out = "**Relations:** any relation name (decided at run time)"
	}
	return out + "."
}

func fieldRows(b *strings.Builder, f *spec.Field, path string) error {
	def := ""
	if f.Default != nil {
		js, err := encode(f.Default, "")
		if err != nil {
			return fmt.Errorf("default of %s: %w", path, err)
		}
		def = "`" + js + "`"
	}
	req := ""
	if f.Required {
		req = "yes"
	}
	help := f.Help
	if f.Exclusive != "" {
		help += " Only one node of all deployed flows may use a given " + f.Exclusive + "."
	}
	if f.Example != nil {
		js, err := encode(f.Example, "")
		if err != nil {
			return fmt.Errorf("example of %s: %w", path, err)
		}
		help += " Example: `" + js + "`."
	}
	var marks []string
	if f.Vars {
		marks = append(marks, "vars")
	}
	if f.Advanced {
		marks = append(marks, "advanced")
	}
	if len(marks) > 0 {
		help += " *(" + strings.Join(marks, ", ") + ")*"
	}
	fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s | %s |\n", path, cell(typeName(f)), cell(def), req, cell(rangeOf(f)), cell(help))
	sub := path
	switch f.Type {
	case spec.List:
		sub += "[]"
	case spec.Map:
		sub += ".*"
	}
	for _, c := range f.Fields {
		if err := fieldRows(b, c, sub+"."+c.Name); err != nil {
			return err
		}
	}
	return nil
}

func typeName(f *spec.Field) string {
	switch f.Type {
	case spec.Enum:
		q := make([]string, len(f.Enum))
		for i, e := range f.Enum {
			q[i] = "`" + e + "`"
		}
		return "one of " + strings.Join(q, ", ")
	case spec.Code:
		return "code (" + f.Language + ")"
	case spec.Expression:
		if f.Predicate {
			return "expression (true/false)"
		}
		return "expression"
	case spec.Ref:
		return "reference to a " + f.RefKind
	case spec.Cron:
		return "cron (with seconds)"
	case spec.List:
		if f.Item != nil {
			return "list of " + typeName(f.Item)
		}
		return "list of objects"
	case spec.Map:
		if f.Item != nil {
			return "map of " + typeName(f.Item)
		}
		return "map of string"
	}
	return string(f.Type)
}

func rangeOf(f *spec.Field) string {
	num := func(p *float64) string {
		s := strconv.FormatFloat(*p, 'g', -1, 64)
		switch f.Type {
		case spec.List, spec.Map:
			if *p == 1 {
				return s + " item"
			}
			return s + " items"
		case spec.Duration:
			return s + "s"
		}
		return s
	}
	switch {
	case f.Min != nil && f.Max != nil:
		return num(f.Min) + " to " + num(f.Max)
	case f.Min != nil:
		return "≥ " + num(f.Min)
	case f.Max != nil:
		return "≤ " + num(f.Max)
	}
	return ""
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

// encode renders v as JSON without HTML escaping; indent "" is compact.
func encode(v any, indent string) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}
