package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// This file holds what an operator does to users, through `gatehouse users …`
// and the admin API alike, so that the two cannot disagree.

// Page sizes of ListUsers.
const (
	DefaultPageSize = 100
	MaxPageSize     = 500
)

// ListOptions pages and filters ListUsers.
type ListOptions struct {
	// EmailPrefix keeps users whose e-mail starts with it (any case).
	EmailPrefix string
	// After is the Next of the previous page; empty starts at the beginning.
	After string
	// Limit is the page size: DefaultPageSize when zero, at most MaxPageSize.
	Limit int
}

// UserPage is one page of users in e-mail order. Next is empty on the last page.
type UserPage struct {
	Users []storage.User
	Next  string
}

// ListUsers returns one page of users in e-mail order.
func (s *Service) ListUsers(ctx context.Context, o ListOptions) (UserPage, error) {
	limit := o.Limit
	switch {
	case limit <= 0:
		limit = DefaultPageSize
	case limit > MaxPageSize:
		limit = MaxPageSize
	}
	// One more than asked tells whether another page follows.
	us, err := s.store.ListUsers(ctx, storage.ListUsersOptions{EmailPrefix: o.EmailPrefix, After: o.After, Limit: limit + 1})
	if err != nil {
		return UserPage{}, fmt.Errorf("list users: %w", err)
	}
	p := UserPage{Users: us}
	if len(us) > limit {
		p.Users, p.Next = us[:limit], us[limit-1].Email
	}
	return p, nil
}

// GetUser returns the user with id; the error wraps storage.ErrNotFound when
// there is none.
func (s *Service) GetUser(ctx context.Context, id string) (storage.User, error) {
	u, err := s.store.GetUser(ctx, id)
	if err != nil {
		return storage.User{}, fmt.Errorf("user %s: %w", id, err)
	}
	return u, nil
}

// FindUser looks a user up by e-mail address (when ref has an @, in any case) or
// by id; the error wraps storage.ErrNotFound when there is none.
func (s *Service) FindUser(ctx context.Context, ref string) (storage.User, error) {
	if !strings.Contains(ref, "@") {
		return s.GetUser(ctx, ref)
	}
	u, err := s.store.GetUserByEmail(ctx, ref)
	if err != nil {
		return storage.User{}, fmt.Errorf("user %s: %w", ref, err)
	}
	return u, nil
}

// UserChanges names the fields UpdateUser changes; nil fields keep their values.
type UserChanges struct {
	Name, GivenName, FamilyName, Picture, Locale *string
	// Email changes the address; the new one is unverified unless EmailVerified
	// is true too.
	Email *string
	// EmailVerified marks the (new or current) address verified or not.
	EmailVerified *bool
}

// Empty reports whether ch changes nothing.
func (ch UserChanges) Empty() bool {
	return ch.Name == nil && ch.GivenName == nil && ch.FamilyName == nil && ch.Picture == nil &&
		ch.Locale == nil && ch.Email == nil && ch.EmailVerified == nil
}

