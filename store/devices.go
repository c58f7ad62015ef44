package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"
)

// Device credential kinds.
const (
	// CredentialToken is a random token; its hash is the hex SHA-256.
	CredentialToken = "token"
	// CredentialPassword is a username and password; its hash is bcrypt.
	CredentialPassword = "password"
)

// Limits of a device's fields.
const (
	MaxDeviceIDLen    = 128
	MaxDeviceNameLen  = 200
	MaxDeviceGroupLen = 128
	MaxDeviceTagLen   = 64
	MaxDeviceTags     = 64
	MaxUsernameLen    = 128
)

// ErrInvalidDevice is returned (wrapped) for a device or credential the
// registry refuses: a malformed id, an empty tag, a hash that is not one.
var ErrInvalidDevice = errors.New("invalid device")

// deviceIDPattern is what a device id may look like: it appears in URLs,
// MQTT topics and metadata, so no '/', '+', '#' or spaces.
var deviceIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]*$`)

// tokenHashPattern is a hex SHA-256.
var tokenHashPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Device is a registered device of a tenant.
type Device struct {
	ID        string    `json:"id"`
	Tenant    string    `json:"tenant"`
	Name      string    `json:"name"`
	Group     string    `json:"group"`
	Tags      []string  `json:"tags"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	// Credentials are what the device authenticates with, oldest first.
	// CreateDevice saves them with the device; the lookups fill them;
	// UpdateDevice ignores them (SetDeviceCredentials replaces them).
	Credentials []DeviceCredential `json:"credentials"`
}

// DeviceCredential is one credential of a device. Only its hash is kept:
// the hex SHA-256 of a token, the bcrypt hash of a password.
type DeviceCredential struct {
	Kind string `json:"kind"`
	// Username is the login of a password credential, unique across
	// tenants; empty for a token.
	Username  string    `json:"username,omitempty"`
	Hash      string    `json:"-"`
	CreatedAt time.Time `json:"createdAt"`
}

// DeviceFilter selects a page of a tenant's devices. Empty Group or Tag
// match every device; Limit <= 0 means no limit.
type DeviceFilter struct {
	Tenant string
	Group  string
	Tag    string
	Limit  int
	Offset int
}

// DeviceRepo stores the device registry. Device ids are unique within a
// tenant; credentials (token hashes and usernames) across tenants, so that a
// credential alone names its device.
type DeviceRepo interface {
	// CreateDevice saves a new device with its credentials, in one
	// transaction. The ID is generated when empty, the tenant defaults to
	// DefaultTenant, the name to the id. An id taken in the tenant, a token
	// or username taken anywhere is ErrExists; a malformed field is
	// ErrInvalidDevice.
	CreateDevice(ctx context.Context, d Device) (Device, error)
	// DeviceByID returns a device of a tenant, or ErrNotFound.
	DeviceByID(ctx context.Context, tenant, id string) (Device, error)
	// ListDevices returns a page ordered by id, and the total that match.
	ListDevices(ctx context.Context, f DeviceFilter) ([]Device, int, error)
	// UpdateDevice saves a device's name, group and tags (ErrNotFound when
	// it does not exist) and returns it as stored.
	UpdateDevice(ctx context.Context, d Device) (Device, error)
	// DeleteDevice deletes a device and its credentials, or returns
	// ErrNotFound.
	DeleteDevice(ctx context.Context, tenant, id string) error
	// SetDeviceCredentials replaces every credential of a device (none
	// when creds is empty) and returns them as stored. ErrNotFound when the
	// device does not exist, ErrExists when a token or username is taken.
	SetDeviceCredentials(ctx context.Context, tenant, id string, creds []DeviceCredential) ([]DeviceCredential, error)
	// DeviceByTokenHash returns the device a token credential with that
	// hash belongs to, in any tenant, or ErrNotFound.
	DeviceByTokenHash(ctx context.Context, hash string) (Device, error)
	// DeviceByUsername returns the device a password credential with that
	// username belongs to, in any tenant, and that credential (with its
	// hash, for the caller to compare), or ErrNotFound.
	DeviceByUsername(ctx context.Context, username string) (Device, DeviceCredential, error)
}

