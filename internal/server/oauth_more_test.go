package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/internal/outbound"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// clientKey makes an ES256 key pair for private_key_jwt and its public JWKS.
func clientKey(t *testing.T) (*ecdsa.PrivateKey, string, string) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustf(t, err, "generate key")
	kid := "k-" + randomHex(4)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}}
	b, err := json.Marshal(set)
	mustf(t, err, "marshal jwks")
	return priv, kid, string(b)
}

func assertion(t *testing.T, priv *ecdsa.PrivateKey, kid, clientID, aud, jti string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	mustf(t, err, "signer")
	now := time.Now()
	raw, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud},
		ID: jti, IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(2 * time.Minute))}).Serialize()
	mustf(t, err, "sign assertion")
	return raw
}

// TestPrivateKeyJWT: client assertions from an inline JWKS and from a jwks_uri; a
// replayed assertion (same jti) is refused. The jwks_uri is a loopback test
// server, so the development setting outbound.allow_loopback is on.
func TestPrivateKeyJWT(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnvDeps(t, open(t), envDeps{outbound: outbound.New(outbound.Options{AllowLoopback: true})})
		priv, kid, jwks := clientKey(t)
		keysSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, jwks)
		}))
		defer keysSrv.Close()
		for _, tc := range []struct {
			name string
			c    storage.Client
		}{
			{"inline jwks", storage.Client{JWKS: jwks}},
			{"jwks_uri", storage.Client{JWKSURI: keysSrv.URL}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := tc.c
				c.Name, c.TokenEndpointAuthMethod, c.TokenEndpointAuthSigningAlg = "Service", "private_key_jwt", "ES256"
				c.GrantTypes, c.ResponseTypes, c.Scopes = storage.StringList{"client_credentials"}, storage.StringList{}, storage.StringList{"reports"}
				c, _ = e.client(c)
				jti := randomHex(8)
				form := url.Values{"grant_type": {"client_credentials"}, "scope": {"reports"},
					"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
					"client_assertion":      {assertion(t, priv, kid, c.ID, e.issuer+"/oauth2/token", jti)}}
				status, _, body := e.postForm("/oauth2/token", form, "", "")
				if status != http.StatusOK || body["access_token"] == nil {
					t.Fatalf("private_key_jwt: %d %v", status, body)
				}
				status, _, body = e.postForm("/oauth2/token", form, "", "")
				if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
					t.Fatalf("replayed assertion = %d %v, want 401 invalid_client", status, body)
				}
				other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				form.Set("client_assertion", assertion(t, other, kid, c.ID, e.issuer+"/oauth2/token", randomHex(8)))
				if status, _, body = e.postForm("/oauth2/token", form, "", ""); status != http.StatusUnauthorized {
					t.Fatalf("assertion signed by a foreign key = %d %v", status, body)
				}
			})
		}
	})
}

// TestPushedAuthorizationRequest: push (RFC 9126), then authorize with request_uri.
func TestPushedAuthorizationRequest(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		c, secret := e.client(storage.Client{Name: "PAR app"})
		verifier, challenge := pkce()
		status, _, body := e.postForm("/oauth2/par", url.Values{"response_type": {"code"}, "redirect_uri": {c.RedirectURIs[0]},
			"scope": {"openid"}, "state": {"par-state-012345"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, c.ID, secret)
		if status != http.StatusCreated {
			t.Fatalf("push: %d %v", status, body)
		}
		requestURI, _ := body["request_uri"].(string)
		if !strings.HasPrefix(requestURI, "urn:ietf:params:oauth:request_uri:") || body["expires_in"] == nil {
			t.Fatalf("push response = %v", body)
		}
		_, loc := e.authorize(e.browser(), e.issuer+"/oauth2/authorize?"+url.Values{"client_id": {c.ID}, "request_uri": {requestURI}}.Encode())
		if loc == nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != "par-state-012345" {
			t.Fatalf("authorize with request_uri = %v", loc)
		}
		if status, body := e.redeem(c, secret, loc.Query().Get("code"), verifier); status != http.StatusOK {
			t.Fatalf("redeem: %d %v", status, body)
		}
		// The request_uri is single use.
		resp, loc := e.authorize(e.browser(), e.issuer+"/oauth2/authorize?"+url.Values{"client_id": {c.ID}, "request_uri": {requestURI}}.Encode())
		if loc != nil && loc.Query().Get("code") != "" {
			t.Fatalf("a used request_uri gave another code (status %d)", resp.StatusCode)
		}
		// A web client cannot push a loopback redirect on another port.
		status, _, body = e.postForm("/oauth2/par", url.Values{"response_type": {"code"}, "redirect_uri": {"http://127.0.0.1:9999/cb"},
			"scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, c.ID, secret)
		if status != http.StatusBadRequest {
			t.Fatalf("push with unregistered redirect = %d %v", status, body)
		}
	})
}

// TestKeyRotationWithCachedJWKS: a relying party that cached the JWKS verifies ID
// tokens signed before and after a rotation.
func TestKeyRotationWithCachedJWKS(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		ctx := oidc.ClientContext(t.Context(), http.DefaultClient)
		c, secret := e.client(storage.Client{Name: "RP"})
		provider, err := oidc.NewProvider(ctx, e.issuer)
		mustf(t, err, "discovery")
		verifier := provider.Verifier(&oidc.Config{ClientID: c.ID})
		b := e.browser()
		idToken := func() string {
			code, v := e.codeFor(b, c, nil)
			status, body := e.redeem(c, secret, code, v)
			if status != http.StatusOK {
				t.Fatalf("redeem: %d %v", status, body)
			}
			return body["id_token"].(string)
		}
		before := idToken()
		if _, err := verifier.Verify(ctx, before); err != nil {
			t.Fatalf("verify before rotation: %v", err)
		}
		oldKID := decodeJWTPart(t, before, 0)["kid"]
		rotated, err := e.keys.Rotate(ctx, "RS256")
		mustf(t, err, "rotate")
		// The new key signs one refresh interval (keyRefreshInterval) after the
		// rotation, once every instance would publish it.
		deadline := time.Now().Add(10 * time.Second)
		after := idToken()
		for decodeJWTPart(t, after, 0)["kid"] != rotated.KID {
			if kid := decodeJWTPart(t, after, 0)["kid"]; kid != oldKID || time.Now().After(deadline) {
				t.Fatalf("after rotation the ID token is signed with %v, want the old %v until the new %v starts", kid, oldKID, rotated.KID)
			}
			after = idToken()
		}
		if _, err := verifier.Verify(ctx, after); err != nil {
			t.Fatalf("verify with a cached JWKS after rotation: %v", err)
		}
		if _, err := verifier.Verify(ctx, before); err != nil {
			t.Fatalf("an ID token signed before the rotation no longer verifies: %v", err)
		}
	})
}

