package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

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

// link returns BaseURL + path with the token as its query.
func (s *Service) link(path, token string) string {
	return strings.TrimRight(s.base, "/") + path + "?token=" + url.QueryEscape(token)
}

// SendVerification mails u a link that verifies u's e-mail address; it works once
// and expires after VerifyTTL. Earlier links stay valid until they expire.
func (s *Service) SendVerification(ctx context.Context, u storage.User) error {
	if s.mail == nil {
		return errors.New("send verification mail: no mail sender configured")
	}
	token := randomToken()
	_, err := s.store.CreateUserToken(ctx, storage.UserToken{
		UserID: u.ID, Purpose: storage.TokenVerifyEmail, TokenHash: tokenHash(token), ExpiresAt: s.now().Add(s.verifyTTL),
	})
	if err != nil {
		return fmt.Errorf("send verification mail: %w", err)
	}
	m, err := s.compose(u.Email, mailContent{
		Subject:  "Verify your e-mail address",
		Greeting: greeting(u.Name),
		Intro:    "Confirm that this is your e-mail address by opening the link below.",
		Action:   "Verify e-mail address",
		Link:     s.link("/verify-email", token),
		Outro:    fmt.Sprintf("The link works once and expires in %s. If you did not create an account, ignore this message.", humanDuration(s.verifyTTL)),
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

// VerifyEmail spends a verification token and marks its user's e-mail verified.
// An unknown, used or expired token gets ErrInvalidToken.
func (s *Service) VerifyEmail(ctx context.Context, token string) (storage.User, error) {
	if !wellFormed(token) {
		return storage.User{}, ErrInvalidToken
	}
	var u storage.User
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
		u, err = s.store.GetUser(ctx, t.UserID)
		return err
	})
	if errors.Is(err, ErrInvalidToken) {
		return storage.User{}, ErrInvalidToken
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("verify e-mail: %w", err)
	}
	s.log.InfoContext(ctx, "e-mail verified", "user_id", u.ID)
	return u, nil
}

// RequestPasswordReset mails a password reset link to the user with the e-mail
// address, if there is one and it is not disabled. It answers nil either way, so
// the answer does not tell whether the address is registered; only a database
// failure is returned. A new link revokes the older unused ones. Links are
// rationed per account and per client address (the sign-in limits, counted
// apart): past them, no more mail is sent within the window.
func (s *Service) RequestPasswordReset(ctx context.Context, email, ip string) error {
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
	now := s.now()
	if rationed, err := s.resetRationed(ctx, now, u.ID, ip); err != nil {
		return fmt.Errorf("request password reset: %w", err)
	} else if rationed {
		s.log.WarnContext(ctx, "password reset mail not sent: too many requests", "user_id", u.ID)
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
	m, err := s.compose(u.Email, mailContent{
		Subject:  "Reset your password",
		Greeting: greeting(u.Name),
		Intro:    "Someone, hopefully you, asked to reset the password of your account. Open the link below to choose a new one.",
		Action:   "Choose a new password",
		Link:     s.link("/reset-password", token),
		Outro:    fmt.Sprintf("The link works once and expires in %s. If you did not ask for it, ignore this message: your password stays the same.", humanDuration(s.resetTTL)),
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

// resetRationed counts one reset request for the user and for ip, and reports
// whether either is over its limit.
func (s *Service) resetRationed(ctx context.Context, now time.Time, userID, ip string) (bool, error) {
	th, err := s.store.RecordSignInFailure(ctx, "reset:"+userID, now, s.accountLimit)
	if err != nil {
		return false, err
	}
	over := th.LockedUntil != nil
	if k := ipKey(ip); k != "" {
		th, err := s.store.RecordSignInFailure(ctx, "reset-"+k, now, s.ipLimit)
		if err != nil {
			return false, err
		}
		over = over || th.LockedUntil != nil
	}
	return over, nil
}

// ResetPassword spends a reset token and sets the new password. In the same
// transaction it marks the e-mail verified (the link proved the mailbox), ends
// every browser session of the user, revokes every refresh token, access token
// and unredeemed authorization code issued for the user, drops other unused reset
// links and lifts any sign-in lock. An unknown, used or expired token gets
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
		if err := s.store.DeleteSignInThrottle(ctx, accountKey(u.ID)); err != nil {
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

// mailContent is the text of one mail, rendered as plain text and as HTML.
type mailContent struct {
	Subject, Greeting, Intro, Action, Link, Outro string
}

const mailHTMLTemplate = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif; color: #1f2328; line-height: 1.5;">
<p>{{.Greeting}}</p>
<p>{{.Intro}}</p>
<p><a href="{{.Link}}" style="display: inline-block; padding: 10px 16px; background: #1f6feb; color: #ffffff; text-decoration: none; border-radius: 6px;">{{.Action}}</a></p>
<p style="font-size: 14px;">If the button does not work, copy this address into your browser:<br>{{.Link}}</p>
<p style="font-size: 14px; color: #59636e;">{{.Outro}}</p>
</body>
</html>
`

func (s *Service) compose(to string, c mailContent) (Mail, error) {
	var html bytes.Buffer
	if err := s.mailHTML.Execute(&html, c); err != nil {
		return Mail{}, fmt.Errorf("render mail: %w", err)
	}
	text := fmt.Sprintf("%s\n\n%s\n\n%s\n\n%s\n", c.Greeting, c.Intro, c.Link, c.Outro)
	return Mail{To: to, Subject: c.Subject, Text: text, HTML: html.String()}, nil
}

func greeting(name string) string {
	if name = strings.TrimSpace(name); name != "" {
		return "Hello " + name + ","
	}
	return "Hello,"
}

// humanDuration writes d as "30 minutes", "48 hours" or "1 hour 30 minutes".
func humanDuration(d time.Duration) string {
	unit := func(n int, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	d = d.Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case h == 0:
		return unit(max(m, 1), "minute")
	case m == 0:
		return unit(h, "hour")
	}
	return unit(h, "hour") + " " + unit(m, "minute")
}
