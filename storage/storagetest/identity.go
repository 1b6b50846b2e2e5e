package storagetest

import (
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// identityCases covers mailed user tokens, sign-in throttling and the narrow user
// updates the identity service makes.
func identityCases() []Case {
	return []Case{
		{"UserTokenConsumedOnce", testUserTokenConsumedOnce},
		{"UserTokenFoundWithoutSpending", testUserTokenFoundWithoutSpending},
		{"UserTokenConsumedOnceConcurrently", testUserTokenConsumedOnceConcurrently},
		{"UserTokenDeleteAndSweep", testUserTokenDeleteAndSweep},
		{"UserNarrowUpdates", testUserNarrowUpdates},
		{"SignInThrottleLocks", testSignInThrottleLocks},
		{"SignInThrottleCountsConcurrently", testSignInThrottleCountsConcurrently},
		{"SignInThrottleSweep", testSignInThrottleSweep},
		{"SignInLocksPerKey", testSignInLocksPerKey},
		{"SignInThrottlesDeletedByPrefix", testSignInThrottlesDeletedByPrefix},
		{"RateLimitFixedWindow", testRateLimitFixedWindow},
		{"RateLimitConcurrently", testRateLimitConcurrently},
		{"UserTokenBrowserHash", testUserTokenBrowserHash},
	}
}

func tokenHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func createUserToken(t *testing.T, s *storage.Store, u storage.User, purpose, token string, expires time.Time) storage.UserToken {
	t.Helper()
	ut, err := s.CreateUserToken(t.Context(), storage.UserToken{UserID: u.ID, Purpose: purpose, TokenHash: tokenHash(token), ExpiresAt: expires})
	must(t, err, "CreateUserToken(%s)", purpose)
	return ut
}

func testUserTokenConsumedOnce(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "token@example.com")
	createUserToken(t, s, u, storage.TokenResetPassword, "reset-1", testClock.Add(30*time.Minute))

	// The wrong purpose does not spend it.
	_, err := s.ConsumeUserToken(ctx, storage.TokenVerifyEmail, tokenHash("reset-1"), testClock)
	wantNotFound(t, err, "ConsumeUserToken with the wrong purpose")

	got, err := s.ConsumeUserToken(ctx, storage.TokenResetPassword, tokenHash("reset-1"), testClock.In(elsewhere))
	must(t, err, "ConsumeUserToken")
	if got.UserID != u.ID || got.Purpose != storage.TokenResetPassword {
		t.Errorf("ConsumeUserToken = %+v, want the user's reset token", got)
	}
	if got.UsedAt == nil {
		t.Fatal("ConsumeUserToken: UsedAt = nil, want now")
	}
	wantTime(t, "UsedAt", *got.UsedAt, testClock)
	wantTime(t, "ExpiresAt", got.ExpiresAt, testClock.Add(30*time.Minute))

	_, err = s.ConsumeUserToken(ctx, storage.TokenResetPassword, tokenHash("reset-1"), testClock)
	wantNotFound(t, err, "ConsumeUserToken a second time")
	_, err = s.ConsumeUserToken(ctx, storage.TokenResetPassword, tokenHash("unknown"), testClock)
	wantNotFound(t, err, "ConsumeUserToken of an unknown token")

	// Expiry is exclusive: at expires_at the token is dead.
	createUserToken(t, s, u, storage.TokenVerifyEmail, "verify-1", testClock.Add(time.Hour))
	_, err = s.ConsumeUserToken(ctx, storage.TokenVerifyEmail, tokenHash("verify-1"), testClock.Add(time.Hour))
	wantNotFound(t, err, "ConsumeUserToken at its expiry")
	_, err = s.ConsumeUserToken(ctx, storage.TokenVerifyEmail, tokenHash("verify-1"), testClock.Add(time.Hour-time.Second))
	must(t, err, "ConsumeUserToken a second before its expiry")

	// The hash is unique.
	_, err = s.CreateUserToken(ctx, storage.UserToken{UserID: u.ID, Purpose: storage.TokenVerifyEmail, TokenHash: tokenHash("verify-1"), ExpiresAt: testClock})
	if !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateUserToken with a taken hash: error %v, want storage.ErrConflict", err)
	}
}

