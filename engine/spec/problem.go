package spec

import (
	"fmt"
	"strings"
)

// Severity of a problem.
type Severity string

// Severities.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Problem is one thing wrong with a flow, located as precisely as known.
// It reads the same everywhere (CLI, API, logs):
//
//	flow "boiler-room": node "alarm1" (threshold): field "high": want a number, got "30C"
type Problem struct {
	Severity Severity `json:"severity"`
	Flow     string   `json:"flow,omitempty"`
	Node     string   `json:"node,omitempty"`
	NodeType string   `json:"nodeType,omitempty"`
	Field    string   `json:"field,omitempty"`
	Message  string   `json:"message"`
}

// String renders the problem in Sluice's one format.
func (p Problem) String() string {
	var b strings.Builder
	if p.Flow != "" {
		fmt.Fprintf(&b, "flow %q: ", p.Flow)
	}
	if p.Node != "" {
		fmt.Fprintf(&b, "node %q", p.Node)
		if p.NodeType != "" {
			fmt.Fprintf(&b, " (%s)", p.NodeType)
		}
		b.WriteString(": ")
	}
	if p.Field != "" {
		fmt.Fprintf(&b, "field %q: ", p.Field)
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is a list of problems; as an error it reads one problem a line.
type Problems []Problem

// Error implements error.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// HasErrors reports whether any problem is an error (not just a warning).
func (ps Problems) HasErrors() bool {
	for _, p := range ps {
		if p.Severity == Error {
			return true
		}
	}
	return false
}

// Errors returns only the problems of severity error.
func (ps Problems) Errors() Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == Error {
			out = append(out, p)
		}
	}
	return out
}
