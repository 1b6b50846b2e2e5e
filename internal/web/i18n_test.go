package web_test

import (
	"io/fs"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/text/language"

	"github.com/gatehouse-id/gatehouse/internal/i18n"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"github.com/gatehouse-id/gatehouse/templates"
)

// templateAction is one {{…}} of a template, comments included.
var templateAction = regexp.MustCompile(`(?s)\{\{.*?\}\}`)

// spokenAttrs are the attributes whose values a person sees or hears.
var spokenAttrs = []string{"alt", "title", "aria-label", "placeholder", "label"}

// allowedText is text a template may hold outside {{…}}: names that are the
// same in every language, such as a product name or an address. Empty today;
// a line here needs a reason.
var allowedText = map[string]bool{}

// hardCoded returns the text of a template file that a person would read and
// that does not come from an action ({{.T "key"}}, a value): text between
// tags and spoken attributes in HTML, everything outside actions in plain
// text. Only text with a letter counts (a "·" or "✓" is no sentence).
func hardCoded(name, src string) []string {
	const mask = "\ue000" // a private-use character, which no template holds
	masked := templateAction.ReplaceAllString(src, mask)
	var segments []string
	if strings.HasSuffix(name, ".txt") {
		segments = strings.Split(masked, mask)
	} else {
		z := html.NewTokenizer(strings.NewReader(masked))
		for tt := z.Next(); tt != html.ErrorToken; tt = z.Next() {
			switch tt {
			case html.TextToken:
				segments = append(segments, strings.Split(string(z.Text()), mask)...)
			case html.StartTagToken, html.SelfClosingTagToken:
				tok := z.Token()
				for _, a := range tok.Attr {
					if slices.Contains(spokenAttrs, a.Key) {
						segments = append(segments, strings.Split(a.Val, mask)...)
					}
				}
			}
		}
	}
	var out []string
	for _, s := range segments {
		s = strings.Join(strings.Fields(s), " ")
		if strings.IndexFunc(s, unicode.IsLetter) >= 0 && !allowedText[s] {
			out = append(out, s)
		}
	}
	return out
}

// TestTemplatesHaveNoHardCodedText: every sentence, label and button of the
// pages and mails comes from the message catalogue, so that none is left in
// English when a page or mail is in another language.
func TestTemplatesHaveNoHardCodedText(t *testing.T) {
	// The scan sees what it is for.
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"x.html", `<p>Sign in</p><img alt="Logo" src="/x.png"><p title="{{.T "a"}}">{{.T "b"}} · ✓</p><a aria-label="Open {{.Name}}">{{.Name}}</a>`, []string{"Sign in", "Logo", "Open"}},
		{"x.txt", "{{define \"body\"}}Hello {{.Name}},\n\n{{.Link}}{{end}}", []string{"Hello"}},
		{"x.html", `{{/* a comment about Sign in */}}<meta name="viewport" content="width=device-width"><p>{{.T "a"}}</p>`, nil},
	} {
		if got := hardCoded(tc.name, tc.src); !slices.Equal(got, tc.want) {
			t.Errorf("hardCoded(%q) = %q, want %q", tc.src, got, tc.want)
		}
	}
	var files int
	err := fs.WalkDir(templates.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".html") || strings.HasSuffix(path, ".txt")) {
			return err
		}
		files++
		src, err := fs.ReadFile(templates.FS, path)
		if err != nil {
			return err
		}
		for _, s := range hardCoded(path, string(src)) {
			t.Errorf("%s: %q is not from the message catalogue: use {{.T \"<key>\"}}", path, s)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 19 {
		t.Errorf("scanned %d template files, want every page and mail (19 or more)", files)
	}
}

// keyLeak matches a message key shown instead of its sentence.
var keyLeak = regexp.MustCompile(`\b(common|field|form|signin|signup|consent|signout|signedout|forgot|reset|link|verify|account|confirm|client|error|mail|duration|scope|password|throttle|profile)\.[a-z_]+(\.[a-z_]+)*\b`)

// inLanguage checks pages in one language.
type inLanguage struct {
	t       *testing.T
	lang    string
	loc, en *i18n.Localizer
}

