package web

import (
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/i18n"
	"github.com/gatehouse-id/gatehouse/internal/signin"
	"github.com/gatehouse-id/gatehouse/storage"
)

// CurrentLogin returns the person signed in on this browser, from the session
// cookie, or nil. A disabled or deleted user is not signed in. With a
// clientID, the login carries the consent the person gave that client and
// asked to be remembered, read with the session.
func (p *Pages) CurrentLogin(r *http.Request, clientID string) (*signin.Login, error) {
	bs, _, link, err := p.currentUserFor(r, clientID)
	if err != nil || bs == nil {
		return nil, err
	}
	return &signin.Login{UserID: bs.UserID, SessionID: bs.ID, AuthTime: bs.AuthTime, AMR: strings.Fields(bs.AMR),
		Consent: rememberedConsent(link)}, nil
}

// rememberedConsent is what a link says the person granted and asked to be
// remembered, or nil when nothing is, or the link was revoked.
func rememberedConsent(a *storage.Account) *signin.Consent {
	if a == nil || a.RevokedAt != nil || !a.ConsentRemembered {
		return nil
	}
	return &signin.Consent{Scopes: strings.Fields(a.GrantedScopes), GrantedAt: a.LastAuthorizedAt}
}

// SignIn sends the browser to the sign-in page (the sign-up page for
// prompt=create), which continues the authorization once the person is in.
func (p *Pages) SignIn(w http.ResponseWriter, r *http.Request, pr signin.Prompt) {
	if pr.StepUp && p.stepUp(w, r, pr) {
		return
	}
	q := url.Values{}
	q.Set("continue", pr.ContinueURL)
	hint := pr.LoginHint
	if pr.ReauthFor != "" {
		// The one who must sign in is known: their address, fixed on the
		// page, whatever the client hinted.
		if u, err := p.store.GetUser(r.Context(), pr.ReauthFor); err == nil && !u.Disabled {
			q.Set("reauth", "1")
			hint = u.Email
		}
	}
	if hint != "" {
		q.Set("login_hint", hint)
	}
	if pr.IdPHint != "" && pr.ReauthFor == "" && p.fed != nil && p.fed.Has(pr.IdPHint) {
		// idp_hint (as Keycloak's kc_idp_hint): straight to that provider.
		http.Redirect(w, r, pageURL("/signin/with/"+url.PathEscape(pr.IdPHint), "continue", pr.ContinueURL), http.StatusSeeOther)
		return
	}
	path := "/signin?"
	if pr.Register {
		path = "/signup?"
	}
	http.Redirect(w, r, path+q.Encode(), http.StatusSeeOther)
}

// ConsentPage is the consent page's data.
type ConsentPage struct {
	Layout
	ClientID, ClientName, LogoURI, PolicyURI, TOSURI string
	// Scopes are the requested scopes in plain words.
	Scopes []string
	// Scope is the requested scopes as OAuth writes them, posted back.
	Scope string
	// Email is the signed-in user's.
	Email          string
	Continue, Deny string
}

// AskConsent shows the consent page in place (status 200). Its form posts to
// /consent, which records the answer and sends the browser on.
func (p *Pages) AskConsent(w http.ResponseWriter, r *http.Request, pr signin.Prompt) {
	_, user, err := p.currentUser(r)
	if err != nil {
		p.serverError(w, r, "consent: current user", err)
		return
	}
	if user == nil {
		// The protocol layer asks for consent only with someone signed in.
		p.SignIn(w, r, pr)
		return
	}
	// The continue URL carries the request's ui_locales, pushed (PAR) or not;
	// this request's own URL may hold only a request_uri.
	r = p.withLocale(r, uiLocalesOf(pr.ContinueURL))
	loc := p.localizer(r)
	o := renderOptions{}
	name := clientLabel(loc, pr.Client.Name, pr.Client.ClientURI, nil)
	if c, err := p.store.CachedClientRecord(r.Context(), pr.Client.ID); err == nil {
		o.formTargets = cspSources(c.RedirectURIs...)
		name = labelOf(loc, c)
	}
	data := ConsentPage{
		ClientID:   pr.Client.ID,
		ClientName: name,
		PolicyURI:  webURL(pr.Client.PolicyURI),
		TOSURI:     webURL(pr.Client.TOSURI),
		Scope:      strings.Join(pr.Scopes, " "),
		Email:      user.Email,
		Continue:   pr.ContinueURL,
		Deny:       pr.DenyURL,
	}
	if logo := httpsURL(pr.Client.LogoURI); logo != "" {
		data.LogoURI = logo
		o.images = cspSources(logo)
	}
	for _, s := range pr.Scopes {
		data.Scopes = append(data.Scopes, describeScope(loc, s))
	}
	p.withToken(w, r, func(w http.ResponseWriter, r *http.Request) {
		data.Layout = p.layout(r, "consent.page_title", "App", data.ClientName)
		p.render(w, r, http.StatusOK, pageConsent, data, o)
	})
}

