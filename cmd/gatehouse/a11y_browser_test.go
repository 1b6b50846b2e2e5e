package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
)

// a11yLanguage is one language the accessibility walk runs in.
type a11yLanguage struct {
	// Tag is sent as Accept-Language and ui_locales, and expected in <html lang>.
	Tag string
	// ErrorPrefix is how document.title starts after a failed submit.
	ErrorPrefix string
}

// a11yLanguages are the languages of the walk, one line each.
var a11yLanguages = []a11yLanguage{
	{Tag: "en", ErrorPrefix: "Error:"},
	{Tag: "de", ErrorPrefix: "Fehler:"},
}

// a11yVariant is one way each page is looked at: a viewport and a colour scheme.
type a11yVariant struct {
	Name          string // in screenshot names
	Width, Height int64
	Mobile        bool
	Scheme        string // prefers-color-scheme
}

var a11yVariants = []a11yVariant{
	{Name: "1280-light", Width: 1280, Height: 800, Scheme: "light"},
	{Name: "1280-dark", Width: 1280, Height: 800, Scheme: "dark"},
	{Name: "390-light", Width: 390, Height: 844, Mobile: true, Scheme: "light"},
	{Name: "390-dark", Width: 390, Height: 844, Mobile: true, Scheme: "dark"},
}

// a11yAxeTags are the axe-core rule tags the walk runs: WCAG 2.0 and 2.1, A
// and AA, and axe's best practices.
var a11yAxeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"}

// a11yExpected lists the checks known to fail on today's pages, each with the
// branch of issue 11 that makes it pass. A listed check that fails is logged as
// expected; a listed check that passes everywhere fails the test (delete its
// row when its branch lands); a check not listed fails the test when it fails.
//
// Keys: "<page>/<check>" for the error rules (error-title, error-summary,
// error-focus, error-links, every-error), "axe/<page>/<rule>" for an axe
// violation, and "html-lang", "dark-palette", "spoken-check-mark",
// "not-found/html", "reset-password-used/checked-on-get" for the rest.
var a11yExpected = map[string]string{}

// TestAccessibility walks every page a person can reach, in a journey with a
// real relying party: sign-in (plain, for an application, re-authentication),
// sign-up and "check your e-mail", both outcomes of a verification link,
// consent, the account page (a connected application, two browsers) and its
// confirmations (disconnect the application, sign out everywhere), forgot
// and reset password (a valid and a used link), the sign-out confirmation,
// signed out, the second-factor pages (required enrolment, the password asked
// again, adding an authenticator app, recovery codes, the account page's
// sign-in methods, the second step with its other methods, a recovery code
// used), the error page and the 404 page, and every form once with a mistake. Each page is checked with axe-core (WCAG 2.1 A and AA, and best
// practices; injected through the DevTools protocol, so the pages' CSP stays as
// it is) at 1280×800 and 390×844, light and dark, and photographed; after each
// failed submit the error rules are checked: "Error:" starts the title, a
// summary with role=alert links to the fields, and focus is on the summary or
// the first invalid field. Screenshots and a11y-report.md go to
// GATEHOUSE_SCREENSHOTS or the test's artifact directory.
func TestAccessibility(t *testing.T) {
	chromium := chromiumPath(t)
	axe, err := os.ReadFile(filepath.Join(spaDir, "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		msg := "axe-core is not installed: run npm ci --prefix cmd/gatehouse/testdata/js (" + err.Error() + ")"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	// An upstream identity provider puts its button on the sign-in and
	// sign-up pages and its section on the account page; nothing listens at
	// its issuer, for the "cannot be reached" page.
	// The admin API registers a second application that requires a second
	// factor, for the enrolment page after the password.
	cfg := filepath.Join(t.TempDir(), "gatehouse.yaml")
	adminAddr := "127.0.0.1:" + freePort(t)
	yaml := "outbound:\n  allow_loopback: true\nfederation:\n  providers:\n    - id: partner\n      name: Partner IdP\n" +
		"      issuer: http://127.0.0.1:" + freePort(t) + "\n      client_id: gatehouse\n      client_secret: partner-secret\n" +
		"admin:\n  tokens:\n    - " + a11yAdminToken + "\n"
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	site := startPagesSiteWith(t, func(rp string) []string {
		return []string{"--redirect-uri", rp + "/callback", "--post-logout-redirect-uri", rp + "/bye",
			"--policy-uri", rp + "/privacy", "--tos-uri", rp + "/terms"}
	}, "--config", cfg, "--admin-addr", adminAddr)
	issuer, rp, smtp, shots := site.issuer, site.rp, site.smtp, site.shots
	w := &a11yWalk{
		root: newBrowser(t, chromium, shots).ctx, axe: string(axe), shots: shots, admin: "http://" + adminAddr,
		issuer: issuer, rp: rp, smtp: smtp, failedAsExpected: map[string]bool{}, expectedOn: map[string][]string{},
	}
	var strict struct {
		ID     string `json:"client_id"`
		Secret string `json:"client_secret"`
	}
	w.adminCall(t, http.MethodPost, "/admin/clients", map[string]any{"client_name": "Ledger", "redirect_uris": []string{rp.srv.URL + "/callback"},
		"scope": "openid profile email offline_access", "mfa_policy": "required"}, http.StatusCreated, &strict)
	rp.register("ledger", strict.ID, strict.Secret)
	// The harness proves first that it sees known faults, and that a page
	// that follows the error rules passes them, both under the pages' CSP.
	t.Run("harness", w.harness)
	for _, lang := range a11yLanguages {
		t.Run(lang.Tag, func(t *testing.T) {
			w.walk(t, lang)
			w.walked++
		})
	}
	w.writeReport(t)
	if w.walked == len(a11yLanguages) {
		// Only a complete walk can tell that an expected failure is gone.
		for _, key := range slices.Sorted(maps.Keys(a11yExpected)) {
			if !w.failedAsExpected[key] {
				t.Errorf("%s passes now (it waited for %s): delete its row from a11yExpected", key, a11yExpected[key])
			}
		}
	}
	t.Logf("screenshots and a11y-report.md in %s", shots)
}

// a11yWalk is the state of the walk shared by its languages: one chromium,
// one server, one relying party.
type a11yWalk struct {
	root   context.Context // the browser; each tab is a new browser context under it
	admin  string          // the admin API's base URL
	axe    string          // axe.min.js
	shots  string
	issuer string
	rp     *relyingParty
	smtp   *mailtest.Server
	mails  int // messages taken from smtp so far
	walked int // languages walked to the end

	failedAsExpected map[string]bool
	rows             []a11yRow
	// expectedOn are the expected failures seen on each page ("en/sign-in").
	expectedOn map[string][]string
}

// a11yRow is one page of the report.
type a11yRow struct {
	Lang, Page, Path, Title string
	Violations              map[string][]string // variant → rule ids
	Incomplete              []string            // rules axe could not decide, for a person to check
}

// check records one named check; see a11yExpected.
func (w *a11yWalk) check(t *testing.T, page, key string, ok bool, format string, args ...any) {
	t.Helper()
	if ok {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if why, expected := a11yExpected[key]; expected {
		w.failedAsExpected[key] = true
		if !slices.Contains(w.expectedOn[page], key) {
			w.expectedOn[page] = append(w.expectedOn[page], key)
		}
		t.Logf("expected failure %s (until %s): %s", key, why, msg)
		return
	}
	t.Errorf("%s: %s", key, msg)
}

// a11yAdminToken is the admin API's token in the walk's server.
const a11yAdminToken = "a11y-walk-admin-token-that-is-long-enough"

// adminCall sends body as JSON to the admin API, wants the status want, and
// decodes the answer into out.
func (w *a11yWalk) adminCall(t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, w.admin+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a11yAdminToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, res.StatusCode, answer, want)
	}
	if out != nil {
		if err := json.Unmarshal(answer, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, answer)
		}
	}
}