func (l inLanguage) tr(loc *i18n.Localizer, key string, args ...any) string {
	l.t.Helper()
	s, err := loc.T(key, args...)
	if err != nil {
		l.t.Fatal(err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// check wants p to be a page in the language, with status, showing the
// message key (with args) in the language and not in English, and no message
// key as text.
func (l inLanguage) check(p *page, status int, key string, args ...any) {
	t := l.t
	t.Helper()
	if p.status != status {
		t.Errorf("%s %s: status %d, want %d:\n%s", l.lang, p.url.Path, p.status, status, p.body)
	}
	if got := lang(p); got != l.lang {
		t.Errorf("%s %s: <html lang=%q>", l.lang, p.url.Path, got)
	}
	body := text(p.doc)
	want := l.tr(l.loc, key, args...)
	if !strings.Contains(body, want) {
		t.Errorf("%s %s: lacks %s %q:\n%s", l.lang, p.url.Path, key, want, body)
	}
	if english := l.tr(l.en, key, args...); english != want && !strings.Contains(want, english) && strings.Contains(body, english) {
		t.Errorf("%s %s: shows %s in English: %q", l.lang, p.url.Path, key, english)
	}
	spokenText := body
	for _, n := range all(p.doc, func(*html.Node) bool { return true }) {
		for _, a := range spokenAttrs {
			spokenText += " " + attr(n, a)
		}
	}
	if k := keyLeak.FindString(spokenText); k != "" {
		t.Errorf("%s %s: shows the message key %q", l.lang, p.url.Path, k)
	}
	checkPage(t, p)
}

// TestEveryPageInEveryLanguage walks every page through the real handlers in
// each shipped language (chosen by Accept-Language): sign-in and its
// mistakes, sign-up, its mistakes and "check your e-mail", the verification
// link (good and used), the account page, both confirmations, consent, the
// logout confirmation, signed out, forgot and reset password (good and dead
// links), the error page and the 404 page. Each is in the language (<html
// lang>, a known sentence, not the English one), shows no message key, and
// after a mistake its title starts with the language's word for "Error:".
// The mail the pages send speaks the same language.
func TestEveryPageInEveryLanguage(t *testing.T) {
	cat, err := i18n.Load(i18n.Options{})
	if err != nil {
		t.Fatal(err)
	}
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, true)
		e.client("notes", "Notes")
		for _, lang := range cat.Tags() {
			t.Run(lang, func(t *testing.T) {
				l := inLanguage{t: t, lang: lang, loc: cat.Localizer(language.MustParse(lang)), en: cat.Localizer(language.English)}
				errorWord := l.tr(l.loc, "common.error_prefix")
				email := "walker-" + strings.ToLower(lang) + "@example.com"
				b := e.browser()
				b.acceptLanguage = lang

				// Sign-in, with a mistake.
				p := b.get("/signin")
				l.check(p, http.StatusOK, "signin.forgot")
				p = b.submit(p, "sign-in", map[string]string{"email": "", "password": ""})
				l.check(p, http.StatusBadRequest, "form.enter_email")
				if !strings.HasPrefix(title(p), errorWord) {
					t.Errorf("%s: title after a mistake %q, want it to start with %q", lang, title(p), errorWord)
				}

				// Sign-up: every mistake, then right; the mail in the language.
				p = b.get("/signup")
				l.check(p, http.StatusOK, "signup.have_account")
				p = b.submit(p, "sign-up", map[string]string{"email": "nope", "password": "short", "confirm": "other"})
				l.check(p, http.StatusBadRequest, "form.invalid_email")
				l.check(p, http.StatusBadRequest, "password.too_short", "Count", 8)
				l.check(p, http.StatusBadRequest, "form.password_mismatch")
				p = b.signUp(p, email, testPassword)
				l.check(p, http.StatusOK, "signup.sent_more")
				if got, want := e.mail.lastSubject(), l.tr(l.loc, "mail.verify.subject", "Product", "Gatehouse"); got != want {
					t.Errorf("%s: verification mail subject %q, want %q", lang, got, want)
				}
				// Opened in another browser: verified; again: a dead link.
				verify := e.mail.link(t, email, "/verify-email")
				other := e.browser()
				other.acceptLanguage = lang
				l.check(other.get(verify), http.StatusOK, "verify.title")
				l.check(other.get(verify), http.StatusBadRequest, "verify.dead")

				// The account page and its confirmations.
				p = b.signIn(email, testPassword)
				l.check(p, http.StatusOK, "account.sessions")
				l.check(p, http.StatusOK, "field.language_hint")
				authURL, _ := e.authorizeURL("notes", "openid email")
				p = b.follow(b.get(authURL))
				l.check(p, http.StatusOK, "consent.heading", "App", "Notes")
				if got := b.submit(p, "allow", nil); got.status != http.StatusSeeOther {
					t.Fatalf("%s: allow = %d", lang, got.status)
				}
				p = b.get("/account")
				l.check(p, http.StatusOK, "account.disconnect")
				l.check(b.click(p, "revoke-notes"), http.StatusOK, "confirm.revoke_lead", "App", "Notes")
				l.check(b.click(p, "sign-out-everywhere"), http.StatusOK, "confirm.everywhere_lead")

				// The logout endpoint asks first; then signed out.
				p = b.get("/oauth2/logout")
				l.check(p, http.StatusOK, "signout.stay")
				req, _ := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/logout", strings.NewReader(url.Values{"confirm": {"1"}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", e.issuer) // as the browser sends it with the form
				l.check(b.do(req), http.StatusOK, "signedout.title")

				// Forgot and reset password; the mail in the language.
				p = b.get("/forgot-password")
				l.check(p, http.StatusOK, "forgot.lead")
				l.check(b.submit(p, "forgot", map[string]string{"email": email}), http.StatusOK, "forgot.sent", "Count", 30)
				if got, want := e.mail.lastSubject(), l.tr(l.loc, "mail.reset.subject", "Product", "Gatehouse"); got != want {
					t.Errorf("%s: reset mail subject %q, want %q", lang, got, want)
				}
				p = b.get(e.mail.link(t, email, "/reset-password"))
				l.check(p, http.StatusOK, "reset.title")
				p = b.submit(p, "reset", map[string]string{"password": "a brand new passphrase", "confirm": "something else"})
				l.check(p, http.StatusBadRequest, "form.password_mismatch")
				l.check(b.get("/reset-password?token=no-such-token"), http.StatusBadRequest, "reset.dead")

				// The error page and the 404 page.
				l.check(b.get("/oauth2/authorize?client_id=nobody&response_type=code"), http.StatusBadRequest, "error.signin_link_invalid")
				req, _ = http.NewRequest(http.MethodGet, e.issuer+"/no-such-page", nil)
				req.Header.Set("Accept", "text/html")
				l.check(b.do(req), http.StatusNotFound, "error.no_page")
			})
		}
	})
}

