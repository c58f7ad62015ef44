package builtin

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/rulego/rulego/api/types"
	"github.com/rulego/rulego/test"
)

// captureHandler records log records.
type captureHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }

func (h *captureHandler) last(t *testing.T) slog.Record {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.records) == 0 {
		t.Fatal("nothing logged")
	}
	return h.records[len(h.records)-1]
}

func attrs(r slog.Record) map[string]string {
	out := map[string]string{}
	r.Attrs(func(a slog.Attr) bool {
		out[a.Key] = a.Value.String()
		return true
	})
	return out
}

// useLogger makes h the default logger for the test.
func useLogger(t *testing.T, h slog.Handler) {
	old := slog.Default()
	slog.SetDefault(slog.New(h))
	t.Cleanup(func() { slog.SetDefault(old) })
}

type told struct {
	msg types.RuleMsg
	rel string
	err error
}

// run passes one message through n and returns what it told.
func run(t *testing.T, n types.Node, msg types.RuleMsg) told {
	t.Helper()
	ch := make(chan told, 4)
	ctx := test.NewRuleContext(types.NewConfig(), func(m types.RuleMsg, rel string, err error) { ch <- told{m, rel, err} })
	n.OnMsg(ctx, msg)
	select {
	case got := <-ch:
		return got
	case <-time.After(5 * time.Second):
		t.Fatal("the node told nothing")
		return told{}
	}
}

func TestLogNode(t *testing.T) {
	h := &captureHandler{}
	useLogger(t, h)
	tests := []struct {
		name     string
		cfg      types.Configuration
		level    slog.Level
		text     string
		wantAttr map[string]string
	}{
		{"template", types.Configuration{"message": "boiler ${metadata.deviceId} at ${msg.temperature} °C, ${msg.missing}", "level": "warn"},
			slog.LevelWarn, "boiler b1 at 71 °C, ${msg.missing}", map[string]string{"msgType": "TELEMETRY"}},
		{"whole message", types.Configuration{}, slog.LevelInfo, "message",
			map[string]string{"data": `{"temperature":71}`, "metadata": "map[deviceId:b1]"}},
		{"injected keys are ignored", types.Configuration{"message": "x", "vars": map[string]string{"a": "b"}, "secrets": map[string]string{}},
			slog.LevelInfo, "x", nil},
		{"newlines are flattened", types.Configuration{"message": "a\nb", "level": "error"}, slog.LevelError, "a b", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := (&LogNode{}).New()
			if err := n.Init(types.NewConfig(), tt.cfg); err != nil {
				t.Fatal(err)
			}
			msg := types.NewMsg(0, "TELEMETRY", types.JSON, types.Metadata{"deviceId": "b1"}, `{"temperature":71}`)
			got := run(t, n, msg)
			if got.rel != types.Success || got.err != nil || got.msg.Data != msg.Data {
				t.Errorf("told %q %v %q", got.rel, got.err, got.msg.Data)
			}
			r := h.last(t)
			if r.Level != tt.level || r.Message != tt.text {
				t.Errorf("logged %v %q, want %v %q", r.Level, r.Message, tt.level, tt.text)
			}
			a := attrs(r)
			if a["msgId"] != msg.Id {
				t.Errorf("msgId attribute %q, want %q", a["msgId"], msg.Id)
			}
			for k, v := range tt.wantAttr {
				if a[k] != v {
					t.Errorf("attribute %s = %q, want %q", k, a[k], v)
				}
			}
		})
	}
}

func TestLogNodeInitErrors(t *testing.T) {
	for want, cfg := range map[string]types.Configuration{
		`log: field "level": want one of "debug", "info", "warn", "error", got "fatal"`: {"level": "fatal"},
		`log: field "mesage": unknown field (did you mean "message"?)`:                  {"mesage": "x"},
		`log: field "message": variable ${vars.x} is not defined in the flow`:           {"message": "${vars.x}"},
	} {
		err := (&LogNode{}).New().Init(types.NewConfig(), cfg)
		if err == nil || err.Error() != want {
			t.Errorf("Init(%v) = %v, want %s", cfg, err, want)
		}
	}
}
