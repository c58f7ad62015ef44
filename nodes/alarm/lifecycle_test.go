package alarm

import (
	"strconv"
	"strings"
	"testing"
)

// Device times are Unix milliseconds, never zero (zero means unset).

// ev is one lifecycle input: at seconds, a sample (s) or a timer look (t),
// the condition's truth and its dead-band truth, and escalation truths.
type ev struct {
	at     int64
	sample bool
	raise  Truth
	hold   Truth
	esc    []EscalationTruth
	want   string // outcome: "" or letters A(ctivated) C(leared) U(pdated) R(emind), then the severity and count when active
}

func (e ev) input() Input {
	return Input{Now: base + e.at*1000, Sample: e.sample, Raise: e.raise, Hold: e.hold, Esc: e.esc}
}

func outcome(o Outcome, lc *Lifecycle) string {
	var b strings.Builder
	for _, x := range []struct {
		on bool
		c  string
	}{{o.Activated, "A"}, {o.Cleared, "C"}, {o.Updated, "U"}, {o.Remind, "R"}} {
		if x.on {
			b.WriteString(x.c)
		}
	}
	if b.Len() > 0 && lc.Active() {
		b.WriteString(" " + lc.Severity + " " + strconv.Itoa(lc.Count))
	}
	return b.String()
}

func run(t *testing.T, p Policy, evs []ev) *Lifecycle {
	t.Helper()
	lc := &Lifecycle{}
	ids := 0
	for i, e := range evs {
		o := lc.Step(&p, e.input(), func() string { ids++; return "a" + strconv.Itoa(ids) })
		if got := outcome(o, lc); got != e.want {
			t.Fatalf("step %d (t=%ds raise=%v hold=%v): got %q, want %q (state %+v)", i, e.at, e.raise, e.hold, got, e.want, *lc)
		}
	}
	return lc
}

const (
	T = True
	F = False
	U = Unknown
)

func s(at int64, raise Truth, want string) ev {
	return ev{at: at, sample: true, raise: raise, hold: raise, want: want}
}
func tk(at int64, raise Truth, want string) ev {
	return ev{at: at, raise: raise, hold: raise, want: want}
}

// sh is a sample with a dead-band truth that differs from the condition's.
func sh(at int64, raise, hold Truth, want string) ev {
	return ev{at: at, sample: true, raise: raise, hold: hold, want: want}
}

func TestLifecycleDurationSeconds(t *testing.T) {
	p := Policy{Duration: 30_000, Severity: 3}
	run(t, p, []ev{
		s(0, T, ""), s(20, T, ""), s(30, T, "A major 1"), // held 30s
		s(40, F, "C"),
		s(50, T, ""), s(60, F, ""), s(70, T, ""), s(99, T, ""), s(100, T, "A major 1"), // a false sample restarts the duration
	})
	// A timer look completes the duration without a new sample.
	lc := &Lifecycle{}
	o := lc.Step(&p, s(0, T, "").input(), func() string { return "x" })
	if o.Due != base+30_000 {
		t.Fatalf("due %d, want base+30000", o.Due-base)
	}
	if o = lc.Step(&p, tk(30, T, "").input(), func() string { return "x" }); !o.Activated {
		t.Fatal("timer look at the end of the duration did not activate")
	}
	// Unknown holds: it neither restarts nor completes the duration.
	run(t, p, []ev{s(0, T, ""), s(10, U, ""), s(20, U, ""), s(30, T, "A major 1")})
}

func TestLifecycleDurationSamples(t *testing.T) {
	p := Policy{Samples: 3, Severity: 2}
	run(t, p, []ev{
		s(0, T, ""), s(1, T, ""), tk(2, T, ""), s(3, F, ""), // timer looks do not count; a false sample resets
		s(4, T, ""), s(5, T, ""), s(6, T, "A minor 1"),
	})
	// Seconds and samples together: both must be met.
	p = Policy{Samples: 2, Duration: 10_000, Severity: 2}
	run(t, p, []ev{s(0, T, ""), s(1, T, ""), tk(10, T, "A minor 1")})
	run(t, p, []ev{s(0, T, ""), tk(10, T, ""), s(11, T, "A minor 1")})
}