// nextMail waits for the next message the server sends with a link that starts
// with prefix, and returns the link.
func (w *a11yWalk) nextMail(t *testing.T, prefix string) string {
	t.Helper()
	// Security notices (a sign-in method added, say) come from the outbox in
	// between, in their own time: the next message with the link is the one,
	// and the notices before it are passed over.
	for seen := w.mails; ; {
		msgs := w.smtp.WaitMessages(t, seen+1)
		for ; seen < len(msgs); seen++ {
			if link := msgs[seen].Link(prefix); link != "" {
				w.mails = seen + 1
				return link
			}
		}
	}
}

// walk is the journey of one person in one language, through every page.
func (w *a11yWalk) walk(t *testing.T, lang a11yLanguage) {
	const password, newPassword = "correct horse battery", "a brand new passphrase"
	email := "a11y-" + strings.ToLower(lang.Tag) + "@example.com"
	login := w.rp.srv.URL + "/login?client=notes&ui_locales=" + lang.Tag
	laptop := w.newTab(t, lang, "laptop", "")
	phone := w.newTab(t, lang, "phone", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1")

	// The application sends the person to sign in; a mistake first.
	laptop.do("start the code flow", chromedp.Navigate(login), chromedp.WaitVisible(chromedp.ID("sign-in")))
	laptop.audit("sign-in-client")
	laptop.do("type the e-mail only", chromedp.SetValue(chromedp.ID("email"), email))
	laptop.submit("sign in without a password", "sign-in")
	laptop.errorRules("sign-in-client-error", nil)
	laptop.audit("sign-in-client-error")

	// No account yet: sign up, with every kind of mistake at once, then right.
	laptop.do("to sign-up", chromedp.Click(chromedp.ID("sign-up-link")), chromedp.WaitVisible(chromedp.ID("sign-up")))
	laptop.audit("sign-up")
	laptop.do("fill sign-up wrongly",
		chromedp.SetValue(chromedp.ID("email"), "not-an-address"), chromedp.SetValue(chromedp.ID("name"), "Grace Hopper"),
		chromedp.SetValue(chromedp.ID("password"), "short"), chromedp.SetValue(chromedp.ID("confirm"), "different"))
	laptop.submit("sign up wrongly", "sign-up")
	laptop.errorRules("sign-up-error", []string{"email", "password", "confirm"})
	laptop.audit("sign-up-error")
	laptop.do("fill sign-up",
		chromedp.SetValue(chromedp.ID("email"), email), chromedp.SetValue(chromedp.ID("name"), "Grace Hopper"),
		chromedp.SetValue(chromedp.ID("password"), password), chromedp.SetValue(chromedp.ID("confirm"), password))
	laptop.submit("sign up", "sign-up")
	laptop.expect("the answer to sign-up", "#signup-sent")
	laptop.audit("sign-up-sent")

	// The link opened on the phone (no sign-up ticket there): verified, sign
	// in to continue. Opened again: it no longer works.
	verify := w.nextMail(t, w.issuer+"/verify-email")
	phone.do("open the verification link", chromedp.Navigate(verify), chromedp.WaitVisible(chromedp.ID("to-sign-in")))
	phone.audit("verify-email-verified")
	phone.do("open the link again", chromedp.Navigate(verify), chromedp.WaitVisible(chromedp.CSS("main h1")))
	phone.expectNone("the used verification link", "#to-sign-in")
	phone.audit("verify-email-invalid")

	// Sign in on the phone, plain, with a wrong password first.
	phone.do("plain sign-in", chromedp.Navigate(w.issuer+"/signin"), chromedp.WaitVisible(chromedp.ID("sign-in")))
	phone.audit("sign-in")
	phone.do("type a wrong password", chromedp.SetValue(chromedp.ID("email"), email), chromedp.SetValue(chromedp.ID("password"), "not my password"))
	phone.submit("sign in wrongly", "sign-in")
	phone.errorRules("sign-in-error", nil)
	phone.audit("sign-in-error")
	phone.do("type the password", chromedp.SetValue(chromedp.ID("email"), email), chromedp.SetValue(chromedp.ID("password"), password))
	phone.submit("sign in", "sign-in")
	phone.expect("the account page", "#account-email")

	// Another identity provider that cannot be reached, and a callback this
	// browser did not begin: each an error page with a way back.
	phone.do("plain sign-in", chromedp.Navigate(w.issuer+"/signin"), chromedp.WaitVisible(chromedp.ID("provider-partner")))
	phone.submit("continue with the provider", "provider-partner")
	phone.expect("the error page", "#retry-link")
	phone.audit("federation-upstream-down")
	phone.do("a callback not begun here", chromedp.Navigate(w.issuer+"/signin/callback/partner?code=x&state=y"), chromedp.WaitVisible(chromedp.ID("retry-link")))
	phone.audit("federation-bad-state")

	// On the laptop, through the application: sign in, consent.
	laptop.do("the application again", chromedp.Navigate(login), chromedp.WaitVisible(chromedp.ID("sign-in")))
	laptop.do("type the password", chromedp.SetValue(chromedp.ID("email"), email), chromedp.SetValue(chromedp.ID("password"), password))
	laptop.submit("sign in", "sign-in")
	laptop.expect("the consent page", "#allow")
	laptop.audit("consent")
	laptop.submit("allow", "allow")
	laptop.expectResult("signed in as " + email)

	// The account page: a connected application, two browsers; a wrong
	// current password, then a picture that is not a URL.
	laptop.do("account", chromedp.Navigate(w.issuer+"/account"), chromedp.WaitVisible(chromedp.ID("account-email")))
	if n := a11yEval[int](laptop, "count the sessions", `document.querySelectorAll("[aria-labelledby=sessions-heading] li").length`); n < 2 {
		laptop.fail("the account page lists %d sessions, want the laptop's and the phone's", n)
	}
	laptop.audit("account")

	// Disconnecting the application and signing out everywhere ask first;
	// both are cancelled here.
	laptop.do("disconnect the application?", chromedp.Click(chromedp.CSS(`a[id^="revoke-"]`)), chromedp.WaitVisible(chromedp.ID("confirm-revoke")))
	laptop.audit("account-revoke-confirm")
	laptop.do("cancel disconnecting", chromedp.Click(chromedp.ID("cancel")), chromedp.WaitVisible(chromedp.ID("account-email")))
	laptop.do("sign out everywhere?", chromedp.Click(chromedp.ID("sign-out-everywhere")), chromedp.WaitVisible(chromedp.ID("confirm-sign-out-everywhere")))
	laptop.audit("account-sign-out-everywhere-confirm")
	laptop.do("cancel signing out everywhere", chromedp.Click(chromedp.ID("cancel")), chromedp.WaitVisible(chromedp.ID("account-email")))

	laptop.do("change the password wrongly", chromedp.SetValue(chromedp.ID("current-password"), "not my password"),
		chromedp.SetValue(chromedp.ID("new-password"), newPassword), chromedp.SetValue(chromedp.ID("confirm-password"), newPassword))
	laptop.submit("change the password wrongly", "change-password")
	laptop.errorRules("account-password-error", nil)
	laptop.audit("account-password-error")
	laptop.do("account", chromedp.Navigate(w.issuer+"/account"), chromedp.WaitVisible(chromedp.ID("account-email")))
	laptop.do("a picture that is not a URL", chromedp.SetValue(chromedp.ID("picture"), "my face"))
	laptop.submit("save the profile", "save-profile")
	laptop.errorRules("account-profile-error", nil)
	laptop.audit("account-profile-error")

	// The application asks the person to sign in again.
	laptop.do("max_age=0", chromedp.Navigate(login+"&max_age=0"), chromedp.WaitVisible(chromedp.ID("sign-in")))
	laptop.audit("sign-in-reauth")
	laptop.do("type the password", chromedp.SetValue(chromedp.ID("password"), password))
	laptop.submit("sign in again", "sign-in")
	laptop.expectResult("signed in as " + email)

	// Forgot password: nothing typed first.
	laptop.do("forgot password", chromedp.Navigate(w.issuer+"/forgot-password"), chromedp.WaitVisible(chromedp.ID("forgot")))
	laptop.audit("forgot-password")
	laptop.submit("ask for a link without an address", "forgot")
	laptop.errorRules("forgot-password-error", nil)
	laptop.audit("forgot-password-error")
	laptop.do("type the address", chromedp.SetValue(chromedp.ID("email"), email))
	laptop.submit("ask for a link", "forgot")
	laptop.expect("the answer", "#forgot-sent")
	laptop.audit("forgot-password-sent")

	// Reset: passwords that differ first; then the link once more, used.
	reset := w.nextMail(t, w.issuer+"/reset-password")
	laptop.do("open the reset link", chromedp.Navigate(reset), chromedp.WaitVisible(chromedp.ID("reset")))
	laptop.audit("reset-password")
	laptop.do("passwords that differ", chromedp.SetValue(chromedp.ID("password"), newPassword), chromedp.SetValue(chromedp.ID("confirm"), "something else"))
	laptop.submit("reset with passwords that differ", "reset")
	laptop.errorRules("reset-password-error", nil)
	laptop.audit("reset-password-error")
	laptop.do("the new password", chromedp.SetValue(chromedp.ID("password"), newPassword), chromedp.SetValue(chromedp.ID("confirm"), newPassword))
	laptop.submit("reset", "reset")
	laptop.expectNone("the reset form after the reset", "#reset")
	laptop.audit("reset-password-done")
	laptop.do("open the used link", chromedp.Navigate(reset), chromedp.WaitVisible(chromedp.CSS("main h1")))
	formShown := a11yEval[bool](laptop, "look for the form", `document.getElementById("reset") !== null`)
	laptop.w.check(t, lang.Tag+"/reset-password-used", "reset-password-used/checked-on-get", !formShown, "a used reset link shows the form for a new password")
	laptop.audit("reset-password-used")

	// Sign in with the new password, then sign out through the logout
	// endpoint, which asks first.
	laptop.do("sign in with the new password", chromedp.Navigate(w.issuer+"/signin"), chromedp.WaitVisible(chromedp.ID("sign-in")),
		chromedp.SetValue(chromedp.ID("email"), email), chromedp.SetValue(chromedp.ID("password"), newPassword))
	laptop.submit("sign in", "sign-in")
	laptop.expect("the account page", "#account-email")
	laptop.do("sign-out confirmation", chromedp.Navigate(w.issuer+"/oauth2/logout"), chromedp.WaitVisible(chromedp.ID("confirm-sign-out")))
	laptop.audit("sign-out-confirm")
	laptop.submit("sign out", "confirm-sign-out")
	laptop.expectNone("the confirmation after signing out", "#confirm-sign-out")
	laptop.audit("signed-out")

	w.secondFactor(t, laptop, email, newPassword)

	// The error page, and an address that does not exist.
	laptop.do("error page", chromedp.Navigate(w.issuer+"/oauth2/authorize?client_id=nope&response_type=code"), chromedp.WaitVisible(chromedp.CSS("main h1")))
	laptop.audit("error")
	resp := laptop.navigate("a page that does not exist", w.issuer+"/no-such-page")
	html := strings.HasPrefix(a11yEval[string](laptop, "content type", `document.contentType`), "text/html")
	laptop.w.check(t, lang.Tag+"/not-found", "not-found/html", resp.Status == http.StatusNotFound && html,
		"a browser asking for /no-such-page gets %d %s, want 404 and an HTML page", resp.Status, resp.MimeType)
	if html {
		laptop.audit("not-found")
	}
}

// secondFactor walks the pages of a second factor, signed out at the start:
// the enrolment an application that requires a second factor asks for after
// the password (a new user, through the admin API) and its recovery codes;
// then for the walk's user the password asked again before an authenticator app is added (once wrong),
// the enrolment page (QR code and key; a wrong code first), the recovery
// codes, the account page's sign-in methods with the app, then signed out and
// in again the second step (a wrong code, the other methods, a recovery code)
// and the page that says how many recovery codes remain.
func (w *a11yWalk) secondFactor(t *testing.T, tab *a11yTab, email, password string) {
	// An application that requires a second factor, for a user who has none:
	// the enrolment page comes right after the password.
	required := "a11y-required-" + strings.ToLower(tab.lang.Tag) + "@example.com"
	w.adminCall(t, http.MethodPost, "/admin/users", map[string]any{"email": required, "password": password, "email_verified": true}, http.StatusCreated, nil)
	tab.do("the application that requires a second factor", chromedp.Navigate(w.rp.srv.URL+"/login?client=ledger&ui_locales="+tab.lang.Tag),
		chromedp.WaitVisible(chromedp.ID("sign-in")), chromedp.SetValue(chromedp.ID("email"), required), chromedp.SetValue(chromedp.ID("password"), password))
	tab.submit("sign in", "sign-in")
	tab.expect("the required enrolment", "#enrol-required")
	tab.audit("mfa-enrol-required")
	secret := a11yEval[string](tab, "read the key", `document.getElementById("totp-secret").dataset.secret`)
	tab.do("the first code", chromedp.SetValue(chromedp.ID("code"), a11yTOTP(tab, secret)))
	tab.submit("confirm the app", "confirm-totp")
	tab.expect("the recovery codes", "#recovery-codes")
	tab.audit("mfa-recovery-codes-required")
	tab.do("saved", chromedp.Click(chromedp.ID("codes-saved")), chromedp.WaitVisible(chromedp.CSS("#allow, #result")))
	tab.do("sign out", chromedp.Navigate(w.issuer+"/oauth2/logout"), chromedp.WaitVisible(chromedp.ID("confirm-sign-out")))
	tab.submit("sign out", "confirm-sign-out")
	tab.expectNone("the confirmation after signing out", "#confirm-sign-out")

	tab.do("sign in", chromedp.Navigate(w.issuer+"/signin"), chromedp.WaitVisible(chromedp.ID("sign-in")),
		chromedp.SetValue(chromedp.ID("email"), email), chromedp.SetValue(chromedp.ID("password"), password))
	tab.submit("sign in", "sign-in")
	tab.expect("the account page", "#add-totp")

	tab.do("add an authenticator app", chromedp.Click(chromedp.ID("add-totp")), chromedp.WaitVisible(chromedp.ID("confirm-mfa")))
	tab.audit("mfa-confirm")
	tab.do("a wrong password", chromedp.SetValue(chromedp.ID("current-password"), "not my password"))
	tab.submit("confirm with a wrong password", "confirm-mfa")
	tab.errorRules("mfa-confirm-error", nil)
	tab.audit("mfa-confirm-error")
	tab.do("the password", chromedp.SetValue(chromedp.ID("current-password"), password))
	tab.submit("confirm with the password", "confirm-mfa")
	tab.expect("the enrolment page", "#totp-qr")
	tab.audit("mfa-enrol")

	tab.do("a wrong first code", chromedp.SetValue(chromedp.ID("code"), "12345"))
	tab.submit("confirm the app with a wrong code", "confirm-totp")
	tab.errorRules("mfa-enrol-error", nil)
	tab.audit("mfa-enrol-error")
	secret = a11yEval[string](tab, "read the key", `document.getElementById("totp-secret").dataset.secret`)
	tab.do("the first code", chromedp.SetValue(chromedp.ID("code"), a11yTOTP(tab, secret)))
	tab.submit("confirm the app", "confirm-totp")
	tab.expect("the recovery codes", "#recovery-codes")
	tab.audit("mfa-recovery-codes")
	recovery := strings.Fields(a11yEval[string](tab, "read the recovery codes", `document.getElementById("recovery-codes").textContent`))
	if len(recovery) == 0 {
		tab.fail("the recovery codes page shows no codes")
	}
	tab.do("saved", chromedp.Click(chromedp.ID("codes-saved")), chromedp.WaitVisible(chromedp.ID("factor-list")))
	tab.audit("account-methods")

	// Signed out and in again: the second step, a wrong code first.
	tab.do("sign out", chromedp.Navigate(w.issuer+"/oauth2/logout"), chromedp.WaitVisible(chromedp.ID("confirm-sign-out")))
	tab.submit("sign out", "confirm-sign-out")
	tab.expectNone("the confirmation after signing out", "#confirm-sign-out")
	tab.do("sign in", chromedp.Navigate(w.issuer+"/signin"), chromedp.WaitVisible(chromedp.ID("sign-in")),
		chromedp.SetValue(chromedp.ID("email"), email), chromedp.SetValue(chromedp.ID("password"), password))
	tab.submit("sign in", "sign-in")
	tab.expect("the second step", "#verify-code")
	tab.audit("mfa-second-step")
	tab.do("a wrong code", chromedp.SetValue(chromedp.ID("code"), "12345"))
	tab.submit("give a wrong code", "verify-code")
	tab.errorRules("mfa-second-step-error", nil)
	tab.audit("mfa-second-step-error")

	tab.do("use a recovery code", chromedp.Click(chromedp.ID("method-recovery")), chromedp.WaitVisible(chromedp.ID("verify-code")))
	tab.audit("mfa-second-step-recovery")
	tab.do("a recovery code", chromedp.SetValue(chromedp.ID("code"), recovery[0]))
	tab.submit("give a recovery code", "verify-code")
	tab.expect("the codes that remain", "#recovery-remaining")
	tab.audit("mfa-recovery-used")
	tab.do("continue", chromedp.Click(chromedp.ID("continue")), chromedp.WaitVisible(chromedp.ID("account-email")))
}

// a11yTOTP computes the code of the key secret now, as an authenticator app would.
func a11yTOTP(tab *a11yTab, secret string) string {
	tab.t.Helper()
	code, err := totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		tab.fail("compute a code from the key %q: %v", secret, err)
	}
	return code
}

