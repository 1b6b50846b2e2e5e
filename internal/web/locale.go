package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/gatehouse-id/gatehouse/internal/i18n"
)

// The language of a page (internal/i18n chooses it): the ui_locales of the
// authorization request the page serves, then the signed-in user's saved
// locale, then Accept-Language, then English. The pages find ui_locales in the
// request itself (the authorization or logout request, or ?ui_locales= on any
// page) or in the authorization request its continue parameter resumes, which
// the sign-in, sign-up, consent and account detours all carry.

// T returns the message key in the page's language, with args as name, value
// pairs ({{.T "scope.other" "Scope" .Name}}), or an error that stops the page
// from rendering (an unknown key, a missing argument): the error page shows
// instead. Templates call it as {{.T "key"}}, or {{$.T "key"}} inside range
// and with.
func (l Layout) T(key string, args ...any) (string, error) {
	if l.loc == nil {
		return "", fmt.Errorf("message %q: page data has no localizer (build its Layout with Pages.layout)", key)
	}
	return l.loc.T(key, args...)
}

// Parts is T split around the argument arg, for a template that marks it up:
// {{with .Parts "signin.continue_to" "App"}}{{.Before}}<strong>{{$.ClientName}}</strong>{{.After}}{{end}}.
func (l Layout) Parts(key, arg string, args ...any) (i18n.Parts, error) {
	if l.loc == nil {
		return i18n.Parts{}, fmt.Errorf("message %q: page data has no localizer (build its Layout with Pages.layout)", key)
	}
	return l.loc.Parts(key, arg, args...)
}

// text is T for Go code: it never fails (i18n.Localizer.Text).
func (l Layout) text(key string, args ...any) string { return l.loc.Text(key, args...) }

// errorText is the sentence err carries for a person (an identity refusal),
// in the page's language, or the message fallbackKey when it carries none.
func (l Layout) errorText(err error, fallbackKey string) string {
	if s, ok := l.loc.Error(err); ok {
		return s
	}
	return l.loc.Text(fallbackKey)
}

// field gives f the page's language, for the words the "field" template adds.
func (l Layout) field(f Field) Field {
	f.loc = l.loc
	return f
}

// localeKey marks a request context whose language is chosen by a localeMemo.
type localeKey struct{}

// localeMemo chooses a request's language once, when first asked.
type localeMemo struct {
	mu     sync.Mutex
	loc    *i18n.Localizer
	choose func(saved bool) *i18n.Localizer
}

func (m *localeMemo) get() *i18n.Localizer {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loc == nil {
		m.loc = m.choose(true)
	}
	return m.loc
}

// quick returns the chosen language, or chooses one without the saved locale,
// which takes a database read, and does not remember it.
func (m *localeMemo) quick() *i18n.Localizer {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loc != nil {
		return m.loc
	}
	return m.choose(false)
}

// withLocale returns r with a context that chooses its language once, when a
// page or a service (the mail it sends, through i18n.FromContext) first asks.
// uiLocales, when set, is the ui_locales to use (the consent page of a pushed
// request, whose own URL has none). A request that has a choice keeps it.
func (p *Pages) withLocale(r *http.Request, uiLocales string) *http.Request {
	if r.Context().Value(localeKey{}) != nil {
		return r
	}
	// Parse the form now, so that the request the choice reads and the one the
	// handler gets share it, whichever parses first.
	r.ParseForm()
	req := r
	m := &localeMemo{choose: func(saved bool) *i18n.Localizer { return p.chooseLocalizer(req, uiLocales, saved) }}
	ctx := context.WithValue(r.Context(), localeKey{}, m)
	ctx = i18n.WithLocalizer(ctx, m.get)
	return r.WithContext(ctx)
}

// localizer returns the language of r's page.
func (p *Pages) localizer(r *http.Request) *i18n.Localizer {
	if m, ok := r.Context().Value(localeKey{}).(*localeMemo); ok {
		return m.get()
	}
	return p.chooseLocalizer(r, "", true)
}

