package server_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestCORS covers cross-origin access for browser apps: preflights are answered
// for token, revoke and userinfo when some client allows the origin; an actual
// response is readable by the origins its client allows (its redirect URIs' and
// allowed_cors_origins); credentials are never allowed.
func TestCORS(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		const (
			spaOrigin   = "https://spa.example.com"
			cdnOrigin   = "https://cdn.example.net"
			otherOrigin = "https://other.example.org"
			evilOrigin  = "https://evil.example"
		)
		spa, _ := e.client(storage.Client{Name: "SPA", Public: true, RedirectURIs: storage.StringList{spaOrigin + "/callback"},
			AllowedCORSOrigins: storage.StringList{cdnOrigin}})
		e.client(storage.Client{Name: "Other", RedirectURIs: storage.StringList{otherOrigin + "/cb"}})

		do := func(method, path, origin string, header http.Header, body url.Values) *http.Response {
			t.Helper()
			var rd io.Reader
			if body != nil {
				rd = strings.NewReader(body.Encode())
			}
			req, _ := http.NewRequest(method, e.issuer+path, rd)
			for k, v := range header {
				req.Header[k] = v
			}
			if body != nil {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
			if origin != "" {
				req.Header.Set("Origin", origin)
			}
			resp, err := http.DefaultClient.Do(req)
			mustf(t, err, "%s %s", method, path)
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.Header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("%s %s from %s: Access-Control-Allow-Credentials is set", method, path, origin)
			}
			return resp
		}
		wantRead := func(what string, resp *http.Response, origin string, want bool) {
			t.Helper()
			got := resp.Header.Get("Access-Control-Allow-Origin")
			if want && got != origin || !want && got != "" {
				t.Errorf("%s: status %d, Access-Control-Allow-Origin %q, want readable by %s: %v", what, resp.StatusCode, got, origin, want)
			}
			if !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
				t.Errorf("%s: Vary %q, want Origin", what, resp.Header.Values("Vary"))
			}
		}

		t.Run("preflights", func(t *testing.T) {
			preflight := func(path, origin, method string) *http.Response {
				return do(http.MethodOptions, path, origin, http.Header{"Access-Control-Request-Method": {method},
					"Access-Control-Request-Headers": {"authorization,content-type"}}, nil)
			}
			for _, tc := range []struct {
				name, path, origin, method string
				want                       bool
			}{
				{"token from the redirect URI's origin", "/oauth2/token", spaOrigin, "POST", true},
				{"token from an allowed CORS origin", "/oauth2/token", cdnOrigin, "POST", true},
				{"token from another client's origin", "/oauth2/token", otherOrigin, "POST", true},
				{"userinfo GET", "/userinfo", spaOrigin, "GET", true},
				{"revoke", "/oauth2/revoke", spaOrigin, "POST", true},
				{"token from an origin no client allows", "/oauth2/token", evilOrigin, "POST", false},
				{"the null origin", "/oauth2/token", "null", "POST", false},
				{"a method the endpoint has not", "/oauth2/token", spaOrigin, "DELETE", false},
				{"same host, other port", "/oauth2/token", spaOrigin + ":8443", "POST", false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					resp := preflight(tc.path, tc.origin, tc.method)
					if resp.StatusCode != http.StatusNoContent {
						t.Fatalf("status %d, want 204", resp.StatusCode)
					}
					wantRead(tc.name, resp, tc.origin, tc.want)
					if tc.want {
						if m := resp.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, tc.method) ||
							!strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "Authorization") || resp.Header.Get("Access-Control-Max-Age") == "" {
							t.Errorf("allow methods %q, headers %q, max age %q", m, resp.Header.Get("Access-Control-Allow-Headers"), resp.Header.Get("Access-Control-Max-Age"))
						}
					}
				})
			}
			for _, path := range []string{"/oauth2/introspect", "/oauth2/par", "/oauth2/authorize", "/oauth2/register"} {
				resp := preflight(path, spaOrigin, "POST")
				if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusOK {
					t.Errorf("preflight of %s: status %d, Access-Control-Allow-Origin %q; want no CORS there", path, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
				}
			}
		})

		t.Run("actual responses follow the client", func(t *testing.T) {
			b := e.browser()
			var accessToken, refreshToken string
			for _, tc := range []struct {
				origin string
				want   bool
			}{
				{otherOrigin, false}, // another client's origin: not this client's
				{evilOrigin, false},
				{cdnOrigin, true},
				{spaOrigin, true},
			} {
				code, verifier := e.codeFor(b, spa, nil)
				resp := do(http.MethodPost, "/oauth2/token", tc.origin, nil, url.Values{"grant_type": {"authorization_code"}, "code": {code},
					"redirect_uri": {spa.RedirectURIs[0]}, "code_verifier": {verifier}, "client_id": {spa.ID}})
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("token from %s: status %d", tc.origin, resp.StatusCode)
				}
				wantRead("token response from "+tc.origin, resp, tc.origin, tc.want)
			}
			status, _, tok := e.postForm("/oauth2/token", func() url.Values {
				code, verifier := e.codeFor(b, spa, nil)
				return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {spa.RedirectURIs[0]},
					"code_verifier": {verifier}, "client_id": {spa.ID}}
			}(), "", "")
			if status != http.StatusOK {
				t.Fatalf("token: %d %v", status, tok)
			}
			accessToken, refreshToken = tok["access_token"].(string), tok["refresh_token"].(string)
			bearer := http.Header{"Authorization": {"Bearer " + accessToken}}

			resp := do(http.MethodGet, "/userinfo", spaOrigin, bearer, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("userinfo: status %d", resp.StatusCode)
			}
			wantRead("userinfo from the client's origin", resp, spaOrigin, true)
			wantRead("userinfo from another client's origin", do(http.MethodGet, "/userinfo", otherOrigin, bearer, nil), otherOrigin, false)
			wantRead("userinfo from an origin no client allows", do(http.MethodGet, "/userinfo", evilOrigin, bearer, nil), evilOrigin, false)
			bad := http.Header{"Authorization": {"Bearer gh_at_nope"}}
			if resp := do(http.MethodGet, "/userinfo", spaOrigin, bad, nil); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("userinfo with a bad token: %d", resp.StatusCode)
			} else {
				wantRead("userinfo error from an allowed origin", resp, spaOrigin, true)
				if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
					t.Errorf("Access-Control-Expose-Headers %q, want WWW-Authenticate", resp.Header.Get("Access-Control-Expose-Headers"))
				}
			}
			wantRead("userinfo error from an origin no client allows", do(http.MethodGet, "/userinfo", evilOrigin, bad, nil), evilOrigin, false)

			form := url.Values{"token": {refreshToken}, "client_id": {spa.ID}}
			wantRead("revoke from another client's origin", do(http.MethodPost, "/oauth2/revoke", otherOrigin, nil, form), otherOrigin, false)
			resp = do(http.MethodPost, "/oauth2/revoke", cdnOrigin, nil, form)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke: %d", resp.StatusCode)
			}
			wantRead("revoke from the client's CORS origin", resp, cdnOrigin, true)

			// Without Origin (not a browser), nothing changes but Vary.
			resp = do(http.MethodGet, "/userinfo", "", bearer, nil)
			wantRead("userinfo without Origin", resp, "", false)
			// Endpoints outside CORS never allow an origin.
			resp = do(http.MethodGet, "/.well-known/openid-configuration", spaOrigin, nil, nil)
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("discovery Access-Control-Allow-Origin = %q, want * (public document)", got)
			}
			resp = do(http.MethodPost, "/oauth2/introspect", spaOrigin, nil, url.Values{"token": {accessToken}})
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
				t.Errorf("introspection Access-Control-Allow-Origin = %q, want none", got)
			}
		})
	})
}
