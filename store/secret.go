package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// SecretKeyEnv names the environment variable that holds the secret key:
// the standard base64 encoding of 32 random bytes.
const SecretKeyEnv = "SLUICE_SECRET_KEY"

// SecretKeyFile is the key file in the data directory, used when the
// environment does not hold a key and created on first start.
const SecretKeyFile = "secret.key"

// sealedPrefix marks a sealed secret; v1 is AES-256-GCM with a 12-byte nonce.
const sealedPrefix = "enc:v1:"

const secretKeySize = 32

// LoadSecretKey returns the key that seals secrets: from SLUICE_SECRET_KEY
// when set, else from dataDir/secret.key, which is created (mode 0600) with a
// new random key when it does not exist.
func LoadSecretKey(dataDir string) ([]byte, error) {
	if v := strings.TrimSpace(os.Getenv(SecretKeyEnv)); v != "" {
		key, err := decodeKey(v)
		if err != nil {
			return nil, fmt.Errorf("secret key from %s: %w", SecretKeyEnv, err)
		}
		return key, nil
	}
	path := filepath.Join(dataDir, SecretKeyFile)
	key, err := readKeyFile(path)
	if err == nil {
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	key, err = createKeyFile(dataDir, path)
	if errors.Is(err, fs.ErrExist) {
		return readKeyFile(path) // another process created it first
	}
	return key, err
}

func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	key, err := decodeKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("secret key %s: %w", path, err)
	}
	return key, nil
}

func createKeyFile(dataDir, path string) ([]byte, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("secret key: create data directory: %w", err)
	}
	key := make([]byte, secretKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secret key: generate: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("secret key: create %s: %w", path, err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path) // a half-written key must not be read back next start
		return nil, fmt.Errorf("secret key: write %s: %w", path, werr)
	}
	return key, nil
}

func decodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("want base64: %w", err)
	}
	if len(key) != secretKeySize {
		return nil, fmt.Errorf("want %d bytes, got %d", secretKeySize, len(key))
	}
	return key, nil
}

// SecretBox seals and opens secrets with AES-256-GCM. It is safe for
// concurrent use.
type SecretBox struct {
	aead cipher.AEAD
}

// NewSecretBox returns a box for a 32-byte key.
func NewSecretBox(key []byte) (*SecretBox, error) {
	if len(key) != secretKeySize {
		return nil, fmt.Errorf("secret box: key: want %d bytes, got %d", secretKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret box: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret box: %w", err)
	}
	return &SecretBox{aead: aead}, nil
}

// Seal encrypts plain as "enc:v1:<base64(nonce|ciphertext)>"; every call
// uses a fresh random nonce.
func (b *SecretBox) Seal(plain string) (string, error) {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plain)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret: nonce: %w", err)
	}
	sealed := b.aead.Seal(nonce, nonce, []byte(plain), []byte(sealedPrefix))
	return sealedPrefix + base64.StdEncoding.EncodeToString(sealed), nil
}

// Open decrypts a value made by Seal; a value that is not sealed, or was
// sealed with another key or altered, is an error.
func (b *SecretBox) Open(sealed string) (string, error) {
	if !IsSealed(sealed) {
		return "", errors.New("open secret: not a sealed value")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, sealedPrefix))
	if err != nil {
		return "", fmt.Errorf("open secret: %w", err)
	}
	ns := b.aead.NonceSize()
	if len(raw) < ns+b.aead.Overhead() {
		return "", errors.New("open secret: value too short")
	}
	plain, err := b.aead.Open(nil, raw[:ns], raw[ns:], []byte(sealedPrefix))
	if err != nil {
		return "", fmt.Errorf("open secret: wrong key or altered value: %w", err)
	}
	return string(plain), nil
}

// IsSealed reports whether s looks like a value made by Seal.
func IsSealed(s string) bool { return strings.HasPrefix(s, sealedPrefix) }
