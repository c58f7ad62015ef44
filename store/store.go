// Package store is Sluice's embedded database: one SQLite file in the data
// directory (pure Go driver, WAL journal), its schema migrations, and the
// repositories of system records. Every record carries its tenant.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DefaultTenant is the tenant of records saved without one.
const DefaultTenant = "default"

// DefaultMaxDeadLetters is how many dead letters are kept when Options leaves
// MaxDeadLetters at zero.
const DefaultMaxDeadLetters = 10000

// busyTimeout is how long a statement waits for another connection's write
// lock before it fails with SQLITE_BUSY.
const busyTimeout = 5 * time.Second

// ErrNotFound is returned (wrapped) when a record does not exist.
var ErrNotFound = errors.New("not found")

// ErrExists is returned (wrapped) when a record would duplicate a unique one,
// such as a second user with the same username in a tenant.
var ErrExists = errors.New("already exists")

// ConflictError reports a save whose base version is not the latest one.
type ConflictError struct {
	// Current is the latest version when the save was refused.
	Current int
}

// Error implements error.
func (e *ConflictError) Error() string {
	return fmt.Sprintf("version conflict: latest is %d", e.Current)
}

// Options tune the store.
type Options struct {
	// MaxDeadLetters bounds the dead-letter table; the oldest go first.
	// Zero means DefaultMaxDeadLetters.
	MaxDeadLetters int
}

// DB is the open embedded database.
type DB struct {
	sql         *sql.DB
	users       *userRepo
	tokens      *tokenRepo
	flows       *flowRepo
	deadLetters *deadLetterRepo
	kv          *kvRepo
}

// Open opens (creating when needed) dataDir/sluice.db and applies the
// embedded schema migrations.
func Open(ctx context.Context, dataDir string, opts Options) (*DB, error) {
	if opts.MaxDeadLetters <= 0 {
		opts.MaxDeadLetters = DefaultMaxDeadLetters
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("open store: create data directory: %w", err)
	}
	path, err := filepath.Abs(filepath.Join(dataDir, "sluice.db"))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	sdb, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := sdb.PingContext(ctx); err != nil {
		_ = sdb.Close() // the ping error is the one worth reporting
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := migrate(ctx, sdb); err != nil {
		_ = sdb.Close() // the migration error is the one worth reporting
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return &DB{
		sql:         sdb,
		users:       &userRepo{db: sdb},
		tokens:      &tokenRepo{db: sdb},
		flows:       &flowRepo{db: sdb},
		deadLetters: &deadLetterRepo{db: sdb, max: opts.MaxDeadLetters},
		kv:          &kvRepo{db: sdb},
	}, nil
}

// dsn builds the driver's connection string: a file URI (so that any path
// survives escaping) with WAL, a busy timeout, foreign keys, and immediate
// transactions so that a read-then-write transaction never fails half way on
// a lock upgrade.
func dsn(path string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	u := url.URL{Path: filepath.ToSlash(path)}
	return "file:" + u.EscapedPath() + "?" + q.Encode()
}

// Close closes the database.
func (db *DB) Close() error {
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Users returns the user repository.
func (db *DB) Users() UserRepo { return db.users }

// Tokens returns the token repository.
func (db *DB) Tokens() TokenRepo { return db.tokens }

// Flows returns the flow repository.
func (db *DB) Flows() FlowRepo { return db.flows }

// DeadLetters returns the dead-letter repository.
func (db *DB) DeadLetters() DeadLetterRepo { return db.deadLetters }

// KV returns the key-value repository.
func (db *DB) KV() KVRepo { return db.kv }

func tenantOr(t string) string {
	if t == "" {
		return DefaultTenant
	}
	return t
}

func newID() string { return uuid.NewString() }

// toUnix encodes a time as Unix nanoseconds; the zero time is 0.
func toUnix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromUnix decodes toUnix; 0 is the zero time.
func fromUnix(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// now is the current time as the store keeps it: UTC, no monotonic reading.
func now() time.Time { return time.Now().UTC().Round(0) }

// isUnique reports whether err is a unique or primary-key violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// isForeignKey reports whether err is a foreign-key violation.
func isForeignKey(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// rollback ends a transaction that did not commit. Its error is dropped on
// purpose: the error that made us roll back is the one worth reporting, and
// after a commit it is sql.ErrTxDone.
func rollback(tx *sql.Tx) { _ = tx.Rollback() }
