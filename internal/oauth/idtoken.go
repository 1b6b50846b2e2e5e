package oauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// idTokenHint is what a verified id_token_hint says.
type idTokenHint struct {
	Subject  string
	Audience []string
}

// verifyIDTokenHint checks that raw is an ID token this server issued and returns
// its subject and audience; the caller checks that the audience names the client.
// An ID token is a JWS signed by one of our published keys with an ID token
// algorithm, whose iss is ours and whose sub is set. JWT access tokens (RFC 9068)
// are signed with the same keys, so the header type tells them apart: typ
// at+jwt (RFC 9068 §2.1), or any type but JWT, is refused, and so is a token with
// the client_id claim every JWT access token has. An expired ID token is
// accepted (OpenID Connect Core §3.1.2.1, RP-Initiated Logout 1.0 §2).
func (h *Handler) verifyIDTokenHint(raw string) (*idTokenHint, error) {
	algs := make([]jose.SignatureAlgorithm, len(supportedIDTokenAlgs))
	for i, a := range supportedIDTokenAlgs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	tok, err := jwt.ParseSigned(raw, algs)
	if err != nil {
		return nil, fmt.Errorf("parse ID token: %w", err)
	}
	if len(tok.Headers) != 1 {
		return nil, errors.New("ID token: want one signature")
	}
	hdr := tok.Headers[0]
	if typ, ok := hdr.ExtraHeaders[jose.HeaderType]; ok {
		if s, _ := typ.(string); !strings.EqualFold(s, "JWT") {
			return nil, fmt.Errorf("ID token: header typ %q is not an ID token's", s)
		}
	}
	body, _, err := h.keys.JWKS()
	if err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("read JWKS: %w", err)
	}
	keys := set.Key(hdr.KeyID)
	if hdr.KeyID == "" || len(keys) == 0 {
		return nil, errors.New("ID token: unknown key")
	}
	var claims jwt.Claims
	var extra struct {
		ClientID *string `json:"client_id"`
	}
	if err := tok.Claims(keys[0].Key, &claims, &extra); err != nil {
		return nil, fmt.Errorf("ID token: %w", err)
	}
	switch {
	case claims.Issuer != h.cfg.Issuer:
		return nil, errors.New("ID token: not issued here")
	case claims.Subject == "":
		return nil, errors.New("ID token: no sub")
	case len(claims.Audience) == 0:
		return nil, errors.New("ID token: no aud")
	case extra.ClientID != nil:
		return nil, errors.New("ID token: has client_id, as access tokens do")
	}
	return &idTokenHint{Subject: claims.Subject, Audience: claims.Audience}, nil
}
