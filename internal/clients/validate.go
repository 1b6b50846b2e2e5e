package clients

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/outbound"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/go-jose/go-jose/v4"
)

// Grant types, response types, authentication methods and algorithms a client may
// name. They are exactly what the provider implements.
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"

	ResponseTypeCode = "code"

	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
	AuthNone              = "none"

	ApplicationWeb    = "web"
	ApplicationNative = "native"

	AccessTokenOpaque = "opaque"
	AccessTokenJWT    = "jwt"
)

// DefaultCodeScope lists the scopes a client using the authorization code grant may
// request when its spec names none: enough for a sign-in with a profile and a
// refresh token. offline_access is left out when the client lacks the
// refresh_token grant. Other clients get no default scope: a service using
// client_credentials should be given exactly the scopes it needs.
const DefaultCodeScope = "openid profile email offline_access"

const maxClientIDLen = 255

func grantTypes() []string {
	return []string{GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials}
}

func authMethods() []string {
	return []string{AuthClientSecretBasic, AuthClientSecretPost, AuthPrivateKeyJWT, AuthNone}
}

func idTokenAlgs() []string { return []string{"RS256", "ES256"} }

// assertionAlgs are the JWS algorithms fosite verifies private_key_jwt assertions with.
func assertionAlgs() []string {
	return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
}

// Problem is one thing wrong with a Spec. Field names the JSON field, with an
// index for list items ("redirect_uris[1]").
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in a Spec, not only the first.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid client:")
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  - %s: %s", p.Field, p.Message)
	}
	return b.String()
}

