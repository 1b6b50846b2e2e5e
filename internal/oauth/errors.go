package oauth

import (
	"net/http"
	"net/url"

	"github.com/ory/fosite"
)

// authorizeError follows RFC 6749 §4.1.2.1: never send the browser to a
// redirect_uri we could not verify; otherwise redirect with error, state and iss.
func (h *Handler) authorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField >= 500 {
		h.log.ErrorContext(r.Context(), "authorize failed", "error", rfc.ErrorField, "cause", causeOf(err))
	} else {
		h.log.InfoContext(r.Context(), "authorize rejected", "error", rfc.ErrorField, "hint", rfc.HintField)
	}
	if ar == nil || !ar.IsRedirectURIValid() || ar.GetRedirectURI() == nil {
		h.errorPage(w, r, http.StatusBadRequest, "This sign-in link is not valid. Go back to the application and try again.")
		return
	}
	h.redirectError(w, r, ar.GetRedirectURI().String(), string(ar.GetResponseMode()), ar.GetState(), err)
}

// redirectError sends an error to a verified redirect URI, with iss (RFC 9207).
func (h *Handler) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, responseMode, state string, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	params := url.Values{}
	params.Set("error", rfc.ErrorField)
	if d := rfc.GetDescription(); d != "" {
		params.Set("error_description", d)
	}
	if state != "" {
		params.Set("state", state)
	}
	params.Set("iss", h.cfg.Issuer)
	w.Header().Set("Cache-Control", "no-store")
	if responseMode == string(fosite.ResponseModeFormPost) {
		writeFormPost(w, redirectURI, params)
		return
	}
	u, perr := url.Parse(redirectURI)
	if perr != nil {
		h.errorPage(w, r, http.StatusBadRequest, "This sign-in link is not valid. Go back to the application and try again.")
		return
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}

// causeOf gives the wrapped cause of a fosite error for the log (never sent to
// clients).
func causeOf(err error) string {
	rfc := fosite.ErrorToRFC6749Error(err)
	if c := rfc.Cause(); c != nil {
		return c.Error()
	}
	if rfc.DebugField != "" {
		return rfc.DebugField
	}
	return err.Error()
}

// logTokenError logs a token-endpoint failure once, at the edge.
func (h *Handler) logProtocolError(r *http.Request, endpoint string, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField >= 500 {
		h.log.ErrorContext(r.Context(), endpoint+" failed", "error", rfc.ErrorField, "cause", causeOf(err))
		return
	}
	h.log.InfoContext(r.Context(), endpoint+" rejected", "error", rfc.ErrorField, "hint", rfc.HintField)
}
