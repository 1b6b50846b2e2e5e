package oauth

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/storage"
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

// retryAfterSeconds is the Retry-After of a 503 while the database is unreachable:
// a restart or a Neon compute waking takes a few seconds, and the store's pool
// reconnects on the next request.
const retryAfterSeconds = "2"

// unavailable reports whether err (from fosite or the store) means the database
// could not be reached, and if so turns it into RFC 6749 §5.2's
// temporarily_unavailable with status 503 and sets Retry-After (RFC 9110 §10.2.3).
// fosite answers a failed client lookup with invalid_client and a failed write
// with server_error; neither tells the client that trying again will work. The
// cause is logged by the caller.
func unavailable(w http.ResponseWriter, err error) (*fosite.RFC6749Error, bool) {
	if !storage.IsConnectionLoss(err) {
		return nil, false
	}
	w.Header().Set("Retry-After", retryAfterSeconds)
	return fosite.ErrTemporarilyUnavailable.WithHint("The database is unreachable; try again in a moment."), true
}

// logUnavailable logs a request refused because the database is unreachable, with
// its cause, at warning level: it is an outage, not a bug.
func (h *Handler) logUnavailable(r *http.Request, endpoint string, err error) {
	h.log.WarnContext(r.Context(), endpoint+" unavailable", "error", "temporarily_unavailable", "cause", storageCause(err))
}

// storageCause returns the message of the first error under fosite's wrappers (a
// refresh failure wraps server_error around server_error around the store's error).
func storageCause(err error) string {
	for {
		var rfc *fosite.RFC6749Error
		if !errors.As(err, &rfc) || rfc.Unwrap() == nil {
			return err.Error()
		}
		err = rfc.Unwrap()
	}
}
