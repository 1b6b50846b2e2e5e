package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestServeLocales: serve loads locales_dir after the built-in messages,
// advertises every language in discovery's ui_locales_supported, speaks an
// added language, and logs what that language lacks.
func TestServeLocales(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"it.json": `{"scope.email": "Vedere il tuo indirizzo e-mail"}`,
		"de.json": `{"scope.email": "Ihre Mailadresse lesen"}`,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := startServe(t, map[string]string{"GATEHOUSE_LOCALES_DIR": dir}, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data"))
	_, body := waitFor(t, s, "/.well-known/openid-configuration", 30*time.Second, statusIs(http.StatusOK))
	var meta struct {
		UILocales []string `json:"ui_locales_supported"`
	}
	if err := json.Unmarshal(body, &meta); err != nil {
		t.Fatal(err)
	}
	if want := []string{"en", "de", "es", "fr", "pt-BR", "it"}; !slices.Equal(meta.UILocales, want) {
		t.Errorf("ui_locales_supported = %q, want %q", meta.UILocales, want)
	}
	req, _ := http.NewRequest(http.MethodGet, s.base+"/signin", nil)
	req.Header.Set("Accept-Language", "it-IT,it;q=0.9,en;q=0.5")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `<html lang="it">`) {
		t.Errorf("GET /signin in Italian: want <html lang=\"it\">, got\n%s", page)
	}
	if log := s.log.String(); !strings.Contains(log, `"msg":"locales"`) || !strings.Contains(log, "it: ") || !strings.Contains(log, "messages missing, shown in English") {
		t.Errorf("log does not say what Italian lacks:\n%s", log)
	}
}

// TestServeBuiltinLocales: without locales_dir, discovery lists the shipped
// languages and serve logs no locale warnings.
func TestServeBuiltinLocales(t *testing.T) {
	s := startServe(t, nil, "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "data"))
	_, body := waitFor(t, s, "/.well-known/openid-configuration", 30*time.Second, statusIs(http.StatusOK))
	var meta struct {
		UILocales []string `json:"ui_locales_supported"`
	}
	if err := json.Unmarshal(body, &meta); err != nil {
		t.Fatal(err)
	}
	if want := []string{"en", "de", "es", "fr", "pt-BR"}; !slices.Equal(meta.UILocales, want) {
		t.Errorf("ui_locales_supported = %q, want %q", meta.UILocales, want)
	}
	if strings.Contains(s.log.String(), `"msg":"locales"`) {
		t.Errorf("built-in messages logged warnings:\n%s", s.log)
	}
}

// TestServeRefusesBrokenLocales: a message file that would break a page stops
// serve before it listens, naming the file or the key.
func TestServeRefusesBrokenLocales(t *testing.T) {
	for _, tc := range []struct {
		name, file, body, want string
	}{
		{"unknown argument", "fr.json", `{"scope.other": "Accès : {{.Nom}}"}`, "fr: scope.other: uses {{.Nom}}"},
		{"not JSON", "es.json", `{"scope.email": `, "es.json"},
		{"not a language tag", "spanish.json", `{}`, "spanish.json: the file name must be a language tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runCLI(t, map[string]string{"GATEHOUSE_LOCALES_DIR": dir}, "serve", "--addr", "127.0.0.1:0", "--admin-addr", "", "--data-dir", filepath.Join(t.TempDir(), "data"))
			if r.code == 0 || !strings.Contains(r.output(), tc.want) || !strings.Contains(r.output(), "locales_dir") {
				t.Errorf("serve with %s: exit %d, output %q; want a failure naming locales_dir and %q", tc.file, r.code, r.output(), tc.want)
			}
			if strings.Contains(r.output(), `"msg":"listening"`) {
				t.Errorf("serve listened before refusing the messages")
			}
		})
	}
	// A locales_dir that does not exist is refused too.
	r := runCLI(t, map[string]string{"GATEHOUSE_LOCALES_DIR": filepath.Join(t.TempDir(), "none")}, "serve", "--addr", "127.0.0.1:0", "--admin-addr", "", "--data-dir", filepath.Join(t.TempDir(), "data"))
	if r.code == 0 || !strings.Contains(r.output(), "read locales directory") {
		t.Errorf("serve with a missing locales_dir: exit %d, output %q", r.code, r.output())
	}
}
