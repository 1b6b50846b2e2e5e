package web_test

import (
	"bytes"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// title is the page's <title> text.
func title(p *page) string {
	if t := all(p.doc, func(n *html.Node) bool { return n.Data == "title" }); len(t) == 1 {
		return text(t[0])
	}
	return ""
}

// wantSummary checks the error summary: it is the first thing in <main>
// (before the h1, so first in reading order without script), an alert that
// can take focus, with one link per problem to an input that exists, in
// order, each the field's own message; and the title starts with "Error: ".
func wantSummary(t *testing.T, p *page, fields ...string) {
	t.Helper()
	s := byID(p.doc, "error-summary")
	if s == nil {
		t.Fatalf("%s: no #error-summary:\n%s", p.url.Path, p.body)
	}
	if attr(s, "role") != "alert" || attr(s, "tabindex") != "-1" {
		t.Errorf("%s: summary role=%q tabindex=%q, want alert and -1", p.url.Path, attr(s, "role"), attr(s, "tabindex"))
	}
	if !strings.HasPrefix(title(p), "Error: ") {
		t.Errorf("%s: title %q, want it to start with \"Error: \"", p.url.Path, title(p))
	}
	var targets []string
	for _, a := range all(s, func(n *html.Node) bool { return n.Data == "a" }) {
		id := strings.TrimPrefix(attr(a, "href"), "#")
		targets = append(targets, id)
		in := byID(p.doc, id)
		if in == nil || in.Data != "input" {
			t.Errorf("%s: summary links to #%s, which is no input", p.url.Path, id)
			continue
		}
		if msg := byID(p.doc, id+"-error"); msg != nil && !strings.HasSuffix(text(msg), text(a)) {
			t.Errorf("%s: summary says %q, the field %q", p.url.Path, text(a), text(msg))
		}
	}
	if !slices.Equal(targets, fields) {
		t.Errorf("%s: summary links to %q, want %q", p.url.Path, targets, fields)
	}
}

// beforeH1 reports whether n comes before the page's h1.
func beforeH1(p *page, n *html.Node) bool {
	for _, el := range all(p.doc, func(x *html.Node) bool { return x == n || x.Data == "h1" }) {
		return el == n
	}
	return false
}

// TestSignUpReportsEveryProblem: a bad e-mail, a short password and a
// mismatched confirmation are all reported at once, in a summary at the top;
// a password that passed its checks stays filled, a refused one never.
func TestSignUpReportsEveryProblem(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), false)
	b := e.browser()
	p := b.submit(b.get("/signup"), "sign-up", map[string]string{"email": "not-an-address", "name": "Grace", "password": "short", "confirm": "shorter"})
	if p.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", p.status)
	}
	checkPage(t, p)
	wantSummary(t, p, "email", "password", "confirm")
	if !beforeH1(p, byID(p.doc, "error-summary")) {
		t.Errorf("the summary is not before the h1")
	}
	if title(p) != "Error: Create your account · Gatehouse" {
		t.Errorf("title %q", title(p))
	}
	for _, id := range []string{"email", "password", "confirm"} {
		in := byID(p.doc, id)
		if attr(in, "aria-invalid") != "true" || !strings.Contains(attr(in, "aria-describedby"), id+"-error") {
			t.Errorf("#%s: aria-invalid=%q aria-describedby=%q", id, attr(in, "aria-invalid"), attr(in, "aria-describedby"))
		}
	}
	if got := attr(byID(p.doc, "email"), "value") + "|" + attr(byID(p.doc, "name"), "value"); got != "not-an-address|Grace" {
		t.Errorf("e-mail and name not kept: %q", got)
	}
	if attr(byID(p.doc, "password"), "value") != "" || attr(byID(p.doc, "confirm"), "value") != "" {
		t.Errorf("a refused password came back")
	}

	// Only the e-mail is wrong: the good password and its confirmation stay.
	p = b.submit(b.get("/signup"), "sign-up", map[string]string{"email": "bad@", "password": testPassword, "confirm": testPassword})
	wantSummary(t, p, "email")
	if attr(byID(p.doc, "password"), "value") != testPassword || attr(byID(p.doc, "confirm"), "value") != testPassword {
		t.Errorf("a password that passed its checks was wiped")
	}
	if got := b.submit(p, "sign-up", map[string]string{"email": "grace@example.com"}); got.status != http.StatusOK || byID(got.doc, "signup-sent") == nil {
		t.Errorf("resubmitting with the kept password: %d\n%s", got.status, got.body)
	}

	// A good password with a mismatched confirmation: the password stays, the
	// confirmation is typed again.
	p = b.submit(b.get("/signup"), "sign-up", map[string]string{"email": "lin@example.com", "password": testPassword, "confirm": testPassword + "!"})
	wantSummary(t, p, "confirm")
	if attr(byID(p.doc, "password"), "value") != testPassword || attr(byID(p.doc, "confirm"), "value") != "" {
		t.Errorf("mismatch: password %q, confirm %q", attr(byID(p.doc, "password"), "value"), attr(byID(p.doc, "confirm"), "value"))
	}
	// Everything empty: each field says what to do.
	p = b.submit(b.get("/signup"), "sign-up", nil)
	wantSummary(t, p, "email", "password")
	if got := text(byID(p.doc, "email-error")); !strings.Contains(got, "Enter your e-mail address.") {
		t.Errorf("empty e-mail: %q", got)
	}
}