// a11yCSP is the policy of the server's pages: no inline script or style.
const a11yCSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// a11yFaultyPage has an input without a label, an image without alt text,
// faint text and a check mark a screen reader reads out.
const a11yFaultyPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Faulty</title><link rel="stylesheet" href="/faulty.css"></head>
<body><main><h1>Faulty</h1>
<form method="post" action="/"><input id="q" name="q" type="text"><button type="submit">Go</button></form>
<img src="/photo.png" width="10" height="10">
<p class="faint">Hard to read.</p>
<ul><li><span>&#x2713;</span> Spoken check mark</li></ul>
</main></body></html>`

// a11yGoodErrorPage follows the error rules: "Error:" in the title, a
// summary with role=alert that links to each invalid field and takes the
// focus on load (autofocus, no script).
const a11yGoodErrorPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Error: Create your account</title></head>
<body><main><h1>Create your account</h1>
<div id="error-summary" role="alert" tabindex="-1" autofocus><h2>There is a problem</h2><ul>
<li><a href="#email">Enter an e-mail address, like name@example.com</a></li>
<li><a href="#password">Choose a password of at least 8 characters</a></li></ul></div>
<form method="post" action="/">
<label for="email">E-mail address</label>
<input id="email" name="email" type="email" value="nope" aria-invalid="true" aria-describedby="email-error">
<p id="email-error">Enter an e-mail address, like name@example.com</p>
<label for="password">Password</label>
<input id="password" name="password" type="password" aria-invalid="true" aria-describedby="password-error">
<p id="password-error">Choose a password of at least 8 characters</p>
<button type="submit">Create account</button></form>
</main></body></html>`

