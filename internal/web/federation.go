package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/clientip"
	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/internal/signin"
	"github.com/gatehouse-id/gatehouse/storage"
)

// federationService is what the pages need from internal/federation.
type federationService interface {
	Buttons() []federation.Button
	Has(id string) bool
	Name(id string) string
	Begin(ctx context.Context, w http.ResponseWriter, id string, f federation.Flow) (string, error)
	Finish(w http.ResponseWriter, r *http.Request, id, currentUserID string) (federation.Result, error)
	Pending(r *http.Request) (*federation.PendingLink, bool)
	ConfirmLink(ctx context.Context, w http.ResponseWriter, r *http.Request, userID string) (federation.Result, error)
	MailLink(ctx context.Context, w http.ResponseWriter, r *http.Request, ip string) (*federation.PendingLink, error)
	ConfirmMailedLink(ctx context.Context, w http.ResponseWriter, r *http.Request, token string) (federation.Result, error)
	CancelLink(w http.ResponseWriter)
	Identities(ctx context.Context, userID string) ([]federation.Linked, error)
	Unlink(ctx context.Context, userID, id string) error
	AuthURLs() []string
}

// accountRender is how the account page renders: its "Link …" forms lead,
// through redirects, to the providers' authorization endpoints, which its
// form-action must allow.
func (p *Pages) accountRender() renderOptions {
	if p.fed == nil {
		return renderOptions{}
	}
	return renderOptions{formTargets: cspSources(p.fed.AuthURLs()...)}
}

// ProviderButton is one "Continue with …" button of the sign-in and sign-up
// pages.
type ProviderButton struct {
	ID, Name, Style, LogoURL string
	// URL begins the sign-in, carrying the pending authorization.
	URL string
}

// providerButtons are the buttons for the configured providers.
func (p *Pages) providerButtons(cont string) []ProviderButton {
	if p.fed == nil {
		return nil
	}
	var out []ProviderButton
	for _, b := range p.fed.Buttons() {
		out = append(out, ProviderButton{ID: b.ID, Name: b.Name, Style: b.Style, LogoURL: b.LogoURL,
			URL: pageURL("/signin/with/"+url.PathEscape(b.ID), "continue", cont)})
	}
	return out
}

// SignInWith serves GET /signin/with/{provider}: it begins a sign-in at the
// provider and sends the browser there.
func (p *Pages) SignInWith() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["provider"]
		cont := p.redirectTarget(r.URL.Query().Get("continue"))
		if p.fed == nil || !p.fed.Has(id) {
			p.ErrorPage(w, r, http.StatusNotFound, "federation.error.unknown_provider")
			return
		}
		to, err := p.fed.Begin(r.Context(), w, id, federation.Flow{Continue: cont})
		if err != nil {
			p.federationError(w, r, id, cont, err)
			return
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	})
}

// FederatedCallback serves GET /signin/callback/{provider}, where the
// provider sends the browser back: a known upstream account signs in, a new
// one signs up (when the provider may create accounts), one whose address
// belongs to a user asks that user to prove the account first
// (/signin/link), and a link begun on the account page is made.
func (p *Pages) FederatedCallback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["provider"]
		if p.fed == nil || !p.fed.Has(id) {
			p.ErrorPage(w, r, http.StatusNotFound, "federation.error.unknown_provider")
			return
		}
		bs, _, err := p.currentUser(r)
		if err != nil {
			p.serverError(w, r, "federated sign-in: current user", err)
			return
		}
		current := ""
		if bs != nil {
			current = bs.UserID
		}
		res, err := p.fed.Finish(w, r, id, current)
		if err != nil {
			p.federationError(w, r, id, p.continueTarget(res.Continue), err)
			return
		}
		switch {
		case res.Pending != nil:
			http.Redirect(w, r, "/signin/link", http.StatusSeeOther)
			return
		case res.Linked:
			// The account page's link: the session stays as it is.
			http.Redirect(w, r, noticeURL("identity-linked"), http.StatusSeeOther)
			return
		}
		// A second factor, when the user has one or must add one, comes
		// before any session, as after a password.
		if second, err := p.afterFirstFactor(w, r, res.UserID, res.AMR, res.Continue); err != nil {
			p.serverError(w, r, "federated sign-in: second factor", err)
			return
		} else if second {
			return
		}
		if _, err := p.sessions.Issue(w, r, res.UserID, res.AMR, p.now()); err != nil {
			p.serverError(w, r, "federated sign-in: issue session", err)
			return
		}
		p.countSignIn("success")
		http.Redirect(w, r, p.redirectTarget(res.Continue), http.StatusSeeOther)
	})
}

