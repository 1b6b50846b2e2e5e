package web_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"golang.org/x/net/html"

	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// totpCode is the authenticator app's code for secret at t, computed by the
// library apps use (pquerna/otp), not by our code.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatalf("GenerateCodeCustom: %v", err)
	}
	return c
}

func wantStatus(t *testing.T, what string, p *page, status int) {
	t.Helper()
	if p.status != status {
		t.Fatalf("%s: status %d, want %d (%s):\n%s", what, p.status, status, p.url, p.body)
	}
}

// fieldError is the text of the error under field id, or "".
func fieldError(p *page, id string) string {
	if n := byID(p.doc, id+"-error"); n != nil {
		return text(n)
	}
	return ""
}

// enrolTOTP adds an authenticator app on the account page of a signed-in
// browser and returns its secret (read from the page) and the recovery codes
// shown.
func enrolTOTP(t *testing.T, b *browser) (string, []string) {
	t.Helper()
	acct := b.get("/account")
	wantStatus(t, "account page", acct, http.StatusOK)
	if byID(acct.doc, "methods-section") == nil || byID(acct.doc, "no-factors") == nil {
		t.Fatalf("account page has no empty Sign-in methods section:\n%s", acct.body)
	}
	confirm := b.click(acct, "add-totp")
	wantStatus(t, "password confirmation", confirm, http.StatusOK)

	wrong := b.submit(confirm, "confirm-mfa", map[string]string{"current-password": "not the password"})
	wantStatus(t, "wrong password", wrong, http.StatusUnauthorized)
	if fieldError(wrong, "current-password") == "" || byID(wrong.doc, "error-summary") == nil {
		t.Errorf("wrong password: no error under the field or no summary:\n%s", wrong.body)
	}

	enrol := b.submit(confirm, "confirm-mfa", map[string]string{"current-password": testPassword})
	wantStatus(t, "enrolment page", enrol, http.StatusOK)
	secretNode := byID(enrol.doc, "totp-secret")
	if secretNode == nil || attr(secretNode, "data-secret") == "" {
		t.Fatalf("enrolment page shows no secret:\n%s", enrol.body)
	}
	secret := attr(secretNode, "data-secret")
	if strings.ReplaceAll(text(secretNode), " ", "") != secret {
		t.Errorf("secret shown as %q, want the groups of %q", text(secretNode), secret)
	}
	qr := byID(enrol.doc, "totp-qr")
	if qr == nil || qr.Data != "svg" || len(all(qr, func(n *html.Node) bool { return n.Data == "rect" })) < 50 {
		t.Errorf("enrolment page has no drawn QR code")
	}

	bad := b.submit(enrol, "confirm-totp", map[string]string{"code": "000000"})
	if totpCode(t, secret, time.Now()) == "000000" {
		t.Skip("the current code happens to be 000000")
	}
	wantStatus(t, "wrong first code", bad, http.StatusBadRequest)
	if fieldError(bad, "code") == "" {
		t.Errorf("wrong first code: no error under the field:\n%s", bad.body)
	}
	m, err := b.e.mfa.Methods(b.e.t.Context(), userIDOf(t, b.e, acct))
	if err != nil {
		t.Fatal(err)
	}
	if m.Enrolled() {
		t.Fatalf("a wrong first code enrolled the app")
	}

	codesPage := b.submit(bad, "confirm-totp", map[string]string{"code": totpCode(t, secret, time.Now())})
	wantStatus(t, "first code", codesPage, http.StatusOK)
	list := byID(codesPage.doc, "recovery-codes")
	if list == nil {
		t.Fatalf("no recovery codes after the first factor:\n%s", codesPage.body)
	}
	var codes []string
	for _, c := range all(list, func(n *html.Node) bool { return n.Data == "code" }) {
		codes = append(codes, text(c))
	}
	if len(codes) != mfa.RecoveryCodeCount {
		t.Fatalf("%d recovery codes shown, want %d", len(codes), mfa.RecoveryCodeCount)
	}
	back := b.follow(b.click(codesPage, "codes-saved"))
	wantStatus(t, "account after enrolment", back, http.StatusOK)
	if len(all(back.doc, func(n *html.Node) bool { return strings.HasPrefix(attr(n, "id"), "remove-factor-") })) != 1 {
		t.Errorf("account page does not list the new authenticator app:\n%s", back.body)
	}
	if n := byID(back.doc, "recovery-count"); n == nil || !strings.Contains(text(n), "10") {
		t.Errorf("account page does not say 10 recovery codes")
	}
	return secret, codes
}

