package clients

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Spec is everything a caller sets on a client: the input of Create and Update.
// JSON names follow RFC 7591 §2 where one exists. Empty fields get the defaults
// described on Validate.
type Spec struct {
	// ClientID is optional on Create (a random one is made); on Update it must be
	// empty or equal the client's id.
	ClientID                    string   `json:"client_id,omitempty"`
	ClientName                  string   `json:"client_name,omitempty"`
	RedirectURIs                []string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs      []string `json:"post_logout_redirect_uris,omitempty"`
	GrantTypes                  []string `json:"grant_types,omitempty"`
	ResponseTypes               []string `json:"response_types,omitempty"`
	Scope                       Scopes   `json:"scope,omitempty"`
	Audience                    []string `json:"audience,omitempty"`
	TokenEndpointAuthMethod     string   `json:"token_endpoint_auth_method,omitempty"`
	TokenEndpointAuthSigningAlg string   `json:"token_endpoint_auth_signing_alg,omitempty"`
	// Public marks a client that cannot keep a secret (a browser or native app).
	// It is the same as token_endpoint_auth_method "none".
	Public                   bool            `json:"public,omitempty"`
	ApplicationType          string          `json:"application_type,omitempty"`
	JWKS                     json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                  string          `json:"jwks_uri,omitempty"`
	IDTokenSignedResponseAlg string          `json:"id_token_signed_response_alg,omitempty"`
	AccessTokenFormat        string          `json:"access_token_format,omitempty"`
	Lifespans                Lifespans       `json:"lifespans,omitzero"`
	FirstParty               bool            `json:"first_party,omitempty"`
	AlwaysIssueRefreshToken  bool            `json:"always_issue_refresh_token,omitempty"`
	ClientURI                string          `json:"client_uri,omitempty"`
	LogoURI                  string          `json:"logo_uri,omitempty"`
	PolicyURI                string          `json:"policy_uri,omitempty"`
	TOSURI                   string          `json:"tos_uri,omitempty"`
	// AllowedCORSOrigins are origins (scheme://host[:port]) whose browser code
	// may call the token, userinfo and revocation endpoints as this client,
	// besides the origins of its redirect URIs.
	AllowedCORSOrigins []string `json:"allowed_cors_origins,omitempty"`
	// ResourceServer lets the client introspect tokens issued to any client
	// (RFC 7662 §4); an operator's decision, never a registered client's.
	ResourceServer bool `json:"resource_server,omitempty"`
	// ClaimsInIDToken puts the granted profile and email claims in the ID token
	// as well as userinfo, for relying parties that read only the ID token.
	ClaimsInIDToken bool `json:"claims_in_id_token,omitempty"`
	// MFAPolicy says when this client's users need a second factor:
	// optional, required or if_enrolled; empty follows the server's
	// mfa.policy. An operator's decision, never a registered client's.
	MFAPolicy string `json:"mfa_policy,omitempty"`
}

// Lifespans override the server's token lifetimes for one client; zero means the
// server default.
type Lifespans struct {
	AccessToken       Duration `json:"access_token,omitempty"`
	RefreshToken      Duration `json:"refresh_token,omitempty"`
	IDToken           Duration `json:"id_token,omitempty"`
	AuthorizationCode Duration `json:"authorization_code,omitempty"`
}

// View is a stored client as shown to operators and scripts. It never holds the
// secret or its hash.
type View struct {
	ClientID                    string          `json:"client_id"`
	ClientName                  string          `json:"client_name"`
	RedirectURIs                []string        `json:"redirect_uris"`
	PostLogoutRedirectURIs      []string        `json:"post_logout_redirect_uris"`
	GrantTypes                  []string        `json:"grant_types"`
	ResponseTypes               []string        `json:"response_types"`
	Scope                       Scopes          `json:"scope"`
	Audience                    []string        `json:"audience"`
	TokenEndpointAuthMethod     string          `json:"token_endpoint_auth_method"`
	TokenEndpointAuthSigningAlg string          `json:"token_endpoint_auth_signing_alg,omitempty"`
	Public                      bool            `json:"public"`
	ApplicationType             string          `json:"application_type"`
	JWKS                        json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                     string          `json:"jwks_uri,omitempty"`
	IDTokenSignedResponseAlg    string          `json:"id_token_signed_response_alg"`
	// AccessTokenFormat is "opaque", "jwt", or empty for the server default.
	AccessTokenFormat       string    `json:"access_token_format,omitempty"`
	Lifespans               Lifespans `json:"lifespans"`
	FirstParty              bool      `json:"first_party"`
	AlwaysIssueRefreshToken bool      `json:"always_issue_refresh_token"`
	ClientURI               string    `json:"client_uri,omitempty"`
	LogoURI                 string    `json:"logo_uri,omitempty"`
	PolicyURI               string    `json:"policy_uri,omitempty"`
	TOSURI                  string    `json:"tos_uri,omitempty"`
	AllowedCORSOrigins      []string  `json:"allowed_cors_origins"`
	ResourceServer          bool      `json:"resource_server"`
	ClaimsInIDToken         bool      `json:"claims_in_id_token"`
	MFAPolicy               string    `json:"mfa_policy"`
	CreatedAt               time.Time `json:"created_at"`
	UpdatedAt               time.Time `json:"updated_at"`
}