type problems []Problem

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, Problem{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// Rules are the operator's settings that change what a valid client is. The
// zero value is the production setting.
type Rules struct {
	// AllowLoopbackFetch accepts a jwks_uri on a loopback host (localhost,
	// 127.0.0.0/8, [::1]), over plain http too, for development: it must match
	// the server's outbound.allow_loopback, which lets the fetch reach it.
	AllowLoopbackFetch bool
}

// Validate is Rules{}.Validate: the production rules.
func Validate(spec Spec) (storage.Client, error) { return Rules{}.Validate(spec) }

// Validate applies the defaults to spec and checks every rule, returning the
// client record it describes (without id, secret or times) or a *ValidationError
// naming every problem.
//
// Defaults for empty fields:
//   - application_type: web.
//   - token_endpoint_auth_method: none for a public client, else client_secret_basic.
//     Method none makes the client public.
//   - grant_types: authorization_code and refresh_token when redirect_uris are given;
//     otherwise client_credentials for a confidential client.
//   - response_types: code for authorization_code clients.
//   - scope: DefaultCodeScope for authorization_code clients, none otherwise.
//   - id_token_signed_response_alg: RS256.
//   - token_endpoint_auth_signing_alg: RS256 for private_key_jwt.
//   - access_token_format: empty, meaning the server default.
func (r Rules) Validate(spec Spec) (storage.Client, error) {
	var p problems
	c := storage.Client{
		ID:                          spec.ClientID,
		Name:                        spec.ClientName,
		RedirectURIs:                storage.StringList(dedupe(spec.RedirectURIs)),
		PostLogoutRedirectURIs:      storage.StringList(dedupe(spec.PostLogoutRedirectURIs)),
		GrantTypes:                  storage.StringList(dedupe(spec.GrantTypes)),
		ResponseTypes:               storage.StringList(dedupe(spec.ResponseTypes)),
		ResponseModes:               storage.StringList{},
		Scopes:                      storage.StringList(dedupe(spec.Scope)),
		Audience:                    storage.StringList(dedupe(spec.Audience)),
		TokenEndpointAuthMethod:     spec.TokenEndpointAuthMethod,
		TokenEndpointAuthSigningAlg: spec.TokenEndpointAuthSigningAlg,
		Public:                      spec.Public || spec.TokenEndpointAuthMethod == AuthNone,
		ApplicationType:             spec.ApplicationType,
		JWKSURI:                     spec.JWKSURI,
		IDTokenSignedResponseAlg:    spec.IDTokenSignedResponseAlg,
		AccessTokenFormat:           spec.AccessTokenFormat,
		AccessTokenLifespan:         storage.Lifespan(durationOf(spec.Lifespans.AccessToken)),
		RefreshTokenLifespan:        storage.Lifespan(durationOf(spec.Lifespans.RefreshToken)),
		IDTokenLifespan:             storage.Lifespan(durationOf(spec.Lifespans.IDToken)),
		AuthorizationCodeLifespan:   storage.Lifespan(durationOf(spec.Lifespans.AuthorizationCode)),
		AlwaysIssueRefreshToken:     spec.AlwaysIssueRefreshToken,
		FirstParty:                  spec.FirstParty,
		ClientURI:                   spec.ClientURI,
		LogoURI:                     spec.LogoURI,
		PolicyURI:                   spec.PolicyURI,
		TOSURI:                      spec.TOSURI,
		ResourceServer:              spec.ResourceServer,
		ClaimsInIDToken:             spec.ClaimsInIDToken,
		MFAPolicy:                   spec.MFAPolicy,
	}

	// Defaults.
	if c.ApplicationType == "" {
		c.ApplicationType = ApplicationWeb
	}
	if c.TokenEndpointAuthMethod == "" {
		c.TokenEndpointAuthMethod = AuthClientSecretBasic
		if c.Public {
			c.TokenEndpointAuthMethod = AuthNone
		}
	}
	if len(c.GrantTypes) == 0 {
		switch {
		case len(c.RedirectURIs) > 0:
			c.GrantTypes = storage.StringList{GrantAuthorizationCode, GrantRefreshToken}
		case !c.Public:
			c.GrantTypes = storage.StringList{GrantClientCredentials}
		}
	}
	code := c.GrantTypes.Has(GrantAuthorizationCode)
	if len(c.ResponseTypes) == 0 && code {
		c.ResponseTypes = storage.StringList{ResponseTypeCode}
	}
	if len(c.Scopes) == 0 && code {
		for _, s := range strings.Fields(DefaultCodeScope) {
			if s != "offline_access" || c.GrantTypes.Has(GrantRefreshToken) {
				c.Scopes = append(c.Scopes, s)
			}
		}
	}
	if c.IDTokenSignedResponseAlg == "" {
		c.IDTokenSignedResponseAlg = "RS256"
	}
	if c.TokenEndpointAuthSigningAlg == "" && c.TokenEndpointAuthMethod == AuthPrivateKeyJWT {
		c.TokenEndpointAuthSigningAlg = "RS256"
	}
	if c.Scopes == nil {
		c.Scopes = storage.StringList{}
	}
	for _, l := range []*storage.StringList{&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.GrantTypes, &c.ResponseTypes, &c.Audience, &c.AllowedCORSOrigins} {
		if *l == nil {
			*l = storage.StringList{}
		}
	}

	// client_id and client_name.
	if c.ID != "" {
		if msg := checkClientID(c.ID); msg != "" {
			p.add("client_id", "%s", msg)
		}
	}
	if len(c.Name) > 255 {
		p.add("client_name", "must be at most 255 characters, got %d", len(c.Name))
	} else if strings.ContainsFunc(c.Name, isControl) {
		p.add("client_name", "must not contain control characters")
	}

	// application_type.
	native := c.ApplicationType == ApplicationNative
	if c.ApplicationType != ApplicationWeb && !native {
		p.add("application_type", "want web or native, got %q", c.ApplicationType)
	}

	// token_endpoint_auth_method and the public flag.
	switch {
	case !slices.Contains(authMethods(), c.TokenEndpointAuthMethod):
		p.add("token_endpoint_auth_method", "want one of %s, got %q", strings.Join(authMethods(), ", "), c.TokenEndpointAuthMethod)
	case c.Public && c.TokenEndpointAuthMethod != AuthNone:
		p.add("token_endpoint_auth_method", "a public client cannot authenticate, so its method must be none, got %q", c.TokenEndpointAuthMethod)
	}

	// grant_types.
	for i, g := range c.GrantTypes {
		field := fmt.Sprintf("grant_types[%d]", i)
		switch g {
		case GrantAuthorizationCode, GrantRefreshToken, GrantClientCredentials:
		case "implicit":
			p.add(field, "the implicit grant is not supported (RFC 9700 §2.1.2); use authorization_code with PKCE")
		case "password":
			p.add(field, "the resource owner password grant is not supported (RFC 9700 §2.4)")
		default:
			p.add(field, "unknown grant type %q; want one of %s", g, strings.Join(grantTypes(), ", "))
		}
	}
	if len(c.GrantTypes) == 0 {
		p.add("grant_types", "a public client needs the authorization_code grant and at least one redirect URI")
	}
	if c.GrantTypes.Has(GrantRefreshToken) && !code {
		p.add("grant_types", "refresh_token is issued only through authorization_code; add authorization_code or remove refresh_token")
	}
	if c.Public && c.GrantTypes.Has(GrantClientCredentials) {
		p.add("grant_types", "a public client cannot use client_credentials: it has no credentials to authenticate with")
	}
	if c.AlwaysIssueRefreshToken && !c.GrantTypes.Has(GrantRefreshToken) {
		p.add("always_issue_refresh_token", "needs the refresh_token grant")
	}

	// response_types.
	for i, rt := range c.ResponseTypes {
		if rt != ResponseTypeCode {
			p.add(fmt.Sprintf("response_types[%d]", i), "unsupported response type %q; only code is supported", rt)
		}
	}
	if code && !c.ResponseTypes.Has(ResponseTypeCode) {
		p.add("response_types", "the authorization_code grant needs response type code")
	}
	if !code && len(c.ResponseTypes) > 0 {
		p.add("response_types", "response types are used only with the authorization_code grant; add it to grant_types or remove the response types")
	}

	// redirect_uris and post_logout_redirect_uris.
	if code && len(c.RedirectURIs) == 0 {
		p.add("redirect_uris", "the authorization_code grant needs at least one redirect URI")
	}
	if !code && len(c.RedirectURIs) > 0 {
		p.add("redirect_uris", "redirect URIs are used only with the authorization_code grant; add it to grant_types or remove them")
	}
	for i, u := range c.RedirectURIs {
		if msg := checkRedirectURI(u, native); msg != "" {
			p.add(fmt.Sprintf("redirect_uris[%d]", i), "%s", msg)
		}
	}
	for i, u := range c.PostLogoutRedirectURIs {
		if msg := checkRedirectURI(u, native); msg != "" {
			p.add(fmt.Sprintf("post_logout_redirect_uris[%d]", i), "%s", msg)
		}
	}

	// scope and audience.
	for i, s := range c.Scopes {
		if !isScopeToken(s) {
			p.add(fmt.Sprintf("scope[%d]", i), "%q is not a valid scope token (RFC 6749 §3.3: printable ASCII without space, \" or \\)", s)
		}
	}
	for i, a := range c.Audience {
		if a == "" || strings.ContainsFunc(a, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			p.add(fmt.Sprintf("audience[%d]", i), "%q must be non-empty and contain no spaces or control characters", a)
		}
	}

	// allowed_cors_origins: stored as browsers send Origin, so a preflight finds
	// them by exact comparison.
	c.AllowedCORSOrigins = storage.StringList{}
	for i, o := range spec.AllowedCORSOrigins {
		origin, msg := checkOrigin(o)
		if msg != "" {
			p.add(fmt.Sprintf("allowed_cors_origins[%d]", i), "%s", msg)
			continue
		}
		if !c.AllowedCORSOrigins.Has(origin) {
			c.AllowedCORSOrigins = append(c.AllowedCORSOrigins, origin)
		}
	}

	// Keys for private_key_jwt.
	var set *jose.JSONWebKeySet
	hasJWKS := len(strings.TrimSpace(string(spec.JWKS))) > 0 && string(spec.JWKS) != "null"
	if hasJWKS {
		var msg string
		set, msg = parseJWKS(spec.JWKS)
		if msg != "" {
			p.add("jwks", "%s", msg)
		} else {
			b, _ := json.Marshal(set) // re-encoded: only the members go-jose understood
			c.JWKS = string(b)
		}
	}
	if c.JWKSURI != "" {
		if msg := checkFetchURI(c.JWKSURI, r.AllowLoopbackFetch); msg != "" {
			p.add("jwks_uri", "%s", msg)
		}
	}
	if c.TokenEndpointAuthMethod == AuthPrivateKeyJWT {
		switch {
		case !hasJWKS && c.JWKSURI == "":
			p.add("jwks", "private_key_jwt needs the client's public keys: give jwks or jwks_uri")
		case hasJWKS && c.JWKSURI != "":
			p.add("jwks", "give either jwks or jwks_uri, not both")
		}
		if !slices.Contains(assertionAlgs(), c.TokenEndpointAuthSigningAlg) {
			p.add("token_endpoint_auth_signing_alg", "want one of %s, got %q", strings.Join(assertionAlgs(), ", "), c.TokenEndpointAuthSigningAlg)
		} else if set != nil && !hasKeyFor(set, c.TokenEndpointAuthSigningAlg) {
			p.add("jwks", "no signing key in the set can verify %s assertions", c.TokenEndpointAuthSigningAlg)
		}
	} else {
		if hasJWKS {
			p.add("jwks", "used only with token_endpoint_auth_method private_key_jwt")
		}
		if c.JWKSURI != "" {
			p.add("jwks_uri", "used only with token_endpoint_auth_method private_key_jwt")
		}
		if c.TokenEndpointAuthSigningAlg != "" {
			p.add("token_endpoint_auth_signing_alg", "used only with token_endpoint_auth_method private_key_jwt")
		}
	}

	// Token formats and lifetimes.
	if !slices.Contains(idTokenAlgs(), c.IDTokenSignedResponseAlg) {
		p.add("id_token_signed_response_alg", "want RS256 or ES256, got %q", c.IDTokenSignedResponseAlg)
	}
	switch c.AccessTokenFormat {
	case "", AccessTokenOpaque, AccessTokenJWT:
	default:
		p.add("access_token_format", "want opaque or jwt (or empty for the server default), got %q", c.AccessTokenFormat)
	}
	switch c.MFAPolicy {
	case "", "optional", "required", "if_enrolled":
	default:
		p.add("mfa_policy", "want optional, required or if_enrolled (or empty for the server's mfa.policy), got %q", c.MFAPolicy)
	}
	for _, l := range []struct {
		field string
		d     Duration
	}{
		{"lifespans.access_token", spec.Lifespans.AccessToken},
		{"lifespans.refresh_token", spec.Lifespans.RefreshToken},
		{"lifespans.id_token", spec.Lifespans.IDToken},
		{"lifespans.authorization_code", spec.Lifespans.AuthorizationCode},
	} {
		if l.d < 0 {
			p.add(l.field, "must not be negative, got %s", durationOf(l.d))
		}
	}

	// Links shown to users.
	for _, l := range []struct{ field, uri string }{
		{"client_uri", c.ClientURI}, {"logo_uri", c.LogoURI}, {"policy_uri", c.PolicyURI}, {"tos_uri", c.TOSURI},
	} {
		if l.uri == "" {
			continue
		}
		if msg := checkWebURI(l.uri); msg != "" {
			p.add(l.field, "%s", msg)
		}
	}
	if err := p.err(); err != nil {
		return storage.Client{}, err
	}
	return c, nil
}

func durationOf(d Duration) time.Duration { return time.Duration(d) }

// checkClientID allows the URL-safe characters of RFC 3986 §2.3, so an id needs no
// escaping in a URL, a header or a shell.
func checkClientID(id string) string {
	if len(id) > maxClientIDLen {
		return fmt.Sprintf("must be at most %d characters, got %d", maxClientIDLen, len(id))
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~", r)) {
			return fmt.Sprintf("%q may contain only letters, digits, '-', '.', '_' and '~'", id)
		}
	}
	return ""
}

