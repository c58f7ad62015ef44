package timeseries

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// FileName is the embedded store's file in the data directory. It is not
// the system database (sluice.db): a heavy telemetry write load never
// holds the lock that flows, users and devices need.
const FileName = "timeseries.db"

// schemaVersion is the PRAGMA user_version of the schema below.
const schemaVersion = 1

// The schema. Series are a dictionary: a point row holds the integer id
// of its (tenant, device, signal), so rows stay small and a range query is
// one b-tree range over the points table's primary key (series, ts),
// which is also the table's storage order (WITHOUT ROWID). Raw points have
// cnt, mn and mx NULL; a downsampled point holds the average of cnt values
// in num and their minimum and maximum in mn and mx, so that aggregates
// over old data stay exact.
const schema = `
CREATE TABLE IF NOT EXISTS series (
	id     INTEGER PRIMARY KEY,
	tenant TEXT NOT NULL,
	device TEXT NOT NULL,
	signal TEXT NOT NULL,
	tags   TEXT NOT NULL DEFAULT '',
	UNIQUE (tenant, device, signal)
);
CREATE TABLE IF NOT EXISTS points (
	series INTEGER NOT NULL,
	ts     INTEGER NOT NULL,
	kind   INTEGER NOT NULL,
	num    REAL,
	str    TEXT,
	cnt    INTEGER,
	mn     REAL,
	mx     REAL,
	PRIMARY KEY (series, ts)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
`

