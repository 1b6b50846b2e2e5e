package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// UserProfile holds the OpenID Connect profile claims a user may change.
type UserProfile struct {
	Name, GivenName, FamilyName, Picture, Locale string
}

// UpdateUserProfile sets the profile claims of the user with id, leaving every
// other field alone, and returns the updated user or ErrNotFound.
func (s *Store) UpdateUserProfile(ctx context.Context, id string, p UserProfile) (User, error) {
	err := s.updateUser(ctx, id, map[string]any{
		"name": p.Name, "given_name": p.GivenName, "family_name": p.FamilyName,
		"picture": p.Picture, "locale": p.Locale,
	})
	if err != nil {
		return User{}, fmt.Errorf("update profile of user %s: %w", id, err)
	}
	return s.GetUser(ctx, id)
}

// UpdateUserPassword replaces the password hash of the user with id, leaving
// every other field alone; it returns ErrNotFound when there is no such user.
func (s *Store) UpdateUserPassword(ctx context.Context, id, hash string) error {
	if err := s.updateUser(ctx, id, map[string]any{"password_hash": hash}); err != nil {
		return fmt.Errorf("update password of user %s: %w", id, err)
	}
	return nil
}

// UpdateUserEmailVerified marks the e-mail of the user with id verified or not.
func (s *Store) UpdateUserEmailVerified(ctx context.Context, id string, verified bool) error {
	if err := s.updateUser(ctx, id, map[string]any{"email_verified": verified}); err != nil {
		return fmt.Errorf("update email_verified of user %s: %w", id, err)
	}
	return nil
}

// UpdateUserEmail changes the e-mail of the user with id (normalised) and sets
// whether it is verified. Unused verification tokens of the user are deleted in
// the same transaction, since they were mailed to the old address. It returns
// ErrConflict when the e-mail is taken and ErrNotFound when there is no such user.
func (s *Store) UpdateUserEmail(ctx context.Context, id, email string, verified bool) (User, error) {
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.updateUser(ctx, id, map[string]any{"email": NormalizeEmail(email), "email_verified": verified}); err != nil {
			return err
		}
		_, err := s.DeleteUserTokens(ctx, id, TokenVerifyEmail)
		return err
	})
	if err != nil {
		return User{}, fmt.Errorf("update email of user %s: %w", id, err)
	}
	return s.GetUser(ctx, id)
}

// UpdateUserDisabled disables or enables the user with id.
func (s *Store) UpdateUserDisabled(ctx context.Context, id string, disabled bool) error {
	if err := s.updateUser(ctx, id, map[string]any{"disabled": disabled}); err != nil {
		return fmt.Errorf("update disabled of user %s: %w", id, err)
	}
	return nil
}

// updateUser sets the named columns (and updated_at) of one user.
func (s *Store) updateUser(ctx context.Context, id string, cols map[string]any) error {
	if uuid.Validate(id) != nil {
		return ErrNotFound
	}
	cols["updated_at"] = time.Now().UTC()
	var rows int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Model(&User{}).Where("id = ?", id).Updates(cols)
		rows = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return translate(err)
	}
	if rows == 0 {
		return ErrNotFound
	}
	return nil
}

// CreateUserToken stores t. The caller sets UserID, Purpose, TokenHash (SHA-256
// of the token mailed) and ExpiresAt; ID and CreatedAt are set here.
func (s *Store) CreateUserToken(ctx context.Context, t UserToken) (UserToken, error) {
	if t.ID == "" {
		t.ID = uuid.NewString()
	}
	t.CreatedAt = time.Now().UTC()
	t.ExpiresAt = t.ExpiresAt.UTC()
	t.UsedAt = utcPtr(t.UsedAt)
	t.User = nil
	if err := s.write(ctx, func(ctx context.Context) error { return s.conn(ctx).Create(&t).Error }); err != nil {
		return UserToken{}, fmt.Errorf("create %s token: %w", t.Purpose, translate(err))
	}
	return t, nil
}

