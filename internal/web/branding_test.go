package web_test

import (
	"crypto/sha256"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/gatehouse-id/gatehouse/internal/branding"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/session"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"github.com/gatehouse-id/gatehouse/templates"
)

func str(s string) *string { return &s }

func newBranding(t *testing.T, store *storage.Store, defaults branding.Settings) *branding.Service {
	t.Helper()
	b, err := branding.New(store, branding.Options{Defaults: defaults})
	if err != nil {
		t.Fatalf("branding.New: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// brandOf reads what a page shows of the branding.
type shownBrand struct {
	title, name, logo, favicon, support, stylesheet string
}

func brandShown(t *testing.T, p *page) shownBrand {
	t.Helper()
	var s shownBrand
	if ts := all(p.doc, func(n *html.Node) bool { return n.Data == "title" }); len(ts) == 1 {
		s.title = text(ts[0])
	}
	if n := byID(p.doc, "brand-name"); n != nil {
		s.name = text(n)
	}
	if n := byID(p.doc, "brand-logo"); n != nil {
		s.logo = attr(n, "src")
	}
	if n := all(p.doc, func(n *html.Node) bool { return n.Data == "link" && attr(n, "rel") == "icon" }); len(n) == 1 {
		s.favicon = attr(n[0], "href")
	}
	if n := byID(p.doc, "support-link"); n != nil {
		s.support = attr(n, "href")
	}
	if css := all(p.doc, func(n *html.Node) bool { return n.Data == "link" && attr(n, "rel") == "stylesheet" }); len(css) == 2 {
		s.stylesheet = attr(css[1], "href")
	}
	return s
}

// TestPagesShowBranding: every page shows the configured branding (name in
// the title and header, logo, favicon, support link, the colour through the
// branding stylesheet), and a change made through another branding service on
// the same store (as the admin API does) shows on the next page, without a
// restart.
func TestPagesShowBranding(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		pagesBrand := newBranding(t, store, branding.Settings{
			ProductName: str("Acme ID"), LogoURL: str("https://cdn.acme.example/logo.svg"), FaviconURL: str("/static/acme.ico"),
			PrimaryColor: str("#0b7a3b"), SupportURL: str("https://help.acme.example/"),
		})
		e := newEnv(t, store, true, withBranding(pagesBrand))
		e.user("ada@example.com", "Ada Lovelace")
		e.client("app", "Example App")
		b := e.browser()

		authURL, _ := e.authorizeURL("app", "openid")
		pages := []*page{b.get("/signin"), b.get("/signup"), b.get("/forgot-password"), b.get("/reset-password?token=abc"), b.get("/verify-email?token=abc"), b.get("/oauth2/logout"),
			b.get("/oauth2/authorize?client_id=nobody&response_type=code")}
		pages = append(pages, b.signIn("ada@example.com", testPassword), b.follow(b.get(authURL)))
		var css string
		for _, p := range pages {
			checkPage(t, p)
			got := brandShown(t, p)
			if !strings.HasSuffix(got.title, " · Acme ID") || got.name != "Acme ID" || got.logo != "https://cdn.acme.example/logo.svg" ||
				got.favicon != "/static/acme.ico" || got.support != "https://help.acme.example/" {
				t.Errorf("%s shows %+v, want the configured branding", p.url.Path, got)
			}
			if strings.Contains(p.body, "Gatehouse") {
				t.Errorf("%s still names Gatehouse", p.url.Path)
			}
			if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' ") || !strings.Contains(csp, "https://cdn.acme.example") {
				t.Errorf("%s CSP %q: want the logo's origin in img-src", p.url.Path, csp)
			}
			css = got.stylesheet
		}
		sheet := b.get(css)
		if sheet.status != http.StatusOK || !strings.HasPrefix(sheet.header.Get("Content-Type"), "text/css") ||
			!strings.Contains(sheet.body, "--primary: #0b7a3b;") || !strings.Contains(sheet.body, "prefers-color-scheme: dark") {
			t.Fatalf("GET %s = %d %q:\n%s", css, sheet.status, sheet.header.Get("Content-Type"), sheet.body)
		}
		if cc := sheet.header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("versioned stylesheet Cache-Control = %q, want immutable", cc)
		}

		// The admin API's change, through its own service on the same store.
		admin := newBranding(t, store, branding.Settings{})
		if _, err := admin.Set(t.Context(), branding.Settings{ProductName: str("Acme Accounts"), LogoURL: str(""), PrimaryColor: str("#FFD000"), SupportURL: str("mailto:help@acme.example")}); err != nil {
			t.Fatalf("Set: %v", err)
		}
		p := b.get("/signin")
		got := brandShown(t, p)
		if got.name != "Acme Accounts" || !strings.HasSuffix(got.title, " · Acme Accounts") || got.logo != "" || got.favicon != "/static/acme.ico" || got.support != "mailto:help@acme.example" {
			t.Errorf("after the change /signin shows %+v, want Acme Accounts, no logo, the configured favicon and the mail support link", got)
		}
		if byID(p.doc, "support-link") == nil || text(byID(p.doc, "support-link")) != "E-mail support" {
			t.Errorf("mailto support link not labelled as e-mail")
		}
		if got.stylesheet == css {
			t.Errorf("the stylesheet URL %s did not change with the colour", css)
		}
		sheet = b.get(got.stylesheet)
		// A light colour: black text on it, and links darkened to stay readable.
		if !strings.Contains(sheet.body, "--primary: #ffd000;") || !strings.Contains(sheet.body, "--on-primary: #000000;") {
			t.Errorf("stylesheet after the change:\n%s", sheet.body)
		}
		old := b.get(css)
		if cc := old.header.Get("Cache-Control"); cc != "no-cache" || !strings.Contains(old.body, "#ffd000") {
			t.Errorf("an old version's URL: Cache-Control %q, want no-cache and the current colours", cc)
		}
		// Mail follows the same branding.
		if err := e.ids.RequestPasswordReset(t.Context(), "ada@example.com", ""); err != nil {
			t.Fatal(err)
		}
		e.mail.mu.Lock()
		last := e.mail.msgs[len(e.mail.msgs)-1]
		e.mail.mu.Unlock()
		if !strings.Contains(last.Subject, "Acme Accounts") || !strings.Contains(last.HTML, "background: #ffd000") {
			t.Errorf("reset mail not branded: %q\n%s", last.Subject, last.HTML)
		}
	})
}

