package store

import (
	"context"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	repo := db.Tokens()
	u, err := db.Users().CreateUser(ctx, User{Username: "ada", Role: "admin"})
	requireNoError(t, err)
	other, err := db.Users().CreateUser(ctx, User{Username: "bob", Role: "viewer"})
	requireNoError(t, err)

	future := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	past := time.Now().Add(-time.Hour).UTC().Truncate(time.Microsecond)
	session, err := repo.CreateToken(ctx, Token{UserID: u.ID, Kind: TokenSession, Hash: "h-session", ExpiresAt: future, CreatedAt: at(1)})
	requireNoError(t, err)
	if session.ID == "" {
		t.Fatal("want a generated id")
	}
	requireEqual(t, session.Tenant, DefaultTenant)
	api, err := repo.CreateToken(ctx, Token{ID: "t-api", UserID: u.ID, Kind: TokenAPI, Name: "ci", Hash: "h-api", CreatedAt: at(2)})
	requireNoError(t, err)
	bobs, err := repo.CreateToken(ctx, Token{UserID: other.ID, Kind: TokenAPI, Hash: "h-bob", CreatedAt: at(4)})
	requireNoError(t, err)

	creates := []struct {
		name    string
		token   Token
		wantErr error
	}{
		{"duplicate hash", Token{UserID: u.ID, Kind: TokenAPI, Hash: "h-api"}, ErrExists},
		{"duplicate id", Token{ID: "t-api", UserID: u.ID, Kind: TokenAPI, Hash: "h-other"}, ErrExists},
		{"unknown user", Token{UserID: "ghost", Kind: TokenAPI, Hash: "h-ghost"}, ErrNotFound},
	}
	for _, tc := range creates {
		t.Run("create/"+tc.name, func(t *testing.T) {
			_, err := repo.CreateToken(ctx, tc.token)
			requireErrorIs(t, err, tc.wantErr)
		})
	}
	for _, bad := range []Token{{UserID: u.ID, Kind: "cookie", Hash: "x"}, {UserID: u.ID, Kind: TokenAPI}} {
		if _, err := repo.CreateToken(ctx, bad); err == nil {
			t.Fatalf("create %+v: want an error", bad)
		}
	}

	// Created last, so that no later create has dropped it yet.
	expired, err := repo.CreateToken(ctx, Token{UserID: u.ID, Kind: TokenAPI, Hash: "h-expired", ExpiresAt: past, CreatedAt: at(3)})
	requireNoError(t, err)

	byHash := []struct {
		hash     string
		want     Token
		notFound bool
	}{
		{"h-session", session, false},
		{"h-api", api, false},
		{"h-expired", Token{}, true},
		{"h-missing", Token{}, true},
	}
	for _, tc := range byHash {
		t.Run("by hash/"+tc.hash, func(t *testing.T) {
			got, err := repo.TokenByHash(ctx, tc.hash)
			if tc.notFound {
				requireErrorIs(t, err, ErrNotFound)
				return
			}
			requireNoError(t, err)
			requireEqual(t, got, tc.want)
		})
	}

	lists := []struct {
		name   string
		userID string
		kind   string
		want   []Token
	}{
		{"every kind, newest first, no expired", u.ID, "", []Token{api, session}},
		{"api", u.ID, TokenAPI, []Token{api}},
		{"session", u.ID, TokenSession, []Token{session}},
		{"another user", other.ID, "", []Token{bobs}},
		{"nobody", "ghost", "", []Token{}},
	}
	for _, tc := range lists {
		t.Run("list/"+tc.name, func(t *testing.T) {
			got, err := repo.ListTokens(ctx, tc.userID, tc.kind)
			requireNoError(t, err)
			requireEqual(t, got, tc.want)
		})
	}

	t.Run("create drops expired tokens", func(t *testing.T) {
		var n int
		requireNoError(t, db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM tokens WHERE id = ?`, expired.ID).Scan(&n))
		requireEqual(t, n, 1) // created expired; nothing created since it
		_, err := repo.CreateToken(ctx, Token{UserID: u.ID, Kind: TokenSession, Hash: "h-later"})
		requireNoError(t, err)
		requireNoError(t, db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM tokens WHERE id = ?`, expired.ID).Scan(&n))
		requireEqual(t, n, 0)
	})

	deletes := []struct {
		name    string
		userID  string
		id      string
		wantErr error
	}{
		{"someone else's token", other.ID, api.ID, ErrNotFound},
		{"own token", u.ID, api.ID, nil},
		{"again", u.ID, api.ID, ErrNotFound},
	}
	for _, tc := range deletes {
		t.Run("delete/"+tc.name, func(t *testing.T) {
			err := repo.DeleteToken(ctx, tc.userID, tc.id)
			if tc.wantErr == nil {
				requireNoError(t, err)
				return
			}
			requireErrorIs(t, err, tc.wantErr)
		})
	}
	_, err = repo.TokenByHash(ctx, "h-api")
	requireErrorIs(t, err, ErrNotFound)

	requireNoError(t, repo.DeleteTokenByHash(ctx, "h-session"))
	requireNoError(t, repo.DeleteTokenByHash(ctx, "h-session")) // idempotent: a second logout is fine
	_, err = repo.TokenByHash(ctx, "h-session")
	requireErrorIs(t, err, ErrNotFound)
}
