package web

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/clientip"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
)

// The forms' messages, by key (internal/i18n).
const (
	msgBadCredentials = "form.bad_credentials"
	msgUnavailable    = "signin.unavailable"
	msgDisabled       = "form.account_disabled"
	msgEnterEmail     = "form.enter_email"
	msgInvalidEmail   = "form.invalid_email"
	msgEnterPassword  = "form.enter_password"
	msgChoosePassword = "form.choose_password"
	msgMismatch       = "form.password_mismatch"
	msgSignUpDown     = "signup.unavailable"
)

// SignInPage is the sign-in page's data.
type SignInPage struct {
	Layout
	// ClientName is the application the person signs in to, when known, and
	// ClientLogo its logo (https only), when it has one.
	ClientName, ClientLogo string
	// Reauth asks a person to confirm it is them: the address is fixed, and
	// "Not you? Use another account" replaces sign-up.
	Reauth        bool
	Continue      string
	EmailField    Field
	PasswordField Field
	// ForgotURL and SignUpURL carry the pending authorization (and the
	// address typed) to those pages.
	ForgotURL, SignUpURL string
	// Providers are the upstream identity providers offered.
	Providers []ProviderButton
	// PasskeysEnabled offers "Sign in with a passkey" (and the browser's
	// passkey autofill in the e-mail field).
	PasskeysEnabled bool
}

func (p *Pages) signInPage(r *http.Request, cont, email string, reauth bool) (SignInPage, renderOptions) {
	l := p.layout(r, "signin.title")
	d := SignInPage{
		Layout:        l,
		Continue:      cont,
		Reauth:        reauth && email != "",
		EmailField:    l.field(Field{ID: "email", Label: l.text("field.email"), Type: "email", Value: email, Autocomplete: "username", Required: true}),
		PasswordField: l.field(Field{ID: "password", Label: l.text("field.password"), Type: "password", Autocomplete: "current-password", Required: true}),
	}
	d.EmailField.ReadOnly = d.Reauth
	if p.passkeys != nil {
		d.PasskeysEnabled = true
		// WebAuthn conditional UI: the browser offers passkeys in the
		// address field's autofill.
		d.EmailField.Autocomplete = "username webauthn"
	}
	d.ForgotURL = pageURL("/forgot-password", "continue", cont, "email", email)
	d.SignUpURL = pageURL("/signup", "continue", cont)
	if !d.Reauth {
		d.Providers = p.providerButtons(cont)
	}
	var o renderOptions
	if c, ok := p.clientForContinue(r.Context(), cont); ok {
		d.ClientName = labelOf(l.loc, c)
		o.formTargets = cspSources(c.RedirectURIs...)
		if logo := httpsURL(c.LogoURI); logo != "" {
			d.ClientLogo = logo
			o.images = cspSources(logo)
		}
	}
	return d, o
}