func userIDOf(t *testing.T, e *env, p *page) string {
	t.Helper()
	email := byID(p.doc, "account-email")
	if email == nil {
		t.Fatalf("no #account-email on %s", p.url)
	}
	u, err := e.userByEmail(text(email))
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestSecondFactorSignIn: a user adds an authenticator app (password first,
// confirmed by a first code, recovery codes shown once); afterwards the
// password alone gives no session, the app's code does, the same code again
// is refused, a recovery code works once and says how many remain, and
// removing the app removes the recovery codes.
func TestSecondFactorSignIn(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, false, withMFA(mfa.PolicyOptional))
		e.user("two@example.com", "Two")
		b := e.browser()
		wantStatus(t, "first sign-in", b.signIn("two@example.com", testPassword), http.StatusOK)
		secret, codes := enrolTOTP(t, b)

		// Password alone: the second step, and no session.
		b2 := e.browser()
		step := b2.get("/signin")
		step = b2.submit(step, "sign-in", map[string]string{"email": "two@example.com", "password": testPassword})
		if step.status != http.StatusSeeOther || step.location() != "/signin/second-factor" {
			t.Fatalf("sign-in with a factor: %d to %q, want 303 to /signin/second-factor", step.status, step.location())
		}
		if acct := b2.get("/account"); acct.status != http.StatusSeeOther || !strings.HasPrefix(acct.location(), "/signin") {
			t.Fatalf("account page after the password alone: %d %q, want a redirect to sign in", acct.status, acct.location())
		}
		challenge := b2.get("/signin/second-factor")
		wantStatus(t, "second step", challenge, http.StatusOK)
		if byID(challenge.doc, "method-recovery") == nil {
			t.Errorf("second step offers no recovery code")
		}
		empty := b2.submit(challenge, "verify-code", map[string]string{"code": ""})
		wantStatus(t, "empty code", empty, http.StatusBadRequest)
		code := totpCode(t, secret, time.Now().Add(30*time.Second))
		done := b2.submit(challenge, "verify-code", map[string]string{"code": code})
		if done.status != http.StatusSeeOther || done.location() != "/account" {
			t.Fatalf("right code: %d to %q, want 303 to /account:\n%s", done.status, done.location(), done.body)
		}
		wantStatus(t, "account after the second step", b2.get("/account"), http.StatusOK)
		bs, err := store.ListUserSessions(t.Context(), userIDOf(t, e, b2.get("/account")), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, s := range bs {
			if strings.Contains(s.AMR, "otp") && strings.Contains(s.AMR, "mfa") && strings.Contains(s.AMR, "pwd") {
				found = true
			}
		}
		if !found {
			t.Errorf("no session with amr pwd otp mfa: %+v", bs)
		}

		// The same code again, in another browser: refused as used.
		b3 := e.browser()
		p3 := b3.submit(b3.get("/signin"), "sign-in", map[string]string{"email": "two@example.com", "password": testPassword})
		replay := b3.submit(b3.follow(p3), "verify-code", map[string]string{"code": code})
		wantStatus(t, "replayed code", replay, http.StatusUnauthorized)
		if msg := fieldError(replay, "code"); !strings.Contains(msg, "already used") {
			t.Errorf("replayed code: error %q, want it to say the code was already used", msg)
		}

		// A recovery code, typed in capitals without the dash.
		rec := b3.click(replay, "method-recovery")
		used := b3.submit(rec, "verify-code", map[string]string{"code": strings.ToUpper(strings.ReplaceAll(codes[0], "-", ""))})
		wantStatus(t, "recovery code", used, http.StatusOK)
		if n := byID(used.doc, "recovery-remaining"); n == nil || !strings.Contains(text(n), "9") {
			t.Errorf("after a recovery code: no word of 9 remaining:\n%s", used.body)
		}
		wantStatus(t, "account after the recovery code", b3.follow(b3.click(used, "continue")), http.StatusOK)

		// The same recovery code again: refused.
		b4 := e.browser()
		p4 := b4.follow(b4.submit(b4.get("/signin"), "sign-in", map[string]string{"email": "two@example.com", "password": testPassword}))
		again := b4.submit(b4.click(p4, "method-recovery"), "verify-code", map[string]string{"code": codes[0]})
		wantStatus(t, "spent recovery code", again, http.StatusUnauthorized)

		// Removing the app (password first) removes the recovery codes too.
		acct := b.get("/account")
		var removeID string
		for _, n := range all(acct.doc, func(n *html.Node) bool { return strings.HasPrefix(attr(n, "id"), "remove-factor-") }) {
			removeID = attr(n, "id")
		}
		confirm := b.click(acct, removeID)
		gone := b.follow(b.submit(confirm, "confirm-mfa", map[string]string{"current-password": testPassword}))
		wantStatus(t, "after removal", gone, http.StatusOK)
		if byID(gone.doc, "no-factors") == nil || byID(gone.doc, "recovery-count") != nil {
			t.Errorf("after removing the only factor: factors or recovery codes still listed:\n%s", gone.body)
		}
		b5 := e.browser()
		if p := b5.signIn("two@example.com", testPassword); p.status != http.StatusOK || byID(p.doc, "account-email") == nil {
			t.Errorf("without factors the password alone should sign in: %d %s", p.status, p.url)
		}
	})
}

