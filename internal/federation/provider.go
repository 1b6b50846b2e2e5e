package federation

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Kinds of upstream provider.
const (
	KindOIDC      = "oidc"
	KindGoogle    = "google"
	KindMicrosoft = "microsoft"
	KindGitLab    = "gitlab"
	KindGitHub    = "github"
)

// ProviderConfig is one upstream provider as the operator configures it.
type ProviderConfig struct {
	// ID names the provider in URLs (/signin/with/{id}), in idp_hint and in
	// the external identities: lower-case letters, digits, - and _. Use the
	// name an imported system used ("github", "google") so that imported
	// identities sign in.
	ID string
	// Kind is oidc (the default), google, microsoft, gitlab or github.
	Kind string
	// Name is shown on the button ("Sign in with <Name>").
	Name string
	// Style is the button's look: "" (neutral), "dark" or "light"; LogoURL
	// an icon shown on it (https or a path on this server).
	Style, LogoURL string
	// Issuer is the OpenID Connect issuer (oidc, gitlab). Google and
	// Microsoft have theirs; set for them, it replaces Google's issuer
	// (https://accounts.google.com) or Microsoft's authority
	// (https://login.microsoftonline.com, which the tenant and /v2.0 follow):
	// for sovereign clouds (https://login.microsoftonline.us) and for tests
	// against a provider on loopback.
	Issuer string
	// Tenant is Microsoft's tenant: common (the default), organizations,
	// consumers or a tenant id.
	Tenant string
	// ClientID and ClientSecret are this server's registration at the
	// provider.
	ClientID, ClientSecret string
	// Scopes replace the kind's default scopes.
	Scopes []string
	// Claims maps the ID token and userinfo claims (oidc kinds).
	Claims ClaimMapping
	// AllowedDomains, when set, admit only addresses at these domains.
	AllowedDomains []string
	// LinkOnly forbids creating accounts: the provider only signs in users
	// who linked it.
	LinkOnly bool
	// TrustMFA lets the provider's own multi-factor sign-in (amr with mfa,
	// otp or hwk) count as "mfa" in the session.
	TrustMFA bool
	// StoreTokens keeps the upstream access and refresh tokens, sealed, for
	// applications that call the provider's API.
	StoreTokens bool
	// AuthURL, TokenURL and APIURL replace GitHub's endpoints (GitHub
	// Enterprise Server, tests).
	AuthURL, TokenURL, APIURL string
}

// ClaimMapping names the upstream claims that give the subject, address,
// whether it is verified, the name and the picture; empty means the standard
// claim (sub, email, email_verified, name, picture).
type ClaimMapping struct {
	Subject, Email, EmailVerified, Name, Picture string
}

func (m ClaimMapping) withDefaults() ClaimMapping {
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	return ClaimMapping{
		Subject: def(m.Subject, "sub"), Email: def(m.Email, "email"), EmailVerified: def(m.EmailVerified, "email_verified"),
		Name: def(m.Name, "name"), Picture: def(m.Picture, "picture"),
	}
}

// Button is what the pages show for a provider.
type Button struct {
	ID, Name, Style, LogoURL string
}