// federationError shows why a sign-in through provider id did not work, with
// a way back to the sign-in page (and the pending authorization).
func (p *Pages) federationError(w http.ResponseWriter, r *http.Request, id, cont string, err error) {
	code := federation.CodeOf(err)
	status, key := http.StatusBadRequest, "federation.error."+code
	switch code {
	case "":
		p.logFailure(w, r, "federated sign-in", err)
		retryLater(w, err)
		status, key = http.StatusServiceUnavailable, "error.page_unavailable"
	case federation.CodeUpstreamUnavailable:
		status = http.StatusBadGateway
	case federation.CodeUpstreamError:
		status = http.StatusBadGateway
	case federation.CodeAccessDenied, federation.CodeUnverifiedEmail, federation.CodeDomainNotAllowed,
		federation.CodeNoAccount, federation.CodeLinkedElsewhere, federation.CodeDisabled:
		status = http.StatusForbidden
	case federation.CodeUnknownProvider:
		status = http.StatusNotFound
	}
	if code != "" {
		// The reason, never a token or code, on the request's log line.
		p.logFailure(w, r, "federated sign-in refused", err)
	}
	retry := pageURL("/signin", "continue", cont)
	if cont == accountPath {
		retry = accountPath
	}
	x := errorExtras{retry: retry, args: []any{"Provider", p.fed.Name(id)}}
	if c, ok := p.clientForContinue(r.Context(), cont); ok {
		info := signin.ClientInfo{ID: c.ID, Name: labelOf(p.failureLocalizer(r), c), ClientURI: c.ClientURI}
		x.client = &info
	}
	p.errorPage(w, r, status, key, x)
}

// LinkPage is the page that asks the owner of an address to prove the
// account before an upstream account is linked to it.
type LinkPage struct {
	Layout
	Provider      string
	Email         string
	Continue      string
	EmailField    Field
	PasswordField Field
	ForgotURL     string
	// PasskeysEnabled offers "Use a passkey instead".
	PasskeysEnabled bool
	// Notice says the link was mailed.
	Notice string
}

func (p *Pages) linkPage(r *http.Request, pl *federation.PendingLink) LinkPage {
	name := p.fed.Name(pl.Provider)
	l := p.layout(r, "federation.link_title", "Provider", name)
	d := LinkPage{
		Layout: l, Provider: name, Email: pl.Email, Continue: pl.Continue,
		EmailField:    l.field(Field{ID: "email", Label: l.text("field.email"), Type: "email", Value: pl.Email, Autocomplete: "username", ReadOnly: true}),
		PasswordField: l.field(Field{ID: "password", Label: l.text("field.password"), Type: "password", Autocomplete: "current-password", Required: true}),
		ForgotURL:     pageURL("/forgot-password", "email", pl.Email),
	}
	d.PasskeysEnabled = p.passkeys != nil
	return d
}

// linkRender lets the link page's forms end, through the authorization they
// resume, at the application's redirect URIs, or at the JSON API caller's
// callbackURL (form-action).
func (p *Pages) linkRender(r *http.Request, pl *federation.PendingLink) renderOptions {
	var targets []string
	if c, ok := p.clientForContinue(r.Context(), p.continueTarget(pl.Continue)); ok {
		targets = append(targets, c.RedirectURIs...)
	}
	if pl.API {
		targets = append(targets, pl.Continue)
	}
	if len(targets) == 0 {
		return renderOptions{}
	}
	return renderOptions{formTargets: cspSources(targets...)}
}

