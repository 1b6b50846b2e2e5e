package server_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestAuthorizeStateIsOptional: state is RECOMMENDED (RFC 6749 §4.1.1). A public
// client that sends PKCE and no state, as Auth.js's OpenID Connect setup does,
// signs in with x/oauth2 and go-oidc; a short state is echoed as sent; a request
// without state is still checked in every other way.
func TestAuthorizeStateIsOptional(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		ctx := oidc.ClientContext(t.Context(), http.DefaultClient)
		c, _ := e.client(storage.Client{Name: "Auth.js app", Public: true, RedirectURIs: storage.StringList{"https://app.example.com/api/auth/callback/gatehouse"}})
		provider, err := oidc.NewProvider(ctx, e.issuer)
		mustf(t, err, "discovery")
		endpoint := provider.Endpoint()
		endpoint.AuthStyle = oauth2.AuthStyleInParams
		conf := oauth2.Config{ClientID: c.ID, Endpoint: endpoint, RedirectURL: c.RedirectURIs[0], Scopes: []string{oidc.ScopeOpenID, "email"}}
		b := e.browser()

		for _, tc := range []struct {
			name, state, nonce string
		}{
			{"no state", "", ""},
			{"no state, a nonce", "", "n"},
			{"short state", "ab", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				verifier := oauth2.GenerateVerifier()
				opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
				if tc.nonce != "" {
					opts = append(opts, oidc.Nonce(tc.nonce))
				}
				authURL := conf.AuthCodeURL(tc.state, opts...)
				if tc.state == "" && strings.Contains(authURL, "state=") {
					t.Fatalf("x/oauth2 sent a state: %s", authURL)
				}
				_, loc := e.authorize(b, authURL)
				if loc == nil || loc.Query().Get("code") == "" {
					t.Fatalf("authorize = %v, want a code", loc)
				}
				if _, has := loc.Query()["state"]; has != (tc.state != "") || loc.Query().Get("state") != tc.state {
					t.Fatalf("response %v: state %q, want it exactly when sent (%q)", loc, loc.Query().Get("state"), tc.state)
				}
				tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
				mustf(t, err, "exchange")
				idt, err := provider.Verifier(&oidc.Config{ClientID: c.ID}).Verify(ctx, tok.Extra("id_token").(string))
				mustf(t, err, "verify ID token")
				if idt.Nonce != tc.nonce {
					t.Fatalf("ID token nonce = %q, want %q", idt.Nonce, tc.nonce)
				}
			})
		}

		t.Run("other checks still apply", func(t *testing.T) {
			_, loc := e.authorize(b, conf.AuthCodeURL("", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("scope", "openid admin")))
			if loc == nil || loc.Query().Get("error") != "invalid_scope" || loc.Query().Get("code") != "" {
				t.Fatalf("unknown scope without state = %v, want error=invalid_scope", loc)
			}
			_, loc = e.authorize(b, conf.AuthCodeURL(""))
			if loc == nil || loc.Query().Get("error") != "invalid_request" {
				t.Fatalf("public client without PKCE or state = %v, want error=invalid_request", loc)
			}
		})

		t.Run("pushed without state", func(t *testing.T) {
			web, secret := e.client(storage.Client{Name: "PAR app"})
			verifier, challenge := pkce()
			status, _, body := e.postForm("/oauth2/par", url.Values{"response_type": {"code"}, "redirect_uri": {web.RedirectURIs[0]},
				"scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, web.ID, secret)
			if status != http.StatusCreated {
				t.Fatalf("push without state: %d %v", status, body)
			}
			_, loc := e.authorize(b, e.issuer+"/oauth2/authorize?"+url.Values{"client_id": {web.ID}, "request_uri": {body["request_uri"].(string)}}.Encode())
			if loc == nil || loc.Query().Get("code") == "" {
				t.Fatalf("authorize with a pushed request without state = %v", loc)
			}
			if status, body := e.redeem(web, secret, loc.Query().Get("code"), verifier); status != http.StatusOK {
				t.Fatalf("redeem: %d %v", status, body)
			}
			// fosite checks redirect_uri for OpenID Connect after state: still checked.
			status, _, body = e.postForm("/oauth2/par", url.Values{"response_type": {"code"}, "scope": {"openid"},
				"code_challenge": {challenge}, "code_challenge_method": {"S256"}}, web.ID, secret)
			if status != http.StatusBadRequest || body["error"] != "invalid_request" {
				t.Fatalf("push of an OpenID request without state and redirect_uri = %d %v, want invalid_request", status, body)
			}
		})
	})
}

