package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/storage"
	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Params are argon2id's cost parameters and the sizes of salt and key.
type Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
	SaltLen     uint32
	KeyLen      uint32
}

// DefaultParams returns OWASP's recommended argon2id parameters (Password Storage
// Cheat Sheet): 19 MiB of memory, 2 iterations, 1 lane, a 16-byte salt and a
// 32-byte key.
func DefaultParams() Params {
	return Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
}

func (p Params) withDefaults() Params {
	d := DefaultParams()
	if p.MemoryKiB == 0 {
		p.MemoryKiB = d.MemoryKiB
	}
	if p.Iterations == 0 {
		p.Iterations = d.Iterations
	}
	if p.Parallelism == 0 {
		p.Parallelism = d.Parallelism
	}
	if p.SaltLen == 0 {
		p.SaltLen = d.SaltLen
	}
	if p.KeyLen == 0 {
		p.KeyLen = d.KeyLen
	}
	return p
}

// The password length limits, in characters (runes) after normalisation.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
)

// maxCheckedBytes bounds the input Authenticate hashes: no password that
// ValidatePassword accepts is longer (128 runes of at most 4 bytes each, which
// NFKC can expand; 1 KiB leaves room), and argon2 should not chew megabytes.
const maxCheckedBytes = 4096

//go:embed common_passwords.txt
var commonPasswords string

// NormalizePassword returns pw in Unicode NFKC, the form every password is hashed
// and checked in, so that the same characters typed on different keyboards (or
// composed and decomposed) are the same password.
func NormalizePassword(pw string) string {
	return norm.NFKC.String(pw)
}

// ValidatePassword checks the password policy: 8 to 128 characters after
// normalisation, valid UTF-8, and not one of the most common passwords (compared
// without case). It returns a *PasswordError.
func ValidatePassword(pw string) error {
	if !utf8.ValidString(pw) {
		return &PasswordError{Reason: "The password contains characters that cannot be used.", Key: "password.invalid_chars"}
	}
	pw = NormalizePassword(pw)
	switch n := utf8.RuneCountInString(pw); {
	case n < MinPasswordLen:
		return &PasswordError{Reason: fmt.Sprintf("Use at least %d characters.", MinPasswordLen), Key: "password.too_short", Args: map[string]any{"Count": MinPasswordLen}}
	case n > MaxPasswordLen:
		return &PasswordError{Reason: fmt.Sprintf("Use at most %d characters.", MaxPasswordLen), Key: "password.too_long", Args: map[string]any{"Count": MaxPasswordLen}}
	}
	if isCommon(pw) {
		return &PasswordError{Reason: "This password is too common. Choose one that is harder to guess.", Key: "password.too_common"}
	}
	return nil
}

// validatePasswordFor applies ValidatePassword and refuses the user's e-mail
// address as the password.
func validatePasswordFor(pw, email string) error {
	if err := ValidatePassword(pw); err != nil {
		return err
	}
	if email != "" && strings.EqualFold(strings.TrimSpace(NormalizePassword(pw)), storage.NormalizeEmail(email)) {
		return &PasswordError{Reason: "Don't use your e-mail address as your password.", Key: "password.is_email"}
	}
	return nil
}

// isCommon reports whether the normalised pw is on the embedded list (one
// lower-case password a line).
func isCommon(pw string) bool {
	pw = strings.ToLower(pw)
	if strings.ContainsAny(pw, "\r\n") {
		return false
	}
	return strings.HasPrefix(commonPasswords, pw+"\n") || strings.Contains(commonPasswords, "\n"+pw+"\n")
}

// DefaultMaxConcurrentHashes is how many argon2id computations a Service runs at
// once unless Options say otherwise. Each one holds MemoryKiB (19 MiB by default)
// until the garbage collector frees it, so this bounds the memory sign-ins take.
// Each also keeps one core busy (Parallelism 1): on the 2-core machine
// BenchmarkHashPassword made 49 hashes/s with 1, 90/s with 2 and 77/s unlimited.
const DefaultMaxConcurrentHashes = 2

// HashPassword returns the argon2id PHC string of the normalised pw, with a new
// random salt and the service's parameters:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key> (unpadded standard base64).
// It waits, without a deadline, for one of the service's hash slots.
func (s *Service) HashPassword(pw string) (string, error) {
	return s.hash(context.Background(), pw)
}