// Devices returns the device repository.
func (db *DB) Devices() DeviceRepo { return &deviceRepo{db: db.sql} }

type deviceRepo struct{ db *sql.DB }

var _ DeviceRepo = (*deviceRepo)(nil)

// deviceSelect reads a device with its credentials as a JSON array, so that
// a page of devices is one query whatever their credentials.
const deviceSelect = `SELECT d.tenant, d.id, d.name, d."group", d.tags, d.created_at, d.updated_at,
	(SELECT json_group_array(json_object('kind', c.kind, 'username', c.username, 'hash', c.hash, 'createdAt', c.created_at))
	   FROM device_credentials c WHERE c.tenant = d.tenant AND c.device_id = d.id)
	FROM devices d`

// CheckDeviceID reports whether id can name a device: 1 to MaxDeviceIDLen
// letters, digits and ". _ : -", starting with a letter or digit.
func CheckDeviceID(id string) error {
	if len(id) > MaxDeviceIDLen || !deviceIDPattern.MatchString(id) {
		return fmt.Errorf("device id %q: want 1 to %d letters, digits and . _ : -, starting with a letter or digit: %w",
			id, MaxDeviceIDLen, ErrInvalidDevice)
	}
	return nil
}

// normalizeDevice checks a device's fields and fills the defaults: the
// tenant, the name (the id), the tags (trimmed, without duplicates).
func normalizeDevice(d Device) (Device, error) {
	d.Tenant = tenantOr(d.Tenant)
	if err := CheckDeviceID(d.ID); err != nil {
		return Device{}, err
	}
	d.Name = strings.TrimSpace(d.Name)
	if d.Name == "" {
		d.Name = d.ID
	}
	if len(d.Name) > MaxDeviceNameLen {
		return Device{}, fmt.Errorf("device %s: name: want at most %d bytes: %w", d.ID, MaxDeviceNameLen, ErrInvalidDevice)
	}
	d.Group = strings.TrimSpace(d.Group)
	if len(d.Group) > MaxDeviceGroupLen {
		return Device{}, fmt.Errorf("device %s: group: want at most %d bytes: %w", d.ID, MaxDeviceGroupLen, ErrInvalidDevice)
	}
	if len(d.Tags) > MaxDeviceTags {
		return Device{}, fmt.Errorf("device %s: tags: want at most %d, got %d: %w", d.ID, MaxDeviceTags, len(d.Tags), ErrInvalidDevice)
	}
	tags := make([]string, 0, len(d.Tags))
	seen := make(map[string]bool, len(d.Tags))
	for _, t := range d.Tags {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > MaxDeviceTagLen {
			return Device{}, fmt.Errorf("device %s: tag %q: want 1 to %d bytes: %w", d.ID, t, MaxDeviceTagLen, ErrInvalidDevice)
		}
		if !seen[t] {
			seen[t] = true
			tags = append(tags, t)
		}
	}
	d.Tags = tags
	return d, nil
}

// normalizeCredentials checks credentials and sets their creation time.
func normalizeCredentials(deviceID string, creds []DeviceCredential, at time.Time) ([]DeviceCredential, error) {
	out := make([]DeviceCredential, 0, len(creds))
	for _, c := range creds {
		switch c.Kind {
		case CredentialToken:
			if c.Username != "" {
				return nil, fmt.Errorf("device %s: token credential: no username wanted: %w", deviceID, ErrInvalidDevice)
			}
			if !tokenHashPattern.MatchString(c.Hash) {
				return nil, fmt.Errorf("device %s: token credential: hash: want a hex sha-256: %w", deviceID, ErrInvalidDevice)
			}
		case CredentialPassword:
			if err := CheckUsername(c.Username); err != nil {
				return nil, fmt.Errorf("device %s: %w", deviceID, err)
			}
			if _, err := bcrypt.Cost([]byte(c.Hash)); err != nil {
				return nil, fmt.Errorf("device %s: password credential: hash: want a bcrypt hash: %w", deviceID, ErrInvalidDevice)
			}
		default:
			return nil, fmt.Errorf("device %s: credential kind %q: want %q or %q: %w",
				deviceID, c.Kind, CredentialToken, CredentialPassword, ErrInvalidDevice)
		}
		if c.CreatedAt.IsZero() {
			c.CreatedAt = at
		}
		c.CreatedAt = fromUnix(toUnix(c.CreatedAt))
		out = append(out, c)
	}
	sortCredentials(out)
	return out, nil
}

