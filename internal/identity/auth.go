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

// The throttle keys. Failed sign-ins count per (account, client IP), so that
// wrong passwords typed anywhere else never lock the owner out where they are,
// and per client IP across accounts, so that one address cannot guess at many.
// An unknown e-mail address is an account keyed by its hash: it locks exactly
// like a known one, and lockout does not tell which exist.

// accountSubject names a known account in throttle keys.
func accountSubject(userID string) string { return "user:" + userID }

// unknownSubject names an e-mail address no account has.
func unknownSubject(email string) string { return "email:" + emailHash(email) }

// emailHash is a short hash of the normalised address, so that throttle rows
// hold no addresses.
func emailHash(email string) string {
	h := sha256.Sum256([]byte(storage.NormalizeEmail(email)))
	return hex.EncodeToString(h[:16])
}

// accountPrefix starts every key of subject's (account, IP) pairs: deleting by
// it lifts the account's locks for every address.
func accountPrefix(subject string) string { return "acct:" + subject + "|" }

// accountIPKey counts subject's failures from ip.
func accountIPKey(subject, ip string) string { return accountPrefix(subject) + ipPart(ip) }

// ipKey counts ip's failures across accounts; "" when the address is unknown,
// which is then not limited on its own.
func ipKey(ip string) string {
	if ip == "" {
		return ""
	}
	return "ip:" + ipPart(ip)
}

// ipPart is ip as keys carry it: itself, or the hash of something too long to
// be an address (callers other than the server may pass anything).
func ipPart(ip string) string {
	if len(ip) > 64 {
		h := sha256.Sum256([]byte(ip))
		return "h" + hex.EncodeToString(h[:16])
	}
	return ip
}

// Authenticate checks an e-mail address and password, from the client address
// ip ("" when unknown), and returns the user.
//
// Failures count per (account, ip) and per ip. Before any password is compared,
// a blocked ip, or an account locked for this ip, gets a *ThrottledError with
// the time left (Reason ThrottleAddress or ThrottleAccount). An account locked
// for other addresses is not locked for this one: the right password from an
// address that has not failed signs in. A wrong password, an unknown e-mail
// (checked against a dummy hash, so it takes as long) or a user without a
// password gets ErrInvalidCredentials and counts as a failure; the failure that
// goes past a limit locks and gets a *ThrottledError. A right password of a
// disabled user gets ErrDisabled. Success clears the failures of (account, ip)
// and, when the stored hash was made with other parameters or imported from
// another system (a Better Auth scrypt or a bcrypt hash, see LegacyHash),
// replaces it with an argon2id hash of the same password.
func (s *Service) Authenticate(ctx context.Context, email, password, ip string) (storage.User, error) {
	now := s.now()
	u, err := s.store.GetUserByEmail(ctx, email)
	known := err == nil
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, fmt.Errorf("authenticate: %w", err)
	}
	subject := unknownSubject(email)
	if known {
		subject = accountSubject(u.ID)
	}
	pair, ipk := accountIPKey(subject, ip), ipKey(ip)
	pairFailed, err := s.checkLocks(ctx, now, pair, ipk)
	if err != nil {
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
		return storage.User{}, s.recordFailure(ctx, now, pair, ipk)
	}
	if u.Disabled {
		return storage.User{}, ErrDisabled
	}
	// Nothing to clear when the pair had no failures as the check read them
	// (the usual case): a round trip saved. A failure recorded by a
	// concurrent attempt since then stays counted.
	if pairFailed {
		if err := s.store.DeleteSignInThrottle(ctx, pair); err != nil {
			s.log.WarnContext(ctx, "clear sign-in failures", "user_id", u.ID, "error", err.Error())
		}
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

// checkLocks returns a *ThrottledError when the (account, IP) key pair or the
// IP key ipk ("" for none) is locked at now, in one query. A blocked address is
// named first: a password reset does not lift that. pairFailed reports whether
// the pair has failures on record, locked or not.
func (s *Service) checkLocks(ctx context.Context, now time.Time, pair, ipk string) (pairFailed bool, err error) {
	keys := []string{pair}
	if ipk != "" {
		keys = append(keys, ipk)
	}
	rows, err := s.store.GetSignInThrottles(ctx, keys...)
	if err != nil {
		return false, fmt.Errorf("check sign-in throttle: %w", err)
	}
	lockEnd := func(key string) time.Time {
		if r, ok := rows[key]; ok && r.LockedUntil != nil {
			return *r.LockedUntil
		}
		return time.Time{}
	}
	_, pairFailed = rows[pair]
	return pairFailed, throttled(now, lockEnd(pair), lockEnd(ipk))
}

// throttled is the *ThrottledError for an (account, IP) pair locked until
// pairUntil and an IP blocked until ipUntil (zero times: not), or nil. The
// person waits for the later of the two.
func throttled(now, pairUntil, ipUntil time.Time) error {
	until := pairUntil
	if ipUntil.After(until) {
		until = ipUntil
	}
	switch {
	case ipUntil.After(now):
		return &ThrottledError{RetryAfter: until.Sub(now), Reason: ThrottleAddress}
	case pairUntil.After(now):
		return &ThrottledError{RetryAfter: until.Sub(now), Reason: ThrottleAccount}
	}
	return nil
}

// recordFailure counts a failed attempt against the (account, IP) key pair and
// the IP key ipk ("" for none), and returns ErrInvalidCredentials, or a
// *ThrottledError when this failure locked either.
func (s *Service) recordFailure(ctx context.Context, now time.Time, pair, ipk string) error {
	var pairUntil, ipUntil time.Time
	th, err := s.store.RecordSignInFailure(ctx, pair, now, s.accountLimit)
	if err != nil {
		return fmt.Errorf("record sign-in failure: %w", err)
	}
	if th.LockedUntil != nil {
		pairUntil = *th.LockedUntil
		s.log.WarnContext(ctx, "account locked for one client address after failed sign-ins", "failures", th.Failures, "locked_until", pairUntil)
	}
	if ipk != "" {
		th, err := s.store.RecordSignInFailure(ctx, ipk, now, s.ipLimit)
		if err != nil {
			return fmt.Errorf("record sign-in failure: %w", err)
		}
		if th.LockedUntil != nil {
			ipUntil = *th.LockedUntil
			s.log.WarnContext(ctx, "client address blocked after failed sign-ins", "key", ipk, "failures", th.Failures)
		}
	}
	if err := throttled(now, pairUntil, ipUntil); err != nil {
		return err
	}
	return ErrInvalidCredentials
}

// unlockAccount lifts every lock of the user's account, for every client
// address: a password reset (or an operator's new password) proves the owner.
func (s *Service) unlockAccount(ctx context.Context, userID string) error {
	if _, err := s.store.DeleteSignInThrottles(ctx, accountPrefix(accountSubject(userID))); err != nil {
		return fmt.Errorf("unlock account: %w", err)
	}
	return nil
}
