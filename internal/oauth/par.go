package oauth

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/storage"
)

// PushedAuthorize serves POST /oauth2/par (RFC 9126).
func (h *Handler) PushedAuthorize() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if err := r.ParseForm(); err != nil {
			h.provider.WritePushedAuthorizeError(ctx, w, fosite.NewAuthorizeRequest(), fosite.ErrInvalidRequest.WithHint("The request body could not be read."))
			return
		}
		// RFC 8707 §2: resource may be given more than once.
		if dup := duplicated(withoutParam(r.PostForm, "resource")); dup != "" {
			h.provider.WritePushedAuthorizeError(ctx, w, fosite.NewAuthorizeRequest(),
				fosite.ErrInvalidRequest.WithHintf("The parameter %q was given more than once (RFC 6749 §3.1).", dup))
			return
		}
		ar, err := h.provider.NewPushedAuthorizeRequest(ctx, r)
		if err = acceptState(ar, err); err == nil && ar.GetRequestedScopes().Has("openid") && r.PostForm.Get("redirect_uri") == "" {
			// fosite checks this after the state, so a request that acceptState
			// let through has not been checked for it (OpenID Connect Core §3.1.2.1).
			err = fosite.ErrInvalidRequest.WithHint("The 'redirect_uri' parameter is required when using OpenID Connect 1.0.")
		}
		if err == nil {
			err = checkResponseMode(r.PostForm.Get("response_mode"))
		}
		if err != nil {
			rfc := h.answer(w, r, err)
			setClientAuthChallenge(w, rfc)
			h.provider.WritePushedAuthorizeError(ctx, w, ar, rfc)
			return
		}
		// fosite lets any client use a loopback redirect URI on another port; only
		// native clients may (RFC 8252 §7.3).
		if fc, ok := ar.GetClient().(*storage.FositeClient); ok {
			if _, ok := MatchRedirectURI(fc.Record(), r.PostForm.Get("redirect_uri")); !ok {
				err := fosite.ErrInvalidRequest.WithHint("The 'redirect_uri' parameter does not match any of the client's registered redirect URIs.")
				h.logProtocolError(r, "par", err)
				h.provider.WritePushedAuthorizeError(ctx, w, ar, err)
				return
			}
			// RFC 8707: the resources the token will be for, in fosite's audience.
			res, err := requestedResources(r.PostForm, fc.Record())
			if err != nil {
				h.logProtocolError(r, "par", err)
				h.provider.WritePushedAuthorizeError(ctx, w, ar, err)
				return
			}
			if len(res) > 0 {
				ar.SetRequestedAudience(fosite.Arguments(res))
			}
		}
		resp, err := h.provider.NewPushedAuthorizeResponse(ctx, ar, NewSession())
		if err != nil {
			h.provider.WritePushedAuthorizeError(ctx, w, ar, h.answer(w, r, err))
			return
		}
		h.provider.WritePushedAuthorizeResponse(ctx, w, ar, resp)
	})
}

// isPushedRequestURI reports whether a request_uri names a pushed authorization
// request of ours, by its prefix.
func (h *Handler) isPushedRequestURI(u string) bool {
	return u != "" && strings.HasPrefix(u, h.fcfg.PushedAuthorizeRequestURIPrefix)
}

// pushedRequest returns the pushed request the request_uri names if the client
// using it pushed it, and otherwise shows the error page. It does not consume the
// request: fosite deletes a pushed request before it compares the clients, so
// another client's attempt would use up the owner's (RFC 9126 §4: the request_uri
// is bound to the client that pushed it).
func (h *Handler) pushedRequest(w http.ResponseWriter, r *http.Request, client storage.Client) (fosite.AuthorizeRequester, bool) {
	ctx := r.Context()
	ar, err := h.store.GetPARSession(ctx, r.Form.Get("request_uri"))
	switch {
	case errors.Is(err, fosite.ErrNotFound):
		h.requestNote(ctx, slog.LevelInfo, "authorize rejected", slog.String("reason", "unknown or expired request_uri"), slog.String("client_id", client.ID))
		h.errorPage(w, r, http.StatusBadRequest, "error.signin_link_expired")
		return nil, false
	case err != nil:
		h.requestNote(ctx, slog.LevelError, "authorize failed", slog.String("error", "load pushed request"), slog.String("cause", err.Error()), slog.String("client_id", client.ID))
		if storage.IsUnavailable(err) {
			w.Header().Set("Retry-After", retryAfterSeconds)
		}
		h.errorPage(w, r, http.StatusServiceUnavailable, "signin.unavailable")
		return nil, false
	case ar.GetClient() == nil || ar.GetClient().GetID() != client.ID:
		h.requestNote(ctx, slog.LevelInfo, "authorize rejected", slog.String("reason", "request_uri pushed by another client"), slog.String("client_id", client.ID))
		h.errorPage(w, r, http.StatusBadRequest, invalidSignInLink)
		return nil, false
	case ar.GetRedirectURI() == nil:
		h.requestNote(ctx, slog.LevelError, "authorize failed", slog.String("error", "pushed request without redirect_uri"), slog.String("client_id", client.ID))
		h.errorPage(w, r, http.StatusBadRequest, invalidSignInLink)
		return nil, false
	}
	return ar, true
}

// pushedRequestForm keeps of an authorization request that names a pushed request
// only client_id, request_uri and the markers of a sign-in or consent detour (which
// Gatehouse itself adds and signs). RFC 9126 §4 lets the authorization server use
// only the pushed parameters; fosite would add every other one to them.
func pushedRequestForm(form url.Values) url.Values {
	out := url.Values{}
	for _, k := range []string{"client_id", "request_uri", paramSince, paramDeny, paramSig} {
		if v, ok := form[k]; ok {
			out[k] = v
		}
	}
	return out
}
