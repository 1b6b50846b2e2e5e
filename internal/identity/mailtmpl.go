package identity

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/branding"
	"github.com/gatehouse-id/gatehouse/internal/i18n"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/templates"
)

// The mails the service sends; each is mail/<name>.txt (defining "subject"
// and "body") and mail/<name>.html (defining "body") in the templates, wrapped
// in mail/layout.txt ("text") and mail/layout.html ("html").
const (
	mailVerifyEmail   = "verify_email"
	mailResetPassword = "reset_password"
	mailSignUpNotice  = "signup_notice"
	mailFactors       = "factors_changed"
	mailLinkAccount   = "link_account"
)

// mailNames lists every mail ParseMailTemplates insists on.
func mailNames() []string {
	return []string{mailVerifyEmail, mailResetPassword, mailSignUpNotice, mailFactors, mailLinkAccount}
}

// MailTemplates are the parsed mail bodies. Build them with ParseMailTemplates.
type MailTemplates struct {
	text map[string]*texttemplate.Template
	html map[string]*htmltemplate.Template
}

// MailData is what every mail template gets.
type MailData struct {
	// Brand is the branding in force, with the logo as an absolute URL.
	Brand MailBrand
	// Name is the person's name; "" when unknown.
	Name string
	// Email is the address the mail goes to.
	Email string
	// Action is the words of the mail's button, and Link where it leads.
	Action, Link string
	// Expires says how long Link works, as "30 minutes" or "48 hours" in the
	// mail's language; "" when it does not expire.
	Expires string
	// ForgotLink is the forgot-password page (sign-up notice).
	ForgotLink string
	// Change says which sign-in method changed (factors_changed): totp_added,
	// totp_removed, passkey_added, passkey_removed, factor_added,
	// factor_removed, recovery_codes or reset; the mail shows the message
	// mail.factors.<Change>. When is the time of the change, in UTC.
	Change, When string
	// Provider is the upstream identity provider's name (link_account).
	Provider string
	loc      *i18n.Localizer
}

// T returns the message key in the mail's language, with args as name, value
// pairs ({{.T "mail.verify.outro" "Expires" .Expires "Product" .Brand.ProductName}}),
// or an error that stops the mail from being sent half written.
func (d MailData) T(key string, args ...any) (string, error) {
	if d.loc == nil {
		return "", fmt.Errorf("message %q: mail data has no localizer", key)
	}
	return d.loc.T(key, args...)
}

// Parts is T split around the argument arg, for a mail that marks it up (a
// link in a sentence).
func (d MailData) Parts(key, arg string, args ...any) (i18n.Parts, error) {
	if d.loc == nil {
		return i18n.Parts{}, fmt.Errorf("message %q: mail data has no localizer", key)
	}
	return d.loc.Parts(key, arg, args...)
}

// Lang is the mail's language (BCP 47), for <html lang>.
func (d MailData) Lang() string {
	if d.loc == nil {
		return "en"
	}
	return d.loc.Lang()
}

// MailBrand is the branding as mail shows it.
type MailBrand struct {
	ProductName string
	// LogoURL is absolute (a path on this server is resolved against the
	// issuer); "" for none.
	LogoURL string
	// PrimaryColor and OnPrimaryColor colour the button: #rrggbb.
	PrimaryColor, OnPrimaryColor string
	SupportURL                   string
	SupportIsMail                bool
}

// ParseMailTemplates parses every mail from fsys (templates.FS, or an Overlay
// with an operator's files in front). It fails when a mail is missing, does not
// parse or lacks "subject" or "body", so that a broken file refuses start-up
// instead of a mail.
func ParseMailTemplates(fsys fs.FS) (*MailTemplates, error) {
	m := &MailTemplates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	var problems []string
	for _, name := range mailNames() {
		txt, err := texttemplate.New(name).ParseFS(fsys, "mail/layout.txt", "mail/"+name+".txt")
		if err != nil {
			problems = append(problems, err.Error())
		} else {
			for _, def := range []string{"text", "subject", "body"} {
				if txt.Lookup(def) == nil {
					problems = append(problems, fmt.Sprintf("mail/%s.txt (or mail/layout.txt) does not define %q", name, def))
				}
			}
			m.text[name] = txt
		}
		html, err := htmltemplate.New(name).ParseFS(fsys, "mail/layout.html", "mail/"+name+".html")
		if err == nil {
			// The HTML's <title> is the subject, from the text template.
			_, err = html.New("subject").Parse(`{{define "subject"}}{{.Subject}}{{end}}`)
		}
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		for _, def := range []string{"html", "body"} {
			if html.Lookup(def) == nil {
				problems = append(problems, fmt.Sprintf("mail/%s.html (or mail/layout.html) does not define %q", name, def))
			}
		}
		m.html[name] = html
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("mail templates: %s", strings.Join(problems, "; "))
	}
	return m, nil
}