// TestJWTAccessTokensAndES256: a client that chose RFC 9068 JWT access tokens and
// ES256 ID tokens.
func TestJWTAccessTokensAndES256(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		ctx := oidc.ClientContext(t.Context(), http.DefaultClient)
		c, secret := e.client(storage.Client{Name: "API", AccessTokenFormat: "jwt", IDTokenSignedResponseAlg: "ES256"})
		code, v := e.codeFor(e.browser(), c, nil)
		status, body := e.redeem(c, secret, code, v)
		if status != http.StatusOK {
			t.Fatalf("redeem: %d %v", status, body)
		}
		at := body["access_token"].(string)
		if h := decodeJWTPart(t, at, 0); h["typ"] != "at+jwt" || h["kid"] == nil {
			t.Fatalf("JWT access token header = %v, want typ at+jwt and a kid", h)
		}
		claims := decodeJWTPart(t, at, 1)
		for _, k := range []string{"iss", "exp", "sub", "client_id", "iat", "jti", "scope"} {
			if _, ok := claims[k]; !ok {
				t.Errorf("RFC 9068 claim %s missing: %v", k, claims)
			}
		}
		if claims["client_id"] != c.ID || claims["sub"] != e.user.ID || claims["iss"] != e.issuer {
			t.Fatalf("claims = %v", claims)
		}
		// It verifies with the published keys.
		ks := oidc.NewRemoteKeySet(ctx, e.issuer+"/.well-known/jwks.json")
		if _, err := ks.VerifySignature(ctx, at); err != nil {
			t.Fatalf("JWT access token does not verify with the JWKS: %v", err)
		}
		if got := e.introspect(at, c.ID, secret); got["active"] != true {
			t.Fatalf("introspect JWT access token = %v", got)
		}
		idh := decodeJWTPart(t, body["id_token"].(string), 0)
		if idh["alg"] != "ES256" {
			t.Fatalf("ID token alg = %v, want ES256", idh["alg"])
		}
		provider, err := oidc.NewProvider(ctx, e.issuer)
		mustf(t, err, "discovery")
		if _, err := provider.Verifier(&oidc.Config{ClientID: c.ID, SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, body["id_token"].(string)); err != nil {
			t.Fatalf("verify ES256 ID token: %v", err)
		}
		// Revoked JWT access tokens introspect as inactive.
		if status, _, b := e.postForm("/oauth2/revoke", url.Values{"token": {at}}, c.ID, secret); status != http.StatusOK {
			t.Fatalf("revoke: %d %v", status, b)
		}
		if got := e.introspect(at, c.ID, secret); got["active"] != false {
			t.Fatalf("revoked JWT access token = %v", got)
		}
	})
}

