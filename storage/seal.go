package storage

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// ErrUnsealable means a sealed value was not made with any configured system secret,
// or was altered.
var ErrUnsealable = errors.New("cannot decrypt: no system secret matches, or the data was altered")

// sealVersion is the first byte of every sealed value, so the format can change.
const sealVersion = 1

type sealKey struct {
	id   uint32 // names the secret a value was sealed with
	aead cipher.AEAD
	mac  []byte // HMAC key for client secrets
}

// Sealer encrypts data at rest with AES-256-GCM under keys derived from the system
// secrets. The first secret encrypts; every secret decrypts, so a new secret can be
// put first and the old one dropped once nothing sealed with it remains.
type Sealer struct {
	keys []sealKey
}

// NewSealer derives one key per secret with HKDF-SHA256.
func NewSealer(secrets []string) (*Sealer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("sealer: at least one system secret is required")
	}
	s := &Sealer{}
	for i, secret := range secrets {
		if len(secret) < 32 {
			return nil, fmt.Errorf("sealer: system secret %d is shorter than 32 characters", i)
		}
		encKey, err := hkdf.Key(sha256.New, []byte(secret), nil, "gatehouse at-rest encryption v1", 32)
		if err != nil {
			return nil, err
		}
		macKey, err := hkdf.Key(sha256.New, []byte(secret), nil, "gatehouse client secret hmac v1", 32)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(encKey)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		idSum := sha256.Sum256(append([]byte("gatehouse key id"), encKey...))
		s.keys = append(s.keys, sealKey{id: binary.BigEndian.Uint32(idSum[:4]), aead: aead, mac: macKey})
	}
	return s, nil
}

// Seal encrypts plaintext, binding it to aad (for example the row's primary key, so
// a sealed value cannot be moved to another row).
func (s *Sealer) Seal(plaintext, aad []byte) []byte {
	k := s.keys[0]
	out := make([]byte, 5, 5+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	out[0] = sealVersion
	binary.BigEndian.PutUint32(out[1:5], k.id)
	nonce := make([]byte, k.aead.NonceSize())
	rand.Read(nonce)
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plaintext, aad)
}

// Open decrypts a value made by Seal with any configured secret.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	if len(sealed) < 5 || sealed[0] != sealVersion {
		return nil, ErrUnsealable
	}
	id := binary.BigEndian.Uint32(sealed[1:5])
	for _, k := range s.keys {
		if k.id != id {
			continue
		}
		ns := k.aead.NonceSize()
		if len(sealed) < 5+ns {
			return nil, ErrUnsealable
		}
		pt, err := k.aead.Open(nil, sealed[5:5+ns], sealed[5+ns:], aad)
		if err != nil {
			return nil, ErrUnsealable
		}
		return pt, nil
	}
	return nil, ErrUnsealable
}

// HashClientSecret hashes a server-generated client secret with HMAC-SHA256 under a
// key derived from the first system secret.
//
// Client secrets are made by the server with at least 256 bits of randomness, so
// nobody can guess one from its hash however fast the hash is: a slow password hash
// (bcrypt, PBKDF2) would only slow every token request, which is where Hydra spends
// most of its time. The key keeps a stolen database alone from confirming a secret.
func (s *Sealer) HashClientSecret(secret []byte) string {
	k := s.keys[0]
	m := hmac.New(sha256.New, k.mac)
	m.Write(secret)
	return fmt.Sprintf("hmac-sha256$%08x$%s", k.id, base64.RawStdEncoding.EncodeToString(m.Sum(nil)))
}

// CompareClientSecret reports whether secret matches hash, in constant time for a
// given hash.
func (s *Sealer) CompareClientSecret(hash string, secret []byte) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 3 || parts[0] != "hmac-sha256" {
		return false
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	for _, k := range s.keys {
		if fmt.Sprintf("%08x", k.id) != parts[1] {
			continue
		}
		m := hmac.New(sha256.New, k.mac)
		m.Write(secret)
		return subtle.ConstantTimeCompare(m.Sum(nil), want) == 1
	}
	return false
}
