package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/csrf"

	"github.com/gatehouse-id/gatehouse/internal/branding"
	"github.com/gatehouse-id/gatehouse/internal/i18n"
	"github.com/gatehouse-id/gatehouse/internal/reqlog"
	"github.com/gatehouse-id/gatehouse/internal/signin"
)

// Page names; each is a file <name>.html that defines "content", rendered inside
// the "base" layout of base.html.
const (
	pageSignIn         = "signin"
	pageSignUp         = "signup"
	pageConsent        = "consent"
	pageSignOutConfirm = "signout_confirm"
	pageSignedOut      = "signed_out"
	pageForgotPassword = "forgot_password"
	pageResetPassword  = "reset_password"
	pageVerifyEmail    = "verify_email"
	pageAccount        = "account"
	pageAccountConfirm = "account_confirm"
	pageError          = "error"
	// pageFederationLink asks the owner of an address to prove the account
	// before an upstream account is linked to it.
	pageFederationLink = "federation_link"
	pageSecondFactor   = "mfa_challenge"
	pageEnrol          = "mfa_enrol"
	pageRecoveryCodes  = "mfa_codes"
	pageMFAConfirm     = "mfa_confirm"
)

// requiredPages lists every page New insists on.
func requiredPages() []string {
	return []string{pageSignIn, pageSignUp, pageConsent, pageSignOutConfirm, pageSignedOut,
		pageForgotPassword, pageResetPassword, pageVerifyEmail, pageAccount, pageAccountConfirm, pageError,
		pageFederationLink, pageSecondFactor, pageEnrol, pageRecoveryCodes, pageMFAConfirm}
}

const stylesheet = "static/gatehouse.css"

// renderer holds the parsed pages; it is built once and only read afterwards.
type renderer struct {
	pages map[string]*template.Template
}

func parseTemplates(fsys fs.FS) (*renderer, error) {
	base, err := template.ParseFS(fsys, "base.html")
	if err != nil {
		return nil, fmt.Errorf("parse base.html: %w", err)
	}
	if base.Lookup("base") == nil {
		return nil, fmt.Errorf("base.html does not define \"base\"")
	}
	r := &renderer{pages: map[string]*template.Template{}}
	var missing []string
	for _, name := range requiredPages() {
		file := name + ".html"
		if _, err := fs.Stat(fsys, file); err != nil {
			missing = append(missing, file)
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", file, err)
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf("%s does not define \"content\"", file)
		}
		r.pages[name] = t
	}
	if _, err := fs.Stat(fsys, stylesheet); err != nil {
		missing = append(missing, stylesheet)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("templates missing: %s", strings.Join(missing, ", "))
	}
	return r, nil
}

// Layout is what every page's data carries for the base layout.
type Layout struct {
	// Title is the page's title, before " · " and the product name.
	Title string
	// Lang is the page's language (BCP 47) and Dir its direction (ltr, rtl),
	// for <html lang dir>; T (locale.go) translates into it.
	Lang, Dir string
	loc       *i18n.Localizer
	// Brand is the branding in force: product name, logo, favicon, support
	// link and the stylesheet with its colours.
	Brand branding.Brand
	// Wide gives the card more room (the account page).
	Wide bool
	// CSRFFieldName and CSRFToken make the hidden field every form carries.
	CSRFFieldName string
	CSRFToken     string
	// Problems fill the error summary (see summarize).
	Problems []Problem
}

// Field is one labelled input, its words (label, hint, error) translated.
// Build it with Layout.field, which gives it the page's language for the
// words the layout adds ("Show", "Error:").
type Field struct {
	ID, Label, Type, Value, Autocomplete, Hint string
	Required                                   bool
	// Options, when set, make the field a list of choices (<select>).
	Options []Option
	// ReadOnly shows the value without letting it change (the e-mail address
	// of a person confirming who they are).
	ReadOnly bool
	// Error is shown under the input and tied to it with aria-describedby.
	Error string
	// FormError ties the input to the error summary, which holds the form's
	// own message (such as "E-mail or password is incorrect.").
	FormError bool
	loc       *i18n.Localizer
}

// Option is one choice of a Field with Options.
type Option struct {
	Value, Label string
	// Lang is the language Label is written in, when it is not the page's
	// (a language's own name for itself).
	Lang     string
	Selected bool
}

// T translates for the "field" template, into the language of the page the
// field was built for (Layout.field).
func (f Field) T(key string, args ...any) (string, error) {
	if f.loc == nil {
		return "", fmt.Errorf("message %q: field %q has no localizer (build it with Layout.field)", key, f.ID)
	}
	return f.loc.T(key, args...)
}

// Invalid reports whether the input is marked aria-invalid.
func (f Field) Invalid() bool { return f.Error != "" || f.FormError }