// harness checks the walk's own instruments on two pages served with the
// pages' CSP: axe-core and the accessibility tree see the faults of
// a11yFaultyPage, and a11yGoodErrorPage passes the error rules and axe.
func (w *a11yWalk) harness(t *testing.T) {
	file := func(contentType, body string) http.HandlerFunc {
		return func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", contentType)
			rw.Header().Set("Content-Security-Policy", a11yCSP)
			rw.Write([]byte(body))
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /faulty", file("text/html; charset=utf-8", a11yFaultyPage))
	mux.HandleFunc("GET /faulty.css", file("text/css", "body { background: #fff; color: #111; } .faint { color: #c8c8c8; }"))
	mux.HandleFunc("GET /error", file("text/html; charset=utf-8", a11yGoodErrorPage))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tab := w.newTab(t, a11yLanguage{Tag: "en", ErrorPrefix: "Error:"}, "harness", "")
	tab.do("the faulty page", chromedp.Navigate(srv.URL+"/faulty"), chromedp.WaitVisible(chromedp.CSS("h1")))
	var found []string
	for _, v := range tab.axe().Violations {
		found = append(found, v.ID)
	}
	for _, want := range []string{"label", "image-alt", "color-contrast"} {
		if !slices.Contains(found, want) {
			t.Errorf("axe-core on a page with a %s fault reports %v", want, found)
		}
	}
	if spoken := tab.spokenGlyphs(); len(spoken) == 0 {
		t.Errorf("the accessibility tree of a page with a spoken check mark holds none")
	}

	tab.do("the good error page", chromedp.Navigate(srv.URL+"/error"), chromedp.WaitVisible(chromedp.CSS("h1")))
	tab.errorRules("harness-error", []string{"email", "password"})
	if v := tab.axe().Violations; len(v) > 0 {
		t.Errorf("axe-core finds faults on the good error page: %+v", v)
	}
}

// a11yTab is one browser (its own cookies) in the walk.
type a11yTab struct {
	w    *a11yWalk
	t    *testing.T
	ctx  context.Context
	lang a11yLanguage
	name string // the browser, in messages
}

// newTab opens a tab in a new browser context that asks for lang, as the
// browser with userAgent when it is set.
func (w *a11yWalk) newTab(t *testing.T, lang a11yLanguage, name, userAgent string) *a11yTab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(w.root, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first action creates the tab and binds it to ctx: no timeout on it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("open the %s's tab: %v", name, err)
	}
	tab := &a11yTab{w: w, t: t, ctx: ctx, lang: lang, name: name}
	tab.do("ask for "+lang.Tag, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if userAgent != "" {
			_, err := cdp.Call(ctx, tg, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: userAgent, AcceptLanguage: lang.Tag})
			if err != nil {
				return err
			}
		}
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Accept-Language": lang.Tag}})
		return err
	}), a11yEmulate(a11yVariants[0]))
	return tab
}

