package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/store"
)

func TestLoginAndLogout(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		body any
		want int
	}{
		{"wrong password", map[string]string{"username": "admin", "password": "nope"}, http.StatusUnauthorized},
		{"unknown user", map[string]string{"username": "mallory", "password": testPassword}, http.StatusUnauthorized},
		{"missing password", map[string]string{"username": "admin"}, http.StatusBadRequest},
		{"bad JSON", `{"username":`, http.StatusBadRequest},
		{"unknown key", `{"user":"admin","password":"x"}`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, b := e.do(http.MethodPost, "/api/v1/auth/login", "", tc.body)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %s", status, tc.want, b)
			}
			errorOf(t, b)
		})
	}

	var login TokenAnswer
	e.mustDo(http.MethodPost, "/api/v1/auth/login", "-", map[string]string{"username": "admin", "password": testPassword}, http.StatusOK, &login)
	if len(login.Token) < 40 || time.Until(login.ExpiresAt) < 11*time.Hour {
		t.Fatalf("login answer %+v: want a 32-byte token valid for 12h", login)
	}
	// The store keeps only the hash.
	tok, err := e.db.Tokens().TokenByHash(context.Background(), hashToken(login.Token))
	if err != nil || tok.Kind != KindSession {
		t.Fatalf("stored session token: %+v, %v", tok, err)
	}
	e.mustDo(http.MethodGet, "/api/v1/flows", login.Token, nil, http.StatusOK, nil)
	e.mustDo(http.MethodPost, "/api/v1/auth/logout", login.Token, nil, http.StatusNoContent, nil)
	e.mustDo(http.MethodGet, "/api/v1/flows", login.Token, nil, http.StatusUnauthorized, nil)
	// Other sessions live on.
	e.mustDo(http.MethodGet, "/api/v1/flows", "", nil, http.StatusOK, nil)
}

func TestAPITokens(t *testing.T) {
	e := newEnv(t)
	var created TokenAnswer
	e.mustDo(http.MethodPost, "/api/v1/tokens", "", map[string]string{"name": "ci", "expiresIn": "24h"}, http.StatusCreated, &created)
	if created.Token == "" || created.ID == "" || created.Name != "ci" {
		t.Fatalf("created %+v", created)
	}
	if d := time.Until(created.ExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Fatalf("expiresAt %v: want in 24h", created.ExpiresAt)
	}
	var listed []TokenAnswer
	e.mustDo(http.MethodGet, "/api/v1/tokens", created.Token, nil, http.StatusOK, &listed)
	if len(listed) != 1 || listed[0].ID != created.ID || listed[0].Token != "" {
		t.Fatalf("listed %+v: want the one token, without its secret", listed)
	}
	// An API token is not a session.
	e.mustDo(http.MethodPost, "/api/v1/auth/logout", created.Token, nil, http.StatusBadRequest, nil)

	for _, bad := range []any{
		map[string]string{"expiresIn": "24h"},
		map[string]string{"name": "x", "expiresIn": "soon"},
		map[string]string{"name": "x", "expiresAt": "2001-01-01T00:00:00Z"},
	} {
		e.mustDo(http.MethodPost, "/api/v1/tokens", "", bad, http.StatusBadRequest, nil)
	}

	e.mustDo(http.MethodDelete, "/api/v1/tokens/"+created.ID, "", nil, http.StatusNoContent, nil)
	e.mustDo(http.MethodDelete, "/api/v1/tokens/"+created.ID, "", nil, http.StatusNotFound, nil)
	e.mustDo(http.MethodGet, "/api/v1/flows", created.Token, nil, http.StatusUnauthorized, nil)
}

func TestExpiredTokenIsRejected(t *testing.T) {
	e := newEnv(t)
	u, err := e.db.Users().UserByName(context.Background(), store.DefaultTenant, AdminUser)
	if err != nil {
		t.Fatal(err)
	}
	secret := "expired-secret"
	past := time.Now().Add(-time.Minute)
	if _, err := e.db.Tokens().CreateToken(context.Background(), store.Token{Tenant: u.Tenant, UserID: u.ID, Kind: KindAPI, Name: "old",
		Hash: hashToken(secret), CreatedAt: past.Add(-time.Hour), ExpiresAt: past}); err != nil {
		t.Fatal(err)
	}
	e.mustDo(http.MethodGet, "/api/v1/flows", secret, nil, http.StatusUnauthorized, nil)
}

func TestTicketsAreSingleUseAndExpire(t *testing.T) {
	tk := tickets{ttl: 30 * time.Second}
	now := time.Now()
	p := principal{UserID: "u1", Tenant: "default"}
	secret, exp, err := tk.issue(p, now)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(now.Add(30 * time.Second).UTC()) {
		t.Fatalf("expiresAt %v", exp)
	}
	got, ok := tk.redeem(secret, now.Add(time.Second))
	if !ok || got.UserID != "u1" || got.Kind != "ticket" {
		t.Fatalf("first redeem: %+v %v", got, ok)
	}
	if _, ok := tk.redeem(secret, now.Add(time.Second)); ok {
		t.Fatal("a ticket worked twice")
	}
	late, _, err := tk.issue(p, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := tk.redeem(late, now.Add(31*time.Second)); ok {
		t.Fatal("an expired ticket worked")
	}
	// Expired tickets are swept when a new one is issued.
	for i := 0; i < 3; i++ {
		if _, _, err := tk.issue(p, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := tk.issue(p, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := tk.outstanding(); n != 1 {
		t.Fatalf("%d tickets outstanding after the sweep, want 1", n)
	}
}

func TestTicketEndpoint(t *testing.T) {
	e := newEnv(t)
	var a TokenAnswer
	e.mustDo(http.MethodPost, "/api/v1/auth/ticket", "", nil, http.StatusOK, &a)
	if a.Ticket == "" || time.Until(a.ExpiresAt) > 31*time.Second {
		t.Fatalf("ticket answer %+v", a)
	}
	// A ticket is not a bearer token for the REST API.
	e.mustDo(http.MethodGet, "/api/v1/flows", a.Ticket, nil, http.StatusUnauthorized, nil)
}

func TestEnsureAdmin(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	gen, err := EnsureAdmin(ctx, db, "")
	if err != nil || len(gen) < 20 || strings.ContainsAny(gen, "+/=") {
		t.Fatalf("generated %q, %v", gen, err)
	}
	again, err := EnsureAdmin(ctx, db, "")
	if err != nil || again != "" {
		t.Fatalf("second start: %q, %v; want nothing generated", again, err)
	}
	u, err := db.Users().UserByName(ctx, store.DefaultTenant, AdminUser)
	if err != nil || u.Role != "admin" || u.PasswordHash == gen {
		t.Fatalf("admin %+v, %v", u, err)
	}
}
