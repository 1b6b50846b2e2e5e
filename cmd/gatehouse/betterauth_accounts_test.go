package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/federation/federationtest"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestBetterAuthAccounts runs Better Auth's client library (npm better-auth
// 1.7.25) in Node against `gatehouse serve` with two upstream providers, an
// in-test OpenID Connect provider on loopback: "upstream" keeps its tokens
// (store_tokens), "plain" does not. A password user signs in and links both
// through the API with Go's HTTP client (link-social, the provider, the
// callback: a browser's hops); then testdata/js/betterauth-accounts.mjs lists
// the accounts, gets the upstream access token (the one the provider issued
// at the link), is refused the other's, unlinks one and is refused a second
// time. Node must be installed; in CI its absence is a failure.
func TestBetterAuthAccounts(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		msg := "node is not installed: the Better Auth client test needs it (" + err.Error() + ")"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	if _, err := os.Stat(spaDir + "/node_modules/better-auth/package.json"); err != nil {
		msg := "better-auth is not installed: run npm ci --prefix cmd/gatehouse/testdata/js (" + err.Error() + ")"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Run("sqlite", func(t *testing.T) { betterAuthAccounts(t, node, nil) })
	t.Run("postgres", func(t *testing.T) {
		betterAuthAccounts(t, node, map[string]string{"DATABASE_URL": storagetest.NewPostgresDatabase(t), "GATEHOUSE_SECRETS_SYSTEM": storagetest.TestSecret})
	})
}

func betterAuthAccounts(t *testing.T, node string, dbEnv map[string]string) {
	up := federationtest.New(t)
	port := freePort(t)
	issuer := "http://127.0.0.1:" + port
	env := map[string]string{"GATEHOUSE_ISSUER": issuer}
	for k, v := range dbEnv {
		env[k] = v
	}
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	yaml := fmt.Sprintf(`outbound:
  allow_loopback: true
federation:
  providers:
    - id: upstream
      name: Upstream
      issuer: %[1]s
      client_id: %[2]s
      client_secret: upstream-secret
      store_tokens: true
    - id: plain
      name: Plain
      issuer: %[1]s
      client_id: %[2]s
      client_secret: plain-secret
`, up.Issuer(), federationtest.ClientID)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	srv := startServe(t, env, "--config", cfg, "--addr", "127.0.0.1:"+port, "--data-dir", data, "--migrate")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.log)
		}
	})
	waitReady(t, issuer)
	const password = "a passphrase for the accounts test"
	if r := runCLIWithStdin(t, env, password+"\n", "users", "create", "--data-dir", data, "--email", "ada@example.com",
		"--password-stdin", "--email-verified"); r.code != 0 {
		t.Fatalf("users create: %s", r.stderr)
	}

	// A browser of the issuer's own pages: cookies, Origin, no redirects
	// followed.
	jar, _ := cookiejar.New(nil)
	b := &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(path string, body any) (*http.Response, map[string]any) {
		t.Helper()
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, issuer+path, strings.NewReader(string(raw)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", issuer)
		res, err := b.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer res.Body.Close()
		var m map[string]any
		json.NewDecoder(res.Body).Decode(&m)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d %v", path, res.StatusCode, m)
		}
		return res, m
	}
	get := func(u string) *http.Response {
		t.Helper()
		res, err := b.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", u, err)
		}
		res.Body.Close()
		return res
	}
	res, _ := post("/api/auth/sign-in/email", map[string]any{"email": "ada@example.com", "password": password})
	token := res.Header.Get("set-auth-token")
	if token == "" {
		t.Fatal("sign-in answered no set-auth-token")
	}
	linked := map[string]string{} // provider → the access token issued at the link
	for _, p := range []string{"plain", "upstream"} {
		up.SignIn("ada-at-"+p, "ada@example.net")
		_, m := post("/api/auth/link-social", map[string]any{"provider": p, "callbackURL": "/account"})
		authURL, _ := m["url"].(string)
		if !strings.HasPrefix(authURL, up.Issuer()+"/authorize?") {
			t.Fatalf("link-social %s: url %q, want the provider's", p, authURL)
		}
		back := get(authURL).Header.Get("Location")
		if !strings.HasPrefix(back, issuer+"/api/auth/callback/"+p+"?") {
			t.Fatalf("the provider sent the browser to %q, want the API's callback", back)
		}
		if res := get(back); res.StatusCode != http.StatusFound || res.Header.Get("Location") != issuer+"/account" {
			t.Fatalf("callback of %s: %d Location %q, want 302 to %s/account", p, res.StatusCode, res.Header.Get("Location"), issuer)
		}
		issued := up.Issued()
		linked[p] = issued[len(issued)-1]
	}

	cmd := exec.CommandContext(t.Context(), node, "betterauth-accounts.mjs")
	cmd.Dir = spaDir
	cmd.Env = append(os.Environ(), "GATEHOUSE_URL="+issuer, "SESSION_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	var steps []string
	var gotToken string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		var s struct {
			Step        string `json:"step"`
			OK          bool   `json:"ok"`
			AccessToken string `json:"accessToken"`
		}
		if json.Unmarshal(sc.Bytes(), &s) == nil && s.OK {
			steps = append(steps, s.Step)
			if s.AccessToken != "" {
				gotToken = s.AccessToken
			}
		}
	}
	if err != nil {
		t.Fatalf("node betterauth-accounts.mjs: %v\n%s", err, out)
	}
	want := []string{"list-accounts", "get-access-token", "get-access-token not kept", "link-social without the cookie", "unlink-account", "unlink-account again"}
	if !slices.Equal(steps, want) {
		t.Fatalf("steps done %q, want %q\n%s", steps, want, out)
	}
	if gotToken != linked["upstream"] {
		t.Errorf("getAccessToken gave %q, want the token the provider issued at the link", gotToken)
	}
	if strings.Contains(srv.log.String(), linked["upstream"]) {
		t.Error("the server log holds the upstream access token")
	}
}
