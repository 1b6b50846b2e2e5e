package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
)

// TestBrowserJourneys drives chromium (against run() on SQLite) through what
// a person meets when something goes wrong: a failed sign-up names every
// problem in a summary that takes the focus, with "Error:" in the title, and
// its links put the cursor in their field; the show-password button switches
// the field; the forgot-password detour from an application's sign-in page,
// the reset link and the sign-in after it end back in the application; a
// failed password change opens the account page at its section with the
// focus there; and without JavaScript the summary still comes first and the
// password fields stay plain. Screenshots go where TestBrowser's do.
func TestBrowserJourneys(t *testing.T) {
	chromium := chromiumPath(t)
	site := startPagesSite(t, func(rp string) []string {
		return []string{"--redirect-uri", rp + "/callback", "--client-uri", rp + "/"}
	})
	issuer, rp, smtp, shots := site.issuer, site.rp, site.smtp, site.shots
	b := newBrowser(t, chromium, shots)
	b.name = "journeys"
	const email, password, newPassword = "grace@example.com", "correct horse battery", "a brand new passphrase"
	truthy := func(what, js string) {
		t.Helper()
		b.do(what, chromedp.Poll[chromedp.Void](js))
	}

	// A failed sign-up: every problem at once, in a summary that has the
	// focus, and the title says so.
	b.do("start code flow", chromedp.Navigate(rp.srv.URL+"/login?client=notes"), chromedp.WaitVisible(chromedp.ID("sign-in")))
	b.do("to sign-up", chromedp.Click(chromedp.ID("sign-up-link")), chromedp.WaitVisible(chromedp.ID("sign-up")))
	b.do("sign up badly",
		chromedp.SendKeys(chromedp.ID("email"), "grace@"), chromedp.SendKeys(chromedp.ID("password"), "short"),
		chromedp.SendKeys(chromedp.ID("confirm"), "shorter"), chromedp.Click(chromedp.ID("sign-up")),
		chromedp.WaitVisible(chromedp.ID("error-summary")))
	truthy("focus on the error summary", `document.activeElement && document.activeElement.id === "error-summary"`)
	if n := evaluate[int](b, `document.querySelectorAll("#error-summary a").length`); n != 3 {
		b.fail("the summary lists %d problems, want 3 (e-mail, password, confirmation)", n)
	}
	if title := evaluate[string](b, `document.title`); !strings.HasPrefix(title, "Error: ") {
		b.fail("title %q, want it to start with \"Error: \"", title)
	}
	b.shoot("sign-up-errors")
	b.do("a summary link puts the cursor in its field", chromedp.Click(chromedp.CSS(`#error-summary a[href="#password"]`)))
	truthy("focus in the password field", `document.activeElement && document.activeElement.id === "password"`)

	// The show-password button switches the field, and says so.
	b.do("type a password", chromedp.SendKeys(chromedp.ID("password"), password), chromedp.WaitVisible(chromedp.ID("password-toggle")))
	b.do("show it", chromedp.Click(chromedp.ID("password-toggle")))
	truthy("password shown", `document.getElementById("password").type === "text" && document.getElementById("password-toggle").getAttribute("aria-pressed") === "true"`)
	if v := evaluate[string](b, `document.getElementById("password").value`); v != password {
		b.fail("the shown password is %q", v)
	}
	if name := evaluate[string](b, `document.getElementById("password-toggle").textContent + " " + document.getElementById("password-label").textContent`); name != "Show Password" {
		b.fail("toggle named %q", name)
	}
	b.shoot("password-shown")
	b.do("hide it", chromedp.Click(chromedp.ID("password-toggle")))
	truthy("password hidden", `document.getElementById("password").type === "password" && document.getElementById("password-toggle").getAttribute("aria-pressed") === "false"`)

	// Fixed, the sign-up goes on; the mailed link continues to the application.
	b.do("sign up", chromedp.SetValue(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("confirm"), password),
		chromedp.Click(chromedp.ID("password-toggle")), chromedp.Click(chromedp.ID("sign-up")), chromedp.WaitVisible(chromedp.ID("signup-sent")))
	msgs := smtp.WaitMessages(t, 1)
	b.do("verify", chromedp.Navigate(msgs[0].Link(issuer+"/verify-email")), chromedp.WaitVisible(chromedp.ID("allow")))
	b.do("allow", chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
	if got := b.text("#result"); got != "signed in as "+email {
		b.fail("relying party says %q", got)
	}

	// Forgot password, from the application's sign-in page, ends back in
	// the application.
	b.do("sign out", chromedp.Navigate(issuer+"/account"), chromedp.WaitVisible(chromedp.ID("sign-out")),
		chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("sign-in-again")))
	b.do("back to the application", chromedp.Navigate(rp.srv.URL+"/login?client=notes"), chromedp.WaitVisible(chromedp.ID("sign-in")))
	b.do("forgot, with the address typed", chromedp.SendKeys(chromedp.ID("email"), email), chromedp.Click(chromedp.ID("forgot-link")),
		chromedp.WaitVisible(chromedp.ID("forgot")))
	if v := evaluate[string](b, `document.getElementById("email").value`); v != email {
		b.fail("the forgot page has %q, want the address typed on the sign-in page", v)
	}
	b.do("ask for a link", chromedp.Click(chromedp.ID("forgot")), chromedp.WaitVisible(chromedp.ID("forgot-sent")))
	msgs = smtp.WaitMessages(t, 2)
	reset := msgs[1].Link(issuer + "/reset-password")
	if !strings.Contains(reset, "continue=") {
		b.fail("the reset link %q does not carry the authorization", reset)
	}
	b.do("reset", chromedp.Navigate(reset), chromedp.WaitVisible(chromedp.ID("reset")),
		chromedp.SendKeys(chromedp.ID("password"), newPassword), chromedp.SendKeys(chromedp.ID("confirm"), newPassword),
		chromedp.Click(chromedp.ID("reset")), chromedp.WaitVisible(chromedp.ID("sign-in-link")))
	b.shoot("reset-done")
	b.do("sign in after the reset", chromedp.Click(chromedp.ID("sign-in-link")), chromedp.WaitVisible(chromedp.ID("sign-in")))
	if v := evaluate[string](b, `document.getElementById("email").value`); v != email {
		b.fail("sign-in after the reset has %q, want the address", v)
	}
	b.do("sign in", chromedp.SendKeys(chromedp.ID("password"), newPassword), chromedp.Click(chromedp.ID("sign-in")),
		chromedp.WaitVisible(chromedp.ID("result")))
	if got := b.text("#result"); got != "signed in as "+email {
		b.fail("after the reset detour the relying party says %q", got)
	}

	// A failed password change opens the account page at its section, with
	// the focus on the problem there.
	b.do("account", chromedp.Navigate(issuer+"/account"), chromedp.WaitVisible(chromedp.ID("change-password")),
		chromedp.SendKeys(chromedp.ID("current-password"), "not my password"),
		chromedp.SendKeys(chromedp.ID("new-password"), "yet another passphrase"),
		chromedp.SendKeys(chromedp.ID("confirm-password"), "yet another passphrase"),
		chromedp.Click(chromedp.ID("change-password")), chromedp.WaitVisible(chromedp.ID("error-summary")))
	truthy("focus on the password section's summary", `document.activeElement && document.activeElement.id === "error-summary" && document.activeElement.closest("section").id === "password-section"`)
	if hash := evaluate[string](b, `location.hash`); hash != "#password-section" {
		b.fail("the account page opened at %q, want #password-section", hash)
	}
	if !evaluate[bool](b, `(function () { var r = document.getElementById("error-summary").getBoundingClientRect(); return r.top >= 0 && r.top < innerHeight; })()`) {
		b.fail("the failed password change is not in view")
	}
	b.shoot("account-password-error")

	// Without JavaScript: the same page, the summary first, plain password
	// fields, no toggle.
	b.do("scripts off", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	b.do("sign up without script", chromedp.Navigate(issuer+"/signup"), chromedp.WaitVisible(chromedp.ID("sign-up")),
		chromedp.SendKeys(chromedp.ID("email"), "nojs@"), chromedp.Click(chromedp.ID("sign-up")),
		chromedp.WaitVisible(chromedp.ID("error-summary")), chromedp.WaitNotVisible(chromedp.ID("password-toggle")))
	if first := evaluate[string](b, `document.querySelector("main").firstElementChild.id`); first != "error-summary" {
		b.fail("without script the first thing in main is #%s", first)
	}
	b.shoot("sign-up-errors-no-script")
	t.Logf("screenshots in %s", shots)
}

// evaluate runs js in the page and returns its value, failing the test on an
// error.
func evaluate[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.fail("evaluate %s: %v", js, err)
	}
	return v
}

