package server_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/storage"
)

// codeFor runs the browser part of the flow and returns the code (fatal if none).
func (e *env) codeFor(b *http.Client, c storage.Client, extra url.Values) (code, verifier string) {
	e.t.Helper()
	verifier, challenge := pkce()
	q := url.Values{"client_id": {c.ID}, "response_type": {"code"}, "redirect_uri": {c.RedirectURIs[0]},
		"scope": {"openid offline_access"}, "state": {randomHex(12)}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	_, loc := e.authorize(b, e.issuer+"/oauth2/authorize?"+q.Encode())
	if loc == nil || loc.Query().Get("code") == "" {
		e.t.Fatalf("no code: %v", loc)
	}
	return loc.Query().Get("code"), verifier
}

func (e *env) redeem(c storage.Client, secret, code, verifier string) (int, map[string]any) {
	e.t.Helper()
	status, _, body := e.postForm("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}}, c.ID, secret)
	return status, body
}

// TestAuthorizationCodeSingleUse: a second redemption fails with invalid_grant and
// revokes the tokens issued from the first (RFC 6749 §4.1.2).
func TestAuthorizationCodeSingleUse(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		c, secret := e.client(storage.Client{Name: "A"})
		code, verifier := e.codeFor(e.browser(), c, nil)
		status, first := e.redeem(c, secret, code, verifier)
		if status != http.StatusOK {
			t.Fatalf("first redemption: %d %v", status, first)
		}
		status, second := e.redeem(c, secret, code, verifier)
		if status != http.StatusBadRequest || second["error"] != "invalid_grant" {
			t.Fatalf("second redemption = %d %v, want 400 invalid_grant", status, second)
		}
		if got := e.introspect(first["access_token"].(string), c.ID, secret); got["active"] != false {
			t.Fatalf("access token of a replayed code still active: %v", got)
		}
		if got := e.introspect(first["refresh_token"].(string), c.ID, secret); got["active"] != false {
			t.Fatalf("refresh token of a replayed code still active: %v", got)
		}
	})
}

// TestRefreshTokenReuseRevokesFamily (RFC 9700 §4.14.2).
func TestRefreshTokenReuseRevokesFamily(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		c, secret := e.client(storage.Client{Name: "A"})
		code, verifier := e.codeFor(e.browser(), c, nil)
		_, first := e.redeem(c, secret, code, verifier)
		rt1 := first["refresh_token"].(string)
		refresh := func(rt string) (int, map[string]any) {
			s, _, b := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, c.ID, secret)
			return s, b
		}
		status, second := refresh(rt1)
		if status != http.StatusOK {
			t.Fatalf("refresh: %d %v", status, second)
		}
		rt2 := second["refresh_token"].(string)
		if status, body := refresh(rt1); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("reusing a rotated refresh token = %d %v, want invalid_grant", status, body)
		}
		// The whole family is gone: the newest refresh and access tokens too.
		if status, body := refresh(rt2); status != http.StatusBadRequest {
			t.Fatalf("refresh token of a revoked family = %d %v", status, body)
		}
		if got := e.introspect(second["access_token"].(string), c.ID, secret); got["active"] != false {
			t.Fatalf("access token of a revoked family = %v", got)
		}
	})
}

// TestConcurrentRefreshOneWins: 20 concurrent refreshes of one token, one succeeds.
func TestConcurrentRefreshOneWins(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		c, secret := e.client(storage.Client{Name: "A"})
		code, verifier := e.codeFor(e.browser(), c, nil)
		_, first := e.redeem(c, secret, code, verifier)
		rt := first["refresh_token"].(string)
		var wg sync.WaitGroup
		var mu sync.Mutex
		statuses := map[int]int{}
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
				req, _ := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(c.ID, secret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		if statuses[http.StatusOK] != 1 {
			t.Fatalf("statuses of 20 concurrent refreshes = %v, want exactly one 200", statuses)
		}
	})
}