// Check refuses mail templates that use a message key the catalogue lacks,
// naming the file, so that a mail that could not be written is found at
// start-up.
func (m *MailTemplates) Check(c *i18n.Catalogue) error {
	var problems []string
	for _, name := range mailNames() {
		if err := c.CheckTextTemplate(m.text[name]); err != nil {
			problems = append(problems, fmt.Sprintf("mail/%s.txt (or mail/layout.txt): %v", name, err))
		}
		if err := c.CheckTemplate(m.html[name]); err != nil {
			problems = append(problems, fmt.Sprintf("mail/%s.html (or mail/layout.html): %v", name, err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("mail templates: %s", strings.Join(problems, "; "))
	}
	return nil
}

// builtinCatalogue loads the built-in message catalogues, which tests prove
// sound.
func builtinCatalogue() *i18n.Catalogue {
	c, err := i18n.Load(i18n.Options{})
	if err != nil {
		panic(err)
	}
	return c
}

// builtinMail parses the built-in mail templates, which tests prove sound.
func builtinMail() *MailTemplates {
	m, err := ParseMailTemplates(templates.FS)
	if err != nil {
		panic(err)
	}
	return m
}

// htmlData is MailData for the HTML body, with the subject already rendered.
type htmlData struct {
	MailData
	Subject string
}

// render renders mail name with d: subject, plain text and HTML.
func (m *MailTemplates) render(name string, d MailData) (subject, text, html string, err error) {
	txt, ok := m.text[name]
	if !ok {
		return "", "", "", fmt.Errorf("no mail template %q", name)
	}
	var b bytes.Buffer
	if err := txt.ExecuteTemplate(&b, "subject", d); err != nil {
		return "", "", "", fmt.Errorf("render %s subject: %w", name, err)
	}
	// One line: a subject is a header.
	subject = strings.Join(strings.Fields(b.String()), " ")
	if subject == "" {
		return "", "", "", errors.New("render " + name + ": empty subject")
	}
	b.Reset()
	if err := txt.ExecuteTemplate(&b, "text", d); err != nil {
		return "", "", "", fmt.Errorf("render %s text: %w", name, err)
	}
	text = b.String()
	b.Reset()
	if err := m.html[name].ExecuteTemplate(&b, "html", htmlData{d, subject}); err != nil {
		return "", "", "", fmt.Errorf("render %s html: %w", name, err)
	}
	return subject, text, b.String(), nil
}

// BrandSource gives the branding in force; *branding.Service is one.
type BrandSource interface {
	Current(ctx context.Context) (branding.Brand, error)
}

// mailBrand is the branding for a mail now: from the source when there is
// one (its last known or configured branding if the database cannot answer),
// else the built-in defaults.
func (s *Service) mailBrand(ctx context.Context) MailBrand {
	b := branding.Defaults()
	if s.brand != nil {
		var err error
		if b, err = s.brand.Current(ctx); err != nil {
			s.log.WarnContext(ctx, "mail branding from memory", "error", err.Error())
		}
	}
	logo := ""
	if b.LogoURL != "" {
		logo = branding.AbsoluteURL(s.base, b.LogoURL)
	}
	return MailBrand{
		ProductName: b.ProductName, LogoURL: logo, PrimaryColor: b.Light.Primary, OnPrimaryColor: b.Light.OnPrimary,
		SupportURL: b.SupportURL, SupportIsMail: b.SupportIsMail(),
	}
}

// compose renders mail name to u, branded, from d, in the language of the
// page that caused it (i18n.FromContext), else in u's saved locale: the
// button says actionKey's message, and the link works for ttl (0: it does
// not expire).
func (s *Service) compose(ctx context.Context, name string, u storage.User, actionKey string, ttl time.Duration, d MailData) (Mail, error) {
	loc, ok := i18n.FromContext(ctx)
	if !ok {
		loc = s.catalogue.For(i18n.Preferences{Saved: u.Locale})
	}
	to := u.Email
	d.loc = loc
	d.Brand = s.mailBrand(ctx)
	d.Email = to
	d.Name = strings.TrimSpace(u.Name)
	d.Action = loc.Text(actionKey)
	if ttl > 0 {
		d.Expires = humanDuration(loc, ttl)
	}
	subject, text, html, err := s.mailTmpl.render(name, d)
	if err != nil {
		return Mail{}, fmt.Errorf("render mail: %w", err)
	}
	return Mail{To: to, Subject: subject, Text: text, HTML: html}, nil
}
