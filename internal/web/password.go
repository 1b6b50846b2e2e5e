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
	// Continue is the pending authorization: the mailed link carries it.
	Continue   string
	EmailField Field
	// SignInURL leads back to sign in, to the pending authorization.
	SignInURL string
	// LinkMinutes is how long the mailed link works, in minutes.
	LinkMinutes int
}

// resetLinkMinutes is how long identity's reset links work by default; the
// forgot-password answer says so.
const resetLinkMinutes = 30

// ForgotPassword serves GET and POST /forgot-password[?email=…&continue=…].
// The answer never says whether the address is registered. The mailed link
// carries the pending authorization, so that the reset ends back in it.
func (p *Pages) ForgotPassword() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := p.layout(r, "forgot.title")
		d := ForgotPasswordPage{
			Layout:      l,
			EmailField:  l.field(Field{ID: "email", Label: l.text("field.email"), Type: "email", Autocomplete: "username", Required: true}),
			LinkMinutes: resetLinkMinutes,
		}
		if r.Method != http.MethodPost {
			q := r.URL.Query()
			d.Continue = p.continueTarget(q.Get("continue"))
			d.EmailField.Value = strings.TrimSpace(q.Get("email"))
			d.SignInURL = pageURL("/signin", "continue", d.Continue, "login_hint", d.EmailField.Value)
			p.render(w, r, http.StatusOK, pageForgotPassword, d, renderOptions{})
			return
		}
		email := strings.TrimSpace(r.PostFormValue("email"))
		d.Continue = p.continueTarget(r.PostFormValue("continue"))
		d.EmailField.Value = email
		d.SignInURL = pageURL("/signin", "continue", d.Continue, "login_hint", email)
		switch {
		case email == "":
			d.EmailField.Error = d.text(msgEnterEmail)
		case identity.ValidateEmail(email) != nil:
			// No account can have it, so saying so tells nothing.
			d.EmailField.Error = d.text(msgInvalidEmail)
		}
		if d.EmailField.Error != "" {
			d.summarize("", &d.EmailField)
			p.render(w, r, http.StatusBadRequest, pageForgotPassword, d, renderOptions{})
			return
		}
		cont := d.Continue
		if cont == accountPath {
			cont = ""
		}
		err := p.identity.RequestPasswordResetContinue(r.Context(), email, clientip.FromRequest(r), cont)
		var throttled *identity.ThrottledError
		switch {
		case errors.As(err, &throttled):
			// Counted alike for every address: this answer tells nothing
			// about which are registered.
			w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
			d.summarize(d.errorText(err, "error.heading.too_many"), &d.EmailField)
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
	// Email is the account's address, in the hidden username field that
	// lets password managers file the new password under it.
	Email string
	// Continue is the pending authorization the link carries.
	Continue string
	// ClientName is the application it is for, when known.
	ClientName string
	// Done: the password is changed. Invalid: the link is unknown, used or
	// expired. Disabled: the account is disabled.
	Done, Invalid, Disabled bool
	PasswordField           Field
	ConfirmField            Field
	// SignInURL (after the change) and ForgotURL (for a new link) carry the
	// pending authorization.
	SignInURL, ForgotURL string
}

// ResetPassword serves GET and POST /reset-password?token=…[&continue=…]: a
// new password for the link's user, who is then signed out everywhere and
// asked to sign in, back to the pending authorization. A link that no longer
// works says so at once, before any password is typed.
func (p *Pages) ResetPassword() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := p.layout(r, "reset.title")
		d := ResetPasswordPage{
			Layout: l,
			PasswordField: l.field(Field{ID: "password", Label: l.text("field.new_password"), Type: "password", Autocomplete: "new-password", Required: true,
				Hint: l.text("field.new_password_hint", "Count", identity.MinPasswordLen)}),
			ConfirmField: l.field(Field{ID: "confirm", Label: l.text("field.confirm_new_password"), Type: "password", Autocomplete: "new-password", Required: true}),
		}
		get := r.Method != http.MethodPost
		if get {
			d.Token, d.Continue = r.URL.Query().Get("token"), p.continueTarget(r.URL.Query().Get("continue"))
		} else {
			d.Token, d.Continue = r.PostFormValue("token"), p.continueTarget(r.PostFormValue("continue"))
		}
		if c, ok := p.clientForContinue(r.Context(), d.Continue); ok {
			d.ClientName = labelOf(l.loc, c)
		}
		d.ForgotURL = pageURL("/forgot-password", "continue", d.Continue)
		u, err := p.identity.CheckResetToken(r.Context(), d.Token)
		switch {
		case errors.Is(err, identity.ErrInvalidToken):
			d.dead()
			p.render(w, r, http.StatusBadRequest, pageResetPassword, d, renderOptions{})
			return
		case errors.Is(err, identity.ErrDisabled):
			d.disabled()
			p.render(w, r, http.StatusForbidden, pageResetPassword, d, renderOptions{})
			return
		case err != nil:
			p.serverError(w, r, "check reset link", err)
			return
		}
		d.Email = u.Email
		if get {
			p.render(w, r, http.StatusOK, pageResetPassword, d, renderOptions{})
			return
		}
		password, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
		var pe *identity.PasswordError
		switch err := identity.ValidatePassword(password); {
		case password == "":
			d.PasswordField.Error = d.text(msgChoosePassword)
		case errors.As(err, &pe):
			d.PasswordField.Error = d.errorText(pe, msgChoosePassword)
		}
		if password != "" && password != confirm {
			d.ConfirmField.Error = d.text(msgMismatch)
		}
		if d.PasswordField.Error != "" || d.ConfirmField.Error != "" {
			d.fail(password, confirm, "")
			p.render(w, r, http.StatusBadRequest, pageResetPassword, d, renderOptions{})
			return
		}
		_, err = p.identity.ResetPassword(r.Context(), d.Token, password)
		var throttled *identity.ThrottledError
		switch {
		case err == nil:
			// Every session ended with the reset; forget this browser's too.
			if err := p.sessions.End(w, r); err != nil {
				p.logFailure(w, r, "reset password: end session", err)
			}
			d.Done, d.Token = true, ""
			d.Layout.Title = d.text("reset.done_title")
			d.SignInURL = pageURL("/signin", "continue", d.Continue, "login_hint", d.Email)
			p.render(w, r, http.StatusOK, pageResetPassword, d, renderOptions{})
		case errors.As(err, &pe):
			d.PasswordField.Error = d.errorText(pe, msgChoosePassword)
			d.fail(password, confirm, "")
			p.render(w, r, http.StatusBadRequest, pageResetPassword, d, renderOptions{})
		case errors.Is(err, identity.ErrInvalidToken):
			d.dead()
			p.render(w, r, http.StatusBadRequest, pageResetPassword, d, renderOptions{})
		case errors.Is(err, identity.ErrDisabled):
			d.disabled()
			p.render(w, r, http.StatusForbidden, pageResetPassword, d, renderOptions{})
		case errors.As(err, &throttled):
			d.fail(password, confirm, d.errorText(err, "error.heading.too_many"))
			p.render(w, r, http.StatusTooManyRequests, pageResetPassword, d, renderOptions{})
		default:
			p.serverError(w, r, "reset password", err)
		}
	})
}

