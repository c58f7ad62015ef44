package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// User is an account that can log in.
type User struct {
	ID           string    `json:"id"`
	Tenant       string    `json:"tenant"`
	Username     string    `json:"username"`
	PasswordHash string    `json:"-"`
	Role         string    `json:"role"`
	CreatedAt    time.Time `json:"createdAt"`
}

// UserRepo stores users.
type UserRepo interface {
	// CreateUser saves a new user; the ID is generated when empty, the tenant
	// defaults to DefaultTenant. A username already taken in the tenant is
	// ErrExists.
	CreateUser(ctx context.Context, u User) (User, error)
	// UserByName returns the user of a tenant with that username, or ErrNotFound.
	UserByName(ctx context.Context, tenant, username string) (User, error)
	// UserByID returns the user with that id, or ErrNotFound.
	UserByID(ctx context.Context, id string) (User, error)
	// CountUsers counts the users of every tenant.
	CountUsers(ctx context.Context) (int, error)
}

type userRepo struct{ db *sql.DB }

var _ UserRepo = (*userRepo)(nil)

const userColumns = `id, tenant, username, password_hash, role, created_at`

func (r *userRepo) CreateUser(ctx context.Context, u User) (User, error) {
	if u.Username == "" {
		return User{}, errors.New("create user: empty username")
	}
	if u.ID == "" {
		u.ID = newID()
	}
	u.Tenant = tenantOr(u.Tenant)
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now()
	}
	u.CreatedAt = fromUnix(toUnix(u.CreatedAt))
	_, err := r.db.ExecContext(ctx, `INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		u.ID, u.Tenant, u.Username, u.PasswordHash, u.Role, toUnix(u.CreatedAt))
	if isUnique(err) {
		return User{}, fmt.Errorf("create user %q: %w", u.Username, ErrExists)
	}
	if err != nil {
		return User{}, fmt.Errorf("create user %q: %w", u.Username, err)
	}
	return u, nil
}

func (r *userRepo) UserByName(ctx context.Context, tenant, username string) (User, error) {
	row := r.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE tenant = ? AND username = ?`,
		tenantOr(tenant), username)
	u, err := scanUser(row)
	if err != nil {
		return User{}, fmt.Errorf("user %q: %w", username, err)
	}
	return u, nil
}

func (r *userRepo) UserByID(ctx context.Context, id string) (User, error) {
	u, err := scanUser(r.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if err != nil {
		return User{}, fmt.Errorf("user %s: %w", id, err)
	}
	return u, nil
}

func (r *userRepo) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

func scanUser(row *sql.Row) (User, error) {
	var u User
	var created int64
	err := row.Scan(&u.ID, &u.Tenant, &u.Username, &u.PasswordHash, &u.Role, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, err
	}
	u.CreatedAt = fromUnix(created)
	return u, nil
}