// TestErrorsAreAnnounced: sign-in, forgot, reset and the account forms put
// their problems in a summary at the top (the account page at the top of the
// failing section, which its form's action opens at), with "Error: " in the
// title.
func TestErrorsAreAnnounced(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), false)
	e.user("ada@example.com", "Ada")
	b := e.browser()

	p := b.submit(b.get("/signin"), "sign-in", map[string]string{"email": "ada@example.com", "password": "wrong password"})
	wantSummary(t, p, "email")
	if text(byID(p.doc, "form-error")) != "E-mail or password is incorrect." || !beforeH1(p, byID(p.doc, "error-summary")) {
		t.Errorf("sign-in summary: %q", text(byID(p.doc, "error-summary")))
	}
	p = b.submit(b.get("/signin"), "sign-in", nil)
	wantSummary(t, p, "email", "password")

	p = b.submit(b.get("/forgot-password"), "forgot", map[string]string{"email": "not an address"})
	if p.status != http.StatusBadRequest {
		t.Errorf("forgot with a bad address: %d", p.status)
	}
	wantSummary(t, p, "email")
	checkPage(t, p)

	if err := e.ids.RequestPasswordReset(t.Context(), "ada@example.com", ""); err != nil {
		t.Fatal(err)
	}
	reset := b.get(e.mail.link(t, "ada@example.com", "/reset-password"))
	p = b.submit(reset, "reset", map[string]string{"password": "short", "confirm": "other"})
	wantSummary(t, p, "password", "confirm")
	checkPage(t, p)

	// The account page: a failed password change shows at the password
	// section, which the form's action opens.
	acct := b.signIn("ada@example.com", testPassword)
	form := ancestor(byID(acct.doc, "change-password"), "form")
	if attr(form, "action") != "/account/password#password-section" {
		t.Errorf("password form posts to %q, want the section's fragment", attr(form, "action"))
	}
	p = b.submit(acct, "change-password", map[string]string{"current-password": "not it at all", "new-password": "a brand new secret", "confirm-password": "a brand new secret"})
	if p.status != http.StatusUnauthorized {
		t.Fatalf("wrong current password: %d", p.status)
	}
	wantSummary(t, p, "current-password")
	checkPage(t, p)
	if s := ancestor(byID(p.doc, "error-summary"), "section"); s == nil || attr(s, "id") != "password-section" {
		t.Errorf("the summary is not in the password section")
	}
	if attr(byID(p.doc, "new-password"), "value") != "a brand new secret" || attr(byID(p.doc, "current-password"), "value") != "" {
		t.Errorf("kept: current %q, new %q; want only the new one", attr(byID(p.doc, "current-password"), "value"), attr(byID(p.doc, "new-password"), "value"))
	}
	p = b.submit(acct, "change-password", map[string]string{"new-password": "short", "confirm-password": "shirt"})
	wantSummary(t, p, "current-password", "new-password", "confirm-password")
	p = b.submit(acct, "save-profile", map[string]string{"picture": "ftp://example.com/me.png"})
	wantSummary(t, p, "picture")
	if s := ancestor(byID(p.doc, "error-summary"), "section"); s == nil || attr(s, "id") != "profile-section" {
		t.Errorf("the profile summary is not in the profile section")
	}
	// Success opens the section too, with the notice there.
	ok := b.submit(acct, "save-profile", map[string]string{"name": "Ada K"})
	if ok.location() != "/account?notice=profile-saved#profile-section" {
		t.Errorf("profile saved: Location %q", ok.location())
	}
	if n := byID(b.follow(ok).doc, "notice"); n == nil || attr(ancestor(n, "section"), "id") != "profile-section" || attr(n, "tabindex") != "-1" {
		t.Errorf("the notice is not in the profile section")
	}
	// A page without problems says nothing of errors.
	if p := b.get("/account"); byID(p.doc, "error-summary") != nil || strings.HasPrefix(title(p), "Error") {
		t.Errorf("clean account page has a summary or an error title")
	}
}

