package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// tokenHash is the hex SHA-256 the registry keeps of a token.
func tokenHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// passwordHash is a bcrypt hash at the cheapest cost (fast under -race).
func passwordHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	requireNoError(t, err)
	return string(h)
}

func TestCreateAndGetDevice(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Devices()

	gen, err := repo.CreateDevice(ctx, Device{})
	requireNoError(t, err)
	if gen.ID == "" || gen.CreatedAt.IsZero() {
		t.Fatalf("want a generated id and creation time, got %+v", gen)
	}
	requireEqual(t, gen.Tenant, DefaultTenant)
	requireEqual(t, gen.Name, gen.ID)
	requireEqual(t, gen.Tags, []string{})
	requireEqual(t, gen.Credentials, []DeviceCredential{})
	requireEqual(t, gen.UpdatedAt, gen.CreatedAt)

	tok := DeviceCredential{Kind: CredentialToken, Hash: tokenHash("t1")}
	boiler, err := repo.CreateDevice(ctx, Device{
		ID: "boiler-1", Tenant: "acme", Name: " Boiler 1 ", Group: "plant-a",
		Tags: []string{"heating", " floor-2", "heating"}, CreatedAt: at(1), Credentials: []DeviceCredential{tok},
	})
	requireNoError(t, err)
	want := Device{
		ID: "boiler-1", Tenant: "acme", Name: "Boiler 1", Group: "plant-a", Tags: []string{"heating", "floor-2"},
		CreatedAt: at(1), UpdatedAt: at(1), Credentials: []DeviceCredential{{Kind: CredentialToken, Hash: tokenHash("t1"), CreatedAt: at(1)}},
	}
	requireEqual(t, boiler, want)

	got, err := repo.DeviceByID(ctx, "acme", "boiler-1")
	requireNoError(t, err)
	requireEqual(t, got, want)
	got, err = repo.DeviceByID(ctx, "", gen.ID)
	requireNoError(t, err)
	requireEqual(t, got, gen)

	_, err = repo.DeviceByID(ctx, DefaultTenant, "boiler-1")
	requireErrorIs(t, err, ErrNotFound)
	_, err = repo.DeviceByID(ctx, "acme", "nope")
	requireErrorIs(t, err, ErrNotFound)

	pw := passwordHash(t, "secret")
	create := []struct {
		name    string
		dev     Device
		wantErr error
	}{
		{"same id in the same tenant", Device{ID: "boiler-1", Tenant: "acme"}, ErrExists},
		{"same id in another tenant", Device{ID: "boiler-1"}, nil},
		{"a token taken in another tenant", Device{ID: "b2", Credentials: []DeviceCredential{tok}}, ErrExists},
		{"an id with a slash", Device{ID: "a/b"}, ErrInvalidDevice},
		{"an id with a space", Device{ID: "a b"}, ErrInvalidDevice},
		{"an id starting with a dot", Device{ID: ".a"}, ErrInvalidDevice},
		{"an id too long", Device{ID: fmt.Sprintf("%0129d", 0)}, ErrInvalidDevice},
		{"an id with colons", Device{ID: "aa:bb:cc.01_x-y"}, nil},
		{"an empty tag", Device{ID: "b3", Tags: []string{" "}}, ErrInvalidDevice},
		{"too many tags", Device{ID: "b3", Tags: make([]string, MaxDeviceTags+1)}, ErrInvalidDevice},
		{"a name too long", Device{ID: "b3", Name: fmt.Sprintf("%0201d", 0)}, ErrInvalidDevice},
		{"a plain token as hash", Device{ID: "b3", Credentials: []DeviceCredential{{Kind: CredentialToken, Hash: "t1"}}}, ErrInvalidDevice},
		{"a token with a username", Device{ID: "b3", Credentials: []DeviceCredential{{Kind: CredentialToken, Username: "u", Hash: tokenHash("x")}}}, ErrInvalidDevice},
		{"a plain password as hash", Device{ID: "b3", Credentials: []DeviceCredential{{Kind: CredentialPassword, Username: "u", Hash: "secret"}}}, ErrInvalidDevice},
		{"a password without username", Device{ID: "b3", Credentials: []DeviceCredential{{Kind: CredentialPassword, Hash: pw}}}, ErrInvalidDevice},
		{"a username with a space", Device{ID: "b3", Credentials: []DeviceCredential{{Kind: CredentialPassword, Username: "a b", Hash: pw}}}, ErrInvalidDevice},
		{"an unknown kind", Device{ID: "b3", Credentials: []DeviceCredential{{Kind: "cert", Hash: pw}}}, ErrInvalidDevice},
		{"two passwords with one username", Device{ID: "b3", Credentials: []DeviceCredential{
			{Kind: CredentialPassword, Username: "u", Hash: pw}, {Kind: CredentialPassword, Username: "u", Hash: pw}}}, ErrExists},
	}
	for _, tc := range create {
		t.Run("create/"+tc.name, func(t *testing.T) {
			_, err := repo.CreateDevice(ctx, tc.dev)
			if tc.wantErr == nil {
				requireNoError(t, err)
				return
			}
			requireErrorIs(t, err, tc.wantErr)
		})
	}
	// A refused credential leaves no device behind: create is one transaction.
	_, err = repo.DeviceByID(ctx, "", "b3")
	requireErrorIs(t, err, ErrNotFound)
	_, err = repo.DeviceByID(ctx, "", "b2")
	requireErrorIs(t, err, ErrNotFound)
}

