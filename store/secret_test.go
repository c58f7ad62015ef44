package store

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testBox(t *testing.T) *SecretBox {
	t.Helper()
	box, err := NewSecretBox(bytes.Repeat([]byte{7}, 32))
	requireNoError(t, err)
	return box
}

func TestSecretRoundTrip(t *testing.T) {
	box := testBox(t)
	for _, plain := range []string{"", "hunter2", "ünïcödé ✓", strings.Repeat("x", 4096)} {
		sealed, err := box.Seal(plain)
		requireNoError(t, err)
		if !IsSealed(sealed) || strings.Contains(sealed, plain) && plain != "" {
			t.Fatalf("seal %q: got %q", plain, sealed)
		}
		again, err := box.Seal(plain)
		requireNoError(t, err)
		if again == sealed {
			t.Fatalf("seal %q twice: same output, want a fresh nonce", plain)
		}
		got, err := box.Open(sealed)
		requireNoError(t, err)
		requireEqual(t, got, plain)
	}
}

func TestSecretTamperDetection(t *testing.T) {
	box := testBox(t)
	sealed, err := box.Seal("hunter2")
	requireNoError(t, err)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, sealedPrefix))
	requireNoError(t, err)
	flip := func(i int) string {
		b := bytes.Clone(raw)
		b[i] ^= 1
		return sealedPrefix + base64.StdEncoding.EncodeToString(b)
	}
	otherBox, err := NewSecretBox(bytes.Repeat([]byte{8}, 32))
	requireNoError(t, err)

	cases := []struct {
		name   string
		box    *SecretBox
		sealed string
	}{
		{"nonce flipped", box, flip(0)},
		{"ciphertext flipped", box, flip(len(raw) / 2)},
		{"tag flipped", box, flip(len(raw) - 1)},
		{"truncated", box, sealedPrefix + base64.StdEncoding.EncodeToString(raw[:10])},
		{"not base64", box, sealedPrefix + "!!!"},
		{"not sealed", box, "hunter2"},
		{"another prefix version", box, "enc:v2:" + strings.TrimPrefix(sealed, sealedPrefix)},
		{"wrong key", otherBox, sealed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := tc.box.Open(tc.sealed); err == nil {
				t.Fatalf("open: got %q, want an error", got)
			}
		})
	}
}

func TestNewSecretBoxKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := NewSecretBox(make([]byte, n)); err == nil {
			t.Fatalf("key of %d bytes: want an error", n)
		}
	}
}

func TestLoadSecretKeyFile(t *testing.T) {
	t.Setenv(SecretKeyEnv, "")
	dir := filepath.Join(t.TempDir(), "data")
	key, err := LoadSecretKey(dir)
	requireNoError(t, err)
	requireEqual(t, len(key), 32)
	info, err := os.Stat(filepath.Join(dir, SecretKeyFile))
	requireNoError(t, err)
	requireEqual(t, info.Mode().Perm(), os.FileMode(0o600))

	again, err := LoadSecretKey(dir)
	requireNoError(t, err)
	requireEqual(t, again, key)

	// A value sealed before a restart opens after it.
	box, err := NewSecretBox(key)
	requireNoError(t, err)
	sealed, err := box.Seal("s3cret")
	requireNoError(t, err)
	box2, err := NewSecretBox(again)
	requireNoError(t, err)
	plain, err := box2.Open(sealed)
	requireNoError(t, err)
	requireEqual(t, plain, "s3cret")

	requireNoError(t, os.WriteFile(filepath.Join(dir, SecretKeyFile), []byte("short"), 0o600))
	if _, err := LoadSecretKey(dir); err == nil {
		t.Fatal("a corrupt key file: want an error")
	}
}

func TestLoadSecretKeyEnv(t *testing.T) {
	want := bytes.Repeat([]byte{42}, 32)
	cases := []struct {
		name    string
		env     string
		wantErr bool
	}{
		{"valid", base64.StdEncoding.EncodeToString(want), false},
		{"valid with spaces", " " + base64.StdEncoding.EncodeToString(want) + "\n", false},
		{"not base64", "%%%", true},
		{"16 bytes", base64.StdEncoding.EncodeToString(want[:16]), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(SecretKeyEnv, tc.env)
			dir := t.TempDir()
			key, err := LoadSecretKey(dir)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			requireNoError(t, err)
			requireEqual(t, key, want)
			if _, err := os.Stat(filepath.Join(dir, SecretKeyFile)); !os.IsNotExist(err) {
				t.Fatalf("a key from the environment must not create a key file: %v", err)
			}
		})
	}
}