// TestPasswordFields: each password field carries its show-password button,
// hidden until the page's script shows it; the reset and change forms carry
// the account's address in a hidden username field; sign-up's e-mail is the
// username.
func TestPasswordFields(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), false)
	e.user("ada@example.com", "Ada")
	b := e.browser()
	wantToggles := func(p *page, ids ...string) {
		t.Helper()
		for _, id := range ids {
			btn := byID(p.doc, id+"-toggle")
			if btn == nil || btn.Data != "button" || attr(btn, "type") != "button" || attr(btn, "aria-controls") != id ||
				attr(btn, "aria-pressed") != "false" || !hasAttr(btn, "hidden") || text(btn) != "Show" ||
				attr(btn, "aria-labelledby") != id+"-toggle "+id+"-label" || byID(p.doc, id+"-label") == nil {
				t.Errorf("%s: #%s has no proper toggle", p.url.Path, id)
			}
		}
	}
	wantUsername := func(p *page, email, passwordID string) {
		t.Helper()
		u := byID(p.doc, "username")
		if u == nil || attr(u, "autocomplete") != "username" || attr(u, "value") != email || ancestor(u, "form") == nil {
			t.Fatalf("%s: no hidden username field for %s", p.url.Path, email)
		}
		if ancestor(u, "div") == nil || !hasAttr(ancestor(u, "div"), "hidden") {
			t.Errorf("%s: the username field is shown", p.url.Path)
		}
		if ancestor(u, "form") != ancestor(byID(p.doc, passwordID), "form") {
			t.Errorf("%s: the username field is not in the password's form", p.url.Path)
		}
	}
	signup := b.get("/signup")
	wantToggles(signup, "password", "confirm")
	if got := attr(byID(signup.doc, "email"), "autocomplete"); got != "username" {
		t.Errorf("sign-up e-mail autocomplete=%q, want username", got)
	}
	wantToggles(b.get("/signin"), "password")

	if err := e.ids.RequestPasswordReset(t.Context(), "ada@example.com", ""); err != nil {
		t.Fatal(err)
	}
	reset := b.get(e.mail.link(t, "ada@example.com", "/reset-password"))
	wantToggles(reset, "password", "confirm")
	wantUsername(reset, "ada@example.com", "password")
	acct := b.signIn("ada@example.com", testPassword)
	wantToggles(acct, "current-password", "new-password", "confirm-password")
	wantUsername(acct, "ada@example.com", "new-password")

	// The script that shows them is ours, from /static, allowed by the policy.
	js := b.get("/static/gatehouse.js")
	if js.status != 200 || !strings.Contains(js.header.Get("Content-Type"), "javascript") || !strings.Contains(js.body, "aria-pressed") {
		t.Errorf("script: %d %q", js.status, js.header.Get("Content-Type"))
	}
	if csp := acct.header.Get("Content-Security-Policy"); strings.Contains(csp, "script-src") || !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("CSP %q: want scripts from this origin only", csp)
	}
}