func TestListDevices(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Devices()
	for _, d := range []Device{
		{ID: "d3", Group: "north", Tags: []string{"boiler", "gas"}},
		{ID: "d1", Group: "north", Tags: []string{"boiler"}},
		{ID: "d2", Group: "south", Tags: []string{"pump"}},
		{ID: "d4", Tags: []string{"gas"}},
		{ID: "d1", Tenant: "acme", Group: "north", Tags: []string{"boiler"}},
	} {
		_, err := repo.CreateDevice(ctx, d)
		requireNoError(t, err)
	}
	ids := func(ds []Device) []string {
		out := []string{}
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		filter    DeviceFilter
		want      []string
		wantTotal int
	}{
		{"all of a tenant, by id", DeviceFilter{}, []string{"d1", "d2", "d3", "d4"}, 4},
		{"another tenant", DeviceFilter{Tenant: "acme"}, []string{"d1"}, 1},
		{"a tenant with none", DeviceFilter{Tenant: "nobody"}, []string{}, 0},
		{"by group", DeviceFilter{Group: "north"}, []string{"d1", "d3"}, 2},
		{"by tag", DeviceFilter{Tag: "gas"}, []string{"d3", "d4"}, 2},
		{"by group and tag", DeviceFilter{Group: "north", Tag: "gas"}, []string{"d3"}, 1},
		{"by a tag no device has", DeviceFilter{Tag: "bo"}, []string{}, 0},
		{"first page", DeviceFilter{Limit: 2}, []string{"d1", "d2"}, 4},
		{"second page", DeviceFilter{Limit: 2, Offset: 2}, []string{"d3", "d4"}, 4},
		{"past the end", DeviceFilter{Limit: 2, Offset: 9}, []string{}, 4},
		{"negative offset is zero", DeviceFilter{Limit: 1, Offset: -3}, []string{"d1"}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, total, err := repo.ListDevices(ctx, tc.filter)
			requireNoError(t, err)
			requireEqual(t, ids(ds), tc.want)
			requireEqual(t, total, tc.wantTotal)
		})
	}
}

