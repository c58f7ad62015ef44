package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/store"
)

// cheapDevicePasswords hashes device passwords at the cheapest bcrypt cost
// for the test (fast under -race).
func cheapDevicePasswords(t *testing.T) {
	t.Helper()
	old := devicePasswordCost
	devicePasswordCost = bcrypt.MinCost
	t.Cleanup(func() { devicePasswordCost = old })
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// loginAs creates a user in a tenant and returns its session token.
func (e *env) loginAs(tenant, username string) string {
	e.t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.Users().CreateUser(context.Background(), store.User{Tenant: tenant, Username: username, PasswordHash: string(hash), Role: "admin"}); err != nil {
		e.t.Fatalf("create user: %v", err)
	}
	var login TokenAnswer
	e.mustDo(http.MethodPost, "/api/v1/auth/login", "-", map[string]string{"username": username, "password": testPassword, "tenant": tenant}, http.StatusOK, &login)
	return login.Token
}

func TestDevicesAPI(t *testing.T) {
	cheapDevicePasswords(t)
	e := newEnv(t)

	var boiler DeviceAnswer
	h := e.mustDo(http.MethodPost, "/api/v1/devices", "", map[string]any{
		"id": "boiler-1", "name": "Boiler 1", "group": "plant-a", "tags": []string{"heating", "gas"},
	}, http.StatusCreated, &boiler)
	if h.Get("Location") != "/api/v1/devices/boiler-1" {
		t.Errorf("location %q", h.Get("Location"))
	}
	if boiler.ID != "boiler-1" || boiler.Name != "Boiler 1" || boiler.Group != "plant-a" || len(boiler.Tags) != 2 ||
		boiler.Credentials != CredentialsToken || len(boiler.Token) != 43 || boiler.Password != "" || boiler.CreatedAt.IsZero() {
		t.Fatalf("created %+v", boiler)
	}

	var pump DeviceAnswer
	e.mustDo(http.MethodPost, "/api/v1/devices", "", map[string]any{"id": "pump-1", "group": "plant-b", "tags": []string{"water"}, "credentials": "password"}, http.StatusCreated, &pump)
	if pump.Credentials != CredentialsPassword || pump.Username != "pump-1" || len(pump.Password) != 24 || pump.Token != "" || pump.Name != "pump-1" {
		t.Fatalf("created %+v", pump)
	}
	var meter DeviceAnswer
	e.mustDo(http.MethodPost, "/api/v1/devices", "", map[string]any{"name": "Meter", "credentials": "password", "username": "meter@plant-a", "tags": []string{"gas"}}, http.StatusCreated, &meter)
	if meter.ID == "" || meter.Username != "meter@plant-a" || meter.Password == "" {
		t.Fatalf("created %+v", meter)
	}
	var sensor DeviceAnswer
	e.mustDo(http.MethodPost, "/api/v1/devices", "", map[string]any{"id": "sensor-1", "credentials": "none"}, http.StatusCreated, &sensor)
	if sensor.Credentials != CredentialsNone || sensor.Token != "" || sensor.Password != "" {
		t.Fatalf("created %+v", sensor)
	}

	// The secret is shown once: never by GET or list.
	var got DeviceAnswer
	e.mustDo(http.MethodGet, "/api/v1/devices/boiler-1", "", nil, http.StatusOK, &got)
	want := boiler
	want.Token = ""
	if got.ID != want.ID || got.Token != "" || got.Credentials != CredentialsToken || got.Name != want.Name || !got.CreatedAt.Equal(want.CreatedAt) {
		t.Fatalf("get %+v, want %+v", got, want)
	}
	var page DevicePage
	e.mustDo(http.MethodGet, "/api/v1/devices", "", nil, http.StatusOK, &page)
	if page.Total != 4 || len(page.Items) != 4 {
		t.Fatalf("list %+v", page)
	}
	for i := 1; i < len(page.Items); i++ {
		if page.Items[i-1].ID >= page.Items[i].ID {
			t.Fatalf("list not ordered by id: %+v", page)
		}
	}
	for _, d := range page.Items {
		if d.Token != "" || d.Password != "" {
			t.Fatalf("list shows a secret: %+v", d)
		}
	}

	for _, tc := range []struct {
		query string
		want  []string
		total int
	}{
		{"?group=plant-a", []string{"boiler-1"}, 1},
		{"?tag=gas", sorted("boiler-1", meter.ID), 2},
		{"?tag=gas&group=plant-b", []string{}, 0},
		{"?limit=2&offset=1", []string{page.Items[1].ID, page.Items[2].ID}, 4},
	} {
		e.mustDo(http.MethodGet, "/api/v1/devices"+tc.query, "", nil, http.StatusOK, &page)
		ids := []string{}
		for _, d := range page.Items {
			ids = append(ids, d.ID)
		}
		if page.Total != tc.total || len(ids) != len(tc.want) {
			t.Errorf("list%s: %v (total %d), want %v (total %d)", tc.query, ids, page.Total, tc.want, tc.total)
			continue
		}
		for i := range ids {
			if ids[i] != tc.want[i] {
				t.Errorf("list%s: %v, want %v", tc.query, ids, tc.want)
				break
			}
		}
	}

	// Update replaces name, group and tags; credentials stay.
	e.mustDo(http.MethodPut, "/api/v1/devices/boiler-1", "", map[string]any{"name": "Boiler one", "tags": []string{"heating"}}, http.StatusOK, &got)
	if got.Name != "Boiler one" || got.Group != "" || len(got.Tags) != 1 || got.Credentials != CredentialsToken || got.Token != "" || !got.UpdatedAt.After(got.CreatedAt) {
		t.Fatalf("updated %+v", got)
	}
	e.mustDo(http.MethodPut, "/api/v1/devices/boiler-1", "", map[string]any{"id": "boiler-1", "name": "Boiler one"}, http.StatusOK, nil)

	// Delete.
	e.mustDo(http.MethodDelete, "/api/v1/devices/sensor-1", "", nil, http.StatusNoContent, nil)
	e.mustDo(http.MethodGet, "/api/v1/devices/sensor-1", "", nil, http.StatusNotFound, nil)
	e.mustDo(http.MethodDelete, "/api/v1/devices/sensor-1", "", nil, http.StatusNotFound, nil)
}

func TestDevicesAPIRefusals(t *testing.T) {
	cheapDevicePasswords(t)
	e := newEnv(t)
	e.mustDo(http.MethodPost, "/api/v1/devices", "", map[string]any{"id": "d1", "credentials": "password"}, http.StatusCreated, nil)
	for _, tc := range []struct {
		name, method, path string
		body               any
		status             int
		code               string
	}{
		{"a duplicate id", http.MethodPost, "/api/v1/devices", map[string]any{"id": "d1"}, http.StatusConflict, CodeConflict},
		{"a taken username", http.MethodPost, "/api/v1/devices", map[string]any{"id": "d2", "credentials": "password", "username": "d1"}, http.StatusConflict, CodeConflict},
		{"an id with a slash", http.MethodPost, "/api/v1/devices", map[string]any{"id": "a/b"}, http.StatusBadRequest, CodeBadRequest},
		{"an unknown credential kind", http.MethodPost, "/api/v1/devices", map[string]any{"id": "d3", "credentials": "cert"}, http.StatusBadRequest, CodeBadRequest},
		{"a username with a token", http.MethodPost, "/api/v1/devices", map[string]any{"id": "d3", "username": "u"}, http.StatusBadRequest, CodeBadRequest},
		{"a username with spaces", http.MethodPost, "/api/v1/devices", map[string]any{"id": "d3", "credentials": "password", "username": "a b"}, http.StatusBadRequest, CodeBadRequest},
		{"an empty tag", http.MethodPost, "/api/v1/devices", map[string]any{"id": "d3", "tags": []string{""}}, http.StatusBadRequest, CodeBadRequest},
		{"an unknown key", http.MethodPost, "/api/v1/devices", map[string]any{"id": "d3", "colour": "red"}, http.StatusBadRequest, CodeBadRequest},
		{"no body", http.MethodPost, "/api/v1/devices", nil, http.StatusBadRequest, CodeBadRequest},
		{"a bad limit", http.MethodGet, "/api/v1/devices?limit=0", nil, http.StatusBadRequest, CodeBadRequest},
		{"a limit that is no number", http.MethodGet, "/api/v1/devices?limit=x", nil, http.StatusBadRequest, CodeBadRequest},
		{"a negative offset", http.MethodGet, "/api/v1/devices?offset=-1", nil, http.StatusBadRequest, CodeBadRequest},
		{"get a missing device", http.MethodGet, "/api/v1/devices/nope", nil, http.StatusNotFound, CodeNotFound},
		{"update a missing device", http.MethodPut, "/api/v1/devices/nope", map[string]any{"name": "x"}, http.StatusNotFound, CodeNotFound},
		{"update with another id", http.MethodPut, "/api/v1/devices/d1", map[string]any{"id": "d2"}, http.StatusBadRequest, CodeBadRequest},
		{"update credentials with PUT", http.MethodPut, "/api/v1/devices/d1", map[string]any{"credentials": "none"}, http.StatusBadRequest, CodeBadRequest},
		{"rotate a missing device", http.MethodPost, "/api/v1/devices/nope/credentials", nil, http.StatusNotFound, CodeNotFound},
		{"rotate to an unknown kind", http.MethodPost, "/api/v1/devices/d1/credentials", map[string]any{"credentials": "cert"}, http.StatusBadRequest, CodeBadRequest},
		{"rotate a token with a username", http.MethodPost, "/api/v1/devices/d1/credentials", map[string]any{"credentials": "token", "username": "u"}, http.StatusBadRequest, CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, _, b := e.do(tc.method, tc.path, e.token, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d; body %s", status, tc.status, b)
			}
			if info := errorOf(t, b); info.Code != tc.code {
				t.Fatalf("code %q, want %q: %s", info.Code, tc.code, info.Message)
			}
		})
	}
	// Nothing refused was saved.
	var page DevicePage
	e.mustDo(http.MethodGet, "/api/v1/devices", "", nil, http.StatusOK, &page)
	if page.Total != 1 {
		t.Fatalf("devices after refusals: %+v", page)
	}
}

