package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// spaDir holds the single-page app and, once `npm ci --prefix
// cmd/gatehouse/testdata/js` ran, the oidc-client-ts package it is built on.
const spaDir = "testdata/js"

// TestBrowserSPA: a single-page app on a second loopback origin, built on the
// real oidc-client-ts, signs a person in with the code flow and PKCE as a public
// client, reads userinfo, refreshes and revokes, each by fetch across origins
// (CORS). The same page served from an origin no client allows can read none of
// the responses, not even with a valid access token.
func TestBrowserSPA(t *testing.T) {
	chromium := chromiumPath(t)
	lib := filepath.Join(spaDir, "node_modules", "oidc-client-ts", "dist", "browser", "oidc-client-ts.min.js")
	if _, err := os.Stat(lib); err != nil {
		msg := "oidc-client-ts is not installed: run npm ci --prefix cmd/gatehouse/testdata/js (" + err.Error() + ")"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Run("sqlite", func(t *testing.T) { spaFlow(t, chromium, lib, nil) })
	t.Run("postgres", func(t *testing.T) {
		spaFlow(t, chromium, lib, map[string]string{"DATABASE_URL": storagetest.NewPostgresDatabase(t), "GATEHOUSE_SECRETS_SYSTEM": storagetest.TestSecret})
	})
}

// spaServer serves the app's files, the library's browser build, and
// /config.js with what the page must know (the issuer, its client id).
type spaServer struct {
	*httptest.Server
	mu  sync.Mutex
	cfg map[string]string
}

func newSPAServer(t *testing.T, lib string) *spaServer {
	s := &spaServer{cfg: map[string]string{}}
	file := func(path, contentType string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			b, err := os.ReadFile(path)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Cache-Control", "no-store")
			w.Write(b)
		}
	}
	mux := http.NewServeMux()
	page := file(filepath.Join(spaDir, "spa", "index.html"), "text/html; charset=utf-8")
	mux.HandleFunc("GET /{$}", page)
	mux.HandleFunc("GET /callback", page)
	mux.HandleFunc("GET /blocked", page)
	mux.HandleFunc("GET /app.js", file(filepath.Join(spaDir, "spa", "app.js"), "text/javascript"))
	mux.HandleFunc("GET /oidc-client-ts.js", file(lib, "text/javascript"))
	mux.HandleFunc("GET /config.js", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		b, _ := json.Marshal(s.cfg)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/javascript")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprintf(w, "window.SPA_CONFIG = %s;\n", b)
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *spaServer) set(k, v string) {
	s.mu.Lock()
	s.cfg[k] = v
	s.mu.Unlock()
}

// spaResult reads the JSON the page put in #result once it has finished step n.
func spaResult(b *browser, ctx context.Context, n int, v any) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS(fmt.Sprintf(`#result[data-done="%d"]`, n)))); err != nil {
		b.fail("wait for step %d of the app: %v", n, err)
	}
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#result")))
	if err != nil {
		b.fail("read the app's result: %v", err)
	}
	if err := json.Unmarshal([]byte(text), v); err != nil {
		b.fail("the app's result %q: %v", text, err)
	}
	var e struct{ Error string }
	if json.Unmarshal([]byte(text), &e) == nil && e.Error != "" {
		b.fail("the app failed: %s", e.Error)
	}
}

