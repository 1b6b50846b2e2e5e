package identity_test

import (
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/net/html"
	"golang.org/x/text/language"

	"github.com/gatehouse-id/gatehouse/internal/i18n"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// mailKeyLeak matches a message key written out instead of its sentence.
var mailKeyLeak = regexp.MustCompile(`\b(common|mail|duration|form)\.[a-z_]+(\.[a-z_]+)*\b`)

// oneLine collapses white space (a no-break space too) so that a sentence
// wrapped by a template compares equal to its message.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// TestMailInEveryLanguage: every mail, subject, text and HTML, is written in
// the language of the page that caused it (the request's localizer in the
// context): its own sentences, the button, the duration with its plural, the
// <html lang>, no key left as text and no English where the language has its
// own words.
func TestMailInEveryLanguage(t *testing.T) {
	cat, err := i18n.Load(i18n.Options{})
	if err != nil {
		t.Fatal(err)
	}
	english := cat.Localizer(language.English)
	for _, lang := range cat.Tags() {
		t.Run(lang, func(t *testing.T) {
			loc := cat.Localizer(language.MustParse(lang))
			f := newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "mail.db"))
			ctx := i18n.WithLocalizer(t.Context(), func() *i18n.Localizer { return loc })
			u, err := f.svc.CreateUser(ctx, identity.SignUpInput{Email: "ada@example.com", Password: "correct horse battery staple", Name: "Ada Lovelace"}, false)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.svc.SendVerification(ctx, u, ""); err != nil {
				t.Fatal(err)
			}
			if err := f.svc.RequestPasswordReset(ctx, u.Email, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.SignUp(ctx, identity.SignUpInput{Email: u.Email, Password: "another fine password here"}, ""); err != nil {
				t.Fatal(err)
			}
			f.svc.FactorsChanged(ctx, u.ID, "added", storage.FactorTOTP)
			mails := f.mail.all()
			if len(mails) != 4 {
				t.Fatalf("%d mails, want 4", len(mails))
			}
			tr := func(l *i18n.Localizer, key string, args ...any) string {
				t.Helper()
				s, err := l.T(key, args...)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			product := "Gatehouse"
			for i, want := range []struct {
				name, subject string
				sentences     []string // in text and HTML
				english       []string // what the mail would say in English
			}{
				{"verification", tr(loc, "mail.verify.subject", "Product", product),
					[]string{tr(loc, "mail.hello_name", "Name", "Ada Lovelace"), tr(loc, "mail.verify.intro"),
						tr(loc, "mail.verify.outro", "Product", product, "Expires", tr(loc, "duration.hours", "Count", 48))},
					[]string{tr(english, "mail.verify.intro")}},
				{"reset", tr(loc, "mail.reset.subject", "Product", product),
					[]string{tr(loc, "mail.reset.intro", "Product", product),
						tr(loc, "mail.reset.outro", "Expires", tr(loc, "duration.minutes", "Count", 30))},
					[]string{tr(english, "mail.reset.intro", "Product", product)}},
				{"sign-up notice", tr(loc, "mail.notice.subject", "Product", product),
					[]string{tr(loc, "mail.notice.intro", "Product", product)},
					[]string{tr(english, "mail.notice.intro", "Product", product)}},
				{"sign-in method change", tr(loc, "mail.factors.subject", "Product", product),
					[]string{tr(loc, "mail.factors.totp_added"), tr(loc, "mail.factors.when", "Time", "2031-01-02 03:04 UTC"),
						tr(loc, "mail.factors.outro", "Product", product)},
					[]string{tr(english, "mail.factors.totp_added"), tr(english, "mail.factors.outro", "Product", product)}},
			} {
				m := mails[i]
				if m.Subject != want.subject {
					t.Errorf("%s: subject %q, want %q", want.name, m.Subject, want.subject)
				}
				doc, err := html.Parse(strings.NewReader(m.HTML))
				if err != nil {
					t.Fatal(err)
				}
				htmlText := oneLine(textOf(doc))
				if h := find(doc, func(n *html.Node) bool { return n.Data == "html" }); len(h) == 0 || attrOf(h[0], "lang") != lang {
					t.Errorf("%s: the HTML is not marked lang=%q", want.name, lang)
				}
				for _, part := range []struct{ name, body string }{{"text", oneLine(m.Text)}, {"HTML", htmlText}} {
					for _, s := range want.sentences {
						if !strings.Contains(part.body, oneLine(s)) {
							t.Errorf("%s %s lacks %q:\n%s", want.name, part.name, s, part.body)
						}
					}
					if lang != "en" {
						for _, s := range want.english {
							if strings.Contains(part.body, oneLine(s)) {
								t.Errorf("%s %s is in English: %q", want.name, part.name, s)
							}
						}
					}
					if k := mailKeyLeak.FindString(part.body); k != "" {
						t.Errorf("%s %s shows the key %q:\n%s", want.name, part.name, k, part.body)
					}
				}
			}
			// The button's words and the notice's link to a new password.
			for _, s := range []string{tr(loc, "mail.verify.action"), tr(loc, "mail.button_fallback")} {
				if !strings.Contains(oneLine(mails[0].HTML), oneLine(s)) {
					t.Errorf("verification HTML lacks %q", s)
				}
			}
			if !strings.Contains(oneLine(mails[3].HTML), oneLine(tr(loc, "mail.factors.action"))) {
				t.Errorf("sign-in method change HTML lacks its button %q", tr(loc, "mail.factors.action"))
			}
			if !strings.Contains(oneLine(mails[2].HTML), tr(loc, "mail.notice.choose_new")) {
				t.Errorf("sign-up notice HTML lacks the link text %q", tr(loc, "mail.notice.choose_new"))
			}
		})
	}
}

// textOf is the text of n and its descendants.
func textOf(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.WriteString(textOf(c))
		b.WriteString(" ")
	}
	return b.String()
}