// TestRequiredPolicyEnrolsAfterPassword: under the required policy a user
// without a factor sets one up right after the password, sees recovery codes,
// and continues into the authorization.
func TestRequiredPolicyEnrolsAfterPassword(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true, withMFA(mfa.PolicyOptional))
	e.user("must@example.com", "Must")
	e.client("strict-app", "Strict App", func(c *storage.Client) { c.MFAPolicy = "required"; c.FirstParty = true })
	e.client("easy-app", "Easy App", func(c *storage.Client) { c.FirstParty = true })
	b := e.browser()

	// The relaxed client: the password is enough.
	authURL, _ := e.authorizeURL("easy-app", "openid")
	p := b.follow(b.get(authURL))
	p = b.submit(p, "sign-in", map[string]string{"email": "must@example.com", "password": testPassword})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), e.issuer+"/oauth2/authorize") && !strings.HasPrefix(p.location(), "/oauth2/authorize") {
		t.Fatalf("easy-app sign-in: %d to %q, want back to the authorization", p.status, p.location())
	}
	b.post("/signout", nil)

	b = e.browser()
	authURL, _ = e.authorizeURL("strict-app", "openid")
	p = b.follow(b.get(authURL))
	p = b.submit(p, "sign-in", map[string]string{"email": "must@example.com", "password": testPassword})
	if p.status != http.StatusSeeOther || p.location() != "/signin/set-up-second-factor" {
		t.Fatalf("strict-app sign-in: %d to %q, want the set-up step", p.status, p.location())
	}
	setup := b.get("/signin/set-up-second-factor")
	wantStatus(t, "set-up step", setup, http.StatusOK)
	if byID(setup.doc, "enrol-required") == nil {
		t.Errorf("set-up step does not say the application requires it")
	}
	secret := attr(byID(setup.doc, "totp-secret"), "data-secret")
	// Reloading keeps the same pending app.
	if again := b.get("/signin/set-up-second-factor"); attr(byID(again.doc, "totp-secret"), "data-secret") != secret {
		t.Errorf("reloading the set-up step changed the secret")
	}
	codes := b.submit(setup, "confirm-totp", map[string]string{"code": totpCode(t, secret, time.Now())})
	wantStatus(t, "recovery codes", codes, http.StatusOK)
	cont := byID(codes.doc, "codes-saved")
	if cont == nil || !strings.Contains(attr(cont, "href"), "/oauth2/authorize") || !strings.Contains(attr(cont, "href"), "client_id=strict-app") {
		t.Fatalf("recovery codes page does not continue into the authorization:\n%s", codes.body)
	}
	end := b.get(attr(cont, "href"))
	if end.status != http.StatusSeeOther || !strings.HasPrefix(end.location(), "https://app.example.com/callback?code=") {
		t.Errorf("authorization after enrolment: %d to %q, want the code at the client", end.status, end.location())
	}
}