// TestResetLinkCheckedOnGET: a used or superseded link says so when opened,
// with no form to fill in, and offers a new one.
func TestResetLinkCheckedOnGET(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, false)
		e.user("ada@example.com", "Ada")
		b := e.browser()
		ask := func() string {
			if err := e.ids.RequestPasswordReset(t.Context(), "ada@example.com", ""); err != nil {
				t.Fatal(err)
			}
			return e.mail.link(t, "ada@example.com", "/reset-password")
		}
		first := ask()
		second := ask()
		dead := func(what, link string) {
			t.Helper()
			p := b.get(link)
			if p.status != http.StatusBadRequest || byID(p.doc, "reset") != nil || byID(p.doc, "password") != nil ||
				!strings.Contains(text(p.doc), "does not work") || byID(p.doc, "forgot-link") == nil {
				t.Errorf("%s: %d, want 400 saying the link does not work, without a form:\n%s", what, p.status, p.body)
			}
			if title(p) != "Error: This link does not work · Gatehouse" {
				t.Errorf("%s: title %q", what, title(p))
			}
			checkPage(t, p)
		}
		dead("superseded link", first)
		live := b.get(second)
		if live.status != 200 || byID(live.doc, "reset") == nil {
			t.Fatalf("live link: %d", live.status)
		}
		if b.get(second).status != 200 {
			t.Errorf("opening the link twice spent it")
		}
		done := b.submit(live, "reset", map[string]string{"password": "a new passphrase", "confirm": "a new passphrase"})
		if done.status != 200 || !strings.Contains(text(done.doc), "Your password is changed") {
			t.Fatalf("reset: %d", done.status)
		}
		dead("used link", second)

		// A disabled account's link says so.
		third := ask()
		u, _ := e.userByEmail("ada@example.com")
		if _, err := e.ids.SetDisabled(t.Context(), u.ID, true); err != nil {
			t.Fatal(err)
		}
		if p := b.get(third); p.status != http.StatusForbidden || byID(p.doc, "reset") != nil || !strings.Contains(text(p.doc), "disabled") {
			t.Errorf("disabled account's link: %d\n%s", p.status, p.body)
		}
	})
}

// TestNotFoundAndFavicon: a browser that asks for an unknown page gets the
// HTML error page; programs, and every path under the protocol and API
// prefixes, get JSON; /favicon.ico is an icon.
func TestNotFoundAndFavicon(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true)
	b := e.browser()
	get := func(path, accept string) *page {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, e.issuer+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		return b.do(req)
	}
	const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	p := get("/no/such/page", browserAccept)
	if p.status != http.StatusNotFound || !strings.Contains(text(p.doc), "Page not found") {
		t.Fatalf("browser 404: %d %s", p.status, p.header.Get("Content-Type"))
	}
	checkPage(t, p)
	wantIDs(t, p, "request-id", "home-link")
	for _, tc := range []struct{ path, accept string }{
		{"/no/such/page", ""},
		{"/no/such/page", "application/json"},
		{"/no/such/page", "*/*"},
		{"/oauth2/nope", browserAccept},
		{"/api/auth/nope", browserAccept},
		{"/admin/nope", browserAccept},
		{"/.well-known/nope", browserAccept},
	} {
		p := get(tc.path, tc.accept)
		if p.status != http.StatusNotFound || !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") || !strings.Contains(p.body, `"not_found"`) {
			t.Errorf("GET %s (Accept %q): %d %s, want JSON 404", tc.path, tc.accept, p.status, p.header.Get("Content-Type"))
		}
	}
	// A page route asked with a method it does not take.
	if p := get("/signout", browserAccept); p.status != http.StatusMethodNotAllowed || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Errorf("browser GET /signout: %d %s, want the HTML error page", p.status, p.header.Get("Content-Type"))
	}
	if p := get("/oauth2/token", browserAccept); p.status != http.StatusMethodNotAllowed || !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") {
		t.Errorf("GET /oauth2/token: %d %s, want JSON", p.status, p.header.Get("Content-Type"))
	}

	icon := get("/favicon.ico", "image/avif,image/webp,*/*")
	if icon.status != 200 || icon.header.Get("Content-Type") != "image/x-icon" || !bytes.HasPrefix([]byte(icon.body), []byte{0, 0, 1, 0}) {
		t.Errorf("favicon: %d %q % x", icon.status, icon.header.Get("Content-Type"), []byte(icon.body)[:min(4, len(icon.body))])
	}
}