// UpdateUser applies ch to the user with id, in one transaction, and returns the
// user. Profile fields follow UpdateProfile (a refused one gets a *ProfileError);
// an invalid e-mail gets ErrInvalidEmail and one another user has ErrEmailTaken.
// A new e-mail address invalidates the verification links mailed to the old one.
func (s *Service) UpdateUser(ctx context.Context, id string, ch UserChanges) (storage.User, error) {
	if ch.Email != nil {
		if err := ValidateEmail(strings.TrimSpace(*ch.Email)); err != nil {
			return storage.User{}, err
		}
	}
	var u storage.User
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if u, err = s.GetUser(ctx, id); err != nil {
			return err
		}
		if ch.Name != nil || ch.GivenName != nil || ch.FamilyName != nil || ch.Picture != nil || ch.Locale != nil {
			p := Profile{Name: u.Name, GivenName: u.GivenName, FamilyName: u.FamilyName, Picture: u.Picture, Locale: u.Locale}
			for _, f := range []struct{ dst, src *string }{
				{&p.Name, ch.Name}, {&p.GivenName, ch.GivenName}, {&p.FamilyName, ch.FamilyName},
				{&p.Picture, ch.Picture}, {&p.Locale, ch.Locale},
			} {
				if f.src != nil {
					*f.dst = *f.src
				}
			}
			if u, err = s.UpdateProfile(ctx, u.ID, p); err != nil {
				return err
			}
		}
		switch {
		case ch.Email != nil && storage.NormalizeEmail(*ch.Email) != u.Email:
			verified := ch.EmailVerified != nil && *ch.EmailVerified
			u, err = s.store.UpdateUserEmail(ctx, u.ID, strings.TrimSpace(*ch.Email), verified)
			if errors.Is(err, storage.ErrConflict) {
				return ErrEmailTaken
			}
		case ch.EmailVerified != nil:
			if err = s.store.UpdateUserEmailVerified(ctx, u.ID, *ch.EmailVerified); err == nil {
				u, err = s.store.GetUser(ctx, u.ID)
			}
		}
		return err
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("update user %s: %w", id, err)
	}
	s.log.InfoContext(ctx, "user updated", "user_id", u.ID)
	return u, nil
}

// Disabled is what SetDisabled did.
type Disabled struct {
	User storage.User
	// Sessions counts the browser sessions ended.
	Sessions int64
	// Revoked counts the tokens revoked.
	Revoked storage.RevokedTokens
}

// SetDisabled disables (disable true) or enables the user with id. Disabling
// also ends the user's browser sessions and revokes every token issued for them,
// in one transaction, so that access stops now rather than when tokens expire.
func (s *Service) SetDisabled(ctx context.Context, id string, disable bool) (Disabled, error) {
	var d Disabled
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		d = Disabled{}
		if err := s.store.UpdateUserDisabled(ctx, id, disable); err != nil {
			return err
		}
		if !disable {
			return nil
		}
		var err error
		if d.Sessions, err = s.store.DeleteUserSessions(ctx, id); err != nil {
			return err
		}
		d.Revoked, err = s.store.RevokeSubjectTokens(ctx, id)
		return err
	})
	if err != nil {
		return Disabled{}, fmt.Errorf("set disabled of user %s: %w", id, err)
	}
	if d.User, err = s.GetUser(ctx, id); err != nil {
		return Disabled{}, err
	}
	if disable {
		s.log.InfoContext(ctx, "user disabled", "user_id", id, "sessions_ended", d.Sessions,
			"refresh_tokens_revoked", d.Revoked.RefreshTokens, "access_tokens_revoked", d.Revoked.AccessTokens)
	} else {
		s.log.InfoContext(ctx, "user enabled", "user_id", id)
	}
	return d, nil
}

// DeleteUser deletes the user with id, their sessions and application links, and
// revokes their tokens, in one transaction.
func (s *Service) DeleteUser(ctx context.Context, id string) error {
	// Tokens name the user as their subject without a foreign key, so they are
	// revoked explicitly; sessions and accounts go by cascade.
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.store.GetUser(ctx, id); err != nil {
			return err
		}
		if _, err := s.store.RevokeSubjectTokens(ctx, id); err != nil {
			return err
		}
		return s.store.DeleteUser(ctx, id)
	})
	if err != nil {
		return fmt.Errorf("delete user %s: %w", id, err)
	}
	s.log.InfoContext(ctx, "user deleted", "user_id", id)
	return nil
}

// ListSessions returns the unexpired browser sessions of the user with id,
// newest first; the error wraps storage.ErrNotFound when there is no such user.
func (s *Service) ListSessions(ctx context.Context, id string) ([]storage.BrowserSession, error) {
	if _, err := s.GetUser(ctx, id); err != nil {
		return nil, err
	}
	ss, err := s.store.ListUserSessions(ctx, id, s.now())
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %s: %w", id, err)
	}
	return ss, nil
}