var (
	idPattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)
	tenantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,99}$`)
)

// Problem is one invalid field of a provider: its name as the configuration
// and the admin API spell it (issuer, claims.email, allowed_domains[1]) and
// what is wrong with it.
type Problem struct{ Field, Message string }

// ValidationError lists every problem of one provider.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	var parts []string
	for _, p := range e.Problems {
		parts = append(parts, p.Field+" "+p.Message)
	}
	return "invalid provider: " + strings.Join(parts, "; ")
}

// Validate reports every problem of the providers at once, each naming the
// provider's place in the list.
func Validate(ps []ProviderConfig) error {
	var problems []string
	seen := map[string]bool{}
	for i, p := range ps {
		at := fmt.Sprintf("federation.providers[%d]", i)
		for _, pr := range check(p) {
			problems = append(problems, at+"."+pr.Field+" "+pr.Message)
		}
		if idPattern.MatchString(p.ID) && seen[p.ID] {
			problems = append(problems, fmt.Sprintf("%s.id %q is used twice", at, p.ID))
		}
		seen[p.ID] = true
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// check returns every problem of one provider: the rules of the
// configuration file and of the admin API alike.
func check(p ProviderConfig) []Problem {
	var out []Problem
	add := func(field, msg string) { out = append(out, Problem{field, msg}) }
	for _, f := range []struct{ name, v string }{
		{"id", p.ID}, {"kind", p.Kind}, {"name", p.Name}, {"style", p.Style}, {"logo_url", p.LogoURL}, {"issuer", p.Issuer},
		{"tenant", p.Tenant}, {"client_id", p.ClientID}, {"client_secret", p.ClientSecret}, {"claims.sub", p.Claims.Subject},
		{"claims.email", p.Claims.Email}, {"claims.email_verified", p.Claims.EmailVerified}, {"claims.name", p.Claims.Name},
		{"claims.picture", p.Claims.Picture}, {"auth_url", p.AuthURL}, {"token_url", p.TokenURL}, {"api_url", p.APIURL},
	} {
		if !utf8.ValidString(f.v) || strings.ContainsFunc(f.v, unicode.IsControl) {
			add(f.name, "must be text without control characters")
		} else if len(f.v) > 2048 {
			add(f.name, "must be at most 2048 bytes")
		}
	}
	if !idPattern.MatchString(p.ID) {
		add("id", "must be 1-40 lower-case letters, digits, - or _, starting with a letter or digit")
	}
	kind := p.Kind
	if kind == "" {
		kind = KindOIDC
	}
	switch kind {
	case KindOIDC, KindGitLab, KindGoogle, KindMicrosoft:
		if kind == KindOIDC && p.Issuer == "" {
			add("issuer", "is required for an oidc provider")
		}
		if p.Issuer != "" && !webURL(p.Issuer) {
			add("issuer", "must be an https URL (http only for localhost)")
		}
	case KindGitHub:
	default:
		add("kind", fmt.Sprintf("%q is not one of oidc, google, microsoft, gitlab, github", p.Kind))
	}
	if kind == KindMicrosoft && p.Tenant != "" && !tenantPattern.MatchString(p.Tenant) {
		add("tenant", "must be common, organizations, consumers or a tenant id (letters, digits, - and .)")
	}
	if p.ClientID == "" {
		add("client_id", "is required")
	}
	if p.ClientSecret == "" {
		add("client_secret", "is required")
	}
	if !slices.Contains([]string{"", "dark", "light"}, p.Style) {
		add("style", "must be empty, dark or light")
	}
	if p.LogoURL != "" && (!strings.HasPrefix(p.LogoURL, "/") || strings.HasPrefix(p.LogoURL, "//") || strings.ContainsAny(p.LogoURL, " \"'<>")) {
		add("logo_url", "must be a path on this server such as /static/logo.svg")
	}
	if utf8.RuneCountInString(p.Name) > 64 {
		add("name", "must be at most 64 characters")
	}
	for j, sc := range p.Scopes {
		if sc == "" || strings.ContainsFunc(sc, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '"' || r == '\\' }) {
			add(fmt.Sprintf("scopes[%d]", j), fmt.Sprintf("%q is not a scope", sc))
		}
	}
	for j, d := range p.AllowedDomains {
		if d == "" || strings.ContainsAny(d, "@/ ") || !utf8.ValidString(d) || strings.ContainsFunc(d, unicode.IsControl) {
			add(fmt.Sprintf("allowed_domains[%d]", j), fmt.Sprintf("%q is not a domain", d))
		}
	}
	for _, u := range []struct{ key, v string }{{"auth_url", p.AuthURL}, {"token_url", p.TokenURL}, {"api_url", p.APIURL}} {
		if u.v != "" && !webURL(u.v) {
			add(u.key, "must be an https URL (http only for localhost)")
		}
	}
	return out
}

// webURL reports whether s is an https URL with a host (http for a loopback
// host, for development and tests).
func webURL(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	if u.Scheme == "https" {
		return true
	}
	if u.Scheme != "http" {
		return false
	}
	if h := u.Hostname(); h == "localhost" {
		return true
	} else if ip := net.ParseIP(h); ip != nil && ip.IsLoopback() {
		return true
	}
	return false
}

// provider is a configured provider with its kind's defaults filled in.
type provider struct {
	cfg    ProviderConfig
	claims ClaimMapping
	// src is the configuration as given, to tell a changed stored provider
	// from one that only reloaded.
	src ProviderConfig
	// authority is Microsoft's login host, which its issuers begin with.
	authority string
	// oauth is the client registration; Endpoint is filled by discovery for
	// OIDC kinds.
	oauth oauth2.Config

	mu       sync.Mutex
	oidc     *oidc.Provider // discovered once, on first use
	verifier *oidc.IDTokenVerifier
}

func newProvider(c ProviderConfig, redirectURL string) *provider {
	if c.Kind == "" {
		c.Kind = KindOIDC
	}
	if c.Name == "" {
		c.Name = defaultName(c)
	}
	p := &provider{cfg: c, src: c, claims: c.Claims.withDefaults()}
	scopes := c.Scopes
	switch c.Kind {
	case KindGitHub:
		if len(scopes) == 0 {
			scopes = []string{"read:user", "user:email"}
		}
		auth, token := c.AuthURL, c.TokenURL
		if auth == "" {
			auth = "https://github.com/login/oauth/authorize"
		}
		if token == "" {
			token = "https://github.com/login/oauth/access_token"
		}
		p.oauth.Endpoint = oauth2.Endpoint{AuthURL: auth, TokenURL: token, AuthStyle: oauth2.AuthStyleInParams}
		if p.cfg.APIURL == "" {
			p.cfg.APIURL = "https://api.github.com"
		}
	default:
		if len(scopes) == 0 {
			scopes = []string{oidc.ScopeOpenID, "email", "profile"}
		}
		switch c.Kind {
		case KindGoogle:
			if p.cfg.Issuer == "" {
				p.cfg.Issuer = "https://accounts.google.com"
			}
		case KindMicrosoft:
			tenant := c.Tenant
			if tenant == "" {
				tenant = "common"
			}
			p.authority = strings.TrimSuffix(c.Issuer, "/")
			if p.authority == "" {
				p.authority = "https://login.microsoftonline.com"
			}
			p.cfg.Issuer = p.authority + "/" + tenant + "/v2.0"
		case KindGitLab:
			if p.cfg.Issuer == "" {
				p.cfg.Issuer = "https://gitlab.com"
			}
		}
		if !slices.Contains(scopes, oidc.ScopeOpenID) {
			scopes = append([]string{oidc.ScopeOpenID}, scopes...)
		}
	}
	p.cfg.Issuer = strings.TrimSuffix(p.cfg.Issuer, "/")
	p.oauth.ClientID, p.oauth.ClientSecret, p.oauth.RedirectURL, p.oauth.Scopes = c.ClientID, c.ClientSecret, redirectURL, scopes
	return p
}

func defaultName(c ProviderConfig) string {
	switch c.Kind {
	case KindGoogle:
		return "Google"
	case KindMicrosoft:
		return "Microsoft"
	case KindGitLab:
		return "GitLab"
	case KindGitHub:
		return "GitHub"
	}
	return c.ID
}

// multiTenant reports whether the provider's ID tokens name a tenant's issuer
// rather than the configured one (Microsoft's common, organizations and
// consumers endpoints).
func (p *provider) multiTenant() bool {
	return p.cfg.Kind == KindMicrosoft && slices.Contains([]string{"", "common", "organizations", "consumers"}, p.cfg.Tenant)
}

// tenantIssuer is the issuer of Microsoft tenant tid's ID tokens.
func (p *provider) tenantIssuer(tid string) string {
	return p.authority + "/" + tid + "/v2.0"
}

// discover fetches the provider's discovery document once (a failure is not
// kept: the next sign-in tries again) and fills the endpoints.
func (p *provider) discover(ctx context.Context) (*oidc.Provider, *oidc.IDTokenVerifier, oauth2.Config, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oidc != nil {
		return p.oidc, p.verifier, p.oauth, nil
	}
	if p.multiTenant() {
		// The document names the issuer with a {tenantid} placeholder; each
		// ID token's iss is then checked against its tid (checkTenant).
		ctx = oidc.InsecureIssuerURLContext(ctx, p.tenantIssuer("{tenantid}"))
	}
	op, err := oidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		return nil, nil, oauth2.Config{}, err
	}
	p.oidc = op
	p.oauth.Endpoint = op.Endpoint()
	p.verifier = op.Verifier(&oidc.Config{ClientID: p.cfg.ClientID, SkipIssuerCheck: p.multiTenant()})
	return p.oidc, p.verifier, p.oauth, nil
}

func (p *provider) button() Button {
	return Button{ID: p.cfg.ID, Name: p.cfg.Name, Style: p.cfg.Style, LogoURL: p.cfg.LogoURL}
}

// domainAllowed reports whether email's domain is one the provider admits.
func (p *provider) domainAllowed(email string) bool {
	if len(p.cfg.AllowedDomains) == 0 {
		return true
	}
	_, domain, ok := strings.Cut(email, "@")
	if !ok {
		return false
	}
	for _, d := range p.cfg.AllowedDomains {
		if strings.EqualFold(domain, strings.TrimPrefix(d, "@")) {
			return true
		}
	}
	return false
}