// pagesSite is a running `gatehouse serve` on SQLite with a test SMTP server
// and one relying party, "notes" (the client "Notes App"), for the browser
// walks of the pages.
type pagesSite struct {
	issuer string
	rp     *relyingParty
	smtp   *mailtest.Server
	shots  string // where screenshots go: GATEHOUSE_SCREENSHOTS or the artifact directory
	// env and dataDir run the CLI against the site's database.
	env     map[string]string
	dataDir string
}

// startPagesSite starts the server and registers the relying party's client
// with the flags clientFlags gives for the relying party's base URL.
func startPagesSite(t *testing.T, clientFlags func(rp string) []string) pagesSite {
	t.Helper()
	return startPagesSiteWith(t, clientFlags)
}

// startPagesSiteWith is startPagesSite with more arguments for serve (such as
// --config with upstream identity providers).
func startPagesSiteWith(t *testing.T, clientFlags func(rp string) []string, serveArgs ...string) pagesSite {
	t.Helper()
	smtp := mailtest.NewServer(t, mailtest.Options{TLS: mail.TLSNone})
	port := freePort(t)
	issuer := "http://127.0.0.1:" + port
	dataDir := t.TempDir()
	env := smtpEnv(smtp.Config())
	env["GATEHOUSE_ISSUER"] = issuer
	srv := startServe(t, env, append([]string{"--addr", "127.0.0.1:" + port, "--data-dir", dataDir, "--migrate"}, serveArgs...)...)
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
	args := append([]string{"clients", "create", "--data-dir", dataDir, "--name", "Notes App"}, clientFlags(rp.srv.URL)...)
	out := gatehouse(t, env, append(args, "--scope", "openid,profile,email,offline_access", "-o", "json")...)
	var c struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" {
		t.Fatalf("clients create -o json = %q (%v)", out, err)
	}
	rp.register("notes", c.ID, c.Secret)

	shots := os.Getenv("GATEHOUSE_SCREENSHOTS")
	if shots == "" {
		shots = t.ArtifactDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return pagesSite{issuer: issuer, rp: rp, smtp: smtp, shots: shots, env: env, dataDir: dataDir}
}
