package storagetest

import (
	"crypto/sha256"
	"errors"
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
		{"UserTokenConsumedOnceConcurrently", testUserTokenConsumedOnceConcurrently},
		{"UserTokenDeleteAndSweep", testUserTokenDeleteAndSweep},
		{"UserNarrowUpdates", testUserNarrowUpdates},
		{"SignInThrottleLocks", testSignInThrottleLocks},
		{"SignInThrottleCountsConcurrently", testSignInThrottleCountsConcurrently},
		{"SignInThrottleSweep", testSignInThrottleSweep},
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
