package server

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluicehq/sluice/store"
)

// Token kinds.
const (
	KindSession = "session"
	KindAPI     = "api"
)

// AdminUser is the user created on first start.
const AdminUser = "admin"

// maxTickets bounds the outstanding WebSocket tickets.
const maxTickets = 10000

// principal is who a request acts for; handlers read it with principalOf.
type principal struct {
	UserID   string
	Tenant   string
	Username string
	Role     string
	TokenID  string
	Kind     string // session, api or ticket
	hash     string
}

const principalKey = "sluice.principal"

func principalOf(c *fiber.Ctx) principal {
	p, _ := c.Locals(principalKey).(principal)
	return p
}

// EnsureAdmin creates the "admin" user on first start (when the store has no
// user). The password is password, or a generated one that it returns for
// printing once; it returns "" when it did not generate one.
func EnsureAdmin(ctx context.Context, db *store.DB, password string) (string, error) {
	n, err := db.Users().CountUsers(ctx)
	if err != nil {
		return "", fmt.Errorf("ensure admin: %w", err)
	}
	if n > 0 {
		return "", nil
	}
	generated := ""
	if password == "" {
		password, err = randomToken(18)
		if err != nil {
			return "", fmt.Errorf("ensure admin: %w", err)
		}
		generated = password
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", fmt.Errorf("ensure admin: hash password: %w", err)
	}
	if _, err := db.Users().CreateUser(ctx, store.User{Tenant: store.DefaultTenant, Username: AdminUser, PasswordHash: string(hash), Role: "admin"}); err != nil {
		return "", fmt.Errorf("ensure admin: %w", err)
	}
	return generated, nil
}

// randomToken is n random bytes, base64url without padding.
func randomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// hashToken is what the store keeps of a token: hex sha256 of the secret.
func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// dummyHash makes a login for an unknown user cost as much as a wrong
// password, so that timing does not tell which usernames exist.
// It is computed on first use, at the cost new passwords get.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("sluice-dummy-password"), bcrypt.DefaultCost)
	return h
})

// LoginRequest is the body of POST /api/v1/auth/login.
type LoginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Tenant defaults to the default tenant.
	Tenant string `json:"tenant,omitempty"`
}

