package oauth

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/storage"
)

// authorizeError follows RFC 6749 §4.1.2.1: never send the browser to a
// redirect_uri we could not verify; otherwise redirect with error, state and iss.
// A database that cannot serve is temporarily_unavailable, which tells the client
// to try again, not server_error.
func (h *Handler) authorizeError(w http.ResponseWriter, r *http.Request, ar fosite.AuthorizeRequester, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	if storage.IsUnavailable(err) {
		h.note(r, slog.String("error", "temporarily_unavailable"), slog.String("cause", storageCause(err)))
		err = fosite.ErrTemporarilyUnavailable.WithHint("Sign-in cannot be completed right now; try again in a moment.")
	} else if rfc.CodeField >= 500 {
		h.log.ErrorContext(r.Context(), "authorize failed", "error", rfc.ErrorField, "cause", causeOf(err))
	} else {
		h.log.InfoContext(r.Context(), "authorize rejected", "error", rfc.ErrorField, "hint", rfc.HintField)
	}
	if ar == nil || !ar.IsRedirectURIValid() || ar.GetRedirectURI() == nil {
		h.errorPage(w, r, http.StatusBadRequest, invalidSignInLink)
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
		h.errorPage(w, r, http.StatusBadRequest, invalidSignInLink)
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

// logProtocolError notes a protocol failure for the request's log line: the
// cause of a server failure, the hint of a client's mistake.
func (h *Handler) logProtocolError(r *http.Request, endpoint string, err error) {
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.CodeField >= 500 {
		h.note(r, slog.String("endpoint", endpoint), slog.String("error", rfc.ErrorField), slog.String("cause", causeOf(err)))
		return
	}
	h.note(r, slog.String("endpoint", endpoint), slog.String("error", rfc.ErrorField), slog.String("hint", rfc.HintField))
}

// note attaches attrs to the one log line of the request (internal/reqlog);
// served outside the server's access log, it writes them itself.
func (h *Handler) note(r *http.Request, attrs ...slog.Attr) {
	h.requestNote(r.Context(), slog.LevelInfo, "oauth request", attrs...)
}

// retryAfterSeconds is the Retry-After of a 503 while the database cannot serve:
// a restart or a Neon compute waking takes a few seconds, and the store's pool
// reconnects on the next request.
const retryAfterSeconds = "2"

// answer turns err into what the client is told, and notes it for the request's
// log line. A database that cannot serve now (storage.IsUnavailable, or a
// failure fosite or we already called temporarily_unavailable) is RFC 6749
// §5.2's temporarily_unavailable with status 503 and Retry-After (RFC 9110
// §10.2.3): fosite would call a failed client lookup invalid_client and a failed
// write server_error, and neither tells the client that trying again will work.
// Any other failure of ours is server_error, never fosite's non-standard
// "error"; a client's mistake is answered as it is.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, err error) *fosite.RFC6749Error {
	rfc := fosite.ErrorToRFC6749Error(err)
	switch {
	case storage.IsUnavailable(err) || rfc.ErrorField == fosite.ErrTemporarilyUnavailable.ErrorField:
		w.Header().Set("Retry-After", retryAfterSeconds)
		h.note(r, slog.String("error", "temporarily_unavailable"), slog.String("cause", storageCause(err)))
		return fosite.ErrTemporarilyUnavailable.WithHint("The database cannot serve the request now; try again in a moment.")
	case rfc.CodeField >= 500:
		h.note(r, slog.String("error", "server_error"), slog.String("cause", causeOf(err)))
		return fosite.ErrServerError
	}
	h.note(r, slog.String("error", rfc.ErrorField), slog.String("hint", rfc.HintField))
	return rfc
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
