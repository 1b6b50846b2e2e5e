package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// The throttle keys. An unknown e-mail address is counted under its hash, so that
// it locks exactly like a known one and lockout does not tell which exist.
func accountKey(userID string) string { return "account:" + userID }

func unknownEmailKey(email string) string {
	h := sha256.Sum256([]byte(storage.NormalizeEmail(email)))
	return "email:" + hex.EncodeToString(h[:16])
}

func ipKey(ip string) string {
	if ip == "" {
		return ""
	}
	if len(ip) > 64 { // not an address; keep the key short anyway
		h := sha256.Sum256([]byte(ip))
		return "ip:" + hex.EncodeToString(h[:16])
	}
	return "ip:" + ip
}

// Authenticate checks an e-mail address and password, from the client address
// ip ("" when unknown), and returns the user.
//
// Before any password is compared, a locked account or a blocked IP gets a
// *ThrottledError with the time left. A wrong password, an unknown e-mail (checked
// against a dummy hash, so it takes as long) or a user without a password gets
// ErrInvalidCredentials, and counts as a failure for the account and the IP; the
// failure that goes past the limit locks and gets a *ThrottledError. A right
// password of a disabled user gets ErrDisabled. Success clears the account's
// failures and, when the stored hash was made with other parameters, replaces it.
func (s *Service) Authenticate(ctx context.Context, email, password, ip string) (storage.User, error) {
	now := s.now()
	u, err := s.store.GetUserByEmail(ctx, email)
	known := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, fmt.Errorf("authenticate: %w", err)
	}
	acct := unknownEmailKey(email)
	if known {
		acct = accountKey(u.ID)
	}
	ipk := ipKey(ip)
	if err := s.checkLock(ctx, now, acct, ipk); err != nil {
		return storage.User{}, err
	}

	hash := s.dummyHash
	if known && u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	ok, rehash := false, false
	if len(password) <= maxCheckedBytes {
		ok, rehash, err = s.checkPassword(ctx, hash, password)
		switch {
		case errors.Is(err, errMalformedHash):
			// A stored hash we cannot read: the password cannot be checked, so
			// it is not accepted. Say so in the log, once per attempt.
			s.log.ErrorContext(ctx, "unreadable password hash", "user_id", u.ID, "error", err.Error())
			ok = false
		case err != nil:
			// ctx ended while waiting for a hash slot: nothing was compared, so
			// nothing counts as a failure.
			return storage.User{}, fmt.Errorf("authenticate: %w", err)
		}
	}
	if !known || u.PasswordHash == "" {
		ok = false
	}
	if !ok {
		s.log.InfoContext(ctx, "sign-in failed", "user_id", u.ID, "known", known)
		return storage.User{}, s.recordFailure(ctx, now, acct, ipk)
	}
	if u.Disabled {
		return storage.User{}, ErrDisabled
	}
	if err := s.store.DeleteSignInThrottle(ctx, acct); err != nil {
		s.log.WarnContext(ctx, "clear sign-in failures", "user_id", u.ID, "error", err.Error())
	}
	if rehash {
		h, err := s.hash(ctx, password)
		if err == nil {
			err = s.store.UpdateUserPassword(ctx, u.ID, h)
		}
		if err != nil {
			s.log.WarnContext(ctx, "re-hash password", "user_id", u.ID, "error", err.Error())
		} else {
			u.PasswordHash = h
			s.log.InfoContext(ctx, "password re-hashed with current parameters", "user_id", u.ID)
		}
	}
	return u, nil
}

// checkLock returns a *ThrottledError when the account key or the IP key is
// locked at now.
func (s *Service) checkLock(ctx context.Context, now time.Time, acct, ipk string) error {
	keys := []string{acct}
	if ipk != "" {
		keys = append(keys, ipk)
	}
	until, err := s.store.GetSignInLock(ctx, now, keys...)
	if err != nil {
		return fmt.Errorf("check sign-in throttle: %w", err)
	}
	if !until.IsZero() {
		return &ThrottledError{RetryAfter: until.Sub(now)}
	}
	return nil
}

// recordFailure counts a failed attempt against the account key and the IP key
// and returns ErrInvalidCredentials, or a *ThrottledError when this failure locked
// either.
func (s *Service) recordFailure(ctx context.Context, now time.Time, acct, ipk string) error {
	var until time.Time
	th, err := s.store.RecordSignInFailure(ctx, acct, now, s.accountLimit)
	if err != nil {
		return fmt.Errorf("record sign-in failure: %w", err)
	}
	if th.LockedUntil != nil {
		until = *th.LockedUntil
		s.log.WarnContext(ctx, "account locked after failed sign-ins", "failures", th.Failures, "locked_until", until)
	}
	if ipk != "" {
		th, err := s.store.RecordSignInFailure(ctx, ipk, now, s.ipLimit)
		if err != nil {
			return fmt.Errorf("record sign-in failure: %w", err)
		}
		if th.LockedUntil != nil {
			if th.LockedUntil.After(until) {
				until = *th.LockedUntil
			}
			s.log.WarnContext(ctx, "client address blocked after failed sign-ins", "key", ipk, "failures", th.Failures)
		}
	}
	if !until.IsZero() {
		return &ThrottledError{RetryAfter: until.Sub(now)}
	}
	return ErrInvalidCredentials
}