// TestMailInSavedLocale: a mail no page caused (the admin API, the command
// line) speaks the user's saved locale; with none, English.
func TestMailInSavedLocale(t *testing.T) {
	f := newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "mail.db"))
	ctx := t.Context()
	for _, tc := range []struct{ email, locale, want string }{
		{"fr@example.com", "fr", "Vérifiez votre adresse e-mail pour Gatehouse"},
		{"ptpt@example.com", "pt-PT", "Verifique seu endereço de e-mail no Gatehouse"},
		{"none@example.com", "", "Verify your e-mail address for Gatehouse"},
	} {
		u, err := f.svc.CreateUser(ctx, identity.SignUpInput{Email: tc.email, Password: "correct horse battery staple"}, false)
		if err != nil {
			t.Fatal(err)
		}
		if tc.locale != "" {
			if u, err = f.svc.UpdateProfile(ctx, u.ID, identity.Profile{Locale: tc.locale}); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.svc.SendVerification(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
		mails := f.mail.all()
		if got := mails[len(mails)-1].Subject; got != tc.want {
			t.Errorf("locale %q: subject %q, want %q", tc.locale, got, tc.want)
		}
	}
}

// TestMailTemplatesCheck: the built-in mail uses only messages the catalogue
// has; an operator's mail that names a missing one is refused, naming the
// file and the key.
func TestMailTemplatesCheck(t *testing.T) {
	cat, err := i18n.Load(i18n.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mt, err := identity.ParseMailTemplates(templates.FS)
	if err != nil {
		t.Fatal(err)
	}
	if err := mt.Check(cat); err != nil {
		t.Errorf("built-in mail: %v", err)
	}
	fsys := fstest.MapFS{}
	for _, name := range []string{"mail/layout.txt", "mail/layout.html", "mail/reset_password.txt", "mail/reset_password.html",
		"mail/signup_notice.txt", "mail/signup_notice.html", "mail/factors_changed.txt", "mail/factors_changed.html", "mail/verify_email.html",
		"mail/link_account.txt", "mail/link_account.html"} {
		b, err := templates.FS.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		fsys[name] = &fstest.MapFile{Data: b}
	}
	fsys["mail/verify_email.txt"] = &fstest.MapFile{Data: []byte(`{{define "subject"}}{{.T "mail.verify.subjekt"}}{{end}}{{define "body"}}{{.Link}}{{end}}`)}
	mt, err = identity.ParseMailTemplates(fsys)
	if err != nil {
		t.Fatal(err)
	}
	if err := mt.Check(cat); err == nil || !strings.Contains(err.Error(), "mail/verify_email.txt") || !strings.Contains(err.Error(), "mail.verify.subjekt") {
		t.Errorf("Check of a mail with an unknown key = %v", err)
	}
}

// TestRefusalsAreTranslatable: identity's sentinel errors carry their
// sentence for pages (i18n.Localizer.Error), also when wrapped, and keep
// their English text and identity for errors.Is.
func TestRefusalsAreTranslatable(t *testing.T) {
	cat, err := i18n.Load(i18n.Options{})
	if err != nil {
		t.Fatal(err)
	}
	de := cat.Localizer(language.German)
	for _, tc := range []struct {
		err  error
		want string
	}{
		{identity.ErrInvalidCredentials, "E-Mail-Adresse oder Passwort ist falsch."},
		{identity.ErrInvalidEmail, "Geben Sie eine gültige E-Mail-Adresse ein, zum Beispiel name@example.com."},
		{identity.ErrDisabled, "Dieses Konto ist deaktiviert. Wenden Sie sich an den Administrator."},
		{identity.ErrInvalidToken, "Der Link ist abgelaufen oder wurde bereits verwendet."},
		{identity.ErrEmailTaken, "Diese E-Mail-Adresse ist bereits registriert."},
	} {
		wrapped := errors.Join(errors.New("context"), tc.err)
		if got, ok := de.Error(wrapped); !ok || got != tc.want {
			t.Errorf("de.Error(%v) = %q, %v; want %q", tc.err, got, ok, tc.want)
		}
		if !errors.Is(wrapped, tc.err) {
			t.Errorf("errors.Is(wrapped, %v) = false", tc.err)
		}
	}
	if identity.ErrInvalidCredentials.Error() != "invalid e-mail or password" {
		t.Errorf("ErrInvalidCredentials.Error() = %q: the APIs and logs show this text", identity.ErrInvalidCredentials.Error())
	}
	// A refused sign-up names every field; the first refusal's sentence is
	// what Error finds.
	err = identity.ValidateSignUp(identity.SignUpInput{Email: "nope", Password: "short"})
	if got, ok := de.Error(err); !ok || got != "Geben Sie eine gültige E-Mail-Adresse ein, zum Beispiel name@example.com." {
		t.Errorf("de.Error(sign-up refusal) = %q, %v", got, ok)
	}
}