// TestResponseModeFragmentRefused: discovery offers query and form_post for the
// code; fragment is refused at authorize and at the PAR endpoint, and the error
// goes back in the query.
func TestResponseModeFragmentRefused(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		c, secret := e.client(storage.Client{Name: "Fragment"})
		_, challenge := pkce()
		q := url.Values{"client_id": {c.ID}, "response_type": {"code"}, "response_mode": {"fragment"}, "redirect_uri": {c.RedirectURIs[0]},
			"scope": {"openid"}, "state": {"frag-state-0123"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		resp, loc := e.authorize(e.browser(), e.issuer+"/oauth2/authorize?"+q.Encode())
		if loc == nil {
			t.Fatalf("response_mode=fragment: status %d, want a redirect with an error", resp.StatusCode)
		}
		if loc.Query().Get("error") != "unsupported_response_mode" || loc.Fragment != "" || loc.Query().Get("code") != "" ||
			loc.Query().Get("state") != "frag-state-0123" || loc.Query().Get("iss") != e.issuer {
			t.Fatalf("response_mode=fragment = %v, want error=unsupported_response_mode with state and iss in the query", loc)
		}
		if si, _ := e.ia.counts(); si != 0 {
			t.Fatalf("a refused request showed the sign-in page")
		}
		status, _, body := e.postForm("/oauth2/par", url.Values{"response_type": {"code"}, "response_mode": {"fragment"}, "redirect_uri": {c.RedirectURIs[0]},
			"scope": {"openid"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, c.ID, secret)
		if status != http.StatusBadRequest || body["error"] != "unsupported_response_mode" {
			t.Fatalf("push with response_mode=fragment = %d %v, want 400 unsupported_response_mode", status, body)
		}
		modes, _ := discovery(t, e)["response_modes_supported"].([]any)
		if len(modes) != 2 || modes[0] != "query" || modes[1] != "form_post" {
			t.Fatalf("response_modes_supported = %v, want [query form_post]", modes)
		}
	})
}

// TestPushedRequestIsTheWholeRequest (RFC 9126 §4): parameters sent beside
// request_uri are ignored, and another client presenting the request_uri is
// refused without using up the owner's pushed request.
func TestPushedRequestIsTheWholeRequest(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		owner, secret := e.client(storage.Client{Name: "Owner"})
		other, _ := e.client(storage.Client{Name: "Other"})
		push := func() (string, string) {
			verifier, challenge := pkce()
			status, _, body := e.postForm("/oauth2/par", url.Values{"response_type": {"code"}, "redirect_uri": {owner.RedirectURIs[0]},
				"scope": {"openid"}, "state": {"pushed-state-0123"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}, owner.ID, secret)
			if status != http.StatusCreated {
				t.Fatalf("push: %d %v", status, body)
			}
			return body["request_uri"].(string), verifier
		}

		t.Run("another client's attempt", func(t *testing.T) {
			requestURI, verifier := push()
			resp, loc := e.authorize(e.browser(), e.issuer+"/oauth2/authorize?"+url.Values{"client_id": {other.ID}, "request_uri": {requestURI}}.Encode())
			if loc != nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("another client's request_uri: status %d location %v, want a 400 page", resp.StatusCode, loc)
			}
			_, loc = e.authorize(e.browser(), e.issuer+"/oauth2/authorize?"+url.Values{"client_id": {owner.ID}, "request_uri": {requestURI}}.Encode())
			if loc == nil || loc.Query().Get("code") == "" {
				t.Fatalf("the owner's pushed request after another client's attempt = %v, want a code", loc)
			}
			if status, body := e.redeem(owner, secret, loc.Query().Get("code"), verifier); status != http.StatusOK {
				t.Fatalf("redeem: %d %v", status, body)
			}
		})

		t.Run("parameters beside request_uri", func(t *testing.T) {
			b := e.browser()
			// A session and consent, so that a silent authorization would succeed.
			e.codeFor(b, owner, nil)
			requestURI, verifier := push()
			si0, _ := e.ia.counts()
			_, loc := e.authorize(b, e.issuer+"/oauth2/authorize?"+url.Values{"client_id": {owner.ID}, "request_uri": {requestURI},
				"prompt": {"login"}, "scope": {"openid email"}, "state": {"swapped"}, "redirect_uri": {"https://evil.example.com/cb"},
				"response_mode": {"form_post"}, "max_age": {"0"}}.Encode())
			if loc == nil || loc.Host != "app.example.com" || loc.Query().Get("code") == "" {
				t.Fatalf("authorize with extra parameters = %v, want a code at the pushed redirect_uri", loc)
			}
			if loc.Query().Get("state") != "pushed-state-0123" {
				t.Errorf("state = %q, want the pushed one", loc.Query().Get("state"))
			}
			if si, _ := e.ia.counts(); si != si0 {
				t.Errorf("prompt=login or max_age=0 beside request_uri showed the sign-in page")
			}
			status, body := e.redeem(owner, secret, loc.Query().Get("code"), verifier)
			if status != http.StatusOK || body["scope"] != "openid" {
				t.Fatalf("redeem = %d %v, want scope openid (the pushed one)", status, body)
			}
		})
	})
}

