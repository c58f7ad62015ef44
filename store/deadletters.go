package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DeadLetter is a message that ended in an unhandled failure or a timeout,
// kept with its error and trace so that it can be inspected and replayed.
type DeadLetter struct {
	ID        string            `json:"id"`
	Tenant    string            `json:"tenant"`
	FlowID    string            `json:"flowId"`
	Version   int               `json:"version"`
	NodeID    string            `json:"nodeId"`
	MsgID     string            `json:"msgId"`
	MsgType   string            `json:"msgType"`
	DataType  string            `json:"dataType"`
	Data      string            `json:"data"`
	Metadata  map[string]string `json:"metadata"`
	Error     string            `json:"error"`
	Trace     json.RawMessage   `json:"trace,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
}

// DeadLetterFilter selects a page of dead letters. Empty Tenant or FlowID
// match every tenant or flow; Limit <= 0 means no limit.
type DeadLetterFilter struct {
	Tenant string
	FlowID string
	Limit  int
	Offset int
}

// DeadLetterRepo stores dead letters, bounded to the newest Options.MaxDeadLetters.
type DeadLetterRepo interface {
	// AddDeadLetter saves a dead letter with a generated ID and drops the
	// oldest ones past the bound.
	AddDeadLetter(ctx context.Context, d DeadLetter) (DeadLetter, error)
	// ListDeadLetters returns a page, newest first, and the total that match.
	ListDeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, int, error)
	// DeadLetter returns one dead letter of a tenant, or ErrNotFound.
	DeadLetter(ctx context.Context, tenant, id string) (DeadLetter, error)
	// DeleteDeadLetter deletes one dead letter of a tenant, or returns ErrNotFound.
	DeleteDeadLetter(ctx context.Context, tenant, id string) error
}

type deadLetterRepo struct {
	db  *sql.DB
	max int
}

var _ DeadLetterRepo = (*deadLetterRepo)(nil)

const deadLetterColumns = `id, tenant, flow_id, version, node_id, msg_id, msg_type, data_type, data, metadata, error, trace, created_at`

func (r *deadLetterRepo) AddDeadLetter(ctx context.Context, d DeadLetter) (DeadLetter, error) {
	d.ID = newID()
	d.Tenant = tenantOr(d.Tenant)
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now()
	}
	d.CreatedAt = fromUnix(toUnix(d.CreatedAt))
	if d.Metadata == nil {
		d.Metadata = map[string]string{}
	}
	meta, err := json.Marshal(d.Metadata)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("add dead letter: encode metadata: %w", err)
	}
	var trace sql.NullString
	if len(d.Trace) > 0 {
		if !json.Valid(d.Trace) {
			return DeadLetter{}, errors.New("add dead letter: trace is not valid json")
		}
		trace = sql.NullString{String: string(d.Trace), Valid: true}
	}

	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("add dead letter: begin: %w", err)
	}
	defer rollback(tx)
	if _, err := tx.ExecContext(ctx, `INSERT INTO dead_letters (`+deadLetterColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.ID, d.Tenant, d.FlowID, d.Version, d.NodeID, d.MsgID, d.MsgType, d.DataType, d.Data,
		string(meta), d.Error, trace, toUnix(d.CreatedAt)); err != nil {
		return DeadLetter{}, fmt.Errorf("add dead letter: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM dead_letters WHERE seq <=
		(SELECT seq FROM dead_letters ORDER BY seq DESC LIMIT 1 OFFSET ?)`, r.max); err != nil {
		return DeadLetter{}, fmt.Errorf("add dead letter: drop the oldest: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return DeadLetter{}, fmt.Errorf("add dead letter: commit: %w", err)
	}
	return d, nil
}

func (r *deadLetterRepo) ListDeadLetters(ctx context.Context, f DeadLetterFilter) ([]DeadLetter, int, error) {
	const where = ` WHERE (? = '' OR tenant = ?) AND (? = '' OR flow_id = ?)`
	args := []any{f.Tenant, f.Tenant, f.FlowID, f.FlowID}
	var total int
	if err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM dead_letters`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list dead letters: count: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := r.db.QueryContext(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters`+where+
		` ORDER BY seq DESC LIMIT ? OFFSET ?`, append(args, limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("list dead letters: %w", err)
	}
	defer rows.Close()
	out := []DeadLetter{}
	for rows.Next() {
		d, err := scanDeadLetter(rows.Scan)
		if err != nil {
			return nil, 0, fmt.Errorf("list dead letters: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list dead letters: %w", err)
	}
	return out, total, nil
}

func (r *deadLetterRepo) DeadLetter(ctx context.Context, tenant, id string) (DeadLetter, error) {
	row := r.db.QueryRowContext(ctx, `SELECT `+deadLetterColumns+` FROM dead_letters WHERE tenant = ? AND id = ?`,
		tenantOr(tenant), id)
	d, err := scanDeadLetter(row.Scan)
	if err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %s: %w", id, err)
	}
	return d, nil
}

func (r *deadLetterRepo) DeleteDeadLetter(ctx context.Context, tenant, id string) error {
	res, err := r.db.ExecContext(ctx, `DELETE FROM dead_letters WHERE tenant = ? AND id = ?`, tenantOr(tenant), id)
	if err != nil {
		return fmt.Errorf("delete dead letter %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete dead letter %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("delete dead letter %s: %w", id, ErrNotFound)
	}
	return nil
}

func scanDeadLetter(scan func(...any) error) (DeadLetter, error) {
	var d DeadLetter
	var meta string
	var trace sql.NullString
	var created int64
	err := scan(&d.ID, &d.Tenant, &d.FlowID, &d.Version, &d.NodeID, &d.MsgID, &d.MsgType, &d.DataType, &d.Data,
		&meta, &d.Error, &trace, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return DeadLetter{}, ErrNotFound
	}
	if err != nil {
		return DeadLetter{}, err
	}
	if err := json.Unmarshal([]byte(meta), &d.Metadata); err != nil {
		return DeadLetter{}, fmt.Errorf("dead letter %s: decode metadata: %w", d.ID, err)
	}
	if trace.Valid {
		d.Trace = json.RawMessage(trace.String)
	}
	d.CreatedAt = fromUnix(created)
	return d, nil
}
