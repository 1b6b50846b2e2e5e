package i18n

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Localizer translates messages into one language. Get one from
// Catalogue.Localizer or Catalogue.For; it is safe for concurrent use.
type Localizer struct {
	c   *Catalogue
	tag language.Tag
}

// Localizer returns the localizer of tag, or of the supported language that
// serves it best (English when none does).
func (c *Catalogue) Localizer(tag language.Tag) *Localizer {
	if _, ok := c.localizers[tag]; !ok {
		t, ok := c.matchTags([]language.Tag{tag})
		if !ok {
			t = language.English
		}
		tag = t
	}
	return &Localizer{c: c, tag: tag}
}

// For returns the localizer of the language Match chooses for p.
func (c *Catalogue) For(p Preferences) *Localizer { return c.Localizer(c.Match(p)) }

// Tag returns the language this localizer translates into.
func (l *Localizer) Tag() language.Tag { return l.tag }

// Lang returns the language as a BCP 47 tag, for <html lang> and
// Content-Language.
func (l *Localizer) Lang() string { return l.tag.String() }

// Dir returns "rtl" for a language written right to left (Arabic, Hebrew, …)
// and "ltr" otherwise, for <html dir>.
func (l *Localizer) Dir() string {
	s, _ := l.tag.Script()
	switch s.String() {
	case "Arab", "Hebr", "Thaa", "Syrc", "Nkoo", "Adlm", "Rohg", "Mand", "Samr", "Mend":
		return "rtl"
	}
	return "ltr"
}

// Args are a message's arguments by name; the one named Count also chooses
// the plural form.
type Args map[string]any

// T returns the message key in the localizer's language (in English when the
// language lacks it) with args, given as name, value pairs ("Count", 3,
// "Name", name) or as one Args. It fails when English has no such key, when
// args are malformed, or when the message uses an argument it was not given:
// programming errors, which the tests find and the pages show as an error page
// rather than as a blank or half sentence. The result is plain text for the
// caller to escape; html/template does.
func (l *Localizer) T(key string, args ...any) (string, error) {
	a, err := argsOf(args)
	if err != nil {
		return "", fmt.Errorf("message %q: %w", key, err)
	}
	return l.localize(key, a)
}

// Text is T for Go code that builds a page: on failure it logs the problem and
// returns the key itself, so that a mistake shows as a visible key, never as
// nothing.
func (l *Localizer) Text(key string, args ...any) string {
	s, err := l.T(key, args...)
	if err != nil {
		l.c.log.Error("translate", "lang", l.Lang(), "key", key, "error", err.Error())
		return key
	}
	return s
}

// Parts is a message split around one of its arguments, for a page or mail
// that marks that argument up: a name in <strong>, a link's text. The
// template writes Before, the argument with its markup, then After.
type Parts struct{ Before, After string }

// hole stands for the argument Parts splits around; no message holds it.
const hole = "\x00hole\x00"

// Parts returns the message key, with args as T takes them, split around its
// argument named arg ({{.Parts "signin.continue_to" "App"}} gives "to
// continue to " and ""). It fails as T does. A translation that leaves the
// argument out (an operator's) shows whole, as Before, with the argument
// after it, rather than failing the page.
func (l *Localizer) Parts(key, arg string, args ...any) (Parts, error) {
	a, err := argsOf(args)
	if err != nil {
		return Parts{}, fmt.Errorf("message %q: %w", key, err)
	}
	with := make(map[string]any, len(a)+1)
	for k, v := range a {
		with[k] = v
	}
	with[arg] = hole
	s, err := l.localize(key, with)
	if err != nil {
		return Parts{}, err
	}
	before, after, ok := strings.Cut(s, hole)
	if !ok {
		return Parts{Before: s + " "}, nil
	}
	return Parts{Before: before, After: strings.ReplaceAll(after, hole, "")}, nil
}

// Translatable is a value, usually an error, that carries a message for a
// person: its key and its arguments. internal/identity's errors are.
type Translatable interface {
	MessageKey() string
	MessageArgs() map[string]any
}

// Error returns the message err carries (the first Translatable in its
// chain), translated, and false when it carries none, or one that cannot be
// shown: the caller then shows its own sentence.
func (l *Localizer) Error(err error) (string, bool) {
	var t Translatable
	if !errors.As(err, &t) || t.MessageKey() == "" {
		return "", false
	}
	s, lerr := l.localize(t.MessageKey(), t.MessageArgs())
	if lerr != nil {
		l.c.log.Error("translate", "lang", l.Lang(), "key", t.MessageKey(), "error", lerr.Error())
		return "", false
	}
	return s, true
}

func (l *Localizer) localize(key string, args map[string]any) (string, error) {
	english := l.c.msgs[language.English]
	if english[key] == nil {
		return "", fmt.Errorf("message %q: no such key", key)
	}
	tag := l.tag
	if l.c.msgs[tag][key] == nil {
		tag = language.English
	}
	lc := &goi18n.LocalizeConfig{MessageID: key, TemplateParser: l.c.parser}
	if args != nil {
		lc.TemplateData = args
		if n, ok := args["Count"]; ok {
			lc.PluralCount = n
		}
	} else {
		lc.TemplateData = map[string]any{}
	}
	s, err := l.c.localizers[tag].Localize(lc)
	if err != nil && s == "" {
		return "", fmt.Errorf("message %q in %s: %w", key, tag, err)
	}
	// With s, err is a plural form the language lacks (Load warned of it):
	// go-i18n used "other".
	return s, nil
}

// argsOf reads T's arguments: nothing, one Args (or map), or name, value pairs.
func argsOf(args []any) (map[string]any, error) {
	switch {
	case len(args) == 0:
		return nil, nil
	case len(args) == 1:
		switch m := args[0].(type) {
		case Args:
			return m, nil
		case map[string]any:
			return m, nil
		}
		return nil, fmt.Errorf("want name, value pairs or one Args, got %T", args[0])
	case len(args)%2 != 0:
		return nil, fmt.Errorf("want name, value pairs, got %d values", len(args))
	}
	m := make(map[string]any, len(args)/2)
	for i := 0; i < len(args); i += 2 {
		name, ok := args[i].(string)
		if !ok || name == "" {
			return nil, fmt.Errorf("argument %d: want a name, got %v", i, args[i])
		}
		m[name] = args[i+1]
	}
	return m, nil
}

type contextKey struct{}

// WithLocalizer returns ctx carrying the localizer get returns. get is called
// at most once, when FromContext first asks, so that a request that shows
// nothing does not choose a language (which may take a database read).
func WithLocalizer(ctx context.Context, get func() *Localizer) context.Context {
	return context.WithValue(ctx, contextKey{}, sync.OnceValue(get))
}

// FromContext returns the localizer of ctx's request, if WithLocalizer gave it
// one. Services (e-mails) use it to speak the language of the page that asked.
func FromContext(ctx context.Context) (*Localizer, bool) {
	get, ok := ctx.Value(contextKey{}).(func() *Localizer)
	if !ok {
		return nil, false
	}
	l := get()
	return l, l != nil
}
