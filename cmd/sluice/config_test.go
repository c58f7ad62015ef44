package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// configFlags returns serve's flag set after parsing args.
func configFlags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	addConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

// clearSluiceEnv unsets SLUICE_* variables for the test.
func clearSluiceEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "SLUICE_") {
			t.Setenv(name, "")
			os.Unsetenv(name)
		}
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	clearSluiceEnv(t)
	cfg, err := loadConfig(configFlags(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != ":8080" || cfg.Data.Dir != "./data" || cfg.Auth.SessionTTL != 12*time.Hour ||
		cfg.Engine.MaxInFlight != 1024 || cfg.Engine.MessageTimeout != 30*time.Second || !cfg.Flows.Examples || cfg.Log.Level != "info" {
		t.Fatalf("defaults %+v", cfg)
	}
}

func TestConfigPrecedence(t *testing.T) {
	clearSluiceEnv(t)
	file := writeFile(t, "sluice.yaml", `
http:
  addr: ":7000"
data:
  dir: /from/file
engine:
  maxInFlight: 10
  drainTimeout: 3s
log:
  level: debug
`)
	t.Setenv("SLUICE_CONFIG", file)
	t.Setenv("SLUICE_DATA_DIR", "/from/env")
	t.Setenv("SLUICE_MAX_IN_FLIGHT", "20")
	t.Setenv("SLUICE_SESSION_TTL", "1h")
	cfg, err := loadConfig(configFlags(t, "--max-in-flight", "30", "--examples=false"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"http.addr from the file", cfg.HTTP.Addr, ":7000"},
		{"data.dir: env over file", cfg.Data.Dir, "/from/env"},
		{"engine.maxInFlight: flag over env over file", cfg.Engine.MaxInFlight, 30},
		{"engine.drainTimeout from the file", cfg.Engine.DrainTimeout, 3 * time.Second},
		{"auth.sessionTTL from env", cfg.Auth.SessionTTL, time.Hour},
		{"log.level from the file", cfg.Log.Level, "debug"},
		{"flows.examples from a flag", cfg.Flows.Examples, false},
		{"engine.lanes default", cfg.Engine.Lanes, 64},
	} {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// --config wins over SLUICE_CONFIG.
	other := writeFile(t, "other.yaml", "http:\n  addr: \":7001\"\n")
	cfg, err = loadConfig(configFlags(t, "--config", other))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != ":7001" {
		t.Fatalf("--config: addr %q", cfg.HTTP.Addr)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		file string
		env  map[string]string
		args []string
		want string
	}{
		{name: "misspelt file key", file: "engine:\n  maxInFlite: 3\n", want: "unknown key engine.maxInFlite"},
		{name: "unknown env", env: map[string]string{"SLUICE_LOG_LEVLE": "debug"}, want: "unknown environment variable SLUICE_LOG_LEVLE"},
		{name: "bad duration", env: map[string]string{"SLUICE_MESSAGE_TIMEOUT": "soon"}, want: "engine.messageTimeout"},
		{name: "bad number", env: map[string]string{"SLUICE_LANES": "many"}, want: "engine.lanes"},
		{name: "zero in-flight", args: []string{"--max-in-flight", "0"}, want: "engine.maxInFlight: want a positive value, got 0"},
		{name: "bad level", env: map[string]string{"SLUICE_LOG_LEVEL": "loud"}, want: `log.level: want debug, info, warn or error, got "loud"`},
		{name: "bad format", args: []string{"--log-format", "xml"}, want: `log.format: want text or json, got "xml"`},
		{name: "missing file", env: map[string]string{"SLUICE_CONFIG": "/nonexistent/sluice.yaml"}, want: "config file /nonexistent/sluice.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearSluiceEnv(t)
			if tc.file != "" {
				t.Setenv("SLUICE_CONFIG", writeFile(t, "c.yaml", tc.file))
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			_, err := loadConfig(configFlags(t, tc.args...))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestConfigurationDocumented checks that docs/configuration.md names every
// key with its environment variable and flag.
func TestConfigurationDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	for _, s := range settings {
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(s.Key) + "` \\|.*$").FindString(text)
		if row == "" {
			t.Errorf("docs/configuration.md: no table row for %s", s.Key)
			continue
		}
		if s.Env != "" && !strings.Contains(row, "`"+s.Env+"`") {
			t.Errorf("docs/configuration.md: row %s lacks %s", s.Key, s.Env)
		}
		if s.Flag != "" && !strings.Contains(row, "`--"+s.Flag+"`") {
			t.Errorf("docs/configuration.md: row %s lacks --%s", s.Key, s.Flag)
		}
	}
}
