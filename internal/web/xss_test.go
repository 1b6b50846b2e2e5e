package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// payloads are markup that must come back inert.
func payloads() []string {
	return []string{`<script>alert(1)</script>`, `"><img src=x onerror=alert(1)>`}
}

// wantInert fails when the page carries a payload as markup: a script element,
// an img element or any on* attribute, or the raw text of a payload.
func wantInert(t *testing.T, where string, p *page) {
	t.Helper()
	for _, raw := range append(payloads(), "<script>", "<img src=x") {
		if strings.Contains(p.body, raw) {
			t.Errorf("%s: body contains raw %q", where, raw)
		}
	}
	for _, n := range all(p.doc, func(*html.Node) bool { return true }) {
		if (n.Data == "script" && attr(n, "src") != "/static/gatehouse.js") || (n.Data == "img" && attr(n, "src") == "x") {
			t.Errorf("%s: payload became a <%s> element", where, n.Data)
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(a.Key, "on") {
				t.Errorf("%s: payload became an attribute %s=%q on <%s>", where, a.Key, a.Val, n.Data)
			}
		}
	}
}

func TestMarkupComesBackInert(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true)
	e.user("ada@example.com", "Ada")
	for i, payload := range payloads() {
		t.Run(payload, func(t *testing.T) {
			b := e.browser()
			check := func(where string, p *page) {
				t.Helper()
				if p.status >= 500 {
					t.Errorf("%s: status %d", where, p.status)
				}
				wantInert(t, where, p)
			}
			q := func(k string) string { return url.Values{k: {payload}}.Encode() }
			// Query parameters the pages read.
			check("signin login_hint", b.get("/signin?"+q("login_hint")))
			check("signin continue", b.get("/signin?continue="+url.QueryEscape(e.issuer+"/oauth2/authorize?x="+payload)))
			check("signup login_hint", b.get("/signup?"+q("login_hint")))
			check("signup continue", b.get("/signup?continue="+url.QueryEscape(e.issuer+"/oauth2/authorize?x="+payload)))
			check("reset token", b.get("/reset-password?"+q("token")))
			check("verify token", b.get("/verify-email?"+q("token")))
			check("error parameters", b.get("/oauth2/authorize?client_id="+url.QueryEscape(payload)+"&error="+url.QueryEscape(payload)+"&error_description="+url.QueryEscape(payload)))

			// Form fields echoed back.
			p := b.submit(b.get("/signin"), "sign-in", map[string]string{"email": payload, "password": "x", "continue": e.issuer + "/oauth2/authorize?a=" + payload})
			check("signin email", p)
			if attr(byID(p.doc, "email"), "value") != payload || !strings.Contains(p.body, "&lt;") {
				t.Errorf("sign-in did not keep the e-mail as escaped text")
			}
			p = b.submit(b.get("/signup"), "sign-up", map[string]string{"email": payload, "name": payload, "password": testPassword, "confirm": "mismatch"})
			check("signup fields", p)
			if attr(byID(p.doc, "name"), "value") != payload {
				t.Errorf("sign-up did not keep the name as text")
			}
			check("signup bad email", b.submit(b.get("/signup"), "sign-up", map[string]string{"email": payload, "name": payload, "password": testPassword, "confirm": testPassword}))
			check("forgot email", b.submit(b.get("/forgot-password"), "forgot", map[string]string{"email": payload}))
			tok := attr(byName(b.get("/forgot-password").doc, "csrf_token"), "value")
			check("reset form", b.post("/reset-password", url.Values{"csrf_token": {tok}, "token": {payload}, "password": {testPassword},
				"confirm": {testPassword}, "continue": {e.issuer + "/oauth2/authorize?a=" + payload}}))
			check("forgot continue", b.get("/forgot-password?"+q("email")+"&continue="+url.QueryEscape(e.issuer+"/oauth2/authorize?x="+payload)))
			check("expired form", b.post("/signin", url.Values{"email": {payload}, "continue": {e.issuer + "/oauth2/authorize?a=" + payload}}))

			// Stored values: profile, client name, scope names.
			acct := b.signIn("ada@example.com", testPassword)
			p = b.follow(b.submit(acct, "save-profile", map[string]string{"name": payload, "given_name": payload, "family_name": payload}))
			check("account profile", p)
			if attr(byID(p.doc, "name"), "value") != payload {
				t.Errorf("profile name not kept as text: %q", attr(byID(p.doc, "name"), "value"))
			}
			check("account notice", b.get("/account?"+q("notice")))
			check("account bad picture", b.submit(p, "save-profile", map[string]string{"picture": payload, "locale": payload}))

			scope := strings.ReplaceAll(payload, " ", "/") // scopes cannot hold spaces
			clientID := "xss-" + string(rune('a'+i))
			e.client(clientID, payload, func(c *storage.Client) {
				c.Scopes = append(c.Scopes, scope)
				c.PolicyURI = "javascript:alert(1)"
				c.LogoURI = `https://x.example/"><script>alert(1)</script>`
			})
			authURL, _ := e.authorizeURL(clientID, "openid "+scope)
			consent := b.follow(b.get(authURL))
			if byID(consent.doc, "allow") == nil {
				t.Fatalf("no consent page: %d\n%s", consent.status, consent.body)
			}
			check("consent", consent)
			if !strings.Contains(text(consent.doc), "Use: "+scope) {
				t.Errorf("consent page does not show the unknown scope as text")
			}
			if byID(consent.doc, "policy-link") != nil {
				t.Errorf("javascript: policy link shown")
			}
			callback(t, b.follow(b.submit(consent, "allow", nil)))
			check("account with application", b.get("/account"))
			check("sign-in page naming the client", b.get("/signin?continue="+url.QueryEscape(authURL)))

			// Logout confirmation with the client's name and fields.
			check("logout confirmation", b.get("/oauth2/logout?client_id="+url.QueryEscape(clientID)+"&state="+url.QueryEscape(payload)))
		})
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), false)
	e.user("ada@example.com", "Ada")
	b := e.browser()
	p := b.get("/signin")
	form := url.Values{"csrf_token": {attr(byName(p.doc, "csrf_token"), "value")}, "email": {"ada@example.com"}, "password": {testPassword}}
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if got := b.do(req); got.status != http.StatusForbidden {
		t.Errorf("cross-origin POST with a valid token: %d, want 403", got.status)
	}
	req, _ = http.NewRequest(http.MethodPost, e.issuer+"/signin", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.issuer)
	if got := b.do(req); got.status != http.StatusSeeOther {
		t.Errorf("same-origin POST with a valid token: %d, want 303", got.status)
	}
}