// msgDeadLink is the title of a page whose mailed link no longer works.
const msgDeadLink = "link.dead_title"

// dead readies the reset page to say that its link no longer works.
func (d *ResetPasswordPage) dead() {
	d.Invalid, d.Token, d.Layout.Title = true, "", d.text(msgDeadLink)
	d.markError()
}

// disabled readies the reset page to say that the account is disabled.
func (d *ResetPasswordPage) disabled() {
	d.Disabled, d.Token, d.Layout.Title = true, "", d.text(msgDisabled)
	d.markError()
}

// fail readies the reset page to show its problems.
func (d *ResetPasswordPage) fail(password, confirm, formError string) {
	keepPasswords(&d.PasswordField, &d.ConfirmField, password, confirm)
	d.summarize(formError, &d.PasswordField, &d.ConfirmField)
}

// VerifyEmailPage is the data of the page an e-mail verification link opens.
type VerifyEmailPage struct {
	Layout
	Verified bool
	Email    string
	// SignedIn: this browser has a session (it offers to continue rather
	// than to sign in).
	SignedIn bool
	// ClientName is the application the pending authorization is for.
	ClientName string
	// NextURL is where the person goes on: the pending authorization (signed
	// in) or sign-in to it, else the account page or sign-in.
	NextURL string
}

// VerifyEmail serves GET /verify-email?token=…[&continue=…]. Opened in the
// browser that signed up (its ticket cookie matches the link), it signs the
// person in and continues to the pending authorization (or the account page);
// anywhere else it says the address is verified and offers to sign in, back
// to the pending authorization.
func (p *Pages) VerifyEmail() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		cont := p.continueTarget(q.Get("continue"))
		d := VerifyEmailPage{Layout: p.layout(r, msgDeadLink)}
		if c, ok := p.clientForContinue(r.Context(), cont); ok {
			d.ClientName = labelOf(d.loc, c)
		}
		dead := func() {
			d.Layout.Title = d.text(msgDeadLink)
			d.markError()
			d.NextURL = accountPath
			if cont != "" && cont != accountPath {
				d.NextURL = pageURL("/signin", "continue", cont)
			}
			p.render(w, r, http.StatusBadRequest, pageVerifyEmail, d, renderOptions{})
		}
		token := q.Get("token")
		if token == "" {
			dead()
			return
		}
		ticket := ""
		if c, err := r.Cookie(p.ticketCookie); err == nil {
			ticket = c.Value
		}
		v, err := p.identity.VerifyEmail(r.Context(), token, ticket)
		switch {
		case errors.Is(err, identity.ErrInvalidToken):
			dead()
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
			http.Redirect(w, r, p.redirectTarget(cont), http.StatusSeeOther)
			return
		}
		d.Layout.Title, d.Verified, d.Email = d.text("verify.page_title"), true, v.User.Email
		if bs, _, err := p.currentUser(r); err == nil && bs != nil {
			d.SignedIn = true
			d.NextURL = p.redirectTarget(cont)
		} else {
			d.NextURL = pageURL("/signin", "login_hint", v.User.Email, "continue", cont)
		}
		p.render(w, r, http.StatusOK, pageVerifyEmail, d, renderOptions{})
	})
}

// retryAfter is a Retry-After value in whole seconds, rounded up.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(int(math.Ceil(d.Seconds())))
}
