package store

import (
	"context"
	"testing"
	"time"
)

func TestKV(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Options{})
	repo := db.KV()
	later := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
	earlier := time.Now().Add(-time.Second).UTC()

	puts := []KV{
		{Key: "alarm/f/n1", Value: []byte("a1")},
		{Key: "alarm/f/n2", Value: []byte("a2"), ExpiresAt: later},
		{Key: "alarm/f/old", Value: []byte("gone"), ExpiresAt: earlier},
		{Key: "alarm_x", Value: []byte("not under alarm/")},
		{Key: "lock/job", Value: nil},
	}
	for _, kv := range puts {
		requireNoError(t, repo.KVPut(ctx, kv))
	}

	gets := []struct {
		key      string
		want     KV
		notFound bool
	}{
		{"alarm/f/n1", KV{Key: "alarm/f/n1", Value: []byte("a1")}, false},
		{"alarm/f/n2", KV{Key: "alarm/f/n2", Value: []byte("a2"), ExpiresAt: later}, false},
		{"alarm/f/old", KV{}, true},
		{"lock/job", KV{Key: "lock/job", Value: []byte{}}, false},
		{"missing", KV{}, true},
	}
	for _, tc := range gets {
		t.Run("get/"+tc.key, func(t *testing.T) {
			got, err := repo.KVGet(ctx, tc.key)
			if tc.notFound {
				requireErrorIs(t, err, ErrNotFound)
				return
			}
			requireNoError(t, err)
			requireEqual(t, got, tc.want)
		})
	}

	lists := []struct {
		prefix string
		want   []string
	}{
		{"alarm/", []string{"alarm/f/n1", "alarm/f/n2"}},
		{"alarm", []string{"alarm/f/n1", "alarm/f/n2", "alarm_x"}},
		{"alarm/f/n1", []string{"alarm/f/n1"}},
		{"", []string{"alarm/f/n1", "alarm/f/n2", "alarm_x", "lock/job"}},
		{"zzz", []string{}},
	}
	for _, tc := range lists {
		t.Run("list/"+tc.prefix, func(t *testing.T) {
			got, err := repo.KVList(ctx, tc.prefix)
			requireNoError(t, err)
			keys := []string{}
			for _, kv := range got {
				keys = append(keys, kv.Key)
			}
			requireEqual(t, keys, tc.want)
		})
	}

	t.Run("put replaces value and expiry", func(t *testing.T) {
		requireNoError(t, repo.KVPut(ctx, KV{Key: "alarm/f/n2", Value: []byte("b2")}))
		got, err := repo.KVGet(ctx, "alarm/f/n2")
		requireNoError(t, err)
		requireEqual(t, got, KV{Key: "alarm/f/n2", Value: []byte("b2")})
	})

	t.Run("put drops expired rows", func(t *testing.T) {
		var n int
		requireNoError(t, db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM kv WHERE key = 'alarm/f/old'`).Scan(&n))
		requireEqual(t, n, 0)
	})

	t.Run("put with a past expiry reads as missing", func(t *testing.T) {
		requireNoError(t, repo.KVPut(ctx, KV{Key: "alarm/f/n1", Value: []byte("x"), ExpiresAt: earlier}))
		_, err := repo.KVGet(ctx, "alarm/f/n1")
		requireErrorIs(t, err, ErrNotFound)
	})

	t.Run("delete", func(t *testing.T) {
		requireNoError(t, repo.KVDelete(ctx, "lock/job"))
		requireNoError(t, repo.KVDelete(ctx, "lock/job")) // a missing key is fine
		_, err := repo.KVGet(ctx, "lock/job")
		requireErrorIs(t, err, ErrNotFound)
	})
}