// TestReauthenticationSignIn: asked to confirm who they are (prompt=login,
// max_age, or an id_token_hint naming someone else), the person sees their
// address fixed, no sign-up, and "Not you? Use another account", which signs
// out and restarts the authorization's sign-in.
func TestReauthenticationSignIn(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true)
	e.user("ada@example.com", "Ada")
	e.user("bob@example.com", "Bob")
	e.client("app", "Example App", func(c *storage.Client) { c.FirstParty = true })
	b := e.browser()
	b.signIn("ada@example.com", testPassword)

	wantReauth := func(p *page, email string) {
		t.Helper()
		in := byID(p.doc, "email")
		if in == nil || attr(in, "value") != email || !hasAttr(in, "readonly") {
			t.Fatalf("re-authentication page: %d, e-mail %q readonly=%v, want %s fixed\n%s", p.status, attr(in, "value"), hasAttr(in, "readonly"), email, p.body)
		}
		if byID(p.doc, "sign-up-link") != nil || byID(p.doc, "use-another-account") == nil || byID(p.doc, "reauth-note") == nil {
			t.Errorf("re-authentication offers sign-up, or no other account")
		}
		checkPage(t, p)
	}
	authURL, _ := e.authorizeURL("app", "openid")
	for _, extra := range []string{"&prompt=login", "&max_age=0"} {
		p := b.follow(b.get(authURL + extra))
		if p.status != 200 {
			t.Fatalf("authorize%s: %d", extra, p.status)
		}
		wantReauth(p, "ada@example.com")
		// A wrong password keeps the page as it was.
		wrong := b.submit(p, "sign-in", map[string]string{"password": "not the password"})
		if wrong.status != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d", wrong.status)
		}
		wantReauth(wrong, "ada@example.com")
		if extra == "&max_age=0" {
			// Confirming continues the authorization.
			if q := callback(t, b.follow(b.submit(wrong, "sign-in", map[string]string{"password": testPassword}))); q.Get("code") == "" {
				t.Errorf("no code after re-authentication: %v", q)
			}
		}
	}

	// Not you: signed out, and the authorization asks whoever is there.
	p := b.follow(b.get(authURL + "&prompt=login"))
	out := b.submit(p, "use-another-account", nil)
	cont := attr(byName(p.doc, "continue"), "value")
	if out.status != http.StatusSeeOther || out.location() != cont {
		t.Fatalf("use another account: %d %q, want back to %q", out.status, out.location(), cont)
	}
	if b.cookie("gatehouse_session") != nil {
		t.Errorf("still signed in after \"use another account\"")
	}
	fresh := b.follow(out)
	in := byID(fresh.doc, "email")
	if fresh.url.Path != "/signin" || hasAttr(in, "readonly") || attr(in, "value") != "" || byID(fresh.doc, "sign-up-link") == nil {
		t.Fatalf("after \"use another account\": %s, readonly=%v value=%q", fresh.url, hasAttr(in, "readonly"), attr(in, "value"))
	}
	if q := callback(t, b.follow(b.submit(fresh, "sign-in", map[string]string{"email": "bob@example.com", "password": testPassword}))); q.Get("code") == "" {
		t.Errorf("no code for the other account: %v", q)
	}

	// An id_token_hint for Ada while Bob is signed in: Ada is asked for.
	adaBrowser := e.browser()
	adaBrowser.signIn("ada@example.com", testPassword)
	hintURL, verifier := e.authorizeURL("app", "openid")
	q := callback(t, adaBrowser.follow(adaBrowser.get(hintURL)))
	status, tokens := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {"https://app.example.com/callback"}, "client_id": {"app"}, "code_verifier": {verifier}})
	idToken, _ := tokens["id_token"].(string)
	if status != 200 || idToken == "" {
		t.Fatalf("token: %d %v", status, tokens)
	}
	bob := e.browser()
	bob.signIn("bob@example.com", testPassword)
	authURL, _ = e.authorizeURL("app", "openid")
	wantReauth(bob.follow(bob.get(authURL+"&id_token_hint="+url.QueryEscape(idToken))), "ada@example.com")
}

