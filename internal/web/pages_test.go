package web_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// checkPage checks what every page promises: one h1, a lang attribute, the
// stylesheet and then the branding's stylesheet from this origin, the colour
// schemes it supports, no script or inline style, a label for every
// input, unique ids, an id on every input and button, and aria-describedby
// pointing at elements that exist.
func checkPage(t *testing.T, p *page) {
	t.Helper()
	if got := p.header.Get("Content-Type"); got != "text/html; charset=utf-8" {
		t.Errorf("%s: Content-Type = %q", p.url.Path, got)
	}
	if h1 := all(p.doc, func(n *html.Node) bool { return n.Data == "h1" }); len(h1) != 1 {
		t.Errorf("%s: %d <h1>, want 1", p.url.Path, len(h1))
	}
	if htmlEl := all(p.doc, func(n *html.Node) bool { return n.Data == "html" }); len(htmlEl) != 1 || attr(htmlEl[0], "lang") == "" {
		t.Errorf("%s: <html> has no lang", p.url.Path)
	}
	if css := all(p.doc, func(n *html.Node) bool { return n.Data == "link" && attr(n, "rel") == "stylesheet" }); len(css) != 2 ||
		attr(css[0], "href") != "/static/gatehouse.css" || !strings.HasPrefix(attr(css[1], "href"), "/static/branding.css?v=") {
		t.Errorf("%s: want the stylesheets /static/gatehouse.css and /static/branding.css?v=…", p.url.Path)
	}
	if meta := all(p.doc, func(n *html.Node) bool { return n.Data == "meta" && attr(n, "name") == "color-scheme" }); len(meta) != 1 || attr(meta[0], "content") != "light dark" {
		t.Errorf("%s: want <meta name=color-scheme content=\"light dark\">", p.url.Path)
	}
	if bad := all(p.doc, func(n *html.Node) bool { return n.Data == "style" || hasAttr(n, "style") }); len(bad) > 0 {
		t.Errorf("%s: has <style> or style= (CSP forbids inline)", p.url.Path)
	}
	// One script, the pages' own, from this origin; nothing inline.
	if js := all(p.doc, func(n *html.Node) bool { return n.Data == "script" }); len(js) != 1 ||
		attr(js[0], "src") != "/static/gatehouse.js" || !hasAttr(js[0], "defer") || js[0].FirstChild != nil {
		t.Errorf("%s: want one <script src=/static/gatehouse.js defer>, no inline script", p.url.Path)
	}
	ids := map[string]bool{}
	for _, n := range all(p.doc, func(n *html.Node) bool { return hasAttr(n, "id") }) {
		id := attr(n, "id")
		if ids[id] {
			t.Errorf("%s: id %q used twice", p.url.Path, id)
		}
		ids[id] = true
	}
	labels := map[string]bool{}
	for _, l := range all(p.doc, func(n *html.Node) bool { return n.Data == "label" }) {
		labels[attr(l, "for")] = true
	}
	for _, in := range all(p.doc, func(n *html.Node) bool { return n.Data == "input" || n.Data == "select" || n.Data == "textarea" }) {
		if attr(in, "type") == "hidden" {
			continue
		}
		id := attr(in, "id")
		if id == "" {
			t.Errorf("%s: input %q has no id", p.url.Path, attr(in, "name"))
			continue
		}
		if !labels[id] {
			t.Errorf("%s: input #%s has no <label for>", p.url.Path, id)
		}
	}
	for _, b := range all(p.doc, func(n *html.Node) bool { return n.Data == "button" }) {
		if attr(b, "id") == "" {
			t.Errorf("%s: button %q has no id", p.url.Path, text(b))
		}
	}
	for _, n := range all(p.doc, func(n *html.Node) bool { return hasAttr(n, "aria-describedby") }) {
		for _, ref := range strings.Fields(attr(n, "aria-describedby")) {
			if !ids[ref] {
				t.Errorf("%s: #%s is described by missing #%s", p.url.Path, attr(n, "id"), ref)
			}
		}
	}
	// Every form that posts here carries the CSRF field, except the logout
	// confirmation, which the protocol layer checks by origin.
	for _, f := range all(p.doc, func(n *html.Node) bool { return n.Data == "form" }) {
		if strings.Contains(attr(f, "action"), "/oauth2/logout") {
			continue
		}
		if tok := byName(f, "csrf_token"); tok == nil || attr(tok, "value") == "" {
			t.Errorf("%s: form to %s has no CSRF token", p.url.Path, attr(f, "action"))
		}
	}
}

func wantIDs(t *testing.T, p *page, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if byID(p.doc, id) == nil {
			t.Errorf("%s: no #%s", p.url.Path, id)
		}
	}
}

func wantNoStore(t *testing.T, p *page) {
	t.Helper()
	if got := p.header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("%s: Cache-Control = %q, want no-store", p.url.Path, got)
	}
	csp := p.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("%s: Content-Security-Policy = %q", p.url.Path, csp)
	}
}

