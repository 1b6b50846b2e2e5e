package web

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/identity"
)

// ForgotPasswordPage is the forgot-password page's data.
type ForgotPasswordPage struct {
	Layout
	// Sent shows the answer, the same whether or not the address is known.
	Sent       bool
	EmailField Field
}

// ForgotPassword serves GET and POST /forgot-password. The answer never says
// whether the address is registered.
func (p *Pages) ForgotPassword() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := ForgotPasswordPage{
			Layout:     p.layout(r, "Reset your password"),
			EmailField: Field{ID: "email", Label: "E-mail address", Type: "email", Autocomplete: "email", Required: true},
		}
		if r.Method != http.MethodPost {
			p.render(w, r, http.StatusOK, pageForgotPassword, d, renderOptions{})
			return
		}
		email := strings.TrimSpace(r.PostFormValue("email"))
		d.EmailField.Value = email
		if email == "" {
			d.EmailField.Error = "Enter your e-mail address."
			p.render(w, r, http.StatusBadRequest, pageForgotPassword, d, renderOptions{})
			return
		}
		if err := p.identity.RequestPasswordReset(r.Context(), email, clientIP(r)); err != nil {
			// Said nowhere on the page: an error must not tell known
			// addresses from unknown ones.
			p.logFailure(w, r, "request password reset", err)
		}
		d.Sent = true
		p.render(w, r, http.StatusOK, pageForgotPassword, d, renderOptions{})
	})
}

// ResetPasswordPage is the reset-password page's data.
type ResetPasswordPage struct {
	Layout
	Token string
	// Done: the password is changed. Invalid: the token is unknown, used or
	// expired.
	Done, Invalid bool
	Error         string
	PasswordField Field
	ConfirmField  Field
}

// ResetPassword serves GET and POST /reset-password?token=…: a new password
// for the link's user, who is then signed out everywhere.
func (p *Pages) ResetPassword() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := ResetPasswordPage{
			Layout:        p.layout(r, "Choose a new password"),
			PasswordField: Field{ID: "password", Label: "New password", Type: "password", Autocomplete: "new-password", Required: true, Hint: "At least 8 characters."},
			ConfirmField:  Field{ID: "confirm", Label: "Repeat the new password", Type: "password", Autocomplete: "new-password", Required: true},
		}
		if r.Method != http.MethodPost {
			d.Token = r.URL.Query().Get("token")
			status := http.StatusOK
			if d.Token == "" {
				d.Invalid, status = true, http.StatusBadRequest
			}
			p.render(w, r, status, pageResetPassword, d, renderOptions{})
			return
		}
		d.Token = r.PostFormValue("token")
		password, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
		switch {
		case d.Token == "":
			d.Invalid = true
		case password == "":
			d.PasswordField.Error = "Choose a password."
		case password != confirm:
			d.ConfirmField.Error = "The passwords do not match."
		}
		if d.Invalid || d.PasswordField.Error != "" || d.ConfirmField.Error != "" {
			p.render(w, r, http.StatusBadRequest, pageResetPassword, d, renderOptions{})
			return
		}
		_, err := p.identity.ResetPassword(r.Context(), d.Token, password)
		var pe *identity.PasswordError
		var throttled *identity.ThrottledError
		switch {
		case err == nil:
			// Every session ended with the reset; forget this browser's too.
			if err := p.sessions.End(w, r); err != nil {
				p.logFailure(w, r, "reset password: end session", err)
			}
			d.Done, d.Token = true, ""
			p.render(w, r, http.StatusOK, pageResetPassword, d, renderOptions{})
		case errors.As(err, &pe):
			d.PasswordField.Error = pe.Error()
			p.render(w, r, http.StatusBadRequest, pageResetPassword, d, renderOptions{})
		case errors.Is(err, identity.ErrInvalidToken):
			d.Invalid, d.Token = true, ""
			p.render(w, r, http.StatusBadRequest, pageResetPassword, d, renderOptions{})
		case errors.As(err, &throttled):
			d.Error = throttled.Error()
			p.render(w, r, http.StatusTooManyRequests, pageResetPassword, d, renderOptions{})
		default:
			p.serverError(w, r, "reset password", err)
		}
	})
}

// VerifyEmailPage is the data of the page an e-mail verification link opens.
type VerifyEmailPage struct {
	Layout
	Verified bool
	Email    string
}

// VerifyEmail serves GET /verify-email?token=….
func (p *Pages) VerifyEmail() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := r.URL.Query().Get("token")
		if token == "" {
			p.render(w, r, http.StatusBadRequest, pageVerifyEmail, VerifyEmailPage{Layout: p.layout(r, "This link does not work")}, renderOptions{})
			return
		}
		u, err := p.identity.VerifyEmail(r.Context(), token)
		switch {
		case err == nil:
			p.render(w, r, http.StatusOK, pageVerifyEmail, VerifyEmailPage{Layout: p.layout(r, "E-mail verified"), Verified: true, Email: u.Email}, renderOptions{})
		case errors.Is(err, identity.ErrInvalidToken):
			p.render(w, r, http.StatusBadRequest, pageVerifyEmail, VerifyEmailPage{Layout: p.layout(r, "This link does not work")}, renderOptions{})
		default:
			p.serverError(w, r, "verify email", err)
		}
	})
}

// retryAfter is a Retry-After value in whole seconds, rounded up.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}