// TestPromptsAndConsent covers prompt=login, max_age, prompt=consent, login_hint,
// id_token_hint, a denied consent, and first-party clients.
func TestPromptsAndConsent(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		c, secret := e.client(storage.Client{Name: "App"})
		b := e.browser()
		code, v := e.codeFor(b, c, url.Values{"login_hint": {"ada@example.com"}})
		if e.ia.lastHint != "ada@example.com" {
			t.Fatalf("login_hint reached the sign-in page as %q", e.ia.lastHint)
		}
		_, first := e.redeem(c, secret, code, v)
		steps := []struct {
			name                    string
			extra                   url.Values
			wantSignIn, wantConsent int
		}{
			{"silent", url.Values{"prompt": {"none"}}, 0, 0},
			{"prompt=login", url.Values{"prompt": {"login"}}, 1, 0},
			{"max_age=0", url.Values{"max_age": {"0"}}, 1, 0},
			{"max_age large", url.Values{"max_age": {"3600"}}, 0, 0},
			{"prompt=consent", url.Values{"prompt": {"consent"}}, 0, 1},
			{"new scope asks again", url.Values{"scope": {"openid offline_access email"}}, 0, 1},
			{"id_token_hint of the signed-in user", url.Values{"prompt": {"none"}, "id_token_hint": {first["id_token"].(string)}}, 0, 0},
		}
		for _, s := range steps {
			si0, co0 := e.ia.counts()
			e.codeFor(b, c, s.extra)
			si, co := e.ia.counts()
			if si-si0 != s.wantSignIn || co-co0 != s.wantConsent {
				t.Errorf("%s: sign-in pages %d consent pages %d, want %d %d", s.name, si-si0, co-co0, s.wantSignIn, s.wantConsent)
			}
		}
		// Denied consent returns access_denied to the client.
		e.ia.approve = false
		other, _ := e.client(storage.Client{Name: "Other"})
		_, challenge := pkce()
		_, loc := e.authorize(b, e.issuer+"/oauth2/authorize?"+url.Values{"client_id": {other.ID}, "response_type": {"code"},
			"redirect_uri": {other.RedirectURIs[0]}, "scope": {"openid"}, "state": {"deny-state-0123"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode())
		if loc == nil || loc.Query().Get("error") != "access_denied" || loc.Query().Get("state") != "deny-state-0123" {
			t.Fatalf("denied consent = %v, want error=access_denied with state", loc)
		}
		// prompt=none without consent: consent_required.
		_, loc = e.authorize(b, e.issuer+"/oauth2/authorize?"+url.Values{"client_id": {other.ID}, "response_type": {"code"},
			"redirect_uri": {other.RedirectURIs[0]}, "scope": {"openid"}, "state": {"none-state-0123"}, "prompt": {"none"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode())
		if loc == nil || loc.Query().Get("error") != "consent_required" {
			t.Fatalf("prompt=none without consent = %v, want consent_required", loc)
		}
		// First-party clients skip consent.
		fp, _ := e.client(storage.Client{Name: "Own app", FirstParty: true})
		_, co0 := e.ia.counts()
		e.codeFor(b, fp, nil)
		if _, co := e.ia.counts(); co != co0 {
			t.Fatal("a first-party client was asked for consent")
		}
	})
}

// TestFormPostResponseMode: response_mode=form_post renders an auto-submitting form
// to the redirect URI, with a CSP that allows only that.
func TestFormPostResponseMode(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		c, _ := e.client(storage.Client{Name: "Post"})
		_, challenge := pkce()
		b := e.browser()
		resp, err := b.Get(e.issuer + "/oauth2/authorize?" + url.Values{"client_id": {c.ID}, "response_type": {"code"}, "response_mode": {"form_post"},
			"redirect_uri": {c.RedirectURIs[0]}, "scope": {"openid"}, "state": {"fp-state-0123456"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode())
		mustf(t, err, "authorize")
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `action="https://app.example.com/callback"`) ||
			!strings.Contains(string(page), `name="code"`) || !strings.Contains(string(page), `name="iss"`) || !strings.Contains(string(page), "fp-state-0123456") {
			t.Fatalf("form_post page (%d):\n%s", resp.StatusCode, page)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action https://app.example.com") || !strings.Contains(csp, "script-src 'sha256-") {
			t.Fatalf("form_post CSP = %q", csp)
		}
	})
}

var _ = oauth2.NoContext

// TestWellKnownDocumentsAreCacheable: discovery and JWKS carry a length, cache
// headers and an ETag, and a revalidation with that ETag gets 304 and no body.
func TestWellKnownDocumentsAreCacheable(t *testing.T) {
	e := newEnv(t, storagetest.OpenURL(t, "sqlite:"+t.TempDir()+"/gatehouse.db", storage.PoolerNone))
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/jwks.json"} {
		resp, err := http.Get(e.srv.URL + path)
		mustf(t, err, "GET %s", path)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		etag := resp.Header.Get("ETag")
		if resp.StatusCode != http.StatusOK || len(body) == 0 || etag == "" || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "public, max-age=") {
			t.Fatalf("GET %s: %d, %d bytes, ETag %q, Cache-Control %q", path, resp.StatusCode, len(body), etag, resp.Header.Get("Cache-Control"))
		}
		if resp.ContentLength != int64(len(body)) {
			t.Errorf("GET %s: Content-Length %d, body %d bytes", path, resp.ContentLength, len(body))
		}
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
		req.Header.Set("If-None-Match", etag)
		resp, err = http.DefaultClient.Do(req)
		mustf(t, err, "revalidate %s", path)
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotModified || len(body) != 0 {
			t.Errorf("revalidate %s: %d with %d bytes, want 304 and no body", path, resp.StatusCode, len(body))
		}
	}
}