// ConsumeUserToken spends the unused, unexpired token of purpose whose hash is h
// and returns it. The update is one conditional statement, so of two concurrent
// calls with the same token exactly one succeeds; the other, and any call with an
// unknown, used or expired token, gets ErrNotFound.
func (s *Store) ConsumeUserToken(ctx context.Context, purpose string, h []byte, now time.Time) (UserToken, error) {
	now = now.UTC()
	var rows int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Model(&UserToken{}).
			Where("token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?", h, purpose, now).
			Update("used_at", now)
		rows = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return UserToken{}, fmt.Errorf("consume %s token: %w", purpose, translate(err))
	}
	if rows == 0 {
		return UserToken{}, fmt.Errorf("consume %s token: %w", purpose, ErrNotFound)
	}
	// The row is ours now: no one else can spend it, and its user never changes.
	var t UserToken
	err = s.read(ctx, func(ctx context.Context) error { return s.conn(ctx).Where("token_hash = ?", h).Take(&t).Error })
	if err != nil {
		return UserToken{}, fmt.Errorf("consume %s token: %w", purpose, translate(err))
	}
	return t, nil
}

// FindUserToken returns the unused, unexpired token of purpose whose hash is h
// without spending it, so that a page can tell a dead link before the person
// fills in a form; ConsumeUserToken still decides. An unknown, used or
// expired token gets ErrNotFound.
func (s *Store) FindUserToken(ctx context.Context, purpose string, h []byte, now time.Time) (UserToken, error) {
	var t UserToken
	err := s.read(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Where("token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?", h, purpose, now.UTC()).Take(&t).Error
	})
	if err != nil {
		return UserToken{}, fmt.Errorf("find %s token: %w", purpose, translate(err))
	}
	return t, nil
}