func testUserTokenFoundWithoutSpending(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "find-token@example.com")
	createUserToken(t, s, u, storage.TokenResetPassword, "find-1", testClock.Add(30*time.Minute))

	for range 2 { // looking twice spends nothing
		got, err := s.FindUserToken(ctx, storage.TokenResetPassword, tokenHash("find-1"), testClock)
		must(t, err, "FindUserToken")
		if got.UserID != u.ID || got.Purpose != storage.TokenResetPassword || got.UsedAt != nil {
			t.Errorf("FindUserToken = %+v, want the user's unused reset token", got)
		}
	}
	_, err := s.FindUserToken(ctx, storage.TokenVerifyEmail, tokenHash("find-1"), testClock)
	wantNotFound(t, err, "FindUserToken with the wrong purpose")
	_, err = s.FindUserToken(ctx, storage.TokenResetPassword, tokenHash("unknown"), testClock)
	wantNotFound(t, err, "FindUserToken of an unknown token")
	_, err = s.FindUserToken(ctx, storage.TokenResetPassword, tokenHash("find-1"), testClock.Add(30*time.Minute))
	wantNotFound(t, err, "FindUserToken at its expiry")

	_, err = s.ConsumeUserToken(ctx, storage.TokenResetPassword, tokenHash("find-1"), testClock)
	must(t, err, "ConsumeUserToken after FindUserToken")
	_, err = s.FindUserToken(ctx, storage.TokenResetPassword, tokenHash("find-1"), testClock)
	wantNotFound(t, err, "FindUserToken of a spent token")
}

func testUserTokenConsumedOnceConcurrently(t *testing.T, s *storage.Store) {
	u := createUser(t, s, "race@example.com")
	createUserToken(t, s, u, storage.TokenResetPassword, "contested", testClock.Add(time.Hour))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.ConsumeUserToken(t.Context(), storage.TokenResetPassword, tokenHash("contested"), testClock)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, storage.ErrNotFound):
			t.Errorf("concurrent ConsumeUserToken: error %v, want nil or storage.ErrNotFound", err)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent ConsumeUserToken calls succeeded, want exactly 1", won)
	}
}

func testUserTokenDeleteAndSweep(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "sweep@example.com")
	createUserToken(t, s, u, storage.TokenResetPassword, "r1", testClock.Add(time.Hour))
	createUserToken(t, s, u, storage.TokenResetPassword, "r2", testClock.Add(time.Hour))
	createUserToken(t, s, u, storage.TokenResetPassword, "r-used", testClock.Add(time.Hour))
	createUserToken(t, s, u, storage.TokenVerifyEmail, "v1", testClock.Add(time.Hour))
	_, err := s.ConsumeUserToken(ctx, storage.TokenResetPassword, tokenHash("r-used"), testClock)
	must(t, err, "ConsumeUserToken")

	n, err := s.DeleteUserTokens(ctx, u.ID, storage.TokenResetPassword)
	must(t, err, "DeleteUserTokens")
	if n != 2 {
		t.Errorf("DeleteUserTokens = %d, want 2 (the unused reset tokens)", n)
	}
	_, err = s.ConsumeUserToken(ctx, storage.TokenResetPassword, tokenHash("r1"), testClock)
	wantNotFound(t, err, "ConsumeUserToken of a deleted token")
	_, err = s.ConsumeUserToken(ctx, storage.TokenVerifyEmail, tokenHash("v1"), testClock)
	must(t, err, "ConsumeUserToken of another purpose after DeleteUserTokens")

	// Sweep: three expired (one used), one alive.
	for _, tok := range []string{"old1", "old2", "old3"} {
		createUserToken(t, s, u, storage.TokenVerifyEmail, tok, testClock.Add(-time.Minute))
	}
	createUserToken(t, s, u, storage.TokenVerifyEmail, "alive", testClock.Add(time.Minute))
	var total int64
	for {
		n, err := s.DeleteExpiredUserTokens(ctx, testClock.Add(2*time.Hour), 2)
		must(t, err, "DeleteExpiredUserTokens")
		total += n
		if n < 2 {
			break
		}
	}
	// r-used and v1 (used, expiring at +1h) and old1-3 and alive all expired by +2h.
	if total != 6 {
		t.Errorf("DeleteExpiredUserTokens removed %d, want 6", total)
	}

	// Tokens go with their user.
	createUserToken(t, s, u, storage.TokenVerifyEmail, "cascade", testClock.Add(time.Hour))
	must(t, s.DeleteUser(ctx, u.ID), "DeleteUser")
	n, err = s.DeleteExpiredUserTokens(ctx, testClock.Add(24*time.Hour), 100)
	must(t, err, "DeleteExpiredUserTokens")
	if n != 0 {
		t.Errorf("after DeleteUser, %d tokens were left to sweep, want 0", n)
	}
}