func (tab *a11yTab) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tab.fail("%s: %v", what, err)
	}
}

// navigate opens url and returns the response of the page it ends at.
func (tab *a11yTab) navigate(what, url string) *network.Response {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 20*time.Second)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(url))
	if err != nil {
		tab.fail("%s: %v", what, err)
	}
	return resp
}

// submit clicks the button with id and waits for the page the form leads to.
func (tab *a11yTab) submit(what, id string) {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.ID(id))); err != nil {
		tab.fail("%s: %v", what, err)
	}
}

func (tab *a11yTab) expect(what, sel string) {
	tab.t.Helper()
	tab.do(what, chromedp.WaitVisible(chromedp.CSS(sel)))
}

func (tab *a11yTab) expectNone(what, sel string) {
	tab.t.Helper()
	if a11yEval[bool](tab, what, fmt.Sprintf(`document.querySelector(%q) !== null`, sel)) {
		tab.fail("%s: %s is still on the page", what, sel)
	}
}

// expectResult waits for the relying party's answer.
func (tab *a11yTab) expectResult(want string) {
	tab.t.Helper()
	tab.expect("the application's answer", "#result")
	if got := a11yEval[string](tab, "read the answer", `document.getElementById("result").textContent`); got != want {
		tab.fail("the application says %q, want %q", got, want)
	}
}