func TestEveryPageRenders(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true)
	e.user("ada@example.com", "Ada Lovelace")
	e.client("app", "Example App", func(c *storage.Client) {
		c.PolicyURI, c.TOSURI, c.LogoURI = "https://app.example.com/privacy", "https://app.example.com/terms", "https://app.example.com/logo.png"
	})
	b := e.browser()
	if err := e.ids.RequestPasswordReset(t.Context(), "ada@example.com", ""); err != nil {
		t.Fatal(err)
	}
	reset, _ := url.Parse(e.mail.link(t, "ada@example.com", "/reset-password"))

	for _, tc := range []struct {
		path   string
		status int
		ids    []string
	}{
		{"/signin", 200, []string{"email", "password", "sign-in", "forgot-link", "sign-up-link"}},
		{"/signup", 200, []string{"email", "name", "password", "confirm", "sign-up"}},
		{"/forgot-password", 200, []string{"email", "forgot"}},
		{reset.RequestURI(), 200, []string{"username", "password", "confirm", "reset", "password-toggle", "confirm-toggle"}},
		{"/reset-password?token=abc", 400, []string{"forgot-link"}},
		{"/verify-email?token=abc", 400, []string{"to-account"}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			p := b.get(tc.path)
			if p.status != tc.status {
				t.Fatalf("GET %s = %d, want %d", tc.path, p.status, tc.status)
			}
			checkPage(t, p)
			wantIDs(t, p, tc.ids...)
			wantNoStore(t, p)
		})
	}

	// The account page, signed in.
	p := b.signIn("ada@example.com", testPassword)
	if p.url.Path != "/account" || p.status != 200 {
		t.Fatalf("after sign-in: %s %d", p.url.Path, p.status)
	}
	checkPage(t, p)
	wantNoStore(t, p)
	wantIDs(t, p, "name", "given_name", "family_name", "picture", "locale", "save-profile",
		"current-password", "new-password", "confirm-password", "change-password", "sign-out-everywhere", "sign-out")

	// The consent page, from an authorization.
	authURL, _ := e.authorizeURL("app", "openid profile email offline_access")
	consent := b.follow(b.get(authURL))
	if consent.status != 200 || byID(consent.doc, "allow") == nil {
		t.Fatalf("authorization did not show the consent page: %d\n%s", consent.status, consent.body)
	}
	checkPage(t, consent)
	wantNoStore(t, consent)
	wantIDs(t, consent, "allow", "deny", "policy-link", "tos-link")
	if h1 := text(all(consent.doc, func(n *html.Node) bool { return n.Data == "h1" })[0]); h1 != "Example App wants to:" {
		t.Errorf("consent h1 = %q", h1)
	}
	var scopes []string
	for _, li := range all(consent.doc, func(n *html.Node) bool {
		return n.Data == "li" && ancestor(n, "ul") != nil && attr(ancestor(n, "ul"), "class") == "scopes"
	}) {
		scopes = append(scopes, spoken(li))
		if mark := all(li, func(n *html.Node) bool { return n.Data == "span" }); len(mark) != 1 || text(mark[0]) != "✓" || attr(mark[0], "aria-hidden") != "true" {
			t.Errorf("consent scope %q: want its ✓ in one aria-hidden span", text(li))
		}
	}
	want := []string{"Know who you are", "See your name and profile picture", "See your e-mail address", "Stay signed in to the app when you are away"}
	if !slices.Equal(scopes, want) {
		t.Errorf("consent scopes = %q, want %q", scopes, want)
	}
	if logo := all(consent.doc, func(n *html.Node) bool { return n.Data == "img" }); len(logo) != 1 || attr(logo[0], "src") != "https://app.example.com/logo.png" {
		t.Errorf("consent page has no https logo")
	}
	csp := consent.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "form-action 'self' https://app.example.com") || !strings.Contains(csp, "img-src 'self' https://app.example.com") {
		t.Errorf("consent CSP = %q: want the client's origin in form-action and img-src", csp)
	}

	// The sign-out confirmation (no id_token_hint), then the signed-out page.
	confirm := b.get("/oauth2/logout")
	if confirm.status != 200 {
		t.Fatalf("GET /oauth2/logout = %d", confirm.status)
	}
	checkPage(t, confirm)
	wantIDs(t, confirm, "confirm-sign-out", "stay-signed-in")
	form := ancestor(byID(confirm.doc, "confirm-sign-out"), "form")
	if attr(form, "action") != e.issuer+"/oauth2/logout" || byName(form, "confirm") == nil {
		t.Errorf("confirmation form posts to %q", attr(form, "action"))
	}
	if rp := confirm.header.Get("Referrer-Policy"); rp != "same-origin" {
		t.Errorf("Referrer-Policy = %q, want same-origin (so form posts carry Origin)", rp)
	}
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/logout", strings.NewReader(url.Values{"confirm": {"1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", e.issuer)
	out := b.do(req)
	if out.status != 200 || !strings.Contains(text(out.doc), "You are signed out") {
		t.Fatalf("confirmed logout: %d %s", out.status, text(out.doc))
	}
	checkPage(t, out)
	if b.get("/account").status != http.StatusSeeOther {
		t.Errorf("still signed in after logout")
	}

	// The error page, for an unknown client.
	errPage := b.get("/oauth2/authorize?client_id=nobody&response_type=code")
	if errPage.status != 400 {
		t.Fatalf("unknown client: status %d", errPage.status)
	}
	checkPage(t, errPage)
	if rid := byID(errPage.doc, "request-id"); rid == nil || text(rid) != errPage.header.Get("X-Request-Id") {
		t.Errorf("error page does not name the request id %q", errPage.header.Get("X-Request-Id"))
	}

	// The stylesheet.
	css := b.get("/static/gatehouse.css")
	if css.status != 200 || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", css.status, css.header.Get("Content-Type"))
	}
	if dir := b.get("/static/"); dir.status != 404 {
		t.Errorf("GET /static/ = %d, want 404 (no listing)", dir.status)
	}
}