// sortCredentials orders credentials as the lookups return them: oldest
// first, then by kind, username and hash.
func sortCredentials(cs []DeviceCredential) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		switch {
		case !a.CreatedAt.Equal(b.CreatedAt):
			return a.CreatedAt.Before(b.CreatedAt)
		case a.Kind != b.Kind:
			return a.Kind < b.Kind
		case a.Username != b.Username:
			return a.Username < b.Username
		}
		return a.Hash < b.Hash
	})
}

// CheckUsername reports whether a device username is acceptable: 1 to
// MaxUsernameLen bytes, no spaces or control characters.
func CheckUsername(u string) error {
	if u == "" || len(u) > MaxUsernameLen || strings.IndexFunc(u, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r)
	}) >= 0 {
		return fmt.Errorf("username %q: want 1 to %d bytes without spaces or control characters: %w", u, MaxUsernameLen, ErrInvalidDevice)
	}
	return nil
}

func (r *deviceRepo) CreateDevice(ctx context.Context, d Device) (Device, error) {
	if d.ID == "" {
		d.ID = newID()
	}
	d, err := normalizeDevice(d)
	if err != nil {
		return Device{}, fmt.Errorf("create device: %w", err)
	}
	if d.CreatedAt.IsZero() {
		d.CreatedAt = now()
	}
	d.CreatedAt = fromUnix(toUnix(d.CreatedAt))
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = d.CreatedAt
	}
	d.UpdatedAt = fromUnix(toUnix(d.UpdatedAt))
	if d.Credentials, err = normalizeCredentials(d.ID, d.Credentials, d.CreatedAt); err != nil {
		return Device{}, fmt.Errorf("create device: %w", err)
	}
	tags, err := json.Marshal(d.Tags)
	if err != nil {
		return Device{}, fmt.Errorf("create device %s: encode tags: %w", d.ID, err)
	}

	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return Device{}, fmt.Errorf("create device %s: begin: %w", d.ID, err)
	}
	defer rollback(tx)
	_, err = tx.ExecContext(ctx, `INSERT INTO devices (tenant, id, name, "group", tags, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, d.Tenant, d.ID, d.Name, d.Group, string(tags), toUnix(d.CreatedAt), toUnix(d.UpdatedAt))
	if isUnique(err) {
		return Device{}, fmt.Errorf("create device %s: %w", d.ID, ErrExists)
	}
	if err != nil {
		return Device{}, fmt.Errorf("create device %s: %w", d.ID, err)
	}
	if err := insertCredentials(ctx, tx, d.Tenant, d.ID, d.Credentials); err != nil {
		return Device{}, fmt.Errorf("create device %s: %w", d.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return Device{}, fmt.Errorf("create device %s: commit: %w", d.ID, err)
	}
	return d, nil
}

// insertCredentials adds credentials to a device; a token or username taken
// already is ErrExists.
func insertCredentials(ctx context.Context, tx *sql.Tx, tenant, id string, creds []DeviceCredential) error {
	for _, c := range creds {
		_, err := tx.ExecContext(ctx, `INSERT INTO device_credentials (tenant, device_id, kind, username, hash, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, tenant, id, c.Kind, c.Username, c.Hash, toUnix(c.CreatedAt))
		switch {
		case isUnique(err) && c.Kind == CredentialPassword:
			return fmt.Errorf("username %q is taken: %w", c.Username, ErrExists)
		case isUnique(err):
			return fmt.Errorf("token credential: %w", ErrExists)
		case isForeignKey(err):
			return fmt.Errorf("device %s: %w", id, ErrNotFound)
		case err != nil:
			return fmt.Errorf("save %s credential: %w", c.Kind, err)
		}
	}
	return nil
}

