package server_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestRPInitiatedLogout covers OpenID Connect RP-Initiated Logout 1.0.
func TestRPInitiatedLogout(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		c, secret := e.client(storage.Client{Name: "App", PostLogoutRedirectURIs: storage.StringList{"https://app.example.com/bye"}})
		b := e.browser()
		code, v := e.codeFor(b, c, nil)
		_, tok := e.redeem(c, secret, code, v)
		idToken := tok["id_token"].(string)

		get := func(q url.Values) (*http.Response, string) {
			resp, err := b.Get(e.issuer + "/oauth2/logout?" + q.Encode())
			mustf(t, err, "logout")
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp, string(body)
		}
		// An unregistered post_logout_redirect_uri is refused with a page.
		resp, _ := get(url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://evil.example.com/"}})
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("unregistered post_logout_redirect_uri: status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		// Without id_token_hint the person must confirm.
		resp, body := get(url.Values{"client_id": {c.ID}, "post_logout_redirect_uri": {"https://app.example.com/bye"}})
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, "confirm") {
			t.Fatalf("untrusted logout: %d %q, want a confirmation page", resp.StatusCode, body)
		}
		// A cross-site confirmation post is not taken as consent.
		form := url.Values{"client_id": {c.ID}, "confirm": {"1"}}
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/logout", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "https://evil.example.com")
		resp, err := b.Do(req)
		mustf(t, err, "cross-site confirm")
		body2, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body2), "confirm sign-out") {
			t.Fatalf("cross-site confirmation ended the session: %d %q", resp.StatusCode, body2)
		}
		// With the ID token of the signed-in user: ended at once, redirected with state.
		resp, _ = get(url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://app.example.com/bye"}, "state": {"bye-state"}})
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Host != "app.example.com" || loc.Query().Get("state") != "bye-state" {
			t.Fatalf("trusted logout: %d %v", resp.StatusCode, loc)
		}
		// The session is gone: prompt=none now needs a login.
		_, challenge := pkce()
		_, after := e.authorize(b, e.issuer+"/oauth2/authorize?"+url.Values{"client_id": {c.ID}, "response_type": {"code"}, "redirect_uri": {c.RedirectURIs[0]},
			"scope": {"openid"}, "state": {"after-logout-01"}, "prompt": {"none"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode())
		if after == nil || after.Query().Get("error") != "login_required" {
			t.Fatalf("after logout prompt=none = %v, want login_required", after)
		}
		// A forged id_token_hint is refused.
		if resp, _ := get(url.Values{"id_token_hint": {idToken[:len(idToken)-4] + "AAAA"}}); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("forged id_token_hint: status %d", resp.StatusCode)
		}
	})
}
