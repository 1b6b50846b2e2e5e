package authapi

import (
	"net/http"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// tokenClaims are the claims of /token's JWT: who, for which session, and the
// profile a first-party backend usually wants, signed with the provider's
// keys (verify with /api/auth/jwks or /.well-known/jwks.json).
type tokenClaims struct {
	jwt.Claims
	SessionID     string  `json:"sid"`
	Email         string  `json:"email"`
	EmailVerified bool    `json:"email_verified"`
	Name          string  `json:"name,omitempty"`
	Image         *string `json:"image,omitempty"`
}

// Token serves GET /api/auth/token: a short-lived JWT (RS256, iss and aud the
// issuer, sub the user id) for the caller's session.
func (a *API) Token() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		k, err := a.keys.Signer("RS256")
		if err != nil {
			a.serverError(w, r, "token: signing key", err)
			return
		}
		sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Alg), Key: k.Signer},
			(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), k.KID))
		if err != nil {
			a.serverError(w, r, "token: signer", err)
			return
		}
		now := a.now()
		u := a.sessionUser(c.bs)
		exp := now.Add(a.tokenTTL)
		if c.bs.ExpiresAt.Before(exp) {
			exp = c.bs.ExpiresAt
		}
		claims := tokenClaims{
			Claims: jwt.Claims{
				Issuer: a.issuer, Subject: u.ID, Audience: jwt.Audience{a.issuer}, ID: uuid.NewString(),
				IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Second)), Expiry: jwt.NewNumericDate(exp),
			},
			SessionID: c.bs.ID, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name, Image: u.Image,
		}
		raw, err := jwt.Signed(sig).Claims(claims).Serialize()
		if err != nil {
			a.serverError(w, r, "token: sign", err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"token": raw})
	})
}

// JWKS serves GET /api/auth/jwks: the provider's published keys, as
// /.well-known/jwks.json.
func (a *API) JWKS() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, etag, err := a.keys.JWKS()
		if err != nil {
			a.serverError(w, r, "jwks", err)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "public, max-age=60")
		if etag != "" {
			h.Set("ETag", etag)
			if r.Header.Get("If-None-Match") == etag {
				w.WriteHeader(http.StatusNotModified)
				return
			}
		}
		w.Write(body)
	})
}