func TestUpdateDevice(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Devices()
	tok := DeviceCredential{Kind: CredentialToken, Hash: tokenHash("t1")}
	d, err := repo.CreateDevice(ctx, Device{ID: "d1", Name: "one", Group: "g", Tags: []string{"a"}, CreatedAt: at(1), Credentials: []DeviceCredential{tok}})
	requireNoError(t, err)

	// Credentials and the creation time in the update are ignored.
	got, err := repo.UpdateDevice(ctx, Device{ID: "d1", Name: "uno", Tags: []string{"b", "c"}, UpdatedAt: at(5), CreatedAt: at(9)})
	requireNoError(t, err)
	want := d
	want.Name, want.Group, want.Tags, want.UpdatedAt = "uno", "", []string{"b", "c"}, at(5)
	requireEqual(t, got, want)
	stored, err := repo.DeviceByID(ctx, "", "d1")
	requireNoError(t, err)
	requireEqual(t, stored, want)

	// Without a time, now.
	got, err = repo.UpdateDevice(ctx, Device{ID: "d1", Name: "uno"})
	requireNoError(t, err)
	if !got.UpdatedAt.After(at(5)) {
		t.Fatalf("updatedAt %v: want now", got.UpdatedAt)
	}

	_, err = repo.UpdateDevice(ctx, Device{ID: "d1", Tenant: "acme", Name: "x"})
	requireErrorIs(t, err, ErrNotFound)
	_, err = repo.UpdateDevice(ctx, Device{ID: "d1", Tags: []string{""}})
	requireErrorIs(t, err, ErrInvalidDevice)
}

func TestDeleteDevice(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Devices()
	pw := passwordHash(t, "secret")
	_, err := repo.CreateDevice(ctx, Device{ID: "d1", Credentials: []DeviceCredential{
		{Kind: CredentialToken, Hash: tokenHash("t1")}, {Kind: CredentialPassword, Username: "dev1", Hash: pw}}})
	requireNoError(t, err)

	requireErrorIs(t, repo.DeleteDevice(ctx, "acme", "d1"), ErrNotFound)
	requireNoError(t, repo.DeleteDevice(ctx, "", "d1"))
	requireErrorIs(t, repo.DeleteDevice(ctx, "", "d1"), ErrNotFound)
	_, err = repo.DeviceByID(ctx, "", "d1")
	requireErrorIs(t, err, ErrNotFound)

	// Its credentials went with it: they no longer authenticate, and they
	// are free for another device.
	_, err = repo.DeviceByTokenHash(ctx, tokenHash("t1"))
	requireErrorIs(t, err, ErrNotFound)
	_, _, err = repo.DeviceByUsername(ctx, "dev1")
	requireErrorIs(t, err, ErrNotFound)
	_, err = repo.CreateDevice(ctx, Device{ID: "d2", Tenant: "acme", Credentials: []DeviceCredential{
		{Kind: CredentialToken, Hash: tokenHash("t1")}, {Kind: CredentialPassword, Username: "dev1", Hash: pw}}})
	requireNoError(t, err)
}

func TestSetDeviceCredentials(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Devices()
	pw := passwordHash(t, "secret")
	_, err := repo.CreateDevice(ctx, Device{ID: "d1", CreatedAt: at(1), Credentials: []DeviceCredential{{Kind: CredentialToken, Hash: tokenHash("old")}}})
	requireNoError(t, err)
	_, err = repo.CreateDevice(ctx, Device{ID: "d2", Tenant: "acme", Credentials: []DeviceCredential{{Kind: CredentialPassword, Username: "taken", Hash: pw}}})
	requireNoError(t, err)

	// Replace the token with a new token and a password.
	set, err := repo.SetDeviceCredentials(ctx, "", "d1", []DeviceCredential{
		{Kind: CredentialToken, Hash: tokenHash("new")}, {Kind: CredentialPassword, Username: "dev1", Hash: pw, CreatedAt: at(2)}})
	requireNoError(t, err)
	requireEqual(t, len(set), 2)
	requireEqual(t, set[0].Username, "dev1") // oldest first
	d, err := repo.DeviceByID(ctx, "", "d1")
	requireNoError(t, err)
	requireEqual(t, d.Credentials, set)
	if !d.UpdatedAt.After(at(1)) {
		t.Fatalf("updatedAt %v: want the time of the change", d.UpdatedAt)
	}
	_, err = repo.DeviceByTokenHash(ctx, tokenHash("old"))
	requireErrorIs(t, err, ErrNotFound)
	got, err := repo.DeviceByTokenHash(ctx, tokenHash("new"))
	requireNoError(t, err)
	requireEqual(t, got, d)

	// A username taken in another tenant is refused, and the device keeps
	// the credentials it had.
	_, err = repo.SetDeviceCredentials(ctx, "", "d1", []DeviceCredential{{Kind: CredentialPassword, Username: "taken", Hash: pw}})
	requireErrorIs(t, err, ErrExists)
	d2, err := repo.DeviceByID(ctx, "", "d1")
	requireNoError(t, err)
	requireEqual(t, d2.Credentials, set)

	_, err = repo.SetDeviceCredentials(ctx, "", "d1", []DeviceCredential{{Kind: CredentialToken, Hash: "plain"}})
	requireErrorIs(t, err, ErrInvalidDevice)
	_, err = repo.SetDeviceCredentials(ctx, "", "nope", nil)
	requireErrorIs(t, err, ErrNotFound)
	_, err = repo.SetDeviceCredentials(ctx, "acme", "d1", nil)
	requireErrorIs(t, err, ErrNotFound)

	// None.
	set, err = repo.SetDeviceCredentials(ctx, "", "d1", nil)
	requireNoError(t, err)
	requireEqual(t, set, []DeviceCredential{})
	d, err = repo.DeviceByID(ctx, "", "d1")
	requireNoError(t, err)
	requireEqual(t, d.Credentials, []DeviceCredential{})
	_, err = repo.DeviceByTokenHash(ctx, tokenHash("new"))
	requireErrorIs(t, err, ErrNotFound)
}