// fail saves a screenshot of the page as it is, then fails the test.
func (tab *a11yTab) fail(format string, args ...any) {
	tab.t.Helper()
	if png, err := chromedp.Run(tab.ctx, chromedp.FullScreenshot(100)); err == nil {
		p := filepath.Join(tab.w.shots, fmt.Sprintf("a11y-%s-%s-failure.png", tab.lang.Tag, tab.name))
		if os.WriteFile(p, png, 0o644) == nil {
			tab.t.Logf("screenshot of the failure: %s", p)
		}
	}
	tab.t.Fatalf(tab.name+": "+format, args...)
}

// a11yEval evaluates a JavaScript expression in the tab's page, awaiting a
// promise. DevTools evaluation is not subject to the page's CSP.
func a11yEval[T any](tab *a11yTab, what, expr string) T {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		tab.fail("%s: %v", what, err)
	}
	return v
}

// a11yEmulate sets the viewport and the colour scheme.
func a11yEmulate(v a11yVariant) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: v.Width, Height: v.Height, DeviceScaleFactor: 1, Mobile: v.Mobile,
		})
		if err != nil {
			return err
		}
		_, err = cdp.Call(ctx, tg, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v.Scheme}},
		})
		return err
	})
}

// a11yAxeResult is what a11yAxeRun returns.
type a11yAxeResult struct {
	Violations []struct {
		ID, Impact, Help string
		Nodes            []struct{ Target, Summary string }
	}
	Incomplete []string
}

// a11yAxeRun runs axe-core on the page with a11yAxeTags; the result is an a11yAxeResult.
var a11yAxeRun = `axe.run(document, {runOnly: {type: "tag", values: ` + a11yJSON(a11yAxeTags) + `}, resultTypes: ["violations"]}).then(r => ({
	violations: r.violations.map(v => ({id: v.id, impact: v.impact || "", help: v.help,
		nodes: v.nodes.map(n => ({target: n.target.map(String).join(" "), summary: n.failureSummary || ""}))})),
	incomplete: r.incomplete.map(v => v.id),
}))`

func a11yJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// axe runs axe-core on the page as it is, injecting it first when the page
// has none.
func (tab *a11yTab) axe() a11yAxeResult {
	tab.t.Helper()
	if !a11yEval[bool](tab, "look for axe", `typeof window.axe === "object"`) {
		a11yEval[chromedp.Void](tab, "inject axe-core", tab.w.axe)
	}
	return a11yEval[a11yAxeResult](tab, "run axe-core", a11yAxeRun)
}

// a11yGlyphs are decorative characters a screen reader should not read out.
const a11yGlyphs = "\u2713\u2714\u2717\u2718"