func (r *deviceRepo) DeviceByID(ctx context.Context, tenant, id string) (Device, error) {
	rows, err := r.db.QueryContext(ctx, deviceSelect+` WHERE d.tenant = ? AND d.id = ?`, tenantOr(tenant), id)
	if err != nil {
		return Device{}, fmt.Errorf("device %s: %w", id, err)
	}
	ds, err := scanDevices(rows)
	if err != nil {
		return Device{}, fmt.Errorf("device %s: %w", id, err)
	}
	if len(ds) == 0 {
		return Device{}, fmt.Errorf("device %s: %w", id, ErrNotFound)
	}
	return ds[0], nil
}

func (r *deviceRepo) ListDevices(ctx context.Context, f DeviceFilter) ([]Device, int, error) {
	const where = ` WHERE d.tenant = ? AND (? = '' OR d."group" = ?)
		AND (? = '' OR EXISTS (SELECT 1 FROM json_each(d.tags) WHERE json_each.value = ?))`
	args := []any{tenantOr(f.Tenant), f.Group, f.Group, f.Tag, f.Tag}
	var total int
	if err := r.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM devices d`+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("list devices: count: %w", err)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	rows, err := r.db.QueryContext(ctx, deviceSelect+where+` ORDER BY d.id LIMIT ? OFFSET ?`,
		append(args, limit, max(f.Offset, 0))...)
	if err != nil {
		return nil, 0, fmt.Errorf("list devices: %w", err)
	}
	ds, err := scanDevices(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("list devices: %w", err)
	}
	return ds, total, nil
}

func (r *deviceRepo) UpdateDevice(ctx context.Context, d Device) (Device, error) {
	d, err := normalizeDevice(d)
	if err != nil {
		return Device{}, fmt.Errorf("update device: %w", err)
	}
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = now()
	}
	tags, err := json.Marshal(d.Tags)
	if err != nil {
		return Device{}, fmt.Errorf("update device %s: encode tags: %w", d.ID, err)
	}
	res, err := r.db.ExecContext(ctx, `UPDATE devices SET name = ?, "group" = ?, tags = ?, updated_at = ?
		WHERE tenant = ? AND id = ?`, d.Name, d.Group, string(tags), toUnix(d.UpdatedAt), d.Tenant, d.ID)
	if err != nil {
		return Device{}, fmt.Errorf("update device %s: %w", d.ID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Device{}, fmt.Errorf("update device %s: %w", d.ID, err)
	} else if n == 0 {
		return Device{}, fmt.Errorf("update device %s: %w", d.ID, ErrNotFound)
	}
	out, err := r.DeviceByID(ctx, d.Tenant, d.ID)
	if err != nil {
		return Device{}, fmt.Errorf("update device: %w", err)
	}
	return out, nil
}

func (r *deviceRepo) DeleteDevice(ctx context.Context, tenant, id string) error {
	res, err := r.db.ExecContext(ctx, `DELETE FROM devices WHERE tenant = ? AND id = ?`, tenantOr(tenant), id)
	if err != nil {
		return fmt.Errorf("delete device %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete device %s: %w", id, err)
	} else if n == 0 {
		return fmt.Errorf("delete device %s: %w", id, ErrNotFound)
	}
	return nil
}

func (r *deviceRepo) SetDeviceCredentials(ctx context.Context, tenant, id string, creds []DeviceCredential) ([]DeviceCredential, error) {
	tenant = tenantOr(tenant)
	at := now()
	creds, err := normalizeCredentials(id, creds, at)
	if err != nil {
		return nil, fmt.Errorf("set device credentials: %w", err)
	}
	tx, err := r.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("set device %s credentials: begin: %w", id, err)
	}
	defer rollback(tx)
	// Touching the device first both checks that it exists and records the
	// change.
	res, err := tx.ExecContext(ctx, `UPDATE devices SET updated_at = ? WHERE tenant = ? AND id = ?`, toUnix(at), tenant, id)
	if err != nil {
		return nil, fmt.Errorf("set device %s credentials: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("set device %s credentials: %w", id, err)
	} else if n == 0 {
		return nil, fmt.Errorf("set device %s credentials: %w", id, ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM device_credentials WHERE tenant = ? AND device_id = ?`, tenant, id); err != nil {
		return nil, fmt.Errorf("set device %s credentials: drop the old ones: %w", id, err)
	}
	if err := insertCredentials(ctx, tx, tenant, id, creds); err != nil {
		return nil, fmt.Errorf("set device %s credentials: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("set device %s credentials: commit: %w", id, err)
	}
	return creds, nil
}