func testUserNarrowUpdates(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "narrow@example.com")
	createUser(t, s, "taken@example.com")

	must(t, s.UpdateUserPassword(ctx, u.ID, "$argon2id$new"), "UpdateUserPassword")
	p, err := s.UpdateUserProfile(ctx, u.ID, storage.UserProfile{Name: "N N", GivenName: "N", FamilyName: "N2", Picture: "https://example.com/p.png", Locale: "de"})
	must(t, err, "UpdateUserProfile")
	if p.PasswordHash != "$argon2id$new" || p.Name != "N N" || p.GivenName != "N" || p.FamilyName != "N2" || p.Picture != "https://example.com/p.png" || p.Locale != "de" {
		t.Errorf("UpdateUserProfile = %+v, want the new profile and the password kept", p)
	}
	must(t, s.UpdateUserEmailVerified(ctx, u.ID, true), "UpdateUserEmailVerified")
	must(t, s.UpdateUserDisabled(ctx, u.ID, true), "UpdateUserDisabled")
	got, err := s.GetUser(ctx, u.ID)
	must(t, err, "GetUser")
	if !got.EmailVerified || !got.Disabled || got.Name != "N N" {
		t.Errorf("after narrow updates: %+v", got)
	}

	createUserToken(t, s, u, storage.TokenVerifyEmail, "for-old-address", testClock.Add(time.Hour))
	if _, err := s.UpdateUserEmail(ctx, u.ID, "Taken@Example.com", false); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("UpdateUserEmail to a taken e-mail: error %v, want storage.ErrConflict", err)
	}
	moved, err := s.UpdateUserEmail(ctx, u.ID, " New@Example.com", false)
	must(t, err, "UpdateUserEmail")
	if moved.Email != "new@example.com" || moved.EmailVerified {
		t.Errorf("UpdateUserEmail = %q verified %v, want new@example.com unverified", moved.Email, moved.EmailVerified)
	}
	_, err = s.ConsumeUserToken(ctx, storage.TokenVerifyEmail, tokenHash("for-old-address"), testClock)
	wantNotFound(t, err, "verification token mailed to the old address")

	missing := "00000000-0000-4000-8000-000000000000"
	wantNotFound(t, s.UpdateUserPassword(ctx, missing, "x"), "UpdateUserPassword of a missing user")
	wantNotFound(t, s.UpdateUserDisabled(ctx, "not-a-uuid", true), "UpdateUserDisabled with a bad id")
	_, err = s.UpdateUserProfile(ctx, missing, storage.UserProfile{})
	wantNotFound(t, err, "UpdateUserProfile of a missing user")
}

