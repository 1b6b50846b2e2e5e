package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Introspect serves POST /oauth2/introspect (RFC 7662). The caller authenticates
// as a confidential client (RFC 7662 §2.1: a bearer token says nothing about who
// asks). It learns about its own tokens; a client the operator marked as a
// resource server learns about any client's. Anyone else is told only
// {"active":false} (RFC 7662 §4), as for an unknown token.
func (h *Handler) Introspect() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, _ := withRequestState(r.Context())
		if err := r.ParseForm(); err != nil {
			h.introspectError(w, r, fosite.ErrInvalidRequest.WithHint("The request body could not be read."))
			return
		}
		if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "bearer") {
			h.introspectError(w, r, fosite.ErrInvalidClient.WithHint("A bearer token is not client authentication at the introspection endpoint (RFC 7662 §2.1): authenticate as the client, with its secret or a private_key_jwt assertion."))
			return
		}
		client, err := h.fosite.AuthenticateClient(ctx, r, r.PostForm)
		if err != nil {
			h.introspectError(w, r, err)
			return
		}
		if client.IsPublic() {
			h.introspectError(w, r, fosite.ErrInvalidClient.WithHint("A public client cannot introspect tokens: only a client that can keep a secret may (RFC 7662 §4)."))
			return
		}
		token := r.PostForm.Get("token")
		if token == "" {
			h.introspectError(w, r, fosite.ErrInvalidRequest.WithHint("The token parameter is missing."))
			return
		}
		scopes := strings.Fields(r.PostForm.Get("scope"))
		inactive := &fosite.IntrospectionResponse{Active: false}
		use, ar, err := h.provider.IntrospectToken(ctx, token, fosite.TokenUse(r.PostForm.Get("token_type_hint")), NewSession(), scopes...)
		if err != nil {
			if storage.IsUnavailable(err) {
				// fosite would answer {"active":false}: a resource server would
				// reject a good token because of our outage.
				h.introspectError(w, r, err)
				return
			}
			h.provider.WriteIntrospectionResponse(ctx, w, inactive)
			return
		}
		if ar.GetClient().GetID() != client.GetID() {
			if rec, ok := requestClient(ctx); !ok || !rec.ResourceServer {
				h.note(r, slog.String("introspection", "token of another client"))
				h.provider.WriteIntrospectionResponse(ctx, w, inactive)
				return
			}
		}
		resp := &fosite.IntrospectionResponse{Active: true, AccessRequester: ar, TokenUse: use}
		if use == fosite.AccessToken {
			resp.AccessTokenType = fosite.BearerAccessToken
		}
		h.provider.WriteIntrospectionResponse(ctx, w, resp)
	})
}

// introspectError answers a refused introspection or revocation request with
// RFC 6749 §5.2 JSON (and 503 with Retry-After when the database cannot serve).
func (h *Handler) introspectError(w http.ResponseWriter, r *http.Request, err error) {
	rfc := h.answer(w, r, err)
	setClientAuthChallenge(w, rfc)
	writeJSONError(w, rfc.CodeField, rfc.ErrorField, rfc.GetDescription())
}

// Revoke serves POST /oauth2/revoke (RFC 7009) for access and refresh tokens. It
// answers 200 only when the token is revoked, or is not a token of this client
// (RFC 7009 §2.2: an invalid token is no error); when the database cannot
// complete the revocation it answers 503, never a 200 for a token that stays
// valid.
func (h *Handler) Revoke() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, _ := withRequestState(r.Context())
		if err := r.ParseForm(); err != nil {
			h.introspectError(w, r, fosite.ErrInvalidRequest.WithHint("The request body could not be read."))
			return
		}
		client, err := h.fosite.AuthenticateClient(ctx, r, r.PostForm)
		if err != nil {
			h.introspectError(w, r, err)
			return
		}
		token := r.PostForm.Get("token")
		if token == "" {
			h.introspectError(w, r, fosite.ErrInvalidRequest.WithHint("The token parameter is missing."))
			return
		}
		if err := h.revoke(ctx, r, client, token, r.PostForm.Get("token_type_hint")); err != nil {
			h.introspectError(w, r, fosite.ErrTemporarilyUnavailable.WithWrap(err))
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	})
}

