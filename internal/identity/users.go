package identity

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/storage"
	"golang.org/x/text/language"
)

// SignUpInput is what a person gives to create an account.
type SignUpInput struct{ Email, Password, Name string }

// Profile holds the OpenID Connect profile claims a user may change.
type Profile struct{ Name, GivenName, FamilyName, Picture, Locale string }

// The profile limits.
const (
	maxNameLen    = 256  // runes, for name, given_name, family_name
	maxPictureLen = 2048 // bytes
)

// SignUp creates a user from what a person typed and mails the e-mail
// verification link. It returns ErrInvalidEmail, a *PasswordError, a
// *ProfileError (name too long) or ErrEmailTaken (in any case). A failure to send
// the mail is logged, not returned: the account exists and the person can ask for
// another link.
func (s *Service) SignUp(ctx context.Context, in SignUpInput) (storage.User, error) {
	u, err := s.createUser(ctx, in, false, true)
	if err != nil {
		return storage.User{}, err
	}
	if err := s.SendVerification(ctx, u); err != nil {
		s.log.ErrorContext(ctx, "send verification mail after sign-up", "user_id", u.ID, "error", err.Error())
	}
	return u, nil
}

// CreateUser creates a user with the rules of SignUp but sends no mail; an
// operator (CLI, admin API) uses it, and may mark the e-mail verified. An empty
// password creates the user without one: they cannot sign in until a password is
// set for them or they reset it by mail.
func (s *Service) CreateUser(ctx context.Context, in SignUpInput, emailVerified bool) (storage.User, error) {
	return s.createUser(ctx, in, emailVerified, false)
}

func (s *Service) createUser(ctx context.Context, in SignUpInput, emailVerified, passwordRequired bool) (storage.User, error) {
	email := strings.TrimSpace(in.Email)
	if err := ValidateEmail(email); err != nil {
		return storage.User{}, err
	}
	hash := ""
	if in.Password != "" || passwordRequired {
		if err := validatePasswordFor(in.Password, email); err != nil {
			return storage.User{}, err
		}
		var err error
		if hash, err = s.hash(ctx, in.Password); err != nil {
			return storage.User{}, fmt.Errorf("sign up: %w", err)
		}
	}
	name := strings.TrimSpace(in.Name)
	if err := checkName("name", name); err != nil {
		return storage.User{}, err
	}
	u, err := s.store.CreateUser(ctx, storage.User{
		Email: email, EmailVerified: emailVerified, PasswordHash: hash, Name: name,
	})
	if errors.Is(err, storage.ErrConflict) {
		return storage.User{}, ErrEmailTaken
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("sign up: %w", err)
	}
	s.log.InfoContext(ctx, "user created", "user_id", u.ID)
	return u, nil
}

// ChangePassword replaces the password of a signed-in user who knows the current
// one. A wrong current password gets ErrInvalidCredentials and counts as a failed
// sign-in of the account (so a stolen session cannot guess it without limit); a
// locked account gets a *ThrottledError; a refused new one a *PasswordError.
// Sessions and tokens are left alone: the caller decides which to end.
func (s *Service) ChangePassword(ctx context.Context, userID, current, next string) error {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := validatePasswordFor(next, u.Email); err != nil {
		return err
	}
	now := s.now()
	acct := accountKey(u.ID)
	if err := s.checkLock(ctx, now, acct, ""); err != nil {
		return err
	}
	ok := false
	if u.PasswordHash != "" && len(current) <= maxCheckedBytes {
		ok, _, err = s.checkPassword(ctx, u.PasswordHash, current)
		switch {
		case errors.Is(err, errMalformedHash):
			s.log.ErrorContext(ctx, "unreadable password hash", "user_id", u.ID, "error", err.Error())
			ok = false
		case err != nil:
			return fmt.Errorf("change password: %w", err)
		}
	}
	if !ok {
		return s.recordFailure(ctx, now, acct, "")
	}
	hash, err := s.hash(ctx, next)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := s.store.UpdateUserPassword(ctx, u.ID, hash); err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := s.store.DeleteSignInThrottle(ctx, acct); err != nil {
		s.log.WarnContext(ctx, "clear sign-in failures", "user_id", u.ID, "error", err.Error())
	}
	s.log.InfoContext(ctx, "password changed", "user_id", u.ID)
	return nil
}

// SetPassword sets a user's password without the old one (CLI, admin API), with
// the same policy as sign-up, and lifts any sign-in lock of the account.
func (s *Service) SetPassword(ctx context.Context, userID, password string) error {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := validatePasswordFor(password, u.Email); err != nil {
		return err
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := s.store.UpdateUserPassword(ctx, u.ID, hash); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if err := s.store.DeleteSignInThrottle(ctx, accountKey(u.ID)); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	s.log.InfoContext(ctx, "password set", "user_id", u.ID)
	return nil
}

// UpdateProfile replaces the user's profile claims (trimmed) and returns the
// user. Names are at most 256 characters, picture is empty or an http(s) URL, and
// locale is empty or a BCP 47 language tag (stored in its canonical form); a
// refused field gets a *ProfileError.
func (s *Service) UpdateProfile(ctx context.Context, userID string, p Profile) (storage.User, error) {
	p, err := cleanProfile(p)
	if err != nil {
		return storage.User{}, err
	}
	u, err := s.store.UpdateUserProfile(ctx, userID, storage.UserProfile{
		Name: p.Name, GivenName: p.GivenName, FamilyName: p.FamilyName, Picture: p.Picture, Locale: p.Locale,
	})
	if err != nil {
		return storage.User{}, fmt.Errorf("update profile: %w", err)
	}
	return u, nil
}

func cleanProfile(p Profile) (Profile, error) {
	p.Name, p.GivenName, p.FamilyName = strings.TrimSpace(p.Name), strings.TrimSpace(p.GivenName), strings.TrimSpace(p.FamilyName)
	p.Picture, p.Locale = strings.TrimSpace(p.Picture), strings.TrimSpace(p.Locale)
	for _, f := range []struct{ field, v string }{{"name", p.Name}, {"given_name", p.GivenName}, {"family_name", p.FamilyName}} {
		if err := checkName(f.field, f.v); err != nil {
			return p, err
		}
	}
	if p.Picture != "" {
		u, err := url.Parse(p.Picture)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(p.Picture) > maxPictureLen {
			return p, &ProfileError{Field: "picture", Reason: "The picture must be a web address starting with https://."}
		}
	}
	if p.Locale != "" {
		tag, err := language.Parse(p.Locale)
		if err != nil || len(p.Locale) > 35 {
			return p, &ProfileError{Field: "locale", Reason: "The locale must be a language tag such as en or pt-BR."}
		}
		p.Locale = tag.String()
	}
	return p, nil
}

func checkName(field, v string) error {
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxNameLen {
		return &ProfileError{Field: field, Reason: fmt.Sprintf("Use at most %d characters.", maxNameLen)}
	}
	return nil
}
