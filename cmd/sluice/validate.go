package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/engine/spec"
)

func newValidateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE...",
		Short: "Check flow files like a compiler: exit 1 on any error, 0 with warnings printed",
		Long: `Validate checks each flow file: its JSON, node types, configs, connections,
expressions, cycles and reachability. The files are checked as one set, as if
deployed together: sub-chains may call flows of the set, and two flows of the
set must not claim the same resource (ingest path, port, MQTT client id).

Each problem is printed on one line as FILE: SEVERITY: PROBLEM, for example
  boiler.json: error: flow "boiler-room": node "alarm1" (threshold): field "high": want a number, got "30C"`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if n := validateFiles(cmd.OutOrStdout(), files); n > 0 {
				return exitError{code: 1}
			}
			return nil
		},
	}
}

// validateFiles prints every problem of the files and returns the number of
// errors.
func validateFiles(w io.Writer, files []string) int {
	type parsed struct {
		file string
		flow *engine.Flow
	}
	var set []parsed
	errs := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			fmt.Fprintf(w, "%s: error: %v\n", file, err)
			errs++
			continue
		}
		f, err := engine.ParseFlow(data)
		if err != nil {
			fmt.Fprintf(w, "%s: error: %v\n", file, err)
			errs++
			continue
		}
		set = append(set, parsed{file: file, flow: f})
	}
	ids := map[string]bool{}
	firstFile := map[string]string{}
	for _, p := range set {
		id := p.flow.RuleChain.ID
		ids[id] = true
		if first, dup := firstFile[id]; dup {
			pr := spec.Problem{Severity: spec.Error, Flow: id, Message: fmt.Sprintf("flow id defined twice: also in %s", first)}
			fmt.Fprintf(w, "%s: %s: %s\n", p.file, pr.Severity, pr.String())
			errs++
			continue
		}
		firstFile[id] = p.file
	}
	for i, p := range set {
		var others []*engine.Flow
		for j, o := range set {
			if j != i {
				others = append(others, o.flow)
			}
		}
		ps := engine.Validate(p.flow, engine.ValidateOptions{Others: others, FlowExists: func(id string) bool { return ids[id] }})
		for _, pr := range ps {
			fmt.Fprintf(w, "%s: %s: %s\n", p.file, pr.Severity, pr.String())
			if pr.Severity == spec.Error {
				errs++
			}
		}
		if len(ps) == 0 {
			fmt.Fprintf(w, "%s: ok\n", p.file)
		}
	}
	return errs
}