func TestLifecycleClearAfterAndRepeats(t *testing.T) {
	p := Policy{ClearAfter: 60_000, Severity: 3}
	lc := run(t, p, []ev{
		s(0, T, "A major 1"),
		s(10, F, ""),          // the clear hold-off starts
		s(30, T, "U major 2"), // back within the hold-off: a repeat of the same alarm
		s(40, F, ""), s(99, F, ""),
		s(100, F, "C"),         // false for 60s
		s(110, T, "A major 1"), // a new alarm
	})
	if lc.AlarmID != "a2" {
		t.Errorf("alarm id %q, want a new one (a2)", lc.AlarmID)
	}
	// The dead band: the hold view keeps the alarm, in the band nothing
	// counts as a repeat, and the hold-off restarts.
	run(t, Policy{ClearAfter: 10_000, Severity: 3}, []ev{
		s(0, T, "A major 1"),
		sh(1, F, T, ""),  // in the dead band
		sh(2, F, F, ""),  // past it: hold-off starts
		sh(5, F, T, ""),  // back in the band: hold-off stops, no repeat
		sh(6, F, F, ""),  // starts again
		sh(15, F, F, ""), // 9s
		tk(16, F, "C"),   // 10s, by the timer
	})
	// Without a hold-off the alarm clears at the first false sample.
	run(t, Policy{Severity: 3}, []ev{s(0, T, "A major 1"), s(1, U, ""), s(2, F, "C")})
}

func TestLifecycleEscalation(t *testing.T) {
	// major; critical while the second condition holds (dead band while in
	// effect); critical anyway after 10 minutes active.
	p := Policy{Severity: 3, Escalations: []Escalation{{Severity: 4, Cond: true}, {Severity: 4, After: 600_000}}}
	e := func(at int64, raise, hold Truth, want string) ev {
		return ev{at: at, sample: true, raise: True, hold: True, esc: []EscalationTruth{{raise, hold}, {}}, want: want}
	}
	run(t, p, []ev{
		e(0, F, F, "A major 1"),
		e(10, T, T, "U critical 1"),
		e(20, F, T, ""),             // in the escalation's dead band: stays critical
		e(30, F, F, "U major 1"),    // de-escalates
		e(40, U, U, ""),             // unknown does not escalate
		e(50, T, T, "U critical 1"), // escalates again
		e(60, U, U, ""),             // unknown keeps it
		e(70, F, F, "U major 1"),
		e(600, F, F, "U critical 1"), // after 10 minutes active
		e(700, F, F, ""),
	})
	// Activation takes the escalation that applies at once.
	run(t, p, []ev{e(0, T, T, "A critical 1")})
	// A later escalation may lower the severity (the last that applies wins).
	p = Policy{Severity: 4, Escalations: []Escalation{{Severity: 1, After: 3_600_000}}}
	run(t, p, []ev{s(0, T, "A critical 1"), tk(3600, T, "U warning 1")})
}

func TestLifecycleReminders(t *testing.T) {
	p := Policy{Severity: 3, Reminder: 300_000}
	lc := run(t, p, []ev{
		s(0, T, "A major 1"),
		tk(299, T, ""), tk(300, T, "R major 1"), tk(599, T, ""), tk(600, T, "R major 1"),
	})
	if !lc.Acknowledge(lc.AlarmID) {
		t.Fatal("acknowledge refused")
	}
	o := lc.Step(&p, tk(900, T, "").input(), nil)
	if o.Remind || o.Due != 0 {
		t.Fatalf("acknowledged alarm: remind %v due %d", o.Remind, o.Due)
	}
	if lc.Acknowledge(lc.AlarmID) || lc.Acknowledge("other") {
		t.Error("acknowledged twice, or another alarm")
	}
}

func TestLifecycleManualClear(t *testing.T) {
	p := Policy{Severity: 3, Duration: 5_000}
	lc := run(t, p, []ev{s(0, T, ""), s(5, T, "A major 1")})
	first := lc.AlarmID
	if lc.ClearManually("other", base+6_000) {
		t.Fatal("cleared another alarm")
	}
	if !lc.ClearManually(first, base+6_000) || lc.Status != StatusCleared {
		t.Fatal("manual clear refused")
	}
	if lc.ClearManually(first, base+7_000) {
		t.Fatal("cleared twice")
	}
	// The value stays bad: the condition starts over and raises a new
	// alarm after the duration.
	ids := 1
	newID := func() string { ids++; return "a" + strconv.Itoa(ids) }
	for _, e := range []ev{s(7, T, ""), s(11, T, ""), s(12, T, "A major 1")} {
		if got := outcome(lc.Step(&p, e.input(), newID), lc); got != e.want {
			t.Fatalf("t=%d: got %q, want %q", e.at, got, e.want)
		}
	}
	if lc.AlarmID == first || lc.Ack {
		t.Errorf("re-triggered alarm %q (ack %v), want a new, unacknowledged one", lc.AlarmID, lc.Ack)
	}
}

func TestTruthTables(t *testing.T) {
	vals := []Truth{False, True, Unknown}
	and := [3][3]Truth{{F, F, F}, {F, T, U}, {F, U, U}}
	or := [3][3]Truth{{F, T, U}, {T, T, T}, {U, T, U}}
	for i, a := range vals {
		for j, b := range vals {
			if got := And(a, b); got != and[i][j] {
				t.Errorf("%v and %v = %v", a, b, got)
			}
			if got := Or(a, b); got != or[i][j] {
				t.Errorf("%v or %v = %v", a, b, got)
			}
		}
	}
}