// failureLocalizer is localizer for a page that reports a failure: it reads
// the database for the saved locale only if the request's language is chosen
// already, so that an outage's error page does not wait on the database again.
func (p *Pages) failureLocalizer(r *http.Request) *i18n.Localizer {
	if m, ok := r.Context().Value(localeKey{}).(*localeMemo); ok {
		return m.quick()
	}
	return p.chooseLocalizer(r, "", false)
}

func (p *Pages) chooseLocalizer(r *http.Request, uiLocales string, saved bool) *i18n.Localizer {
	if uiLocales == "" {
		uiLocales = p.uiLocales(r)
	}
	pref := i18n.Preferences{UILocales: uiLocales, AcceptLanguage: r.Header.Get("Accept-Language")}
	if _, ok := p.catalogue.MatchUILocales(uiLocales); !ok && saved {
		// Only a signed-in browser has a saved locale; without a session
		// cookie this reads nothing.
		if _, u, err := p.currentUser(r); err == nil && u != nil {
			pref.Saved = u.Locale
		}
	}
	return p.catalogue.For(pref)
}

// uiLocales returns the request's own ui_locales, or that of the authorization
// request its continue parameter resumes.
func (p *Pages) uiLocales(r *http.Request) string {
	if v := r.FormValue("ui_locales"); v != "" {
		return v
	}
	return uiLocalesOf(p.continueTarget(r.FormValue("continue")))
}

// uiLocalesOf returns the ui_locales of an authorization URL.
func uiLocalesOf(authorizeURL string) string {
	if authorizeURL == "" {
		return ""
	}
	u, err := url.Parse(authorizeURL)
	if err != nil {
		return ""
	}
	return u.Query().Get("ui_locales")
}

// checkMessages refuses templates that use a message key the catalogue lacks.
func checkMessages(r *renderer, cat *i18n.Catalogue) error {
	names := make([]string, 0, len(r.pages))
	for name := range r.pages {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		if err := cat.CheckTemplate(r.pages[name]); err != nil {
			errs = append(errs, fmt.Errorf("%s.html: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// describeScope says in plain words, in l's language, what a scope lets the
// application do.
func describeScope(l *i18n.Localizer, s string) string {
	switch s {
	case "openid":
		return l.Text("scope.openid")
	case "profile":
		return l.Text("scope.profile")
	case "email":
		return l.Text("scope.email")
	case "offline_access":
		return l.Text("scope.offline_access")
	}
	return l.Text("scope.other", "Scope", s)
}

// languageOptions are the choices of the account page's language list: the
// browser's language (no saved locale), then every supported language, each
// in its own words ("Deutsch", "Français"); a saved locale that no catalogue
// has (set through the admin API) stays a choice, so that saving the profile
// does not drop it. current is the saved locale.
func (p *Pages) languageOptions(l Layout, current string) []Option {
	opts := []Option{{Value: "", Label: l.text("field.language_auto"), Selected: current == ""}}
	found := current == ""
	for _, tag := range p.catalogue.Languages() {
		v := tag.String()
		selected := strings.EqualFold(v, current)
		found = found || selected
		opts = append(opts, Option{Value: v, Label: languageName(tag), Lang: v, Selected: selected})
	}
	if !found {
		label := current
		if tag, err := language.Parse(current); err == nil {
			label = languageName(tag)
		}
		opts = append(opts, Option{Value: current, Label: label, Selected: true})
	}
	return opts
}

// languageName is a language's name for itself, with a capital first letter
// as a list item has it: "Deutsch", "Português (Brasil)".
func languageName(tag language.Tag) string {
	name := display.Self.Name(tag)
	if name == "" {
		return tag.String()
	}
	// A tag that names its region (pt-BR) says so: "português (Brasil)".
	if region, conf := tag.Region(); conf == language.Exact {
		base, _ := tag.Base()
		if n, r := display.Self.Name(language.Make(base.String())), display.Regions(tag).Name(region); n != "" && r != "" && !strings.Contains(name, "(") {
			name = n + " (" + r + ")"
		}
	}
	r, size := utf8.DecodeRuneInString(name)
	return string(unicode.ToUpper(r)) + name[size:]
}