func TestDevicesAreTenantScoped(t *testing.T) {
	cheapDevicePasswords(t)
	e := newEnv(t)
	acme := e.loginAs("acme", "ann")
	e.mustDo(http.MethodPost, "/api/v1/devices", "", map[string]any{"id": "d1", "credentials": "password", "username": "shared-name"}, http.StatusCreated, nil)

	// Another tenant sees none of it, and may use the same device id...
	var page DevicePage
	e.mustDo(http.MethodGet, "/api/v1/devices", acme, nil, http.StatusOK, &page)
	if page.Total != 0 {
		t.Fatalf("acme sees %+v", page)
	}
	for _, r := range []struct{ method, path string }{
		{http.MethodGet, "/api/v1/devices/d1"},
		{http.MethodPut, "/api/v1/devices/d1"},
		{http.MethodPost, "/api/v1/devices/d1/credentials"},
		{http.MethodDelete, "/api/v1/devices/d1"},
	} {
		e.mustDo(r.method, r.path, acme, map[string]any{}, http.StatusNotFound, nil)
	}
	var d DeviceAnswer
	e.mustDo(http.MethodPost, "/api/v1/devices", acme, map[string]any{"id": "d1"}, http.StatusCreated, &d)
	// ...but not a username taken anywhere: a credential names its tenant.
	e.mustDo(http.MethodPost, "/api/v1/devices", acme, map[string]any{"id": "d2", "credentials": "password", "username": "shared-name"}, http.StatusConflict, nil)

	auth := e.srv.devices
	got, err := auth.ByToken(context.Background(), d.Token)
	if err != nil || got.Tenant != "acme" || got.ID != "d1" {
		t.Fatalf("by token: %+v, %v", got, err)
	}
}