func spaFlow(t *testing.T, chromium, lib string, dbEnv map[string]string) {
	port := freePort(t)
	issuer := "http://127.0.0.1:" + port
	dataDir := t.TempDir()
	env := map[string]string{"GATEHOUSE_ISSUER": issuer}
	for k, v := range dbEnv {
		env[k] = v
	}
	srv := startServe(t, env, "--addr", "127.0.0.1:"+port, "--data-dir", dataDir, "--migrate")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.log)
		}
	})
	waitReady(t, issuer)

	const email, password = "ada@example.com", "correct horse battery"
	if r := runCLIWithStdin(t, env, password+"\n", "users", "create", "--data-dir", dataDir, "--email", email,
		"--password-stdin", "--email-verified", "--name", "Ada Lovelace"); r.code != 0 {
		t.Fatalf("users create: exit %d: %s", r.code, r.stderr)
	}
	// Two origins for the same app: the one its client is registered with, and
	// one no client allows.
	spa, elsewhere := newSPAServer(t, lib), newSPAServer(t, lib)
	out := gatehouse(t, env, "clients", "create", "--data-dir", dataDir, "--name", "SPA", "--public",
		"--redirect-uri", spa.URL+"/callback", "--scope", "openid,profile,email,offline_access", "-o", "json")
	var c struct {
		ID     string  `json:"client_id"`
		Secret *string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" || c.Secret != nil {
		t.Fatalf("clients create --public -o json = %q (%v)", out, err)
	}
	for _, s := range []*spaServer{spa, elsewhere} {
		s.set("issuer", issuer)
		s.set("clientId", c.ID)
	}

	shots := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if shots == "" {
		shots = t.ArtifactDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, chromium, shots)
	b.name = "spa-" + strings.TrimPrefix(t.Name(), "TestBrowserSPA/")

	// Sign in from the app: the provider's pages, then back to the app, which
	// redeems the code, reads userinfo and refreshes, all cross-origin.
	b.do("open the app", chromedp.Navigate(spa.URL+"/"), chromedp.WaitVisible(chromedp.ID("login")))
	b.do("sign in", chromedp.Click(chromedp.ID("login")), chromedp.WaitVisible(chromedp.ID("sign-in")),
		chromedp.SetValue(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("allow")))
	b.do("allow", chromedp.Click(chromedp.ID("allow")))
	var signedIn struct {
		Email, UserinfoEmail, AccessToken string
		HasRefreshToken, Refreshed        bool
	}
	spaResult(b, b.ctx, 1, &signedIn)
	if signedIn.Email != email || signedIn.UserinfoEmail != email || !signedIn.HasRefreshToken || !signedIn.Refreshed || signedIn.AccessToken == "" {
		b.fail("the app after sign-in: %+v; want the e-mail from the ID token and userinfo, and a refresh that rotated the tokens", signedIn)
	}
	if !strings.HasPrefix(b.location(), spa.URL+"/callback") {
		b.fail("the app is at %s, want its callback", b.location())
	}

	// The same app on an origin no client allows, with a valid access token:
	// the browser lets it read nothing.
	elsewhere.set("accessToken", signedIn.AccessToken)
	tab, closeTab := chromedp.NewContext(b.ctx)
	defer closeTab()
	if err := chromedp.Do(tab, chromedp.Navigate(elsewhere.URL+"/blocked")); err != nil {
		b.fail("open the app elsewhere: %v", err)
	}
	var blocked struct {
		Token, Revoke, Userinfo any
	}
	spaResult(b, tab, 1, &blocked)
	if blocked.Token != "blocked" || blocked.Revoke != "blocked" || blocked.Userinfo != "blocked" {
		b.fail("the app on an origin no client allows read responses: %+v, want every one blocked", blocked)
	}
	closeTab()

	// Sign out: the app revokes its tokens; the refresh token no longer
	// refreshes and the access token no longer reads userinfo, and the app can
	// read both refusals.
	b.do("revoke", chromedp.Click(chromedp.ID("revoke")))
	var revoked struct {
		RefreshAfterRevoke, UserinfoAfterRevoke any
	}
	spaResult(b, b.ctx, 2, &revoked)
	if revoked.RefreshAfterRevoke != float64(http.StatusBadRequest) || revoked.UserinfoAfterRevoke != float64(http.StatusUnauthorized) {
		b.fail("after revocation: refresh %v, userinfo %v; want 400 and 401, readable by the app", revoked.RefreshAfterRevoke, revoked.UserinfoAfterRevoke)
	}
}