// hash is HashPassword that stops waiting for a hash slot when ctx ends.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	salt := make([]byte, s.p.SaltLen)
	rand.Read(salt) // never fails (crypto/rand, Go 1.24+)
	key, err := s.argon2id(ctx, pw, salt, s.p)
	if err != nil {
		return "", err
	}
	return s.phc(salt, key), nil
}

// phc formats salt and key as a PHC string with the service's parameters.
func (s *Service) phc(salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version,
		s.p.MemoryKiB, s.p.Iterations, s.p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// randomPHC is a PHC string with the service's parameters and a random salt and
// key: no password matches it, and checking one against it costs exactly what
// checking against a real hash does. Making it costs nothing, where hashing a
// random password would take a core for 20 ms and leave 19 MiB of garbage.
func (s *Service) randomPHC() string {
	salt, key := make([]byte, s.p.SaltLen), make([]byte, s.p.KeyLen)
	rand.Read(salt)
	rand.Read(key)
	return s.phc(salt, key)
}

// argon2id derives the key of the normalised pw once one of the service's hash
// slots is free, so that no more than MaxConcurrentHashes argon2id buffers are
// alive at once however many sign-ins arrive; the rest queue here.
func (s *Service) argon2id(ctx context.Context, pw string, salt []byte, p Params) ([]byte, error) {
	select {
	case s.hashSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a password hash slot: %w", context.Cause(ctx))
	}
	defer func() { <-s.hashSlots }()
	return s.idKey([]byte(NormalizePassword(pw)), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen), nil
}

// errMalformedHash means a stored hash is not an argon2id PHC string we can read.
var errMalformedHash = errors.New("malformed argon2id hash")

// CheckPassword reports whether pw (normalised) matches the PHC string hash, in
// constant time, and whether hash was made with other parameters than the
// service's current ones (so it should be replaced by a new hash of pw). hash
// may also be an imported Better Auth scrypt or bcrypt hash (see LegacyHash),
// which always needs a rehash. Like
// HashPassword it waits, without a deadline, for a hash slot.
func (s *Service) CheckPassword(hash, pw string) (ok, needsRehash bool, err error) {
	return s.checkPassword(context.Background(), hash, pw)
}

// checkPassword is CheckPassword that stops waiting for a hash slot when ctx
// ends; that error wraps ctx's cause, while an unreadable hash wraps
// errMalformedHash.
func (s *Service) checkPassword(ctx context.Context, hash, pw string) (ok, needsRehash bool, err error) {
	if IsLegacyHash(hash) {
		// An imported hash (legacy.go): always replaced once the password is
		// known to be right.
		ok, err := s.checkLegacy(ctx, hash, pw)
		return ok, true, err
	}
	p, salt, key, err := parsePHC(hash)
	if err != nil {
		return false, false, err
	}
	got, err := s.argon2id(ctx, pw, salt, p)
	if err != nil {
		return false, false, err
	}
	ok = subtle.ConstantTimeCompare(got, key) == 1
	return ok, p != s.p, nil
}

// parsePHC reads $argon2id$v=19$m=…,t=…,p=…$salt$key.
func parsePHC(hash string) (Params, []byte, []byte, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return Params{}, nil, nil, fmt.Errorf("%w: want $argon2id$v=…$m=…,t=…,p=…$salt$key", errMalformedHash)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return Params{}, nil, nil, fmt.Errorf("%w: version %q, want v=%d", errMalformedHash, parts[2], argon2.Version)
	}
	var p Params
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return Params{}, nil, nil, fmt.Errorf("%w: parameter %q", errMalformedHash, kv)
		}
		switch k {
		case "m":
			p.MemoryKiB = uint32(n)
		case "t":
			p.Iterations = uint32(n)
		case "p":
			if n > 255 {
				return Params{}, nil, nil, fmt.Errorf("%w: parameter %q", errMalformedHash, kv)
			}
			p.Parallelism = uint8(n)
		default:
			return Params{}, nil, nil, fmt.Errorf("%w: parameter %q", errMalformedHash, kv)
		}
	}
	if p.MemoryKiB == 0 || p.Iterations == 0 || p.Parallelism == 0 {
		return Params{}, nil, nil, fmt.Errorf("%w: parameters %q", errMalformedHash, parts[3])
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil || len(salt) == 0 {
		return Params{}, nil, nil, fmt.Errorf("%w: salt", errMalformedHash)
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(key) == 0 {
		return Params{}, nil, nil, fmt.Errorf("%w: key", errMalformedHash)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}
