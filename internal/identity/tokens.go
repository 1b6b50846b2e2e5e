package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/i18n"
	"github.com/gatehouse-id/gatehouse/storage"
)

// randomToken returns 32 random bytes, base64url without padding (43 characters).
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenHash is what the database keeps of a mailed token.
func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// wellFormed reports whether token could be one randomToken made, so that
// garbage is refused before it reaches the database.
func wellFormed(token string) bool {
	if len(token) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil
}

// link returns BaseURL + path with query (already encoded).
func (s *Service) link(path string, query url.Values) string {
	l := strings.TrimRight(s.base, "/") + path
	if len(query) > 0 {
		l += "?" + query.Encode()
	}
	return l
}

// tokenLink returns BaseURL + path?token=…, then the extra parameters.
func (s *Service) tokenLink(path, token string, extra url.Values) string {
	// The token goes first, so that a link cut short in a mail client keeps it.
	l := s.link(path, url.Values{"token": {token}})
	if len(extra) > 0 {
		l += "&" + extra.Encode()
	}
	return l
}

// SendVerification mails u a link that verifies u's e-mail address; it works once
// and expires after VerifyTTL. Earlier links stay valid until they expire. The
// mail is rationed per address and per client address ip ("" when unknown):
// past either limit it returns a *ThrottledError and sends nothing.
func (s *Service) SendVerification(ctx context.Context, u storage.User, ip string) error {
	if err := s.rationMail(ctx, s.now(), u.Email, ip); err != nil {
		return err
	}
	return s.sendVerification(ctx, u, "", "")
}

// ResendVerification mails a new verification link to the user with the
// e-mail address, if there is one, not verified and not disabled. It is
// rationed like SendVerification, counted alike for every address, registered
// or not, and otherwise answers nil either way, so that the answer does not
// tell whether the address is registered; only a database failure is returned.
func (s *Service) ResendVerification(ctx context.Context, email, ip string) error {
	if err := s.rationMail(ctx, s.now(), email, ip); err != nil {
		return s.rationError("resend verification", err)
	}
	u, err := s.store.GetUserByEmail(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		s.log.InfoContext(ctx, "verification asked for an unknown e-mail")
		return nil
	}
	if err != nil {
		return fmt.Errorf("resend verification: %w", err)
	}
	if u.Disabled || u.EmailVerified {
		s.log.InfoContext(ctx, "verification asked for a disabled or verified user", "user_id", u.ID)
		return nil
	}
	if err := s.sendVerification(ctx, u, "", ""); err != nil {
		s.log.ErrorContext(ctx, "send verification mail", "user_id", u.ID, "error", err.Error())
	}
	return nil
}

// sendVerification mails the link without rationing (the caller did). A
// non-empty ticket binds the link to the browser that signed up; cont is the
// continue URL the link carries.
func (s *Service) sendVerification(ctx context.Context, u storage.User, ticket, cont string) error {
	if s.mail == nil {
		return errors.New("send verification mail: no mail sender configured")
	}
	token := randomToken()
	t := storage.UserToken{UserID: u.ID, Purpose: storage.TokenVerifyEmail, TokenHash: tokenHash(token), ExpiresAt: s.now().Add(s.verifyTTL)}
	if ticket != "" {
		t.BrowserHash = tokenHash(ticket)
	}
	if _, err := s.store.CreateUserToken(ctx, t); err != nil {
		return fmt.Errorf("send verification mail: %w", err)
	}
	var extra url.Values
	if cont != "" {
		extra = url.Values{"continue": {cont}}
	}
	m, err := s.compose(ctx, mailVerifyEmail, u, "mail.verify.action", s.verifyTTL, MailData{
		Link: s.tokenLink("/verify-email", token, extra),
	})
	if err != nil {
		return fmt.Errorf("send verification mail: %w", err)
	}
	if err := s.mail.Send(ctx, m); err != nil {
		return fmt.Errorf("send verification mail: %w", err)
	}
	s.log.InfoContext(ctx, "verification mail sent", "user_id", u.ID)
	return nil
}

// Verified is what VerifyEmail did.
type Verified struct {
	User storage.User
	// SignIn says the link was opened with the ticket SignUp gave the browser
	// that signed up, for this account: the caller may start a session for
	// User (who typed the password in that browser and now proved the
	// mailbox). Never set for a disabled user.
	SignIn bool
}

