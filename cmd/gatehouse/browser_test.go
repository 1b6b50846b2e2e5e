package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestBrowser drives Debian's chromium against the real server (run() on a loopback
// port) on SQLite and PostgreSQL: sign up from a go-oidc relying party, open the
// mailed verification link (which signs in and continues to consent), prompt=none,
// max_age=0, deny, revoke a connected application, RP-initiated logout, a password
// reset and a password change. Screenshots of every page
// at desktop and phone widths go to GATEHOUSE_SCREENSHOTS or the test's artifact
// directory.
func TestBrowser(t *testing.T) {
	chromium := chromiumPath(t)
	t.Run("sqlite", func(t *testing.T) { browserFlows(t, chromium, nil) })
	t.Run("postgres", func(t *testing.T) {
		url := storagetest.NewPostgresDatabase(t)
		browserFlows(t, chromium, map[string]string{"DATABASE_URL": url, "GATEHOUSE_SECRETS_SYSTEM": storagetest.TestSecret})
	})
}

func chromiumPath(t *testing.T) string {
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	msg := "chromium not found: apt-get install -y chromium (or set CHROMIUM)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser is one chromium tab with helpers that fail the test with a screenshot.
type browser struct {
	t    *testing.T
	ctx  context.Context
	dir  string // screenshots
	name string // prefix of screenshot names
}

func newBrowser(t *testing.T, chromium, shots string) *browser {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTime := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	// The first action starts the browser and binds it to ctx; later steps run
	// with their own timeouts under it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, dir: shots}
}

func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail("%s: %v", what, err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.fail("read %s: %v", sel, err)
	}
	return s
}

func (b *browser) location() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.fail("location: %v", err)
	}
	return s
}

// fail saves a screenshot of the page as it is, then fails the test.
func (b *browser) fail(format string, args ...any) {
	b.t.Helper()
	if png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)); err == nil {
		p := filepath.Join(b.dir, b.name+"-failure.png")
		if os.WriteFile(p, png, 0o644) == nil {
			b.t.Logf("screenshot of the failure: %s", p)
		}
	}
	b.t.Fatalf(format, args...)
}

// shoot saves the current page at desktop and phone widths.
func (b *browser) shoot(page string) {
	b.t.Helper()
	for _, v := range []struct {
		name          string
		width, height int64
		mobile        bool
	}{{"desktop", 1280, 800, false}, {"phone", 390, 844, true}} {
		opts := []chromedp.EmulateViewportOption{}
		if v.mobile {
			opts = append(opts, chromedp.EmulateMobile)
		}
		b.do("viewport", chromedp.EmulateViewport(v.width, v.height, opts...))
		png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			b.fail("screenshot %s: %v", page, err)
		}
		p := filepath.Join(b.dir, fmt.Sprintf("%s-%s-%s.png", b.name, page, v.name))
		if err := os.WriteFile(p, png, 0o644); err != nil {
			b.t.Fatalf("write screenshot: %v", err)
		}
	}
	b.do("viewport", chromedp.EmulateViewport(1280, 800))
}

// relyingParty is a small web application that signs its users in with go-oidc.
type relyingParty struct {
	t        *testing.T
	srv      *httptest.Server
	provider *oidc.Provider
	issuer   string
	mu       sync.Mutex
	clients  map[string]oauth2.Config
	verifier map[string]string // state → PKCE verifier
	client   map[string]string // state → client name
	tokens   map[string]*oauth2.Token
	idTokens map[string]string
	codes    int
}

