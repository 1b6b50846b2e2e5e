package identity

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gatehouse-id/gatehouse/storage"
	"golang.org/x/text/language"
)

// SignUpInput is what a person gives to create an account.
type SignUpInput struct {
	Email, Password, Name string
	// Continue is where the verification link sends the browser that signed
	// up, once it is signed in: the pending authorization. The caller checked
	// it (internal/web allows only this issuer's authorization endpoint); it is
	// carried in the link as it is. Empty: the account page.
	Continue string
}

// Profile holds the OpenID Connect profile claims a user may change.
type Profile struct{ Name, GivenName, FamilyName, Picture, Locale string }

// The profile limits.
const (
	maxNameLen    = 256  // runes, for name, given_name, family_name
	maxPictureLen = 2048 // bytes
)

// SignUp takes what a person typed to create an account, from the client
// address ip ("" when unknown), without telling whether the address is
// registered: a new address gets an account and the e-mail verification link,
// a taken one (in any case or Unicode form) gets a mail telling its owner that
// someone tried, and the answer is the same. Both cost the same work: the
// password is hashed either way.
//
// It returns a ticket, 43 random characters either way, for the browser that
// signed up to keep (a short-lived cookie): VerifyEmail with the link's token
// and this ticket says the person may be signed in.
//
// Refused input gets an *InputError naming every refused field (it unwraps to
// ErrInvalidEmail, a *PasswordError and a *ProfileError for a name too long);
// past the sign-ups per IP, or the mails per address or per IP, a
// *ThrottledError, and nothing is stored or sent. A failure to send the mail is
// logged, not returned: the person can ask for another link (sign in, then the
// account page) or a password reset.
func (s *Service) SignUp(ctx context.Context, in SignUpInput, ip string) (ticket string, err error) {
	ticket, _, err = s.SignUpUser(ctx, in, ip)
	return ticket, err
}

// SignUpUser is SignUp that also returns the user, for the JSON API's answer:
// the new account, or, when the address is registered already, a stand-in
// built the same way (a fresh id, the address and name given, unverified, now),
// so that the answer does not tell the two apart. Only the new account's user
// is stored.
func (s *Service) SignUpUser(ctx context.Context, in SignUpInput, ip string) (ticket string, u storage.User, err error) {
	ticket, u, err = s.signUp(ctx, in, ip)
	if err != nil {
		return "", storage.User{}, err
	}
	return ticket, u, nil
}

func (s *Service) signUp(ctx context.Context, in SignUpInput, ip string) (string, storage.User, error) {
	if err := ValidateSignUp(in); err != nil {
		return "", storage.User{}, err
	}
	email, name := strings.TrimSpace(in.Email), strings.TrimSpace(in.Name)
	now := s.now()
	if err := s.rationSignUp(ctx, now, ip); err != nil {
		return "", storage.User{}, s.rationError("sign up", err)
	}
	if err := s.rationMail(ctx, now, email, ip); err != nil {
		return "", storage.User{}, s.rationError("sign up", err)
	}
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return "", storage.User{}, fmt.Errorf("sign up: %w", err)
	}
	ticket := randomToken()
	u, err := s.store.CreateUser(ctx, storage.User{Email: email, PasswordHash: hash, Name: name})
	switch {
	case errors.Is(err, storage.ErrConflict):
		// Registered already: its owner hears of it, the person here does not.
		owner, err := s.store.GetUserByEmail(ctx, email)
		if err != nil {
			return "", storage.User{}, fmt.Errorf("sign up: %w", err)
		}
		if owner.Disabled {
			s.log.InfoContext(ctx, "sign-up with the address of a disabled user", "user_id", owner.ID)
			return ticket, s.standIn(email, name), nil
		}
		if err := s.sendSignUpNotice(ctx, owner); err != nil {
			s.log.ErrorContext(ctx, "send sign-up notice", "user_id", owner.ID, "error", err.Error())
		}
		return ticket, s.standIn(email, name), nil
	case err != nil:
		return "", storage.User{}, fmt.Errorf("sign up: %w", err)
	}
	s.log.InfoContext(ctx, "user created", "user_id", u.ID)
	if err := s.sendVerification(ctx, u, ticket, in.Continue); err != nil {
		s.log.ErrorContext(ctx, "send verification mail after sign-up", "user_id", u.ID, "error", err.Error())
	}
	return ticket, u, nil
}

// standIn is the user SignUpUser answers for a registered address: shaped
// like a new account, stored nowhere.
func (s *Service) standIn(email, name string) storage.User {
	now := s.now().UTC()
	return storage.User{ID: uuid.NewString(), Email: storage.NormalizeEmail(email), Name: name, CreatedAt: now, UpdatedAt: now}
}

// rationError returns a *ThrottledError as it is and wraps anything else with
// op.
func (s *Service) rationError(op string, err error) error {
	var te *ThrottledError
	if errors.As(err, &te) {
		return err
	}
	return fmt.Errorf("%s: %w", op, err)
}

