package web_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// getIn GETs target with an Accept-Language header.
func (b *browser) getIn(target, acceptLanguage string) *page {
	b.e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.abs(target), nil)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if acceptLanguage != "" {
		req.Header.Set("Accept-Language", acceptLanguage)
	}
	return b.do(req)
}

// lang is the page's <html lang>.
func lang(p *page) string {
	if h := all(p.doc, func(n *html.Node) bool { return n.Data == "html" }); len(h) > 0 {
		return attr(h[0], "lang")
	}
	return ""
}

// withUILocales adds ui_locales to an authorization URL.
func withUILocales(authURL, uiLocales string) string {
	u, _ := url.Parse(authURL)
	q := u.Query()
	q.Set("ui_locales", uiLocales)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestPageLanguageSignedOut: ui_locales (of the request, or of the
// authorization its continue URL resumes) before Accept-Language, before
// English; <html lang> names the choice.
func TestPageLanguageSignedOut(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true)
	e.client("app", "Example App")
	b := e.browser()
	authURL, _ := e.authorizeURL("app", "openid email")
	cont := func(ui string) string {
		return "/signin?" + url.Values{"continue": {withUILocales(authURL, ui)}}.Encode()
	}
	for _, tc := range []struct {
		name, target, acceptLanguage, want string
	}{
		{"nothing: English", "/signin", "", "en"},
		{"Accept-Language", "/signin", "de-DE,de;q=0.9,en;q=0.8", "de"},
		{"Accept-Language q-values", "/signup", "en;q=0.3, es;q=0.8", "es"},
		{"Accept-Language pt-PT reads pt-BR", "/forgot-password", "pt-PT", "pt-BR"},
		{"Accept-Language unsupported", "/signin", "ja, zh;q=0.5", "en"},
		{"Accept-Language garbage", "/signin", ";;;===,,", "en"},
		{"ui_locales of the page", "/signin?ui_locales=fr", "de", "fr"},
		{"ui_locales of the continued authorization", cont("it fr"), "de", "fr"},
		{"ui_locales all unsupported", cont("it ja"), "es", "es"},
		{"continue off this issuer is not read", "/signin?" + url.Values{"continue": {"https://evil.example/oauth2/authorize?ui_locales=fr"}}.Encode(), "", "en"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.getIn(tc.target, tc.acceptLanguage)
			if p.status != http.StatusOK {
				t.Fatalf("GET %s: %d", tc.target, p.status)
			}
			if got := lang(p); got != tc.want {
				t.Errorf("GET %s (Accept-Language %q): lang %q, want %q", tc.target, tc.acceptLanguage, got, tc.want)
			}
		})
	}

	// The authorization endpoint hands ui_locales on to the sign-in page.
	p := b.getIn(withUILocales(authURL, "es"), "de")
	signin := b.follow(p)
	if got := lang(signin); got != "es" {
		t.Errorf("sign-in page of an authorization with ui_locales=es: lang %q", got)
	}
	// A form that comes back (a wrong password) keeps the language the
	// continue field carries, though the POST's URL has none.
	again := b.submit(signin, "sign-in", map[string]string{"email": "nobody@example.com", "password": "wrong password"})
	if again.status == http.StatusSeeOther || byID(again.doc, "sign-in") == nil {
		t.Fatalf("wrong password: %d, want the form again", again.status)
	}
	if got := lang(again); got != "es" {
		t.Errorf("sign-in form after a wrong password: lang %q, want es", got)
	}
	// The logout endpoint's confirmation speaks its ui_locales (RP-Initiated
	// Logout 1.0 §2).
	if out := b.getIn(e.issuer+"/oauth2/logout?ui_locales=de", "fr"); out.status != http.StatusOK || lang(out) != "de" {
		t.Errorf("logout with ui_locales=de: %d, lang %q", out.status, lang(out))
	}
	// The error page of a bad authorization request speaks its ui_locales.
	bad := b.getIn(e.issuer+"/oauth2/authorize?client_id=nope&response_type=code&ui_locales=fr", "de")
	if bad.status != http.StatusBadRequest || lang(bad) != "fr" {
		t.Errorf("authorize with an unknown client: %d, lang %q; want 400 and fr", bad.status, lang(bad))
	}
}