// checkRedirectURI applies RFC 6749 §3.1.2 and RFC 8252 §7 to one redirect URI and
// says what is wrong with it, or returns "".
//
// Web clients need https; http is allowed only for loopback hosts (127.0.0.1, [::1],
// localhost), which only a browser on the same machine can reach, so developers can
// register http://localhost:3000/callback. Native clients may also use a private-use
// scheme named by a reverse domain (com.example.app:/callback).
func checkRedirectURI(raw string, native bool) string {
	u, msg := parseAbsolute(raw)
	if msg != "" {
		return msg
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Sprintf("%q must not contain a fragment (RFC 6749 §3.1.2)", raw)
	}
	switch u.Scheme {
	case "https":
		if u.Host == "" {
			return fmt.Sprintf("%q has no host", raw)
		}
	case "http":
		if u.Host == "" {
			return fmt.Sprintf("%q has no host", raw)
		}
		if !isLoopback(u.Hostname()) {
			return fmt.Sprintf("%q uses http, which is allowed only for loopback hosts (127.0.0.1, [::1], localhost); use https", raw)
		}
	default:
		if !native {
			return fmt.Sprintf("%q uses scheme %q: web clients need https (or http on a loopback host); private-use schemes need application_type native", raw, u.Scheme)
		}
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Sprintf("%q uses scheme %q: a private-use scheme must be a reverse domain name such as com.example.app (RFC 8252 §7.1)", raw, u.Scheme)
		}
	}
	return ""
}

