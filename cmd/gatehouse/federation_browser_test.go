package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
)

// federationSites are two Gatehouse servers on SQLite: upstream, a real
// Gatehouse acting as the upstream OpenID Connect provider on 127.0.0.2 (its
// own host, so the browser keeps its cookies apart), and downstream on
// 127.0.0.1, configured with upstream as the provider "upstream" and a dead
// one, "down"; and a relying party of downstream, "notes".
type federationSites struct {
	upstream, downstream string
	upData, downData     string
	downEnv              map[string]string
	rp                   *relyingParty
	shots                string
	// smtp receives downstream's mail.
	smtp *mailtest.Server
}

const (
	upstreamPassword   = "upstream horse battery"
	downstreamPassword = "downstream staple battery"
)

func startFederationSites(t *testing.T) federationSites {
	t.Helper()
	return startFederationSitesAt(t, "127.0.0.1")
}

// startFederationSitesAt is startFederationSites with downstream's issuer at
// downHost (listening on 127.0.0.1): "localhost" gives it passkeys, which
// want a domain.
func startFederationSitesAt(t *testing.T, downHost string) federationSites {
	t.Helper()
	var s federationSites
	upPort, downPort := freePortOn(t, "127.0.0.2"), freePort(t)
	s.upstream, s.downstream = "http://127.0.0.2:"+upPort, "http://"+downHost+":"+downPort
	s.upData, s.downData = t.TempDir(), t.TempDir()

	upEnv := map[string]string{"GATEHOUSE_ISSUER": s.upstream}
	up := startServe(t, upEnv, "--addr", "127.0.0.2:"+upPort, "--data-dir", s.upData, "--migrate")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("upstream log:\n%s", up.log)
		}
	})
	waitReady(t, s.upstream)
	out := gatehouse(t, upEnv, "clients", "create", "--data-dir", s.upData, "--name", "Downstream Gatehouse",
		"--redirect-uri", s.downstream+"/signin/callback/upstream", "--redirect-uri", s.downstream+"/api/auth/callback/upstream", "--scope", "openid,profile,email", "-o", "json")
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" {
		t.Fatalf("clients create -o json = %q (%v)", out, err)
	}
	for _, u := range []struct {
		email    string
		verified bool
	}{{"fresh@example.com", true}, {"ada@example.com", true}, {"unverified@example.com", false}, {"grace@example.com", true}, {"pat@example.com", true}} {
		args := []string{"users", "create", "--data-dir", s.upData, "--email", u.email, "--password-stdin"}
		if u.verified {
			args = append(args, "--email-verified")
		}
		if r := runCLIWithStdin(t, upEnv, upstreamPassword+"\n", args...); r.code != 0 {
			t.Fatalf("upstream users create %s: %s", u.email, r.stderr)
		}
	}

	// The relying party's origin may receive the JSON API's callbacks.
	s.rp = newRelyingParty(t)
	dead := freePortOn(t, "127.0.0.2") // nothing listens there
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	yaml := fmt.Sprintf(`outbound:
  allow_loopback: true
api:
  trusted_origins: [%s]
federation:
  providers:
    - id: upstream
      name: Upstream Co
      issuer: %s
      client_id: %s
      client_secret: %s
    - id: down
      name: Dead IdP
      style: dark
      issuer: http://127.0.0.2:%s
      client_id: x
      client_secret: y
`, s.rp.srv.URL, s.upstream, c.ID, c.Secret, dead)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	s.smtp = mailtest.NewServer(t, mailtest.Options{TLS: mail.TLSNone})
	s.downEnv = smtpEnv(s.smtp.Config())
	s.downEnv["GATEHOUSE_ISSUER"] = s.downstream
	down := startServe(t, s.downEnv, "--config", cfg, "--addr", "127.0.0.1:"+downPort, "--data-dir", s.downData, "--migrate")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("downstream log:\n%s", down.log)
		}
	})
	waitReady(t, "http://127.0.0.1:"+downPort)
	// Ada, Grace and Pat have password accounts downstream too, with the
	// same addresses; Quinn only downstream.
	for _, email := range []string{"ada@example.com", "grace@example.com", "pat@example.com", "quinn@example.com"} {
		if r := runCLIWithStdin(t, s.downEnv, downstreamPassword+"\n", "users", "create", "--data-dir", s.downData,
			"--email", email, "--password-stdin", "--email-verified"); r.code != 0 {
			t.Fatalf("downstream users create %s: %s", email, r.stderr)
		}
	}

	provider, err := oidc.NewProvider(oidc.ClientContext(t.Context(), http.DefaultClient), s.downstream)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	s.rp.provider, s.rp.issuer = provider, s.downstream
	out = gatehouse(t, s.downEnv, "clients", "create", "--data-dir", s.downData, "--name", "Notes App", "--first-party",
		"--redirect-uri", s.rp.srv.URL+"/callback", "--client-uri", s.rp.srv.URL+"/", "--scope", "openid,profile,email,offline_access", "-o", "json")
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" {
		t.Fatalf("clients create -o json = %q (%v)", out, err)
	}
	s.rp.register("notes", c.ID, c.Secret)

	s.shots = os.Getenv("GATEHOUSE_SCREENSHOTS")
	if s.shots == "" {
		s.shots = t.ArtifactDir()
	}
	if err := os.MkdirAll(s.shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return s
}

