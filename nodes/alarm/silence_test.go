package alarm

import (
	"context"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/engine"
)

// TestClearOnSilence runs clearOnSilence in a deployed node: the timer
// clears an alarm whose signals went silent, without a sample.
func TestClearOnSilence(t *testing.T) {
	type step struct {
		at     time.Duration // wall and device time of the step
		send   sig           // a sample; nil moves the clock only
		want   string        // alarm relations it causes ("" none)
		reason string        // alarmReason of the last alarm message
	}
	or := []any{map[string]any{"op": "or", "rules": []any{hot, leaf("op", ">", "signal", "pressure", "value", 3.0)}}}
	tests := []struct {
		name  string
		cfg   map[string]any
		steps []step
	}{
		{
			name: "the timer clears a silent alarm; old values raise nothing; a new sample raises a new alarm",
			cfg:  oneRule([]any{hot}, "clearOnSilence", "1m"),
			steps: []step{
				{0, sig{"temperature": 90.0}, "Active", "condition"},
				{30 * time.Second, sig{"humidity": 40.0}, "", ""}, // not a signal of the rule
				{59 * time.Second, nil, "", ""},
				{60 * time.Second, nil, "Cleared", "silence"},
				{70 * time.Second, sig{"humidity": 40.0}, "", ""}, // 90 is stale: no new alarm
				{80 * time.Second, sig{"temperature": 95.0}, "Active", "condition"},
				{140 * time.Second, nil, "Cleared", "silence"},
			},
		},
		{
			name: "any signal the rule reads keeps it alive",
			cfg:  oneRule(or, "clearOnSilence", "1m"),
			steps: []step{
				{0, sig{"temperature": 90.0}, "Active", "condition"},
				{50 * time.Second, sig{"pressure": 1.0}, "", ""},
				{100 * time.Second, nil, "", ""},
				{110 * time.Second, nil, "Cleared", "silence"},
			},
		},
		{
			name: "the condition clears first: nothing more on silence",
			cfg:  oneRule([]any{hot}, "clearOnSilence", "1m"),
			steps: []step{
				{0, sig{"temperature": 90.0}, "Active", "condition"},
				{10 * time.Second, sig{"temperature": 20.0}, "Cleared", "condition"},
				{120 * time.Second, nil, "", ""},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg, harnessOpts{})
			var ids []string
			for _, s := range tc.steps {
				var g []got
				switch {
				case s.send != nil:
					g = alarms(h.sendAt("d", s.at, s.send))
				case s.want != "":
					h.clock.Set(t0.Add(s.at))
					g = alarms(h.waitFor(s.want))
				default:
					h.clock.Set(t0.Add(s.at))
					h.quiet("at " + s.at.String())
				}
				if rels(g) != s.want {
					t.Fatalf("at %v: got %v, want %q", s.at, g, s.want)
				}
				if len(g) == 0 {
					continue
				}
				last := g[len(g)-1]
				if r := last.msg.Metadata["alarmReason"]; r != s.reason {
					t.Fatalf("at %v: reason %q, want %q", s.at, r, s.reason)
				}
				if s.reason == "silence" {
					// Cleared at the limit, with the seconds of silence.
					if last.ev.Ts != t0.Add(s.at).UnixMilli() || last.ev.Value == nil || *last.ev.Value != 60 || last.ev.Status != StatusCleared {
						t.Fatalf("at %v: silence clear %+v", s.at, last.ev)
					}
				}
				ids = append(ids, last.ev.AlarmID)
			}
			// The recorder got every change, with its reason.
			var recorded []string
			h.rec.mu.Lock()
			for _, c := range h.rec.changes {
				recorded = append(recorded, c.Kind+"/"+c.Reason)
			}
			h.rec.mu.Unlock()
			var want []string
			for _, s := range tc.steps {
				switch s.want {
				case "Active":
					want = append(want, "created/"+s.reason)
				case "Cleared":
					want = append(want, "cleared/"+s.reason)
				}
			}
			if strings.Join(recorded, " ") != strings.Join(want, " ") {
				t.Fatalf("recorded %v, want %v", recorded, want)
			}
			if len(ids) >= 3 && ids[0] == ids[2] {
				t.Fatalf("the alarm after the silence reused id %s", ids[0])
			}
		})
	}
}

// TestClearOnSilenceAcrossRestart shuts the node down while a silence
// deadline is pending; the next process clears the alarm once its grace
// (the longest silence limit after the start) has passed, stamped at the
// limit itself.
func TestClearOnSilenceAcrossRestart(t *testing.T) {
	p := &mapPersister{m: map[string]engine.StateEntry{}}
	st1, err := engine.NewMemoryState(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oneRule([]any{hot}, "clearOnSilence", "1m")
	h1 := newHarness(t, maps.Clone(cfg), harnessOpts{state: st1, flow: "silence-restart"})
	a := alarms(h1.sendAt("d", 0, sig{"temperature": 90.0}))
	if len(a) != 1 || a[0].rel != RelActive {
		t.Fatalf("raise: %v", a)
	}
	h1.clock.Set(t0.Add(10 * time.Second))
	h1.shutdown()

	st2, err := engine.NewMemoryState(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	h1.clock.Set(t0.Add(20 * time.Second))
	h2 := newHarness(t, maps.Clone(cfg), harnessOpts{state: st2, flow: "silence-restart", clock: h1.clock})
	// Wait until the timer has read the device index (due at the start
	// plus the grace).
	rt := h2.runtime()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rt.mu.RLock()
		dm := rt.devices["d"]
		rt.mu.RUnlock()
		if dm != nil && dm.due.Load() == t0.Add(80*time.Second).UnixMilli() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the timer did not read the device index within 5s")
		}
		time.Sleep(time.Millisecond)
	}
	h2.clock.Set(t0.Add(79 * time.Second)) // the limit has passed, the grace not yet
	h2.quiet("within the grace after the start")
	h2.clock.Set(t0.Add(80 * time.Second))
	g := alarms(h2.waitFor(RelCleared))
	if len(g) != 1 || g[0].ev.AlarmID != a[0].ev.AlarmID || g[0].msg.Metadata["alarmReason"] != "silence" ||
		g[0].ev.Ts != t0.Add(time.Minute).UnixMilli() {
		t.Fatalf("after the restart: %v (%+v)", g, g[0].ev)
	}
	if got := strings.Join(h2.rec.kinds(), " "); got != "cleared:r:d" {
		t.Fatalf("recorded %s", got)
	}
}