// VerifyEmail spends a verification token and marks its user's e-mail verified.
// ticket is the one the browser keeps from SignUp ("" when it has none). An
// unknown, used or expired token gets ErrInvalidToken.
func (s *Service) VerifyEmail(ctx context.Context, token, ticket string) (Verified, error) {
	if !wellFormed(token) {
		return Verified{}, ErrInvalidToken
	}
	var v Verified
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		t, err := s.store.ConsumeUserToken(ctx, storage.TokenVerifyEmail, tokenHash(token), s.now())
		if errors.Is(err, storage.ErrNotFound) {
			return ErrInvalidToken
		}
		if err != nil {
			return err
		}
		if err := s.store.UpdateUserEmailVerified(ctx, t.UserID, true); err != nil {
			return err
		}
		if v.User, err = s.store.GetUser(ctx, t.UserID); err != nil {
			return err
		}
		v.SignIn = len(t.BrowserHash) > 0 && wellFormed(ticket) &&
			subtle.ConstantTimeCompare(t.BrowserHash, tokenHash(ticket)) == 1 && !v.User.Disabled
		return nil
	})
	if errors.Is(err, ErrInvalidToken) {
		return Verified{}, ErrInvalidToken
	}
	if err != nil {
		return Verified{}, fmt.Errorf("verify e-mail: %w", err)
	}
	s.log.InfoContext(ctx, "e-mail verified", "user_id", v.User.ID, "in_signup_browser", v.SignIn)
	return v, nil
}

// RequestPasswordReset mails a password reset link to the user with the e-mail
// address, if there is one and it is not disabled. A new link revokes the older
// unused ones. Requests are rationed per address and per client address ip
// ("" when unknown), counted alike for every address, registered or not: past
// either limit it returns a *ThrottledError and sends nothing. Otherwise it
// answers nil either way, so the answer does not tell whether the address is
// registered; only a database failure is returned.
func (s *Service) RequestPasswordReset(ctx context.Context, email, ip string) error {
	return s.RequestPasswordResetContinue(ctx, email, ip, "")
}

// RequestPasswordResetContinue is RequestPasswordReset whose link also carries
// cont, the pending authorization the person was signing in to, so that the
// reset page leads back to it. The caller checked cont (internal/web allows
// only this issuer's authorization endpoint); "" carries nothing.
func (s *Service) RequestPasswordResetContinue(ctx context.Context, email, ip, cont string) error {
	now := s.now()
	if err := s.rationMail(ctx, now, email, ip); err != nil {
		var te *ThrottledError
		if errors.As(err, &te) {
			return err
		}
		return fmt.Errorf("request password reset: %w", err)
	}
	u, err := s.store.GetUserByEmail(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		s.log.InfoContext(ctx, "password reset asked for an unknown e-mail")
		return nil
	}
	if err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	if u.Disabled {
		s.log.InfoContext(ctx, "password reset asked for a disabled user", "user_id", u.ID)
		return nil
	}
	if s.mail == nil {
		s.log.ErrorContext(ctx, "password reset mail not sent: no mail sender configured", "user_id", u.ID)
		return nil
	}
	token := randomToken()
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.store.DeleteUserTokens(ctx, u.ID, storage.TokenResetPassword); err != nil {
			return err
		}
		_, err := s.store.CreateUserToken(ctx, storage.UserToken{
			UserID: u.ID, Purpose: storage.TokenResetPassword, TokenHash: tokenHash(token), ExpiresAt: now.Add(s.resetTTL),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("request password reset: %w", err)
	}
	var extra url.Values
	if cont != "" {
		extra = url.Values{"continue": {cont}}
	}
	m, err := s.compose(ctx, mailResetPassword, u, "mail.reset.action", s.resetTTL, MailData{
		Link: s.tokenLink("/reset-password", token, extra),
	})
	if err == nil {
		err = s.mail.Send(ctx, m)
	}
	if err != nil {
		// Answer as for any address; the operator sees the failure in the log.
		s.log.ErrorContext(ctx, "send password reset mail", "user_id", u.ID, "error", err.Error())
		return nil
	}
	s.log.InfoContext(ctx, "password reset mail sent", "user_id", u.ID)
	return nil
}

// sendSignUpNotice tells the owner of a registered address that someone tried
// to sign up with it, instead of saying so to whoever tried: sign in, or reset
// the password if it is forgotten. The caller rationed it.
func (s *Service) sendSignUpNotice(ctx context.Context, u storage.User) error {
	if s.mail == nil {
		return errors.New("send sign-up notice: no mail sender configured")
	}
	m, err := s.compose(ctx, mailSignUpNotice, u, "mail.notice.action", 0, MailData{
		Link:       s.link("/signin", url.Values{"login_hint": {u.Email}}),
		ForgotLink: s.link("/forgot-password", nil),
	})
	if err != nil {
		return fmt.Errorf("send sign-up notice: %w", err)
	}
	if err := s.mail.Send(ctx, m); err != nil {
		return fmt.Errorf("send sign-up notice: %w", err)
	}
	s.log.InfoContext(ctx, "sign-up notice sent to the owner of the address", "user_id", u.ID)
	return nil
}

// CheckResetToken tells whether a password reset link still works, without
// spending it, and returns the user it resets, so that the reset page can say
// at once that a link is dead rather than after the new password is typed
// twice. An unknown, used or expired token gets ErrInvalidToken; a disabled
// user's ErrDisabled. ResetPassword still decides.
func (s *Service) CheckResetToken(ctx context.Context, token string) (storage.User, error) {
	if !wellFormed(token) {
		return storage.User{}, ErrInvalidToken
	}
	t, err := s.store.FindUserToken(ctx, storage.TokenResetPassword, tokenHash(token), s.now())
	if errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, ErrInvalidToken
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("check reset link: %w", err)
	}
	u, err := s.store.GetUser(ctx, t.UserID)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, ErrInvalidToken
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("check reset link: %w", err)
	}
	if u.Disabled {
		return storage.User{}, ErrDisabled
	}
	return u, nil
}

