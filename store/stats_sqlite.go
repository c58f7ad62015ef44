package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidStats is returned (wrapped) for a statistics record the store
// refuses.
var ErrInvalidStats = errors.New("invalid statistics record")

// Stats returns the statistics repository of the embedded database.
func (db *DB) Stats() StatsRepo { return &statsRepo{db: db.sql} }

type statsRepo struct{ db *sql.DB }

var _ StatsRepo = (*statsRepo)(nil)

const statsColumns = `tenant, id, flow_id, node_id, job, window_from, window_to, groups_json, created_at`

func checkStats(r StatsRecord) error {
	switch {
	case r.NodeID == "":
		return fmt.Errorf("stats record: no node: %w", ErrInvalidStats)
	case r.WindowTo <= r.WindowFrom:
		return fmt.Errorf("stats record of node %q: window to (%d) must be after from (%d): %w", r.NodeID, r.WindowTo, r.WindowFrom, ErrInvalidStats)
	}
	return nil
}

// RecordStats implements StatsRepo: an upsert by (tenant, flow, node,
// window) that keeps the first record's id.
func (r *statsRepo) RecordStats(ctx context.Context, rec StatsRecord) (StatsRecord, error) {
	rec.Tenant = tenantOr(rec.Tenant)
	if err := checkStats(rec); err != nil {
		return StatsRecord{}, fmt.Errorf("record stats: %w", err)
	}
	if rec.Groups == nil {
		rec.Groups = []map[string]any{}
	}
	groups, err := json.Marshal(rec.Groups)
	if err != nil {
		return StatsRecord{}, fmt.Errorf("record stats of node %q: groups: %w", rec.NodeID, err)
	}
	id := rec.ID
	if id == "" {
		id = newID()
	}
	row := r.db.QueryRowContext(ctx, `INSERT INTO stats_records (`+statsColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant, flow_id, node_id, window_from, window_to) DO UPDATE SET
			job = excluded.job, groups_json = excluded.groups_json, created_at = excluded.created_at
		RETURNING `+statsColumns,
		rec.Tenant, id, rec.FlowID, rec.NodeID, rec.Job, rec.WindowFrom, rec.WindowTo, string(groups), toUnix(now()))
	stored, err := scanStats(row)
	if err != nil {
		return StatsRecord{}, fmt.Errorf("record stats of node %q, window %d-%d: %w", rec.NodeID, rec.WindowFrom, rec.WindowTo, err)
	}
	return stored, nil
}

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

func scanStats(s rowScanner) (StatsRecord, error) {
	var rec StatsRecord
	var groups string
	var created int64
	if err := s.Scan(&rec.Tenant, &rec.ID, &rec.FlowID, &rec.NodeID, &rec.Job, &rec.WindowFrom, &rec.WindowTo, &groups, &created); err != nil {
		return StatsRecord{}, err
	}
	if err := json.Unmarshal([]byte(groups), &rec.Groups); err != nil {
		return StatsRecord{}, fmt.Errorf("stats record %s: groups: %w", rec.ID, err)
	}
	if rec.Groups == nil {
		rec.Groups = []map[string]any{}
	}
	rec.CreatedAt = fromUnix(created)
	return rec, nil
}

// ListStats implements StatsRepo: newest window (WindowTo, then
// WindowFrom) first.
func (r *statsRepo) ListStats(ctx context.Context, f StatsFilter) ([]StatsRecord, int, error) {
	where := []string{"tenant = ?"}
	args := []any{tenantOr(f.Tenant)}
	eq := func(col, v string) {
		if v != "" {
			where = append(where, col+" = ?")
			args = append(args, v)
		}
	}
	eq("flow_id", f.FlowID)
	eq("node_id", f.NodeID)
	eq("job", f.Job)
	if !f.From.IsZero() {
		where = append(where, "window_to >= ?")
		args = append(args, f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		where = append(where, "window_to < ?")
		args = append(args, f.To.UnixMilli())
	}
	cond := " WHERE " + strings.Join(where, " AND ")
	var total int
	if err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM stats_records`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list stats: count: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := r.db.QueryContext(ctx, `SELECT `+statsColumns+` FROM stats_records`+cond+
		` ORDER BY window_to DESC, window_from DESC, id LIMIT ? OFFSET ?`, append(args, limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("list stats: %w", err)
	}
	defer rows.Close()
	out := []StatsRecord{}
	for rows.Next() {
		rec, err := scanStats(rows)
		if err != nil {
			return nil, 0, fmt.Errorf("list stats: %w", err)
		}
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list stats: %w", err)
	}
	return out, total, nil
}
