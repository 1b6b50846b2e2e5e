package oauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/signin"
)

// notConfigured stands in until sign-in pages are configured.
type notConfigured struct{}

func (notConfigured) CurrentLogin(*http.Request, string) (*signin.Login, error) { return nil, nil }
func (notConfigured) SignIn(w http.ResponseWriter, r *http.Request, _ signin.Prompt) {
	plainErrorPage(w, r, http.StatusServiceUnavailable, "error.signin_not_configured")
}
func (notConfigured) AskConsent(w http.ResponseWriter, r *http.Request, _ signin.Prompt) {
	plainErrorPage(w, r, http.StatusServiceUnavailable, "error.signin_not_configured")
}
func (notConfigured) SignOut(w http.ResponseWriter, r *http.Request, _ signin.Logout) {
	plainErrorPage(w, r, http.StatusServiceUnavailable, "error.signin_not_configured")
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