// TestPagesDefaultBranding: with no branding service, pages say Gatehouse
// and show the mark, no logo, favicon link or support link.
func TestPagesDefaultBranding(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), false)
	p := e.browser().get("/signin")
	got := brandShown(t, p)
	if got.title != "Sign in · Gatehouse" || got.name != "Gatehouse" || got.logo != "" || got.favicon != "" || got.support != "" {
		t.Errorf("default branding shows %+v", got)
	}
	if len(all(p.doc, func(n *html.Node) bool { return attr(n, "class") == "brand-mark" })) != 1 {
		t.Errorf("no brand mark without a logo")
	}
	sheet := e.browser().get(got.stylesheet)
	if !strings.Contains(sheet.body, "--primary: #1d4ed8;") {
		t.Errorf("default stylesheet:\n%s", sheet.body)
	}
}

// TestSignInShowsClientLogo: signing in to an application that has an https
// logo shows it, and the CSP allows its origin.
func TestSignInShowsClientLogo(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true)
	e.client("app", "Example App", func(c *storage.Client) { c.LogoURI = "https://app.example.com/logo.png" })
	e.client("plain", "Plain App")
	b := e.browser()
	authURL, _ := e.authorizeURL("app", "openid")
	p := b.follow(b.get(authURL))
	if logo := byID(p.doc, "client-logo"); logo == nil || attr(logo, "src") != "https://app.example.com/logo.png" {
		t.Fatalf("sign-in for a client with a logo shows none:\n%s", p.body)
	}
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "img-src 'self' https://app.example.com") {
		t.Errorf("CSP %q: want the client's logo origin in img-src", csp)
	}
	checkPage(t, p)
	plainURL, _ := e.authorizeURL("plain", "openid")
	if p := b.follow(b.get(plainURL)); byID(p.doc, "client-logo") != nil {
		t.Errorf("sign-in for a client without a logo shows one")
	}
}

// operatorDir writes files into a new directory.
func operatorDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestTemplatesOverlay: an operator's directory that holds one page and one
// new static file changes that page only; every other page and static file
// comes from the built-in set.
func TestTemplatesOverlay(t *testing.T) {
	signin, err := templates.FS.ReadFile("signin.html")
	if err != nil {
		t.Fatal(err)
	}
	dir := operatorDir(t, map[string]string{
		"signin.html":     strings.Replace(string(signin), `<h1>{{.T "signin.title"}}</h1>`, `<h1>{{.T "signin.title"}}</h1><p id="operator-note">Use your Acme badge number.</p>`, 1),
		"static/logo.svg": `<svg xmlns="http://www.w3.org/2000/svg"/>`,
	})
	fsys, err := templates.Overlay(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, storagetest.OpenSQLite(t), false, withTemplates(fsys))
	b := e.browser()
	p := b.get("/signin")
	if n := byID(p.doc, "operator-note"); n == nil || text(n) != "Use your Acme badge number." {
		t.Errorf("/signin is not the operator's page:\n%s", p.body)
	}
	checkPage(t, p)
	for _, path := range []string{"/signup", "/forgot-password"} {
		p := b.get(path)
		if p.status != http.StatusOK || byID(p.doc, "operator-note") != nil {
			t.Errorf("GET %s = %d; want the built-in page", path, p.status)
		}
		checkPage(t, p)
	}
	if logo := b.get("/static/logo.svg"); logo.status != http.StatusOK || !strings.Contains(logo.body, "<svg") {
		t.Errorf("the operator's static file: %d", logo.status)
	}
	if css := b.get("/static/gatehouse.css"); css.status != http.StatusOK || !strings.Contains(css.body, "prefers-color-scheme: dark") {
		t.Errorf("the built-in stylesheet through the overlay: %d", css.status)
	}
}

// TestTemplatesOverlayRefusesBrokenFile: a page the operator gave that does
// not parse, or defines no content, refuses start-up with its name, though
// the built-in one would do.
func TestTemplatesOverlayRefusesBrokenFile(t *testing.T) {
	store := storagetest.OpenSQLite(t)
	key := sha256.Sum256([]byte("csrf key for tests"))
	for _, tc := range []struct{ name, file, content, want string }{
		{"syntax", "consent.html", `{{define "content"}}{{.Nope}`, "consent.html"},
		{"no content", "signup.html", `<p>hello</p>`, `signup.html does not define "content"`},
		{"base", "base.html", `{{define "base"}}{{if}}{{end}}`, "base.html"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, err := templates.Overlay(operatorDir(t, map[string]string{tc.file: tc.content}))
			if err != nil {
				t.Fatal(err)
			}
			_, err = web.New(web.Deps{
				Templates: fsys, Store: store, Identity: identity.New(store, identity.Options{}), Sessions: session.New(store, session.Options{}),
				CSRFKey: key[:], Issuer: "http://localhost:8080",
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("web.New with a broken %s = %v, want an error naming %q", tc.file, err, tc.want)
			}
		})
	}
}
