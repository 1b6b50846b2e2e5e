package identity_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/gatehouse-id/gatehouse/internal/branding"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/templates"
)

func strPtr(s string) *string { return &s }

// sendEveryMail makes f's service send each mail it knows to ada@example.com:
// a verification, a password reset and a sign-up notice. It returns them in
// that order.
func sendEveryMail(t *testing.T, f *fixture) []identity.Mail {
	t.Helper()
	ctx := t.Context()
	u, err := f.svc.CreateUser(ctx, identity.SignUpInput{Email: "ada@example.com", Password: "correct horse battery staple", Name: "Ada Lovelace"}, false)
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if err := f.svc.SendVerification(ctx, u, ""); err != nil {
		t.Fatalf("SendVerification: %v", err)
	}
	if err := f.svc.RequestPasswordReset(ctx, u.Email, ""); err != nil {
		t.Fatalf("RequestPasswordReset: %v", err)
	}
	if _, err := f.svc.SignUp(ctx, identity.SignUpInput{Email: u.Email, Password: "another fine password here"}, ""); err != nil {
		t.Fatalf("SignUp with a taken address: %v", err)
	}
	mails := f.mail.all()
	if len(mails) != 3 {
		t.Fatalf("%d mails, want 3 (verification, reset, sign-up notice)", len(mails))
	}
	return mails
}

// TestEveryMailIsBranded: every mail, in text and HTML, carries the branding
// set through the branding service (here an admin change over the
// configuration): product name in the subject and body, the logo (a path on
// this server, made absolute), the button in the primary colour with the text
// colour drawn for it, and the support link.
func TestEveryMailIsBranded(t *testing.T) {
	f := newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "mail.db"))
	brand, err := branding.New(f.store, branding.Options{Defaults: branding.Settings{ProductName: strPtr("Configured Name")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := brand.Set(t.Context(), branding.Settings{
		ProductName: strPtr("Acme ID"), LogoURL: strPtr("/static/acme.svg"), PrimaryColor: strPtr("#FFCC00"),
		SupportURL: strPtr("mailto:help@acme.example"),
	}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	f.svc = f.service(f.store, func(o *identity.Options) { o.Branding = brand })

	for i, m := range sendEveryMail(t, f) {
		name := []string{"verification", "reset", "sign-up notice"}[i]
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(m.Subject, "Acme ID") || strings.ContainsAny(m.Subject, "\r\n") {
				t.Errorf("subject %q, want the product name on one line", m.Subject)
			}
			for _, part := range []struct{ name, body string }{{"text", m.Text}, {"HTML", m.HTML}} {
				if strings.Contains(part.body, "Gatehouse") || strings.Contains(part.body, "Configured Name") {
					t.Errorf("%s names Gatehouse or the configured name, not the branding:\n%s", part.name, part.body)
				}
				if !strings.Contains(part.body, "Acme ID") || !strings.Contains(part.body, "mailto:help@acme.example") {
					t.Errorf("%s lacks the product name or the support link:\n%s", part.name, part.body)
				}
				if !strings.Contains(part.body, "Hello Ada Lovelace,") {
					t.Errorf("%s does not greet the person by name:\n%s", part.name, part.body)
				}
			}
			doc, err := html.Parse(strings.NewReader(m.HTML))
			if err != nil {
				t.Fatal(err)
			}
			imgs := find(doc, func(n *html.Node) bool { return n.Data == "img" })
			if len(imgs) != 1 || attrOf(imgs[0], "src") != "https://id.example.com/static/acme.svg" || attrOf(imgs[0], "alt") != "Acme ID" {
				t.Errorf("HTML logo = %v, want one img of https://id.example.com/static/acme.svg named Acme ID", imgs)
			}
			var button *html.Node
			for _, a := range find(doc, func(n *html.Node) bool { return n.Data == "a" }) {
				if strings.Contains(attrOf(a, "style"), "background") {
					button = a
				}
			}
			if button == nil {
				t.Fatalf("HTML has no button:\n%s", m.HTML)
			}
			// #ffcc00 is light: the text on it is black (13.4:1).
			if style := attrOf(button, "style"); !strings.Contains(style, "background: #ffcc00") || !strings.Contains(style, "color: #000000") {
				t.Errorf("button style %q, want the primary colour #ffcc00 with black text", style)
			}
			if !strings.HasPrefix(attrOf(button, "href"), "https://id.example.com/") {
				t.Errorf("button href %q, want a link to the issuer", attrOf(button, "href"))
			}
			if title := find(doc, func(n *html.Node) bool { return n.Data == "title" }); len(title) != 1 || title[0].FirstChild == nil || title[0].FirstChild.Data != m.Subject {
				t.Errorf("HTML title is not the subject %q", m.Subject)
			}
		})
	}
}

// TestMailDefaultBranding: with no branding source, mail says Gatehouse and
// uses the default colour, and shows no logo or support link.
func TestMailDefaultBranding(t *testing.T) {
	f := newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "mail.db"))
	for _, m := range sendEveryMail(t, f) {
		if !strings.Contains(m.Subject, "Gatehouse") || !strings.Contains(m.Text, "\n-- \nGatehouse\n") {
			t.Errorf("mail %q lacks the default product name and signature:\n%s", m.Subject, m.Text)
		}
		if !strings.Contains(m.HTML, "background: #1d4ed8") || strings.Contains(m.HTML, "<img") || strings.Contains(m.HTML, "support") {
			t.Errorf("mail %q: want the default colour, no logo and no support link:\n%s", m.Subject, m.HTML)
		}
	}
}