// TokenAnswer is a freshly issued secret: a session token, an API token or
// a ticket.
type TokenAnswer struct {
	ID        string    `json:"id,omitempty"`
	Name      string    `json:"name,omitempty"`
	Token     string    `json:"token,omitempty"`
	Ticket    string    `json:"ticket,omitempty"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (s *Server) login(c *fiber.Ctx) error {
	var req LoginRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.Username == "" || req.Password == "" {
		return badRequest("login: username and password are required")
	}
	tenant := req.Tenant
	if tenant == "" {
		tenant = store.DefaultTenant
	}
	ctx := c.UserContext()
	u, err := s.db.Users().UserByName(ctx, tenant, req.Username)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("login: %w", err)
		}
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(req.Password)) // equal timing for unknown users
		return unauthorized("login: wrong username or password")
	}
	if err := bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(req.Password)); err != nil {
		return unauthorized("login: wrong username or password")
	}
	secret, err := randomToken(32)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	t, err := s.db.Tokens().CreateToken(ctx, store.Token{
		Tenant: u.Tenant, UserID: u.ID, Kind: KindSession, Name: "session",
		Hash: hashToken(secret), CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL),
	})
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	s.log.Info("login", "user", u.Username, "tenant", u.Tenant)
	return c.JSON(TokenAnswer{Token: secret, ExpiresAt: t.ExpiresAt})
}

func (s *Server) logout(c *fiber.Ctx) error {
	p := principalOf(c)
	if p.Kind != KindSession {
		return badRequest("logout: not a session token; revoke API tokens with DELETE /api/v1/tokens/{id}")
	}
	if err := s.db.Tokens().DeleteTokenByHash(c.UserContext(), p.hash); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("logout: %w", err)
	}
	return c.SendStatus(http.StatusNoContent)
}

// TokenRequest is the body of POST /api/v1/tokens. Without an expiry the
// token lives for the configured API token TTL.
type TokenRequest struct {
	Name      string    `json:"name"`
	ExpiresIn string    `json:"expiresIn,omitempty"` // a Go duration: "720h"
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

func (s *Server) createToken(c *fiber.Ctx) error {
	var req TokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Name) == "" {
		return badRequest("create token: name is required")
	}
	now := time.Now().UTC()
	exp := now.Add(s.cfg.APITokenTTL)
	switch {
	case req.ExpiresIn != "" && !req.ExpiresAt.IsZero():
		return badRequest("create token: give expiresIn or expiresAt, not both")
	case req.ExpiresIn != "":
		d, err := time.ParseDuration(req.ExpiresIn)
		if err != nil || d <= 0 {
			return badRequest("create token: expiresIn: want a positive duration such as \"720h\", got %q", req.ExpiresIn)
		}
		exp = now.Add(d)
	case !req.ExpiresAt.IsZero():
		if !req.ExpiresAt.After(now) {
			return badRequest("create token: expiresAt is in the past")
		}
		exp = req.ExpiresAt.UTC()
	}
	secret, err := randomToken(32)
	if err != nil {
		return err
	}
	p := principalOf(c)
	t, err := s.db.Tokens().CreateToken(c.UserContext(), store.Token{
		Tenant: p.Tenant, UserID: p.UserID, Kind: KindAPI, Name: req.Name,
		Hash: hashToken(secret), CreatedAt: now, ExpiresAt: exp,
	})
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return c.Status(http.StatusCreated).JSON(TokenAnswer{ID: t.ID, Name: t.Name, Token: secret, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt})
}

func (s *Server) listTokens(c *fiber.Ctx) error {
	p := principalOf(c)
	ts, err := s.db.Tokens().ListTokens(c.UserContext(), p.UserID, KindAPI)
	if err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	out := make([]TokenAnswer, 0, len(ts))
	for _, t := range ts {
		out = append(out, TokenAnswer{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt})
	}
	return c.JSON(out)
}

func (s *Server) deleteToken(c *fiber.Ctx) error {
	p := principalOf(c)
	id := c.Params("id")
	// Only API tokens are listed and revoked here; sessions end with logout.
	ts, err := s.db.Tokens().ListTokens(c.UserContext(), p.UserID, KindAPI)
	if err != nil {
		return fmt.Errorf("delete token: %w", err)
	}
	found := false
	for _, t := range ts {
		if t.ID == id {
			found = true
			break
		}
	}
	if !found {
		return notFound("token %q not found", id)
	}
	if err := s.db.Tokens().DeleteToken(c.UserContext(), p.UserID, id); err != nil {
		return fmt.Errorf("delete token %q: %w", id, err)
	}
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) ticket(c *fiber.Ctx) error {
	p := principalOf(c)
	secret, exp, err := s.tickets.issue(p, time.Now())
	if err != nil {
		return err
	}
	return c.JSON(TokenAnswer{Ticket: secret, ExpiresAt: exp})
}

// authenticate checks the bearer token (and, on WebSocket routes, a
// ?ticket=) and stores the principal in the request's locals.
func (s *Server) authenticate(websocket bool) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if websocket {
			if t := c.Query("ticket"); t != "" {
				p, ok := s.tickets.redeem(t, time.Now())
				if !ok {
					return unauthorized("invalid or expired ticket")
				}
				c.Locals(principalKey, p)
				return c.Next()
			}
		}
		h := c.Get(fiber.HeaderAuthorization)
		scheme, secret, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(secret) == "" {
			if websocket {
				return unauthorized("authentication required: pass ?ticket= from POST /api/v1/auth/ticket or an Authorization: Bearer token")
			}
			return unauthorized("authentication required: pass Authorization: Bearer TOKEN (POST /api/v1/auth/login)")
		}
		hash := hashToken(strings.TrimSpace(secret))
		ctx := c.UserContext()
		t, err := s.db.Tokens().TokenByHash(ctx, hash)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return unauthorized("invalid or expired token")
			}
			return fmt.Errorf("authenticate: %w", err)
		}
		if !t.ExpiresAt.IsZero() && time.Now().After(t.ExpiresAt) {
			return unauthorized("invalid or expired token")
		}
		u, err := s.db.Users().UserByID(ctx, t.UserID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return unauthorized("invalid or expired token")
			}
			return fmt.Errorf("authenticate: %w", err)
		}
		c.Locals(principalKey, principal{UserID: u.ID, Tenant: u.Tenant, Username: u.Username, Role: u.Role, TokenID: t.ID, Kind: t.Kind, hash: hash})
		return c.Next()
	}
}

// tickets are the outstanding WebSocket tickets: short-lived, single use,
// kept in memory only. Expired tickets are swept whenever one is issued, so
// the map stays bounded without a goroutine.
type tickets struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]ticketEntry // by hash of the secret
}

type ticketEntry struct {
	p   principal
	exp time.Time
}

func (t *tickets) issue(p principal, now time.Time) (string, time.Time, error) {
	secret, err := randomToken(32)
	if err != nil {
		return "", time.Time{}, err
	}
	exp := now.Add(t.ttl).UTC()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]ticketEntry{}
	}
	for k, e := range t.m {
		if !now.Before(e.exp) {
			delete(t.m, k)
		}
	}
	if len(t.m) >= maxTickets {
		return "", time.Time{}, newError(http.StatusServiceUnavailable, CodeOverloaded, "too many outstanding tickets; try again in %s", t.ttl)
	}
	p.Kind = "ticket"
	t.m[hashToken(secret)] = ticketEntry{p: p, exp: exp}
	return secret, exp, nil
}

// redeem consumes a ticket: it works once, before it expires.
func (t *tickets) redeem(secret string, now time.Time) (principal, bool) {
	h := hashToken(secret)
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.m[h]
	if !ok {
		return principal{}, false
	}
	delete(t.m, h)
	if !now.Before(e.exp) {
		return principal{}, false
	}
	return e.p, true
}

// outstanding is the number of tickets in the map (tests).
func (t *tickets) outstanding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}