// Spec returns the Spec that describes v, so a caller can change some fields and
// hand it to Update (read, modify, write).
func (v View) Spec() Spec {
	return Spec{
		ClientID:                    v.ClientID,
		ClientName:                  v.ClientName,
		RedirectURIs:                clone(v.RedirectURIs),
		PostLogoutRedirectURIs:      clone(v.PostLogoutRedirectURIs),
		GrantTypes:                  clone(v.GrantTypes),
		ResponseTypes:               clone(v.ResponseTypes),
		Scope:                       Scopes(clone(v.Scope)),
		Audience:                    clone(v.Audience),
		TokenEndpointAuthMethod:     v.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg: v.TokenEndpointAuthSigningAlg,
		Public:                      v.Public,
		ApplicationType:             v.ApplicationType,
		JWKS:                        append(json.RawMessage(nil), v.JWKS...),
		JWKSURI:                     v.JWKSURI,
		IDTokenSignedResponseAlg:    v.IDTokenSignedResponseAlg,
		AccessTokenFormat:           v.AccessTokenFormat,
		Lifespans:                   v.Lifespans,
		FirstParty:                  v.FirstParty,
		AlwaysIssueRefreshToken:     v.AlwaysIssueRefreshToken,
		ClientURI:                   v.ClientURI,
		LogoURI:                     v.LogoURI,
		PolicyURI:                   v.PolicyURI,
		TOSURI:                      v.TOSURI,
		AllowedCORSOrigins:          clone(v.AllowedCORSOrigins),
		ResourceServer:              v.ResourceServer,
		ClaimsInIDToken:             v.ClaimsInIDToken,
		MFAPolicy:                   v.MFAPolicy,
	}
}

// ViewOf returns the View of a stored client record, leaving out its secret hash.
func ViewOf(c storage.Client) View {
	v := View{
		ClientID:                    c.ID,
		ClientName:                  c.Name,
		RedirectURIs:                nonNil(c.RedirectURIs),
		PostLogoutRedirectURIs:      nonNil(c.PostLogoutRedirectURIs),
		GrantTypes:                  nonNil(c.GrantTypes),
		ResponseTypes:               nonNil(c.ResponseTypes),
		Scope:                       Scopes(nonNil(c.Scopes)),
		Audience:                    nonNil(c.Audience),
		TokenEndpointAuthMethod:     c.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg: c.TokenEndpointAuthSigningAlg,
		Public:                      c.Public,
		ApplicationType:             c.ApplicationType,
		JWKSURI:                     c.JWKSURI,
		IDTokenSignedResponseAlg:    c.IDTokenSignedResponseAlg,
		AccessTokenFormat:           c.AccessTokenFormat,
		Lifespans: Lifespans{
			AccessToken:       Duration(c.AccessTokenLifespan),
			RefreshToken:      Duration(c.RefreshTokenLifespan),
			IDToken:           Duration(c.IDTokenLifespan),
			AuthorizationCode: Duration(c.AuthorizationCodeLifespan),
		},
		FirstParty:              c.FirstParty,
		AlwaysIssueRefreshToken: c.AlwaysIssueRefreshToken,
		ClientURI:               c.ClientURI,
		LogoURI:                 c.LogoURI,
		PolicyURI:               c.PolicyURI,
		TOSURI:                  c.TOSURI,
		AllowedCORSOrigins:      nonNil(c.AllowedCORSOrigins),
		ResourceServer:          c.ResourceServer,
		ClaimsInIDToken:         c.ClaimsInIDToken,
		MFAPolicy:               c.MFAPolicy,
		CreatedAt:               c.CreatedAt.UTC(),
		UpdatedAt:               c.UpdatedAt.UTC(),
	}
	if c.JWKS != "" {
		v.JWKS = json.RawMessage(c.JWKS)
	}
	return v
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return clone(l)
}

func clone(l []string) []string {
	if l == nil {
		return nil
	}
	return append(make([]string, 0, len(l)), l...)
}

// Scopes is a list of scope tokens. In JSON it is one space-separated string, as
// RFC 7591 §2 writes "scope"; a JSON array of strings is accepted as well.
type Scopes []string

// MarshalJSON writes the scopes as one space-separated string.
func (s Scopes) MarshalJSON() ([]byte, error) {
	return json.Marshal(strings.Join(s, " "))
}

// UnmarshalJSON reads a space-separated string or an array of strings.
func (s *Scopes) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		*s = strings.Fields(str)
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("scope: want a space-separated string or an array of strings")
	}
	*s = list
	return nil
}

// Duration is a time.Duration written in JSON as a Go duration string ("1h30m").
// A JSON number is read as seconds.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "1h0m0s".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string ("15m") or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var str string
	if err := json.Unmarshal(b, &str); err == nil {
		v, err := time.ParseDuration(str)
		if err != nil {
			return fmt.Errorf("lifespan: want a duration such as \"15m\" or \"720h\", got %q", str)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("lifespan: want a duration string or a number of seconds")
	}
	*d = Duration(time.Duration(secs * float64(time.Second)))
	return nil
}