// EndSessions ends every browser session of the user with id and returns how
// many ended. Tokens already issued stay valid: disable the user to stop those.
func (s *Service) EndSessions(ctx context.Context, id string) (int64, error) {
	if _, err := s.GetUser(ctx, id); err != nil {
		return 0, err
	}
	n, err := s.store.DeleteUserSessions(ctx, id)
	if err != nil {
		return 0, fmt.Errorf("end sessions of user %s: %w", id, err)
	}
	s.log.InfoContext(ctx, "user sessions ended", "user_id", id, "count", n)
	return n, nil
}

// EndOtherSessions ends every browser session of the user with id but keepID
// and returns how many ended.
func (s *Service) EndOtherSessions(ctx context.Context, id, keepID string) (int64, error) {
	if _, err := s.GetUser(ctx, id); err != nil {
		return 0, err
	}
	n, err := s.store.DeleteOtherUserSessions(ctx, id, keepID)
	if err != nil {
		return 0, fmt.Errorf("end other sessions of user %s: %w", id, err)
	}
	s.log.InfoContext(ctx, "other user sessions ended", "user_id", id, "count", n)
	return n, nil
}

// EndSession ends one browser session of the user with id. The error wraps
// storage.ErrNotFound when the user has no such unexpired session.
func (s *Service) EndSession(ctx context.Context, id, sessionID string) error {
	ss, err := s.ListSessions(ctx, id)
	if err != nil {
		return err
	}
	if !slices.ContainsFunc(ss, func(bs storage.BrowserSession) bool { return bs.ID == sessionID }) {
		return fmt.Errorf("session %s of user %s: %w", sessionID, id, storage.ErrNotFound)
	}
	if err := s.store.DeleteSession(ctx, sessionID); err != nil {
		return fmt.Errorf("end session %s of user %s: %w", sessionID, id, err)
	}
	s.log.InfoContext(ctx, "user session ended", "user_id", id, "session_id", sessionID)
	return nil
}

// ListAccounts returns the applications the user with id is connected to (links
// not revoked), most recently used first; the error wraps storage.ErrNotFound when
// there is no such user.
func (s *Service) ListAccounts(ctx context.Context, id string) ([]storage.Account, error) {
	if _, err := s.GetUser(ctx, id); err != nil {
		return nil, err
	}
	as, err := s.store.ListAccounts(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("list accounts of user %s: %w", id, err)
	}
	return as, nil
}

// RevokeAccount disconnects the application clientID from the user with id: the
// link is revoked, its remembered consent forgotten and every token the client
// holds for the user revoked, in one transaction. The error wraps
// storage.ErrNotFound when there is no live link.
func (s *Service) RevokeAccount(ctx context.Context, id, clientID string) (storage.RevokedTokens, error) {
	var n storage.RevokedTokens
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.RevokeAccount(ctx, id, clientID, s.now()); err != nil {
			return err
		}
		var err error
		n, err = s.store.RevokeClientTokensForSubject(ctx, id, clientID)
		return err
	})
	if err != nil {
		return storage.RevokedTokens{}, fmt.Errorf("revoke account of %s for user %s: %w", clientID, id, err)
	}
	s.log.InfoContext(ctx, "account revoked", "user_id", id, "client_id", clientID,
		"refresh_tokens_revoked", n.RefreshTokens, "access_tokens_revoked", n.AccessTokens)
	return n, nil
}

// View is a user as operators and scripts see it (CLI JSON output, admin API):
// never the password hash or the lockout counters.
type View struct {
	ID            string    `json:"id"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	Name          string    `json:"name,omitempty"`
	GivenName     string    `json:"given_name,omitempty"`
	FamilyName    string    `json:"family_name,omitempty"`
	Picture       string    `json:"picture,omitempty"`
	Locale        string    `json:"locale,omitempty"`
	HasPassword   bool      `json:"has_password"`
	Disabled      bool      `json:"disabled"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// ViewOf returns the View of a stored user.
func ViewOf(u storage.User) View {
	return View{
		ID: u.ID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, GivenName: u.GivenName,
		FamilyName: u.FamilyName, Picture: u.Picture, Locale: u.Locale, HasPassword: u.PasswordHash != "",
		Disabled: u.Disabled, CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
	}
}