func TestDeviceByCredential(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Devices()
	pw := passwordHash(t, "secret")
	a, err := repo.CreateDevice(ctx, Device{ID: "d1", Tenant: "acme", Tags: []string{"x"}, Credentials: []DeviceCredential{{Kind: CredentialToken, Hash: tokenHash("ta")}}})
	requireNoError(t, err)
	b, err := repo.CreateDevice(ctx, Device{ID: "d1", Credentials: []DeviceCredential{{Kind: CredentialPassword, Username: "dev-b", Hash: pw}}})
	requireNoError(t, err)

	got, err := repo.DeviceByTokenHash(ctx, tokenHash("ta"))
	requireNoError(t, err)
	requireEqual(t, got, a)
	_, err = repo.DeviceByTokenHash(ctx, tokenHash("tb"))
	requireErrorIs(t, err, ErrNotFound)
	// A password hash is not a token.
	_, err = repo.DeviceByTokenHash(ctx, pw)
	requireErrorIs(t, err, ErrNotFound)

	got, cred, err := repo.DeviceByUsername(ctx, "dev-b")
	requireNoError(t, err)
	requireEqual(t, got, b)
	requireEqual(t, cred, b.Credentials[0])
	requireEqual(t, cred.Hash, pw)
	_, _, err = repo.DeviceByUsername(ctx, "dev-a")
	requireErrorIs(t, err, ErrNotFound)
	_, _, err = repo.DeviceByUsername(ctx, "")
	requireErrorIs(t, err, ErrNotFound)

	// Usernames are unique across tenants.
	_, err = repo.CreateDevice(ctx, Device{ID: "d9", Tenant: "acme", Credentials: []DeviceCredential{{Kind: CredentialPassword, Username: "dev-b", Hash: pw}}})
	requireErrorIs(t, err, ErrExists)
}

func TestCheckDeviceIDAndUsername(t *testing.T) {
	for _, id := range []string{"a", "boiler-7", "AA:BB:CC:01", "x.y_z", fmt.Sprintf("%0128d", 0)} {
		requireNoError(t, CheckDeviceID(id))
	}
	for _, id := range []string{"", "-a", "a/b", "a+b", "a#", "a b", "é"} {
		requireErrorIs(t, CheckDeviceID(id), ErrInvalidDevice)
	}
	requireNoError(t, CheckUsername("dev@site-1"))
	for _, u := range []string{"", "a b", "a\tb", "a\x00", fmt.Sprintf("%0129d", 0)} {
		requireErrorIs(t, CheckUsername(u), ErrInvalidDevice)
	}
}
