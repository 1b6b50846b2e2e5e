package oauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"
)

// Login is the signed-in person behind a browser.
type Login struct {
	UserID    string
	SessionID string // the browser session, published as the ID token's sid
	AuthTime  time.Time
	AMR       []string // RFC 8176 methods, e.g. "pwd"
}

// Consent is what a user has granted a client and when.
type Consent struct {
	Scopes    []string
	GrantedAt time.Time
}

// ClientInfo describes the client to the pages.
type ClientInfo struct {
	ID, Name, LogoURI, PolicyURI, TOSURI, ClientURI string
	FirstParty                                      bool
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
	// ReauthFor is set when a signed-in user must authenticate again (prompt=login
	// or max_age); it is the user who must do so.
	ReauthFor string
	// ContinueURL resumes the authorization once the person is done; DenyURL ends
	// it with access_denied. Both are for the browser to follow.
	ContinueURL string
	DenyURL     string
}

// Interaction connects the authorize endpoint with the sign-in and consent pages.
// internal/web implements it; tests use their own.
type Interaction interface {
	// CurrentLogin returns the person signed in on this browser, or nil.
	CurrentLogin(r *http.Request) (*Login, error)
	// CurrentConsent returns what userID has granted clientID, or nil.
	CurrentConsent(ctx context.Context, userID, clientID string) (*Consent, error)
	// SignIn sends the browser to sign in (or sign up) and then to p.ContinueURL.
	SignIn(w http.ResponseWriter, r *http.Request, p Prompt)
	// AskConsent sends the browser to the consent page. The page records the
	// consent (storage.RecordAuthorization) and sends the browser to
	// p.ContinueURL, or to p.DenyURL when the person refuses.
	AskConsent(w http.ResponseWriter, r *http.Request, p Prompt)
}

// notConfigured stands in until sign-in pages are configured.
type notConfigured struct{}

func (notConfigured) CurrentLogin(*http.Request) (*Login, error) { return nil, nil }
func (notConfigured) CurrentConsent(context.Context, string, string) (*Consent, error) {
	return nil, nil
}
func (notConfigured) SignIn(w http.ResponseWriter, r *http.Request, p Prompt) {
	plainErrorPage(w, r, http.StatusServiceUnavailable, "Sign-in is not configured on this server.")
}
func (notConfigured) AskConsent(w http.ResponseWriter, r *http.Request, p Prompt) {
	plainErrorPage(w, r, http.StatusServiceUnavailable, "Sign-in is not configured on this server.")
}

// The authorize endpoint adds these parameters to the URLs it hands the pages. They
// are signed, so only Gatehouse can say "the person interacted after time T" or "the
// person refused".
const (
	paramSince = "gh_since"
	paramDeny  = "gh_deny"
	paramSig   = "gh_sig"
)

// marker signs (since, deny) bound to the client and state of one request.
func (h *Handler) marker(clientID, state string, since int64, deny bool) string {
	m := hmac.New(sha256.New, h.resumeKey)
	m.Write([]byte(clientID + "\x00" + state + "\x00" + strconv.FormatInt(since, 10) + "\x00" + strconv.FormatBool(deny)))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// interactionSince returns the time the current sign-in/consent detour began, if
// the request carries a valid marker younger than the interaction lifespan, and
// whether the person refused.
func (h *Handler) interactionSince(form map[string][]string, clientID, state string) (since time.Time, deny, ok bool) {
	get := func(k string) string {
		if v := form[k]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	raw, sig := get(paramSince), get(paramSig)
	if raw == "" || sig == "" {
		return time.Time{}, false, false
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return time.Time{}, false, false
	}
	deny = get(paramDeny) == "1"
	want := h.marker(clientID, state, n, deny)
	if !hmac.Equal([]byte(want), []byte(sig)) {
		return time.Time{}, false, false
	}
	since = time.Unix(n, 0)
	if h.now().Sub(since) > h.cfg.InteractionLifespan {
		return time.Time{}, false, false
	}
	return since, deny, true
}