func newRelyingParty(t *testing.T) *relyingParty {
	rp := &relyingParty{t: t, clients: map[string]oauth2.Config{}, verifier: map[string]string{}, client: map[string]string{},
		tokens: map[string]*oauth2.Token{}, idTokens: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/login", rp.login)
	mux.HandleFunc("/callback", rp.callback)
	mux.HandleFunc("/logout", rp.logout)
	mux.HandleFunc("/bye", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><p id="result">signed out, state %s</p>`, r.URL.Query().Get("state"))
	})
	rp.srv = httptest.NewServer(mux)
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *relyingParty) register(name, clientID, secret string) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	rp.clients[name] = oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: rp.provider.Endpoint(),
		RedirectURL: rp.srv.URL + "/callback", Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}}
}

func (rp *relyingParty) login(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("client")
	rp.mu.Lock()
	conf := rp.clients[name]
	state := fmt.Sprintf("state-%d-%d", time.Now().UnixNano(), len(rp.verifier))
	v := oauth2.GenerateVerifier()
	rp.verifier[state], rp.client[state] = v, name
	rp.mu.Unlock()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(v), oidc.Nonce("n-" + state)}
	for _, k := range []string{"prompt", "max_age", "ui_locales", "idp_hint", "acr_values"} {
		if val := r.URL.Query().Get(k); val != "" {
			opts = append(opts, oauth2.SetAuthURLParam(k, val))
		}
	}
	http.Redirect(w, r, conf.AuthCodeURL(state, opts...), http.StatusFound)
}

func (rp *relyingParty) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if e := q.Get("error"); e != "" {
		fmt.Fprintf(w, `<!doctype html><p id="result">error: %s</p>`, e)
		return
	}
	rp.mu.Lock()
	v, name := rp.verifier[q.Get("state")], rp.client[q.Get("state")]
	conf := rp.clients[name]
	rp.mu.Unlock()
	if q.Get("iss") != rp.issuer {
		http.Error(w, "wrong iss", http.StatusBadRequest)
		return
	}
	ctx := oidc.ClientContext(r.Context(), http.DefaultClient)
	tok, err := conf.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(v))
	if err != nil {
		http.Error(w, "exchange: "+err.Error(), http.StatusBadGateway)
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.provider.Verifier(&oidc.Config{ClientID: conf.ClientID}).Verify(ctx, raw)
	if err != nil || idt.Nonce != "n-"+q.Get("state") {
		http.Error(w, fmt.Sprintf("id token: %v", err), http.StatusBadGateway)
		return
	}
	info, err := rp.provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		http.Error(w, "userinfo: "+err.Error(), http.StatusBadGateway)
		return
	}
	rp.mu.Lock()
	rp.tokens[name], rp.idTokens[name] = tok, raw
	rp.codes++
	rp.mu.Unlock()
	var levels struct {
		ACR string   `json:"acr"`
		AMR []string `json:"amr"`
	}
	if err := idt.Claims(&levels); err != nil {
		http.Error(w, "id token claims: "+err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, `<!doctype html><p id="result">signed in as %s</p><p id="acr">%s</p><p id="amr">%s</p>`,
		info.Email, levels.ACR, strings.Join(levels.AMR, " "))
}

func (rp *relyingParty) logout(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("client")
	rp.mu.Lock()
	idt := rp.idTokens[name]
	rp.mu.Unlock()
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := rp.provider.Claims(&meta); err != nil || meta.EndSession == "" {
		rp.t.Logf("relying party: no end_session_endpoint (%v)", err)
		http.Error(w, "no end_session_endpoint", http.StatusBadGateway)
		return
	}
	q := url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {rp.srv.URL + "/bye"}, "state": {"bye-1"}}
	http.Redirect(w, r, meta.EndSession+"?"+q.Encode(), http.StatusFound)
}

func (rp *relyingParty) codeCount() int {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.codes
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// gatehouse runs a CLI command in-process and returns its stdout.
func gatehouse(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	r := runCLI(t, env, args...)
	if r.code != 0 {
		t.Fatalf("gatehouse %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// smtpEnv is the environment that sends serve's mail to a mailtest server
// without TLS.
func smtpEnv(sc mail.SMTPConfig) map[string]string {
	return map[string]string{
		"GATEHOUSE_MAIL_SMTP_HOST": sc.Host, "GATEHOUSE_MAIL_SMTP_PORT": fmt.Sprint(sc.Port),
		"GATEHOUSE_MAIL_SMTP_USERNAME": sc.Username, "GATEHOUSE_MAIL_SMTP_PASSWORD": sc.Password, "GATEHOUSE_MAIL_SMTP_TLS": "none",
		"GATEHOUSE_MAIL_FROM": mailtest.From,
	}
}

func browserFlows(t *testing.T, chromium string, dbEnv map[string]string) {
	smtp := mailtest.NewServer(t, mailtest.Options{TLS: mail.TLSNone})
	port := freePort(t)
	issuer := "http://127.0.0.1:" + port
	dataDir := t.TempDir()
	env := smtpEnv(smtp.Config())
	env["GATEHOUSE_ISSUER"] = issuer
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

	rp := newRelyingParty(t)
	provider, err := oidc.NewProvider(oidc.ClientContext(t.Context(), http.DefaultClient), issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	rp.provider, rp.issuer = provider, issuer
	for _, name := range []string{"notes", "other"} {
		out := gatehouse(t, env, "clients", "create", "--data-dir", dataDir, "--name", strings.ToUpper(name[:1])+name[1:]+" App",
			"--redirect-uri", rp.srv.URL+"/callback", "--post-logout-redirect-uri", rp.srv.URL+"/bye",
			"--scope", "openid,profile,email,offline_access", "-o", "json")
		var c struct {
			ID     string `json:"client_id"`
			Secret string `json:"client_secret"`
		}
		if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" || c.Secret == "" {
			t.Fatalf("clients create -o json = %q (%v)", out, err)
		}
		rp.register(name, c.ID, c.Secret)
	}

	shots := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if shots == "" {
		shots = t.ArtifactDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, chromium, shots)
	b.name = strings.TrimPrefix(t.Name(), "TestBrowser/")
	const email, password, newPassword = "grace@example.com", "correct horse battery", "a brand new passphrase"

	// Sign up from the application: its sign-in page links to sign-up, which
	// answers "check your e-mail"; the mailed link, opened in this browser,
	// verifies the address, signs the person in and continues the pending
	// authorization to the consent page.
	b.do("start code flow", chromedp.Navigate(rp.srv.URL+"/login?client=notes"), chromedp.WaitVisible(chromedp.ID("sign-in")))
	b.do("to sign-up", chromedp.Click(chromedp.ID("sign-up-link")), chromedp.WaitVisible(chromedp.ID("sign-up")))
	b.shoot("sign-up")
	b.do("fill sign-up",
		chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("name"), "Grace Hopper"),
		chromedp.SendKeys(chromedp.ID("password"), password), chromedp.SendKeys(chromedp.ID("confirm"), password),
		chromedp.Click(chromedp.ID("sign-up")), chromedp.WaitVisible(chromedp.ID("signup-sent")))
	if got := b.text("#signup-sent"); !strings.Contains(got, email) || !strings.Contains(got, "Notes App") {
		b.fail("sign-up answer says %q, want the address and the application", got)
	}
	b.shoot("sign-up-sent")
	msgs := smtp.WaitMessages(t, 1)
	link := msgs[0].Link(issuer + "/verify-email")
	if link == "" {
		b.fail("no verification link in %q", msgs[0].Text)
	}
	b.do("open the verification link", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("allow")))
	b.shoot("consent")
	b.do("allow", chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
	if got := b.text("#result"); got != "signed in as "+email {
		b.fail("relying party says %q", got)
	}
	b.do("account", chromedp.Navigate(issuer+"/account"), chromedp.WaitVisible(chromedp.ID("account-email")))
	if got := b.text("#account-email"); !strings.Contains(got, email) {
		b.fail("account page shows %q, want %s", got, email)
	}
	if verified, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.getElementById("resend-verification") === null`)); err != nil || !verified {
		b.fail("the account page still offers to verify the address (%v)", err)
	}
	b.shoot("account")

	// prompt=none is silent.
	before := rp.codeCount()
	b.do("prompt=none", chromedp.Navigate(rp.srv.URL+"/login?client=notes&prompt=none"), chromedp.WaitVisible(chromedp.ID("result")))
	if got := b.text("#result"); got != "signed in as "+email || rp.codeCount() != before+1 {
		b.fail("prompt=none: %q", got)
	}

	// max_age=0 asks for the password again.
	b.do("max_age=0", chromedp.Navigate(rp.srv.URL+"/login?client=notes&max_age=0"), chromedp.WaitVisible(chromedp.ID("sign-in")))
	b.shoot("sign-in")
	b.do("sign in again", chromedp.SetValue(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("result")))
	if got := b.text("#result"); got != "signed in as "+email {
		b.fail("after re-authentication: %q", got)
	}

	// Deny returns access_denied to the application.
	b.do("other app", chromedp.Navigate(rp.srv.URL+"/login?client=other"), chromedp.WaitVisible(chromedp.ID("deny")))
	b.do("deny", chromedp.Click(chromedp.ID("deny")), chromedp.WaitVisible(chromedp.ID("result")))
	if got := b.text("#result"); got != "error: access_denied" {
		b.fail("deny: %q", got)
	}

	// Revoking the connected application ends its refresh token.
	rp.mu.Lock()
	notes, tok := rp.clients["notes"], rp.tokens["notes"]
	rp.mu.Unlock()
	b.do("account", chromedp.Navigate(issuer+"/account"), chromedp.WaitVisible(chromedp.ID("revoke-"+notes.ClientID)))
	b.do("revoke asks first", chromedp.Click(chromedp.ID("revoke-"+notes.ClientID)), chromedp.WaitVisible(chromedp.ID("confirm-revoke")))
	if got := b.text("#confirm-revoke"); got != "Disconnect Notes App" {
		b.fail("the revoke confirmation says %q, want it to name the application", got)
	}
	b.shoot("revoke-confirm")
	b.do("revoke", chromedp.Click(chromedp.ID("confirm-revoke")), chromedp.WaitVisible(chromedp.ID("no-applications")))
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Hour)
	start := time.Now()
	if fresh, err := notes.TokenSource(oidc.ClientContext(t.Context(), http.DefaultClient), &expired).Token(); err == nil {
		b.fail("the refresh token of a revoked application still works (%s, new token %v)", time.Since(start), fresh.Expiry)
	}

	// Sign in to it again (consent again), then log out from the application.
	b.do("again", chromedp.Navigate(rp.srv.URL+"/login?client=notes"), chromedp.WaitVisible(chromedp.ID("allow")))
	b.do("allow again", chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
	b.do("logout", chromedp.Navigate(rp.srv.URL+"/logout?client=notes"), chromedp.WaitVisible(chromedp.ID("result")))
	if got := b.text("#result"); got != "signed out, state bye-1" {
		b.fail("logout: %q", got)
	}
	b.do("account after logout", chromedp.Navigate(issuer+"/account"), chromedp.WaitVisible(chromedp.ID("sign-in")))

	// Password reset end to end.
	b.do("forgot", chromedp.Navigate(issuer+"/forgot-password"), chromedp.WaitVisible(chromedp.ID("forgot")))
	b.shoot("forgot-password")
	b.do("ask for a reset", chromedp.SendKeys(chromedp.ID("email"), email), chromedp.Click(chromedp.ID("forgot")), chromedp.WaitVisible(chromedp.ID("forgot-sent")))
	msgs = smtp.WaitMessages(t, 2)
	reset := msgs[1].Link(issuer + "/reset-password")
	if reset == "" {
		b.fail("no reset link in %q", msgs[1].Text)
	}
	b.do("open reset", chromedp.Navigate(reset), chromedp.WaitVisible(chromedp.ID("reset")))
	b.shoot("reset-password")
	b.do("reset", chromedp.SendKeys(chromedp.ID("password"), newPassword), chromedp.SendKeys(chromedp.ID("confirm"), newPassword),
		chromedp.Click(chromedp.ID("reset")), chromedp.WaitNotPresent(chromedp.ID("reset")))
	b.do("sign in with the new password", chromedp.Navigate(issuer+"/signin"), chromedp.WaitVisible(chromedp.ID("sign-in")),
		chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), newPassword),
		chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("account-email")))

	// A password change keeps this browser signed in.
	const thirdPassword = "yet another passphrase"
	b.do("change the password",
		chromedp.SendKeys(chromedp.ID("current-password"), newPassword), chromedp.SendKeys(chromedp.ID("new-password"), thirdPassword),
		chromedp.SendKeys(chromedp.ID("confirm-password"), thirdPassword), chromedp.Click(chromedp.ID("change-password")),
		chromedp.WaitVisible(chromedp.ID("notice")))
	if got := b.text("#notice"); got != "Your password is changed." {
		b.fail("after the password change the account page says %q", got)
	}
	b.shoot("password-changed")

	// The sign-out confirmation and error pages, for the record.
	b.do("sign-out confirmation", chromedp.Navigate(issuer+"/oauth2/logout"), chromedp.WaitVisible(chromedp.ID("confirm-sign-out")))
	b.shoot("sign-out-confirm")
	b.do("confirm sign-out", chromedp.Click(chromedp.ID("confirm-sign-out")), chromedp.WaitNotPresent(chromedp.ID("confirm-sign-out")))
	b.shoot("signed-out")
	b.do("error page", chromedp.Navigate(issuer+"/oauth2/authorize?client_id=nope&response_type=code"), chromedp.WaitVisible(chromedp.CSS("h1")))
	b.shoot("error")
	t.Logf("screenshots in %s", shots)
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s/readyz not 200 within 60s (last error %v)", base, err)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}
