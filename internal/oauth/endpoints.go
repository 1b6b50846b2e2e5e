package oauth

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Introspect serves POST /oauth2/introspect (RFC 7662). The caller authenticates as
// a client.
func (h *Handler) Introspect() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		resp, err := h.provider.NewIntrospectionRequest(ctx, r, NewSession())
		if rfc, ok := unavailable(w, err); ok {
			// fosite would answer {"active":false}: a resource server would
			// reject a good token because of our outage.
			h.logUnavailable(r, "introspect", err)
			writeJSONError(w, rfc.CodeField, rfc.ErrorField, rfc.GetDescription())
			return
		}
		if err != nil {
			h.logProtocolError(r, "introspect", err)
			setClientAuthChallenge(w, err)
			h.provider.WriteIntrospectionError(ctx, w, err)
			return
		}
		h.provider.WriteIntrospectionResponse(ctx, w, resp)
	})
}

// Revoke serves POST /oauth2/revoke (RFC 7009) for access and refresh tokens.
func (h *Handler) Revoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		err := h.provider.NewRevocationRequest(ctx, r)
		if rfc, ok := unavailable(w, err); ok {
			// fosite would answer 200: the client would believe the token revoked.
			h.logUnavailable(r, "revoke", err)
			writeJSONError(w, rfc.CodeField, rfc.ErrorField, rfc.GetDescription())
			return
		}
		if err != nil {
			h.logProtocolError(r, "revoke", err)
			setClientAuthChallenge(w, err)
		}
		h.provider.WriteRevocationResponse(ctx, w, err)
	})
}

// UserInfo serves GET and POST /userinfo: the claims of the access token's subject
// that its scopes allow (OpenID Connect Core §5.3, §5.4).
func (h *Handler) UserInfo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		token := fosite.AccessTokenFromRequest(r)
		if token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
			writeJSONError(w, http.StatusUnauthorized, "invalid_request", "The request carries no access token.")
			return
		}
		_, ar, err := h.provider.IntrospectToken(ctx, token, fosite.AccessToken, NewSession())
		if err != nil {
			rfc := fosite.ErrorToRFC6749Error(err)
			if rfc.CodeField >= 500 {
				h.logProtocolError(r, "userinfo", err)
				writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Please try again in a moment.")
				return
			}
			// RFC 6750 §3.1.
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="invalid_token", error_description="The access token is invalid, expired or revoked."`)
			writeJSONError(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid, expired or revoked.")
			return
		}
		noteCORSClient(ctx, ar.GetClient()) // the token's client decides cross-origin reads
		scopes := ar.GetGrantedScopes()
		if !scopes.Has("openid") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="insufficient_scope", scope="openid"`)
			writeJSONError(w, http.StatusForbidden, "insufficient_scope", "The access token was not granted the openid scope.")
			return
		}
		subject := ar.GetSession().GetSubject()
		user, err := h.store.GetUser(ctx, subject)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="invalid_token", error_description="The user no longer exists."`)
				writeJSONError(w, http.StatusUnauthorized, "invalid_token", "The user no longer exists.")
				return
			}
			h.log.ErrorContext(ctx, "userinfo: load user", "error", err.Error())
			writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "Please try again in a moment.")
			return
		}
		if user.Disabled {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="invalid_token", error_description="The user is disabled."`)
			writeJSONError(w, http.StatusUnauthorized, "invalid_token", "The user is disabled.")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, UserClaims(user, scopes))
	})
}

// UserClaims returns the standard claims of u that the granted scopes release
// (OpenID Connect Core §5.4). Empty values are left out.
func UserClaims(u storage.User, scopes []string) map[string]any {
	c := map[string]any{"sub": u.ID}
	if slices.Contains(scopes, "profile") {
		for k, v := range map[string]string{"name": u.Name, "given_name": u.GivenName, "family_name": u.FamilyName, "picture": u.Picture, "locale": u.Locale} {
			if v != "" {
				c[k] = v
			}
		}
		c["updated_at"] = u.UpdatedAt.Unix()
	}
	if slices.Contains(scopes, "email") {
		c["email"] = u.Email
		c["email_verified"] = u.EmailVerified
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeJSONError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]string{"error": code, "error_description": strings.TrimSpace(description)})
}
