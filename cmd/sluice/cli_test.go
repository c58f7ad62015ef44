package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidateCommand(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    []string
		wantCode int
		wantOut  string
	}{
		{
			name:     "broken",
			files:    []string{"testdata/broken.json"},
			wantCode: 1,
			wantOut:  `testdata/broken.json: error: flow "boiler-room": node "alarm" (log): field "level": want one of "debug", "info", "warn", "error", got "loud"` + "\n",
		},
		{
			name:     "warnings only",
			files:    []string{"testdata/warning.json"},
			wantCode: 0,
			wantOut:  `testdata/warning.json: warning: flow "warned": node "orphan" (log): unreachable: no path leads here from the first node (metadata.firstNodeIndex) or a source node` + "\n",
		},
		{
			name:     "clean",
			files:    []string{"testdata/boiler.json"},
			wantCode: 0,
			wantOut:  "testdata/boiler.json: ok\n",
		},
		{
			name:     "missing file and a good one",
			files:    []string{"testdata/nope.json", "testdata/boiler.json"},
			wantCode: 1,
			wantOut:  "testdata/nope.json: error: open testdata/nope.json: no such file or directory\ntestdata/boiler.json: ok\n",
		},
		{
			name:     "one id twice in a set",
			files:    []string{"testdata/boiler.json", "testdata/broken.json"},
			wantCode: 1,
			wantOut: `testdata/broken.json: error: flow "boiler-room": flow id defined twice: also in testdata/boiler.json` + "\n" +
				"testdata/boiler.json: ok\n" +
				`testdata/broken.json: error: flow "boiler-room": node "alarm" (log): field "level": want one of "debug", "info", "warn", "error", got "loud"` + "\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, nil, append([]string{"validate"}, tc.files...)...)
			if code != tc.wantCode || out != tc.wantOut {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", code, tc.wantCode, out, tc.wantOut, errOut)
			}
		})
	}
	if _, errOut, code := runCLI(t, nil, "validate"); code != 1 || !strings.Contains(errOut, "requires at least 1 arg") {
		t.Fatalf("validate without files: exit %d: %s", code, errOut)
	}
}

func TestVersionCommand(t *testing.T) {
	out, _, code := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "sluice "+testVersion+" (go") {
		t.Fatalf("version: exit %d: %q", code, out)
	}
}

func TestRunCommand(t *testing.T) {
	out, logs, code := runCLI(t, nil, "run", "testdata/boiler.json", "--once",
		"--inject", `{"type":"TELEMETRY","data":{"temperature":60},"metadata":{"deviceId":"boiler-7"}}`,
		"--inject", `{"type":"TELEMETRY","data":"{\"temperature\":20}"}`)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, logs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("want two results, got:\n%s", out)
	}
	var hot, cold result
	if err := json.Unmarshal([]byte(lines[0]), &hot); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &cold); err != nil {
		t.Fatal(err)
	}
	if hot.Status != "completed" || len(hot.Ends) != 1 || hot.Ends[0].Node != "alarm" || hot.Ends[0].Msg.Data != "140" {
		t.Fatalf("hot result %+v", hot)
	}
	if len(cold.Ends) != 1 || cold.Ends[0].Relation != "False" {
		t.Fatalf("cold result %+v", cold)
	}
	// The trace is logged: every node's in and out.
	for _, want := range []string{"node=hot dir=in", "node=hot dir=out relation=True", "node=toF dir=out relation=Success", "node=alarm dir=out relation=Success", "boiler boiler-7 is hot"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}

	out, logs, code = runCLI(t, nil, "run", "testdata/broken.json", "--once", "--inject", `{"type":"T","data":"{}"}`)
	want := `testdata/broken.json: error: flow "boiler-room": node "alarm" (log): field "level": want one of "debug", "info", "warn", "error", got "loud"`
	if code != 1 || !strings.Contains(logs, want) {
		t.Fatalf("run broken: exit %d\n%s\n%s", code, out, logs)
	}
}

func TestUnknownEnvironmentVariable(t *testing.T) {
	_, errOut, code := runCLI(t, []string{"SLUICE_HTTP_ADRR=:9999"}, "serve")
	if code != 1 || !strings.Contains(errOut, "sluice: config: unknown environment variable SLUICE_HTTP_ADRR") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
