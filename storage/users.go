package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail returns the form e-mail addresses are stored and compared in:
// trimmed, in Unicode NFKC and lower case, so that uniqueness ignores case and
// the look-alike forms NFKC folds (full-width "ａｄａ", ligatures such as "ﬁ",
// composed and decomposed accents) are one address. NFKC comes before lower
// casing, because compatibility characters can decompose into capitals (ℌ, ᴬ),
// and once more after it, so that NormalizeEmail(NormalizeEmail(e)) ==
// NormalizeEmail(e).
func NormalizeEmail(email string) string {
	return norm.NFKC.String(strings.ToLower(norm.NFKC.String(strings.TrimSpace(email))))
}

// CreateUser stores u. It sets ID (when empty) and the timestamps, normalises the
// e-mail, and returns ErrConflict when the e-mail is taken.
func (s *Store) CreateUser(ctx context.Context, u User) (User, error) {
	if u.ID == "" {
		u.ID = uuid.NewString()
	}
	u.Email = NormalizeEmail(u.Email)
	u.LockedUntil = utcPtr(u.LockedUntil)
	now := time.Now().UTC()
	u.CreatedAt, u.UpdatedAt = now, now
	if err := s.write(ctx, func(ctx context.Context) error { return s.conn(ctx).Omit("webauthn_handle").Create(&u).Error }); err != nil {
		return User{}, fmt.Errorf("create user: %w", translate(err))
	}
	return u, nil
}

// GetUser returns the user with id, or ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (User, error) {
	if uuid.Validate(id) != nil {
		return User{}, fmt.Errorf("get user %q: %w", id, ErrNotFound)
	}
	var u User
	err := s.read(ctx, func(ctx context.Context) error { return s.conn(ctx).Where("id = ?", id).Take(&u).Error })
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", id, translate(err))
	}
	return u, nil
}

// GetUserByEmail returns the user with the e-mail (any case), or ErrNotFound.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (User, error) {
	if !validKey(email) {
		return User{}, fmt.Errorf("get user by email: %w", ErrNotFound)
	}
	var u User
	err := s.read(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Where("email = ?", NormalizeEmail(email)).Take(&u).Error
	})
	if err != nil {
		return User{}, fmt.Errorf("get user by email: %w", translate(err))
	}
	return u, nil
}

// UpdateUser saves every field of u and bumps UpdatedAt. It returns ErrNotFound
// when no user has u.ID and ErrConflict when the new e-mail is taken.
func (s *Store) UpdateUser(ctx context.Context, u User) (User, error) {
	if uuid.Validate(u.ID) != nil {
		return User{}, fmt.Errorf("update user %q: %w", u.ID, ErrNotFound)
	}
	u.Email = NormalizeEmail(u.Email)
	u.LockedUntil = utcPtr(u.LockedUntil)
	u.UpdatedAt = time.Now().UTC()
	var rows int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Model(&User{}).Where("id = ?", u.ID).Select("*").Omit("id", "created_at", "webauthn_handle").Updates(&u)
		rows = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return User{}, fmt.Errorf("update user %s: %w", u.ID, translate(err))
	}
	if rows == 0 {
		return User{}, fmt.Errorf("update user %s: %w", u.ID, ErrNotFound)
	}
	return s.GetUser(ctx, u.ID)
}

// DeleteUser removes the user with id and, by cascade, their sessions and accounts.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	if uuid.Validate(id) != nil {
		return fmt.Errorf("delete user %q: %w", id, ErrNotFound)
	}
	var rows int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Where("id = ?", id).Delete(&User{})
		rows = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", id, translate(err))
	}
	if rows == 0 {
		return fmt.Errorf("delete user %s: %w", id, ErrNotFound)
	}
	return nil
}

// ListUsersOptions pages and filters ListUsers.
type ListUsersOptions struct {
	// EmailPrefix keeps users whose e-mail starts with it (any case).
	EmailPrefix string
	// After is the e-mail of the last user of the previous page.
	After string
	// Limit is the page size; zero means 100.
	Limit int
}

// ListUsers returns users ordered by e-mail.
func (s *Store) ListUsers(ctx context.Context, o ListUsersOptions) ([]User, error) {
	if o.Limit <= 0 || o.Limit > 1000 {
		o.Limit = 100
	}
	var out []User
	err := s.read(ctx, func(ctx context.Context) error {
		out = out[:0]
		if !validKey(o.EmailPrefix) || !validKey(o.After) {
			return nil // no stored e-mail matches
		}
		q := s.conn(ctx).Order("email").Limit(o.Limit)
		if o.EmailPrefix != "" {
			q = q.Where("email LIKE ? ESCAPE '\\'", escapeLike(NormalizeEmail(o.EmailPrefix))+"%")
		}
		if o.After != "" {
			q = q.Where("email > ?", NormalizeEmail(o.After))
		}
		return q.Find(&out).Error
	})
	if err != nil {
		return nil, fmt.Errorf("list users: %w", translate(err))
	}
	return out, nil
}

// utcPtr returns a copy of *t in UTC: SQLite stores times as text, which compares
// correctly only in one zone.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