// checkOrigin accepts a Web origin (RFC 6454): scheme://host[:port] with nothing
// after it, https or, on a loopback host, http. It returns the origin as a
// browser sends it in the Origin header (storage.Origin).
func checkOrigin(raw string) (string, string) {
	u, msg := parseAbsolute(raw)
	if msg != "" {
		return "", msg
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return "", fmt.Sprintf("%q must be an https origin such as https://app.example.com", raw)
	case u.Host == "" || u.Opaque != "":
		return "", fmt.Sprintf("%q has no host", raw)
	case u.Path != "" || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(raw[len(u.Scheme)+3:], "/?#"):
		return "", fmt.Sprintf("%q must be an origin, scheme://host[:port] without a path (not even /), query or fragment", raw)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return "", fmt.Sprintf("%q uses http, which is allowed only for loopback hosts (127.0.0.1, [::1], localhost); use https", raw)
	}
	origin, ok := storage.Origin(raw)
	if !ok {
		return "", fmt.Sprintf("%q is not a valid origin", raw)
	}
	return origin, ""
}

// checkWebURI accepts an absolute https URL, or http on a loopback host.
func checkWebURI(raw string) string {
	u, msg := parseAbsolute(raw)
	if msg != "" {
		return msg
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Sprintf("%q must be an https URL", raw)
	case u.Host == "":
		return fmt.Sprintf("%q has no host", raw)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		return fmt.Sprintf("%q uses http, which is allowed only for loopback hosts; use https", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Sprintf("%q must not contain a fragment", raw)
	}
	return ""
}

// checkFetchURI accepts a URL the server itself will fetch (jwks_uri): absolute
// https with a host, no fragment and no user information. A host that is an
// address the server's outbound client refuses (private, link-local, metadata,
// …) is refused here already, with the reason; a name is checked again when it
// is fetched, after resolution. Loopback hosts, and plain http to them, only
// with allowLoopback (development).
func checkFetchURI(raw string, allowLoopback bool) string {
	u, msg := parseAbsolute(raw)
	if msg != "" {
		return msg
	}
	host := u.Hostname()
	switch {
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Sprintf("%q must not contain a fragment", raw)
	case host == "":
		return fmt.Sprintf("%q has no host", raw)
	case u.Scheme == "http" && allowLoopback && isLoopback(host):
	case u.Scheme == "http" && allowLoopback:
		return fmt.Sprintf("%q uses http, which is allowed only for loopback hosts (with outbound.allow_loopback); use https", raw)
	case u.Scheme != "https":
		return fmt.Sprintf("%q must be an https URL: the server fetches it, and only over https", raw)
	}
	if strings.EqualFold(host, "localhost") && !allowLoopback {
		return fmt.Sprintf("%q names a loopback host, which the server does not fetch from (only in development, with outbound.allow_loopback)", raw)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if err := outbound.CheckAddr(a, allowLoopback); err != nil {
			return fmt.Sprintf("%q is not a public address (%v); the server does not fetch from it", raw, err)
		}
	}
	return ""
}

func parseAbsolute(raw string) (*url.URL, string) {
	if raw == "" {
		return nil, "must not be empty"
	}
	if strings.ContainsFunc(raw, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return nil, fmt.Sprintf("%q must not contain spaces or control characters", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Sprintf("%q is not a valid URI", raw)
	}
	if !u.IsAbs() {
		return nil, fmt.Sprintf("%q is not absolute: include the scheme and host, such as https://app.example.com/callback", raw)
	}
	if u.User != nil {
		return nil, fmt.Sprintf("%q must not contain user information", raw)
	}
	return u, ""
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isScopeToken follows RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != 0x21 && (c < 0x23 || c > 0x5B) && (c < 0x5D || c > 0x7E) {
			return false
		}
	}
	return true
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

// parseJWKS reads an inline JWK Set and refuses private or symmetric keys: the
// provider must only ever hold a client's public keys.
func parseJWKS(raw json.RawMessage) (*jose.JSONWebKeySet, string) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return nil, fmt.Sprintf("not a JWK Set (RFC 7517 §5): %v", err)
	}
	var members struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	_ = json.Unmarshal(raw, &members) // parsed above, so this cannot fail
	if len(set.Keys) == 0 {
		return nil, `the JWK Set has no keys; want {"keys": [ … ]}`
	}
	var msgs []string
	for i, k := range set.Keys {
		private := !k.IsPublic()
		if i < len(members.Keys) {
			for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
				if _, ok := members.Keys[i][m]; ok {
					private = true
				}
			}
		}
		switch {
		case private:
			msgs = append(msgs, fmt.Sprintf("key %d is private or symmetric: give only public keys", i))
		case !k.Valid():
			msgs = append(msgs, fmt.Sprintf("key %d is not a valid public key", i))
		}
	}
	if len(msgs) > 0 {
		return nil, strings.Join(msgs, "; ")
	}
	return &set, ""
}

// hasKeyFor reports whether some signing key in set fits alg.
func hasKeyFor(set *jose.JSONWebKeySet, alg string) bool {
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != alg {
			continue
		}
		switch key := k.Key.(type) {
		case *rsa.PublicKey:
			if alg[0] == 'R' || alg[0] == 'P' {
				return true
			}
		case *ecdsa.PublicKey:
			want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
			if want != nil && key.Curve == want {
				return true
			}
		}
	}
	return false
}

func dedupe(l []string) []string {
	var out []string
	for _, s := range l {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