func TestDeviceAuthFollowsTheAPI(t *testing.T) {
	cheapDevicePasswords(t)
	e := newEnv(t)
	ctx := context.Background()
	auth := e.srv.devices // the one the API tells about changes

	var boiler, pump DeviceAnswer
	e.mustDo(http.MethodPost, "/api/v1/devices", "", map[string]any{"id": "boiler-1", "name": "Boiler", "group": "g", "tags": []string{"a"}}, http.StatusCreated, &boiler)
	e.mustDo(http.MethodPost, "/api/v1/devices", "", map[string]any{"id": "pump-1", "credentials": "password"}, http.StatusCreated, &pump)

	d, err := auth.ByToken(ctx, boiler.Token)
	want := engine.Device{ID: "boiler-1", Tenant: store.DefaultTenant, Name: "Boiler", Group: "g", Tags: []string{"a"}}
	if err != nil || d.ID != want.ID || d.Tenant != want.Tenant || d.Name != want.Name || d.Group != want.Group || len(d.Tags) != 1 || d.Tags[0] != "a" {
		t.Fatalf("by token: %+v, %v; want %+v", d, err, want)
	}
	if d, err := auth.ByPassword(ctx, "pump-1", pump.Password); err != nil || d.ID != "pump-1" {
		t.Fatalf("by password: %+v, %v", d, err)
	}
	for name, try := range map[string]func() (engine.Device, error){
		"an unknown token":           func() (engine.Device, error) { return auth.ByToken(ctx, "nope") },
		"an empty token":             func() (engine.Device, error) { return auth.ByToken(ctx, "") },
		"a password as token":        func() (engine.Device, error) { return auth.ByToken(ctx, pump.Password) },
		"a wrong password":           func() (engine.Device, error) { return auth.ByPassword(ctx, "pump-1", boiler.Token) },
		"an unknown username":        func() (engine.Device, error) { return auth.ByPassword(ctx, "nobody", pump.Password) },
		"an empty password":          func() (engine.Device, error) { return auth.ByPassword(ctx, "pump-1", "") },
		"a token device by password": func() (engine.Device, error) { return auth.ByPassword(ctx, "boiler-1", boiler.Token) },
	} {
		if _, err := try(); !errors.Is(err, engine.ErrUnauthorized) {
			t.Errorf("%s: %v, want ErrUnauthorized", name, err)
		}
	}

	// An edit shows at once, though the device is remembered.
	e.mustDo(http.MethodPut, "/api/v1/devices/boiler-1", "", map[string]any{"name": "Boiler", "tags": []string{"b"}}, http.StatusOK, nil)
	if d, err := auth.ByToken(ctx, boiler.Token); err != nil || len(d.Tags) != 1 || d.Tags[0] != "b" {
		t.Fatalf("after the edit: %+v, %v", d, err)
	}

	// A rotated token replaces the old one at once.
	var rotated DeviceAnswer
	e.mustDo(http.MethodPost, "/api/v1/devices/boiler-1/credentials", "", nil, http.StatusOK, &rotated)
	if rotated.Token == "" || rotated.Token == boiler.Token || rotated.Credentials != CredentialsToken {
		t.Fatalf("rotated %+v", rotated)
	}
	if _, err := auth.ByToken(ctx, boiler.Token); !errors.Is(err, engine.ErrUnauthorized) {
		t.Fatalf("the old token after rotation: %v", err)
	}
	if _, err := auth.ByToken(ctx, rotated.Token); err != nil {
		t.Fatalf("the new token: %v", err)
	}

	// A password rotates under the same username, or moves to another.
	var pump2 DeviceAnswer
	e.mustDo(http.MethodPost, "/api/v1/devices/pump-1/credentials", "", "", http.StatusOK, &pump2)
	if pump2.Username != "pump-1" || pump2.Password == "" || pump2.Password == pump.Password {
		t.Fatalf("rotated %+v", pump2)
	}
	if _, err := auth.ByPassword(ctx, "pump-1", pump.Password); !errors.Is(err, engine.ErrUnauthorized) {
		t.Fatalf("the old password after rotation: %v", err)
	}
	e.mustDo(http.MethodPost, "/api/v1/devices/pump-1/credentials", "", map[string]any{"username": "pump-one"}, http.StatusOK, &pump2)
	if d, err := auth.ByPassword(ctx, "pump-one", pump2.Password); err != nil || d.ID != "pump-1" {
		t.Fatalf("the new username: %+v, %v", d, err)
	}

	// Switch the kind: the boiler gets a password, then nothing.
	var b2 DeviceAnswer
	e.mustDo(http.MethodPost, "/api/v1/devices/boiler-1/credentials", "", map[string]any{"credentials": "password"}, http.StatusOK, &b2)
	if b2.Credentials != CredentialsPassword || b2.Username != "boiler-1" || b2.Password == "" || b2.Token != "" {
		t.Fatalf("to password: %+v", b2)
	}
	if _, err := auth.ByToken(ctx, rotated.Token); !errors.Is(err, engine.ErrUnauthorized) {
		t.Fatalf("the token after the switch to a password: %v", err)
	}
	if _, err := auth.ByPassword(ctx, "boiler-1", b2.Password); err != nil {
		t.Fatalf("the password: %v", err)
	}
	var b3 DeviceAnswer
	e.mustDo(http.MethodPost, "/api/v1/devices/boiler-1/credentials", "", map[string]any{"credentials": "none"}, http.StatusOK, &b3)
	if b3.Credentials != CredentialsNone || b3.Username != "" || b3.Password != "" {
		t.Fatalf("to none: %+v", b3)
	}
	if _, err := auth.ByPassword(ctx, "boiler-1", b2.Password); !errors.Is(err, engine.ErrUnauthorized) {
		t.Fatalf("the password after the switch to none: %v", err)
	}
	// Without a body, a device without credentials gets a token.
	var b4 DeviceAnswer
	e.mustDo(http.MethodPost, "/api/v1/devices/boiler-1/credentials", "", nil, http.StatusOK, &b4)
	if b4.Credentials != CredentialsToken || b4.Token == "" {
		t.Fatalf("from none: %+v", b4)
	}

	// A deleted device stops authenticating at once.
	if _, err := auth.ByPassword(ctx, "pump-one", pump2.Password); err != nil {
		t.Fatal(err)
	}
	e.mustDo(http.MethodDelete, "/api/v1/devices/pump-1", "", nil, http.StatusNoContent, nil)
	if _, err := auth.ByPassword(ctx, "pump-one", pump2.Password); !errors.Is(err, engine.ErrUnauthorized) {
		t.Fatalf("a deleted device: %v", err)
	}
}

