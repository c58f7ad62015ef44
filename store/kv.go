package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// KV is one entry of the key-value store.
type KV struct {
	Key   string
	Value []byte
	// ExpiresAt is when the entry disappears; zero means never.
	ExpiresAt time.Time
}

// KVRepo is a key-value store with expiry; it backs the engine's persisted
// state store.
type KVRepo interface {
	// KVGet returns an entry, or ErrNotFound when it is missing or expired.
	KVGet(ctx context.Context, key string) (KV, error)
	// KVPut creates or replaces an entry.
	KVPut(ctx context.Context, kv KV) error
	// KVDelete deletes an entry; a missing one is not an error.
	KVDelete(ctx context.Context, key string) error
	// KVList returns the unexpired entries whose key starts with prefix, by key.
	KVList(ctx context.Context, prefix string) ([]KV, error)
}

type kvRepo struct{ db *sql.DB }

var _ KVRepo = (*kvRepo)(nil)

func (r *kvRepo) KVGet(ctx context.Context, key string) (KV, error) {
	kv := KV{Key: key}
	var expires int64
	err := r.db.QueryRowContext(ctx, `SELECT value, expires_at FROM kv WHERE key = ? AND (expires_at = 0 OR expires_at > ?)`,
		key, toUnix(now())).Scan(&kv.Value, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return KV{}, fmt.Errorf("kv %q: %w", key, ErrNotFound)
	}
	if err != nil {
		return KV{}, fmt.Errorf("kv get %q: %w", key, err)
	}
	if kv.Value == nil {
		kv.Value = []byte{}
	}
	kv.ExpiresAt = fromUnix(expires)
	return kv, nil
}

// KVPut also drops entries that have expired, so that the table does not
// grow with keys nobody reads again.
func (r *kvRepo) KVPut(ctx context.Context, kv KV) error {
	if kv.Value == nil {
		kv.Value = []byte{}
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("kv put %q: begin: %w", kv.Key, err)
	}
	defer rollback(tx)
	if _, err := tx.ExecContext(ctx, `DELETE FROM kv WHERE expires_at > 0 AND expires_at <= ?`, toUnix(now())); err != nil {
		return fmt.Errorf("kv put %q: drop expired: %w", kv.Key, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO kv (key, tenant, value, expires_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`,
		kv.Key, DefaultTenant, kv.Value, toUnix(kv.ExpiresAt)); err != nil {
		return fmt.Errorf("kv put %q: %w", kv.Key, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("kv put %q: commit: %w", kv.Key, err)
	}
	return nil
}

func (r *kvRepo) KVDelete(ctx context.Context, key string) error {
	if _, err := r.db.ExecContext(ctx, `DELETE FROM kv WHERE key = ?`, key); err != nil {
		return fmt.Errorf("kv delete %q: %w", key, err)
	}
	return nil
}

func (r *kvRepo) KVList(ctx context.Context, prefix string) ([]KV, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT key, value, expires_at FROM kv
		WHERE substr(key, 1, length(?)) = ? AND (expires_at = 0 OR expires_at > ?) ORDER BY key`,
		prefix, prefix, toUnix(now()))
	if err != nil {
		return nil, fmt.Errorf("kv list %q: %w", prefix, err)
	}
	defer rows.Close()
	out := []KV{}
	for rows.Next() {
		var kv KV
		var expires int64
		if err := rows.Scan(&kv.Key, &kv.Value, &expires); err != nil {
			return nil, fmt.Errorf("kv list %q: %w", prefix, err)
		}
		if kv.Value == nil {
			kv.Value = []byte{}
		}
		kv.ExpiresAt = fromUnix(expires)
		out = append(out, kv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("kv list %q: %w", prefix, err)
	}
	return out, nil
}
