package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Alarm statuses and history kinds.
const (
	AlarmActive  = "active"
	AlarmCleared = "cleared"

	AlarmCreated      = "created"
	AlarmUpdated      = "updated"
	AlarmAcknowledged = "acknowledged"
	// AlarmCleared is also the kind of a clear.
)

// ErrInvalidAlarm is returned (wrapped) for an alarm the store refuses.
var ErrInvalidAlarm = errors.New("invalid alarm")

// Alarm is an alarm raised by an alarm node. Status (active or cleared) and
// Acknowledged are independent. Since and Ts are device time in Unix
// milliseconds, as in alarm events.
type Alarm struct {
	ID           string         `json:"id"`
	Tenant       string         `json:"tenant"`
	FlowID       string         `json:"flowId"`
	NodeID       string         `json:"nodeId"`
	Rule         string         `json:"rule"`
	DeviceID     string         `json:"deviceId"`
	Severity     string         `json:"severity"`
	Status       string         `json:"status"`
	Acknowledged bool           `json:"acknowledged"`
	Value        *float64       `json:"value"`
	Signals      map[string]any `json:"signals"`
	Count        int            `json:"count"`
	Since        int64          `json:"since"`
	Ts           int64          `json:"ts"`
	AckedAt      time.Time      `json:"ackedAt,omitzero"`
	AckedBy      string         `json:"ackedBy,omitempty"`
	AckComment   string         `json:"ackComment,omitempty"`
	ClearedAt    time.Time      `json:"clearedAt,omitzero"`
	ClearedBy    string         `json:"clearedBy,omitempty"`
	ClearComment string         `json:"clearComment,omitempty"`
	// CommandKey is the state key under which operator commands reach the
	// alarm's node (nodes/alarm.SendCommand).
	CommandKey string    `json:"-"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// AlarmHistoryEntry is one change of an alarm.
type AlarmHistoryEntry struct {
	Seq  int64     `json:"seq"`
	At   time.Time `json:"at"`
	Kind string    `json:"kind"` // created, updated, cleared, acknowledged
	// Reason says more: condition, count, severity, manual.
	Reason       string   `json:"reason,omitempty"`
	Severity     string   `json:"severity"`
	Status       string   `json:"status"`
	Acknowledged bool     `json:"acknowledged"`
	Value        *float64 `json:"value"`
	Count        int      `json:"count"`
	Ts           int64    `json:"ts"`
	By           string   `json:"by,omitempty"`
	Comment      string   `json:"comment,omitempty"`
}

// AlarmFilter selects a page of a tenant's alarms, newest (Since) first.
// Empty fields match everything; From and To bound Since (To exclusive);
// Limit <= 0 means no limit.
type AlarmFilter struct {
	Tenant       string
	Status       string
	Severities   []string
	Acknowledged *bool
	DeviceID     string
	Rule         string
	FlowID       string
	From, To     time.Time
	Limit        int
	Offset       int
}

// AlarmRepo stores alarms and their history.
type AlarmRepo interface {
	// RecordAlarm saves a change an alarm node made: a new alarm, or an
	// update of its severity, value, signals, count and time, or its clear
	// by the condition; h is appended to its history. An alarm an operator
	// has cleared stays cleared (its node learns of the clear and raises a
	// new alarm if need be). It returns the alarm as stored.
	RecordAlarm(ctx context.Context, a Alarm, h AlarmHistoryEntry) (Alarm, error)
	// AckAlarm acknowledges an alarm for user with a comment; changed is
	// false when it was acknowledged already. ErrNotFound when missing.
	AckAlarm(ctx context.Context, tenant, id, user, comment string) (a Alarm, changed bool, err error)
	// ClearAlarm clears an alarm for user with a comment; changed is false
	// when it was cleared already. ErrNotFound when missing.
	ClearAlarm(ctx context.Context, tenant, id, user, comment string) (a Alarm, changed bool, err error)
	// AlarmByID returns an alarm, or ErrNotFound.
	AlarmByID(ctx context.Context, tenant, id string) (Alarm, error)
	// AlarmHistory returns an alarm's changes, oldest first (ErrNotFound
	// when the alarm does not exist).
	AlarmHistory(ctx context.Context, tenant, id string) ([]AlarmHistoryEntry, error)
	// ListAlarms returns a page and the total that match.
	ListAlarms(ctx context.Context, f AlarmFilter) ([]Alarm, int, error)
}

// Alarms returns the alarm repository.
func (db *DB) Alarms() AlarmRepo { return &alarmRepo{db: db.sql} }

type alarmRepo struct{ db *sql.DB }

var _ AlarmRepo = (*alarmRepo)(nil)

const alarmColumns = `tenant, id, flow_id, node_id, rule, device_id, severity, status, acknowledged, value, signals, count,
	since, ts, acked_at, acked_by, ack_comment, cleared_at, cleared_by, clear_comment, command_key, created_at, updated_at`

var alarmSeverities = []string{"critical", "major", "minor", "warning", "info"}

func checkAlarm(a Alarm) error {
	switch {
	case a.ID == "":
		return fmt.Errorf("alarm: no id: %w", ErrInvalidAlarm)
	case a.Rule == "" || a.DeviceID == "":
		return fmt.Errorf("alarm %s: want a rule and a device: %w", a.ID, ErrInvalidAlarm)
	case a.Status != AlarmActive && a.Status != AlarmCleared:
		return fmt.Errorf("alarm %s: status %q: want active or cleared: %w", a.ID, a.Status, ErrInvalidAlarm)
	}
	for _, s := range alarmSeverities {
		if a.Severity == s {
			return nil
		}
	}
	return fmt.Errorf("alarm %s: severity %q: want one of %s: %w", a.ID, a.Severity, strings.Join(alarmSeverities, ", "), ErrInvalidAlarm)
}

func (r *alarmRepo) RecordAlarm(ctx context.Context, a Alarm, h AlarmHistoryEntry) (Alarm, error) {
	a.Tenant = tenantOr(a.Tenant)
	if err := checkAlarm(a); err != nil {
		return Alarm{}, fmt.Errorf("record alarm: %w", err)
	}
	signals, err := json.Marshal(a.Signals)
	if err != nil || a.Signals == nil {
		signals = []byte("{}")
	}
	at := now()
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return Alarm{}, fmt.Errorf("record alarm %s: begin: %w", a.ID, err)
	}
	defer rollback(tx)
	var status string
	err = tx.QueryRowContext(ctx, `SELECT status FROM alarms WHERE tenant = ? AND id = ?`, a.Tenant, a.ID).Scan(&status)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		clearedAt := int64(0)
		if a.Status == AlarmCleared {
			clearedAt = toUnix(at)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO alarms (`+alarmColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, '', '', ?, '', '', ?, ?, ?)`,
			a.Tenant, a.ID, a.FlowID, a.NodeID, a.Rule, a.DeviceID, a.Severity, a.Status, a.Acknowledged, a.Value, string(signals),
			max(a.Count, 1), a.Since, a.Ts, clearedAt, a.CommandKey, toUnix(at), toUnix(at))
	case err != nil:
		return Alarm{}, fmt.Errorf("record alarm %s: %w", a.ID, err)
	default:
		// The node never reopens an alarm an operator cleared.
		_, err = tx.ExecContext(ctx, `UPDATE alarms SET severity = ?, value = ?, signals = ?, count = ?, ts = ?, updated_at = ?,
			status = CASE WHEN status = 'active' THEN ? ELSE status END,
			cleared_at = CASE WHEN status = 'active' AND ? = 'cleared' THEN ? ELSE cleared_at END
			WHERE tenant = ? AND id = ?`,
			a.Severity, a.Value, string(signals), max(a.Count, 1), a.Ts, toUnix(at),
			a.Status, a.Status, toUnix(at), a.Tenant, a.ID)
	}
	if err != nil {
		return Alarm{}, fmt.Errorf("record alarm %s: %w", a.ID, err)
	}
	stored, err := alarmByID(ctx, tx, a.Tenant, a.ID)
	if err != nil {
		return Alarm{}, fmt.Errorf("record alarm: %w", err)
	}
	h.At = at
	if h.Kind == "" {
		h.Kind = AlarmUpdated
	}
	if err := addHistory(ctx, tx, stored, h); err != nil {
		return Alarm{}, fmt.Errorf("record alarm %s: %w", a.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return Alarm{}, fmt.Errorf("record alarm %s: commit: %w", a.ID, err)
	}
	return stored, nil
}

// addHistory appends h, completed from the alarm's stored state.
func addHistory(ctx context.Context, tx *sql.Tx, a Alarm, h AlarmHistoryEntry) error {
	h.Severity, h.Status, h.Acknowledged, h.Count, h.Ts = a.Severity, a.Status, a.Acknowledged, a.Count, a.Ts
	if h.Value == nil {
		h.Value = a.Value
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO alarm_history (tenant, alarm_id, at, kind, reason, severity, status, acknowledged, value, count, ts, by_user, comment)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.Tenant, a.ID, toUnix(h.At), h.Kind, h.Reason, h.Severity, h.Status, h.Acknowledged, h.Value, h.Count, h.Ts, h.By, h.Comment)
	if err != nil {
		return fmt.Errorf("add history: %w", err)
	}
	return nil
}

func (r *alarmRepo) AckAlarm(ctx context.Context, tenant, id, user, comment string) (Alarm, bool, error) {
	return r.operate(ctx, tenant, id, "acknowledge", AlarmAcknowledged, user, comment,
		func(a Alarm) bool { return !a.Acknowledged },
		`UPDATE alarms SET acknowledged = 1, acked_at = ?, acked_by = ?, ack_comment = ?, updated_at = ? WHERE tenant = ? AND id = ?`)
}

func (r *alarmRepo) ClearAlarm(ctx context.Context, tenant, id, user, comment string) (Alarm, bool, error) {
	return r.operate(ctx, tenant, id, "clear", AlarmCleared, user, comment,
		func(a Alarm) bool { return a.Status == AlarmActive },
		`UPDATE alarms SET status = 'cleared', cleared_at = ?, cleared_by = ?, clear_comment = ?, updated_at = ? WHERE tenant = ? AND id = ?`)
}

// operate applies an operator's action (update, with args at, user,
// comment, at, tenant, id) when applies says it changes the alarm.
func (r *alarmRepo) operate(ctx context.Context, tenant, id, what, kind, user, comment string, applies func(Alarm) bool, update string) (Alarm, bool, error) {
	tenant = tenantOr(tenant)
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return Alarm{}, false, fmt.Errorf("%s alarm %s: begin: %w", what, id, err)
	}
	defer rollback(tx)
	a, err := alarmByID(ctx, tx, tenant, id)
	if err != nil {
		return Alarm{}, false, fmt.Errorf("%s %w", what, err)
	}
	if !applies(a) {
		return a, false, nil
	}
	at := now()
	if _, err := tx.ExecContext(ctx, update, toUnix(at), user, comment, toUnix(at), tenant, id); err != nil {
		return Alarm{}, false, fmt.Errorf("%s alarm %s: %w", what, id, err)
	}
	if a, err = alarmByID(ctx, tx, tenant, id); err != nil {
		return Alarm{}, false, fmt.Errorf("%s %w", what, err)
	}
	if err := addHistory(ctx, tx, a, AlarmHistoryEntry{At: at, Kind: kind, Reason: "manual", By: user, Comment: comment}); err != nil {
		return Alarm{}, false, fmt.Errorf("%s alarm %s: %w", what, id, err)
	}
	if err := tx.Commit(); err != nil {
		return Alarm{}, false, fmt.Errorf("%s alarm %s: commit: %w", what, id, err)
	}
	return a, true, nil
}

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func alarmByID(ctx context.Context, q queryer, tenant, id string) (Alarm, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+alarmColumns+` FROM alarms WHERE tenant = ? AND id = ?`, tenant, id)
	if err != nil {
		return Alarm{}, fmt.Errorf("alarm %s: %w", id, err)
	}
	as, err := scanAlarms(rows)
	if err != nil {
		return Alarm{}, fmt.Errorf("alarm %s: %w", id, err)
	}
	if len(as) == 0 {
		return Alarm{}, fmt.Errorf("alarm %s: %w", id, ErrNotFound)
	}
	return as[0], nil
}

func (r *alarmRepo) AlarmByID(ctx context.Context, tenant, id string) (Alarm, error) {
	return alarmByID(ctx, r.db, tenantOr(tenant), id)
}

func scanAlarms(rows *sql.Rows) ([]Alarm, error) {
	defer rows.Close()
	var out []Alarm
	for rows.Next() {
		var a Alarm
		var value sql.NullFloat64
		var signals string
		var ackedAt, clearedAt, createdAt, updatedAt int64
		if err := rows.Scan(&a.Tenant, &a.ID, &a.FlowID, &a.NodeID, &a.Rule, &a.DeviceID, &a.Severity, &a.Status, &a.Acknowledged,
			&value, &signals, &a.Count, &a.Since, &a.Ts, &ackedAt, &a.AckedBy, &a.AckComment, &clearedAt, &a.ClearedBy, &a.ClearComment,
			&a.CommandKey, &createdAt, &updatedAt); err != nil {
			return nil, err
		}
		if value.Valid {
			v := value.Float64
			a.Value = &v
		}
		if err := json.Unmarshal([]byte(signals), &a.Signals); err != nil || a.Signals == nil {
			a.Signals = map[string]any{}
		}
		a.AckedAt, a.ClearedAt, a.CreatedAt, a.UpdatedAt = fromUnix(ackedAt), fromUnix(clearedAt), fromUnix(createdAt), fromUnix(updatedAt)
		out = append(out, a)
	}
	return out, rows.Err()
}

func (r *alarmRepo) AlarmHistory(ctx context.Context, tenant, id string) ([]AlarmHistoryEntry, error) {
	tenant = tenantOr(tenant)
	if _, err := alarmByID(ctx, r.db, tenant, id); err != nil {
		return nil, fmt.Errorf("alarm history: %w", err)
	}
	rows, err := r.db.QueryContext(ctx, `SELECT seq, at, kind, reason, severity, status, acknowledged, value, count, ts, by_user, comment
		FROM alarm_history WHERE tenant = ? AND alarm_id = ? ORDER BY seq`, tenant, id)
	if err != nil {
		return nil, fmt.Errorf("alarm %s history: %w", id, err)
	}
	defer rows.Close()
	out := []AlarmHistoryEntry{}
	for rows.Next() {
		var h AlarmHistoryEntry
		var at int64
		var value sql.NullFloat64
		if err := rows.Scan(&h.Seq, &at, &h.Kind, &h.Reason, &h.Severity, &h.Status, &h.Acknowledged, &value, &h.Count, &h.Ts, &h.By, &h.Comment); err != nil {
			return nil, fmt.Errorf("alarm %s history: %w", id, err)
		}
		h.At = fromUnix(at)
		if value.Valid {
			v := value.Float64
			h.Value = &v
		}
		out = append(out, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("alarm %s history: %w", id, err)
	}
	return out, nil
}

func (r *alarmRepo) ListAlarms(ctx context.Context, f AlarmFilter) ([]Alarm, int, error) {
	q := tenantFilter(f.Tenant)
	q.eq("status", f.Status)
	q.eq("device_id", f.DeviceID)
	q.eq("rule", f.Rule)
	q.eq("flow_id", f.FlowID)
	q.in("severity", f.Severities)
	if f.Acknowledged != nil {
		q.add("acknowledged = ?", *f.Acknowledged)
	}
	q.between("since", f.From, f.To)
	rows, total, err := q.page(ctx, r.db, "list alarms", "alarms", alarmColumns, "since DESC, id", f.Limit, f.Offset)
	if err != nil {
		return nil, 0, err
	}
	as, err := scanAlarms(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("list alarms: %w", err)
	}
	if as == nil {
		as = []Alarm{}
	}
	return as, total, nil
}