func testSignInThrottleLocks(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	l := storage.SignInLimit{Max: 3, Window: 15 * time.Minute, Lockout: 10 * time.Minute}
	key, other := "account:a", "ip:192.0.2.1"
	now := testClock

	until, err := s.GetSignInLock(ctx, now, key, other)
	must(t, err, "GetSignInLock")
	if !until.IsZero() {
		t.Errorf("GetSignInLock with no failures = %v, want zero", until)
	}
	for i := 1; i <= 3; i++ {
		th, err := s.RecordSignInFailure(ctx, key, now.Add(time.Duration(i)*time.Minute), l)
		must(t, err, "RecordSignInFailure %d", i)
		if th.Failures != i || th.LockedUntil != nil {
			t.Errorf("failure %d: %d failures, locked %v; want %d, unlocked", i, th.Failures, th.LockedUntil, i)
		}
	}
	lockedAt := now.Add(4 * time.Minute)
	th, err := s.RecordSignInFailure(ctx, key, lockedAt.In(elsewhere), l)
	must(t, err, "RecordSignInFailure 4")
	if th.Failures != 4 || th.LockedUntil == nil {
		t.Fatalf("failure 4 of max 3: %d failures, locked %v; want locked", th.Failures, th.LockedUntil)
	}
	wantTime(t, "LockedUntil", *th.LockedUntil, lockedAt.Add(l.Lockout))

	until, err = s.GetSignInLock(ctx, lockedAt.Add(time.Minute), other, key)
	must(t, err, "GetSignInLock")
	wantTime(t, "GetSignInLock", until, lockedAt.Add(l.Lockout))
	until, err = s.GetSignInLock(ctx, lockedAt.Add(time.Minute), other)
	must(t, err, "GetSignInLock of another key")
	if !until.IsZero() {
		t.Errorf("GetSignInLock(%s) = %v, want zero", other, until)
	}
	until, err = s.GetSignInLock(ctx, lockedAt.Add(l.Lockout), key)
	must(t, err, "GetSignInLock when the lock ends")
	if !until.IsZero() {
		t.Errorf("GetSignInLock at the end of the lock = %v, want zero", until)
	}

	// After the lock ends, counting starts again.
	th, err = s.RecordSignInFailure(ctx, key, lockedAt.Add(l.Lockout+time.Second), l)
	must(t, err, "RecordSignInFailure after the lock")
	if th.Failures != 1 || th.LockedUntil != nil {
		t.Errorf("after the lock: %d failures, locked %v; want 1, unlocked", th.Failures, th.LockedUntil)
	}
	until, err = s.GetSignInLock(ctx, lockedAt.Add(l.Lockout+time.Second), key)
	must(t, err, "GetSignInLock")
	if !until.IsZero() {
		t.Errorf("GetSignInLock after a fresh failure = %v, want zero", until)
	}

	// Failures older than the window do not count.
	w := now.Add(time.Hour)
	for i := range 3 {
		_, err := s.RecordSignInFailure(ctx, other, w.Add(time.Duration(i)*time.Minute), l)
		must(t, err, "RecordSignInFailure")
	}
	th, err = s.RecordSignInFailure(ctx, other, w.Add(l.Window), l)
	must(t, err, "RecordSignInFailure after the window")
	if th.Failures != 1 || th.LockedUntil != nil {
		t.Errorf("after the window: %d failures, locked %v; want 1, unlocked", th.Failures, th.LockedUntil)
	}

	// Forgetting a key clears its count.
	for range 5 {
		_, err := s.RecordSignInFailure(ctx, key, w, l)
		must(t, err, "RecordSignInFailure")
	}
	must(t, s.DeleteSignInThrottle(ctx, key), "DeleteSignInThrottle")
	until, err = s.GetSignInLock(ctx, w, key)
	must(t, err, "GetSignInLock")
	if !until.IsZero() {
		t.Errorf("GetSignInLock after DeleteSignInThrottle = %v, want zero", until)
	}
	th, err = s.RecordSignInFailure(ctx, key, w, l)
	must(t, err, "RecordSignInFailure")
	if th.Failures != 1 {
		t.Errorf("after DeleteSignInThrottle: %d failures, want 1", th.Failures)
	}

	// Max 0 locks at the first failure.
	th, err = s.RecordSignInFailure(ctx, "ip:zero", w, storage.SignInLimit{Max: 0, Window: time.Minute, Lockout: time.Minute})
	must(t, err, "RecordSignInFailure with Max 0")
	if th.LockedUntil == nil {
		t.Error("RecordSignInFailure with Max 0 did not lock")
	}
	until, err = s.GetSignInLock(ctx, w, "ip:zero")
	must(t, err, "GetSignInLock")
	wantTime(t, "GetSignInLock with Max 0", until, w.Add(time.Minute))
}

