package identity

import (
	"net/mail"
	"strings"

	"github.com/gatehouse-id/gatehouse/storage"
)

// MaxEmailLen is the longest e-mail address accepted (RFC 5321's path limit less
// the angle brackets).
const MaxEmailLen = 254

// ValidateEmail checks that email, in the form it is stored and compared in
// (storage.NormalizeEmail: trimmed, NFKC, lower case, so that compatibility
// characters such as "＠" or "﹤" count as what they fold to), is a plain
// address, such as ada@example.com: no display name, one @, a local part of at
// most 64 bytes and a domain with a dot and no empty labels, at most 254 bytes
// in all. It returns ErrInvalidEmail.
func ValidateEmail(email string) error {
	return validateEmail(storage.NormalizeEmail(email))
}

func validateEmail(email string) error {
	if email == "" || len(email) > MaxEmailLen || strings.ContainsAny(email, " \t\r\n<>\"") {
		return ErrInvalidEmail
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Name != "" || addr.Address != email {
		return ErrInvalidEmail
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || len(local) > 64 || strings.Contains(domain, "@") || !strings.Contains(domain, ".") {
		return ErrInvalidEmail
	}
	for _, label := range strings.Split(domain, ".") {
		if label == "" || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return ErrInvalidEmail
		}
	}
	return nil
}
