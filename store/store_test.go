package store

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// openTest opens a store in a fresh temporary directory and closes it when
// the test ends.
func openTest(t *testing.T, opts Options) *DB {
	t.Helper()
	return openAt(t, t.TempDir(), opts)
}

func openAt(t *testing.T, dir string, opts Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), dir, opts)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return db
}

func requireEqual[T any](t *testing.T, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func requireErrorIs(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want %v", err, target)
	}
}

func requireNoError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// at is a fixed instant, as the store returns times (UTC).
func at(minute int) time.Time {
	return time.Date(2025, 3, 1, 12, minute, 0, 123456789, time.UTC)
}

func TestOpenPragmasAndMigrations(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	var mode string
	requireNoError(t, db.sql.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode))
	requireEqual(t, strings.ToLower(mode), "wal")
	var busy int
	requireNoError(t, db.sql.QueryRowContext(ctx, `PRAGMA busy_timeout`).Scan(&busy))
	requireEqual(t, busy, int(busyTimeout.Milliseconds()))
	var fk int
	requireNoError(t, db.sql.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk))
	requireEqual(t, fk, 1)

	ms, err := loadMigrations()
	requireNoError(t, err)
	var applied int
	requireNoError(t, db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&applied))
	requireEqual(t, applied, len(ms))
	requireEqual(t, db.deadLetters.max, DefaultMaxDeadLetters)
}

func TestReopenKeepsDataAndSkipsAppliedMigrations(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data dir?#%")
	db, err := Open(ctx, dir, Options{})
	requireNoError(t, err)
	u, err := db.Users().CreateUser(ctx, User{Username: "ada", PasswordHash: "h", Role: "admin"})
	requireNoError(t, err)
	_, err = db.Flows().SaveFlowVersion(ctx, FlowVersion{FlowID: "f1", Name: "one", Doc: []byte(`{}`)}, 0)
	requireNoError(t, err)
	requireNoError(t, db.Close())

	db2 := openAt(t, dir, Options{})
	got, err := db2.Users().UserByID(ctx, u.ID)
	requireNoError(t, err)
	requireEqual(t, got, u)
	v, err := db2.Flows().LatestFlow(ctx, "", "f1")
	requireNoError(t, err)
	requireEqual(t, v.Version, 1)
	requireEqual(t, string(v.Doc), `{}`)
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir, Options{})
	requireNoError(t, err)
	_, err = db.sql.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)`)
	requireNoError(t, err)
	requireNoError(t, db.Close())

	_, err = Open(ctx, dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer than this binary") {
		t.Fatalf("got %v, want a newer-schema error", err)
	}
}

func TestConflictErrorText(t *testing.T) {
	requireEqual(t, (&ConflictError{Current: 7}).Error(), "version conflict: latest is 7")
}