// TestMailTemplatesOverride: an operator's directory with one mail file
// changes that file only; the others stay built in.
func TestMailTemplatesOverride(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "mail/reset_password.txt", `{{define "subject"}}Password help from {{.Brand.ProductName}}{{end}}
{{define "body"}}Dear {{.Name}}, use {{.Link}} within {{.Expires}}.{{end}}`)
	fsys, err := templates.Overlay(dir)
	if err != nil {
		t.Fatal(err)
	}
	mt, err := identity.ParseMailTemplates(fsys)
	if err != nil {
		t.Fatalf("ParseMailTemplates: %v", err)
	}
	f := newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "mail.db"), func(o *identity.Options) { o.MailTemplates = mt })
	mails := sendEveryMail(t, f)
	verify, reset, notice := mails[0], mails[1], mails[2]
	if reset.Subject != "Password help from Gatehouse" || !strings.HasPrefix(reset.Text, "Dear Ada Lovelace, use https://id.example.com/reset-password?token=") ||
		!strings.Contains(reset.Text, "within 30 minutes.\n\n-- \nGatehouse") {
		t.Errorf("reset mail from the operator's file: %q\n%s", reset.Subject, reset.Text)
	}
	if !strings.Contains(reset.HTML, "Choose a new password") {
		t.Errorf("the reset mail's HTML is not the built-in one:\n%s", reset.HTML)
	}
	if verify.Subject != "Verify your e-mail address for Gatehouse" || notice.Subject != "Someone tried to sign up for Gatehouse with your e-mail address" {
		t.Errorf("other mails changed: %q, %q", verify.Subject, notice.Subject)
	}
}

// TestParseMailTemplatesRefusesBrokenFiles: a mail file that does not parse,
// or lacks a part, is refused with its name, so that start-up fails instead of
// a mail.
func TestParseMailTemplatesRefusesBrokenFiles(t *testing.T) {
	if _, err := identity.ParseMailTemplates(templates.FS); err != nil {
		t.Fatalf("built-in mail templates: %v", err)
	}
	for _, tc := range []struct{ name, file, content, want string }{
		{"syntax", "mail/verify_email.html", `{{define "body"}}{{.Link`, "verify_email.html"},
		{"no subject", "mail/signup_notice.txt", `{{define "body"}}hello{{end}}`, `mail/signup_notice.txt (or mail/layout.txt) does not define "subject"`},
		{"unknown field", "mail/reset_password.txt", `{{define "subject"}}x{{end}}{{define "body"}}{{.Nope}}{{end}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, tc.file, tc.content)
			fsys, err := templates.Overlay(dir)
			if err != nil {
				t.Fatal(err)
			}
			mt, err := identity.ParseMailTemplates(fsys)
			if tc.want == "" {
				// Parses; the mistake shows when the mail is rendered, and
				// the send fails instead of mailing a broken body.
				if err != nil {
					t.Fatalf("ParseMailTemplates: %v", err)
				}
				f := newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "mail.db"), func(o *identity.Options) { o.MailTemplates = mt })
				u, err := f.svc.CreateUser(t.Context(), identity.SignUpInput{Email: "ada@example.com", Password: "correct horse battery staple"}, true)
				if err != nil {
					t.Fatal(err)
				}
				if err := f.svc.RequestPasswordReset(t.Context(), u.Email, ""); err != nil {
					t.Fatal(err)
				}
				if n := len(f.mail.all()); n != 0 {
					t.Errorf("%d mails sent from a template that cannot render", n)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ParseMailTemplates = %v, want an error naming %q", err, tc.want)
			}
		})
	}
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func find(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	if n.Type == html.ElementNode && match(n) {
		out = append(out, n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		out = append(out, find(c, match)...)
	}
	return out
}

func attrOf(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