// TestServerRequiredPolicyStepsUpExistingSession: a session begun with the
// password alone while the server's policy was optional does not carry into
// an authorization once the policy is required (here a second server on the
// same database, as after a configuration change and restart): prompt=none
// answers interaction_required, otherwise the user is walked through adding a
// second factor without the password, and the code follows.
func TestServerRequiredPolicyStepsUpExistingSession(t *testing.T) {
	store := storagetest.OpenSQLite(t)
	relaxed := newEnv(t, store, true, withMFA(mfa.PolicyOptional))
	strict := newEnv(t, store, true, withMFA(mfa.PolicyRequired))
	relaxed.user("later@example.com", "Later")
	relaxed.client("any-app", "Any App", func(c *storage.Client) { c.FirstParty = true })

	b := relaxed.browser()
	if p := b.signIn("later@example.com", testPassword); p.status != http.StatusOK {
		t.Fatalf("password sign-in under the optional policy: %d at %s", p.status, p.url)
	}
	authURL, _ := relaxed.authorizeURL("any-app", "openid")
	if q := callback(t, b.get(authURL)); q.Get("code") == "" {
		t.Fatalf("optional policy, password session: %v, want a code", q)
	}

	// The same browser (cookies are per host, not per port) at the server
	// whose policy is required.
	sb := strict.browser()
	sb.c = b.c
	authURL, _ = strict.authorizeURL("any-app", "openid")
	if q := callback(t, sb.get(authURL+"&prompt=none")); q.Get("error") != "interaction_required" {
		t.Errorf("required policy, prompt=none on a password session: %v, want error=interaction_required", q)
	}
	authURL, verifier := strict.authorizeURL("any-app", "openid")
	p := sb.get(authURL)
	if p.status != http.StatusSeeOther || p.location() != "/signin/set-up-second-factor" {
		t.Fatalf("required policy, password session: %d to %q, want the set-up step", p.status, p.location())
	}
	setup := sb.get("/signin/set-up-second-factor")
	wantStatus(t, "set-up step", setup, http.StatusOK)
	if byID(setup.doc, "password") != nil {
		t.Errorf("the step-up asks for the password again")
	}
	secret := attr(byID(setup.doc, "totp-secret"), "data-secret")
	codes := sb.submit(setup, "confirm-totp", map[string]string{"code": totpCode(t, secret, time.Now())})
	wantStatus(t, "recovery codes", codes, http.StatusOK)
	q := callback(t, sb.get(attr(byID(codes.doc, "codes-saved"), "href")))
	status, tok := tokenRequest(t, strict, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "client_id": {"any-app"},
		"redirect_uri": {"https://app.example.com/callback"}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		t.Fatalf("token after the step-up: %d %v", status, tok)
	}
	if c := idTokenClaims(t, tok["id_token"].(string)); c["acr"] != "urn:gatehouse:acr:mfa" {
		t.Errorf("ID token after the step-up: acr %v, want urn:gatehouse:acr:mfa", c["acr"])
	}
}

