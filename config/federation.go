package config

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Federation configures sign-in through upstream identity providers
// (internal/federation).
type Federation struct {
	// Providers are offered on the sign-in and sign-up pages in this order.
	Providers []UpstreamProvider `koanf:"providers"`
}

// UpstreamProvider is one upstream identity provider.
type UpstreamProvider struct {
	// ID names the provider in URLs (/signin/with/<id>, the redirect URI
	// <issuer>/signin/callback/<id>), in idp_hint and in the stored links:
	// lower-case letters, digits, - and _. Name a provider as an imported
	// system did ("github", "google") so that imported accounts sign in.
	ID string `koanf:"id"`
	// Kind is oidc (any OpenID Connect provider, by issuer), google,
	// microsoft, gitlab or github; empty means oidc.
	Kind string `koanf:"kind"`
	// Name is the button's text ("Continue with <name>"); empty uses the
	// kind's name (Google, GitHub …) or the id.
	Name string `koanf:"name"`
	// Style is the button's look: empty (like the other buttons), dark or
	// light; LogoURL a small icon on it: a path on this server (such as
	// /static/github.svg, a file in templates_dir).
	Style   string `koanf:"style"`
	LogoURL string `koanf:"logo_url"`
	// Issuer is the OpenID Connect issuer URL (oidc; gitlab for a
	// self-hosted GitLab). For google and microsoft it replaces theirs
	// (Microsoft's authority, which the tenant follows): sovereign clouds.
	Issuer string `koanf:"issuer"`
	// Tenant is Microsoft's tenant: common (default), organizations,
	// consumers or a tenant id.
	Tenant string `koanf:"tenant"`
	// ClientID and ClientSecret are Gatehouse's registration at the
	// provider.
	ClientID     string `koanf:"client_id"`
	ClientSecret string `koanf:"client_secret"`
	// Scopes replace the kind's default (openid email profile; GitHub:
	// read:user user:email).
	Scopes []string `koanf:"scopes"`
	// Claims name the provider's claims when they are not the standard ones.
	Claims UpstreamClaims `koanf:"claims"`
	// AllowedDomains, when set, admit only addresses at these domains.
	AllowedDomains []string `koanf:"allowed_domains"`
	// LinkOnly forbids creating accounts through this provider: it only
	// signs in users who linked it on their account page.
	LinkOnly bool `koanf:"link_only"`
	// TrustMFA lets this provider's own multi-factor sign-in (amr with mfa,
	// otp or hwk) count as multi-factor here.
	TrustMFA bool `koanf:"trust_mfa"`
	// StoreTokens keeps the provider's access and refresh tokens, sealed
	// with the system secret, for applications that call its API.
	StoreTokens bool `koanf:"store_tokens"`
	// AuthURL, TokenURL and APIURL replace GitHub's endpoints (GitHub
	// Enterprise Server).
	AuthURL  string `koanf:"auth_url"`
	TokenURL string `koanf:"token_url"`
	APIURL   string `koanf:"api_url"`
}

// UpstreamClaims maps a provider's claims; empty means the standard name.
type UpstreamClaims struct {
	Subject       string `koanf:"sub"`
	Email         string `koanf:"email"`
	EmailVerified string `koanf:"email_verified"`
	Name          string `koanf:"name"`
	Picture       string `koanf:"picture"`
}

var providerID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// validateFederation adds the problems of federation.providers.
func (c Config) validateFederation(add func(format string, args ...any)) {
	seen := map[string]bool{}
	for i, p := range c.Federation.Providers {
		at := func(key string) string { return "federation.providers[" + itoa(i) + "]." + key }
		if !providerID.MatchString(p.ID) {
			add("%s: want 1-40 lower-case letters, digits, - or _, such as github, got %q", at("id"), p.ID)
		} else if seen[p.ID] {
			add("%s: %q is used by another provider", at("id"), p.ID)
		}
		seen[p.ID] = true
		if !slices.Contains([]string{"", "oidc", "google", "microsoft", "gitlab", "github"}, p.Kind) {
			add("%s: want oidc, google, microsoft, gitlab or github, got %q", at("kind"), p.Kind)
		}
		if (p.Kind == "" || p.Kind == "oidc") && p.Issuer == "" {
			add("%s: required for an oidc provider (its issuer URL, such as https://login.example.com)", at("issuer"))
		}
		if p.Issuer != "" {
			if u, err := url.Parse(p.Issuer); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopbackHost(u.Hostname()))) {
				add("%s: want an https URL (http only for localhost), got %q", at("issuer"), p.Issuer)
			}
		}
		if p.ClientID == "" {
			add("%s: required (Gatehouse's client id at the provider)", at("client_id"))
		}
		if p.ClientSecret == "" {
			add("%s: required (Gatehouse's client secret at the provider)", at("client_secret"))
		}
		if !slices.Contains([]string{"", "dark", "light"}, p.Style) {
			add("%s: want empty, dark or light, got %q", at("style"), p.Style)
		}
		if p.LogoURL != "" && !strings.HasPrefix(p.LogoURL, "/") {
			add("%s: want a path on this server such as /static/logo.svg, got %q", at("logo_url"), p.LogoURL)
		}
		for j, d := range p.AllowedDomains {
			if d == "" || strings.ContainsAny(d, "@/ ") || !strings.Contains(d, ".") {
				add("%s[%d]: want a domain such as example.com, got %q", at("allowed_domains"), j, d)
			}
		}
		for _, u := range []struct{ key, v string }{{"auth_url", p.AuthURL}, {"token_url", p.TokenURL}, {"api_url", p.APIURL}} {
			if u.v == "" {
				continue
			}
			if pu, err := url.Parse(u.v); err != nil || pu.Host == "" || (pu.Scheme != "https" && !(pu.Scheme == "http" && isLoopbackHost(pu.Hostname()))) {
				add("%s: want an https URL, got %q", at(u.key), u.v)
			}
		}
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}