// TestConsentNamesTheClient: a client without a name is named by its home
// page's host, else its redirect URI's, never by its id; "Not you?" signs out
// and goes back to the authorization.
func TestConsentNamesTheClient(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true)
	e.user("ada@example.com", "Ada")
	e.client("9b1c0a52-31f4-4d8e-9a66-0d0f3c1e2b7a", "", func(c *storage.Client) { c.ClientURI = "https://Notes.Example.org/home" })
	e.client("4f3e2d1c-0b9a-4876-8543-210fedcba987", "")
	b := e.browser()
	for id, want := range map[string]string{
		"9b1c0a52-31f4-4d8e-9a66-0d0f3c1e2b7a": "notes.example.org",
		"4f3e2d1c-0b9a-4876-8543-210fedcba987": "app.example.com",
	} {
		consent, _ := startAuthorization(t, e, b, id, "openid")
		if h1 := text(all(consent.doc, func(n *html.Node) bool { return n.Data == "h1" })[0]); h1 != want+" wants to:" {
			t.Errorf("consent h1 %q, want %q", h1, want+" wants to:")
		}
		if strings.Contains(text(consent.doc), id) {
			t.Errorf("the consent page shows the client id %s", id)
		}
		if !strings.Contains(title(consent), want) {
			t.Errorf("consent title %q", title(consent))
		}
		// Not you: signed out, back to the authorization, which asks to sign in.
		out := b.submit(consent, "use-another-account", nil)
		if out.status != http.StatusSeeOther || out.location() != attr(byName(consent.doc, "continue"), "value") {
			t.Fatalf("not you: %d %q", out.status, out.location())
		}
		if p := b.follow(out); p.url.Path != "/signin" || byID(p.doc, "sign-in") == nil {
			t.Errorf("after \"not you\": %s", p.url)
		}
	}
	// The account page names connected applications the same way.
	consent, _ := startAuthorization(t, e, b, "9b1c0a52-31f4-4d8e-9a66-0d0f3c1e2b7a", "openid")
	callback(t, b.follow(b.submit(consent, "allow", nil)))
	acct := b.get("/account")
	if got := text(byID(acct.doc, "app-9b1c0a52-31f4-4d8e-9a66-0d0f3c1e2b7a")); got != "notes.example.org" {
		t.Errorf("account lists the application as %q", got)
	}
}