// SignOutConfirmPage is the data of the page that asks whether to sign out.
type SignOutConfirmPage struct {
	Layout
	ClientName string
	ConfirmURL string
	Fields     []HiddenField
	// StayURL is where "Stay signed in" leads: back to the application (its
	// home page) when known, else the account page.
	StayURL string
}

// HiddenField is a name and value posted back unchanged.
type HiddenField struct{ Name, Value string }

// SignedOutPage is the signed-out page's data.
type SignedOutPage struct {
	Layout
	// Everywhere is set after "sign out everywhere".
	Everywhere bool
}

// SignOut ends the browser session when the logout is confirmed, then sends the
// browser to the client's post-logout URI or shows the signed-out page; when it
// is not, it asks the person to confirm with a form that posts back to the
// logout endpoint (which checks the form's origin).
func (p *Pages) SignOut(w http.ResponseWriter, r *http.Request, l signin.Logout) {
	if l.Confirmed {
		if err := p.sessions.End(w, r); err != nil {
			p.serverError(w, r, "sign out", err)
			return
		}
		if l.RedirectURI != "" {
			http.Redirect(w, r, l.RedirectURI, http.StatusSeeOther)
			return
		}
		p.render(w, r, http.StatusOK, pageSignedOut, SignedOutPage{Layout: p.layout(r, "signedout.page_title")}, renderOptions{})
		return
	}
	data := SignOutConfirmPage{Layout: p.layout(r, "signout.title"), ConfirmURL: l.ConfirmURL, StayURL: accountPath}
	if l.Client != nil {
		data.ClientName = clientLabel(p.localizer(r), l.Client.Name, l.Client.ClientURI, nil)
		if home := webURL(l.Client.ClientURI); home != "" {
			data.StayURL = home
		}
	}
	for k, v := range l.ConfirmFields {
		data.Fields = append(data.Fields, HiddenField{Name: k, Value: v})
	}
	sort.Slice(data.Fields, func(i, j int) bool { return data.Fields[i].Name < data.Fields[j].Name })
	o := renderOptions{formTargets: cspSources(l.ConfirmURL, l.RedirectURI)}
	p.render(w, r, http.StatusOK, pageSignOutConfirm, data, o)
}

// clientLabel is how the pages name a client, in loc's language: its name,
// else the host name of its home page (client_uri), else that of its first
// redirect URI with a host, else the scheme of a native app's private-use
// redirect URI (com.example.app), else client.unnamed ("An unnamed
// application"); never its id, which says nothing to a person.
func clientLabel(loc *i18n.Localizer, name, home string, redirectURIs []string) string {
	if n := strings.TrimSpace(name); n != "" {
		return n
	}
	for _, raw := range append([]string{home}, redirectURIs...) {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" {
			continue
		}
		if h := u.Hostname(); h != "" {
			return strings.ToLower(h)
		}
		if s := strings.ToLower(u.Scheme); s != "http" && s != "https" && strings.Contains(s, ".") {
			return s
		}
	}
	return loc.Text("client.unnamed")
}

// labelOf names a stored client (clientLabel).
func labelOf(loc *i18n.Localizer, c storage.Client) string {
	return clientLabel(loc, c.Name, c.ClientURI, c.RedirectURIs)
}

// httpsURL returns raw when it is an absolute https URL, else "".
func httpsURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return ""
	}
	return raw
}

// webURL returns raw when it is an absolute http(s) URL, else "" (no
// javascript: or data: links).
func webURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return raw
}
