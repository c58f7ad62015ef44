package sql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"github.com/sluicehq/sluice/nodes/sink/batch"
)

// Drivers.
const (
	Postgres = "postgres"
	MySQL    = "mysql"
)

// Modes.
const (
	ModeInsert = "insert"
	ModeUpsert = "upsert"
)

// Dest is where and how rows are written.
type Dest struct {
	Driver, DSN, Table, Mode string
	Keys                     []string
}

// Target writes batches of rows: one transaction per batch, one prepared
// statement per column set, executed row after row in order. It is shared
// by the versions of a node's flow; Set points it at the destination of
// the version that acquired it last.
type Target struct {
	log *slog.Logger

	mu    sync.Mutex
	dest  Dest
	db    *sql.DB
	dbFor string // driver + DSN of db
	stmts map[string]*sql.Stmt
}

// NewTarget returns a target writing to d; it connects at the first write.
func NewTarget(d Dest, log *slog.Logger) *Target {
	if log == nil {
		log = slog.Default()
	}
	return &Target{dest: d, log: log, stmts: map[string]*sql.Stmt{}}
}

// Set changes the destination (a redeployed node's config).
func (t *Target) Set(d Dest) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dest = d
}

// Close closes the connection pool.
func (t *Target) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closeDB()
}

func (t *Target) closeDB() error {
	for k, s := range t.stmts {
		_ = s.Close()
		delete(t.stmts, k)
	}
	if t.db == nil {
		return nil
	}
	err := t.db.Close()
	t.db, t.dbFor = nil, ""
	return err
}

// conn returns the pool of the current destination (under mu).
func (t *Target) conn() (*sql.DB, error) {
	key := t.dest.Driver + "\x00" + t.dest.DSN
	if t.db != nil && t.dbFor == key {
		return t.db, nil
	}
	_ = t.closeDB()
	name := "pgx"
	if t.dest.Driver == MySQL {
		name = "mysql"
	}
	db, err := sql.Open(name, t.dest.DSN)
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	t.db, t.dbFor = db, key
	return db, nil
}

// stmt returns the prepared statement for cols (under mu).
func (t *Target) stmt(ctx context.Context, db *sql.DB, cols []string) (*sql.Stmt, error) {
	q := Statement(t.dest, cols)
	if s, ok := t.stmts[q]; ok {
		return s, nil
	}
	s, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare %q: %w", q, err)
	}
	t.stmts[q] = s
	return s, nil
}

// Write implements batch.Writer. The batcher calls it from one goroutine.
func (t *Target) Write(ctx context.Context, rows []Row) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	db, err := t.conn()
	if err != nil {
		return batch.Permanent(err)
	}
	err = t.writeTx(ctx, db, rows)
	if err == nil || !dataError(err) {
		return err
	}
	// The database refused a row: write them one by one, skipping those
	// it refuses, so that one bad row does not cost its batch.
	t.log.Warn("sql sink: a row of the batch was refused; writing the batch row by row", "table", t.dest.Table, "error", err)
	refused := 0
	for _, r := range rows {
		s, err := t.stmt(ctx, db, r.Cols)
		if err != nil {
			return err
		}
		if _, err := s.ExecContext(ctx, args(r)...); err != nil {
			if !dataError(err) {
				return err
			}
			refused++
			t.log.Error("sql sink: row refused, skipped", "table", t.dest.Table, "error", err)
		}
	}
	if refused == len(rows) {
		return batch.Permanent(fmt.Errorf("table %s refused all %d rows of the batch", t.dest.Table, refused))
	}
	return nil
}

func (t *Target) writeTx(ctx context.Context, db *sql.DB, rows []Row) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	txStmts := map[*sql.Stmt]*sql.Stmt{}
	for _, r := range rows {
		s, err := t.stmt(ctx, db, r.Cols)
		if err != nil {
			_ = tx.Rollback()
			return err
		}
		ts, ok := txStmts[s]
		if !ok {
			ts = tx.StmtContext(ctx, s)
			txStmts[s] = ts
		}
		if _, err := ts.ExecContext(ctx, args(r)...); err != nil {
			_ = tx.Rollback()
			return err
		}
	}
	return tx.Commit()
}

func args(r Row) []any {
	out := make([]any, len(r.Vals))
	for i, v := range r.Vals {
		out[i] = v.Arg()
	}
	return out
}

// dataError reports whether the database refused the data itself (a
// constraint, a value out of range or of the wrong type): writing it
// again cannot help.
func dataError(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return strings.HasPrefix(pg.Code, "22") || strings.HasPrefix(pg.Code, "23")
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		switch my.Number {
		case 1048, 1062, 1264, 1265, 1292, 1364, 1366, 1406, 1451, 1452, 3819, 4025:
			return true
		}
	}
	return false
}

// Statement is the SQL statement that writes cols to d's table.
func Statement(d Dest, cols []string) string {
	q := quotePG
	ph := func(i int) string { return "$" + strconv.Itoa(i+1) }
	if d.Driver == MySQL {
		q = quoteMySQL
		ph = func(int) string { return "?" }
	}
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	b.WriteString(quoteTable(d.Table, q))
	b.WriteString(" (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(q(c))
	}
	b.WriteString(") VALUES (")
	for i := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(ph(i))
	}
	b.WriteString(")")
	if d.Mode != ModeUpsert {
		return b.String()
	}
	isKey := map[string]bool{}
	for _, k := range d.Keys {
		isKey[k] = true
	}
	var set []string
	for _, c := range cols {
		if isKey[c] {
			continue
		}
		if d.Driver == MySQL {
			set = append(set, q(c)+" = VALUES("+q(c)+")")
		} else {
			set = append(set, q(c)+" = EXCLUDED."+q(c))
		}
	}
	if d.Driver == MySQL {
		if len(set) == 0 { // keys only: a duplicate changes nothing
			set = []string{q(d.Keys[0]) + " = " + q(d.Keys[0])}
		}
		b.WriteString(" ON DUPLICATE KEY UPDATE ")
		b.WriteString(strings.Join(set, ", "))
		return b.String()
	}
	keys := make([]string, len(d.Keys))
	for i, k := range d.Keys {
		keys[i] = q(k)
	}
	b.WriteString(" ON CONFLICT (" + strings.Join(keys, ", ") + ")")
	if len(set) == 0 {
		b.WriteString(" DO NOTHING")
	} else {
		b.WriteString(" DO UPDATE SET " + strings.Join(set, ", "))
	}
	return b.String()
}

func quotePG(s string) string    { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteMySQL(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func quoteTable(t string, q func(string) string) string {
	parts := strings.Split(t, ".")
	for i, p := range parts {
		parts[i] = q(p)
	}
	return strings.Join(parts, ".")
}
