package alarm

import (
	"context"
	"time"
)

// RecorderKey is the engine resource (engine.Resources) under which the
// process provides the Recorder that keeps alarm records and their history.
// Without one, alarm nodes still emit their events; they log once that no
// history is kept.
const RecorderKey = "alarm.recorder"

// MsgType is the message type of alarm events.
const MsgType = "ALARM"

// Event is the payload of an ALARM message (DESIGN.md, Messages). Times are
// Unix milliseconds of device time.
type Event struct {
	AlarmID  string `json:"alarmId"`
	Rule     string `json:"rule"`
	DeviceID string `json:"deviceId"`
	// Signals are the values of the signals the rule reads, as last seen.
	Signals map[string]any `json:"signals"`
	// Value is the value that decided the condition (a rate for a rate
	// rule, the seconds of silence for noData); null when none did.
	Value        *float64 `json:"value"`
	Severity     string   `json:"severity"`
	Status       string   `json:"status"`
	Acknowledged bool     `json:"acknowledged"`
	// Since is when the alarm became active, Ts when this change happened.
	Since int64 `json:"since"`
	Ts    int64 `json:"ts"`
	Count int   `json:"count"`
}

// Kinds of Change.
const (
	ChangeCreated      = "created"      // a new active alarm
	ChangeUpdated      = "updated"      // a repeat or a severity change of an active alarm
	ChangeCleared      = "cleared"      // cleared by its condition (or, from the API, by an operator)
	ChangeAcknowledged = "acknowledged" // acknowledged by an operator (API only)
)

// Change is one change of an alarm, for its record and history.
type Change struct {
	Kind string
	// Reason says more: "count", "severity", "condition", "manual".
	Reason string
	Tenant string
	FlowID string
	NodeID string
	// CommandKey is the state key under which the API leaves operator
	// commands for this alarm's node (see SendCommand).
	CommandKey string
	Event      Event
	// At is the wall-clock time of the change.
	At time.Time
}

// Recorder keeps alarm records and their history of changes. The store's
// SQLite implementation sits behind it in sluice serve; it must be safe for
// concurrent use. Nodes call it only when Env.SideEffects is true.
type Recorder interface {
	RecordAlarm(ctx context.Context, c Change) error
}