// TestAccountLanguageList: the account page's language is a list of the
// supported languages, each in its own words, with the browser's language
// first; the choice is saved on the user (the locale claim) and the next page
// speaks it, whatever the browser asks for; a saved locale no catalogue has
// stays a choice.
func TestAccountLanguageList(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, false)
		e.user("lena@example.com", "Lena")
		b := e.browser()
		b.acceptLanguage = "en"
		p := b.signIn("lena@example.com", testPassword)
		sel := byID(p.doc, "locale")
		if sel == nil || sel.Data != "select" {
			t.Fatalf("the language field is not a list:\n%s", p.body)
		}
		type choice struct{ value, label, lang string }
		var got []choice
		for _, o := range all(sel, func(n *html.Node) bool { return n.Data == "option" }) {
			got = append(got, choice{attr(o, "value"), text(o), attr(o, "lang")})
		}
		want := []choice{{"", "Same as the browser", ""}, {"en", "English", "en"}, {"de", "Deutsch", "de"},
			{"es", "Español", "es"}, {"fr", "Français", "fr"}, {"pt-BR", "Português (Brasil)", "pt-BR"}}
		if !slices.Equal(got, want) {
			t.Errorf("choices %q, want %q", got, want)
		}

		p = b.follow(b.submit(p, "save-profile", map[string]string{"locale": "de"}))
		if lang(p) != "de" || byID(p.doc, "notice") == nil || text(byID(p.doc, "notice")) != "Ihr Profil wurde gespeichert." {
			t.Errorf("after choosing German: <html lang=%q>, notice %q", lang(p), text(byID(p.doc, "notice")))
		}
		if u, err := e.userByEmail("lena@example.com"); err != nil || u.Locale != "de" {
			t.Errorf("saved locale %q (%v), want de", u.Locale, err)
		}
		for _, o := range all(byID(p.doc, "locale"), func(n *html.Node) bool { return n.Data == "option" }) {
			if hasAttr(o, "selected") != (attr(o, "value") == "de") {
				t.Errorf("option %q selected=%v", attr(o, "value"), hasAttr(o, "selected"))
			}
		}
		// The next page, in a browser that asks for French: still German.
		if p := b.getIn("/account", "fr"); lang(p) != "de" {
			t.Errorf("next page <html lang=%q>, want the saved de", lang(p))
		}

		// A locale set elsewhere (the admin API) that no catalogue has.
		u, _ := e.userByEmail("lena@example.com")
		u.Locale = "ja"
		if _, err := e.store.UpdateUser(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		p = b.get("/account")
		if lang(p) != "en" {
			t.Errorf("with the unsupported ja saved: <html lang=%q>, want the browser's en", lang(p))
		}
		opts := all(byID(p.doc, "locale"), func(n *html.Node) bool { return n.Data == "option" && hasAttr(n, "selected") })
		if len(opts) != 1 || attr(opts[0], "value") != "ja" || text(opts[0]) != "日本語" {
			t.Errorf("the saved ja is not the chosen option: %v", opts)
		}
		// Back to the browser's language: the empty choice clears it.
		b.follow(b.submit(p, "save-profile", map[string]string{"locale": ""}))
		if u, _ := e.userByEmail("lena@example.com"); u.Locale != "" {
			t.Errorf("saved locale %q, want none", u.Locale)
		}
	})
}

