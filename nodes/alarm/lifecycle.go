package alarm

// Alarm statuses. Acknowledgement is the independent second dimension.
const (
	StatusActive  = "active"
	StatusCleared = "cleared"
)

// Severities, lowest first: the index is the rank.
var severities = []string{"info", "warning", "minor", "major", "critical"}

// severityRank is the rank of a severity name, -1 when unknown.
func severityRank(s string) int {
	for i, n := range severities {
		if n == s {
			return i
		}
	}
	return -1
}

// Policy is how a rule's condition becomes an alarm. Times are milliseconds
// of device time (Unix milliseconds in Input and Lifecycle, where zero means
// unset).
type Policy struct {
	// Duration is how long the condition must hold before the alarm is
	// active; Samples how many consecutive samples (1 or less: no count).
	Duration int64
	Samples  int
	// ClearAfter is how long the dead-band view of the condition must stay
	// false before the alarm clears.
	ClearAfter int64
	// Reminder is the period of reminders while the alarm is active and
	// not acknowledged (0: none).
	Reminder int64
	// Severity is the base severity's rank.
	Severity int
	// Escalations change the severity while the alarm is active; the last
	// one whose criteria hold sets it.
	Escalations []Escalation
}

// Escalation is a severity that applies while its condition holds (Cond,
// whose truth comes in Input.Esc) and, with After, once the alarm has been
// active that long.
type Escalation struct {
	Severity int
	After    int64
	Cond     bool
}

// Lifecycle is the state of one rule for one device: the current (or last)
// alarm and where the condition stands. It is what the state store keeps,
// so its JSON names are short.
type Lifecycle struct {
	AlarmID  string `json:"id,omitempty"`
	Status   string `json:"st,omitempty"` // "", active or cleared
	Ack      bool   `json:"ack,omitempty"`
	Severity string `json:"sev,omitempty"`
	// Level is the escalation in effect (index+1; 0: the base severity).
	Level int `json:"lvl,omitempty"`
	// Since is when the alarm became active, Ts its last change (device ms).
	Since int64 `json:"since,omitempty"`
	Ts    int64 `json:"ts,omitempty"`
	// Count is how often the condition fired into this alarm: 1, plus one
	// per return within the clear hold-off.
	Count int `json:"n,omitempty"`
	// TrueSince and TrueCount track the condition before the alarm is
	// active; FalseSince tracks the clear hold-off of an active alarm.
	TrueSince  int64 `json:"tSince,omitempty"`
	TrueCount  int   `json:"tCount,omitempty"`
	FalseSince int64 `json:"fSince,omitempty"`
	// Reminded is when the last reminder (or the activation) was.
	Reminded int64 `json:"rem,omitempty"`
}

// Active reports whether the alarm is active.
func (lc *Lifecycle) Active() bool { return lc.Status == StatusActive }

// Input is one evaluation of a rule at device time Now.
type Input struct {
	Now int64
	// Sample is true for a new sample, false for a timer evaluation (which
	// does not count as a consecutive sample).
	Sample bool
	// Raise is the condition; Hold its dead-band view, which an active
	// alarm needs to turn false before it clears.
	Raise, Hold Truth
	// Esc are the truths of the escalations' conditions, by index.
	Esc []EscalationTruth
}

// EscalationTruth is an escalation condition's truth, plain and with its
// dead band (used while that escalation is in effect).
type EscalationTruth struct{ Raise, Hold Truth }

// Outcome is what a Step changed.
type Outcome struct {
	Activated bool // a new alarm is active
	Cleared   bool // the alarm cleared
	Updated   bool // the active alarm changed: CountUp and/or SeverityChanged
	CountUp   bool
	// SeverityChanged: Updated by an escalation or de-escalation.
	SeverityChanged bool
	// Remind: a reminder is due now.
	Remind bool
	// Changed is true when the state changed in a way that must be stored
	// at once (anything but the consecutive-sample count).
	Changed bool
	// Due is the next device time at which a Step without a new sample may
	// change something (0: none).
	Due int64
}

func (o *Outcome) due(t int64, now int64) {
	if t > now && (o.Due == 0 || t < o.Due) {
		o.Due = t
	}
}