func testSignInThrottleCountsConcurrently(t *testing.T, s *storage.Store) {
	l := storage.SignInLimit{Max: 100, Window: time.Hour, Lockout: time.Minute}
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.RecordSignInFailure(t.Context(), "account:busy", testClock, l)
		})
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err, "concurrent RecordSignInFailure")
	}
	th, err := s.RecordSignInFailure(t.Context(), "account:busy", testClock, l)
	must(t, err, "RecordSignInFailure")
	if th.Failures != n+1 {
		t.Errorf("after %d concurrent failures and one more: %d counted, want %d", n, th.Failures, n+1)
	}
}

func testSignInThrottleSweep(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	l := storage.SignInLimit{Max: 1, Window: 10 * time.Minute, Lockout: time.Hour}
	_, err := s.RecordSignInFailure(ctx, "ip:old", testClock, l)
	must(t, err, "RecordSignInFailure")
	for range 2 { // locked for an hour
		_, err = s.RecordSignInFailure(ctx, "ip:locked", testClock, l)
		must(t, err, "RecordSignInFailure")
	}
	_, err = s.RecordSignInFailure(ctx, "ip:recent", testClock.Add(15*time.Minute), l)
	must(t, err, "RecordSignInFailure")

	n, err := s.DeleteExpiredSignInThrottles(ctx, testClock.Add(20*time.Minute), l.Window, 100)
	must(t, err, "DeleteExpiredSignInThrottles")
	if n != 1 {
		t.Errorf("DeleteExpiredSignInThrottles = %d, want 1 (the old, unlocked key)", n)
	}
	until, err := s.GetSignInLock(ctx, testClock.Add(20*time.Minute), "ip:locked")
	must(t, err, "GetSignInLock")
	if until.IsZero() {
		t.Error("the sweep removed a locked key")
	}
}