// TestClientAuthorizationCodeLifespan: a client's own authorization-code lifespan
// wins over the server's, both ways.
func TestClientAuthorizationCodeLifespan(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		for _, tc := range []struct {
			name           string
			server, client time.Duration
			wantOK         bool
		}{
			{"client's lifespan already over", 0, time.Nanosecond, false},
			{"server's over, client's long", time.Nanosecond, time.Hour, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				e := newEnv(t, open(t), func(c *oauth.Config) { c.AuthorizeCodeLifespan = tc.server })
				c, secret := e.client(storage.Client{Name: tc.name, AuthorizationCodeLifespan: storage.Lifespan(tc.client)})
				code, verifier := e.codeFor(e.browser(), c, nil)
				status, body := e.redeem(c, secret, code, verifier)
				if ok := status == http.StatusOK; ok != tc.wantOK {
					t.Fatalf("redeem = %d %v, want success %v", status, body, tc.wantOK)
				}
				if !tc.wantOK && body["error"] != "invalid_grant" {
					t.Fatalf("redeem of an expired code = %v, want invalid_grant", body)
				}
			})
		}
	})
}

// TestIDTokenHintOnlyIDTokens: id_token_hint accepts an ID token issued here to
// the client; an access token signed with the same keys, or an ID token of
// another client, is refused at authorize and at logout.
func TestIDTokenHintOnlyIDTokens(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		c, secret := e.client(storage.Client{Name: "JWT app", AccessTokenFormat: "jwt", PostLogoutRedirectURIs: storage.StringList{"https://app.example.com/bye"}})
		other, otherSecret := e.client(storage.Client{Name: "Other"})
		b := e.browser()
		code, v := e.codeFor(b, c, nil)
		_, tok := e.redeem(c, secret, code, v)
		idToken, accessToken := tok["id_token"].(string), tok["access_token"].(string)
		if h := decodeJWTPart(t, accessToken, 0); h["typ"] != "at+jwt" {
			t.Fatalf("access token header = %v, want a JWT access token", h)
		}
		code, v = e.codeFor(b, other, nil)
		_, otherTok := e.redeem(other, otherSecret, code, v)

		authorizeWith := func(hint string) *url.URL {
			_, challenge := pkce()
			_, loc := e.authorize(b, e.issuer+"/oauth2/authorize?"+url.Values{"client_id": {c.ID}, "response_type": {"code"}, "redirect_uri": {c.RedirectURIs[0]},
				"scope": {"openid"}, "state": {"hint-state-0123"}, "prompt": {"none"}, "id_token_hint": {hint},
				"code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode())
			return loc
		}
		logoutWith := func(q url.Values) int {
			resp, err := b.Get(e.issuer + "/oauth2/logout?" + q.Encode())
			mustf(t, err, "logout")
			resp.Body.Close()
			return resp.StatusCode
		}
		for _, tc := range []struct {
			name string
			hint string
		}{
			{"JWT access token", accessToken},
			{"ID token of another client", otherTok["id_token"].(string)},
			{"not a JWT", "abc"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if loc := authorizeWith(tc.hint); loc == nil || loc.Query().Get("error") != "invalid_request" || loc.Query().Get("code") != "" {
					t.Errorf("authorize with id_token_hint = %v, want error=invalid_request", loc)
				}
				if status := logoutWith(url.Values{"id_token_hint": {tc.hint}, "client_id": {c.ID}}); status != http.StatusBadRequest {
					t.Errorf("logout with id_token_hint and client_id: status %d, want 400", status)
				}
				if status := logoutWith(url.Values{"id_token_hint": {tc.hint}, "post_logout_redirect_uri": {"https://app.example.com/bye"}}); status != http.StatusBadRequest {
					t.Errorf("logout with id_token_hint: status %d, want 400", status)
				}
			})
		}
		t.Run("ID token of the client", func(t *testing.T) {
			if loc := authorizeWith(idToken); loc == nil || loc.Query().Get("code") == "" {
				t.Fatalf("authorize with the client's ID token = %v, want a code", loc)
			}
		})
		t.Run("ID token of a deleted client at logout", func(t *testing.T) {
			mustf(t, e.store.DeleteClient(t.Context(), other.ID), "delete client")
			if status := logoutWith(url.Values{"id_token_hint": {otherTok["id_token"].(string)}}); status != http.StatusBadRequest {
				t.Fatalf("logout with an ID token of no known client: status %d, want 400", status)
			}
		})
	})
}

