package i18n

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/text/language"
)

// shipped are the languages Gatehouse ships complete.
var shipped = []string{"en", "de", "es", "fr", "pt-BR"}

func builtin(t *testing.T) *Catalogue {
	t.Helper()
	c, err := Load(Options{})
	if err != nil {
		t.Fatalf("Load built-ins: %v", err)
	}
	return c
}

func TestBuiltinCatalogues(t *testing.T) {
	c := builtin(t)
	if got := c.Tags(); !slices.Equal(got, shipped) {
		t.Errorf("Tags() = %q, want %q", got, shipped)
	}
	if w := c.Warnings(); len(w) > 0 {
		t.Errorf("built-in catalogues have warnings:\n%s", strings.Join(w, "\n"))
	}
	if len(c.Keys()) == 0 {
		t.Fatal("no keys")
	}
}

// TestEveryKeyInEveryLanguage: every shipped language has exactly English's
// keys, none missing and none stray.
func TestEveryKeyInEveryLanguage(t *testing.T) {
	c := builtin(t)
	english := c.Keys()
	for _, lang := range shipped[1:] {
		t.Run(lang, func(t *testing.T) {
			have := sortedKeys(c.msgs[language.MustParse(lang)])
			for _, k := range english {
				if !slices.Contains(have, k) {
					t.Errorf("%s lacks %q", lang, k)
				}
			}
			for _, k := range have {
				if !slices.Contains(english, k) {
					t.Errorf("%s has stray key %q, which English does not have", lang, k)
				}
			}
		})
	}
}

// TestPlaceholdersMatchEnglish: each translation uses exactly the arguments of
// its English message, so none shows "<no value>" and none drops a value.
func TestPlaceholdersMatchEnglish(t *testing.T) {
	c := builtin(t)
	en := c.msgs[language.English]
	for _, lang := range shipped[1:] {
		tag := language.MustParse(lang)
		for _, key := range c.Keys() {
			m := c.msgs[tag][key]
			if m == nil {
				continue // TestEveryKeyInEveryLanguage reports it
			}
			want, err := messageFields(en[key])
			if err != nil {
				t.Fatalf("en %s: %v", key, err)
			}
			got, err := messageFields(m)
			if err != nil {
				t.Errorf("%s %s: %v", lang, key, err)
				continue
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s %s uses %s, English uses %s", lang, key, fieldList(got), fieldList(want))
			}
		}
	}
}

// TestPluralForms: every plural message of every shipped language has the
// forms its language's CLDR rules use, and renders every count from 0 to 1000.
func TestPluralForms(t *testing.T) {
	c := builtin(t)
	en := c.msgs[language.English]
	for _, lang := range shipped {
		tag := language.MustParse(lang)
		forms := c.pluralForms(tag)
		if !slices.Contains(forms, "other") {
			t.Fatalf("%s: plural forms %q lack other", lang, forms)
		}
		l := c.Localizer(tag)
		for _, key := range c.Keys() {
			if !isPlural(en[key]) {
				continue
			}
			m := c.msgs[tag][key]
			have := map[string]string{"zero": m.Zero, "one": m.One, "two": m.Two, "few": m.Few, "many": m.Many, "other": m.Other}
			for _, f := range forms {
				if have[f] == "" {
					t.Errorf("%s %s lacks the plural form %q", lang, key, f)
				}
			}
			fields, _ := messageFields(en[key])
			for n := 0; n <= 1000; n++ {
				args := Args{"Count": n}
				for _, f := range fields {
					if f != "Count" {
						args[f] = "x"
					}
				}
				s, err := l.T(key, args)
				if err != nil || s == "" {
					t.Fatalf("%s T(%q, Count=%d) = %q, %v", lang, key, n, s, err)
				}
			}
		}
	}
	// The probe sees the rules that differ: French and Portuguese say "one"
	// for 0, English and German "other".
	for _, tc := range []struct {
		lang string
		want []string
	}{{"en", []string{"one", "other"}}, {"de", []string{"one", "other"}}, {"fr", []string{"one", "other"}}} {
		if got := c.pluralForms(language.MustParse(tc.lang)); !slices.Equal(got, tc.want) {
			t.Errorf("pluralForms(%s) = %q, want %q", tc.lang, got, tc.want)
		}
	}
	for _, tc := range []struct {
		lang string
		n    int
		want string
	}{
		{"en", 0, "Use at least 0 characters."},
		{"en", 1, "Use at least 1 character."},
		{"fr", 0, "Utilisez au moins 0 caractère."},
		{"fr", 2, "Utilisez au moins 2 caractères."},
		{"pt-BR", 1, "Use pelo menos 1 caractere."},
		{"es", 8, "Use al menos 8 caracteres."},
	} {
		if got := c.Localizer(language.MustParse(tc.lang)).Text("password.too_short", "Count", tc.n); got != tc.want {
			t.Errorf("%s password.too_short Count=%d: %q, want %q", tc.lang, tc.n, got, tc.want)
		}
	}
}