// pageURL is path with the query of the pairs (name, value) whose value is
// not empty.
func pageURL(path string, pairs ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			q.Set(pairs[i], pairs[i+1])
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// SignInForm serves GET and POST /signin: e-mail and password; on success a new
// session, then the continue URL (or the account page). With reauth=1 (a
// signed-in person asked to confirm it is them) the address given as
// login_hint cannot be changed.
func (p *Pages) SignInForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			q := r.URL.Query()
			d, o := p.signInPage(r, p.continueTarget(q.Get("continue")), q.Get("login_hint"), q.Get("reauth") == "1")
			p.render(w, r, http.StatusOK, pageSignIn, d, o)
			return
		}
		email := strings.TrimSpace(r.PostFormValue("email"))
		password := r.PostFormValue("password")
		d, o := p.signInPage(r, p.continueTarget(r.PostFormValue("continue")), email, r.PostFormValue("reauth") == "1")
		if email == "" || password == "" {
			if email == "" {
				d.EmailField.Error = d.text(msgEnterEmail)
			}
			if password == "" {
				d.PasswordField.Error = d.text(msgEnterPassword)
			}
			d.summarize("", &d.EmailField, &d.PasswordField)
			p.render(w, r, http.StatusBadRequest, pageSignIn, d, o)
			return
		}
		u, err := p.identity.Authenticate(r.Context(), email, password, clientip.FromRequest(r))
		if err != nil {
			status, msg := http.StatusUnauthorized, ""
			var throttled *identity.ThrottledError
			switch {
			case errors.As(err, &throttled):
				p.countSignIn("throttled")
				status, msg = http.StatusTooManyRequests, d.errorText(err, "error.heading.too_many")
				if throttled.RetryAfter > 0 {
					w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
				}
			case errors.Is(err, identity.ErrDisabled):
				p.countSignIn("failure")
				status, msg = http.StatusForbidden, d.errorText(err, msgDisabled)
			case errors.Is(err, identity.ErrInvalidCredentials), errors.Is(err, identity.ErrInvalidEmail):
				// Never which of the two: the same sentence for both.
				p.countSignIn("failure")
				msg = d.text(msgBadCredentials)
			default:
				p.logFailure(w, r, "sign in", err)
				retryLater(w, err)
				status, msg = http.StatusServiceUnavailable, d.text(msgUnavailable)
			}
			d.EmailField.FormError, d.PasswordField.FormError = true, true
			d.summarize(msg, &d.EmailField, &d.PasswordField)
			p.render(w, r, status, pageSignIn, d, o)
			return
		}
		// A second factor, when the user has one or must add one, comes
		// before any session.
		if second, err := p.afterPassword(w, r, u, d.Continue); err != nil {
			p.serverError(w, r, "sign in: second factor", err)
			return
		} else if second {
			return
		}
		if _, err := p.sessions.Issue(w, r, u.ID, []string{"pwd"}, p.now()); err != nil {
			p.serverError(w, r, "sign in: issue session", err)
			return
		}
		p.countSignIn("success")
		http.Redirect(w, r, p.redirectTarget(d.Continue), http.StatusSeeOther)
	})
}

// SignUpPage is the sign-up page's data.
type SignUpPage struct {
	Layout
	ClientName string
	Continue   string
	// Sent shows "check your e-mail" for Email: the same answer whether the
	// address was new or registered already.
	Sent          bool
	Email         string
	EmailField    Field
	NameField     Field
	PasswordField Field
	ConfirmField  Field
	// SignInURL carries the pending authorization and the address typed.
	SignInURL string
	// Providers are the upstream identity providers offered.
	Providers []ProviderButton
}

func (p *Pages) signUpPage(r *http.Request, cont, email, name string) (SignUpPage, renderOptions) {
	l := p.layout(r, "signup.title")
	d := SignUpPage{
		Layout:     l,
		Continue:   cont,
		EmailField: l.field(Field{ID: "email", Label: l.text("field.email"), Type: "email", Value: email, Autocomplete: "username", Required: true}),
		NameField:  l.field(Field{ID: "name", Label: l.text("field.your_name"), Type: "text", Value: name, Autocomplete: "name"}),
		PasswordField: l.field(Field{ID: "password", Label: l.text("field.password"), Type: "password", Autocomplete: "new-password", Required: true,
			Hint: l.text("field.password_hint", "Count", identity.MinPasswordLen)}),
		ConfirmField: l.field(Field{ID: "confirm", Label: l.text("field.confirm_password"), Type: "password", Autocomplete: "new-password", Required: true}),
		SignInURL:    pageURL("/signin", "continue", cont, "login_hint", email),
		Providers:    p.providerButtons(cont),
	}
	var o renderOptions
	if c, ok := p.clientForContinue(r.Context(), cont); ok {
		d.ClientName = labelOf(l.loc, c)
		o.formTargets = cspSources(c.RedirectURIs...)
	}
	return d, o
}