// spokenGlyphs returns the names in the page's accessibility tree (what a
// screen reader reads) that hold a decorative glyph.
func (tab *a11yTab) spokenGlyphs() []string {
	tab.t.Helper()
	ctx, cancel := context.WithTimeout(tab.ctx, 20*time.Second)
	defer cancel()
	tree, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (accessibility.GetFullAXTreeResult, error) {
		return cdp.Call(ctx, tg, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	})
	if err != nil {
		tab.fail("read the accessibility tree: %v", err)
	}
	var spoken []string
	for _, n := range tree.Nodes {
		if n.Ignored || n.Name == nil {
			continue
		}
		var name string
		if json.Unmarshal(n.Name.Value, &name) == nil && strings.ContainsAny(name, a11yGlyphs) && !slices.Contains(spoken, name) {
			spoken = append(spoken, name)
		}
	}
	return spoken
}

// a11yPageInfo is what audit reads of the page.
type a11yPageInfo struct {
	Path, Title, Lang string
	// MainLuminance is the relative luminance of the background behind
	// <main>; ColorScheme the root's computed color-scheme and the
	// color-scheme meta tag's.
	MainLuminance float64
	ColorScheme   string
}

const a11yPageInfoJS = `(() => {
	const rgb = el => {
		for (; el; el = el.parentElement) {
			const m = getComputedStyle(el).backgroundColor.match(/[\d.]+/g);
			if (m && (m.length < 4 || Number(m[3]) > 0)) return m.slice(0, 3).map(Number);
		}
		return [255, 255, 255];
	};
	const lin = c => { c /= 255; return c <= 0.04045 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
	const [r, g, b] = rgb(document.querySelector("main") || document.body).map(lin);
	return {path: location.pathname, title: document.title, lang: document.documentElement.lang,
		mainLuminance: 0.2126 * r + 0.7152 * g + 0.0722 * b,
		colorScheme: getComputedStyle(document.documentElement).colorScheme + " " +
			((document.querySelector("meta[name=color-scheme]") || {}).content || "")};
})()`

// audit checks the page at every variant with axe, photographs it, and adds
// it to the report. The page stays as it is: no reload, so a page that a POST
// answered is audited as the person sees it.
func (tab *a11yTab) audit(page string) {
	t := tab.t
	t.Helper()
	tab.w.rows = append(tab.w.rows, a11yRow{Lang: tab.lang.Tag, Page: page, Violations: map[string][]string{}})
	row := &tab.w.rows[len(tab.w.rows)-1]
	where := tab.lang.Tag + "/" + page
	darkChecked := false
	found := map[string]*a11yFinding{} // by rule
	var order []string
	for _, v := range a11yVariants {
		tab.do("emulate "+v.Name, a11yEmulate(v))
		info := a11yEval[a11yPageInfo](tab, "read the page", a11yPageInfoJS)
		row.Path, row.Title = info.Path, info.Title
		if v == a11yVariants[0] {
			tab.w.check(t, where, "html-lang", info.Lang == tab.lang.Tag, "%s: <html lang=%q>, want %q", page, info.Lang, tab.lang.Tag)
			spoken := tab.spokenGlyphs()
			tab.w.check(t, where, "spoken-check-mark", len(spoken) == 0, "%s: screen readers read out %q", page, spoken)
		}
		if v.Scheme == "dark" && !darkChecked {
			darkChecked = true
			tab.w.check(t, where, "dark-palette", info.MainLuminance < 0.2 && strings.Contains(info.ColorScheme, "dark"),
				"%s at %s: the background behind <main> has luminance %.2f and color-scheme (CSS, meta) is %q; want a dark palette (under 0.2) and color-scheme light dark",
				page, v.Name, info.MainLuminance, info.ColorScheme)
		}
		res := tab.axe()
		for _, viol := range res.Violations {
			row.Violations[v.Name] = append(row.Violations[v.Name], viol.ID)
			f, seen := found[viol.ID]
			if !seen {
				var targets []string
				for _, n := range viol.Nodes {
					targets = append(targets, fmt.Sprintf("%s (%s)", n.Target, strings.Join(strings.Fields(n.Summary), " ")))
				}
				f = &a11yFinding{desc: fmt.Sprintf("%s [%s]: %s; on %s", viol.ID, viol.Impact, viol.Help, strings.Join(targets, "; "))}
				found[viol.ID] = f
				order = append(order, viol.ID)
			}
			f.variants = append(f.variants, v.Name)
		}
		for _, id := range res.Incomplete {
			if !slices.Contains(row.Incomplete, id) {
				row.Incomplete = append(row.Incomplete, id)
			}
		}
		png, err := chromedp.Run(tab.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			tab.fail("screenshot %s at %s: %v", page, v.Name, err)
		}
		name := fmt.Sprintf("a11y-%s-%s-%s.png", tab.lang.Tag, page, v.Name)
		if err := os.WriteFile(filepath.Join(tab.w.shots, name), png, 0o644); err != nil {
			t.Fatalf("write screenshot: %v", err)
		}
	}
	tab.do("back to the first variant", a11yEmulate(a11yVariants[0]))
	for _, id := range order {
		f := found[id]
		tab.w.check(t, where, "axe/"+page+"/"+id, false, "%s %s (%s) at %s: %s",
			tab.lang.Tag, page, row.Path, strings.Join(f.variants, ", "), f.desc)
	}
}

// a11yFinding is one axe rule a page broke, at one or more variants.
type a11yFinding struct {
	desc     string // the rule, its impact and help, and the elements at the first variant
	variants []string
}