// DeleteUserTokens deletes the user's unused tokens of purpose and returns how
// many it deleted: issuing a new password reset link revokes the older ones.
func (s *Store) DeleteUserTokens(ctx context.Context, userID, purpose string) (int64, error) {
	var n int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Where("user_id = ? AND purpose = ? AND used_at IS NULL", userID, purpose).Delete(&UserToken{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("delete %s tokens of user %s: %w", purpose, userID, translate(err))
	}
	return n, nil
}

// DeleteExpiredUserTokens removes up to limit tokens (used or not) that expired at
// now and returns how many it removed; call it until it returns less than limit.
func (s *Store) DeleteExpiredUserTokens(ctx context.Context, now time.Time, limit int) (int64, error) {
	if limit <= 0 {
		limit = 1000
	}
	var n int64
	err := s.write(ctx, func(ctx context.Context) error {
		sub := s.conn(ctx).Model(&UserToken{}).Select("id").Where("expires_at <= ?", now.UTC()).Limit(limit)
		res := s.conn(ctx).Where("id IN (?)", sub).Delete(&UserToken{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired user tokens: %w", translate(err))
	}
	return n, nil
}

// SignInLimit says how many failures a throttle key may have, within what window,
// and how long the key is locked once it has more.
type SignInLimit struct {
	// Max is the number of failures allowed within Window; the one after locks.
	Max     int
	Window  time.Duration
	Lockout time.Duration
}

// GetSignInLock returns the latest time until which any of keys is locked at now,
// or the zero time when none is.
func (s *Store) GetSignInLock(ctx context.Context, now time.Time, keys ...string) (time.Time, error) {
	locks, err := s.GetSignInLocks(ctx, now, keys...)
	if err != nil {
		return time.Time{}, err
	}
	var until time.Time
	for _, t := range locks {
		if t.After(until) {
			until = t
		}
	}
	return until, nil
}

// GetSignInLocks returns, for each of keys locked at now, the time its lock
// ends (UTC), in one query; keys not locked are absent.
func (s *Store) GetSignInLocks(ctx context.Context, now time.Time, keys ...string) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	if len(keys) == 0 {
		return out, nil
	}
	var rows []SignInThrottle
	err := s.read(ctx, func(ctx context.Context) error {
		rows = rows[:0]
		return s.conn(ctx).Where(`"key" IN ? AND locked_until > ?`, keys, now.UTC()).Find(&rows).Error
	})
	if err != nil {
		return nil, fmt.Errorf("get sign-in locks: %w", translate(err))
	}
	for _, r := range rows {
		if r.LockedUntil != nil {
			out[r.Key] = r.LockedUntil.UTC()
		}
	}
	return out, nil
}

// GetSignInThrottles returns the throttle rows of keys, locked or only
// counting failures, by key, in one query; keys without failures are absent.
// A sign-in reads them before checking the password: a key that is absent
// needs no clearing after a success, which saves a round trip.
func (s *Store) GetSignInThrottles(ctx context.Context, keys ...string) (map[string]SignInThrottle, error) {
	out := map[string]SignInThrottle{}
	if len(keys) == 0 {
		return out, nil
	}
	var rows []SignInThrottle
	err := s.read(ctx, func(ctx context.Context) error {
		rows = rows[:0]
		return s.conn(ctx).Where(`"key" IN ?`, keys).Find(&rows).Error
	})
	if err != nil {
		return nil, fmt.Errorf("get sign-in throttles: %w", translate(err))
	}
	for _, r := range rows {
		if r.LockedUntil != nil {
			t := r.LockedUntil.UTC()
			r.LockedUntil = &t
		}
		out[r.Key] = r
	}
	return out, nil
}

// RecordSignInFailure counts one failed sign-in for key at now and returns the
// key's state after it. A window starts at the first failure; a failure after the
// window ended, or after a lock ended, starts a new one. When the window holds more
// than l.Max failures the key is locked until now+l.Lockout. It is one atomic
// upsert, so instances counting at once never lose a failure.
func (s *Store) RecordSignInFailure(ctx context.Context, key string, now time.Time, l SignInLimit) (SignInThrottle, error) {
	now = now.UTC()
	until := now.Add(l.Lockout)
	var firstLock *time.Time
	if 1 > l.Max {
		firstLock = &until
	}
	// In the UPDATE branch every column reference reads the row as it was, so the
	// new count is spelt out again where locked_until needs it.
	const fresh = `(sign_in_throttle.window_started_at <= @window_start OR sign_in_throttle.locked_until <= @now)`
	const count = `CASE WHEN ` + fresh + ` THEN 1 ELSE sign_in_throttle.failures + 1 END`
	q := `INSERT INTO sign_in_throttle ("key", failures, window_started_at, locked_until, updated_at)
VALUES (@key, 1, @now, @first_lock, @now)
ON CONFLICT ("key") DO UPDATE SET
  failures = ` + count + `,
  window_started_at = CASE WHEN ` + fresh + ` THEN @now ELSE sign_in_throttle.window_started_at END,
  locked_until = CASE WHEN ` + count + ` > @max THEN @until WHEN ` + fresh + ` THEN NULL ELSE sign_in_throttle.locked_until END,
  updated_at = @now
RETURNING failures`
	args := map[string]any{
		"key": key, "now": now, "window_start": now.Add(-l.Window), "first_lock": firstLock,
		"max": l.Max, "until": until,
	}
	var failures int
	err := s.write(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Raw(q, args).Scan(&failures).Error
	})
	if err != nil {
		return SignInThrottle{}, fmt.Errorf("record sign-in failure: %w", translate(err))
	}
	t := SignInThrottle{Key: key, Failures: failures, UpdatedAt: now}
	if failures > l.Max {
		t.LockedUntil = &until
	}
	return t, nil
}

// DeleteSignInThrottle forgets the failures and any lock of key, as a successful
// sign-in or a completed password reset does.
func (s *Store) DeleteSignInThrottle(ctx context.Context, key string) error {
	err := s.write(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Where(`"key" = ?`, key).Delete(&SignInThrottle{}).Error
	})
	if err != nil {
		return fmt.Errorf("delete sign-in throttle: %w", translate(err))
	}
	return nil
}

// DeleteSignInThrottles forgets the failures and locks of every key that starts
// with prefix, and returns how many it removed: a password reset lifts every
// lock of an account, whichever client address it was locked for.
func (s *Store) DeleteSignInThrottles(ctx context.Context, prefix string) (int64, error) {
	if prefix == "" {
		return 0, fmt.Errorf("delete sign-in throttles: empty prefix")
	}
	var n int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Where(`"key" LIKE ? ESCAPE '\'`, escapeLike(prefix)+"%").Delete(&SignInThrottle{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("delete sign-in throttles: %w", translate(err))
	}
	return n, nil
}

// RateLimit allows Max events of one key within a fixed Window that starts at
// the key's first event (and again at the first event after it ended).
type RateLimit struct {
	Max    int
	Window time.Duration
}

// RateDecision is what TakeRateLimit decided.
type RateDecision struct {
	// Allowed says the event was within the limit, and counted.
	Allowed bool
	// Count is how many events the key's window holds, this one included when
	// it was allowed.
	Count int
	// RetryAt is when the key's window ends and events are allowed again; set
	// only when the event was refused.
	RetryAt time.Time
}

// TakeRateLimit counts one event of key at now if the key has had fewer than
// l.Max in its window, and reports whether it did. A refused event is not
// counted, so refusals never push the window out. Counting is one atomic upsert,
// so instances taking from one key at once never exceed the limit together.
// Keys share the sign-in throttle table (and its sweeping) with their own
// prefixes.
func (s *Store) TakeRateLimit(ctx context.Context, key string, now time.Time, l RateLimit) (RateDecision, error) {
	now = now.UTC()
	if l.Max < 1 {
		l.Max = 1
	}
	const fresh = `sign_in_throttle.window_started_at <= @window_start`
	q := `INSERT INTO sign_in_throttle ("key", failures, window_started_at, locked_until, updated_at)
VALUES (@key, 1, @now, NULL, @now)
ON CONFLICT ("key") DO UPDATE SET
  failures = CASE WHEN ` + fresh + ` THEN 1 ELSE sign_in_throttle.failures + 1 END,
  window_started_at = CASE WHEN ` + fresh + ` THEN @now ELSE sign_in_throttle.window_started_at END,
  updated_at = @now
WHERE ` + fresh + ` OR sign_in_throttle.failures < @max
RETURNING failures`
	args := map[string]any{"key": key, "now": now, "window_start": now.Add(-l.Window), "max": l.Max}
	var counts []int
	err := s.write(ctx, func(ctx context.Context) error {
		counts = counts[:0]
		return s.conn(ctx).Raw(q, args).Scan(&counts).Error
	})
	if err != nil {
		return RateDecision{}, fmt.Errorf("take rate limit: %w", translate(err))
	}
	if len(counts) == 1 {
		return RateDecision{Allowed: true, Count: counts[0]}, nil
	}
	// Refused: the row's window is full. Say when it ends.
	var row SignInThrottle
	err = s.read(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Where(`"key" = ?`, key).Take(&row).Error
	})
	d := RateDecision{RetryAt: now.Add(l.Window)}
	switch {
	case err == nil:
		d.Count, d.RetryAt = row.Failures, row.WindowStartedAt.UTC().Add(l.Window)
	case !errors.Is(translate(err), ErrNotFound):
		return RateDecision{}, fmt.Errorf("take rate limit: %w", translate(err))
	}
	if !d.RetryAt.After(now) {
		d.RetryAt = now.Add(time.Second)
	}
	return d, nil
}

// DeleteExpiredSignInThrottles removes up to limit throttle rows whose window
// ended (started at or before now-window) and that are not locked at now, and
// returns how many it removed; call it until it returns less than limit.
func (s *Store) DeleteExpiredSignInThrottles(ctx context.Context, now time.Time, window time.Duration, limit int) (int64, error) {
	if limit <= 0 {
		limit = 1000
	}
	now = now.UTC()
	var n int64
	err := s.write(ctx, func(ctx context.Context) error {
		sub := s.conn(ctx).Model(&SignInThrottle{}).Select(`"key"`).
			Where("window_started_at <= ? AND (locked_until IS NULL OR locked_until <= ?)", now.Add(-window), now).Limit(limit)
		res := s.conn(ctx).Where(`"key" IN (?)`, sub).Delete(&SignInThrottle{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired sign-in throttles: %w", translate(err))
	}
	return n, nil
}