// signUpTicketTTL is how long the browser that signed up keeps its ticket: the
// verification link opened there within this time signs the person in and
// continues to the application; later, or elsewhere, it verifies and asks to
// sign in.
const signUpTicketTTL = time.Hour

// SignUp serves GET and POST /signup. A valid sign-up answers "check your
// e-mail" (the same page, status and cookies whether the address was new or
// registered already: identity mails the new one a verification link and the
// registered one's owner a notice), and gives this browser a ticket cookie, so
// that the link opened here signs the person in and continues the pending
// authorization. A refused sign-up names every problem at once and keeps what
// was not wrong (keepPasswords).
func (p *Pages) SignUp() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			q := r.URL.Query()
			d, o := p.signUpPage(r, p.continueTarget(q.Get("continue")), q.Get("login_hint"), "")
			p.render(w, r, http.StatusOK, pageSignUp, d, o)
			return
		}
		email := strings.TrimSpace(r.PostFormValue("email"))
		name := strings.TrimSpace(r.PostFormValue("name"))
		password, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
		d, o := p.signUpPage(r, p.continueTarget(r.PostFormValue("continue")), email, name)
		in := identity.SignUpInput{Email: email, Password: password, Name: name}
		if d.Continue != accountPath {
			in.Continue = d.Continue // validated by continueTarget
		}
		if email == "" {
			d.EmailField.Error = d.text(msgEnterEmail)
		}
		if password == "" {
			d.PasswordField.Error = d.text(msgChoosePassword)
		}
		d.signUpRefused(identity.ValidateSignUp(in))
		if password != "" && password != confirm {
			d.ConfirmField.Error = d.text(msgMismatch)
		}
		if d.refused() {
			d.fail(password, confirm, "")
			p.render(w, r, http.StatusBadRequest, pageSignUp, d, o)
			return
		}
		ticket, err := p.identity.SignUp(r.Context(), in, clientip.FromRequest(r))
		if err != nil {
			status, msg := http.StatusBadRequest, ""
			var throttled *identity.ThrottledError
			switch {
			case d.signUpRefused(err):
			case errors.As(err, &throttled):
				status, msg = http.StatusTooManyRequests, d.errorText(err, "error.heading.too_many")
				w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
			default:
				p.logFailure(w, r, "sign up", err)
				retryLater(w, err)
				status, msg = http.StatusServiceUnavailable, d.text(msgSignUpDown)
			}
			d.fail(password, confirm, msg)
			p.render(w, r, status, pageSignUp, d, o)
			return
		}
		http.SetCookie(w, p.ticketCookieFor(ticket))
		d.Layout.Title, d.Sent, d.Email = d.text("signup.sent_title"), true, email
		p.render(w, r, http.StatusOK, pageSignUp, d, o)
	})
}

// signUpRefused puts identity's refusals (an *identity.InputError, or one of
// the errors it wraps) under their fields, in the page's language, unless a
// field has a message already; it reports whether err was one.
func (d *SignUpPage) signUpRefused(err error) bool {
	if err == nil {
		return false
	}
	set := func(f *Field, msg string) {
		if f.Error == "" {
			f.Error = msg
		}
	}
	var pe *identity.PasswordError
	var prof *identity.ProfileError
	found := false
	if errors.Is(err, identity.ErrInvalidEmail) {
		set(&d.EmailField, d.errorText(identity.ErrInvalidEmail, msgInvalidEmail))
		found = true
	}
	if errors.As(err, &pe) {
		set(&d.PasswordField, d.errorText(pe, msgChoosePassword))
		found = true
	}
	if errors.As(err, &prof) {
		set(&d.NameField, d.errorText(prof, "error.go_back"))
		found = true
	}
	return found
}

func (d *SignUpPage) refused() bool {
	return d.EmailField.Error != "" || d.NameField.Error != "" || d.PasswordField.Error != "" || d.ConfirmField.Error != ""
}

