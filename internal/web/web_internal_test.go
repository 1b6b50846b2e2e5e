package web

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

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
	for in, want := range map[string]string{
		"openid": "Know who you are", "profile": "See your name and profile picture", "email": "See your e-mail address",
		"offline_access": "Stay signed in to the app when you are away", "billing:read": "Use: billing:read",
	} {
		if got := describeScope(in); got != want {
			t.Errorf("describeScope(%q) = %q, want %q", in, got, want)
		}
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

func TestDevice(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36":                   "Chrome on Linux",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1": "Safari on iOS",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0":                                    "Firefox on Windows",
		"": "Unknown browser",
	} {
		if got := device(ua); got != want {
			t.Errorf("device(%q) = %q, want %q", ua, got, want)
		}
	}
}