// testSignInLocksPerKey: GetSignInLocks says which of the keys is locked, and
// until when, so that the caller can tell an address block from an account lock.
func testSignInLocksPerKey(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	short := storage.SignInLimit{Max: 0, Window: time.Hour, Lockout: 5 * time.Minute}
	long := storage.SignInLimit{Max: 0, Window: time.Hour, Lockout: 20 * time.Minute}
	_, err := s.RecordSignInFailure(ctx, "ip:192.0.2.1", testClock, short)
	must(t, err, "RecordSignInFailure")
	_, err = s.RecordSignInFailure(ctx, "acct:u|192.0.2.1", testClock.In(elsewhere), long)
	must(t, err, "RecordSignInFailure")
	_, err = s.RecordSignInFailure(ctx, "acct:u|192.0.2.2", testClock, storage.SignInLimit{Max: 5, Window: time.Hour, Lockout: time.Hour})
	must(t, err, "RecordSignInFailure below the limit")

	locks, err := s.GetSignInLocks(ctx, testClock.Add(time.Minute), "ip:192.0.2.1", "acct:u|192.0.2.1", "acct:u|192.0.2.2", "ip:missing")
	must(t, err, "GetSignInLocks")
	if len(locks) != 2 {
		t.Errorf("GetSignInLocks = %v, want the two locked keys only", locks)
	}
	wantTime(t, "lock of ip:192.0.2.1", locks["ip:192.0.2.1"], testClock.Add(5*time.Minute))
	wantTime(t, "lock of acct:u|192.0.2.1", locks["acct:u|192.0.2.1"], testClock.Add(20*time.Minute))

	locks, err = s.GetSignInLocks(ctx, testClock.Add(5*time.Minute), "ip:192.0.2.1", "acct:u|192.0.2.1")
	must(t, err, "GetSignInLocks when the short lock ended")
	if _, ok := locks["ip:192.0.2.1"]; ok || len(locks) != 1 {
		t.Errorf("GetSignInLocks after the short lock = %v, want only acct:u|192.0.2.1", locks)
	}
	if locks, err := s.GetSignInLocks(ctx, testClock); err != nil || len(locks) != 0 {
		t.Errorf("GetSignInLocks of no keys = %v, %v; want none", locks, err)
	}

	// GetSignInThrottles gives every key with failures, locked or not.
	rows, err := s.GetSignInThrottles(ctx, "ip:192.0.2.1", "acct:u|192.0.2.2", "ip:missing")
	must(t, err, "GetSignInThrottles")
	if _, missing := rows["ip:missing"]; len(rows) != 2 || missing {
		t.Errorf("GetSignInThrottles = %v, want ip:192.0.2.1 and acct:u|192.0.2.2", rows)
	}
	if r := rows["acct:u|192.0.2.2"]; r.Failures != 1 || r.LockedUntil != nil {
		t.Errorf("GetSignInThrottles(acct:u|192.0.2.2) = %+v, want 1 failure and no lock", r)
	}
	if r := rows["ip:192.0.2.1"]; r.LockedUntil == nil {
		t.Error("GetSignInThrottles(ip:192.0.2.1) has no lock")
	} else {
		wantTime(t, "GetSignInThrottles lock of ip:192.0.2.1", *r.LockedUntil, testClock.Add(5*time.Minute))
	}
}

// testSignInThrottlesDeletedByPrefix: a password reset lifts the account's lock
// for every client address at once, and nothing else; LIKE's wildcards in a
// prefix match only themselves.
func testSignInThrottlesDeletedByPrefix(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	l := storage.SignInLimit{Max: 0, Window: time.Hour, Lockout: time.Hour}
	keys := []string{"acct:a_b|192.0.2.1", "acct:a_b|2001:db8::1", "acct:aXb|192.0.2.1", "acct:a_b%|x", "acct:a_bc|x", "ip:192.0.2.1"}
	for _, k := range keys {
		_, err := s.RecordSignInFailure(ctx, k, testClock, l)
		must(t, err, "RecordSignInFailure(%s)", k)
	}
	n, err := s.DeleteSignInThrottles(ctx, "acct:a_b|")
	must(t, err, "DeleteSignInThrottles")
	if n != 2 {
		t.Errorf("DeleteSignInThrottles = %d, want 2", n)
	}
	locks, err := s.GetSignInLocks(ctx, testClock, keys...)
	must(t, err, "GetSignInLocks")
	for _, k := range keys {
		_, locked := locks[k]
		if want := !strings.HasPrefix(k, "acct:a_b|"); locked != want {
			t.Errorf("after DeleteSignInThrottles(acct:a_b|): %s locked = %v, want %v", k, locked, want)
		}
	}
	if _, err := s.DeleteSignInThrottles(ctx, ""); err == nil {
		t.Error("DeleteSignInThrottles with an empty prefix succeeded, want an error (it would delete every row)")
	}
}

