package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestCodeFlowWithRealClient drives the whole authorization code flow with go-oidc
// and x/oauth2: discovery → authorize (PKCE) → code → token → ID token verification
// → userinfo → refresh (rotation) → introspect → revoke.
func TestCodeFlowWithRealClient(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		ctx := oidc.ClientContext(t.Context(), http.DefaultClient)
		client, secret := e.client(storage.Client{Name: "Notes"})

		provider, err := oidc.NewProvider(ctx, e.issuer)
		mustf(t, err, "discovery")
		var meta struct {
			IssParam bool     `json:"authorization_response_iss_parameter_supported"`
			PKCE     []string `json:"code_challenge_methods_supported"`
			PAR      string   `json:"pushed_authorization_request_endpoint"`
		}
		mustf(t, provider.Claims(&meta), "discovery claims")
		if !meta.IssParam || !slices.Equal(meta.PKCE, []string{"S256"}) || meta.PAR != e.issuer+"/oauth2/par" {
			t.Fatalf("discovery = %+v", meta)
		}

		endpoint := provider.Endpoint()
		endpoint.AuthStyle = oauth2.AuthStyleInHeader
		conf := oauth2.Config{ClientID: client.ID, ClientSecret: secret, Endpoint: endpoint,
			RedirectURL: client.RedirectURIs[0], Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}}
		verifier := oauth2.GenerateVerifier()
		state, nonce := randomHex(16), randomHex(16)
		b := e.browser()
		_, loc := e.authorize(b, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oidc.Nonce(nonce)))
		if loc == nil || !strings.HasPrefix(loc.String(), client.RedirectURIs[0]) {
			t.Fatalf("authorize did not redirect to the client: %v", loc)
		}
		q := loc.Query()
		if q.Get("state") != state || q.Get("iss") != e.issuer || q.Get("code") == "" {
			t.Fatalf("authorization response %v: want state, iss=%s (RFC 9207) and code", q, e.issuer)
		}
		if si, co := e.ia.counts(); si != 1 || co != 1 {
			t.Fatalf("sign-in pages %d, consent pages %d; want 1 and 1", si, co)
		}

		tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
		mustf(t, err, "exchange code")
		rawID, _ := tok.Extra("id_token").(string)
		idt, err := provider.Verifier(&oidc.Config{ClientID: client.ID}).Verify(ctx, rawID)
		mustf(t, err, "verify ID token")
		if idt.Subject != e.user.ID || idt.Nonce != nonce {
			t.Fatalf("ID token sub=%q nonce=%q, want %q %q", idt.Subject, idt.Nonce, e.user.ID, nonce)
		}
		mustf(t, idt.VerifyAccessToken(tok.AccessToken), "at_hash")
		var claims map[string]any
		mustf(t, idt.Claims(&claims), "claims")
		for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "amr", "sid"} {
			if _, ok := claims[c]; !ok {
				t.Errorf("ID token lacks %s: %v", c, claims)
			}
		}
		if tok.RefreshToken == "" {
			t.Fatal("no refresh token although offline_access was granted")
		}
		if !strings.HasPrefix(tok.AccessToken, "gh_at_") || !strings.HasPrefix(tok.RefreshToken, "gh_rt_") {
			t.Errorf("opaque tokens should carry their prefix: %q %q", tok.AccessToken[:6], tok.RefreshToken[:6])
		}

		info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		mustf(t, err, "userinfo")
		var ui map[string]any
		mustf(t, info.Claims(&ui), "userinfo claims")
		if ui["email"] != "ada@example.com" || ui["name"] != "Ada Lovelace" || ui["sub"] != e.user.ID {
			t.Fatalf("userinfo = %v", ui)
		}

		// Refresh: a new pair, the old refresh token no longer works.
		old := *tok
		expired := *tok
		expired.Expiry = time.Now().Add(-time.Hour)
		fresh, err := conf.TokenSource(ctx, &expired).Token()
		mustf(t, err, "refresh")
		if fresh.RefreshToken == old.RefreshToken || fresh.AccessToken == old.AccessToken {
			t.Fatal("refresh did not rotate the tokens")
		}
		if got := e.introspect(fresh.AccessToken, client.ID, secret); got["active"] != true || got["sub"] != e.user.ID || got["client_id"] != client.ID {
			t.Fatalf("introspect new access token = %v", got)
		}
		if got := e.introspect(old.AccessToken, client.ID, secret); got["active"] != false {
			t.Fatalf("introspect rotated-away access token = %v, want inactive", got)
		}

		// Revoke the refresh token: it and its access token stop working.
		status, _, body := e.postForm("/oauth2/revoke", url.Values{"token": {fresh.RefreshToken}, "token_type_hint": {"refresh_token"}}, client.ID, secret)
		if status != http.StatusOK {
			t.Fatalf("revoke: %d %v", status, body)
		}
		if got := e.introspect(fresh.RefreshToken, client.ID, secret); got["active"] != false {
			t.Fatalf("revoked refresh token introspects as %v", got)
		}
		if _, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
			t.Fatal("revoked refresh token still refreshes")
		}

		// A second authorization is silent: signed in, consent remembered.
		_, loc = e.authorize(b, conf.AuthCodeURL(randomHex(16), oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("prompt", "none")))
		if loc == nil || loc.Query().Get("code") == "" {
			t.Fatalf("prompt=none after consent did not return a code: %v", loc)
		}
		if si, co := e.ia.counts(); si != 1 || co != 1 {
			t.Fatalf("second authorization showed pages: sign-in %d, consent %d", si, co)
		}
	})
}

