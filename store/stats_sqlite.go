package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
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
	q := tenantFilter(f.Tenant)
	q.eq("flow_id", f.FlowID)
	q.eq("node_id", f.NodeID)
	q.eq("job", f.Job)
	q.between("window_to", f.From, f.To)
	rows, total, err := q.page(ctx, r.db, "list stats", "stats_records", statsColumns, "window_to DESC, window_from DESC, id", f.Limit, f.Offset)
	if err != nil {
		return nil, 0, err
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