// TestDetoursKeepTheAuthorization: forgot password, the reset link, e-mail
// verification elsewhere and an expired form all lead back into the pending
// authorization; error pages and the sign-out confirmation lead back to the
// application's home page.
func TestDetoursKeepTheAuthorization(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true)
	e.user("ada@example.com", "Ada")
	e.client("app", "Example App", func(c *storage.Client) { c.ClientURI = "https://app.example.com/"; c.FirstParty = true })
	b := e.browser()
	authURL, _ := e.authorizeURL("app", "openid")
	signin := b.follow(b.get(authURL))
	cont := attr(byName(signin.doc, "continue"), "value")
	if !strings.HasPrefix(cont, e.issuer+"/oauth2/authorize?") {
		t.Fatalf("sign-in page carries continue %q", cont)
	}

	// A failed sign-in keeps the address; the forgot link takes it along.
	failed := b.submit(signin, "sign-in", map[string]string{"email": "ada@example.com", "password": "not it"})
	forgotURL, _ := url.Parse(attr(byID(failed.doc, "forgot-link"), "href"))
	if forgotURL.Path != "/forgot-password" || forgotURL.Query().Get("email") != "ada@example.com" || forgotURL.Query().Get("continue") != cont {
		t.Fatalf("forgot link %q: want the address and the authorization", forgotURL)
	}
	forgot := b.click(failed, "forgot-link")
	if attr(byID(forgot.doc, "email"), "value") != "ada@example.com" || attr(byName(forgot.doc, "continue"), "value") != cont {
		t.Fatalf("forgot page does not keep the address and the authorization")
	}
	back, _ := url.Parse(attr(byID(forgot.doc, "back-to-sign-in"), "href"))
	if back.Query().Get("continue") != cont {
		t.Errorf("back to sign in %q loses the authorization", back)
	}
	if p := b.submit(forgot, "forgot", nil); byID(p.doc, "forgot-sent") == nil {
		t.Fatalf("forgot: %d", p.status)
	}
	link := e.mail.link(t, "ada@example.com", "/reset-password")
	if got := mustQuery(t, link, "continue"); got != cont {
		t.Fatalf("the reset link carries continue %q, want %q", got, cont)
	}
	// The reset link opened in another browser (a phone): the way back to the
	// application still works from there.
	phone := e.browser()
	reset := phone.get(link)
	if attr(byName(reset.doc, "continue"), "value") != cont {
		t.Fatalf("reset page does not carry the authorization")
	}
	done := phone.submit(reset, "reset", map[string]string{"password": "a new passphrase", "confirm": "a new passphrase"})
	if done.status != 200 || !strings.Contains(text(done.doc), "Example App") {
		t.Fatalf("reset done: %d %s", done.status, text(done.doc))
	}
	next := phone.click(done, "sign-in-link")
	if attr(byID(next.doc, "email"), "value") != "ada@example.com" || attr(byName(next.doc, "continue"), "value") != cont {
		t.Fatalf("sign-in after reset does not carry the address and the authorization")
	}
	if q := callback(t, phone.follow(phone.submit(next, "sign-in", map[string]string{"password": "a new passphrase"}))); q.Get("code") == "" || q.Get("state") != "state-1234567890" {
		t.Errorf("the reset did not end back in the application: %v", q)
	}

	// An expired form: "Try again" goes back to the form with the
	// authorization and the address; "Back to Example App" to its home.
	expired := b.post("/signin", url.Values{"email": {"ada@example.com"}, "password": {"x"}, "continue": {cont}})
	if expired.status != http.StatusForbidden {
		t.Fatalf("post without a CSRF token: %d", expired.status)
	}
	retry, _ := url.Parse(attr(byID(expired.doc, "retry-link"), "href"))
	if retry.Path != "/signin" || retry.Query().Get("continue") != cont || retry.Query().Get("login_hint") != "ada@example.com" {
		t.Errorf("retry link %q", retry)
	}
	if bl := byID(expired.doc, "back-link"); bl == nil || attr(bl, "href") != "https://app.example.com/" || text(bl) != "Back to Example App" {
		t.Errorf("expired form has no way back to the application:\n%s", expired.body)
	}
	again := b.click(expired, "retry-link")
	if q := callback(t, b.follow(b.submit(again, "sign-in", map[string]string{"password": "a new passphrase"}))); q.Get("code") == "" {
		t.Errorf("retrying the expired form did not end in the application: %v", q)
	}
	expiredConsent := b.post("/consent", url.Values{"continue": {cont}, "action": {"allow"}})
	if attr(byID(expiredConsent.doc, "retry-link"), "href") != cont {
		t.Errorf("expired consent retries %q, want the authorization", attr(byID(expiredConsent.doc, "retry-link"), "href"))
	}
	if p := b.post("/account/profile", url.Values{"name": {"x"}}); attr(byID(p.doc, "retry-link"), "href") != "/account" || byID(p.doc, "back-link") != nil {
		t.Errorf("expired account form: retry %q", attr(byID(p.doc, "retry-link"), "href"))
	}

	// The protocol's error page for a known client offers its home page; for
	// an unknown one, the account page.
	bad := b.get(strings.Replace(authURL, url.QueryEscape("https://app.example.com/callback"), url.QueryEscape("https://evil.example/cb"), 1))
	if bad.status != http.StatusBadRequest || attr(byID(bad.doc, "back-link"), "href") != "https://app.example.com/" {
		t.Errorf("unregistered redirect_uri: %d, back link %q", bad.status, attr(byID(bad.doc, "back-link"), "href"))
	}
	checkPage(t, bad)
	if p := b.get("/oauth2/authorize?client_id=ghost&response_type=code"); byID(p.doc, "back-link") != nil || byID(p.doc, "home-link") == nil {
		t.Errorf("unknown client's error page: %s", text(p.doc))
	}

	// The sign-out confirmation: staying signed in goes back to the app.
	confirm := b.get("/oauth2/logout?client_id=app")
	if attr(byID(confirm.doc, "stay-signed-in"), "href") != "https://app.example.com/" {
		t.Errorf("stay signed in leads to %q", attr(byID(confirm.doc, "stay-signed-in"), "href"))
	}
	if p := b.get("/oauth2/logout"); attr(byID(p.doc, "stay-signed-in"), "href") != "/account" {
		t.Errorf("without a client, stay signed in leads to %q", attr(byID(p.doc, "stay-signed-in"), "href"))
	}
}

// TestVerifyElsewhereKeepsTheAuthorization: a verification link opened in
// another browser offers to sign in, back to the authorization it was for.
func TestVerifyElsewhereKeepsTheAuthorization(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true)
	e.client("app", "Example App", func(c *storage.Client) { c.FirstParty = true })
	b := e.browser()
	authURL, _ := e.authorizeURL("app", "openid")
	signup := b.click(b.follow(b.get(authURL)), "sign-up-link")
	cont := attr(byName(signup.doc, "continue"), "value")
	if !strings.HasPrefix(cont, e.issuer+"/oauth2/authorize?") {
		t.Fatalf("sign-up does not carry the authorization: %q", cont)
	}
	b.signUp(signup, "lin@example.com", testPassword)
	phone := e.browser()
	v := phone.get(e.mail.link(t, "lin@example.com", "/verify-email"))
	next, _ := url.Parse(attr(byID(v.doc, "to-sign-in"), "href"))
	if next.Path != "/signin" || next.Query().Get("continue") != cont || next.Query().Get("login_hint") != "lin@example.com" {
		t.Fatalf("verified elsewhere: sign-in link %q", next)
	}
	if !strings.Contains(text(v.doc), "Example App") {
		t.Errorf("the page does not name the application")
	}
	p := phone.click(v, "to-sign-in")
	if q := callback(t, phone.follow(phone.submit(p, "sign-in", map[string]string{"password": testPassword}))); q.Get("code") == "" {
		t.Errorf("sign-in after verifying elsewhere did not end in the application: %v", q)
	}
}

