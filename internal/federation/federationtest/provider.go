// Package federationtest is an upstream OpenID Connect provider for tests of
// sign-in and linking through internal/federation: discovery, JWKS, an
// authorization endpoint that signs in whoever Provider.SignIn (or SetClaims)
// names without a page, the token endpoint (authorization code with PKCE
// S256, and refresh tokens) and userinfo, on an httptest server on loopback.
// The same endpoints answer under /{tenant}/ in the shape of Microsoft's
// identity platform (v2.0), for the microsoft preset. Knobs make it misbehave
// as real providers can: refuse, sign with the wrong nonce or an unknown key,
// name another issuer. Use it only from _test.go files.
package federationtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// ClientID is the client id the provider's ID tokens are for.
const ClientID = "gatehouse-test"

// Provider is the upstream. Build it with New.
type Provider struct {
	t   testing.TB
	srv *httptest.Server
	key *rsa.PrivateKey

	mu        sync.Mutex
	claims    map[string]any
	userinfo  map[string]any // what userinfo says besides sub
	fault     Fault
	other     *rsa.PrivateKey // signs under BadSignature: a key the JWKS does not hold
	idIssuer  string          // the ID tokens' iss; "" for the provider's own
	lastAuthz string          // the path of the last authorization request
	expiresIn int
	codes     map[string]grant
	refresh   map[string]map[string]any // live refresh token → claims
	refreshes int
	issued    []string       // access tokens, in order
	subOf     map[string]any // access token → subject, for userinfo
}

type grant struct {
	nonce, challenge, redirect string
	tenant                     string // the /{tenant}/ the request came by; "" at the root
	claims                     map[string]any
}

// Fault is a way the provider misbehaves, set with SetFault.
type Fault int

const (
	// NoFault: the provider answers as it should.
	NoFault Fault = iota
	// Deny: the authorization endpoint sends the browser back with
	// error=access_denied, as when the person refuses.
	Deny
	// WrongNonce: the ID token carries a nonce other than the one asked for.
	WrongNonce
	// BadSignature: the ID token is signed by a key the JWKS does not hold.
	BadSignature
)

// New starts the provider; it stops when t ends.
func New(t testing.TB) *Provider {
	t.Helper()
	p := &Provider{t: t, codes: map[string]grant{}, refresh: map[string]map[string]any{}, subOf: map[string]any{}, expiresIn: 3600}
	var err error
	if p.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /userinfo", p.userinfoEndpoint)
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", p.tenantDiscovery)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", p.jwks)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", p.authorize)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", p.token)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// Issuer is the provider's issuer URL. It is also the login host of its
// Microsoft shape, what the microsoft preset's issuer override names.
func (p *Provider) Issuer() string { return p.srv.URL }

// TenantIssuer is the issuer of a tenant in the Microsoft shape.
func (p *Provider) TenantIssuer(tenant string) string { return p.srv.URL + "/" + tenant + "/v2.0" }

// Close stops the provider now, as an upstream going down does.
func (p *Provider) Close() { p.srv.Close() }

// SignIn makes the authorization endpoint sign in the person with subject
// sub and a verified address email.
func (p *Provider) SignIn(sub, email string) {
	p.SetClaims(map[string]any{"sub": sub, "email": email, "email_verified": true, "name": "Upstream " + sub})
}

// SetClaims makes the authorization endpoint sign in the person the ID
// token claims describe (sub, email, email_verified, amr, acr, tid …).
func (p *Provider) SetClaims(claims map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.claims = maps.Clone(claims)
}

// SetUserinfo sets what userinfo answers besides the subject (name,
// picture …); nil for the subject alone.
func (p *Provider) SetUserinfo(claims map[string]any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.userinfo = maps.Clone(claims)
}

// SetFault makes the provider misbehave from now on; NoFault ends it.
func (p *Provider) SetFault(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f == BadSignature && p.other == nil {
		var err error
		if p.other, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			p.t.Fatal(err)
		}
	}
	p.fault = f
}

// SetIDTokenIssuer makes the ID tokens name iss as their issuer; "" for the
// provider's own (in the Microsoft shape, the issuer of the claims' tid).
func (p *Provider) SetIDTokenIssuer(iss string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idIssuer = iss
}

// LastAuthorizePath is the path of the last authorization request, which
// tells a tenant's endpoint from another's.
func (p *Provider) LastAuthorizePath() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastAuthz
}

// SetExpiresIn sets the lifetime of the access tokens issued from now on.
func (p *Provider) SetExpiresIn(seconds int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.expiresIn = seconds
}