// a11yErrorState is what errorRules reads of a page after a failed submit.
type a11yErrorState struct {
	Title string
	// Summary: a role=alert element in <main> (the first); SummaryID its id.
	Summary   bool
	SummaryID string
	// Invalid are the ids of the fields marked aria-invalid; Unlinked those
	// of them the summary does not link to, leaving out fields described only
	// by the summary itself (a form-level message such as "e-mail or password
	// is incorrect"); Broken the summary's links to nothing focusable.
	Invalid, Unlinked, Broken []string
	Links                     int
	// Focus describes document.activeElement.
	Focus                     string
	OnSummary, OnFirstInvalid bool
	InView                    bool
}

// a11yErrorStateJS waits (three seconds at most) for the focus to reach the
// summary or the first invalid field, as a script or autofocus would put it
// there after load, then reads the page.
const a11yErrorStateJS = `new Promise(resolve => {
	const deadline = Date.now() + 3000;
	const read = () => {
		const main = document.querySelector("main") || document.body;
		const summary = main.querySelector("[role=alert]");
		const invalid = [...document.querySelectorAll("[aria-invalid=true]")];
		const links = summary ? [...summary.querySelectorAll("a[href^='#']")].map(a => decodeURIComponent(a.getAttribute("href").slice(1))) : [];
		const describedOnlyBySummary = f => summary && summary.id &&
			(f.getAttribute("aria-describedby") || "").split(/\s+/).includes(summary.id) && !document.getElementById(f.id + "-error");
		const a = document.activeElement;
		const r = a && a !== document.body ? a.getBoundingClientRect() : null;
		return {
			title: document.title, summary: !!summary, summaryID: summary ? summary.id : "",
			invalid: invalid.map(f => f.id),
			unlinked: invalid.filter(f => !links.includes(f.id) && !describedOnlyBySummary(f)).map(f => f.id),
			broken: links.filter(id => { const el = document.getElementById(id); return !el || el.tabIndex < 0; }),
			links: links.length,
			focus: a ? a.tagName.toLowerCase() + (a.id ? "#" + a.id : "") + (a.getAttribute("role") ? "[role=" + a.getAttribute("role") + "]" : "") : "none",
			onSummary: !!summary && (a === summary || summary.contains(a)),
			onFirstInvalid: invalid.length > 0 && a === invalid[0],
			inView: !!r && r.bottom > 0 && r.top < innerHeight,
		};
	};
	const tick = () => {
		const s = read();
		if (document.readyState === "complete" && (s.onSummary || s.onFirstInvalid) || Date.now() > deadline) resolve(s);
		else setTimeout(tick, 20);
	};
	tick();
})`

// errorRules checks the page a failed submit answered: the title starts with
// the language's "Error:", a summary with role=alert links to every invalid
// field, focus is on the summary or on the first invalid field and in view,
// and (when want is set) each of want's fields is marked invalid at once.
func (tab *a11yTab) errorRules(page string, want []string) {
	t := tab.t
	t.Helper()
	s := a11yEval[a11yErrorState](tab, "read the error state", a11yErrorStateJS)
	w, where := tab.w, tab.lang.Tag+"/"+page
	w.check(t, where, page+"/error-title", strings.HasPrefix(s.Title, tab.lang.ErrorPrefix),
		"the title is %q, want it to start with %q", s.Title, tab.lang.ErrorPrefix)
	w.check(t, where, page+"/error-summary", s.Summary, "no element with role=alert in <main> (invalid fields: %v)", s.Invalid)
	w.check(t, where, page+"/error-focus", (s.OnSummary || s.OnFirstInvalid) && s.InView,
		"focus is on %s (in view: %v), want the error summary or the first invalid field %v", s.Focus, s.InView, a11yFirst(s.Invalid))
	w.check(t, where, page+"/error-links", s.Summary && s.Links > 0 && len(s.Unlinked) == 0 && len(s.Broken) == 0,
		"the summary has %d links; fields marked invalid but not linked: %v; links to nothing focusable: %v", s.Links, s.Unlinked, s.Broken)
	if want != nil {
		var missing []string
		for _, id := range want {
			if !slices.Contains(s.Invalid, id) {
				missing = append(missing, id)
			}
		}
		w.check(t, where, page+"/every-error", len(missing) == 0, "fields %v are wrong but not marked invalid (marked: %v)", missing, s.Invalid)
	}
}

func a11yFirst(ids []string) string {
	if len(ids) == 0 {
		return "(none)"
	}
	return "#" + ids[0]
}

// writeReport writes a11y-report.md: every page with its path, title, the axe
// rules it broke at each variant, the expected failures seen on it, and the
// rules axe could not decide (for a person to check on the screenshots).
func (w *a11yWalk) writeReport(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Accessibility walk\n\naxe-core rules: " + strings.Join(a11yAxeTags, ", ") + ".\n")
	b.WriteString("Screenshots: a11y-<language>-<page>-<width>-<scheme>.png beside this file.\n\n")
	b.WriteString("| language | page | path | title | violations | expected failures | incomplete (check by eye) |\n|---|---|---|---|---|---|---|\n")
	for _, r := range w.rows {
		var viol []string
		for _, v := range a11yVariants {
			if ids := r.Violations[v.Name]; len(ids) > 0 {
				viol = append(viol, v.Name+": "+strings.Join(ids, ", "))
			}
		}
		sort.Strings(r.Incomplete)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", r.Lang, r.Page, r.Path, strings.ReplaceAll(r.Title, "|", "\\|"),
			a11yOrNone(strings.Join(viol, "; ")), a11yOrNone(strings.Join(w.expectedOn[r.Lang+"/"+r.Page], ", ")), a11yOrNone(strings.Join(r.Incomplete, ", ")))
	}
	if err := os.WriteFile(filepath.Join(w.shots, "a11y-report.md"), []byte(b.String()), 0o644); err != nil {
		t.Errorf("write the report: %v", err)
	}
}

func a11yOrNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