// LinkAccount serves GET and POST /signin/link: the owner of the address an
// upstream account gave proves the account with its password (or asks for a
// mailed link, action=mail: LinkByMail; or uses a passkey: LinkPasskey);
// then the upstream account is linked and the person signed in. "Cancel"
// forgets the link.
func (p *Pages) LinkAccount() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.fed == nil {
			p.ErrorPage(w, r, http.StatusNotFound, "error.no_page")
			return
		}
		pl, ok := p.fed.Pending(r)
		if !ok {
			p.errorPage(w, r, http.StatusBadRequest, "federation.error.bad_state", errorExtras{retry: "/signin", args: []any{"Provider", ""}})
			return
		}
		cont := p.continueTarget(pl.Continue)
		if r.Method != http.MethodPost {
			p.render(w, r, http.StatusOK, pageFederationLink, p.linkPage(r, pl), p.linkRender(r, pl))
			return
		}
		if r.PostFormValue("action") == "cancel" {
			p.fed.CancelLink(w)
			http.Redirect(w, r, pageURL("/signin", "continue", cont), http.StatusSeeOther)
			return
		}
		d := p.linkPage(r, pl)
		if r.PostFormValue("action") == "mail" {
			p.mailLink(w, r, pl, d, cont)
			return
		}
		password := r.PostFormValue("password")
		if password == "" {
			d.PasswordField.Error = d.text(msgEnterPassword)
			d.summarize("", &d.PasswordField)
			p.render(w, r, http.StatusBadRequest, pageFederationLink, d, p.linkRender(r, pl))
			return
		}
		u, err := p.identity.Authenticate(r.Context(), pl.Email, password, clientip.FromRequest(r))
		if err == nil && u.ID != pl.UserID {
			// The address changed hands since the provider's answer.
			err = identity.ErrInvalidCredentials
		}
		if err != nil {
			status, msg := http.StatusUnauthorized, ""
			var throttled *identity.ThrottledError
			switch {
			case errors.As(err, &throttled):
				status, msg = http.StatusTooManyRequests, d.errorText(err, "error.heading.too_many")
				if throttled.RetryAfter > 0 {
					w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
				}
			case errors.Is(err, identity.ErrDisabled):
				status, msg = http.StatusForbidden, d.errorText(err, msgDisabled)
			case errors.Is(err, identity.ErrInvalidCredentials), errors.Is(err, identity.ErrInvalidEmail):
				msg = d.text("federation.wrong_password")
			default:
				p.logFailure(w, r, "link: authenticate", err)
				retryLater(w, err)
				status, msg = http.StatusServiceUnavailable, d.text(msgUnavailable)
			}
			d.PasswordField.FormError = true
			d.summarize(msg, &d.PasswordField)
			p.render(w, r, status, pageFederationLink, d, p.linkRender(r, pl))
			return
		}
		res, err := p.fed.ConfirmLink(r.Context(), w, r, u.ID)
		if err != nil {
			p.federationError(w, r, pl.Provider, cont, err)
			return
		}
		// Both were proven: the password now, the upstream account just
		// before.
		p.linkedSignIn(w, r, res, append([]string{"pwd"}, res.AMR...))
	})
}

// linkedSignIn signs in the user who just proved the account and linked
// res's upstream account, with the same second-factor step as any sign-in,
// and sends the browser on: to the JSON API caller's callbackURL when the API
// began the flow, else to the pending authorization or the account page.
func (p *Pages) linkedSignIn(w http.ResponseWriter, r *http.Request, res federation.Result, amr []string) {
	ps := pendingSignIn{UserID: res.UserID, AMR: amr, Continue: res.Continue}
	if res.API {
		// The API checked it against the trusted origins when the flow
		// began; it came back sealed in the pending cookie.
		ps.APIReturn = res.Continue
	}
	if second, err := p.secondStepFor(w, r, ps); err != nil {
		p.serverError(w, r, "link: second factor", err)
		return
	} else if second {
		return
	}
	if _, err := p.sessions.Issue(w, r, res.UserID, amr, p.now()); err != nil {
		p.serverError(w, r, "link: issue session", err)
		return
	}
	p.countSignIn("success")
	http.Redirect(w, r, p.pendingTarget(ps), http.StatusSeeOther)
}

