// Package signin is the contract between the protocol layer (internal/oauth) and
// the pages people see (internal/web): what the authorize and logout endpoints ask
// of the sign-in, consent and sign-out pages, and what the pages answer. It holds
// types only (and the context key that tells the error page which client it is
// shown for), so either side can change without the other.
package signin

import (
	"context"
	"net/http"
	"time"
)

// The authentication context classes (acr) Gatehouse advertises and puts in
// ID tokens: a sign-in with the password alone, and one with a second factor.
const (
	ACRPassword = "urn:gatehouse:acr:pwd"
	ACRMFA      = "urn:gatehouse:acr:mfa"
)

// ACRFor returns the acr a sign-in with the RFC 8176 methods amr reaches.
func ACRFor(amr []string) string {
	for _, m := range amr {
		if m == "mfa" {
			return ACRMFA
		}
	}
	return ACRPassword
}

// Login is the signed-in person behind a browser.
type Login struct {
	UserID    string
	SessionID string // the browser session, published as the ID token's sid
	AuthTime  time.Time
	AMR       []string // RFC 8176 methods, e.g. "pwd"
	// Consent is what the person has granted the client CurrentLogin was
	// asked about and asked to be remembered; nil when nothing is (or no
	// client was named).
	Consent *Consent
}

// Consent is what a user has granted a client, and when.
type Consent struct {
	Scopes    []string
	GrantedAt time.Time
}

// ClientInfo describes the client to the pages.
type ClientInfo struct {
	ID, Name, LogoURI, PolicyURI, TOSURI, ClientURI string
	FirstParty                                      bool
}

// clientKey is the context key of WithClient.
type clientKey struct{}

// WithClient returns a copy of ctx naming the client an error page is shown
// for, once the protocol layer knows it (a registered client whose request
// is refused), so that the page can offer "Back to <app>" (its ClientURI).
func WithClient(ctx context.Context, c ClientInfo) context.Context {
	return context.WithValue(ctx, clientKey{}, c)
}

// ClientFrom returns the client WithClient put in ctx, if any.
func ClientFrom(ctx context.Context) (ClientInfo, bool) {
	c, ok := ctx.Value(clientKey{}).(ClientInfo)
	return c, ok
}

// Prompt is what the pages need to ask the person something on behalf of an
// authorization request.
type Prompt struct {
	Client ClientInfo
	// Scopes are the scopes requested.
	Scopes []string
	// LoginHint pre-fills the e-mail address.
	LoginHint string
	// Register asks for the sign-up page (prompt=create).
	Register bool
	// IdPHint names an upstream identity provider to go straight to
	// (idp_hint), skipping the sign-in page.
	IdPHint string
	// ReauthFor is set when a signed-in user must authenticate again (prompt=login
	// or max_age), or when the client named another user (id_token_hint) than
	// the one signed in; it is the user who must do so. The sign-in page then
	// shows that user's address, fixed, and offers another account instead of
	// sign-up.
	ReauthFor string
	// StepUp asks the signed-in user (ReauthFor) for a second factor: the
	// client asked for ACRMFA and the session has not reached it.
	StepUp bool
	// ContinueURL resumes the authorization once the person is done; DenyURL ends
	// it with access_denied. Both are for the browser to follow.
	ContinueURL string
	DenyURL     string
}

// Logout is an RP-Initiated Logout request the protocol layer has validated.
type Logout struct {
	// Client is the client that asked, when known.
	Client *ClientInfo
	// RedirectURI is the registered post_logout_redirect_uri with state added, or
	// "" when the person should see the signed-out page.
	RedirectURI string
	// Confirmed is true when the person's intent is established: a valid
	// id_token_hint of the signed-in user, or the confirmation form posted back.
	Confirmed bool
	// ConfirmURL and ConfirmFields make the confirmation form: POST them (same
	// origin) to confirm.
	ConfirmURL    string
	ConfirmFields map[string]string
}

// Interaction is implemented by the pages (internal/web) and used by the protocol
// endpoints.
type Interaction interface {
	// CurrentLogin returns the person signed in on this browser, or nil. When
	// clientID is not "", Login.Consent holds what the person has granted that
	// client, read with the session (one round trip for both).
	CurrentLogin(r *http.Request, clientID string) (*Login, error)
	// SignIn sends the browser to sign in (or sign up) and then to p.ContinueURL.
	SignIn(w http.ResponseWriter, r *http.Request, p Prompt)
	// AskConsent sends the browser to the consent page. The page records the
	// consent (storage.RecordAuthorization) and sends the browser to
	// p.ContinueURL, or to p.DenyURL when the person refuses.
	AskConsent(w http.ResponseWriter, r *http.Request, p Prompt)
	// SignOut ends the browser session when l.Confirmed (then redirects to
	// l.RedirectURI or shows the signed-out page), and otherwise asks the person
	// to confirm.
	SignOut(w http.ResponseWriter, r *http.Request, l Logout)
}
