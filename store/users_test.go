package store

import (
	"context"
	"testing"
)

func TestUsers(t *testing.T) {
	ctx := context.Background()
	repo := openTest(t, Options{}).Users()

	n, err := repo.CountUsers(ctx)
	requireNoError(t, err)
	requireEqual(t, n, 0)

	ada, err := repo.CreateUser(ctx, User{Username: "ada", PasswordHash: "h1", Role: "admin"})
	requireNoError(t, err)
	if ada.ID == "" || ada.CreatedAt.IsZero() {
		t.Fatalf("want a generated id and creation time, got %+v", ada)
	}
	requireEqual(t, ada.Tenant, DefaultTenant)
	bob, err := repo.CreateUser(ctx, User{ID: "u-bob", Tenant: "acme", Username: "bob", PasswordHash: "h2", Role: "viewer", CreatedAt: at(1)})
	requireNoError(t, err)
	requireEqual(t, bob, User{ID: "u-bob", Tenant: "acme", Username: "bob", PasswordHash: "h2", Role: "viewer", CreatedAt: at(1)})

	create := []struct {
		name    string
		user    User
		wantErr error
	}{
		{"same username in the same tenant", User{Username: "ada", Role: "admin"}, ErrExists},
		{"same username in the default tenant spelt out", User{Tenant: DefaultTenant, Username: "ada"}, ErrExists},
		{"same id", User{ID: "u-bob", Username: "carol"}, ErrExists},
		{"same username in another tenant", User{Tenant: "acme", Username: "ada"}, nil},
	}
	for _, tc := range create {
		t.Run("create/"+tc.name, func(t *testing.T) {
			_, err := repo.CreateUser(ctx, tc.user)
			if tc.wantErr == nil {
				requireNoError(t, err)
				return
			}
			requireErrorIs(t, err, tc.wantErr)
		})
	}
	if _, err := repo.CreateUser(ctx, User{}); err == nil {
		t.Fatal("want an error for an empty username")
	}

	lookups := []struct {
		name     string
		lookup   func() (User, error)
		want     User
		notFound bool
	}{
		{"by name", func() (User, error) { return repo.UserByName(ctx, DefaultTenant, "ada") }, ada, false},
		{"by name, empty tenant is default", func() (User, error) { return repo.UserByName(ctx, "", "ada") }, ada, false},
		{"by name in another tenant", func() (User, error) { return repo.UserByName(ctx, "acme", "bob") }, bob, false},
		{"by name, wrong tenant", func() (User, error) { return repo.UserByName(ctx, DefaultTenant, "bob") }, User{}, true},
		{"by id", func() (User, error) { return repo.UserByID(ctx, ada.ID) }, ada, false},
		{"by missing id", func() (User, error) { return repo.UserByID(ctx, "nope") }, User{}, true},
	}
	for _, tc := range lookups {
		t.Run("lookup/"+tc.name, func(t *testing.T) {
			got, err := tc.lookup()
			if tc.notFound {
				requireErrorIs(t, err, ErrNotFound)
				return
			}
			requireNoError(t, err)
			requireEqual(t, got, tc.want)
		})
	}

	n, err = repo.CountUsers(ctx)
	requireNoError(t, err)
	requireEqual(t, n, 3)
}