// mailLink answers "Send me a link instead": the link page again, saying the
// link went to the account's address, or why it did not.
func (p *Pages) mailLink(w http.ResponseWriter, r *http.Request, pl *federation.PendingLink, d LinkPage, cont string) {
	_, err := p.fed.MailLink(r.Context(), w, r, clientip.FromRequest(r))
	var throttled *identity.ThrottledError
	switch {
	case err == nil:
		d.Notice = d.text("federation.link_mail_sent", "Email", d.Email, "Provider", d.Provider)
		p.render(w, r, http.StatusOK, pageFederationLink, d, p.linkRender(r, pl))
	case errors.As(err, &throttled):
		if throttled.RetryAfter > 0 {
			w.Header().Set("Retry-After", retryAfter(throttled.RetryAfter))
		}
		d.summarize(d.errorText(err, "error.heading.too_many"))
		p.render(w, r, http.StatusTooManyRequests, pageFederationLink, d, p.linkRender(r, pl))
	case federation.CodeOf(err) != "":
		p.federationError(w, r, "", cont, err)
	default:
		p.logFailure(w, r, "link: mail", err)
		retryLater(w, err)
		d.summarize(d.text(msgUnavailable))
		p.render(w, r, http.StatusServiceUnavailable, pageFederationLink, d, p.linkRender(r, pl))
	}
}

// LinkByMail serves GET /signin/link/mail?token=…, the link "Send me a link
// instead" mailed: opened in the browser that asked (its pending link names
// the token's provider, subject and user) it links the upstream account and
// signs in; opened elsewhere, expired or used, a page says so and nothing is
// linked.
func (p *Pages) LinkByMail() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.fed == nil {
			p.ErrorPage(w, r, http.StatusNotFound, "error.no_page")
			return
		}
		cont := ""
		if pl, ok := p.fed.Pending(r); ok {
			cont = p.continueTarget(pl.Continue)
		}
		res, err := p.fed.ConfirmMailedLink(r.Context(), w, r, r.URL.Query().Get("token"))
		if err != nil {
			p.federationError(w, r, "", cont, err)
			return
		}
		// The upstream account proved before, the mailbox now.
		p.linkedSignIn(w, r, res, res.AMR)
	})
}

// LinkPasskeyOptions serves POST /signin/link/passkey/options: the options of
// the passkey ceremony that proves the account to link (the passwordless
// sign-in's), its state in the challenge cookie.
func (p *Pages) LinkPasskeyOptions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.fed == nil || p.passkeys == nil {
			http.NotFound(w, r)
			return
		}
		if _, ok := p.fed.Pending(r); !ok {
			jsonStatus(w, http.StatusBadRequest, "/signin")
			return
		}
		o, err := p.passkeys.BeginPasswordless(false)
		if err != nil {
			p.logFailure(w, r, "link passkey options", err)
			jsonStatus(w, http.StatusServiceUnavailable, "")
			return
		}
		p.writeOptions(w, o)
	})
}

// LinkPasskey serves POST /signin/link/passkey: the page's script posts the
// authenticator's answer; a verified passkey of the pending link's user
// links the upstream account and signs in. Another user's passkey, or a
// refused ceremony, shows the link page with why, and nothing is linked.
func (p *Pages) LinkPasskey() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.fed == nil || p.passkeys == nil {
			http.NotFound(w, r)
			return
		}
		state := p.passkeys.ChallengeState(r)
		http.SetCookie(w, p.passkeys.ChallengeCookie("")) // one answer per challenge
		pl, ok := p.fed.Pending(r)
		if !ok {
			p.errorPage(w, r, http.StatusBadRequest, "federation.error.bad_state", errorExtras{retry: "/signin", args: []any{"Provider", ""}})
			return
		}
		cont := p.continueTarget(pl.Continue)
		var a mfa.Assertion
		err := errPasskeyCancelled
		if cred := credentialField(r); len(cred) > 0 {
			a, err = p.passkeys.FinishLogin(r.Context(), mfa.PurposePasswordless, "", state, cred)
		}
		if err == nil && a.UserID != pl.UserID {
			p.logFailure(w, r, "link passkey refused", errors.New("the passkey belongs to another user"))
			d := p.linkPage(r, pl)
			d.summarize(d.text("federation.passkey_other_user", "Email", pl.Email))
			p.render(w, r, http.StatusForbidden, pageFederationLink, d, p.linkRender(r, pl))
			return
		}
		if err != nil {
			key := passkeyFailure(err)
			if key == "" {
				p.serverError(w, r, "link passkey", err)
				return
			}
			p.logFailure(w, r, "link passkey refused", err)
			d := p.linkPage(r, pl)
			d.summarize(d.text(key))
			p.render(w, r, http.StatusBadRequest, pageFederationLink, d, p.linkRender(r, pl))
			return
		}
		res, err := p.fed.ConfirmLink(r.Context(), w, r, a.UserID)
		if err != nil {
			p.federationError(w, r, pl.Provider, cont, err)
			return
		}
		// A passkey with user verification is two factors in one (RFC 8176
		// "mfa"), as at the passkey sign-in; the upstream account was proven
		// before.
		amr := append(a.AMR(), mfa.AMRMFA)
		for _, m := range res.AMR {
			if !slices.Contains(amr, m) {
				amr = append(amr, m)
			}
		}
		p.linkedSignIn(w, r, res, amr)
	})
}

