package oauth

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Token serves POST /oauth2/token: authorization_code, refresh_token and
// client_credentials.
func (h *Handler) Token() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		session := NewSession()
		if err := r.ParseForm(); err != nil {
			h.tokenError(w, r, nil, fosite.ErrInvalidRequest.WithHint("The request body could not be read."))
			return
		}
		if dup := duplicated(r.PostForm); dup != "" {
			h.tokenError(w, r, nil, fosite.ErrInvalidRequest.WithHintf("The parameter %q was given more than once (RFC 6749 §3.1).", dup))
			return
		}
		ar, err := h.provider.NewAccessRequest(ctx, r, session)
		if err != nil {
			h.tokenError(w, r, ar, err)
			return
		}
		ctx = h.clientContext(ctx, ar.GetClient())
		if ar.GetGrantTypes().ExactOne("client_credentials") {
			// The client acts for itself: every scope and audience it asked for and
			// may have (fosite checked) is granted.
			for _, s := range ar.GetRequestedScopes() {
				ar.GrantScope(s)
			}
			for _, a := range ar.GetRequestedAudience() {
				ar.GrantAudience(a)
			}
			session.ClientID = ar.GetClient().GetID()
		}
		resp, err := h.provider.NewAccessResponse(ctx, ar)
		if err != nil {
			h.tokenError(w, r, ar, err)
			return
		}
		h.provider.WriteAccessResponse(ctx, w, ar, resp)
		if h.metrics != nil {
			h.metrics.TokenIssued(strings.Join(ar.GetGrantTypes(), " "))
		}
	})
}

// clientContext carries the client's per-client choices to the strategies fosite
// calls: the ID token algorithm and whether refresh tokens need offline_access.
func (h *Handler) clientContext(ctx context.Context, c fosite.Client) context.Context {
	fc, ok := c.(*storage.FositeClient)
	if !ok {
		return ctx
	}
	rec := fc.Record()
	alg := rec.IDTokenSignedResponseAlg
	if alg == "" {
		alg = "RS256"
	}
	ctx = withIDTokenAlg(ctx, alg)
	if rec.AlwaysIssueRefreshToken {
		ctx = context.WithValue(ctx, alwaysRefreshKey{}, true)
	}
	return ctx
}

func (h *Handler) tokenError(w http.ResponseWriter, r *http.Request, ar fosite.AccessRequester, err error) {
	if errors.Is(err, fosite.ErrJTIKnown) {
		// RFC 7523 §3.2: a replayed client assertion is a failed client authentication.
		err = fosite.ErrInvalidClient.WithHint("The client assertion was already used.")
	}
	if ar == nil {
		ar = fosite.NewAccessRequest(nil)
	}
	if rfc, ok := unavailable(w, err); ok {
		h.logUnavailable(r, "token", err)
		h.provider.WriteAccessError(r.Context(), w, ar, rfc)
		return
	}
	h.logProtocolError(r, "token", err)
	setClientAuthChallenge(w, err)
	h.provider.WriteAccessError(r.Context(), w, ar, err)
}

// setClientAuthChallenge adds WWW-Authenticate to a 401 (RFC 6749 §5.2: a failed
// client authentication answers with the scheme the client may use).
func setClientAuthChallenge(w http.ResponseWriter, err error) {
	if fosite.ErrorToRFC6749Error(err).CodeField == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	}
}
