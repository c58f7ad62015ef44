package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Token kinds.
const (
	TokenSession = "session"
	TokenAPI     = "api"
)

// Token is a session or API token. Only the hash of its secret is stored:
// Hash is the hex SHA-256 of the secret.
type Token struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	UserID    string    `json:"userId"`
	Kind      string    `json:"kind"`
	Name      string    `json:"name"`
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"createdAt"`
	// ExpiresAt is when the token stops working; zero means never.
	ExpiresAt time.Time `json:"expiresAt"`
}

// TokenRepo stores tokens.
type TokenRepo interface {
	// CreateToken saves a token for an existing user (else ErrNotFound); the
	// ID is generated when empty. It also drops tokens that have expired.
	CreateToken(ctx context.Context, t Token) (Token, error)
	// TokenByHash returns the token with that hash, or ErrNotFound when it is
	// missing or expired.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// ListTokens returns a user's unexpired tokens of a kind (every kind when
	// kind is empty), newest first.
	ListTokens(ctx context.Context, userID, kind string) ([]Token, error)
	// DeleteToken deletes a user's token, or returns ErrNotFound.
	DeleteToken(ctx context.Context, userID, id string) error
	// DeleteTokenByHash deletes the token with that hash, if any.
	DeleteTokenByHash(ctx context.Context, hash string) error
}

type tokenRepo struct{ db *sql.DB }

var _ TokenRepo = (*tokenRepo)(nil)

const tokenColumns = `id, tenant, user_id, kind, name, hash, created_at, expires_at`

func (r *tokenRepo) CreateToken(ctx context.Context, t Token) (Token, error) {
	if t.Kind != TokenSession && t.Kind != TokenAPI {
		return Token{}, fmt.Errorf("create token: kind %q: want %q or %q", t.Kind, TokenSession, TokenAPI)
	}
	if t.Hash == "" {
		return Token{}, errors.New("create token: empty hash")
	}
	if t.ID == "" {
		t.ID = newID()
	}
	t.Tenant = tenantOr(t.Tenant)
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	t.CreatedAt = fromUnix(toUnix(t.CreatedAt))
	t.ExpiresAt = fromUnix(toUnix(t.ExpiresAt))
	if _, err := r.db.ExecContext(ctx, `DELETE FROM tokens WHERE expires_at > 0 AND expires_at <= ?`,
		toUnix(now())); err != nil {
		return Token{}, fmt.Errorf("create token: drop expired tokens: %w", err)
	}
	_, err := r.db.ExecContext(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, t.Tenant, t.UserID, t.Kind, t.Name, t.Hash, toUnix(t.CreatedAt), toUnix(t.ExpiresAt))
	switch {
	case isForeignKey(err):
		return Token{}, fmt.Errorf("create token: user %s: %w", t.UserID, ErrNotFound)
	case isUnique(err):
		return Token{}, fmt.Errorf("create token: %w", ErrExists)
	case err != nil:
		return Token{}, fmt.Errorf("create token: %w", err)
	}
	return t, nil
}

func (r *tokenRepo) TokenByHash(ctx context.Context, hash string) (Token, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens
		WHERE hash = ? AND (expires_at = 0 OR expires_at > ?)`, hash, toUnix(now()))
	if err != nil {
		return Token{}, fmt.Errorf("token by hash: %w", err)
	}
	ts, err := scanTokens(rows)
	if err != nil {
		return Token{}, fmt.Errorf("token by hash: %w", err)
	}
	if len(ts) == 0 {
		return Token{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	return ts[0], nil
}

func (r *tokenRepo) ListTokens(ctx context.Context, userID, kind string) ([]Token, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens
		WHERE user_id = ? AND (? = '' OR kind = ?) AND (expires_at = 0 OR expires_at > ?)
		ORDER BY created_at DESC, id`, userID, kind, kind, toUnix(now()))
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	ts, err := scanTokens(rows)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

func (r *tokenRepo) DeleteToken(ctx context.Context, userID, id string) error {
	res, err := r.db.ExecContext(ctx, `DELETE FROM tokens WHERE user_id = ? AND id = ?`, userID, id)
	if err != nil {
		return fmt.Errorf("delete token %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete token %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("delete token %s: %w", id, ErrNotFound)
	}
	return nil
}

func (r *tokenRepo) DeleteTokenByHash(ctx context.Context, hash string) error {
	if _, err := r.db.ExecContext(ctx, `DELETE FROM tokens WHERE hash = ?`, hash); err != nil {
		return fmt.Errorf("delete token by hash: %w", err)
	}
	return nil
}

func scanTokens(rows *sql.Rows) ([]Token, error) {
	defer rows.Close()
	ts := []Token{}
	for rows.Next() {
		var t Token
		var created, expires int64
		if err := rows.Scan(&t.ID, &t.Tenant, &t.UserID, &t.Kind, &t.Name, &t.Hash, &created, &expires); err != nil {
			return nil, err
		}
		t.CreatedAt, t.ExpiresAt = fromUnix(created), fromUnix(expires)
		ts = append(ts, t)
	}
	return ts, rows.Err()
}
