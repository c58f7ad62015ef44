package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"golang.org/x/crypto/bcrypt"

	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/store"
)

// The credential a device is created or rotated with.
const (
	CredentialsToken    = store.CredentialToken
	CredentialsPassword = store.CredentialPassword
	CredentialsNone     = "none"
)

const (
	// Page limits of GET /api/v1/devices.
	defaultDeviceLimit = 50
	maxDeviceLimit     = 1000
	// deviceTokenBytes is the entropy of a device token (base64url, 43 characters).
	deviceTokenBytes = 32
	// devicePasswordBytes is the entropy of a generated device password
	// (base64url, 24 characters).
	devicePasswordBytes = 18
	// deviceCacheTTL is how long a successful device authentication is
	// remembered, so that a connector does not read the store per message.
	deviceCacheTTL = 30 * time.Second
	// deviceCacheMax bounds the remembered authentications.
	deviceCacheMax = 10000
)

// devicePasswordCost is the bcrypt cost of device passwords (tests lower it).
var devicePasswordCost = bcrypt.DefaultCost

// deviceDummyHash makes an unknown device username cost as much as a wrong
// password, at the cost device passwords get.
var deviceDummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("sluice-dummy-device-password"), devicePasswordCost)
	return h
})

// DeviceAnswer is a device as the API returns it. Token and Password are
// set only in the answers that generate them (create and rotate): the
// server keeps only their hashes.
type DeviceAnswer struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Group     string    `json:"group"`
	Tags      []string  `json:"tags"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Credentials is how the device authenticates: token, password or none.
	Credentials string `json:"credentials"`
	// Username is the login of a password device.
	Username string `json:"username,omitempty"`
	Token    string `json:"token,omitempty"`
	Password string `json:"password,omitempty"`
}

// DevicePage is the answer of GET /api/v1/devices.
type DevicePage struct {
	Items []DeviceAnswer `json:"items"`
	Total int            `json:"total"`
}

// DeviceRequest is the body of POST /api/v1/devices. ID is generated when
// empty, Name defaults to the id, Credentials to "token"; Username (for
// "password") defaults to the id and is unique across tenants.
type DeviceRequest struct {
	ID          string   `json:"id,omitempty"`
	Name        string   `json:"name,omitempty"`
	Group       string   `json:"group,omitempty"`
	Tags        []string `json:"tags,omitempty"`
	Credentials string   `json:"credentials,omitempty"`
	Username    string   `json:"username,omitempty"`
}

// DeviceUpdate is the body of PUT /api/v1/devices/{id}: it replaces the
// name, group and tags. An id, when given, must be the URL's.
type DeviceUpdate struct {
	ID    string   `json:"id,omitempty"`
	Name  string   `json:"name,omitempty"`
	Group string   `json:"group,omitempty"`
	Tags  []string `json:"tags,omitempty"`
}

// CredentialsRequest is the optional body of POST
// /api/v1/devices/{id}/credentials. Without it, the device gets a new secret
// of the kind it has (a token when it has none), under the same username.
type CredentialsRequest struct {
	Credentials string `json:"credentials,omitempty"`
	Username    string `json:"username,omitempty"`
}

func deviceAnswer(d store.Device) DeviceAnswer {
	a := DeviceAnswer{ID: d.ID, Name: d.Name, Group: d.Group, Tags: d.Tags, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Credentials: CredentialsNone}
	if a.Tags == nil {
		a.Tags = []string{}
	}
	if len(d.Credentials) > 0 {
		c := d.Credentials[len(d.Credentials)-1]
		a.Credentials, a.Username = c.Kind, c.Username
	}
	return a
}

// deviceError maps the registry's refusals to 400 and 409; other errors
// pass wrapped, for toAPIError. what prefixes the message; leave it empty
// for the store's errors, which name their operation.
func deviceError(err error, what string) error {
	msg := err.Error()
	if what != "" {
		msg = what + ": " + msg
	}
	switch {
	case errors.Is(err, store.ErrInvalidDevice):
		e := badRequest("%s", msg)
		e.cause = err
		return e
	case errors.Is(err, store.ErrExists):
		e := newError(http.StatusConflict, CodeConflict, "%s", msg)
		e.cause = err
		return e
	case what == "":
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

// checkCredentials checks a requested credential kind and username (empty:
// the default) before any secret is generated.
func checkCredentials(kind, username string) error {
	switch kind {
	case CredentialsToken, CredentialsNone:
		if username != "" {
			return fmt.Errorf("username: only with \"credentials\": %q: %w", CredentialsPassword, store.ErrInvalidDevice)
		}
	case CredentialsPassword:
		if username != "" {
			return store.CheckUsername(username)
		}
	default:
		return fmt.Errorf("credentials: want %q, %q or %q, got %q: %w",
			CredentialsToken, CredentialsPassword, CredentialsNone, kind, store.ErrInvalidDevice)
	}
	return nil
}

// newCredential generates a secret of a kind and the credential that
// stores its hash. It returns no credential for "none".
func newCredential(kind, username string) ([]store.DeviceCredential, string, error) {
	switch kind {
	case CredentialsNone:
		return nil, "", nil
	case CredentialsToken:
		secret, err := randomToken(deviceTokenBytes)
		if err != nil {
			return nil, "", err
		}
		return []store.DeviceCredential{{Kind: store.CredentialToken, Hash: hashToken(secret)}}, secret, nil
	case CredentialsPassword:
		secret, err := randomToken(devicePasswordBytes)
		if err != nil {
			return nil, "", err
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(secret), devicePasswordCost)
		if err != nil {
			return nil, "", fmt.Errorf("hash device password: %w", err)
		}
		return []store.DeviceCredential{{Kind: store.CredentialPassword, Username: username, Hash: string(hash)}}, secret, nil
	}
	return nil, "", fmt.Errorf("credentials %q: %w", kind, store.ErrInvalidDevice)
}

// withSecret puts a generated secret in the answer field of its kind.
func withSecret(a DeviceAnswer, kind, secret string) DeviceAnswer {
	switch kind {
	case CredentialsToken:
		a.Token = secret
	case CredentialsPassword:
		a.Password = secret
	}
	return a
}

func (s *Server) listDevices(c *fiber.Ctx) error {
	limit, err := intQuery(c, "limit", defaultDeviceLimit)
	if err != nil {
		return err
	}
	offset, err := intQuery(c, "offset", 0)
	if err != nil {
		return err
	}
	if limit < 1 || limit > maxDeviceLimit {
		return badRequest("query limit: want 1 to %d, got %d", maxDeviceLimit, limit)
	}
	if offset < 0 {
		return badRequest("query offset: want 0 or more, got %d", offset)
	}
	p := principalOf(c)
	ds, total, err := s.db.Devices().ListDevices(c.UserContext(), store.DeviceFilter{
		Tenant: p.Tenant, Group: c.Query("group"), Tag: c.Query("tag"), Limit: limit, Offset: offset,
	})
	if err != nil {
		return fmt.Errorf("list devices: %w", err)
	}
	out := DevicePage{Items: make([]DeviceAnswer, 0, len(ds)), Total: total}
	for _, d := range ds {
		out.Items = append(out.Items, deviceAnswer(d))
	}
	return c.JSON(out)
}

func (s *Server) createDevice(c *fiber.Ctx) error {
	var req DeviceRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	if req.ID == "" {
		req.ID = uuid.NewString()
	}
	if err := store.CheckDeviceID(req.ID); err != nil {
		return deviceError(err, "create device")
	}
	if req.Credentials == "" {
		req.Credentials = CredentialsToken
	}
	if err := checkCredentials(req.Credentials, req.Username); err != nil {
		return deviceError(err, "create device")
	}
	if req.Username == "" {
		req.Username = req.ID
	}
	creds, secret, err := newCredential(req.Credentials, req.Username)
	if err != nil {
		return deviceError(err, "create device")
	}
	p := principalOf(c)
	d, err := s.db.Devices().CreateDevice(c.UserContext(), store.Device{
		ID: req.ID, Tenant: p.Tenant, Name: req.Name, Group: req.Group, Tags: req.Tags, Credentials: creds,
	})
	if err != nil {
		return deviceError(err, "")
	}
	s.log.Info("device created", "device", d.ID, "tenant", d.Tenant, "credentials", req.Credentials, "user", p.Username)
	c.Set(fiber.HeaderLocation, APIPrefix+"/devices/"+url.PathEscape(d.ID))
	return c.Status(http.StatusCreated).JSON(withSecret(deviceAnswer(d), req.Credentials, secret))
}

func (s *Server) getDevice(c *fiber.Ctx) error {
	p := principalOf(c)
	id := c.Params("id")
	d, err := s.db.Devices().DeviceByID(c.UserContext(), p.Tenant, id)
	if err != nil {
		return fmt.Errorf("get device %q: %w", id, err)
	}
	return c.JSON(deviceAnswer(d))
}

func (s *Server) updateDevice(c *fiber.Ctx) error {
	var req DeviceUpdate
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	id := c.Params("id")
	if req.ID != "" && req.ID != id {
		return badRequest("update device %q: the body's id %q differs from the URL's", id, req.ID)
	}
	p := principalOf(c)
	d, err := s.db.Devices().UpdateDevice(c.UserContext(), store.Device{ID: id, Tenant: p.Tenant, Name: req.Name, Group: req.Group, Tags: req.Tags})
	if err != nil {
		return deviceError(err, "")
	}
	// Connectors see the name, group and tags of a device they remember.
	s.forgetDevice(d.Tenant, d.ID)
	return c.JSON(deviceAnswer(d))
}

func (s *Server) deleteDevice(c *fiber.Ctx) error {
	p := principalOf(c)
	id := c.Params("id")
	if err := s.db.Devices().DeleteDevice(c.UserContext(), p.Tenant, id); err != nil {
		return fmt.Errorf("delete device %q: %w", id, err)
	}
	s.forgetDevice(p.Tenant, id)
	s.log.Info("device deleted", "device", id, "tenant", p.Tenant, "user", p.Username)
	return c.SendStatus(http.StatusNoContent)
}

func (s *Server) rotateDeviceCredentials(c *fiber.Ctx) error {
	var req CredentialsRequest
	if len(strings.TrimSpace(string(c.Body()))) > 0 {
		if err := decodeJSON(c, &req); err != nil {
			return err
		}
	}
	p := principalOf(c)
	id := c.Params("id")
	what := fmt.Sprintf("rotate device %q credentials", id)
	ctx := c.UserContext()
	repo := s.db.Devices()
	d, err := repo.DeviceByID(ctx, p.Tenant, id)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	current := deviceAnswer(d)
	kind := req.Credentials
	switch {
	case kind != "":
	case current.Credentials == CredentialsNone:
		kind = CredentialsToken
	default:
		kind = current.Credentials
	}
	if err := checkCredentials(kind, req.Username); err != nil {
		return deviceError(err, what)
	}
	username := req.Username
	if username == "" {
		username = current.Username
	}
	if username == "" {
		username = d.ID
	}
	creds, secret, err := newCredential(kind, username)
	if err != nil {
		return deviceError(err, what)
	}
	if _, err := repo.SetDeviceCredentials(ctx, p.Tenant, id, creds); err != nil {
		return deviceError(err, "")
	}
	// The old secret stops working now, not when the cache forgets it.
	s.forgetDevice(p.Tenant, id)
	d, err = repo.DeviceByID(ctx, p.Tenant, id)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	s.log.Info("device credentials rotated", "device", id, "tenant", p.Tenant, "credentials", kind, "user", p.Username)
	return c.JSON(withSecret(deviceAnswer(d), kind, secret))
}

// forgetDevice drops what the device authenticator remembers of a device
// after its record or credentials changed.
func (s *Server) forgetDevice(tenant, id string) {
	if s.devices != nil {
		s.devices.Forget(tenant, id)
	}
}

// DeviceAuth authenticates devices against the registry, remembering
// successful lookups for a short while.
type DeviceAuth struct {
	repo  store.DeviceRepo
	cache *deviceCache
}

var _ engine.DeviceAuth = (*DeviceAuth)(nil)

// NewDeviceAuth returns the device authenticator of the registry in db.
// Give the same one to the engine (engine.Options.Devices) and the server
// (Deps.Devices): successful lookups are remembered for 30 s (at most 10000),
// so that a connector authenticating every message does not read the store
// each time, and a change through the devices API (rotated credentials, a
// deleted or edited device) takes effect at once through Forget.
func NewDeviceAuth(db *store.DB) *DeviceAuth {
	return &DeviceAuth{repo: db.Devices(), cache: newDeviceCache(deviceCacheTTL, deviceCacheMax, time.Now)}
}

// Forget drops what the authenticator remembers of a device.
func (a *DeviceAuth) Forget(tenant, id string) { a.cache.invalidate(tenant, id) }

// ByToken implements engine.DeviceAuth.
func (a *DeviceAuth) ByToken(ctx context.Context, token string) (engine.Device, error) {
	if token == "" {
		return engine.Device{}, engine.ErrUnauthorized
	}
	hash := hashToken(token)
	key := "t:" + hash
	if d, ok := a.cache.get(key); ok {
		return d, nil
	}
	gen := a.cache.generation()
	sd, err := a.repo.DeviceByTokenHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return engine.Device{}, engine.ErrUnauthorized
	}
	if err != nil {
		return engine.Device{}, fmt.Errorf("authenticate device token: %w", err)
	}
	d := engineDevice(sd)
	a.cache.put(key, d, gen)
	return d, nil
}

// ByPassword implements engine.DeviceAuth. An unknown username costs a
// bcrypt comparison too, so that timing does not tell which exist.
func (a *DeviceAuth) ByPassword(ctx context.Context, username, password string) (engine.Device, error) {
	if username == "" || password == "" {
		return engine.Device{}, engine.ErrUnauthorized
	}
	// The key is a hash of both, so that only the right password hits.
	key := "p:" + hashToken(username+"\x00"+password)
	if d, ok := a.cache.get(key); ok {
		return d, nil
	}
	gen := a.cache.generation()
	sd, cred, err := a.repo.DeviceByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(deviceDummyHash(), []byte(password)) // equal timing for unknown usernames
		return engine.Device{}, engine.ErrUnauthorized
	}
	if err != nil {
		return engine.Device{}, fmt.Errorf("authenticate device %q: %w", username, err)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(cred.Hash), []byte(password)); err != nil {
		return engine.Device{}, engine.ErrUnauthorized
	}
	d := engineDevice(sd)
	a.cache.put(key, d, gen)
	return d, nil
}

func engineDevice(d store.Device) engine.Device {
	return engine.Device{ID: d.ID, Tenant: d.Tenant, Name: d.Name, Group: d.Group, Tags: slices.Clone(d.Tags)}
}

// deviceCache remembers successful device authentications: key (a hash of
// the credential) -> device, until a deadline. It is bounded: when full, it
// drops the expired entries (at most once per TTL), then an arbitrary one.
//
// A lookup notes the generation before it reads the store, and put keeps
// its result only if no invalidation happened since, so that a lookup that
// raced with a credential change cannot bring back the old credential.
type deviceCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu        sync.Mutex
	gen       uint64
	entries   map[string]cachedDevice
	nextSweep time.Time
}

type cachedDevice struct {
	dev engine.Device
	exp time.Time
}

func newDeviceCache(ttl time.Duration, maxEntries int, now func() time.Time) *deviceCache {
	return &deviceCache{ttl: ttl, max: maxEntries, now: now, entries: map[string]cachedDevice{}}
}

func (c *deviceCache) get(key string) (engine.Device, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return engine.Device{}, false
	}
	if !c.now().Before(e.exp) {
		delete(c.entries, key)
		return engine.Device{}, false
	}
	d := e.dev
	d.Tags = slices.Clone(d.Tags) // the caller may keep or change it
	return d, true
}

// generation is the invalidation count; pass it to put.
func (c *deviceCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put remembers a device found while the cache was at generation gen.
func (c *deviceCache) put(key string, d engine.Device, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	now := c.now()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.max {
		if !now.Before(c.nextSweep) {
			for k, e := range c.entries {
				if !now.Before(e.exp) {
					delete(c.entries, k)
				}
			}
			c.nextSweep = now.Add(c.ttl)
		}
		for k := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, k)
		}
	}
	d.Tags = slices.Clone(d.Tags) // the caller may keep or change its copy
	c.entries[key] = cachedDevice{dev: d, exp: now.Add(c.ttl)}
}

// invalidate forgets a device and fails the lookups running now.
func (c *deviceCache) invalidate(tenant, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.entries {
		if e.dev.Tenant == tenant && e.dev.ID == id {
			delete(c.entries, k)
		}
	}
}

func (c *deviceCache) size() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