// idTokenClaims decodes the claims of an ID token (its signature is checked
// by the go-oidc tests of the protocol; here only acr and amr matter).
func idTokenClaims(t *testing.T, raw string) map[string]any {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("ID token %q is not a JWS", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStepUpByACRValues: a session made with the password alone does not
// meet acr_values=urn:gatehouse:acr:mfa: prompt=none answers
// interaction_required, otherwise the signed-in user gives the second factor
// (no password) and the ID token says acr mfa and amr pwd, otp, mfa; the
// password-only ID token says acr pwd.
func TestStepUpByACRValues(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true, withMFA(mfa.PolicyOptional))
	u := e.user("step@example.com", "Step")
	e.client("bank-app", "Bank", func(c *storage.Client) { c.FirstParty = true })
	b := e.browser()
	// Password only, no factor yet: acr pwd.
	authURL, verifier := e.authorizeURL("bank-app", "openid")
	p := b.follow(b.get(authURL))
	p = b.follow(b.submit(p, "sign-in", map[string]string{"email": "step@example.com", "password": testPassword}))
	q := callback(t, p)
	status, tok := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "client_id": {"bank-app"},
		"redirect_uri": {"https://app.example.com/callback"}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tok)
	}
	if c := idTokenClaims(t, tok["id_token"].(string)); c["acr"] != "urn:gatehouse:acr:pwd" {
		t.Errorf("password-only ID token acr = %v, want urn:gatehouse:acr:pwd", c["acr"])
	}

	// The user adds an authenticator app.
	en, err := e.mfa.BeginTOTP(t.Context(), u.ID, u.Email, "Phone")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mfa.ConfirmTOTP(t.Context(), u.ID, en.FactorID, totpCode(t, en.Secret, time.Now()), ""); err != nil {
		t.Fatal(err)
	}

	// prompt=none cannot step up.
	authURL, _ = e.authorizeURL("bank-app", "openid")
	none := b.get(authURL + "&prompt=none&acr_values=" + url.QueryEscape("urn:gatehouse:acr:mfa"))
	if q := callback(t, none); q.Get("error") != "interaction_required" {
		t.Errorf("prompt=none with an unmet acr: %v, want error=interaction_required", q)
	}

	// The essential acr of the claims parameter asks the same.
	authURL, verifier = e.authorizeURL("bank-app", "openid")
	claims := `{"id_token":{"acr":{"essential":true,"values":["urn:gatehouse:acr:mfa"]}}}`
	p = b.get(authURL + "&claims=" + url.QueryEscape(claims))
	if p.status != http.StatusSeeOther || p.location() != "/signin/second-factor" {
		t.Fatalf("step-up: %d to %q, want the second step", p.status, p.location())
	}
	p = b.get("/signin/second-factor")
	if byID(p.doc, "password") != nil {
		t.Errorf("the step-up asks for the password again")
	}
	p = b.follow(b.submit(p, "verify-code", map[string]string{"code": totpCode(t, en.Secret, time.Now().Add(30*time.Second))}))
	q = callback(t, p)
	status, tok = tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "client_id": {"bank-app"},
		"redirect_uri": {"https://app.example.com/callback"}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		t.Fatalf("token after step-up: %d %v", status, tok)
	}
	c := idTokenClaims(t, tok["id_token"].(string))
	if c["acr"] != "urn:gatehouse:acr:mfa" {
		t.Errorf("stepped-up ID token acr = %v, want urn:gatehouse:acr:mfa", c["acr"])
	}
	amr, _ := c["amr"].([]any)
	var got []string
	for _, a := range amr {
		got = append(got, a.(string))
	}
	if strings.Join(got, " ") != "pwd otp mfa" {
		t.Errorf("stepped-up ID token amr = %v, want [pwd otp mfa]", got)
	}

	// Now the session meets the level: no second step again.
	authURL, _ = e.authorizeURL("bank-app", "openid")
	if q := callback(t, b.get(authURL+"&acr_values="+url.QueryEscape("urn:gatehouse:acr:mfa"))); q.Get("code") == "" {
		t.Errorf("authorization at the met level: %v, want a code", q)
	}
}

// TestSecondFactorLockout: wrong codes at the second step lock it with the
// second factor's own message, which does not promise that a password reset
// unlocks it (it does not), and the right code is then refused too.
func TestSecondFactorLockout(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, false, withMFA(mfa.PolicyOptional))
		e.user("lock@example.com", "Lock")
		b := e.browser()
		wantStatus(t, "first sign-in", b.signIn("lock@example.com", testPassword), http.StatusOK)
		secret, _ := enrolTOTP(t, b)
		wrong := "000000"
		for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
			if totpCode(t, secret, time.Now().Add(d)) == wrong {
				wrong = "000001"
			}
		}

		b2 := e.browser()
		challenge := b2.follow(b2.submit(b2.get("/signin"), "sign-in", map[string]string{"email": "lock@example.com", "password": testPassword}))
		wantStatus(t, "second step", challenge, http.StatusOK)
		var locked *page
		for i := 0; i < 10 && locked == nil; i++ {
			p := b2.submit(challenge, "verify-code", map[string]string{"code": wrong})
			switch p.status {
			case http.StatusTooManyRequests:
				locked = p
			case http.StatusUnauthorized:
			default:
				t.Fatalf("wrong code %d: status %d", i+1, p.status)
			}
		}
		if locked == nil {
			t.Fatal("10 wrong codes did not lock the second step")
		}
		msg := fieldError(locked, "code")
		if !strings.Contains(msg, "Too many wrong codes. Try again in 15 minutes.") || strings.Contains(msg, "password") {
			t.Errorf("second-step lock says %q, want the second factor's own message without a password reset", msg)
		}
		right := b2.submit(challenge, "verify-code", map[string]string{"code": totpCode(t, secret, time.Now())})
		wantStatus(t, "right code while locked", right, http.StatusTooManyRequests)
		if got := fieldError(right, "code"); got != msg {
			t.Errorf("right code while locked: %q, want %q", got, msg)
		}
	})
}
