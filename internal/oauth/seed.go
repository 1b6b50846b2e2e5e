package oauth

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/signin"
	"github.com/ory/fosite"
)

// StoredToken describes a token as the token endpoint would have issued it, for
// load tests that fill a database with generated tokens (`gatehouse bench seed`).
// Subject empty means a client_credentials token.
type StoredToken struct {
	Issuer, ClientID, Subject string
	Scopes                    []string
	AuthTime                  time.Time
	AccessExpiresAt           time.Time
	RefreshExpiresAt          time.Time // zero: no refresh token
}

// StoredJSON returns the form and session JSON the token endpoint stores with
// such a token: the form as fosite sanitises it, and the session with the
// claims and expiries a real grant leaves in it.
func (t StoredToken) StoredJSON() (form, session []byte, err error) {
	var s *Session
	f := url.Values{"scope": {strings.Join(t.Scopes, " ")}}
	if t.Subject == "" {
		s = NewSession()
		s.ClientID = t.ClientID
		f.Set("grant_type", "client_credentials")
	} else {
		s = newUserSession(t.Issuer, t.ClientID, signin.Login{UserID: t.Subject, AuthTime: t.AuthTime, AMR: []string{"pwd"}})
		s.Claims.RequestedAt = t.AuthTime.UTC()
		s.Claims.IssuedAt = t.AuthTime.UTC()
		s.Claims.ExpiresAt = t.AccessExpiresAt.UTC()
		s.Claims.Audience = []string{t.ClientID}
		f.Set("grant_type", "authorization_code")
		f.Set("client_id", t.ClientID)
	}
	s.SetExpiresAt(fosite.AccessToken, t.AccessExpiresAt.UTC())
	if !t.RefreshExpiresAt.IsZero() {
		s.SetExpiresAt(fosite.RefreshToken, t.RefreshExpiresAt.UTC())
	}
	if form, err = json.Marshal(f); err != nil {
		return nil, nil, fmt.Errorf("encode form: %w", err)
	}
	if session, err = json.Marshal(s); err != nil {
		return nil, nil, fmt.Errorf("encode session: %w", err)
	}
	return form, session, nil
}