// TestClaimsInIDToken: a client with claims_in_id_token gets the granted profile
// and email claims in its ID token (as userinfo releases them), on the code and
// the refresh grant; other clients get them from userinfo only.
func TestClaimsInIDToken(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		ctx := oidc.ClientContext(t.Context(), http.DefaultClient)
		provider, err := oidc.NewProvider(ctx, e.issuer)
		mustf(t, err, "discovery")
		for _, tc := range []struct {
			name   string
			flag   bool
			scopes []string
			want   map[string]any // claims that must be present; nil: none of the profile/email claims
		}{
			{"flag, profile and email", true, []string{"openid", "profile", "email", "offline_access"},
				map[string]any{"email": "ada@example.com", "email_verified": true, "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace", "locale": "en"}},
			{"flag, email only", true, []string{"openid", "email", "offline_access"}, map[string]any{"email": "ada@example.com", "email_verified": true}},
			{"no flag", false, []string{"openid", "profile", "email", "offline_access"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c, secret := e.client(storage.Client{Name: tc.name, ClaimsInIDToken: tc.flag})
				endpoint := provider.Endpoint()
				endpoint.AuthStyle = oauth2.AuthStyleInHeader
				conf := oauth2.Config{ClientID: c.ID, ClientSecret: secret, Endpoint: endpoint, RedirectURL: c.RedirectURIs[0], Scopes: tc.scopes}
				verifier := oauth2.GenerateVerifier()
				_, loc := e.authorize(e.browser(), conf.AuthCodeURL(randomHex(8), oauth2.S256ChallengeOption(verifier)))
				if loc == nil || loc.Query().Get("code") == "" {
					t.Fatalf("authorize = %v", loc)
				}
				tok, err := conf.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
				mustf(t, err, "exchange")
				expired := *tok
				expired.Expiry = time.Now().Add(-time.Hour)
				refreshed, err := conf.TokenSource(ctx, &expired).Token()
				mustf(t, err, "refresh")
				for grant, raw := range map[string]any{"authorization_code": tok.Extra("id_token"), "refresh_token": refreshed.Extra("id_token")} {
					idt, err := provider.Verifier(&oidc.Config{ClientID: c.ID}).Verify(ctx, raw.(string))
					mustf(t, err, "verify %s ID token", grant)
					var claims map[string]any
					mustf(t, idt.Claims(&claims), "claims")
					if tc.want == nil {
						for _, k := range []string{"email", "email_verified", "name", "given_name", "updated_at"} {
							if _, ok := claims[k]; ok {
								t.Errorf("%s ID token of a client without the flag has %s: %v", grant, k, claims)
							}
						}
						continue
					}
					for k, want := range tc.want {
						if claims[k] != want {
							t.Errorf("%s ID token %s = %v, want %v", grant, k, claims[k], want)
						}
					}
					if _, ok := claims["name"]; ok != (tc.want["name"] != nil) {
						t.Errorf("%s ID token: name present %v, want it only with the profile scope", grant, ok)
					}
					if claims["sub"] != e.user.ID {
						t.Errorf("%s ID token sub = %v", grant, claims["sub"])
					}
				}
			})
		}
	})
}
