package web

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/text/language"

	"github.com/gatehouse-id/gatehouse/internal/i18n"
	"github.com/gatehouse-id/gatehouse/templates"
)

func TestCSPSources(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string
	}{
		{"https origin", []string{"https://App.example.com/cb?x=1"}, []string{"https://app.example.com"}},
		{"port kept", []string{"https://app.example.com:8443/cb"}, []string{"https://app.example.com:8443"}},
		{"deduplicated", []string{"https://a.example/1", "https://a.example/2"}, []string{"https://a.example"}},
		{"loopback any port", []string{"http://127.0.0.1:5000/cb", "http://[::1]/cb"}, []string{"http://127.0.0.1:*", "http://[::1]:*"}},
		{"private-use scheme", []string{"com.example.app:/callback"}, []string{"com.example.app:"}},
		{"directive injection", []string{"https://a.example;script-src *", "https://a.example/ 'unsafe-inline'"}, []string{"https://a.example"}},
		{"junk", []string{"", "not a url", "https://"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := cspSources(tc.in...); !slices.Equal(got, tc.want) {
				t.Errorf("cspSources(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestDescribeScope(t *testing.T) {
	cat, err := i18n.Load(i18n.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for lang, want := range map[string]map[string]string{
		"en": {
			"openid": "Know who you are", "profile": "See your name and profile picture", "email": "See your e-mail address",
			"offline_access": "Stay signed in to the app when you are away", "billing:read": "Use: billing:read",
		},
		"de": {
			"openid": "Wissen, wer Sie sind", "profile": "Ihren Namen und Ihr Profilbild sehen", "email": "Ihre E-Mail-Adresse sehen",
			"offline_access": "Angemeldet bleiben, auch wenn Sie die App gerade nicht nutzen", "billing:read": "Zugriff: billing:read",
		},
	} {
		l := cat.Localizer(language.MustParse(lang))
		for in, want := range want {
			if got := describeScope(l, in); got != want {
				t.Errorf("%s: describeScope(%q) = %q, want %q", lang, in, got, want)
			}
		}
	}
	// Every language describes every scope discovery lists, and none falls
	// back to the key.
	for _, tag := range cat.Languages() {
		for _, s := range []string{"openid", "profile", "email", "offline_access", "x"} {
			if got := describeScope(cat.Localizer(tag), s); got == "" || strings.HasPrefix(got, "scope.") {
				t.Errorf("%s: describeScope(%q) = %q", tag, s, got)
			}
		}
	}
}

// TestTemplatesUseKnownMessages: New refuses templates that use a message key
// no catalogue has, naming the page and the key.
func TestTemplatesUseKnownMessages(t *testing.T) {
	cat, err := i18n.Load(i18n.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := parseTemplates(templates.FS)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkMessages(r, cat); err != nil {
		t.Errorf("built-in templates: %v", err)
	}
	fsys := fstest.MapFS{}
	for _, name := range append(requiredPages(), "base") {
		b, err := fs.ReadFile(templates.FS, name+".html")
		if err != nil {
			t.Fatal(err)
		}
		fsys[name+".html"] = &fstest.MapFile{Data: b}
	}
	fsys["static/gatehouse.css"] = &fstest.MapFile{}
	fsys["consent.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}<h1>{{.T "consent.no_such_title"}}</h1>{{range .Scopes}}{{$.T "scope.email"}}{{end}}{{end}}`)}
	r, err = parseTemplates(fsys)
	if err != nil {
		t.Fatal(err)
	}
	err = checkMessages(r, cat)
	if err == nil || !strings.Contains(err.Error(), "consent.html: uses messages that no catalogue has: consent.no_such_title") {
		t.Errorf("checkMessages = %v, want consent.html and its unknown key named", err)
	}
}

func TestParseTemplatesRefusesMissingPage(t *testing.T) {
	if _, err := parseTemplates(templates.FS); err != nil {
		t.Fatalf("embedded templates: %v", err)
	}
	fsys := fstest.MapFS{}
	for _, name := range []string{"base.html", "static/gatehouse.css"} {
		b, _ := templates.FS.ReadFile(name)
		fsys[name] = &fstest.MapFile{Data: b}
	}
	for _, page := range requiredPages() {
		if page == pageConsent {
			continue
		}
		b, _ := templates.FS.ReadFile(page + ".html")
		fsys[page+".html"] = &fstest.MapFile{Data: b}
	}
	_, err := parseTemplates(fsys)
	if err == nil || !strings.Contains(err.Error(), "consent.html") {
		t.Errorf("parseTemplates without consent.html = %v, want an error naming it", err)
	}
	fsys["consent.html"] = &fstest.MapFile{Data: []byte(`{{define "content"}}{{.Nope}`)}
	if _, err := parseTemplates(fsys); err == nil {
		t.Errorf("parseTemplates accepted a broken page")
	}
}

// testLocalizer is the built-in catalogue's localizer of lang.
func testLocalizer(t *testing.T, lang string) *i18n.Localizer {
	t.Helper()
	c, err := i18n.Load(i18n.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Localizer(language.MustParse(lang))
}

func TestDevice(t *testing.T) {
	en, de := testLocalizer(t, "en"), testLocalizer(t, "de")
	if got, want := device(de, "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0"), "Firefox unter Linux"; got != want {
		t.Errorf("device(de, Firefox on Linux) = %q, want %q", got, want)
	}
	for ua, want := range map[string]string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36":                   "Chrome on Linux",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1": "Safari on iOS",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0":                                    "Firefox on Windows",
		"": "Unknown browser",
	} {
		if got := device(en, ua); got != want {
			t.Errorf("device(%q) = %q, want %q", ua, got, want)
		}
	}
}

func TestClientLabel(t *testing.T) {
	en := testLocalizer(t, "en")
	if got, want := clientLabel(testLocalizer(t, "fr"), "", "", nil), "Une application sans nom"; got != want {
		t.Errorf("clientLabel(fr, unnamed) = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		name, home string
		redirects  []string
		want       string
	}{
		{"Notes", "https://notes.example.org/", nil, "Notes"},
		{"  ", "https://Notes.Example.org:8443/home", []string{"https://cb.example/cb"}, "notes.example.org"},
		{"", "", []string{"https://App.Example.com/callback"}, "app.example.com"},
		{"", "not a url", []string{"http://127.0.0.1:5000/cb"}, "127.0.0.1"},
		{"", "", []string{"com.example.app:/callback"}, "com.example.app"},
		{"", "", []string{"myapp:/cb"}, "An unnamed application"},
		{"", "", nil, "An unnamed application"},
	} {
		if got := clientLabel(en, tc.name, tc.home, tc.redirects); got != tc.want {
			t.Errorf("clientLabel(%q, %q, %q) = %q, want %q", tc.name, tc.home, tc.redirects, got, tc.want)
		}
	}
}