// DescribedBy lists the ids of the texts that describe the input.
func (f Field) DescribedBy() string {
	var ids []string
	if f.Hint != "" {
		ids = append(ids, f.ID+"-hint")
	}
	if f.Error != "" {
		ids = append(ids, f.ID+"-error")
	}
	if f.FormError {
		ids = append(ids, "error-summary")
	}
	return strings.Join(ids, " ")
}

// layoutOf lets render reach the Layout every page's data embeds.
func (l Layout) layoutOf() Layout { return l }

type hasLayout interface{ layoutOf() Layout }

// layout fills the common part of a page, in the request's language, with
// the message titleKey (and args) as its title and the request's CSRF token
// when the request passed Pages.CSRF.
func (p *Pages) layout(r *http.Request, titleKey string, args ...any) Layout {
	loc := p.localizer(r)
	return p.layoutIn(loc, r, loc.Text(titleKey, args...))
}

// layoutIn fills the common part of a page in the language of loc, with
// title, translated already.
func (p *Pages) layoutIn(loc *i18n.Localizer, r *http.Request, title string) Layout {
	return Layout{Title: title, Lang: loc.Lang(), Dir: loc.Dir(), loc: loc, Brand: p.currentBrand(r), CSRFFieldName: csrfFieldName, CSRFToken: csrf.Token(r)}
}

// currentBrand is the branding in force. When the database cannot tell, the
// page is shown with the last known (or configured) branding, and the cause
// goes on the request's log line.
func (p *Pages) currentBrand(r *http.Request) branding.Brand {
	if p.brand == nil {
		return branding.Defaults()
	}
	b, err := p.brand.Current(r.Context())
	if err != nil && !reqlog.Add(r.Context(), slog.String("branding", err.Error())) {
		p.log.WarnContext(r.Context(), "branding from memory", "error", err.Error())
	}
	return b
}

// renderOptions adjust the headers of one response.
type renderOptions struct {
	// formTargets are origins the page's forms may end up at after redirects
	// (the client's redirect URIs); CSP form-action applies to redirects too.
	formTargets []string
	// images are origins images may come from (the client's logo).
	images []string
}

// render executes the page into a buffer and only then writes the status and
// body, so that a template error never leaves half a page.
func (p *Pages) render(w http.ResponseWriter, r *http.Request, status int, name string, data any, o renderOptions) {
	t, ok := p.tmpl.pages[name]
	if !ok {
		p.log.ErrorContext(r.Context(), "render: unknown page", "page", name, "request_id", requestID(w))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if l, ok := data.(hasLayout); ok {
		// The branding's logo and favicon may live on another origin.
		b := l.layoutOf().Brand
		o.images = append(o.images, cspSources(b.LogoURL, b.FaviconURL)...)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base", data); err != nil {
		p.log.ErrorContext(r.Context(), "render page", "page", name, "error", err.Error(), "request_id", requestID(w))
		if name == pageError {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		p.ErrorPage(w, r, http.StatusInternalServerError, "error.page_failed")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	// The server's default is no-referrer, under which browsers send
	// "Origin: null" with form posts; same-origin keeps Origin (and Referer)
	// for our own forms, which the CSRF and logout checks rely on, and still
	// sends nothing to other sites.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Content-Security-Policy", contentSecurityPolicy(o))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// contentSecurityPolicy is the server's policy, widened only where a page needs
// it: form-action for the client a form ends up redirecting to (browsers apply
// form-action to every redirect after a form post), img-src for a client's logo.
func contentSecurityPolicy(o renderOptions) string {
	img := ""
	if len(o.images) > 0 {
		img = "; img-src 'self' " + strings.Join(o.images, " ")
	}
	return "default-src 'self'" + img + "; frame-ancestors 'none'; base-uri 'none'; form-action " +
		strings.Join(append([]string{"'self'"}, o.formTargets...), " ")
}

// cspSources turns URLs into CSP source expressions: the origin for http(s)
// (any port for a loopback address, as RFC 8252 §7.3 lets native apps pick
// one), the scheme for a private-use scheme. Anything odd is left out.
func cspSources(uris ...string) []string {
	var out []string
	seen := map[string]bool{}
	for _, raw := range uris {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme == "" {
			continue
		}
		var src string
		switch scheme := strings.ToLower(u.Scheme); scheme {
		case "http", "https":
			if u.Host == "" {
				continue
			}
			src = scheme + "://" + strings.ToLower(u.Host)
			if h := u.Hostname(); h == "127.0.0.1" || h == "::1" || h == "localhost" {
				src = scheme + "://" + strings.ToLower(hostForCSP(h)) + ":*"
			}
		default:
			src = scheme + ":"
		}
		if !cspSafe(src) || seen[src] {
			continue
		}
		seen[src] = true
		out = append(out, src)
	}
	return out
}

func hostForCSP(h string) string {
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

// cspSafe keeps a source expression from ending the directive or the policy.
func cspSafe(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune(":/.-+[]*", c)) {
			return false
		}
	}
	return true
}

// staticHandler serves static/ from the templates' file system, without
// directory listings.
func staticHandler(fsys fs.FS) (http.Handler, error) {
	sub, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}
	files := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	}), nil
}