// countingRepo counts the credential lookups that reach the store; during,
// when set, runs in the middle of a token lookup.
type countingRepo struct {
	store.DeviceRepo
	tokens, passwords atomic.Int32
	during            func()
}

func (r *countingRepo) DeviceByTokenHash(ctx context.Context, hash string) (store.Device, error) {
	r.tokens.Add(1)
	d, err := r.DeviceRepo.DeviceByTokenHash(ctx, hash)
	if r.during != nil {
		r.during()
	}
	return d, err
}

func (r *countingRepo) DeviceByUsername(ctx context.Context, username string) (store.Device, store.DeviceCredential, error) {
	r.passwords.Add(1)
	return r.DeviceRepo.DeviceByUsername(ctx, username)
}

// fakeClock is a clock that moves only when told.
type fakeClock struct{ now atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.now.Store(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.now.Load()) }
func (c *fakeClock) Advance(d time.Duration) { c.now.Add(int64(d)) }

func TestDeviceAuthCache(t *testing.T) {
	cheapDevicePasswords(t)
	e := newEnv(t)
	ctx := context.Background()
	var tok, pw DeviceAnswer
	e.mustDo(http.MethodPost, "/api/v1/devices", "", map[string]any{"id": "d1", "tags": []string{"a"}}, http.StatusCreated, &tok)
	e.mustDo(http.MethodPost, "/api/v1/devices", "", map[string]any{"id": "d2", "credentials": "password"}, http.StatusCreated, &pw)

	clock := newFakeClock()
	repo := &countingRepo{DeviceRepo: e.db.Devices()}
	auth := &DeviceAuth{repo: repo, cache: newDeviceCache(30*time.Second, 3, clock.Now)}

	// Repeated lookups read the store once per TTL.
	for range 5 {
		d, err := auth.ByToken(ctx, tok.Token)
		if err != nil || d.ID != "d1" {
			t.Fatalf("by token: %+v, %v", d, err)
		}
		d.Tags[0] = "changed by the caller"
		if _, err := auth.ByPassword(ctx, "d2", pw.Password); err != nil {
			t.Fatalf("by password: %v", err)
		}
	}
	if n, m := repo.tokens.Load(), repo.passwords.Load(); n != 1 || m != 1 {
		t.Fatalf("store lookups: %d by token, %d by password; want 1 each", n, m)
	}
	if d, _ := auth.ByToken(ctx, tok.Token); d.Tags[0] != "a" {
		t.Fatalf("a caller changed the remembered device: %+v", d)
	}
	clock.Advance(29 * time.Second)
	if _, err := auth.ByToken(ctx, tok.Token); err != nil || repo.tokens.Load() != 1 {
		t.Fatalf("within the TTL: %v, %d lookups", err, repo.tokens.Load())
	}
	clock.Advance(time.Second)
	if _, err := auth.ByToken(ctx, tok.Token); err != nil || repo.tokens.Load() != 2 {
		t.Fatalf("after the TTL: %v, %d lookups", err, repo.tokens.Load())
	}

	// Failures are not remembered; a wrong password does not hit an entry.
	for range 3 {
		if _, err := auth.ByToken(ctx, "wrong"); !errors.Is(err, engine.ErrUnauthorized) {
			t.Fatal(err)
		}
		if _, err := auth.ByPassword(ctx, "d2", "wrong"); !errors.Is(err, engine.ErrUnauthorized) {
			t.Fatal(err)
		}
	}
	if n, m := repo.tokens.Load(), repo.passwords.Load(); n != 5 || m != 4 {
		t.Fatalf("store lookups after failures: %d by token, %d by password; want 5 and 4", n, m)
	}

	// A lookup that raced with an invalidation is not remembered.
	clock.Advance(time.Minute)
	repo.during = func() { auth.cache.invalidate(store.DefaultTenant, "d1") }
	if _, err := auth.ByToken(ctx, tok.Token); err != nil {
		t.Fatal(err)
	}
	repo.during = nil
	before := repo.tokens.Load()
	if _, err := auth.ByToken(ctx, tok.Token); err != nil || repo.tokens.Load() != before+1 {
		t.Fatalf("a raced lookup was remembered: %v, %d lookups", err, repo.tokens.Load())
	}

	// The cache is bounded.
	c := newDeviceCache(time.Minute, 3, clock.Now)
	for i, k := range []string{"a", "b", "c", "d", "e"} {
		c.put(k, engine.Device{ID: k}, c.generation())
		if n := c.size(); n > 3 || n != min(i+1, 3) {
			t.Fatalf("after %d puts: %d entries", i+1, n)
		}
	}
	if _, ok := c.get("e"); !ok {
		t.Fatal("the newest entry was evicted")
	}
	// Expired entries go first.
	clock.Advance(2 * time.Minute)
	c.put("f", engine.Device{ID: "f"}, c.generation())
	if n := c.size(); n != 1 {
		t.Fatalf("after the expired entries were swept: %d entries", n)
	}
}