// ResetPassword spends a reset token and sets the new password. In the same
// transaction it marks the e-mail verified (the link proved the mailbox), ends
// every browser session of the user, revokes every refresh token, access token
// and unredeemed authorization code issued for the user, drops other unused reset
// links and lifts every sign-in lock of the account, for every client address. An unknown, used or expired token gets
// ErrInvalidToken; a refused password a *PasswordError (the token stays usable);
// a disabled user ErrDisabled.
func (s *Service) ResetPassword(ctx context.Context, token, password string) (storage.User, error) {
	if !wellFormed(token) {
		return storage.User{}, ErrInvalidToken
	}
	if err := ValidatePassword(password); err != nil {
		return storage.User{}, err
	}
	hash, err := s.hash(ctx, password) // outside the transaction: it takes a while
	if err != nil {
		return storage.User{}, fmt.Errorf("reset password: %w", err)
	}
	var u storage.User
	var revoked storage.RevokedTokens
	var sessions int64
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		t, err := s.store.ConsumeUserToken(ctx, storage.TokenResetPassword, tokenHash(token), s.now())
		if errors.Is(err, storage.ErrNotFound) {
			return ErrInvalidToken
		}
		if err != nil {
			return err
		}
		if u, err = s.store.GetUser(ctx, t.UserID); err != nil {
			return err
		}
		if u.Disabled {
			return ErrDisabled
		}
		if err := validatePasswordFor(password, u.Email); err != nil {
			return err
		}
		if err := s.store.UpdateUserPassword(ctx, u.ID, hash); err != nil {
			return err
		}
		if err := s.store.UpdateUserEmailVerified(ctx, u.ID, true); err != nil {
			return err
		}
		if sessions, err = s.store.DeleteUserSessions(ctx, u.ID); err != nil {
			return err
		}
		if revoked, err = s.store.RevokeSubjectTokens(ctx, u.ID); err != nil {
			return err
		}
		if _, err := s.store.DeleteUserTokens(ctx, u.ID, storage.TokenResetPassword); err != nil {
			return err
		}
		if err := s.unlockAccount(ctx, u.ID); err != nil {
			return err
		}
		u, err = s.store.GetUser(ctx, u.ID)
		return err
	})
	var pe *PasswordError
	switch {
	case errors.Is(err, ErrInvalidToken), errors.Is(err, ErrDisabled), errors.As(err, &pe):
		return storage.User{}, err
	case err != nil:
		return storage.User{}, fmt.Errorf("reset password: %w", err)
	}
	s.log.InfoContext(ctx, "password reset", "user_id", u.ID, "sessions_ended", sessions,
		"refresh_tokens_revoked", revoked.RefreshTokens, "access_tokens_revoked", revoked.AccessTokens)
	return u, nil
}

// humanDuration writes d in loc's language, as "30 minutes", "48 hours" or
// "1 hour and 30 minutes".
func humanDuration(loc *i18n.Localizer, d time.Duration) string {
	d = d.Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return loc.Text("duration.minutes", "Count", max(m, 1))
	case m == 0:
		return loc.Text("duration.hours", "Count", h)
	}
	return loc.Text("duration.hours_minutes", "Hours", loc.Text("duration.hours", "Count", h), "Minutes", loc.Text("duration.minutes", "Count", m))
}