// TestPublicClientPKCE: a public client (no secret) completes the flow with PKCE.
func TestPublicClientPKCE(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		ctx := oidc.ClientContext(t.Context(), http.DefaultClient)
		client, _ := e.client(storage.Client{Name: "SPA", Public: true, ApplicationType: "native", RedirectURIs: storage.StringList{"http://127.0.0.1/callback"}})
		conf := oauth2.Config{ClientID: client.ID, Endpoint: oauth2.Endpoint{AuthURL: e.issuer + "/oauth2/authorize", TokenURL: e.issuer + "/oauth2/token", AuthStyle: oauth2.AuthStyleInParams},
			RedirectURL: "http://127.0.0.1:51234/callback", Scopes: []string{"openid"}}
		verifier := oauth2.GenerateVerifier()
		_, loc := e.authorize(e.browser(), conf.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier)))
		if loc == nil || loc.Host != "127.0.0.1:51234" || loc.Query().Get("code") == "" {
			t.Fatalf("native loopback redirect (any port, RFC 8252) = %v", loc)
		}
		tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
		mustf(t, err, "public client exchange")
		if tok.AccessToken == "" || tok.RefreshToken != "" {
			t.Fatalf("public client got access token %v, refresh token %v (no offline_access asked)", tok.AccessToken != "", tok.RefreshToken != "")
		}
	})
}

// TestClientCredentials with client_secret_basic and client_secret_post.
func TestClientCredentials(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		for _, tc := range []struct {
			name   string
			method string
			style  oauth2.AuthStyle
		}{
			{"basic", "client_secret_basic", oauth2.AuthStyleInHeader},
			{"post", "client_secret_post", oauth2.AuthStyleInParams},
		} {
			t.Run(tc.name, func(t *testing.T) {
				client, secret := e.client(storage.Client{Name: "Billing", GrantTypes: storage.StringList{"client_credentials"},
					ResponseTypes: storage.StringList{}, Scopes: storage.StringList{"invoices.read"}, TokenEndpointAuthMethod: tc.method})
				cc := clientcredentials.Config{ClientID: client.ID, ClientSecret: secret, TokenURL: e.issuer + "/oauth2/token", Scopes: []string{"invoices.read"}, AuthStyle: tc.style}
				tok, err := cc.Token(t.Context())
				mustf(t, err, "client credentials")
				got := e.introspect(tok.AccessToken, client.ID, secret)
				if got["active"] != true || got["client_id"] != client.ID || got["scope"] != "invoices.read" {
					t.Fatalf("introspect = %v", got)
				}
				if tok.RefreshToken != "" {
					t.Fatal("client credentials must not issue a refresh token")
				}
				// The other secret method works too (TestSecretClientsAcceptBothSecretMethods).
				other := clientcredentials.Config{ClientID: client.ID, ClientSecret: secret, TokenURL: cc.TokenURL, AuthStyle: 3 - tc.style}
				if _, err := other.Token(t.Context()); err != nil {
					t.Fatalf("a client registered for %s, sending its secret the other way: %v", tc.method, err)
				}
			})
		}
	})
}

func decodeJWTPart(t *testing.T, tok string, part int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	raw, err := base64URLDecode(parts[part])
	mustf(t, err, "decode JWT part")
	var m map[string]any
	mustf(t, json.Unmarshal(raw, &m), "JWT part JSON")
	return m
}

var _ = context.Background