// freePortOn is a port free on the loopback address ip.
func freePortOn(t *testing.T, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// waitAt waits until the browser shows a page whose address starts with
// prefix.
func waitAt(b *browser, prefix string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		// A navigation in flight makes reading the page fail: try again.
		loc, err := chromedp.Run(b.ctx, chromedp.Location())
		if err == nil && strings.HasPrefix(loc, prefix) {
			return
		}
		if time.Now().After(deadline) {
			b.fail("the browser is at %q (%v), want %s…", loc, err, prefix)
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-b.ctx.Done():
			b.fail("browser gone: %v", b.ctx.Err())
		}
	}
}

// upstreamSignIn signs in at the upstream Gatehouse (the browser is on its
// way there) and allows the downstream's access on its consent page.
func upstreamSignIn(b *browser, upstream, email string) {
	b.t.Helper()
	waitAt(b, upstream+"/signin")
	b.do("upstream sign-in "+email, chromedp.WaitVisible(chromedp.ID("sign-in")),
		chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), upstreamPassword),
		chromedp.Click(chromedp.ID("sign-in")))
	waitAt(b, upstream+"/oauth2/authorize")
	b.do("upstream consent", chromedp.WaitVisible(chromedp.ID("allow")), chromedp.Click(chromedp.ID("allow")))
}