// oldSignIn is a sign-in page as an operator copied it before the pages were
// translated: English written out, no {{.T}}.
const oldSignIn = `{{define "content"}}
{{template "error-summary" .}}
<h1>Sign in to Acme</h1>
<form method="post" action="/signin" novalidate>
{{template "csrf" .}}
<input type="hidden" name="continue" value="{{.Continue}}">
{{template "field" .EmailField}}
{{template "field" .PasswordField}}
<button type="submit" id="sign-in" class="button button-primary">Sign in</button>
</form>
{{end}}
`

// TestOperatorPageWithoutMessages: a page an operator wrote before the
// catalogue (English, no {{.T}}) still works under the translated layout: it
// renders and signs in, its own words as written, the layout's and fields'
// words in the page's language.
func TestOperatorPageWithoutMessages(t *testing.T) {
	dir := operatorDir(t, map[string]string{"signin.html": oldSignIn})
	fsys, err := templates.Overlay(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, storagetest.OpenSQLite(t), false, withTemplates(fsys))
	e.user("ana@example.com", "Ana")
	b := e.browser()
	b.acceptLanguage = "es"
	p := b.get("/signin")
	if p.status != http.StatusOK || lang(p) != "es" || !strings.Contains(text(p.doc), "Sign in to Acme") {
		t.Fatalf("the operator's page: %d, lang %q:\n%s", p.status, lang(p), p.body)
	}
	if l := byID(p.doc, "email-label"); l == nil || text(l) != "Correo electrónico" {
		t.Errorf("the e-mail field's label is not in Spanish:\n%s", p.body)
	}
	checkPage(t, p)
	p = b.submit(p, "sign-in", map[string]string{"email": "ana@example.com", "password": "wrong password"})
	if p.status != http.StatusUnauthorized || !strings.Contains(text(p.doc), "El correo electrónico o la contraseña no son correctos.") ||
		!strings.HasPrefix(title(p), "Error:") {
		t.Errorf("a wrong password on the operator's page: %d, title %q:\n%s", p.status, title(p), p.body)
	}
	p = b.follow(b.submit(b.get("/signin"), "sign-in", map[string]string{"email": "ana@example.com", "password": testPassword}))
	if byID(p.doc, "account-email") == nil {
		t.Errorf("signing in through the operator's page did not reach the account page:\n%s", p.body)
	}
}

// lastSubject is the subject of the last mail sent.
func (m *mailbox) lastSubject() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.msgs) == 0 {
		return ""
	}
	return m.msgs[len(m.msgs)-1].Subject
}