// TestPageLanguageSavedLocale: a signed-in user's saved locale comes after
// ui_locales and before Accept-Language.
func TestPageLanguageSavedLocale(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, true)
		ada := e.user("ada@example.com", "Ada")
		if _, err := e.ids.UpdateProfile(t.Context(), ada.ID, identity.Profile{Name: "Ada", Locale: "pt-PT"}); err != nil {
			t.Fatal(err)
		}
		b := e.browser()
		if p := b.getIn("/signin", "de"); lang(p) != "de" {
			t.Fatalf("signed out: lang %q, want de", lang(p))
		}
		b.signIn("ada@example.com", testPassword)
		for _, tc := range []struct{ target, acceptLanguage, want string }{
			{"/account", "de", "pt-BR"},
			{"/account", "", "pt-BR"},
			{"/account?ui_locales=fr", "de", "fr"},
			{"/signin", "es", "pt-BR"},
		} {
			if p := b.getIn(tc.target, tc.acceptLanguage); lang(p) != tc.want {
				t.Errorf("signed in, GET %s (Accept-Language %q): lang %q, want %q", tc.target, tc.acceptLanguage, lang(p), tc.want)
			}
		}
		// The scope descriptions of the consent page follow the language.
		e.client("app", "Example App")
		authURL, _ := e.authorizeURL("app", "openid email")
		consent := b.follow(b.getIn(authURL, "en"))
		if byID(consent.doc, "allow") == nil {
			t.Fatalf("no consent page: %d", consent.status)
		}
		if got := text(consent.doc); lang(consent) != "pt-BR" || !strings.Contains(got, "Ver seu endereço de e-mail") {
			t.Errorf("consent in the saved locale: lang %q, text %s", lang(consent), got)
		}
		consent = b.follow(b.getIn(withUILocales(authURL, "de"), "en"))
		if got := text(consent.doc); lang(consent) != "de" || !strings.Contains(got, "Ihre E-Mail-Adresse sehen") || !strings.Contains(got, "Wissen, wer Sie sind") {
			t.Errorf("consent with ui_locales=de: lang %q, text %s", lang(consent), got)
		}
	})
}

// TestConsentLanguageOfPushedRequest: a pushed authorization request's
// ui_locales reaches the consent page, whose own URL has only request_uri.
func TestConsentLanguageOfPushedRequest(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true)
	e.user("ada@example.com", "Ada")
	e.client("app", "Example App")
	b := e.browser()
	b.signIn("ada@example.com", testPassword)
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	par := b.post("/oauth2/par", url.Values{
		"client_id": {"app"}, "response_type": {"code"}, "redirect_uri": {"https://app.example.com/callback"},
		"scope": {"openid profile"}, "state": {"state-1234567890"}, "ui_locales": {"fr-CA fr"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	})
	var pushed struct {
		RequestURI string `json:"request_uri"`
	}
	if err := json.Unmarshal([]byte(par.body), &pushed); err != nil || pushed.RequestURI == "" {
		t.Fatalf("PAR: %d %s", par.status, par.body)
	}
	consent := b.follow(b.getIn("/oauth2/authorize?"+url.Values{"client_id": {"app"}, "request_uri": {pushed.RequestURI}}.Encode(), "de"))
	if byID(consent.doc, "allow") == nil {
		t.Fatalf("no consent page: %d\n%s", consent.status, consent.body)
	}
	if got := text(consent.doc); lang(consent) != "fr" || !strings.Contains(got, "Voir votre nom et votre photo de profil") {
		t.Errorf("consent of a pushed request with ui_locales=fr: lang %q, text %s", lang(consent), got)
	}
	// Its continue URL carries ui_locales beside the new request_uri.
	cont, err := url.Parse(attr(byName(consent.doc, "continue"), "value"))
	if err != nil || cont.Query().Get("request_uri") == "" || cont.Query().Get("ui_locales") != "fr-CA fr" {
		t.Errorf("continue URL %v: want request_uri and ui_locales", cont)
	}
}
