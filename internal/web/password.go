package web

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/clientip"
	"github.com/gatehouse-id/gatehouse/internal/identity"
)

// ForgotPasswordPage is the forgot-password page's data.
type ForgotPasswordPage struct {
	Layout
	// Sent shows the answer, the same whether or not the address is known.
	Sent bool
	// Error says the request was refused (too many mails asked for).
	Error      string
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
		err := p.identity.RequestPasswordReset(r.Context(), email, clientip.FromRequest(r))
		var throttled *identity.ThrottledError
		switch {
		case errors.As(err, &throttled):
			// Counted alike for every address: this answer tells nothing
			// about which are registered.
			w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
			d.Error = throttled.Error()
			p.render(w, r, http.StatusTooManyRequests, pageForgotPassword, d, renderOptions{})
			return
		case err != nil:
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
	// SignedIn: this browser has a session (it offers the account page rather
	// than signing in).
	SignedIn bool
}

// VerifyEmail serves GET /verify-email?token=…[&continue=…]. Opened in the
// browser that signed up (its ticket cookie matches the link), it signs the
// person in and continues to the pending authorization (or the account page);
// anywhere else it says the address is verified and offers to sign in.
func (p *Pages) VerifyEmail() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		token := q.Get("token")
		if token == "" {
			p.render(w, r, http.StatusBadRequest, pageVerifyEmail, VerifyEmailPage{Layout: p.layout(r, "This link does not work")}, renderOptions{})
			return
		}
		ticket := ""
		if c, err := r.Cookie(p.ticketCookie); err == nil {
			ticket = c.Value
		}
		v, err := p.identity.VerifyEmail(r.Context(), token, ticket)
		switch {
		case errors.Is(err, identity.ErrInvalidToken):
			p.render(w, r, http.StatusBadRequest, pageVerifyEmail, VerifyEmailPage{Layout: p.layout(r, "This link does not work")}, renderOptions{})
			return
		case err != nil:
			p.serverError(w, r, "verify email", err)
			return
		}
		if v.SignIn {
			// The password was typed in this browser at sign-up; the link
			// proved the mailbox. The ticket has done its work.
			http.SetCookie(w, p.ticketCookieFor(""))
			if _, err := p.sessions.Issue(w, r, v.User.ID, []string{"pwd"}, p.now()); err != nil {
				p.serverError(w, r, "verify email: issue session", err)
				return
			}
			http.Redirect(w, r, p.redirectTarget(q.Get("continue")), http.StatusSeeOther)
			return
		}
		d := VerifyEmailPage{Layout: p.layout(r, "E-mail verified"), Verified: true, Email: v.User.Email}
		if bs, _, err := p.currentUser(r); err == nil && bs != nil {
			d.SignedIn = true
		}
		p.render(w, r, http.StatusOK, pageVerifyEmail, d, renderOptions{})
	})
}

// retryAfter is a Retry-After value in whole seconds, rounded up.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}
