package oauth

import (
	"github.com/gatehouse-id/gatehouse/internal/signin"

	"time"

	"github.com/google/uuid"
	"github.com/mohae/deepcopy"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Session is what Gatehouse keeps with every code and token: the ID token claims
// (subject, auth_time, amr, sid, nonce) and what RFC 9068 access tokens need.
type Session struct {
	*openid.DefaultSession `json:"oidc"`
	// ClientID is the client the tokens were issued to (RFC 9068 client_id).
	ClientID string `json:"client_id"`
}

var (
	_ fosite.Session             = (*Session)(nil)
	_ openid.Session             = (*Session)(nil)
	_ oauth2.JWTSessionContainer = (*Session)(nil)
)

// NewSession returns an empty session, the prototype fosite decodes stored
// sessions into.
func NewSession() *Session {
	return &Session{DefaultSession: &openid.DefaultSession{
		Claims:  &jwt.IDTokenClaims{},
		Headers: &jwt.Headers{},
	}}
}

// newUserSession is the session of a user's authorization.
func newUserSession(issuer, clientID string, l signin.Login) *Session {
	s := NewSession()
	s.ClientID = clientID
	s.Subject = l.UserID
	s.Claims.Subject = l.UserID
	s.Claims.Issuer = issuer
	s.Claims.AuthTime = l.AuthTime.UTC()
	s.Claims.AuthenticationMethodsReferences = l.AMR
	s.Claims.AuthenticationContextClassReference = signin.ACRFor(l.AMR)
	if l.SessionID != "" {
		s.Claims.Extra = map[string]any{"sid": l.SessionID}
	}
	return s
}

// GetJWTClaims gives the claims of an RFC 9068 JWT access token.
func (s *Session) GetJWTClaims() jwt.JWTClaimsContainer {
	extra := map[string]any{"client_id": s.ClientID}
	if s.Claims != nil && !s.Claims.AuthTime.IsZero() {
		extra["auth_time"] = s.Claims.AuthTime.Unix()
	}
	sub := s.Subject
	if sub == "" {
		// Client credentials: the client acts on its own behalf (RFC 9068 §2.2).
		sub = s.ClientID
	}
	return &jwt.JWTClaims{
		Subject:   sub,
		JTI:       uuid.NewString(),
		IssuedAt:  time.Now().UTC(),
		NotBefore: time.Now().UTC(),
		Extra:     extra,
	}
}

// GetJWTHeader gives the JOSE header of an RFC 9068 JWT access token.
func (s *Session) GetJWTHeader() *jwt.Headers {
	// The kid comes from the signing key itself.
	return &jwt.Headers{Extra: map[string]any{"typ": "at+jwt"}}
}

// Clone returns a deep copy.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	return deepcopy.Copy(s).(fosite.Session)
}