// TestAuthorizeRejections covers requests that must get an HTML page (client or
// redirect_uri not verified) and those that must be redirected with an error.
func TestAuthorizeRejections(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		web, _ := e.client(storage.Client{Name: "Web", RedirectURIs: storage.StringList{"https://app.example.com/cb", "http://127.0.0.1:8000/cb"}})
		pub, _ := e.client(storage.Client{Name: "Pub", Public: true, RedirectURIs: storage.StringList{"https://spa.example.com/cb"}})
		_, challenge := pkce()
		base := func(c storage.Client, redirect string) url.Values {
			return url.Values{"client_id": {c.ID}, "response_type": {"code"}, "redirect_uri": {redirect}, "scope": {"openid"},
				"state": {"state-0123456789"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		}
		for _, tc := range []struct {
			name      string
			query     func() string
			wantPage  bool   // an HTML error page, no redirect
			wantError string // the error sent to the client
		}{
			{"unknown client", func() string {
				q := base(web, "https://app.example.com/cb")
				q.Set("client_id", "nope")
				return q.Encode()
			}, true, ""},
			{"unregistered redirect_uri", func() string { return base(web, "https://evil.example.com/cb").Encode() }, true, ""},
			{"redirect_uri prefix", func() string { return base(web, "https://app.example.com/cb/x").Encode() }, true, ""},
			{"loopback port change for a web client", func() string { return base(web, "http://127.0.0.1:9000/cb").Encode() }, true, ""},
			{"unsupported response type", func() string {
				q := base(web, "https://app.example.com/cb")
				q.Set("response_type", "token")
				return q.Encode()
			}, false, "unsupported_response_type"},
			{"public client without PKCE", func() string {
				q := base(pub, "https://spa.example.com/cb")
				q.Del("code_challenge")
				q.Del("code_challenge_method")
				return q.Encode()
			}, false, "invalid_request"},
			{"plain PKCE", func() string {
				q := base(pub, "https://spa.example.com/cb")
				q.Set("code_challenge_method", "plain")
				q.Set("code_challenge", strings.Repeat("a", 50))
				return q.Encode()
			}, false, "invalid_request"},
			{"parameter given twice", func() string { return base(web, "https://app.example.com/cb").Encode() + "&scope=email" }, false, "invalid_request"},
			{"prompt=none without session", func() string {
				q := base(web, "https://app.example.com/cb")
				q.Set("prompt", "none")
				return q.Encode()
			}, false, "login_required"},
			{"unknown scope", func() string {
				q := base(web, "https://app.example.com/cb")
				q.Set("scope", "openid admin")
				return q.Encode()
			}, false, "invalid_scope"},
			{"request object", func() string {
				q := base(web, "https://app.example.com/cb")
				q.Set("request", "eyJhbGciOiJub25lIn0.e30.")
				return q.Encode()
			}, false, "request_not_supported"},
			// Found by FuzzAuthorizeRequest: a foreign request_uri without redirect_uri
			// must not be treated as a pushed request (whose redirect was checked).
			{"foreign request_uri without redirect_uri", func() string {
				return url.Values{"client_id": {web.ID}, "request_uri": {"A"}}.Encode()
			}, true, ""},
			{"request_uri not from PAR", func() string {
				q := base(web, "https://app.example.com/cb")
				q.Set("request_uri", "https://app.example.com/request.jwt")
				return q.Encode()
			}, false, "request_uri_not_supported"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, loc := e.authorize(e.browser(), e.issuer+"/oauth2/authorize?"+tc.query())
				if tc.wantPage {
					if loc != nil || resp.StatusCode != http.StatusBadRequest || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/") {
						t.Fatalf("got status %d location %v content-type %q, want a 400 page and no redirect", resp.StatusCode, loc, resp.Header.Get("Content-Type"))
					}
					return
				}
				if loc == nil {
					t.Fatalf("got status %d, want a redirect with error=%s", resp.StatusCode, tc.wantError)
				}
				if got := loc.Query().Get("error"); got != tc.wantError || loc.Query().Get("iss") != e.issuer {
					t.Fatalf("redirect %v: error=%q iss=%q, want %q and the issuer", loc, got, loc.Query().Get("iss"), tc.wantError)
				}
			})
		}
	})
}

