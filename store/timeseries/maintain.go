package timeseries

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Maintenance works in small transactions so that writers wait at most
// one of them: seriesPerTx series at a time, and (downsampling) one
// window of time at a time.
const (
	seriesPerTx      = 100
	downsampleWindow = time.Hour
	metaDownsampled  = "downsampled_to"
)

// MaintainReport says what one maintenance pass did.
type MaintainReport struct {
	// Deleted counts the points dropped by retention.
	Deleted int64
	// Downsampled counts the raw points replaced by downsampled ones, and
	// Rollups the downsampled points written.
	Downsampled, Rollups int64
	// SeriesRemoved counts the series left without points and forgotten.
	SeriesRemoved int64
}

func (s *Embedded) maintainLoop(ctx context.Context) {
	defer s.bg.Done()
	if s.opts.Retention <= 0 && s.opts.DownsampleAfter <= 0 {
		return
	}
	t := time.NewTicker(s.opts.MaintainEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		r, err := s.Maintain(ctx)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("time-series maintenance failed", "err", err)
			}
			continue
		}
		if r != (MaintainReport{}) {
			s.log.Info("time-series maintenance", "deleted", r.Deleted, "downsampled", r.Downsampled,
				"rollups", r.Rollups, "seriesRemoved", r.SeriesRemoved, "took", time.Since(start).Round(time.Millisecond))
		}
	}
}

// Maintain runs one pass of retention and downsampling now (the store also
// runs them every MaintainEvery).
func (s *Embedded) Maintain(ctx context.Context) (MaintainReport, error) {
	var r MaintainReport
	now := s.opts.Now().UnixMilli()
	if s.opts.Retention > 0 {
		n, removed, err := s.retain(ctx, now-s.opts.Retention.Milliseconds())
		r.Deleted, r.SeriesRemoved = n, removed
		if err != nil {
			return r, err
		}
	}
	if s.opts.DownsampleAfter > 0 {
		step := s.opts.DownsampleTo.Milliseconds()
		cutoff := floorDiv(now-s.opts.DownsampleAfter.Milliseconds(), step) * step
		raw, rollups, err := s.downsample(ctx, cutoff, step)
		r.Downsampled, r.Rollups = raw, rollups
		if err != nil {
			return r, err
		}
	}
	if r.Deleted > 0 || r.Downsampled > 0 {
		// Give the WAL's pages back; a busy reader only postpones it.
		if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
			s.log.Warn("time-series store: checkpoint after maintenance", "err", err)
		}
	}
	return r, nil
}

// seriesIDs lists every series id.
func (s *Embedded) seriesIDs(ctx context.Context) ([]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM series ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// inList is "(?,?,...)" for n values, and the values as arguments.
func inList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",") + ")", args
}

// inTx runs fn in a write transaction under the write lock.
func (s *Embedded) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return ErrClosed
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }() // after Commit: a no-op
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// retain deletes the points before cutoff, then the series left empty.
func (s *Embedded) retain(ctx context.Context, cutoff int64) (deleted, removed int64, err error) {
	ids, err := s.seriesIDs(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("retention: %w", err)
	}
	for len(ids) > 0 {
		chunk := ids[:min(seriesPerTx, len(ids))]
		ids = ids[len(chunk):]
		in, args := inList(chunk)
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM points WHERE series IN `+in+` AND ts < ?`, append(args, cutoff)...)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected() // the driver always knows
			deleted += n
			return nil
		})
		if err != nil {
			return deleted, 0, fmt.Errorf("retention: %w", err)
		}
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM points WHERE points.series = series.id)`)
		if err != nil {
			return err
		}
		removed, _ = res.RowsAffected() // the driver always knows
		if removed > 0 {
			clear(s.ids) // under writeMu: the next write looks its series up again
		}
		return nil
	})
	if err != nil {
		return deleted, removed, fmt.Errorf("retention: forget empty series: %w", err)
	}
	return deleted, removed, nil
}