func (r *deviceRepo) DeviceByTokenHash(ctx context.Context, hash string) (Device, error) {
	rows, err := r.db.QueryContext(ctx, deviceSelect+` JOIN device_credentials t ON t.tenant = d.tenant AND t.device_id = d.id
		WHERE t.kind = 'token' AND t.hash = ?`, hash)
	if err != nil {
		return Device{}, fmt.Errorf("device by token: %w", err)
	}
	ds, err := scanDevices(rows)
	if err != nil {
		return Device{}, fmt.Errorf("device by token: %w", err)
	}
	if len(ds) == 0 {
		return Device{}, fmt.Errorf("device by token: %w", ErrNotFound)
	}
	return ds[0], nil
}

func (r *deviceRepo) DeviceByUsername(ctx context.Context, username string) (Device, DeviceCredential, error) {
	rows, err := r.db.QueryContext(ctx, deviceSelect+` JOIN device_credentials p ON p.tenant = d.tenant AND p.device_id = d.id
		WHERE p.kind = 'password' AND p.username = ?`, username)
	if err != nil {
		return Device{}, DeviceCredential{}, fmt.Errorf("device by username %q: %w", username, err)
	}
	ds, err := scanDevices(rows)
	if err != nil {
		return Device{}, DeviceCredential{}, fmt.Errorf("device by username %q: %w", username, err)
	}
	if len(ds) == 0 {
		return Device{}, DeviceCredential{}, fmt.Errorf("device by username %q: %w", username, ErrNotFound)
	}
	for _, c := range ds[0].Credentials {
		if c.Kind == CredentialPassword && c.Username == username {
			return ds[0], c, nil
		}
	}
	// The join found the credential, so the subquery lists it too.
	return Device{}, DeviceCredential{}, fmt.Errorf("device by username %q: credential missing from its device", username)
}

// credentialRow is a credential as deviceSelect encodes it.
type credentialRow struct {
	Kind      string `json:"kind"`
	Username  string `json:"username"`
	Hash      string `json:"hash"`
	CreatedAt int64  `json:"createdAt"`
}

func scanDevices(rows *sql.Rows) ([]Device, error) {
	defer rows.Close()
	ds := []Device{}
	for rows.Next() {
		var d Device
		var tags, creds string
		var created, updated int64
		if err := rows.Scan(&d.Tenant, &d.ID, &d.Name, &d.Group, &tags, &created, &updated, &creds); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(tags), &d.Tags); err != nil {
			return nil, fmt.Errorf("device %s: decode tags: %w", d.ID, err)
		}
		if d.Tags == nil {
			d.Tags = []string{}
		}
		var cs []credentialRow
		if err := json.Unmarshal([]byte(creds), &cs); err != nil {
			return nil, fmt.Errorf("device %s: decode credentials: %w", d.ID, err)
		}
		d.Credentials = make([]DeviceCredential, 0, len(cs))
		for _, c := range cs {
			d.Credentials = append(d.Credentials, DeviceCredential{Kind: c.Kind, Username: c.Username, Hash: c.Hash, CreatedAt: fromUnix(c.CreatedAt)})
		}
		sortCredentials(d.Credentials)
		d.CreatedAt, d.UpdatedAt = fromUnix(created), fromUnix(updated)
		ds = append(ds, d)
	}
	return ds, rows.Err()
}