// TestTokenRejections covers the token endpoint's refusals.
func TestTokenRejections(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		c, secret := e.client(storage.Client{Name: "A"})
		b := e.browser()

		t.Run("wrong PKCE verifier", func(t *testing.T) {
			code, _ := e.codeFor(b, c, nil)
			if status, body := e.redeem(c, secret, code, strings.Repeat("x", 50)); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Fatalf("= %d %v, want invalid_grant", status, body)
			}
		})
		t.Run("missing PKCE verifier", func(t *testing.T) {
			code, _ := e.codeFor(b, c, nil)
			if status, body := e.redeem(c, secret, code, ""); status != http.StatusBadRequest {
				t.Fatalf("= %d %v, want 400", status, body)
			}
		})
		t.Run("wrong client secret", func(t *testing.T) {
			code, verifier := e.codeFor(b, c, nil)
			status, hdr, body := e.postForm("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}}, c.ID, secret+"x")
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" || hdr.Get("WWW-Authenticate") == "" {
				t.Fatalf("= %d %v %q, want 401 invalid_client with WWW-Authenticate", status, body, hdr.Get("WWW-Authenticate"))
			}
			if strings.Contains(e.logs.String(), secret) {
				t.Fatal("a client secret reached the log")
			}
			for _, v := range body {
				if s, ok := v.(string); ok && strings.Contains(s, secret) {
					t.Fatal("the error echoes the secret")
				}
			}
		})
		t.Run("mismatched redirect_uri at the token endpoint", func(t *testing.T) {
			code, verifier := e.codeFor(b, c, nil)
			status, _, body := e.postForm("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
				"redirect_uri": {"https://app.example.com/other"}, "code_verifier": {verifier}}, c.ID, secret)
			if status != http.StatusBadRequest || body["error"] != "invalid_grant" {
				t.Fatalf("= %d %v", status, body)
			}
		})
		t.Run("parameter given twice", func(t *testing.T) {
			code, verifier := e.codeFor(b, c, nil)
			status, _, body := e.postForm("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code, code},
				"redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}}, c.ID, secret)
			if status != http.StatusBadRequest || body["error"] != "invalid_request" {
				t.Fatalf("= %d %v", status, body)
			}
		})
		t.Run("unsupported grant type", func(t *testing.T) {
			status, _, body := e.postForm("/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"a"}, "password": {"b"}}, c.ID, secret)
			if status != http.StatusBadRequest || (body["error"] != "unsupported_grant_type" && body["error"] != "invalid_request") {
				t.Fatalf("= %d %v", status, body)
			}
		})
		t.Run("oversized request", func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials&x="+strings.Repeat("a", 2<<20)))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			mustf(t, err, "post")
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d, want 413", resp.StatusCode)
			}
		})
	})
}

// TestExpiredCodeAndTokens: a server whose lifespans are already over.
func TestExpiredCodeAndTokens(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t), func(c *oauth.Config) {
			c.AuthorizeCodeLifespan = time.Nanosecond
		})
		c, secret := e.client(storage.Client{Name: "A", GrantTypes: storage.StringList{"authorization_code", "refresh_token", "client_credentials"},
			Scopes: storage.StringList{"openid", "offline_access"}, AccessTokenLifespan: storage.Lifespan(time.Nanosecond)})
		code, verifier := e.codeFor(e.browser(), c, nil)
		if status, body := e.redeem(c, secret, code, verifier); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
			t.Fatalf("expired code = %d %v, want invalid_grant", status, body)
		}
		status, _, body := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
		if status != http.StatusOK {
			t.Fatalf("client credentials: %d %v", status, body)
		}
		if got := e.introspect(body["access_token"].(string), c.ID, secret); got["active"] != false {
			t.Fatalf("expired access token introspects as %v", got)
		}
	})
}

// TestRefreshTokenOnlyWithOfflineAccess: no offline_access, no refresh token,
// unless the client is configured to always get one.
func TestRefreshTokenOnlyWithOfflineAccess(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		for _, tc := range []struct {
			name   string
			always bool
			want   bool
		}{{"default client", false, false}, {"always-refresh client", true, true}} {
			t.Run(tc.name, func(t *testing.T) {
				c, secret := e.client(storage.Client{Name: tc.name, AlwaysIssueRefreshToken: tc.always})
				code, verifier := e.codeFor(e.browser(), c, url.Values{"scope": {"openid"}})
				status, body := e.redeem(c, secret, code, verifier)
				if status != http.StatusOK {
					t.Fatalf("redeem: %d %v", status, body)
				}
				if _, got := body["refresh_token"]; got != tc.want {
					t.Fatalf("refresh token issued = %v, want %v", got, tc.want)
				}
			})
		}
	})
}

var _ = oauth2.AccessTypeOffline
