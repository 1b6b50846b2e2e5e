package identity

import (
	"context"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/scrypt"
)

// Password hashes imported from other systems ("legacy" hashes) are stored in
// users.password_hash as they are, told apart by their prefix:
//
//	$argon2id$…                 Gatehouse's own (PHC string)
//	$better-auth-scrypt$<s>:<k> Better Auth's scrypt: <s> is the salt as 32 hex
//	                            characters, <k> the 64-byte key in hex
//	$2a$… $2b$… $2y$…           bcrypt (modular crypt format)
//
// Authenticate and ChangePassword verify them like argon2id hashes, and a
// successful sign-in replaces them with an argon2id hash of the same password,
// so that they disappear as people sign in.
const BetterAuthScryptPrefix = "$better-auth-scrypt$"

// Better Auth's scrypt parameters (better-auth's @better-auth/utils/password):
// N=16384, r=16, p=1, a 64-byte key. They are fixed there, so the stored hash
// does not carry them.
const (
	betterAuthScryptN      = 16384
	betterAuthScryptR      = 16
	betterAuthScryptP      = 1
	betterAuthScryptKeyLen = 64
)

// maxBcryptCost bounds the cost of imported bcrypt hashes: each step doubles the
// time a sign-in takes, and cost 15 already takes seconds.
const maxBcryptCost = 15

// ErrUnknownHash means a password hash is in no format Gatehouse can verify.
var ErrUnknownHash = errors.New("unrecognised password hash")

// LegacyHash returns the form in which Gatehouse stores a password hash
// imported from another system: a Better Auth scrypt hash ("<salt hex>:<key
// hex>") with BetterAuthScryptPrefix, a bcrypt hash ($2a$, $2b$, $2y$, cost at
// most 15) as it is. Anything else gets an error wrapping ErrUnknownHash that
// says why.
func LegacyHash(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	switch {
	case isBcrypt(raw):
		cost, err := bcrypt.Cost([]byte(raw))
		if err != nil {
			return "", fmt.Errorf("%w: bcrypt: %v", ErrUnknownHash, err)
		}
		if cost > maxBcryptCost {
			return "", fmt.Errorf("%w: bcrypt cost %d is above %d", ErrUnknownHash, cost, maxBcryptCost)
		}
		return raw, nil
	case strings.HasPrefix(raw, "$"):
		return "", fmt.Errorf("%w: %s", ErrUnknownHash, hashScheme(raw))
	}
	if _, _, err := parseBetterAuthScrypt(raw); err != nil {
		return "", err
	}
	return BetterAuthScryptPrefix + raw, nil
}

// IsLegacyHash reports whether a stored hash is one LegacyHash made: it is
// replaced at the next successful sign-in.
func IsLegacyHash(stored string) bool {
	return strings.HasPrefix(stored, BetterAuthScryptPrefix) || isBcrypt(stored)
}

// hashScheme names the scheme of a modular-crypt hash for messages, without
// the hash itself.
func hashScheme(h string) string {
	scheme, _, _ := strings.Cut(strings.TrimPrefix(h, "$"), "$")
	if len(scheme) > 20 {
		scheme = scheme[:20]
	}
	return fmt.Sprintf("scheme $%s$ is not bcrypt", scheme)
}

func isBcrypt(h string) bool {
	return strings.HasPrefix(h, "$2a$") || strings.HasPrefix(h, "$2b$") || strings.HasPrefix(h, "$2y$")
}

// parseBetterAuthScrypt reads "<salt hex>:<key hex>" and returns the salt as
// Better Auth uses it (its hex text, not the bytes it spells) and the key.
func parseBetterAuthScrypt(raw string) (salt, key []byte, err error) {
	s, k, ok := strings.Cut(raw, ":")
	if !ok || s == "" || k == "" {
		return nil, nil, fmt.Errorf("%w: want bcrypt or Better Auth's <salt hex>:<key hex>", ErrUnknownHash)
	}
	if _, err := hex.DecodeString(s); err != nil || len(s) > 256 {
		return nil, nil, fmt.Errorf("%w: Better Auth scrypt salt is not hex", ErrUnknownHash)
	}
	key, err = hex.DecodeString(k)
	if err != nil || len(key) != betterAuthScryptKeyLen {
		return nil, nil, fmt.Errorf("%w: Better Auth scrypt key is not %d bytes of hex", ErrUnknownHash, betterAuthScryptKeyLen)
	}
	return []byte(s), key, nil
}

// checkLegacy verifies pw against an imported hash, in one of the service's
// hash slots (Better Auth's scrypt takes 32 MiB, like an argon2id hash takes
// 19). ok false with a nil error means the password is wrong; an unreadable
// hash wraps errMalformedHash.
func (s *Service) checkLegacy(ctx context.Context, stored, pw string) (ok bool, err error) {
	var check func() (bool, error)
	switch {
	case strings.HasPrefix(stored, BetterAuthScryptPrefix):
		salt, key, err := parseBetterAuthScrypt(strings.TrimPrefix(stored, BetterAuthScryptPrefix))
		if err != nil {
			return false, fmt.Errorf("%w: %v", errMalformedHash, err)
		}
		check = func() (bool, error) {
			// Better Auth hashes password.normalize("NFKC"), as we do.
			got, err := scrypt.Key([]byte(NormalizePassword(pw)), salt,
				betterAuthScryptN, betterAuthScryptR, betterAuthScryptP, betterAuthScryptKeyLen)
			if err != nil {
				return false, fmt.Errorf("%w: %v", errMalformedHash, err)
			}
			return subtle.ConstantTimeCompare(got, key) == 1, nil
		}
	case isBcrypt(stored):
		if cost, err := bcrypt.Cost([]byte(stored)); err != nil || cost > maxBcryptCost {
			return false, fmt.Errorf("%w: bcrypt hash unreadable or cost above %d", errMalformedHash, maxBcryptCost)
		}
		check = func() (bool, error) {
			// bcrypt hashes made elsewhere saw the password as typed; a
			// password typed in another Unicode form is tried in NFKC too.
			err := bcrypt.CompareHashAndPassword([]byte(stored), []byte(pw))
			if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
				if n := NormalizePassword(pw); n != pw {
					err = bcrypt.CompareHashAndPassword([]byte(stored), []byte(n))
				}
			}
			switch {
			case err == nil:
				return true, nil
			case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
				return false, nil
			}
			return false, fmt.Errorf("%w: %v", errMalformedHash, err)
		}
	default:
		return false, fmt.Errorf("%w: unknown scheme", errMalformedHash)
	}
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("wait for a password hash slot: %w", context.Cause(ctx))
	}
	defer func() { <-s.hashSlots }()
	return check()
}
