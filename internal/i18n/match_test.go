package i18n

import (
	"strings"
	"testing"
)

// TestMatch: ui_locales, then the saved locale, then Accept-Language, then
// English; only supported languages count at each step.
func TestMatch(t *testing.T) {
	c := builtin(t)
	for _, tc := range []struct {
		name string
		p    Preferences
		want string
	}{
		{"nothing", Preferences{}, "en"},
		{"ui_locales first", Preferences{UILocales: "fr", Saved: "de", AcceptLanguage: "es"}, "fr"},
		{"ui_locales in order", Preferences{UILocales: "es fr"}, "es"},
		{"ui_locales skips an unsupported tag", Preferences{UILocales: "it fr", Saved: "de"}, "fr"},
		{"ui_locales all unsupported: saved", Preferences{UILocales: "it ja", Saved: "de", AcceptLanguage: "es"}, "de"},
		{"ui_locales garbage: saved", Preferences{UILocales: "!!! 12345678901", Saved: "de"}, "de"},
		{"ui_locales extra spaces", Preferences{UILocales: "  de   fr "}, "de"},
		{"saved before Accept-Language", Preferences{Saved: "pt-BR", AcceptLanguage: "de"}, "pt-BR"},
		{"saved unsupported: Accept-Language", Preferences{Saved: "ja", AcceptLanguage: "de"}, "de"},
		{"saved garbage: Accept-Language", Preferences{Saved: "not a tag", AcceptLanguage: "fr"}, "fr"},
		{"Accept-Language q-values", Preferences{AcceptLanguage: "fr;q=0.5, de;q=0.9, en;q=0.1"}, "de"},
		{"Accept-Language order on equal q", Preferences{AcceptLanguage: "es, fr"}, "es"},
		{"Accept-Language q=0 refuses", Preferences{AcceptLanguage: "de;q=0, fr;q=0.2"}, "fr"},
		{"Accept-Language unsupported first", Preferences{AcceptLanguage: "ja, it;q=0.9, es;q=0.8"}, "es"},
		{"Accept-Language one bad entry", Preferences{AcceptLanguage: "de;q=abc, fr;q=0.5"}, "fr"},
		{"Accept-Language q over 1", Preferences{AcceptLanguage: "de;q=2, es;q=0.3"}, "es"},
		{"Accept-Language star", Preferences{AcceptLanguage: "*"}, "en"},
		{"Accept-Language garbage", Preferences{AcceptLanguage: "garbage!!,;;=,"}, "en"},
		{"Accept-Language unsupported only", Preferences{AcceptLanguage: "ja, zh-CN;q=0.8"}, "en"},
		{"region of English", Preferences{AcceptLanguage: "en-GB"}, "en"},
		{"pt reads pt-BR", Preferences{UILocales: "pt"}, "pt-BR"},
		{"pt-PT reads pt-BR", Preferences{AcceptLanguage: "pt-PT"}, "pt-BR"},
		{"pt-BR case-insensitive", Preferences{UILocales: "pt-br"}, "pt-BR"},
		{"de-AT reads de", Preferences{Saved: "de-AT"}, "de"},
		{"de-CH reads de", Preferences{AcceptLanguage: "de-CH"}, "de"},
		{"es-MX reads es", Preferences{UILocales: "es-MX"}, "es"},
		{"es-419 reads es", Preferences{AcceptLanguage: "es-419"}, "es"},
		{"fr-CA reads fr", Preferences{AcceptLanguage: "fr-CA,fr;q=0.9"}, "fr"},
		{"pt-PT before English", Preferences{AcceptLanguage: "pt-PT, en;q=0.9"}, "pt-BR"},
		{"overlong header ignored", Preferences{AcceptLanguage: strings.Repeat("de-DE-x-abcdefgh,", 100)}, "en"},
		{"overlong ui_locales ignored", Preferences{UILocales: strings.Repeat("x", 2000), Saved: "fr"}, "fr"},
		{"overlong tag skipped", Preferences{UILocales: "de-" + strings.Repeat("x-abcdefgh-", 10) + " fr"}, "fr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.Match(tc.p).String(); got != tc.want {
				t.Errorf("Match(%+v) = %s, want %s", tc.p, got, tc.want)
			}
		})
	}
}

func TestMatchUILocales(t *testing.T) {
	c := builtin(t)
	if tag, ok := c.MatchUILocales("ja de"); !ok || tag.String() != "de" {
		t.Errorf("MatchUILocales(ja de) = %s, %v; want de, true", tag, ok)
	}
	for _, in := range []string{"", "ja", "!!"} {
		if tag, ok := c.MatchUILocales(in); ok {
			t.Errorf("MatchUILocales(%q) = %s, true; want false", in, tag)
		}
	}
}