// Step advances the lifecycle by one evaluation. Unknown truths hold the
// state: they neither raise nor clear, nor advance or reset a duration.
func (lc *Lifecycle) Step(p *Policy, in Input, newID func() string) Outcome {
	var o Outcome
	now := in.Now
	if lc.Status != StatusActive {
		switch in.Raise {
		case True:
			if lc.TrueSince == 0 {
				lc.TrueSince, lc.TrueCount = now, 0
				o.Changed = true
			}
			if in.Sample {
				lc.TrueCount++
			}
			if now-lc.TrueSince >= p.Duration && (p.Samples <= 1 || lc.TrueCount >= p.Samples) {
				lc.activate(p, in, newID())
				o.Activated, o.Changed = true, true
				lc.remindDue(p, &o, now)
				lc.escalationDue(p, &o, now)
				return o
			}
			if p.Duration > 0 {
				o.due(lc.TrueSince+p.Duration, now)
			}
		case False:
			if lc.TrueSince != 0 || lc.TrueCount != 0 {
				lc.TrueSince, lc.TrueCount = 0, 0
				o.Changed = true
			}
		}
		return o
	}

	switch in.Hold {
	case False:
		if lc.FalseSince == 0 {
			lc.FalseSince = now
			o.Changed = true
		}
		if now-lc.FalseSince >= p.ClearAfter {
			lc.clear(now)
			o.Cleared, o.Changed = true, true
			return o
		}
		o.due(lc.FalseSince+p.ClearAfter, now)
	case True:
		if lc.FalseSince != 0 {
			lc.FalseSince = 0
			o.Changed = true
			if in.Raise == True { // it fired again within the hold-off: a repeat
				lc.Count++
				lc.Ts = now
				o.Updated, o.CountUp = true, true
			}
		}
	}
	if lvl := lc.level(p, in, now); lvl != lc.Level {
		lc.Level = lvl
		if sev := p.severityAt(lvl); sev != lc.Severity {
			lc.Severity = sev
			lc.Ts = now
			o.Updated, o.SeverityChanged = true, true
		}
		o.Changed = true
	}
	if p.Reminder > 0 && !lc.Ack && now-lc.Reminded >= p.Reminder {
		lc.Reminded = now
		o.Remind, o.Changed = true, true
	}
	lc.remindDue(p, &o, now)
	lc.escalationDue(p, &o, now)
	return o
}

func (lc *Lifecycle) activate(p *Policy, in Input, id string) {
	lc.AlarmID = id
	lc.Status = StatusActive
	lc.Ack = false
	lc.Since, lc.Ts, lc.Reminded = in.Now, in.Now, in.Now
	lc.Count = 1
	lc.TrueSince, lc.TrueCount, lc.FalseSince = 0, 0, 0
	lc.Level = 0
	lc.Level = lc.level(p, in, in.Now)
	lc.Severity = p.severityAt(lc.Level)
}

func (lc *Lifecycle) clear(now int64) {
	lc.Status = StatusCleared
	lc.Ts = now
	lc.TrueSince, lc.TrueCount, lc.FalseSince = 0, 0, 0
}

// level is the escalation that applies now: the last whose criteria hold.
// An escalation in effect (or below the one in effect) is judged by its
// dead-band view, and an unknown condition keeps it.
func (lc *Lifecycle) level(p *Policy, in Input, now int64) int {
	lvl := 0
	for i, e := range p.Escalations {
		inEffect := i+1 <= lc.Level
		ok := e.After == 0 || now-lc.Since >= e.After
		if e.Cond && i < len(in.Esc) {
			t := in.Esc[i].Raise
			if inEffect {
				t = in.Esc[i].Hold
			}
			switch t {
			case False:
				ok = false
			case Unknown:
				ok = ok && inEffect
			}
		}
		if ok {
			lvl = i + 1
		}
	}
	return lvl
}

func (lc *Lifecycle) remindDue(p *Policy, o *Outcome, now int64) {
	if p.Reminder > 0 && !lc.Ack {
		o.due(lc.Reminded+p.Reminder, now)
	}
}

func (lc *Lifecycle) escalationDue(p *Policy, o *Outcome, now int64) {
	for _, e := range p.Escalations {
		if e.After > 0 {
			o.due(lc.Since+e.After, now)
		}
	}
}

// severityAt is the severity of escalation level lvl.
func (p *Policy) severityAt(lvl int) string {
	if lvl > 0 && lvl <= len(p.Escalations) {
		return severities[p.Escalations[lvl-1].Severity]
	}
	return severities[p.Severity]
}

// Acknowledge marks alarm id acknowledged; false when it is not this
// lifecycle's alarm or is acknowledged already. Reminders stop.
func (lc *Lifecycle) Acknowledge(id string) bool {
	if id == "" || lc.AlarmID != id || lc.Ack {
		return false
	}
	lc.Ack = true
	return true
}

// ClearManually clears active alarm id at device time now, as an operator
// does. The condition starts over: while it still holds, the next
// evaluations raise a new alarm (after the rule's duration).
func (lc *Lifecycle) ClearManually(id string, now int64) bool {
	if id == "" || lc.AlarmID != id || lc.Status != StatusActive {
		return false
	}
	if now < lc.Ts {
		now = lc.Ts
	}
	lc.clear(now)
	return true
}
