package oauth

import (
	"context"
	"strings"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"

	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/storage"
)

// KeySource gives the active signing key of an algorithm, a published key by
// its kid, and the published JWKS. internal/keys implements it from an
// in-memory snapshot, so signing and verifying never wait for the database.
type KeySource interface {
	Signer(alg string) (keys.ActiveKey, error)
	PublicKey(kid string) (keys.PublicKey, error)
	JWKS() (body []byte, etag string, err error)
}

// Opaque tokens and codes carry a short prefix that tells people and secret scanners
// what they are.
const (
	prefixAccessToken   = "gh_at_"
	prefixRefreshToken  = "gh_rt_"
	prefixAuthorizeCode = "gh_ac_"
)

// coreStrategy makes codes and refresh tokens with fosite's HMAC strategy, and
// access tokens either the same way (opaque, the default) or as RFC 9068 JWTs,
// chosen per client.
type coreStrategy struct {
	hmac       *oauth2.HMACSHAStrategyUnPrefixed
	jwt        *oauth2.DefaultJWTStrategy
	defaultJWT bool
	// audience sets the audience of an access token about to be made.
	audience func(ctx context.Context, r fosite.Requester)
}

var _ oauth2.CoreStrategy = (*coreStrategy)(nil)

func (s *coreStrategy) wantsJWT(r fosite.Requester) bool {
	if fc, ok := r.GetClient().(*storage.FositeClient); ok {
		switch fc.Record().AccessTokenFormat {
		case "jwt":
			return true
		case "opaque":
			return false
		}
	}
	return s.defaultJWT
}

func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

func (s *coreStrategy) AccessTokenSignature(ctx context.Context, token string) string {
	if isJWT(token) {
		return s.jwt.AccessTokenSignature(ctx, token)
	}
	return s.hmac.AccessTokenSignature(ctx, strings.TrimPrefix(token, prefixAccessToken))
}

func (s *coreStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	if s.audience != nil {
		s.audience(ctx, r)
	}
	if s.wantsJWT(r) {
		return s.jwt.GenerateAccessToken(ctx, r)
	}
	token, sig, err := s.hmac.GenerateAccessToken(ctx, r)
	return prefixAccessToken + token, sig, err
}

func (s *coreStrategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if isJWT(token) {
		return s.jwt.ValidateAccessToken(ctx, r, token)
	}
	return s.hmac.ValidateAccessToken(ctx, r, strings.TrimPrefix(token, prefixAccessToken))
}

func (s *coreStrategy) RefreshTokenSignature(ctx context.Context, token string) string {
	return s.hmac.RefreshTokenSignature(ctx, strings.TrimPrefix(token, prefixRefreshToken))
}

func (s *coreStrategy) GenerateRefreshToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	token, sig, err := s.hmac.GenerateRefreshToken(ctx, r)
	return prefixRefreshToken + token, sig, err
}

func (s *coreStrategy) ValidateRefreshToken(ctx context.Context, r fosite.Requester, token string) error {
	return s.hmac.ValidateRefreshToken(ctx, r, strings.TrimPrefix(token, prefixRefreshToken))
}

func (s *coreStrategy) AuthorizeCodeSignature(ctx context.Context, token string) string {
	return s.hmac.AuthorizeCodeSignature(ctx, strings.TrimPrefix(token, prefixAuthorizeCode))
}

func (s *coreStrategy) GenerateAuthorizeCode(ctx context.Context, r fosite.Requester) (string, string, error) {
	token, sig, err := s.hmac.GenerateAuthorizeCode(ctx, r)
	return prefixAuthorizeCode + token, sig, err
}

func (s *coreStrategy) ValidateAuthorizeCode(ctx context.Context, r fosite.Requester, token string) error {
	return s.hmac.ValidateAuthorizeCode(ctx, r, strings.TrimPrefix(token, prefixAuthorizeCode))
}

// algKey carries, in a request's context, the algorithm the client asked its ID
// tokens to be signed with.
type algKey struct{}

func withIDTokenAlg(ctx context.Context, alg string) context.Context {
	return context.WithValue(ctx, algKey{}, alg)
}
