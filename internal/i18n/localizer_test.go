package i18n

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/text/language"
)

func TestT(t *testing.T) {
	c := builtin(t)
	de := c.Localizer(language.German)
	for _, tc := range []struct {
		name string
		l    *Localizer
		key  string
		args []any
		want string
	}{
		{"plain", de, "scope.email", nil, "Ihre E-Mail-Adresse sehen"},
		{"pairs", de, "scope.other", []any{"Scope", "billing:read"}, "Zugriff: billing:read"},
		{"Args", de, "scope.other", []any{Args{"Scope": "x"}}, "Zugriff: x"},
		{"plural one", de, "throttle.mail", []any{"Count", 1}, "Es wurden zu viele E-Mails angefordert. Versuchen Sie es in 1 Minute erneut."},
		{"plural other", de, "throttle.mail", []any{"Count", 5}, "Es wurden zu viele E-Mails angefordert. Versuchen Sie es in 5 Minuten erneut."},
		{"English", c.Localizer(language.English), "throttle.address", []any{"Count", 1}, "Too many attempts from your network. Try again in 1 minute."},
		{"no escaping here", de, "scope.other", []any{"Scope", "<b>&"}, "Zugriff: <b>&"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.l.T(tc.key, tc.args...)
			if err != nil || got != tc.want {
				t.Errorf("T(%q, %v) = %q, %v; want %q", tc.key, tc.args, got, err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		key  string
		args []any
		want string
	}{
		{"unknown key", "signin.no_such_key", nil, "no such key"},
		{"missing argument", "scope.other", nil, "Scope"},
		{"odd arguments", "scope.other", []any{"Scope"}, "pairs"},
		{"name not a string", "scope.other", []any{1, "x"}, "want a name"},
		{"bad count", "throttle.mail", []any{"Count", "many"}, "throttle.mail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := de.T(tc.key, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("T(%q, %v) = %q, %v; want an error with %q", tc.key, tc.args, got, err, tc.want)
			}
		})
	}
}

func TestTextShowsKeyAndLogs(t *testing.T) {
	var logs bytes.Buffer
	c, err := Load(Options{Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Localizer(language.French).Text("nope.missing"); got != "nope.missing" {
		t.Errorf("Text(unknown) = %q, want the key", got)
	}
	if !strings.Contains(logs.String(), "nope.missing") {
		t.Errorf("log lacks the key: %s", logs.String())
	}
}

// TestHTMLTemplateEscapes: a message and its arguments are text; html/template
// escapes them in every context a page uses.
func TestHTMLTemplateEscapes(t *testing.T) {
	c, err := Load(Options{Dir: fstest.MapFS{"en.json": {Data: []byte(`{"test.markup": "<i>Hi</i> {{.Name}}"}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	type page struct{ l *Localizer }
	tmpl := htmltemplate.Must(htmltemplate.New("p").Funcs(htmltemplate.FuncMap{
		"T": func(l *Localizer, key string, args ...any) (string, error) { return l.T(key, args...) },
	}).Parse(`<p title="{{T .L "test.markup" "Name" .Name}}">{{T .L "test.markup" "Name" .Name}}</p>`))
	var buf bytes.Buffer
	err = tmpl.Execute(&buf, struct {
		L    *Localizer
		Name string
	}{c.Localizer(language.English), `"><script>alert(1)</script>`})
	if err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	if strings.Contains(got, "<script>") || strings.Contains(got, "<i>") {
		t.Errorf("not escaped: %s", got)
	}
	if !strings.Contains(got, "&lt;i&gt;Hi&lt;/i&gt; &#34;&gt;&lt;script&gt;") {
		t.Errorf("unexpected escaping: %s", got)
	}
}

func TestLocalizerFallsBackToServingLanguage(t *testing.T) {
	c := builtin(t)
	for in, want := range map[string]string{"pt-PT": "pt-BR", "de-AT": "de", "ja": "en", "en-GB": "en"} {
		if got := c.Localizer(language.MustParse(in)).Lang(); got != want {
			t.Errorf("Localizer(%s).Lang() = %s, want %s", in, got, want)
		}
	}
}

func TestDir(t *testing.T) {
	c, err := Load(Options{Dir: fstest.MapFS{
		"ar.json": {Data: []byte(`{"scope.email": "رؤية عنوان بريدك الإلكتروني"}`)},
		"he.json": {Data: []byte(`{"scope.email": "לראות את כתובת הדוא״ל שלך"}`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for lang, want := range map[string]string{"ar": "rtl", "he": "rtl", "en": "ltr", "de": "ltr", "pt-BR": "ltr"} {
		if got := c.Localizer(language.MustParse(lang)).Dir(); got != want {
			t.Errorf("Dir(%s) = %s, want %s", lang, got, want)
		}
	}
}

type keyedError struct {
	key  string
	args map[string]any
}

func (e *keyedError) Error() string               { return "english for logs" }
func (e *keyedError) MessageKey() string          { return e.key }
func (e *keyedError) MessageArgs() map[string]any { return e.args }

func TestError(t *testing.T) {
	c := builtin(t)
	es := c.Localizer(language.Spanish)
	wrapped := fmt.Errorf("sign up: %w", &keyedError{"password.too_short", map[string]any{"Count": 8}})
	if got, ok := es.Error(wrapped); !ok || got != "Use al menos 8 caracteres." {
		t.Errorf("Error(wrapped) = %q, %v", got, ok)
	}
	if got, ok := es.Error(errors.New("plain")); ok {
		t.Errorf("Error(plain) = %q, true; want false", got)
	}
	if got, ok := es.Error(&keyedError{"no.such", nil}); ok {
		t.Errorf("Error(unknown key) = %q, true; want false", got)
	}
}

func TestFromContextChoosesOnce(t *testing.T) {
	c := builtin(t)
	if _, ok := FromContext(t.Context()); ok {
		t.Fatal("FromContext of a bare context: ok")
	}
	calls := 0
	ctx := WithLocalizer(t.Context(), func() *Localizer { calls++; return c.Localizer(language.French) })
	if calls != 0 {
		t.Fatalf("chosen before asked: %d calls", calls)
	}
	for range 3 {
		l, ok := FromContext(ctx)
		if !ok || l.Lang() != "fr" {
			t.Fatalf("FromContext = %v, %v", l, ok)
		}
	}
	if calls != 1 {
		t.Errorf("get called %d times, want 1", calls)
	}
	var _ context.Context = ctx
}

// BenchmarkT is one message with a plural argument, as pages ask for dozens.
func BenchmarkT(b *testing.B) {
	c, err := Load(Options{})
	if err != nil {
		b.Fatal(err)
	}
	l := c.Localizer(language.BrazilianPortuguese)
	for b.Loop() {
		if _, err := l.T("throttle.account", "Count", 15); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMatch is the language choice of one request.
func BenchmarkMatch(b *testing.B) {
	c, err := Load(Options{})
	if err != nil {
		b.Fatal(err)
	}
	p := Preferences{UILocales: "ja", Saved: "", AcceptLanguage: "pt-PT,pt;q=0.9,en-GB;q=0.8,en;q=0.7"}
	for b.Loop() {
		c.Match(p)
	}
}

// TestParts: a message split around one argument keeps each language's word
// order; an operator's translation without the argument shows whole; an
// unknown key fails as T does; templates' Parts calls are checked keys.
func TestParts(t *testing.T) {
	c := builtin(t)
	for _, tc := range []struct {
		lang, before, after string
	}{
		{"en", "to continue to ", ""},
		{"de", "um mit ", " fortzufahren"},
		{"pt-BR", "para continuar em ", ""},
	} {
		got, err := c.Localizer(language.MustParse(tc.lang)).Parts("signin.continue_to", "App")
		if err != nil || got.Before != tc.before || got.After != tc.after {
			t.Errorf("%s Parts(signin.continue_to) = %+v, %v; want %q, %q", tc.lang, got, err, tc.before, tc.after)
		}
	}
	if _, err := c.Localizer(language.English).Parts("signin.continue_too", "App"); err == nil {
		t.Error("Parts of an unknown key: want an error")
	}
	op, err := Load(Options{Dir: fstest.MapFS{"fr.json": {Data: []byte(`{"signin.continue_to": "pour continuer"}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := op.Localizer(language.French).Parts("signin.continue_to", "App"); err != nil || got.Before != "pour continuer " || got.After != "" {
		t.Errorf("Parts of a translation without the argument = %+v, %v", got, err)
	}
	tmpl := htmltemplate.Must(htmltemplate.New("p").Parse(`{{with .Parts "signin.continue_to" "App"}}{{.Before}}{{end}}{{.Parts "no.such_key" "X"}}`))
	if err := c.CheckTemplate(tmpl); err == nil || !strings.Contains(err.Error(), "no.such_key") || strings.Contains(err.Error(), "signin.continue_to") {
		t.Errorf("CheckTemplate of Parts calls = %v, want no.such_key named alone", err)
	}
}