// TestAccountSessionsAndSignOut: "Sign out" comes before the sections; every
// other session can be signed out on its own, through its own form; the
// picture hint says what the profile rules accept.
func TestAccountSessionsAndSignOut(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, false)
		e.user("ada@example.com", "Ada")
		e.user("bob@example.com", "Bob")
		b, other, third := e.browser(), e.browser(), e.browser()
		other.signIn("ada@example.com", testPassword)
		third.signIn("ada@example.com", testPassword)
		bob := e.browser()
		bob.signIn("bob@example.com", testPassword)
		p := b.signIn("ada@example.com", testPassword)

		first := all(p.doc, func(n *html.Node) bool { return n.Data == "section" || attr(n, "id") == "sign-out" })
		if len(first) == 0 || attr(first[0], "id") != "sign-out" {
			t.Errorf("sign-out is not above the sections")
		}
		ends := all(p.doc, func(n *html.Node) bool { return strings.HasPrefix(attr(n, "id"), "end-session-") })
		if len(ends) != 2 {
			t.Fatalf("%d per-session sign-out buttons, want 2 (not this browser's)", len(ends))
		}
		out := b.submit(p, attr(ends[0], "id"), nil)
		if out.status != http.StatusSeeOther || out.location() != "/account?notice=session-ended#sessions-section" {
			t.Fatalf("sign out a device: %d %q", out.status, out.location())
		}
		signedIn := 0
		for _, br := range []*browser{other, third} {
			if br.get("/account").status == http.StatusOK {
				signedIn++
			}
		}
		if signedIn != 1 || b.get("/account").status != 200 || bob.get("/account").status != 200 {
			t.Errorf("after signing one device out: %d of the two others still in", signedIn)
		}
		after := b.follow(out)
		if n := byID(after.doc, "notice"); n == nil || attr(ancestor(n, "section"), "id") != "sessions-section" {
			t.Errorf("no notice in the sessions section")
		}
		if n := len(all(after.doc, func(n *html.Node) bool { return strings.HasPrefix(attr(n, "id"), "end-session-") })); n != 1 {
			t.Errorf("%d devices listed to sign out, want 1", n)
		}
		// Another user's session cannot be ended from here.
		bobSessions, _ := store.ListUserSessions(t.Context(), mustUser(t, e, "bob@example.com").ID, time.Now())
		tok := attr(byName(after.doc, "csrf_token"), "value")
		b.post("/account/sessions/sign-out", url.Values{"csrf_token": {tok}, "session_id": {bobSessions[0].ID}})
		if bob.get("/account").status != 200 {
			t.Errorf("Ada signed Bob's browser out")
		}

		// The picture hint says what the profile rules accept (an https
		// address, nothing about its shape), and they accept just that.
		hint := text(byID(after.doc, "picture-hint"))
		if !strings.Contains(hint, "https://") || strings.Contains(hint, "square") {
			t.Errorf("picture hint %q", hint)
		}
		if got := b.submit(after, "save-profile", map[string]string{"picture": "https://example.com/ada.png"}); got.status != http.StatusSeeOther {
			t.Errorf("an https picture refused: %d", got.status)
		}
		for _, pic := range []string{"http://example.com/ada.png", "ftp://example.com/ada.png"} {
			refused := b.submit(after, "save-profile", map[string]string{"picture": pic})
			if msg := text(byID(refused.doc, "picture-error")); refused.status != http.StatusBadRequest || !strings.Contains(msg, "https://") {
				t.Errorf("picture %s: %d %q, want refused, saying https://", pic, refused.status, msg)
			}
		}
	})
}

func mustUser(t *testing.T, e *env, email string) storage.User {
	t.Helper()
	u, err := e.userByEmail(email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