// testRateLimitFixedWindow: Max events pass within a window that starts at the
// first; the next is refused with the window's end and is not counted, so
// refusals never push the window out; after the window, events pass again.
func testRateLimitFixedWindow(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	l := storage.RateLimit{Max: 3, Window: time.Hour}
	for i := 1; i <= 3; i++ {
		d, err := s.TakeRateLimit(ctx, "mail-to:x", testClock.Add(time.Duration(i-1)*10*time.Minute), l)
		must(t, err, "TakeRateLimit %d", i)
		if !d.Allowed || d.Count != i {
			t.Errorf("event %d of 3: %+v, want allowed, count %d", i, d, i)
		}
	}
	for _, at := range []time.Duration{30 * time.Minute, 59 * time.Minute} {
		d, err := s.TakeRateLimit(ctx, "mail-to:x", testClock.Add(at).In(elsewhere), l)
		must(t, err, "TakeRateLimit over the limit")
		if d.Allowed || d.Count != 3 {
			t.Errorf("event past the limit at +%s: %+v, want refused with count 3", at, d)
		}
		wantTime(t, "RetryAt", d.RetryAt, testClock.Add(time.Hour))
	}
	// Another key is not affected.
	if d, err := s.TakeRateLimit(ctx, "mail-to:y", testClock.Add(30*time.Minute), l); err != nil || !d.Allowed {
		t.Errorf("another key: %+v, %v; want allowed", d, err)
	}
	d, err := s.TakeRateLimit(ctx, "mail-to:x", testClock.Add(time.Hour), l)
	must(t, err, "TakeRateLimit after the window")
	if !d.Allowed || d.Count != 1 {
		t.Errorf("first event of a new window: %+v, want allowed, count 1", d)
	}
	// Rate rows are swept like throttle rows once their window is a day old.
	_, err = s.DeleteExpiredSignInThrottles(ctx, testClock.Add(25*time.Hour), 24*time.Hour, 100)
	must(t, err, "DeleteExpiredSignInThrottles")
	d, err = s.TakeRateLimit(ctx, "mail-to:y", testClock.Add(25*time.Hour), l)
	must(t, err, "TakeRateLimit after the sweep")
	if !d.Allowed || d.Count != 1 {
		t.Errorf("after the sweep: %+v, want allowed, count 1", d)
	}
}

// testRateLimitConcurrently: instances taking from one key at once never let
// more than Max through together.
func testRateLimitConcurrently(t *testing.T, s *storage.Store) {
	l := storage.RateLimit{Max: 5, Window: time.Hour}
	const n = 16
	allowed := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			var d storage.RateDecision
			d, errs[i] = s.TakeRateLimit(t.Context(), "signup-ip:busy", testClock, l)
			allowed[i] = d.Allowed
		})
	}
	wg.Wait()
	count := 0
	for i := range n {
		must(t, errs[i], "concurrent TakeRateLimit")
		if allowed[i] {
			count++
		}
	}
	if count != l.Max {
		t.Errorf("%d of %d concurrent events allowed, want exactly %d", count, n, l.Max)
	}
}

// testUserTokenBrowserHash: the hash of the signing-up browser's ticket is kept
// with the verification token and comes back when it is spent.
func testUserTokenBrowserHash(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "ticket@example.com")
	_, err := s.CreateUserToken(ctx, storage.UserToken{UserID: u.ID, Purpose: storage.TokenVerifyEmail,
		TokenHash: tokenHash("with-ticket"), ExpiresAt: testClock.Add(time.Hour), BrowserHash: tokenHash("ticket")})
	must(t, err, "CreateUserToken with a browser hash")
	createUserToken(t, s, u, storage.TokenVerifyEmail, "without-ticket", testClock.Add(time.Hour))
	got, err := s.ConsumeUserToken(ctx, storage.TokenVerifyEmail, tokenHash("with-ticket"), testClock)
	must(t, err, "ConsumeUserToken")
	if string(got.BrowserHash) != string(tokenHash("ticket")) {
		t.Errorf("BrowserHash = %x, want %x", got.BrowserHash, tokenHash("ticket"))
	}
	got, err = s.ConsumeUserToken(ctx, storage.TokenVerifyEmail, tokenHash("without-ticket"), testClock)
	must(t, err, "ConsumeUserToken")
	if len(got.BrowserHash) != 0 {
		t.Errorf("BrowserHash of a token made without one = %x, want none", got.BrowserHash)
	}
}