// RevokeRefreshTokens makes every refresh token issued so far invalid, as a
// person revoking the application's access at the provider does.
func (p *Provider) RevokeRefreshTokens() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.refresh)
}

// Refreshes counts the access tokens issued by refresh token.
func (p *Provider) Refreshes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.refreshes
}

// Issued lists the access tokens issued, oldest first.
func (p *Provider) Issued() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.issued...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	iss := p.Issuer()
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
		"userinfo_endpoint": iss + "/userinfo", "jwks_uri": iss + "/jwks",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
	})
}

// tenantDiscovery is discovery in the Microsoft shape: for common,
// organizations and consumers the issuer holds the {tenantid} placeholder.
func (p *Provider) tenantDiscovery(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	iss := p.TenantIssuer(tenant)
	if slices.Contains([]string{"common", "organizations", "consumers"}, tenant) {
		iss = p.TenantIssuer("{tenantid}")
	}
	base := p.srv.URL + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer": iss, "authorization_endpoint": base + "/oauth2/v2.0/authorize", "token_endpoint": base + "/oauth2/v2.0/token",
		"jwks_uri": base + "/discovery/v2.0/keys", "response_types_supported": []string{"code"},
		"subject_types_supported": []string{"pairwise"}, "id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
}

// authorize signs in p.claims' person at once and sends the browser back
// with a code, as a provider does after its own sign-in and consent.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || q.Get("client_id") != ClientID || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.lastAuthz = r.URL.Path
	v := url.Values{"state": {q.Get("state")}}
	if p.fault == Deny {
		v.Set("error", "access_denied")
	} else {
		code := rand.Text()
		p.codes[code] = grant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"),
			tenant: r.PathValue("tenant"), claims: p.claims}
		v.Set("code", code)
	}
	p.mu.Unlock()
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != ClientID || secret == "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	switch r.PostFormValue("grant_type") {
	case "refresh_token":
		claims, ok := p.refresh[r.PostFormValue("refresh_token")]
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
		p.refreshes++
		// The refresh token stays (no rotation): x/oauth2 keeps it.
		writeJSON(w, http.StatusOK, map[string]any{"access_token": p.accessToken(claims), "token_type": "Bearer", "expires_in": p.expiresIn,
			"scope": "openid email profile"})
	case "authorization_code":
		code := r.PostFormValue("code")
		g, ok := p.codes[code]
		delete(p.codes, code) // used once
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge || r.PostFormValue("redirect_uri") != g.redirect {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
			return
		}
		idt, err := p.idToken(g)
		if err != nil {
			p.t.Errorf("federationtest: %v", err)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error"})
			return
		}
		rt := "rt-" + rand.Text()
		p.refresh[rt] = g.claims
		writeJSON(w, http.StatusOK, map[string]any{"access_token": p.accessToken(g.claims), "token_type": "Bearer", "expires_in": p.expiresIn,
			"refresh_token": rt, "id_token": idt, "scope": "openid email profile"})
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type"})
	}
}

// idToken signs the ID token of g, with the faults set; p.mu is held.
func (p *Provider) idToken(g grant) (string, error) {
	key, nonce := p.key, g.nonce
	if p.fault == BadSignature {
		key = p.other
	}
	if p.fault == WrongNonce {
		nonce = "not-the-nonce"
	}
	iss := p.idIssuer
	if iss == "" && g.tenant != "" {
		tid, _ := g.claims["tid"].(string)
		iss = p.TenantIssuer(tid)
	} else if iss == "" {
		iss = p.Issuer()
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		return "", fmt.Errorf("signer: %w", err)
	}
	now := time.Now()
	claims := map[string]any{"iss": iss, "aud": ClientID, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": nonce}
	maps.Copy(claims, g.claims)
	idt, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign: %w", err)
	}
	return idt, nil
}

// accessToken issues one for the person of claims; p.mu is held.
func (p *Provider) accessToken(claims map[string]any) string {
	at := "at-" + rand.Text()
	p.issued = append(p.issued, at)
	p.subOf[at] = claims["sub"]
	return at
}

func (p *Provider) userinfoEndpoint(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := r.Header.Get("Authorization")
	sub, ok := p.subOf[strings.TrimPrefix(h, "Bearer ")]
	if !ok || !strings.HasPrefix(h, "Bearer ") {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token"})
		return
	}
	answer := maps.Clone(p.userinfo)
	if answer == nil {
		answer = map[string]any{}
	}
	answer["sub"] = sub
	writeJSON(w, http.StatusOK, answer)
}