// fail readies the page to show its problems: the passwords that may come
// back, and the summary.
func (d *SignUpPage) fail(password, confirm, formError string) {
	keepPasswords(&d.PasswordField, &d.ConfirmField, password, confirm)
	d.summarize(formError, &d.EmailField, &d.NameField, &d.PasswordField, &d.ConfirmField)
}

// ticketCookieFor is the cookie that keeps a sign-up's ticket in this browser;
// an empty ticket deletes it. Lax, so that it comes along when the mailed link
// is opened from a mail client (a top-level navigation).
func (p *Pages) ticketCookieFor(ticket string) *http.Cookie {
	c := &http.Cookie{
		Name: p.ticketCookie, Value: ticket, Path: "/", Secure: p.secure, HttpOnly: true, SameSite: http.SameSiteLaxMode,
		MaxAge: int(signUpTicketTTL / time.Second),
	}
	if ticket == "" {
		c.MaxAge = -1
	}
	return c
}

// Consent serves POST /consent, the consent page's answer: Allow records the
// grant and continues the authorization; Deny ends it with access_denied.
func (p *Pages) Consent() http.Handler {
	const invalid = "error.request_invalid"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clientID := r.PostFormValue("client_id")
		cont := p.continueTarget(r.PostFormValue("continue"))
		deny := p.continueTarget(r.PostFormValue("deny"))
		if clientID == "" || cont == "" || cont == accountPath || deny == "" || deny == accountPath ||
			!namesClient(cont, clientID) || !namesClient(deny, clientID) {
			p.ErrorPage(w, r, http.StatusBadRequest, invalid)
			return
		}
		bs, _, err := p.currentUser(r)
		if err != nil {
			p.serverError(w, r, "consent: current user", err)
			return
		}
		if bs == nil {
			// Signed out meanwhile: the authorization asks again.
			http.Redirect(w, r, cont, http.StatusSeeOther)
			return
		}
		if _, err := p.store.GetClientRecord(r.Context(), clientID); err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				p.ErrorPage(w, r, http.StatusBadRequest, invalid)
				return
			}
			p.serverError(w, r, "consent: load client", err)
			return
		}
		switch r.PostFormValue("action") {
		case "deny":
			http.Redirect(w, r, deny, http.StatusSeeOther)
		case "allow":
			scopes := strings.Fields(r.PostFormValue("scope"))
			// A new grant adds to what the user granted before.
			if prev, err := p.store.GetAccount(r.Context(), bs.UserID, clientID); err == nil && prev.RevokedAt == nil {
				for _, s := range strings.Fields(prev.GrantedScopes) {
					if !slices.Contains(scopes, s) {
						scopes = append(scopes, s)
					}
				}
			}
			if _, err := p.store.RecordAuthorization(r.Context(), bs.UserID, clientID, strings.Join(scopes, " "), true, p.now()); err != nil {
				p.serverError(w, r, "consent: record authorization", err)
				return
			}
			http.Redirect(w, r, cont, http.StatusSeeOther)
		default:
			p.ErrorPage(w, r, http.StatusBadRequest, invalid)
		}
	})
}

// namesClient reports whether an authorization URL is for clientID.
func namesClient(authURL, clientID string) bool {
	u, err := url.Parse(authURL)
	return err == nil && u.Query().Get("client_id") == clientID
}

// SignOutForm serves POST /signout: the account page's sign-out button, and
// "Not you? Use another account" on the sign-in and consent pages, which posts
// the pending authorization as continue: once signed out the browser goes
// back into it, which asks whoever is there to sign in.
func (p *Pages) SignOutForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.sessions.End(w, r); err != nil {
			p.serverError(w, r, "sign out", err)
			return
		}
		if cont := p.continueTarget(r.PostFormValue("continue")); cont != "" {
			http.Redirect(w, r, cont, http.StatusSeeOther)
			return
		}
		p.render(w, r, http.StatusOK, pageSignedOut, SignedOutPage{Layout: p.layout(r, "signedout.page_title")}, renderOptions{})
	})
}
