package main

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TestBrowserSecondFactor, in chromium: a user adds an authenticator app on
// the account page (the secret read from the page, codes computed by
// pquerna/otp as an app would), an application asks for the MFA level with
// acr_values and its go-oidc relying party sees acr and amr in the verified ID
// token; a replayed code is refused; a recovery code signs in and says how
// many remain.
func TestBrowserSecondFactor(t *testing.T) {
	chromium := chromiumPath(t)
	site := startPagesSite(t, func(rp string) []string {
		return []string{"--redirect-uri", rp + "/callback", "--client-uri", rp + "/"}
	})
	issuer, rp := site.issuer, site.rp
	const email, password = "ada@example.com", "correct horse battery"
	if r := runCLIWithStdin(t, site.env, password+"\n", "users", "create", "--data-dir", site.dataDir, "--email", email, "--password-stdin", "--email-verified"); r.code != 0 {
		t.Fatalf("users create: exit %d: %s", r.code, r.stderr)
	}
	b := newBrowser(t, chromium, site.shots)
	b.name = "mfa"
	code := func(secret string, at time.Time) string {
		t.Helper()
		c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// Password only: the relying party sees the password level.
	b.do("sign in", chromedp.Navigate(rp.srv.URL+"/login?client=notes"), chromedp.WaitVisible(chromedp.ID("sign-in")),
		chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("allow")),
		chromedp.Click(chromedp.ID("allow")), chromedp.WaitVisible(chromedp.ID("result")))
	if acr := b.text("#acr"); acr != "urn:gatehouse:acr:pwd" {
		t.Errorf("password sign-in: acr %q, want urn:gatehouse:acr:pwd", acr)
	}

	// Add an authenticator app: password first, then the QR code and the key.
	b.do("account", chromedp.Navigate(issuer+"/account"), chromedp.WaitVisible(chromedp.ID("add-totp")))
	b.shoot("mfa-account-empty")
	b.do("add an app", chromedp.Click(chromedp.ID("add-totp")), chromedp.WaitVisible(chromedp.ID("confirm-mfa")),
		chromedp.SendKeys(chromedp.ID("current-password"), password), chromedp.Click(chromedp.ID("confirm-mfa")),
		chromedp.WaitVisible(chromedp.ID("totp-qr")))
	b.shoot("mfa-enrol")
	attr, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.ID("totp-secret"), "data-secret"))
	secret := attr.Value
	if err != nil || !attr.Exists || len(secret) < 16 {
		t.Fatalf("no secret on the enrolment page (%q, %v)", secret, err)
	}
	b.do("confirm with the first code", chromedp.SendKeys(chromedp.ID("code"), code(secret, time.Now())),
		chromedp.Click(chromedp.ID("confirm-totp")), chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	b.shoot("mfa-recovery-codes")
	recovery := strings.Fields(b.text("#recovery-codes"))
	if len(recovery) != 10 {
		t.Fatalf("recovery codes page shows %d codes, want 10: %v", len(recovery), recovery)
	}
	b.do("saved", chromedp.Click(chromedp.ID("codes-saved")), chromedp.WaitVisible(chromedp.ID("factor-list")))
	b.shoot("mfa-account-methods")

	// Step-up: the application asks for the MFA level; the signed-in user gives
	// only the code.
	stepCode := code(secret, time.Now().Add(30*time.Second))
	b.do("step up", chromedp.Navigate(rp.srv.URL+"/login?client=notes&acr_values=urn:gatehouse:acr:mfa"),
		chromedp.WaitVisible(chromedp.ID("verify-code")))
	b.shoot("mfa-second-step")
	b.do("give the code", chromedp.SendKeys(chromedp.ID("code"), stepCode), chromedp.Click(chromedp.ID("verify-code")),
		chromedp.WaitVisible(chromedp.ID("result")))
	if acr, amr := b.text("#acr"), b.text("#amr"); acr != "urn:gatehouse:acr:mfa" || amr != "pwd otp mfa" {
		t.Errorf("after the step-up: acr %q amr %q, want urn:gatehouse:acr:mfa and pwd otp mfa", acr, amr)
	}

	// Signed out, the password leads to the second step; the used code is
	// refused.
	b.do("sign out", chromedp.Navigate(issuer+"/account"), chromedp.WaitVisible(chromedp.ID("sign-out")),
		chromedp.Click(chromedp.ID("sign-out")), chromedp.WaitVisible(chromedp.ID("sign-in-again")))
	b.do("sign in again", chromedp.Navigate(rp.srv.URL+"/login?client=notes"), chromedp.WaitVisible(chromedp.ID("sign-in")),
		chromedp.SendKeys(chromedp.ID("email"), email), chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("sign-in")), chromedp.WaitVisible(chromedp.ID("verify-code")))
	b.do("replay the code", chromedp.SendKeys(chromedp.ID("code"), stepCode), chromedp.Click(chromedp.ID("verify-code")),
		chromedp.WaitVisible(chromedp.ID("error-summary")))
	b.shoot("mfa-second-step-error")
	if msg := b.text("#code-error"); !strings.Contains(msg, "already used") {
		t.Errorf("replayed code: %q, want it to say the code was already used", msg)
	}

	// A recovery code instead.
	b.do("use a recovery code", chromedp.Click(chromedp.ID("method-recovery")), chromedp.WaitVisible(chromedp.ID("verify-code")),
		chromedp.SendKeys(chromedp.ID("code"), recovery[0]), chromedp.Click(chromedp.ID("verify-code")),
		chromedp.WaitVisible(chromedp.ID("recovery-remaining")))
	if left := b.text("#recovery-remaining"); !strings.Contains(left, "9") {
		t.Errorf("after a recovery code: %q, want 9 left", left)
	}
	b.do("continue", chromedp.Click(chromedp.ID("continue")), chromedp.WaitVisible(chromedp.ID("result")))
	if acr := b.text("#acr"); acr != "urn:gatehouse:acr:mfa" {
		t.Errorf("recovery-code sign-in: acr %q, want urn:gatehouse:acr:mfa", acr)
	}
}
