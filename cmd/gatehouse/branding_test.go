package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/templates"
)

// TestServeBranding: the branding keys reach every page; a PUT to
// /admin/branding shows on the next page without a restart; templates_dir
// replaces one page while the built-in ones serve the rest, and its static
// files are served.
func TestServeBranding(t *testing.T) {
	token := strings.Repeat("t", 40)
	signin, err := templates.FS.ReadFile("signin.html")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeTemplate(t, dir, "signin.html", strings.Replace(string(signin), `<h1>{{.T "signin.title"}}</h1>`, `<h1>{{.T "signin.title"}}</h1><p id="operator-note">Acme staff only.</p>`, 1))
	writeTemplate(t, dir, "static/acme.svg", `<svg xmlns="http://www.w3.org/2000/svg"/>`)
	s := startServe(t, map[string]string{
		"GATEHOUSE_ADMIN_TOKENS":           token,
		"GATEHOUSE_TEMPLATES_DIR":          dir,
		"GATEHOUSE_BRANDING_PRODUCT_NAME":  "Acme ID",
		"GATEHOUSE_BRANDING_LOGO_URL":      "/static/acme.svg",
		"GATEHOUSE_BRANDING_PRIMARY_COLOR": "#0b7a3b",
		"GATEHOUSE_BRANDING_SUPPORT_URL":   "mailto:help@acme.example",
	}, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))

	_, body := waitFor(t, s, "/signin", 10*time.Second, statusIs(http.StatusOK))
	page := string(body)
	for _, want := range []string{"<title>Sign in · Acme ID</title>", `id="brand-logo" src="/static/acme.svg"`, `href="mailto:help@acme.example" id="support-link"`, `id="operator-note"`} {
		if !strings.Contains(page, want) {
			t.Errorf("/signin lacks %s:\n%s", want, page)
		}
	}
	if _, body := waitFor(t, s, "/signup", 10*time.Second, statusIs(http.StatusOK)); strings.Contains(string(body), "operator-note") || !strings.Contains(string(body), "· Acme ID</title>") {
		t.Errorf("/signup is not the built-in page, branded:\n%s", body)
	}
	if _, body := waitFor(t, s, "/static/acme.svg", 10*time.Second, statusIs(http.StatusOK)); !strings.Contains(string(body), "<svg") {
		t.Errorf("the operator's static file is not served")
	}

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, s.admin+"/admin/branding", strings.NewReader(`{"product_name":"Acme Accounts"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), `"product_name":"Acme Accounts"`) || !strings.Contains(string(b), `"primary_color":"#0b7a3b"`) {
		t.Fatalf("PUT /admin/branding = %d %s", res.StatusCode, b)
	}
	if _, body := waitFor(t, s, "/signin", 10*time.Second, statusIs(http.StatusOK)); !strings.Contains(string(body), "<title>Sign in · Acme Accounts</title>") {
		t.Errorf("/signin after the admin change:\n%s", body)
	}
}

// TestServeRefusesBrokenTemplates: serve does not start when a page or mail
// file in templates_dir does not parse, and says which; a templates_dir that
// does not exist is refused too.
func TestServeRefusesBrokenTemplates(t *testing.T) {
	for _, tc := range []struct{ name, file, content, want string }{
		{"page", "consent.html", `{{define "content"}}{{.Nope}`, "consent.html"},
		{"mail", "mail/verify_email.txt", `{{define "subject"}}{{if}}{{end}}`, "verify_email.txt"},
		{"missing dir", "", "", "templates_dir"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.file != "" {
				writeTemplate(t, dir, tc.file, tc.content)
			} else {
				dir = filepath.Join(dir, "nowhere")
			}
			r := runCLI(t, map[string]string{"GATEHOUSE_TEMPLATES_DIR": dir}, "serve", "--addr", "127.0.0.1:0", "--admin-addr", "", "--data-dir", t.TempDir())
			if r.code == 0 || !strings.Contains(r.output(), tc.want) {
				t.Errorf("serve with a broken %s = exit %d, want a failure naming %q:\n%s", tc.name, r.code, tc.want, r.output())
			}
		})
	}
}

func writeTemplate(t *testing.T, dir, name, content string) {
	t.Helper()
	path := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
