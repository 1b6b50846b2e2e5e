package oauth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Config holds the protocol settings. Zero durations take the defaults below.
type Config struct {
	// Issuer is the public URL, without a trailing slash.
	Issuer string
	// Secrets are the system secrets; the first one keys the HMAC of opaque tokens
	// and codes, the others still verify (rotation).
	Secrets []string

	AccessTokenLifespan   time.Duration // default 1h
	RefreshTokenLifespan  time.Duration // default 30 days
	IDTokenLifespan       time.Duration // default 1h
	AuthorizeCodeLifespan time.Duration // default 5m
	PARLifespan           time.Duration // default 90s

	// EnforcePKCE requires PKCE (S256) of every client, not only public ones.
	EnforcePKCE bool
	// JWTAccessTokens makes RFC 9068 JWT access tokens the default for clients that
	// do not choose.
	JWTAccessTokens bool
	// JWTAccessTokenAlg signs JWT access tokens: ES256 (default), RS256 or EdDSA.
	// The key source must hold an active key of it.
	JWTAccessTokenAlg string
	// DynamicRegistration serves Dynamic Client Registration (RFC 7591, RFC 7592)
	// at /oauth2/register and advertises it in discovery.
	DynamicRegistration bool
	// RegistrationTokens are the initial access tokens registration requires
	// (RFC 7591 §3); at least one when DynamicRegistration is on.
	RegistrationTokens []string
	// DefaultAudience is the aud of access tokens whose request named no RFC 8707
	// resource; empty means the issuer.
	DefaultAudience string
	// RegistrableScopes are the scopes a dynamically registered client may give
	// itself (RFC 7591 §2: the server decides what a client may register); nil
	// means DefaultRegistrableScopes. Clients an operator creates are not limited.
	RegistrableScopes []string
	// InteractionLifespan bounds how long a sign-in or consent detour may take
	// before the authorization request must start again. Default 1h.
	InteractionLifespan time.Duration
	// UILocales are the languages the pages speak (BCP 47 tags), advertised in
	// discovery as ui_locales_supported; nil advertises nothing.
	UILocales []string
	// MFAPolicy is the server's second-factor rule (mfa.policy: optional,
	// required or if_enrolled), which a client's own mfa_policy overrides. Under
	// "required" an authorization on a session without a second factor steps
	// the session up, as it does for acr_values asking for the MFA level.
	MFAPolicy string
}

// DefaultRegistrableScopes are the scopes a dynamically registered client may
// have unless the operator says otherwise: enough to sign users in and refresh.
func DefaultRegistrableScopes() []string {
	return []string{"openid", "profile", "email", "offline_access"}
}

func (c *Config) setDefaults() {
	if c.RegistrableScopes == nil {
		c.RegistrableScopes = DefaultRegistrableScopes()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.AccessTokenLifespan, time.Hour)
	def(&c.RefreshTokenLifespan, 30*24*time.Hour)
	def(&c.IDTokenLifespan, time.Hour)
	def(&c.AuthorizeCodeLifespan, 5*time.Minute)
	def(&c.PARLifespan, 90*time.Second)
	def(&c.InteractionLifespan, time.Hour)
	if c.JWTAccessTokenAlg == "" {
		c.JWTAccessTokenAlg = "ES256"
	}
}

func (c *Config) validate() error {
	var problems []string
	u, err := url.Parse(c.Issuer)
	if err != nil || !u.IsAbs() || strings.HasSuffix(c.Issuer, "/") {
		problems = append(problems, fmt.Sprintf("issuer: want an absolute URL without a trailing slash, got %q", c.Issuer))
	}
	if len(c.Secrets) == 0 || len(c.Secrets[0]) < 32 {
		problems = append(problems, "secrets: want at least one system secret of 32+ characters")
	}
	if c.JWTAccessTokenAlg != "RS256" && c.JWTAccessTokenAlg != "ES256" && c.JWTAccessTokenAlg != "EdDSA" {
		problems = append(problems, fmt.Sprintf("jwt access token alg: want ES256, RS256 or EdDSA, got %q", c.JWTAccessTokenAlg))
	}
	if a := c.DefaultAudience; a != "" {
		if u, err := url.Parse(a); err != nil || !u.IsAbs() || strings.Contains(a, "#") {
			problems = append(problems, fmt.Sprintf("default audience: want an absolute URI without a fragment (RFC 8707), got %q", a))
		}
	}
	if c.DynamicRegistration && len(c.RegistrationTokens) == 0 {
		problems = append(problems, "dynamic registration: want at least one initial access token")
	}
	if len(problems) > 0 {
		return errors.New("oauth config: " + strings.Join(problems, "; "))
	}
	return nil
}

// MaxTokenLifetime is the longest any signed token lives, so a retired signing key
// must stay published at least this long.
func (c Config) MaxTokenLifetime() time.Duration {
	c.setDefaults()
	return max(c.AccessTokenLifespan, c.IDTokenLifespan)
}