// TestBrowserFederation drives chromium through sign-in with another
// identity provider, a real second Gatehouse: sign-up through it from an
// application's sign-in page, back in the application; linking it to an
// existing password account only after that account's password (a wrong one
// first); signing in again through it without questions; unlinking on the
// account page (refused for the only way in); idp_hint going straight to the
// provider; and the error pages (refused consent, an unverified address, a
// callback replayed or not begun here, a provider that is down), each with a
// way back.
func TestBrowserFederation(t *testing.T) {
	chromium := chromiumPath(t)
	s := startFederationSites(t)
	login := s.rp.srv.URL + "/login?client=notes"

	// Sign-up through the upstream, from the application.
	b := newBrowser(t, chromium, s.shots)
	b.name = "federation"
	var mu sync.Mutex
	var callbacks []string
	err := chromedp.Listen(b.ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && strings.HasPrefix(e.Request.URL, s.downstream+"/signin/callback/") {
			mu.Lock()
			callbacks = append(callbacks, e.Request.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	b.do("application's sign-in", chromedp.Navigate(login), chromedp.WaitVisible(chromedp.ID("provider-upstream")))
	if got := b.text("#provider-upstream"); got != "Continue with Upstream Co" {
		b.fail("provider button says %q", got)
	}
	b.shoot("federation-sign-in-buttons")
	b.do("continue with upstream", chromedp.Click(chromedp.ID("provider-upstream")))
	upstreamSignIn(b, s.upstream, "fresh@example.com")
	waitAt(b, s.rp.srv.URL)
	b.do("back in the application", chromedp.WaitVisible(chromedp.ID("result")))
	if got := b.text("#result"); got != "signed in as fresh@example.com" {
		b.fail("relying party says %q", got)
	}
	// The callback was used once: opened again, it is refused with a way
	// back.
	mu.Lock()
	replay := ""
	if len(callbacks) > 0 {
		replay = callbacks[0]
	}
	mu.Unlock()
	if replay == "" {
		b.fail("saw no request to the callback")
	}
	b.do("replay the callback", chromedp.Navigate(replay), chromedp.WaitVisible(chromedp.ID("retry-link")))
	if got := b.text("[role=alert]"); !strings.Contains(got, "expired or was used already") {
		b.fail("replayed callback says %q", got)
	}
	b.shoot("federation-replayed-callback")
	// The account page lists the provider; it is the only way in, so it
	// stays.
	b.do("account", chromedp.Navigate(s.downstream+"/account"), chromedp.WaitVisible(chromedp.ID("identities-section")))
	b.do("unlink the only way in", chromedp.Click(chromedp.CSS(`#identities-section button[id^="unlink-"]`)))
	waitAt(b, s.downstream+"/account/identities/unlink")
	b.do("refused", chromedp.WaitVisible(chromedp.ID("error-summary")))
	if got := b.text("#error-summary"); !strings.Contains(got, "only way to sign in") {
		b.fail("unlinking the last way says %q", got)
	}
	b.shoot("federation-unlink-last")

	// Ada: the same address as a password account downstream.
	b2 := newBrowser(t, chromium, s.shots)
	b2.name = "federation-link"
	b2.do("application's sign-in", chromedp.Navigate(login), chromedp.WaitVisible(chromedp.ID("provider-upstream")),
		chromedp.Click(chromedp.ID("provider-upstream")))
	upstreamSignIn(b2, s.upstream, "ada@example.com")
	waitAt(b2, s.downstream+"/signin/link")
	b2.do("asked to prove the account", chromedp.WaitVisible(chromedp.ID("link-account")))
	if got := b2.text("#link-lead"); !strings.Contains(got, "ada@example.com") || !strings.Contains(got, "Upstream Co") {
		b2.fail("link page says %q", got)
	}
	b2.shoot("federation-link")
	b2.do("wrong password", chromedp.SendKeys(chromedp.ID("password"), "not the password"), chromedp.Click(chromedp.ID("link-account")),
		chromedp.WaitVisible(chromedp.ID("error-summary")))
	b2.shoot("federation-link-wrong-password")
	b2.do("right password", chromedp.SetValue(chromedp.ID("password"), downstreamPassword), chromedp.Click(chromedp.ID("link-account")))
	waitAt(b2, s.rp.srv.URL)
	b2.do("back in the application", chromedp.WaitVisible(chromedp.ID("result")))
	if got := b2.text("#result"); got != "signed in as ada@example.com" {
		b2.fail("after linking the relying party says %q", got)
	}
	// Signed out downstream, the provider signs Ada in without questions.
	b2.do("sign out", chromedp.Navigate(s.downstream+"/account"), chromedp.WaitVisible(chromedp.ID("sign-out")),
		chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("sign-in-again")))
	b2.do("sign in again", chromedp.Navigate(login), chromedp.WaitVisible(chromedp.ID("provider-upstream")),
		chromedp.Click(chromedp.ID("provider-upstream")))
	waitAt(b2, s.rp.srv.URL)
	b2.do("back in the application", chromedp.WaitVisible(chromedp.ID("result")))
	if got := b2.text("#result"); got != "signed in as ada@example.com" {
		b2.fail("signing in again the relying party says %q", got)
	}
	// Unlink: she has a password, so she may.
	b2.do("account", chromedp.Navigate(s.downstream+"/account"), chromedp.WaitVisible(chromedp.ID("identities-section")))
	if got := b2.text("#identities-section .list-title"); got != "Upstream Co" {
		b2.fail("linked providers: %q", got)
	}
	b2.shoot("federation-account")
	b2.do("unlink", chromedp.Click(chromedp.CSS(`#identities-section button[id^="unlink-"]`)))
	waitAt(b2, s.downstream+"/account?notice=identity-unlinked")
	b2.do("unlinked", chromedp.WaitVisible(chromedp.ID("no-identities")))
	if got := b2.text("#notice"); !strings.Contains(got, "unlinked") {
		b2.fail("after unlinking the notice says %q", got)
	}
	// Link it again from the account page: no password asked, she is
	// signed in here and at the upstream.
	b2.do("link from the account page", chromedp.Click(chromedp.ID("link-upstream")))
	waitAt(b2, s.downstream+"/account?notice=identity-linked")
	b2.do("linked", chromedp.WaitVisible(chromedp.ID("identities-section")))
	if got := b2.text("#notice"); !strings.Contains(got, "is linked") {
		b2.fail("after linking from the account page the notice says %q", got)
	}
	// idp_hint goes straight to the provider (signed in there already).
	b2.do("sign out", chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("sign-in-again")))
	b2.do("idp_hint", chromedp.Navigate(login+"&idp_hint=upstream"))
	waitAt(b2, s.rp.srv.URL+"/callback")
	b2.do("back in the application", chromedp.WaitVisible(chromedp.ID("result")))
	if got := b2.text("#result"); got != "signed in as ada@example.com" {
		b2.fail("with idp_hint the relying party says %q", got)
	}

	// The JSON API (Better Auth's shape): POST /api/auth/sign-in/social
	// answers the provider's URL; the browser follows it and comes back
	// through /api/auth/callback/upstream, signed in, to callbackURL.
	b2.do("sign out", chromedp.Navigate(s.downstream+"/account"), chromedp.WaitVisible(chromedp.ID("sign-out")),
		chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("sign-in-again")))
	answer, err := chromedp.Run(b2.ctx, chromedp.Evaluate[map[string]any](`fetch("/api/auth/sign-in/social", {method: "POST", credentials: "include",
		headers: {"Content-Type": "application/json"}, body: JSON.stringify({provider: "upstream", callbackURL: "/account"})})
		.then(r => r.json())`, chromedp.EvalAwaitPromise))
	if err != nil {
		b2.fail("sign-in/social: %v", err)
	}
	to, _ := answer["url"].(string)
	if !strings.HasPrefix(to, s.upstream+"/oauth2/authorize?") || answer["redirect"] != true ||
		!strings.Contains(to, "redirect_uri="+url.QueryEscape(s.downstream+"/api/auth/callback/upstream")) {
		b2.fail("sign-in/social answered %v", answer)
	}
	// Ada is signed in at the upstream and allowed it before: straight back.
	b2.do("follow the provider's URL", chromedp.Navigate(to))
	waitAt(b2, s.downstream+"/account")
	b2.do("signed in by the API flow", chromedp.WaitVisible(chromedp.ID("identities-section")))
	if got := b2.text("#identities-section .list-title"); got != "Upstream Co" {
		b2.fail("after the API flow the account page lists %q", got)
	}

	// Signing in through a provider is no way around a second factor: Ada
	// adds an authenticator app here, signs out, and the provider's sign-in
	// goes on to the second step before the application sees her.
	b2.do("add an app", chromedp.Navigate(s.downstream+"/account"), chromedp.WaitVisible(chromedp.ID("add-totp")),
		chromedp.Click(chromedp.ID("add-totp")), chromedp.WaitVisible(chromedp.ID("confirm-mfa")),
		chromedp.SendKeys(chromedp.ID("current-password"), downstreamPassword), chromedp.Click(chromedp.ID("confirm-mfa")),
		chromedp.WaitVisible(chromedp.ID("totp-qr")))
	attr, err := chromedp.Run(b2.ctx, chromedp.AttributeValue(chromedp.ID("totp-secret"), "data-secret"))
	if err != nil || !attr.Exists || len(attr.Value) < 16 {
		b2.fail("no secret on the enrolment page (%q, %v)", attr.Value, err)
	}
	totpCode := func(at time.Time) string {
		c, err := totp.GenerateCode(attr.Value, at)
		if err != nil {
			b2.fail("TOTP code: %v", err)
		}
		return c
	}
	b2.do("confirm the app", chromedp.SendKeys(chromedp.ID("code"), totpCode(time.Now())), chromedp.Click(chromedp.ID("confirm-totp")),
		chromedp.WaitVisible(chromedp.ID("recovery-codes")), chromedp.Click(chromedp.ID("codes-saved")), chromedp.WaitVisible(chromedp.ID("factor-list")))
	b2.do("sign out", chromedp.Navigate(s.downstream+"/account"), chromedp.WaitVisible(chromedp.ID("sign-out")),
		chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("sign-in-again")))
	b2.do("through the provider", chromedp.Navigate(login), chromedp.WaitVisible(chromedp.ID("provider-upstream")),
		chromedp.Click(chromedp.ID("provider-upstream")))
	waitAt(b2, s.downstream+"/signin/second-factor")
	b2.do("second step", chromedp.WaitVisible(chromedp.ID("verify-code")))
	b2.shoot("federation-second-factor")
	b2.do("give the code", chromedp.SendKeys(chromedp.ID("code"), totpCode(time.Now().Add(30*time.Second))),
		chromedp.Click(chromedp.ID("verify-code")))
	waitAt(b2, s.rp.srv.URL)
	b2.do("back in the application", chromedp.WaitVisible(chromedp.ID("result")))
	if got, amr := b2.text("#result"), strings.Fields(b2.text("#amr")); got != "signed in as ada@example.com" ||
		!slices.Contains(amr, "fed") || !slices.Contains(amr, "otp") || !slices.Contains(amr, "mfa") {
		b2.fail("after the provider and the code the relying party says %q, amr %v (want fed, otp, mfa)", got, amr)
	}

	// Nor is the JSON API's: after the provider the browser has no session
	// but the pending two-factor cookie and lands on
	// callbackURL?twoFactorRedirect=true; a backup code (new ones made by
	// the API) finishes the sign-in there.
	b2.do("account", chromedp.Navigate(s.downstream+"/account"), chromedp.WaitVisible(chromedp.ID("sign-out")))
	fresh, err := chromedp.Run(b2.ctx, chromedp.Evaluate[map[string]any](fmt.Sprintf(`fetch("/api/auth/two-factor/generate-backup-codes",
		{method: "POST", credentials: "include", headers: {"Content-Type": "application/json"}, body: JSON.stringify({password: %q})})
		.then(r => r.json())`, downstreamPassword), chromedp.EvalAwaitPromise))
	backup, _ := fresh["backupCodes"].([]any)
	if err != nil || len(backup) == 0 {
		b2.fail("generate-backup-codes: %v (%v)", fresh, err)
	}
	b2.do("sign out", chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("sign-in-again")))
	answer, err = chromedp.Run(b2.ctx, chromedp.Evaluate[map[string]any](`fetch("/api/auth/sign-in/social", {method: "POST", credentials: "include",
		headers: {"Content-Type": "application/json"}, body: JSON.stringify({provider: "upstream", callbackURL: "/api/auth/ok"})})
		.then(r => r.json())`, chromedp.EvalAwaitPromise))
	if err != nil || answer["url"] == nil {
		b2.fail("sign-in/social: %v (%v)", answer, err)
	}
	b2.do("follow the provider's URL again", chromedp.Navigate(answer["url"].(string)))
	waitAt(b2, s.downstream+"/api/auth/ok?twoFactorRedirect=true")
	pendingSession, err := chromedp.Run(b2.ctx, chromedp.Evaluate[string](`fetch("/api/auth/get-session", {credentials: "include"}).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if err != nil || strings.TrimSpace(pendingSession) != "null" {
		b2.fail("before the second factor get-session = %q (%v), want null", pendingSession, err)
	}
	verified, err := chromedp.Run(b2.ctx, chromedp.Evaluate[map[string]any](fmt.Sprintf(`fetch("/api/auth/two-factor/verify-backup-code",
		{method: "POST", credentials: "include", headers: {"Content-Type": "application/json"}, body: JSON.stringify({code: %q})})
		.then(r => r.json())`, backup[0]), chromedp.EvalAwaitPromise))
	if u, _ := verified["user"].(map[string]any); err != nil || u == nil || u["email"] != "ada@example.com" || verified["token"] == nil {
		b2.fail("verify-backup-code after the provider: %v (%v)", verified, err)
	}
	b2.do("signed in by the API's second step", chromedp.Navigate(s.downstream+"/account"), chromedp.WaitVisible(chromedp.ID("identities-section")))

	// Refusals, each a clear page with a way back.
	b3 := newBrowser(t, chromium, s.shots)
	b3.name = "federation-errors"
	b3.do("application's sign-in", chromedp.Navigate(login), chromedp.WaitVisible(chromedp.ID("provider-upstream")),
		chromedp.Click(chromedp.ID("provider-upstream")))
	waitAt(b3, s.upstream+"/signin")
	b3.do("refuse at the provider", chromedp.WaitVisible(chromedp.ID("sign-in")),
		chromedp.SendKeys(chromedp.ID("email"), "unverified@example.com"), chromedp.SendKeys(chromedp.ID("password"), upstreamPassword),
		chromedp.Click(chromedp.ID("sign-in")))
	waitAt(b3, s.upstream+"/oauth2/authorize")
	b3.do("deny", chromedp.WaitVisible(chromedp.ID("deny")), chromedp.Click(chromedp.ID("deny")))
	waitAt(b3, s.downstream+"/signin/callback/upstream")
	b3.do("refused page", chromedp.WaitVisible(chromedp.ID("retry-link")))
	if got := b3.text("[role=alert]"); !strings.Contains(got, "was cancelled") {
		b3.fail("refused consent says %q", got)
	}
	b3.shoot("federation-access-denied")
	b3.do("try again", chromedp.Click(chromedp.ID("retry-link")))
	waitAt(b3, s.downstream+"/signin?")
	b3.do("sign-in page", chromedp.WaitVisible(chromedp.ID("provider-upstream")))
	if loc := b3.location(); !strings.Contains(loc, "continue=") {
		b3.fail("try again led to %s, want the sign-in page with the authorization", loc)
	}
	b3.do("unverified address", chromedp.Click(chromedp.ID("provider-upstream")))
	waitAt(b3, s.upstream+"/oauth2/authorize")
	b3.do("allow upstream", chromedp.WaitVisible(chromedp.ID("allow")), chromedp.Click(chromedp.ID("allow")))
	waitAt(b3, s.downstream+"/signin/callback/upstream")
	b3.do("unverified page", chromedp.WaitVisible(chromedp.ID("retry-link")))
	if got := b3.text("[role=alert]"); !strings.Contains(got, "has not verified your e-mail address") {
		b3.fail("unverified address says %q", got)
	}
	b3.shoot("federation-unverified")
	b3.do("a callback this browser did not begin", chromedp.Navigate(s.downstream+"/signin/callback/upstream?code=forged&state=forged"),
		chromedp.WaitVisible(chromedp.ID("retry-link")))
	if got := b3.text("[role=alert]"); !strings.Contains(got, "expired or was used already") {
		b3.fail("forged callback says %q", got)
	}
	b3.do("a provider that is down", chromedp.Navigate(login), chromedp.WaitVisible(chromedp.ID("provider-down")),
		chromedp.Click(chromedp.ID("provider-down")))
	waitAt(b3, s.downstream+"/signin/with/down")
	b3.do("down page", chromedp.WaitVisible(chromedp.ID("retry-link")))
	if got := b3.text("[role=alert]"); !strings.Contains(got, "Dead IdP cannot be reached") {
		b3.fail("provider down says %q", got)
	}
	b3.shoot("federation-upstream-down")

	// Grace proves her account by a mailed link instead of the password,
	// in a flow the JSON API began: the link works only in the browser that
	// asked, and the flow ends on the API caller's callbackURL (at a trusted
	// origin), not on the account page.
	b4 := newBrowser(t, chromium, s.shots)
	b4.name = "federation-mailed-link"
	callbackURL := s.rp.srv.URL + "/bye?state=api-linked"
	b4.do("downstream", chromedp.Navigate(s.downstream+"/signin"), chromedp.WaitVisible(chromedp.ID("sign-in")))
	answer, err = chromedp.Run(b4.ctx, chromedp.Evaluate[map[string]any](`fetch("/api/auth/sign-in/social", {method: "POST", credentials: "include",
		headers: {"Content-Type": "application/json"}, body: JSON.stringify({provider: "upstream", callbackURL: `+jsString(callbackURL)+`})})
		.then(r => r.json())`, chromedp.EvalAwaitPromise))
	if err != nil {
		b4.fail("sign-in/social: %v", err)
	}
	to, _ = answer["url"].(string)
	if !strings.HasPrefix(to, s.upstream+"/oauth2/authorize?") {
		b4.fail("sign-in/social answered %v", answer)
	}
	b4.do("follow the provider's URL", chromedp.Navigate(to))
	upstreamSignIn(b4, s.upstream, "grace@example.com")
	waitAt(b4, s.downstream+"/signin/link")
	b4.do("ask for a link", chromedp.WaitVisible(chromedp.ID("link-by-mail")), chromedp.Click(chromedp.ID("link-by-mail")),
		chromedp.WaitVisible(chromedp.ID("notice")))
	if got := b4.text("#notice"); !strings.Contains(got, "grace@example.com") {
		b4.fail("after asking for the link the page says %q", got)
	}
	b4.shoot("federation-link-mailed")
	link := mailedLink(t, s.smtp, "grace@example.com", s.downstream+"/signin/link/mail?token=")
	// Opened in another browser: refused with a way back, nothing linked.
	b3.do("the link in another browser", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("retry-link")))
	if got := b3.text("[role=alert]"); !strings.Contains(got, "Nothing was linked") {
		b3.fail("the link in another browser says %q", got)
	}
	b3.shoot("federation-link-other-browser")
	// In the asking browser: linked, signed in, and on to callbackURL.
	b4.do("open the link", chromedp.Navigate(link))
	waitAt(b4, callbackURL)
	b4.do("at the API caller's page", chromedp.Navigate(s.downstream+"/account"), chromedp.WaitVisible(chromedp.ID("identities-section")))
	if got := b4.text("#identities-section .list-title"); got != "Upstream Co" {
		b4.fail("after the mailed link the account page lists %q", got)
	}
	// Used once.
	b4.do("the link again", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("retry-link")))
	if got := b4.text("[role=alert]"); !strings.Contains(got, "Nothing was linked") {
		b4.fail("the link opened again says %q", got)
	}
	t.Logf("screenshots in %s", s.shots)
}

// mailedLink waits for a mail to `to` with a link starting with prefix and
// returns the link.
func mailedLink(t *testing.T, smtp *mailtest.Server, to, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, m := range smtp.Messages() {
			if slices.Contains(m.To, to) {
				if l := m.Link(prefix); l != "" {
					return l
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail to %s with a link %s… (%d mails)", to, prefix, len(smtp.Messages()))
		}
		select {
		case <-time.After(50 * time.Millisecond):
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		}
	}
}

// addDownstreamPasskey signs email in downstream with the password, adds a
// passkey (in b's virtual authenticator) and signs out.
func addDownstreamPasskey(b *browser, s federationSites, email string) {
	b.t.Helper()
	b.do("sign in "+email, chromedp.Navigate(s.downstream+"/signin?continue=/account"), chromedp.WaitVisible(chromedp.ID("sign-in")),
		chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), downstreamPassword),
		chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("add-passkey")))
	b.do("add a passkey", chromedp.SendKeys(chromedp.ID("passkey-name"), "Laptop"),
		chromedp.Click(chromedp.ID("add-passkey")), chromedp.WaitVisible(chromedp.ID("notice")))
	if n := evaluate[int](b, `document.querySelectorAll("#passkey-list li").length`); n != 1 {
		b.fail("%s lists %d passkeys, want 1", email, n)
	}
	b.do("sign out", chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("sign-in-again")))
}

// TestBrowserFederationPasskey drives chromium through proving an existing
// account with a passkey before a provider is linked to it ("Use a passkey
// instead" on /signin/link): another user's passkey is refused and links
// nothing; the account's own passkey links and signs in. Downstream is at
// localhost, as WebAuthn wants a domain; the passkeys are CDP virtual
// authenticators.
func TestBrowserFederationPasskey(t *testing.T) {
	chromium := chromiumPath(t)
	s := startFederationSitesAt(t, "localhost")
	// idp_hint: straight to the provider, past the sign-in page, whose
	// passkey autofill the virtual authenticator would answer at once.
	login := s.rp.srv.URL + "/login?client=notes"

	// Quinn's passkey, in a browser where Pat's upstream account asks to be
	// linked to Pat's account here.
	bq := newBrowser(t, chromium, s.shots)
	bq.name = "federation-passkey-other"
	addAuthenticator(bq)
	addDownstreamPasskey(bq, s, "quinn@example.com")
	bq.do("application's sign-in", chromedp.Navigate(login+"&idp_hint=upstream"))
	upstreamSignIn(bq, s.upstream, "pat@example.com")
	waitAt(bq, s.downstream+"/signin/link")
	bq.do("use a passkey", chromedp.WaitVisible(chromedp.ID("link-passkey")), chromedp.Click(chromedp.ID("link-passkey")),
		chromedp.WaitVisible(chromedp.ID("error-summary")))
	if got := bq.text("#error-summary"); !strings.Contains(got, "belongs to another account") {
		bq.fail("another user's passkey: the page says %q", got)
	}
	bq.shoot("federation-link-passkey-refused")

	// Pat's own passkey links and signs in. That the link page comes again
	// shows Quinn's attempt linked nothing.
	bp := newBrowser(t, chromium, s.shots)
	bp.name = "federation-passkey"
	addAuthenticator(bp)
	addDownstreamPasskey(bp, s, "pat@example.com")
	bp.do("application's sign-in", chromedp.Navigate(login+"&idp_hint=upstream"))
	// Pat allowed the downstream at the upstream already (in Quinn's
	// browser): no consent page this time.
	waitAt(bp, s.upstream+"/signin")
	bp.do("upstream sign-in", chromedp.WaitVisible(chromedp.ID("sign-in")),
		chromedp.SendKeys(chromedp.ID("email"), "pat@example.com"), chromedp.SendKeys(chromedp.ID("password"), upstreamPassword),
		chromedp.Click(chromedp.ID("sign-in")))
	waitAt(bp, s.downstream+"/signin/link")
	bp.do("link page", chromedp.WaitVisible(chromedp.ID("link-passkey")))
	bp.shoot("federation-link-passkey")
	bp.do("use a passkey", chromedp.Click(chromedp.ID("link-passkey")))
	waitAt(bp, s.rp.srv.URL)
	bp.do("back in the application", chromedp.WaitVisible(chromedp.ID("result")))
	if got, amr := bp.text("#result"), strings.Fields(bp.text("#amr")); got != "signed in as pat@example.com" ||
		!slices.Contains(amr, "fed") || !slices.Contains(amr, "mfa") {
		bp.fail("after the passkey the relying party says %q, amr %v (want fed and mfa)", got, amr)
	}
	bp.do("account", chromedp.Navigate(s.downstream+"/account"), chromedp.WaitVisible(chromedp.ID("identities-section")))
	if got := bp.text("#identities-section .list-title"); got != "Upstream Co" {
		bp.fail("after the passkey the account page lists %q", got)
	}
	t.Logf("screenshots in %s", s.shots)
}