// revoke revokes token and the rest of its grant (every access and refresh token
// of the request, RFC 7009 §2.1) in one transaction, when client owns it. An
// unknown, expired or already revoked token is no error; a database failure is.
func (h *Handler) revoke(ctx context.Context, r *http.Request, client fosite.Client, token, hint string) error {
	return h.store.InTx(ctx, func(ctx context.Context) error {
		lookups := []func() (fosite.Requester, error){
			func() (fosite.Requester, error) {
				return h.store.GetRefreshTokenSession(ctx, h.strategy.RefreshTokenSignature(ctx, token), NewSession())
			},
			func() (fosite.Requester, error) {
				return h.store.GetAccessTokenSession(ctx, h.strategy.AccessTokenSignature(ctx, token), NewSession())
			},
		}
		if hint == string(fosite.AccessToken) {
			lookups[0], lookups[1] = lookups[1], lookups[0]
		}
		var req fosite.Requester
		for _, find := range lookups {
			found, err := find()
			if err == nil {
				req = found
				break
			}
			if !errors.Is(err, fosite.ErrNotFound) && !errors.Is(err, fosite.ErrInactiveToken) {
				return err
			}
		}
		if req == nil {
			return nil
		}
		if req.GetClient().GetID() != client.GetID() {
			h.note(r, slog.String("revocation", "token of another client"))
			return nil
		}
		if err := h.store.RevokeRefreshToken(ctx, req.GetID()); err != nil {
			return err
		}
		return h.store.RevokeAccessToken(ctx, req.GetID())
	})
}

// UserInfo serves GET and POST /userinfo: the claims of the access token's subject
// that its scopes allow (OpenID Connect Core §5.3, §5.4). The token comes in the
// Authorization header or a form body (RFC 6750 §2.1, §2.2), never in the query
// (RFC 6750 §2.3, RFC 9700 §4.3.2: URLs end up in logs). Only access tokens are
// accepted. While the database cannot serve, a token is answered with 503 and
// Retry-After, never 401, which would make the client throw its tokens away.
func (h *Handler) UserInfo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		invalidToken := func(description string) {
			h.note(r, slog.String("error", "invalid_token"), slog.String("hint", description))
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="invalid_token", error_description="`+description+`"`)
			writeJSONError(w, http.StatusUnauthorized, "invalid_token", description)
		}
		unavailable := func(err error) {
			rfc := h.answer(w, r, fosite.ErrTemporarilyUnavailable.WithWrap(err))
			writeJSONError(w, rfc.CodeField, rfc.ErrorField, rfc.GetDescription())
		}
		if r.URL.Query().Has("access_token") {
			const d = "Send the access token in the Authorization header or the form body, not in the URL (RFC 6750 §2.3)."
			h.note(r, slog.String("error", "invalid_request"), slog.String("hint", d))
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="invalid_request"`)
			writeJSONError(w, http.StatusBadRequest, "invalid_request", d)
			return
		}
		token := userInfoToken(r)
		if token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
			writeJSONError(w, http.StatusUnauthorized, "invalid_request", "The request carries no access token.")
			return
		}
		// The token's user is read with the token, in one statement.
		var subject storage.TokenSubject
		use, ar, err := h.provider.IntrospectToken(storage.WithTokenSubject(ctx, &subject), token, fosite.AccessToken, NewSession())
		if err != nil {
			if storage.IsUnavailable(err) || fosite.ErrorToRFC6749Error(err).CodeField >= 500 {
				unavailable(err)
				return
			}
			// RFC 6750 §3.1.
			invalidToken("The access token is invalid, expired or revoked.")
			return
		}
		if use != fosite.AccessToken {
			// fosite's introspection also finds refresh tokens (RFC 9700 §4.14).
			invalidToken("This is not an access token.")
			return
		}
		noteCORSClient(ctx, ar.GetClient()) // the token's client decides cross-origin reads
		scopes := ar.GetGrantedScopes()
		if !scopes.Has("openid") {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse", error="insufficient_scope", scope="openid"`)
			writeJSONError(w, http.StatusForbidden, "insufficient_scope", "The access token was not granted the openid scope.")
			return
		}
		sub := ar.GetSession().GetSubject()
		user, err := subject.User, error(nil)
		switch {
		case !subject.Read || subject.Subject != sub:
			// Found by another way than the joined read (none today): ask.
			user, err = h.store.GetUser(ctx, sub)
		case user.ID == "":
			err = storage.ErrNotFound
		}
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) {
				invalidToken("The user no longer exists.")
				return
			}
			unavailable(err)
			return
		}
		if user.Disabled {
			invalidToken("The user is disabled.")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusOK, UserClaims(user, scopes))
	})
}

// userInfoToken returns the access token of an Authorization: Bearer header, or
// else of an access_token parameter in a form body; "" when there is none.
func userInfoToken(r *http.Request) string {
	if scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "bearer") {
		return strings.TrimSpace(token)
	}
	if r.Method != http.MethodPost {
		return ""
	}
	if err := r.ParseForm(); err != nil {
		return ""
	}
	return r.PostForm.Get("access_token")
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