// upsertPoints writes rows raw points; the same (series, ts) again
// replaces the value (idempotent replays), except over a downsampled
// point, which already accounts for it.
func upsertPoints(rows int) string {
	return `INSERT INTO points (series, ts, kind, num, str) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?),", rows), ",") + `
ON CONFLICT (series, ts) DO UPDATE SET kind = excluded.kind, num = excluded.num, str = excluded.str
WHERE points.cnt IS NULL`
}

// rowsPerInsert is how many points one insert statement carries: fewer
// statements cost less than more parameters.
const rowsPerInsert = 64

// Options tune the embedded store. Zero values take the defaults.
type Options struct {
	// Retention drops points older than this; 0 keeps them forever.
	Retention time.Duration
	// DownsampleAfter replaces the raw points older than this by one point
	// per DownsampleTo (per signal): numbers and bools by their average
	// (keeping count, minimum and maximum, so aggregates stay exact),
	// strings by their last value. 0 turns downsampling off.
	DownsampleAfter time.Duration
	// DownsampleTo is the width of a downsampled point (default 1m).
	DownsampleTo time.Duration
	// MaintainEvery is how often retention and downsampling run (default
	// 1h). They run in the background, in short transactions.
	MaintainEvery time.Duration
	// Logger receives maintenance reports (default slog.Default()).
	Logger *slog.Logger
	// Now is the clock of retention and downsampling (default time.Now).
	Now func() time.Time
}

func (o *Options) defaults() error {
	if o.DownsampleTo <= 0 {
		o.DownsampleTo = time.Minute
	}
	if o.MaintainEvery <= 0 {
		o.MaintainEvery = time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.Retention < 0:
		return fmt.Errorf("retention: must not be negative, got %s", o.Retention)
	case o.DownsampleAfter < 0:
		return fmt.Errorf("downsample after: must not be negative, got %s", o.DownsampleAfter)
	case o.DownsampleTo < time.Second || o.DownsampleTo%time.Millisecond != 0:
		return fmt.Errorf("downsample to: want whole milliseconds, 1s or more, got %s", o.DownsampleTo)
	case o.DownsampleAfter > 0 && o.DownsampleAfter < o.DownsampleTo:
		return fmt.Errorf("downsample after (%s): must be at least downsample to (%s)", o.DownsampleAfter, o.DownsampleTo)
	}
	return nil
}

// Embedded is the time-series store in an SQLite file of its own.
type Embedded struct {
	db   *sql.DB
	path string
	opts Options
	log  *slog.Logger

	// writeMu serialises writers (points, retention, downsampling), so
	// that they queue here rather than spin on SQLite's busy lock; readers
	// run beside them (WAL).
	writeMu sync.Mutex
	closed  bool
	// ids caches series ids by key (guarded by writeMu).
	ids     map[seriesKey]seriesEntry
	upsert  *sql.Stmt // one point
	upsertN *sql.Stmt // rowsPerInsert points

	stop context.CancelFunc
	bg   sync.WaitGroup
}

var _ Store = (*Embedded)(nil)

type seriesKey struct{ tenant, device, signal string }

type seriesEntry struct {
	id   int64
	tags string
}

// Open opens (creating when needed) dataDir/timeseries.db and starts the
// background maintenance (retention, downsampling) that Close stops.
func Open(ctx context.Context, dataDir string, opts Options) (*Embedded, error) {
	if err := opts.defaults(); err != nil {
		return nil, fmt.Errorf("open time-series store: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("open time-series store: create data directory: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(dataDir, FileName))
	if err != nil {
		return nil, fmt.Errorf("open time-series store: %w", err)
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open time-series store %s: %w", path, err)
	}
	// One writer at a time (writeMu) plus concurrent readers.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	s := &Embedded{db: db, path: path, opts: opts, log: opts.Logger.With("store", "timeseries"), ids: map[seriesKey]seriesEntry{}}
	if err := s.init(ctx); err != nil {
		_ = db.Close() // the init error is the one worth reporting
		return nil, fmt.Errorf("open time-series store %s: %w", path, err)
	}
	bg, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.bg.Add(1)
	go s.maintainLoop(bg)
	return s, nil
}

// dsn is the driver's connection string: WAL (readers never block the
// writer), NORMAL sync (a crash loses no committed transaction; a power
// loss may lose the last ones), a busy timeout, an in-memory temp store,
// immediate write transactions and a 32 MiB page cache per connection.
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Add("_pragma", "cache_size(-32768)")
	q.Set("_txlock", "immediate")
	u := url.URL{Path: filepath.ToSlash(path)}
	return "file:" + u.EscapedPath() + "?" + q.Encode()
}

func (s *Embedded) init(ctx context.Context) error {
	var v int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this sluice knows (%d)", v, schemaVersion)
	}
	if v < schemaVersion {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
		defer func() { _ = tx.Rollback() }() // after Commit: a no-op
		if _, err := tx.ExecContext(ctx, schema); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
			return fmt.Errorf("set schema version: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	st, err := s.db.PrepareContext(ctx, upsertPoints(1))
	if err != nil {
		return fmt.Errorf("prepare insert: %w", err)
	}
	s.upsert = st
	st, err = s.db.PrepareContext(ctx, upsertPoints(rowsPerInsert))
	if err != nil {
		return fmt.Errorf("prepare insert: %w", err)
	}
	s.upsertN = st
	return nil
}

// Path is the store's file.
func (s *Embedded) Path() string { return s.path }

// Close stops the maintenance and closes the file. Writes after Close fail
// with ErrClosed.
func (s *Embedded) Close() error {
	s.stop()
	s.bg.Wait()
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	for _, st := range []*sql.Stmt{s.upsert, s.upsertN} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	errs = append(errs, s.db.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close time-series store: %w", err)
	}
	return nil
}

// Write stores points in one transaction: all or none. A point already
// stored at the same (tenant, device, signal, ts) gets the new value, so a
// replayed batch does not duplicate.
func (s *Embedded) Write(ctx context.Context, points []Point) error {
	if len(points) == 0 {
		return nil
	}
	for i := range points {
		if err := points[i].Check(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.closed {
		return fmt.Errorf("write: %w", ErrClosed)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("write: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // after Commit: a no-op
	fresh := map[seriesKey]seriesEntry{}
	one, many := tx.StmtContext(ctx, s.upsert), tx.StmtContext(ctx, s.upsertN)
	// The driver watches a cancellable context with a goroutine per
	// statement: statements go without it, and ctx is checked between them.
	rowCtx := context.WithoutCancel(ctx)
	args := make([]any, 0, 5*rowsPerInsert)
	for start := 0; start < len(points); {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		n := rowsPerInsert
		st := many
		if len(points)-start < rowsPerInsert {
			n, st = 1, one
		}
		args = args[:0]
		for i := start; i < start+n; i++ {
			p := &points[i]
			id, err := s.seriesID(rowCtx, tx, p, fresh)
			if err != nil {
				return fmt.Errorf("write: %w", err)
			}
			var num, str any
			if p.Value.Kind == KindString {
				str = p.Value.Str
			} else {
				num = p.Value.Num
			}
			args = append(args, id, p.TS, int64(p.Value.Kind), num, str)
		}
		if _, err := st.ExecContext(rowCtx, args...); err != nil {
			return fmt.Errorf("write: points %d to %d: %w", start, start+n-1, err)
		}
		start += n
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("write: commit: %w", err)
	}
	for k, e := range fresh {
		s.ids[k] = e
	}
	return nil
}

// seriesID returns the id of p's series, creating it (or updating its
// tags) in tx; what tx creates goes to fresh until it commits.
func (s *Embedded) seriesID(ctx context.Context, tx *sql.Tx, p *Point, fresh map[seriesKey]seriesEntry) (int64, error) {
	k := seriesKey{p.Tenant, p.Device, p.Signal}
	e, ok := fresh[k]
	if !ok {
		e, ok = s.ids[k]
	}
	tags := ""
	if len(p.Tags) > 0 {
		b, err := json.Marshal(p.Tags) // map keys sorted: one text per set
		if err != nil {
			return 0, fmt.Errorf("point %s/%s: tags: %w", p.Device, p.Signal, err)
		}
		tags = string(b)
	}
	if ok && (tags == "" || tags == e.tags) {
		return e.id, nil
	}
	if ok {
		if _, err := tx.ExecContext(ctx, `UPDATE series SET tags = ? WHERE id = ?`, tags, e.id); err != nil {
			return 0, fmt.Errorf("series %s/%s: tags: %w", p.Device, p.Signal, err)
		}
		fresh[k] = seriesEntry{id: e.id, tags: tags}
		return e.id, nil
	}
	err := tx.QueryRowContext(ctx, `INSERT INTO series (tenant, device, signal, tags) VALUES (?, ?, ?, ?)
ON CONFLICT (tenant, device, signal) DO UPDATE SET tags = CASE WHEN excluded.tags = '' THEN series.tags ELSE excluded.tags END
RETURNING id, tags`, p.Tenant, p.Device, p.Signal, tags).Scan(&e.id, &e.tags)
	if err != nil {
		return 0, fmt.Errorf("series %s/%s: %w", p.Device, p.Signal, err)
	}
	fresh[k] = e
	return e.id, nil
}

// seriesRef is a series a query reads.
type seriesRef struct {
	id             int64
	device, signal string
}

// resolve returns the series of q, by device then signal.
func (s *Embedded) resolve(ctx context.Context, q *Query) ([]seriesRef, error) {
	var b strings.Builder
	args := make([]any, 0, 1+len(q.Devices)+len(q.Signals))
	b.WriteString(`SELECT id, device, signal FROM series WHERE tenant = ? AND device IN (`)
	args = append(args, q.Tenant)
	for i, d := range q.Devices {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('?')
		args = append(args, d)
	}
	b.WriteByte(')')
	if len(q.Signals) > 0 {
		b.WriteString(` AND signal IN (`)
		for i, sig := range q.Signals {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('?')
			args = append(args, sig)
		}
		b.WriteByte(')')
	}
	b.WriteString(` ORDER BY device, signal`)
	rows, err := s.db.QueryContext(ctx, b.String(), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []seriesRef
	for rows.Next() {
		var r seriesRef
		if err := rows.Scan(&r.id, &r.device, &r.signal); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Query answers q: the raw points, or one aggregate per bucket, of each
// series. Series without points in the range are left out. Buckets are
// aligned to multiples of Every since the Unix epoch (UTC); buckets
// without points are left out.
func (s *Embedded) Query(ctx context.Context, q Query) (*Result, error) {
	if err := q.Check(); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	refs, err := s.resolve(ctx, &q)
	if err != nil {
		return nil, fmt.Errorf("query: series: %w", err)
	}
	var p plan
	if q.Agg == AggNone {
		p = rawPlan(q)
	} else {
		p = aggPlan(q)
	}
	res := &Result{Series: []Series{}}
	remaining, skip := q.Limit, q.Offset
	for i, ref := range refs {
		if skip > 0 {
			var n int
			if err := s.db.QueryRowContext(ctx, p.count, p.countArgs(ref.id)...).Scan(&n); err != nil {
				return nil, fmt.Errorf("query: %s/%s: count: %w", ref.device, ref.signal, err)
			}
			if n <= skip {
				skip -= n
				continue
			}
		}
		samples, err := s.samples(ctx, p, ref.id, remaining+1, skip)
		if err != nil {
			return nil, fmt.Errorf("query: %s/%s: %w", ref.device, ref.signal, err)
		}
		skip = 0
		if len(samples) == 0 {
			continue
		}
		more := len(samples) > remaining
		if more {
			samples = samples[:remaining]
		}
		res.Series = append(res.Series, Series{Device: ref.device, Signal: ref.signal, Points: samples})
		remaining -= len(samples)
		if more {
			res.NextOffset = q.Offset + q.Limit
			break
		}
		if remaining == 0 {
			// The page is full: is there anything after it?
			for _, next := range refs[i+1:] {
				var one int
				err := s.db.QueryRowContext(ctx, p.exists, next.id, q.From, q.To).Scan(&one)
				if errors.Is(err, sql.ErrNoRows) {
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("query: %s/%s: %w", next.device, next.signal, err)
				}
				res.NextOffset = q.Offset + q.Limit
				break
			}
			break
		}
	}
	return res, nil
}

// plan is the SQL of a query's parts, per series.
type plan struct {
	q      Query
	rows   string // select the samples: args series, from, to, limit, offset (aggregates: origin and width first)
	count  string // count the samples
	exists string // is there any sample: args series, from, to
	agg    bool
	origin int64
	every  int64
}

func (p plan) countArgs(id int64) []any {
	if p.agg {
		return []any{p.origin, p.every, id, p.q.From, p.q.To}
	}
	return []any{id, p.q.From, p.q.To}
}

const rangeWhere = `series = ? AND ts >= ? AND ts < ?`

func rawPlan(q Query) plan {
	return plan{
		q:      q,
		rows:   `SELECT ts, kind, num, str, cnt FROM points WHERE ` + rangeWhere + ` ORDER BY ts LIMIT ? OFFSET ?`,
		count:  `SELECT count(*) FROM points WHERE ` + rangeWhere,
		exists: `SELECT 1 FROM points WHERE ` + rangeWhere + ` LIMIT 1`,
	}
}

func aggPlan(q Query) plan {
	every := q.Every.Milliseconds()
	origin := floorDiv(q.From, every) * every
	where := rangeWhere
	if q.Agg.numeric() {
		where += ` AND num IS NOT NULL`
	}
	// Each row stands for coalesce(cnt, 1) values: 1 for a raw point, cnt
	// for a downsampled one (whose num is the average, mn and mx the
	// extremes).
	var cols string
	switch q.Agg {
	case AggAvg:
		cols = `0, 0, total(num * coalesce(cnt, 1)) / total(coalesce(cnt, 1)), NULL`
	case AggSum:
		cols = `0, 0, total(num * coalesce(cnt, 1)), NULL`
	case AggMin:
		cols = `0, 0, min(coalesce(mn, num)), NULL`
	case AggMax:
		cols = `0, 0, max(coalesce(mx, num)), NULL`
	case AggCount:
		cols = `0, 0, total(coalesce(cnt, 1)), NULL`
	case AggFirst:
		// A single min() (or max()) makes SQLite take the bare columns
		// from the row that holds it.
		cols = `min(ts), kind, num, str`
	case AggLast:
		cols = `max(ts), kind, num, str`
	}
	bucket := `(ts - ?) / ?`
	return plan{
		q: q, agg: true, origin: origin, every: every,
		rows: `SELECT ` + bucket + ` AS b, ` + cols + `, total(coalesce(cnt, 1)) FROM points WHERE ` + where +
			` GROUP BY b ORDER BY b LIMIT ? OFFSET ?`,
		count:  `SELECT count(DISTINCT ` + bucket + `) FROM points WHERE ` + where,
		exists: `SELECT 1 FROM points WHERE ` + where + ` LIMIT 1`,
	}
}

// floorDiv is a / b rounded down (b > 0).
func floorDiv(a, b int64) int64 {
	d := a / b
	if a%b != 0 && a < 0 {
		d--
	}
	return d
}

func (s *Embedded) samples(ctx context.Context, p plan, id int64, limit, offset int) ([]Sample, error) {
	var args []any
	if p.agg {
		args = []any{p.origin, p.every, id, p.q.From, p.q.To, limit, offset}
	} else {
		args = []any{id, p.q.From, p.q.To, limit, offset}
	}
	rows, err := s.db.QueryContext(ctx, p.rows, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Sample
	for rows.Next() {
		var (
			smp  Sample
			kind int64
			num  sql.NullFloat64
			str  sql.NullString
		)
		if p.agg {
			var b, ts int64
			var n float64
			if err := rows.Scan(&b, &ts, &kind, &num, &str, &n); err != nil {
				return nil, err
			}
			smp.TS = p.origin + b*p.every
			smp.Count = int64(n)
		} else {
			var cnt sql.NullInt64
			if err := rows.Scan(&smp.TS, &kind, &num, &str, &cnt); err != nil {
				return nil, err
			}
			smp.Count = cnt.Int64
		}
		smp.Value = Value{Kind: Kind(kind), Num: num.Float64, Str: str.String}
		out = append(out, smp)
	}
	return out, rows.Err()
}

// Latest returns the latest value of each signal of a device, by signal.
func (s *Embedded) Latest(ctx context.Context, tenant, device string) ([]Latest, error) {
	if device == "" {
		return nil, fmt.Errorf("latest: device: want an id: %w", ErrBadQuery)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT s.signal, p.ts, p.kind, p.num, p.str
FROM series s JOIN points p ON p.series = s.id AND p.ts = (SELECT max(ts) FROM points WHERE series = s.id)
WHERE s.tenant = ? AND s.device = ? ORDER BY s.signal`, tenant, device)
	if err != nil {
		return nil, fmt.Errorf("latest of %q: %w", device, err)
	}
	defer rows.Close()
	out := []Latest{}
	for rows.Next() {
		var (
			l    Latest
			kind int64
			num  sql.NullFloat64
			str  sql.NullString
		)
		if err := rows.Scan(&l.Signal, &l.TS, &kind, &num, &str); err != nil {
			return nil, fmt.Errorf("latest of %q: %w", device, err)
		}
		l.Value = Value{Kind: Kind(kind), Num: num.Float64, Str: str.String}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("latest of %q: %w", device, err)
	}
	return out, nil
}

// SeriesCount is the number of series (tenant, device, signal) stored.
func (s *Embedded) SeriesCount(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM series`).Scan(&n)
	return n, err
}

// Devices returns the tenant's devices that have points, sorted by id, each
// with the tags of its series (merged over its signals, the last signal in
// name order winning a conflict).
func (s *Embedded) Devices(ctx context.Context, tenant string) ([]DeviceInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT device, tags FROM series WHERE tenant = ? ORDER BY device, signal`, tenant)
	if err != nil {
		return nil, fmt.Errorf("devices of tenant %q: %w", tenant, err)
	}
	defer rows.Close()
	out := []DeviceInfo{}
	for rows.Next() {
		var dev, tags string
		if err := rows.Scan(&dev, &tags); err != nil {
			return nil, fmt.Errorf("devices of tenant %q: %w", tenant, err)
		}
		if n := len(out); n == 0 || out[n-1].ID != dev {
			out = append(out, DeviceInfo{ID: dev})
		}
		if tags == "" {
			continue
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(tags), &m); err != nil {
			return nil, fmt.Errorf("devices of tenant %q: tags of %q: %w", tenant, dev, err)
		}
		d := &out[len(out)-1]
		if d.Tags == nil {
			d.Tags = map[string]string{}
		}
		for k, v := range m {
			d.Tags[k] = v
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("devices of tenant %q: %w", tenant, err)
	}
	return out, nil
}