// CreateUser creates a user with the rules of SignUp but sends no mail; an
// operator (CLI, admin API) uses it, and may mark the e-mail verified. An empty
// password creates the user without one: they cannot sign in until a password is
// set for them or they reset it by mail.
func (s *Service) CreateUser(ctx context.Context, in SignUpInput, emailVerified bool) (storage.User, error) {
	email := strings.TrimSpace(in.Email)
	if err := ValidateEmail(email); err != nil {
		return storage.User{}, err
	}
	hash := ""
	if in.Password != "" {
		if err := validatePasswordFor(in.Password, email); err != nil {
			return storage.User{}, err
		}
		var err error
		if hash, err = s.hash(ctx, in.Password); err != nil {
			return storage.User{}, fmt.Errorf("create user: %w", err)
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
		return storage.User{}, fmt.Errorf("create user: %w", err)
	}
	s.log.InfoContext(ctx, "user created", "user_id", u.ID)
	return u, nil
}

// PasswordChange is what ChangePassword needs.
type PasswordChange struct {
	UserID, Current, Next string
	// IP is the client address ("" when unknown): guesses of the current
	// password are throttled like sign-ins from it.
	IP string
	// KeepSession is the browser session that asks: it stays signed in (the
	// caller may rotate it); every other session of the user ends.
	KeepSession string
}

// ChangePassword replaces the password of a signed-in user who knows the current
// one. A wrong current password gets ErrInvalidCredentials and counts as a failed
// sign-in of the account from c.IP (so a stolen session cannot guess it without
// limit); a locked account or blocked address gets a *ThrottledError; a refused
// new password a *PasswordError. On success, in one transaction with the new
// hash, every other browser session of the user ends and every refresh token,
// access token and unredeemed authorization code issued for the user is revoked
// (whoever knew the old password is out everywhere), and the account's sign-in
// locks are lifted.
func (s *Service) ChangePassword(ctx context.Context, c PasswordChange) error {
	u, err := s.store.GetUser(ctx, c.UserID)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	if err := validatePasswordFor(c.Next, u.Email); err != nil {
		return err
	}
	now := s.now()
	pair, ipk := accountIPKey(accountSubject(u.ID), c.IP), ipKey(c.IP)
	if _, err := s.checkLocks(ctx, now, pair, ipk); err != nil {
		return err
	}
	ok := false
	if u.PasswordHash != "" && len(c.Current) <= maxCheckedBytes {
		ok, _, err = s.checkPassword(ctx, u.PasswordHash, c.Current)
		switch {
		case errors.Is(err, errMalformedHash):
			s.log.ErrorContext(ctx, "unreadable password hash", "user_id", u.ID, "error", err.Error())
			ok = false
		case err != nil:
			return fmt.Errorf("change password: %w", err)
		}
	}
	if !ok {
		return s.recordFailure(ctx, now, pair, ipk)
	}
	hash, err := s.hash(ctx, c.Next)
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	var ended int64
	var revoked storage.RevokedTokens
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.UpdateUserPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		var err error
		if ended, err = s.store.DeleteOtherUserSessions(ctx, u.ID, c.KeepSession); err != nil {
			return err
		}
		if revoked, err = s.store.RevokeSubjectTokens(ctx, u.ID); err != nil {
			return err
		}
		return s.unlockAccount(ctx, u.ID)
	})
	if err != nil {
		return fmt.Errorf("change password: %w", err)
	}
	s.log.InfoContext(ctx, "password changed", "user_id", u.ID, "other_sessions_ended", ended,
		"refresh_tokens_revoked", revoked.RefreshTokens, "access_tokens_revoked", revoked.AccessTokens)
	return nil
}

// SignedOut is what SignOutEverywhere ended.
type SignedOut struct {
	// Sessions counts the browser sessions ended.
	Sessions int64
	// Revoked counts the tokens revoked.
	Revoked storage.RevokedTokens
}

// SignOutEverywhere ends every browser session of the user, the caller's
// included, and revokes every refresh token, access token and unredeemed
// authorization code issued for the user, in one transaction: applications
// signed in as the user must sign in again. The caller clears its cookie.
func (s *Service) SignOutEverywhere(ctx context.Context, userID string) (SignedOut, error) {
	var out SignedOut
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if out.Sessions, err = s.store.DeleteUserSessions(ctx, userID); err != nil {
			return err
		}
		out.Revoked, err = s.store.RevokeSubjectTokens(ctx, userID)
		return err
	})
	if err != nil {
		return SignedOut{}, fmt.Errorf("sign out everywhere: %w", err)
	}
	s.log.InfoContext(ctx, "signed out everywhere", "user_id", userID, "sessions_ended", out.Sessions,
		"refresh_tokens_revoked", out.Revoked.RefreshTokens, "access_tokens_revoked", out.Revoked.AccessTokens)
	return out, nil
}

// SetPassword sets a user's password without the old one (CLI, admin API), with
// the same policy as sign-up, and lifts every sign-in lock of the account.
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
	if err := s.unlockAccount(ctx, u.ID); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	s.log.InfoContext(ctx, "password set", "user_id", u.ID)
	return nil
}

// UpdateProfile replaces the user's profile claims (trimmed) and returns the
// user. Names are at most 256 characters, picture is empty or an https URL, and
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
		// https only: applications show it in their own (https) pages.
		if err != nil || u.Scheme != "https" || u.Host == "" || len(p.Picture) > maxPictureLen {
			return p, &ProfileError{Field: "picture", Reason: "The picture must be a web address starting with https://.", Key: "profile.picture_invalid"}
		}
	}
	if p.Locale != "" {
		tag, err := language.Parse(p.Locale)
		if err != nil || len(p.Locale) > 35 {
			return p, &ProfileError{Field: "locale", Reason: "The locale must be a language tag such as en or pt-BR.", Key: "profile.locale_invalid"}
		}
		p.Locale = tag.String()
	}
	return p, nil
}

func checkName(field, v string) error {
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > maxNameLen {
		return &ProfileError{Field: field, Reason: fmt.Sprintf("Use at most %d characters.", maxNameLen), Key: "profile.name_too_long", Args: map[string]any{"Count": maxNameLen}}
	}
	return nil
}