// Static serves GET /static/…: the stylesheet and any file of static/ (an
// operator's templates_dir may add some, such as a logo).
func (p *Pages) Static() http.Handler { return p.static }

// BrandingStylesheet serves GET /static/branding.css: the colours drawn from
// the branding's primary colour as CSS custom properties, linked after
// gatehouse.css by every page. A same-origin stylesheet keeps the
// Content-Security-Policy free of inline style. The pages link it with the
// branding's version (?v=…): that URL may be kept for good, since a change
// gives the pages a new one; any other is revalidated.
func (p *Pages) BrandingStylesheet() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := p.currentBrand(r)
		h := w.Header()
		h.Set("Content-Type", "text/css; charset=utf-8")
		if v := r.URL.Query().Get("v"); v != "" && v == b.Version() {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "no-cache")
		}
		h.Set("ETag", `"`+b.Version()+`"`)
		if match := r.Header.Get("If-None-Match"); match == `"`+b.Version()+`"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Write(b.Stylesheet())
	})
}

// faviconFile is the browser tab's icon, in the templates' static files.
const faviconFile = "static/favicon.ico"

// Favicon serves GET /favicon.ico, which browsers ask for on their own when a
// page names no icon. It is the one place the icon comes from: the branding's
// favicon_url when one is set (pages link it too), else the templates' icon.
func (p *Pages) Favicon() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := p.currentBrand(r).FaviconURL; u != "" {
			http.Redirect(w, r, u, http.StatusFound)
			return
		}
		b, err := fs.ReadFile(p.files, faviconFile)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/x-icon")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		http.ServeContent(w, r, "favicon.ico", time.Time{}, bytes.NewReader(b))
	})
}

// ErrorData is the error page's data.
type ErrorData struct {
	Layout
	Heading   string
	Message   string
	RequestID string
	// RetryURL starts again what failed (an expired form: the form again,
	// with what it carried); "" offers none.
	RetryURL string
	// BackName and BackURL lead back to the application the person came
	// from (its home page, client_uri), when it is known and has one.
	BackName, BackURL string
}

// errorExtras are the ways on that an error page offers besides the account
// page.
type errorExtras struct {
	retry string
	// args fill the message's placeholders ("Provider", name, …).
	args []any
	// client is the application the page is shown for, when known.
	client *signin.ClientInfo
}

// ErrorPage renders the error page with status and one plain sentence, the
// message messageKey of the catalogue (such as "error.signin_link_invalid"),
// in the request's language; it has the signature of oauth.ErrorPageFunc. A
// key the catalogue lacks is a programming error: it is logged, and the page
// says error.go_back instead. The page names the request id (from the
// X-Request-Id response header) and never shows internal detail. When the
// request's context names the client (signin.WithClient), the page offers a
// way back to it. It reads nothing else from the request and asks the database
// nothing, so it serves requests refused for bad input and outages alike.
func (p *Pages) ErrorPage(w http.ResponseWriter, r *http.Request, status int, messageKey string) {
	var x errorExtras
	if c, ok := signin.ClientFrom(r.Context()); ok {
		x.client = &c
	}
	p.errorPage(w, r, status, messageKey, x)
}

func (p *Pages) errorPage(w http.ResponseWriter, r *http.Request, status int, messageKey string, x errorExtras) {
	heading := "error.heading.generic"
	switch {
	case status == http.StatusNotFound:
		heading = "error.heading.not_found"
	case status == http.StatusForbidden:
		heading = "error.heading.refused"
	case status == http.StatusTooManyRequests:
		heading = "error.heading.too_many"
	case status >= 400 && status < 500:
		heading = "error.heading.invalid"
	}
	if !p.catalogue.Has(messageKey) {
		if messageKey != "" {
			p.log.ErrorContext(r.Context(), "error page: no such message", "key", messageKey, "request_id", requestID(w))
		}
		messageKey = "error.go_back"
	}
	var loc *i18n.Localizer
	if status >= 500 {
		loc = p.failureLocalizer(r)
	} else {
		loc = p.localizer(r)
	}
	title := loc.Text(heading)
	d := ErrorData{Layout: p.layoutIn(loc, r, title), Heading: title, Message: loc.Text(messageKey, x.args...), RequestID: requestID(w), RetryURL: x.retry}
	if x.client != nil {
		if home := webURL(x.client.ClientURI); home != "" {
			d.BackName, d.BackURL = clientLabel(loc, x.client.Name, home, nil), home
		}
	}
	p.render(w, r, status, pageError, d, renderOptions{})
}