// downsample replaces the raw points before cutoff (a multiple of step)
// that are at or after the previous pass's cutoff by one point per step
// per series. A raw point that arrives later for an already downsampled
// time stays raw; queries read both kinds the same way.
func (s *Embedded) downsample(ctx context.Context, cutoff, step int64) (raw, rollups int64, err error) {
	from, err := s.downsampleStart(ctx, step)
	if err != nil {
		return 0, 0, fmt.Errorf("downsample: %w", err)
	}
	if from >= cutoff {
		return 0, 0, nil
	}
	window := step * ((downsampleWindow.Milliseconds() + step - 1) / step)
	ids, err := s.seriesIDs(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("downsample: %w", err)
	}
	for a := from; a < cutoff; a += window {
		b := min(a+window, cutoff)
		for rest := ids; len(rest) > 0; {
			chunk := rest[:min(seriesPerTx, len(rest))]
			rest = rest[len(chunk):]
			r, n, err := s.downsampleChunk(ctx, chunk, a, b, step)
			raw, rollups = raw+r, rollups+n
			if err != nil {
				return raw, rollups, fmt.Errorf("downsample [%d, %d): %w", a, b, err)
			}
		}
		// Every series is done up to b: the next pass starts there.
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, metaDownsampled, b)
			return err
		})
		if err != nil {
			return raw, rollups, fmt.Errorf("downsample: save progress: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return raw, rollups, err
		}
	}
	return raw, rollups, nil
}

// downsampleStart is where the previous pass stopped or, on the first
// pass, the oldest point's time (rounded down to step).
func (s *Embedded) downsampleStart(ctx context.Context, step int64) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, metaDownsampled).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, err
	}
	var oldest sql.NullInt64
	// The oldest point of each series is one index probe.
	err = s.db.QueryRowContext(ctx, `SELECT min((SELECT min(ts) FROM points WHERE points.series = series.id)) FROM series`).Scan(&oldest)
	if err != nil {
		return 0, err
	}
	if !oldest.Valid {
		return 1<<63 - 1, nil // nothing stored yet
	}
	return floorDiv(oldest.Int64, step) * step, nil
}

// downsampleChunk downsamples the points of series ids in [a, b) in one
// transaction. Rows that are already downsampled take part with their
// count, so running a chunk twice changes nothing.
func (s *Embedded) downsampleChunk(ctx context.Context, ids []int64, a, b, step int64) (raw, rollups int64, err error) {
	in, idArgs := inList(ids)
	rng := func(extra ...any) []any {
		args := append([]any{a, step}, idArgs...)
		return append(append(args, a, b), extra...)
	}
	bucket := `ts - ((ts - ?) % ?)`
	where := ` FROM points WHERE series IN ` + in + ` AND ts >= ? AND ts < ?`
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*)`+where+` AND cnt IS NULL`, append(idArgs, a, b)...).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		raw = n
		stmts := []struct {
			sql  string
			args []any
		}{
			{`CREATE TEMP TABLE IF NOT EXISTS rollup (series INTEGER, ts INTEGER, kind INTEGER, num REAL, str TEXT, cnt INTEGER, mn REAL, mx REAL, PRIMARY KEY (series, ts))`, nil},
			{`DELETE FROM temp.rollup`, nil},
			// Numbers and bools: the average, count, minimum, maximum.
			{`INSERT INTO temp.rollup SELECT series, ` + bucket + ` AS m, 0,
				total(num * coalesce(cnt, 1)) / total(coalesce(cnt, 1)), NULL,
				sum(coalesce(cnt, 1)), min(coalesce(mn, num)), max(coalesce(mx, num))` +
				where + ` AND num IS NOT NULL GROUP BY series, m`, rng()},
			// Strings (where a bucket holds no number): the last value.
			{`INSERT OR IGNORE INTO temp.rollup SELECT series, m, 2, NULL, str, n, NULL, NULL FROM (
				SELECT series, ` + bucket + ` AS m, max(ts), str, sum(coalesce(cnt, 1)) AS n` +
				where + ` AND num IS NULL GROUP BY series, m)`, rng()},
			{`DELETE` + where, append(idArgs, a, b)},
			{`INSERT INTO points (series, ts, kind, num, str, cnt, mn, mx) SELECT series, ts, kind, num, str, cnt, mn, mx FROM temp.rollup`, nil},
		}
		for i, st := range stmts {
			res, err := tx.ExecContext(ctx, st.sql, st.args...)
			if err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
			if i == len(stmts)-1 {
				rollups, _ = res.RowsAffected() // the driver always knows
			}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM temp.rollup`)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	return raw, rollups, nil
}