// IdentityView is one linked upstream account on the account page.
type IdentityView struct {
	ID, Provider, Email, LastUsed string
}

// LinkButton offers to link a provider not linked yet.
type LinkButton struct{ ID, Name string }

// accountIdentities fills the account page's sign-in providers section.
func (p *Pages) accountIdentities(ctx context.Context, d *AccountPage, userID string) error {
	if p.fed == nil {
		return nil
	}
	list, err := p.fed.Identities(ctx, userID)
	if err != nil {
		return err
	}
	linked := map[string]bool{}
	for _, e := range list {
		v := IdentityView{ID: e.ID, Provider: e.ProviderName, Email: e.Email}
		if e.LastSignInAt != nil {
			v.LastUsed = when(*e.LastSignInAt)
		}
		d.Identities = append(d.Identities, v)
		linked[e.Provider] = true
	}
	for _, b := range p.fed.Buttons() {
		if !linked[b.ID] {
			d.LinkProviders = append(d.LinkProviders, LinkButton{ID: b.ID, Name: b.Name})
		}
	}
	// Providers may all have been removed (the admin API): then the section
	// shows only when the user still has identities to unlink.
	d.Federation = len(d.Identities) > 0 || len(d.LinkProviders) > 0
	return nil
}

// LinkIdentity serves POST /account/identities/link: a signed-in person links
// an upstream account; the provider sends the browser back to the callback,
// which makes the link and returns to the account page.
func (p *Pages) LinkIdentity() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bs, u := p.signedIn(w, r)
		if u == nil {
			return
		}
		id := r.PostFormValue("provider")
		if p.fed == nil || !p.fed.Has(id) {
			p.ErrorPage(w, r, http.StatusBadRequest, "federation.error.unknown_provider")
			return
		}
		to, err := p.fed.Begin(r.Context(), w, id, federation.Flow{Continue: accountPath, LinkUserID: bs.UserID})
		if err != nil {
			p.federationError(w, r, id, accountPath, err)
			return
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	})
}

// UnlinkIdentity serves POST /account/identities/unlink: it removes a linked
// upstream account, unless it is the person's last way to sign in.
func (p *Pages) UnlinkIdentity() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bs, u := p.signedIn(w, r)
		if u == nil {
			return
		}
		if p.fed == nil {
			p.ErrorPage(w, r, http.StatusBadRequest, "error.request_invalid")
			return
		}
		err := p.fed.Unlink(r.Context(), u.ID, r.PostFormValue("identity_id"))
		switch {
		case err == nil:
			http.Redirect(w, r, noticeURL("identity-unlinked"), http.StatusSeeOther)
		case federation.CodeOf(err) == federation.CodeLastMethod:
			p.showAccount(w, r, http.StatusConflict, bs, u, sectionIdentities, func(d *AccountPage) string {
				return d.text("account.unlink_last")
			})
		case errors.Is(err, storage.ErrNotFound):
			p.ErrorPage(w, r, http.StatusBadRequest, "error.request_invalid")
		default:
			p.serverError(w, r, "unlink identity", err)
		}
	})
}