// TestOperatorOverrideAndAddedLanguage: an operator's directory overrides single
// messages key by key, adds a language (whose missing keys show in English),
// and may add keys of its own.
func TestOperatorOverrideAndAddedLanguage(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("de.json", `{"scope.email": "Ihre Mailadresse lesen"}`)
	write("it.yaml", "scope.email: Vedere il tuo indirizzo e-mail\nbrand:\n  tagline: Accedi con Esempio\n")
	write("en.json", `{"brand.tagline": "Sign in with Example", "scope.openid": "Know it is you"}`)
	write("README.txt", "not a catalogue")
	c, err := Load(Options{Dir: os.DirFS(dir)})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got, want := c.Tags(), append(slices.Clone(shipped), "it"); !slices.Equal(got, want) {
		t.Errorf("Tags() = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		lang, key, want string
	}{
		{"de", "scope.email", "Ihre Mailadresse lesen"},                 // overridden
		{"de", "scope.profile", "Ihren Namen und Ihr Profilbild sehen"}, // the rest stays
		{"en", "scope.openid", "Know it is you"},                        // English overridden too
		{"en", "scope.email", "See your e-mail address"},
		{"it", "scope.email", "Vedere il tuo indirizzo e-mail"}, // added language, nested YAML
		{"it", "brand.tagline", "Accedi con Esempio"},
		{"it", "scope.profile", "See your name and profile picture"}, // missing: English
		{"de", "brand.tagline", "Sign in with Example"},              // the operator's own key
	} {
		if got, err := c.Localizer(language.MustParse(tc.lang)).T(tc.key); err != nil || got != tc.want {
			t.Errorf("%s T(%q) = %q, %v; want %q", tc.lang, tc.key, got, err, tc.want)
		}
	}
	if got := c.Match(Preferences{AcceptLanguage: "it-CH, de;q=0.5"}); got != language.Italian {
		t.Errorf("Match(it-CH) = %s, want it", got)
	}
	w := strings.Join(c.Warnings(), "\n")
	for _, want := range []string{"README.txt: ignored", "it: ", "messages missing, shown in English"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	// The operator's own key lacks its German, Spanish, … so those show it in
	// English, which the operator should hear about.
	if !strings.Contains(w, fmt.Sprintf("de: 1 of %d messages missing, shown in English: brand.tagline", len(c.Keys()))) {
		t.Errorf("warnings do not name the German the operator's key lacks:\n%s", w)
	}
}

// TestOperatorFilesRefused: what would break a page refuses to load, naming
// the file or key.
func TestOperatorFilesRefused(t *testing.T) {
	for _, tc := range []struct {
		name, file, body, want string
	}{
		{"broken JSON", "de.json", `{"scope.email": `, "de.json"},
		{"not a language tag", "german.json", `{}`, "german.json: the file name must be a language tag"},
		{"unknown argument", "fr.json", `{"scope.other": "Accès : {{.Scop}}"}`, "fr: scope.other: uses {{.Scop}}"},
		{"argument in a message without", "es.json", `{"scope.email": "Ver {{.Email}}"}`, "es: scope.email: uses {{.Email}}"},
		{"English override with a new argument", "en.json", `{"scope.email": "See {{.Address}}"}`, "en: scope.email: uses {{.Address}}"},
		{"template syntax", "de.json", `{"scope.email": "Ihre {{.Scope"}`, "de: scope.email"},
		{"mixed keys", "de.json", `{"scope.email": {"other": "x", "foo": "y"}}`, "de.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(Options{Dir: fstest.MapFS{tc.file: {Data: []byte(tc.body)}}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestOperatorPluralFormsWarned(t *testing.T) {
	// Polish needs one, few and many; the operator gave "other" only.
	c, err := Load(Options{Dir: fstest.MapFS{"pl.json": {Data: []byte(`{"password.too_short": {"other": "Użyj co najmniej {{.Count}} znaków."}}`)}}})
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(c.Warnings(), "\n")
	if !strings.Contains(w, "pl: password.too_short: plural forms one, few, many missing") {
		t.Errorf("warnings:\n%s", w)
	}
	// It still renders, with the form it has.
	if got := c.Localizer(language.Polish).Text("password.too_short", "Count", 3); got != "Użyj co najmniej 3 znaków." {
		t.Errorf("pl Count=3: %q", got)
	}
}
