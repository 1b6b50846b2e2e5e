package server_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// totpCode is the authenticator app's code for the otpauth URI at t.
func totpCode(t *testing.T, uri string, at time.Time) string {
	t.Helper()
	key, err := otp.NewKeyFromURL(uri)
	mustf(t, err, "parse %q", uri)
	code, err := totp.GenerateCodeCustom(key.Secret(), at, totp.ValidateOpts{Period: uint(key.Period()), Digits: key.Digits(), Algorithm: otp.AlgorithmSHA1})
	mustf(t, err, "code")
	return code
}

// wrongCode is a six-digit code that the app of uri does not show a step
// before, at or after at.
func wrongCode(t *testing.T, uri string, at time.Time) string {
	t.Helper()
	shown := []string{}
	for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
		shown = append(shown, totpCode(t, uri, at.Add(d)))
	}
	for _, c := range []string{"000000", "000001", "000002", "000003"} {
		if !slices.Contains(shown, c) {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// pendingCookie returns the two-factor cookie an answer set ("" when none),
// and fails when it set a session cookie or token too.
func pendingCookie(t *testing.T, what string, a apiAnswer) string {
	t.Helper()
	if tok := a.header.Get("set-auth-token"); tok != "" {
		t.Fatalf("%s: set-auth-token %q before the second factor", what, tok)
	}
	value := ""
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		switch c.Name {
		case "better-auth.two_factor":
			value = c.Value
		default:
			t.Fatalf("%s: set cookie %s before the second factor", what, c.Name)
		}
	}
	return value
}

// wantTwoFactorRedirect checks a sign-in answer of an account with an
// authenticator app: Better Auth's twoFactorRedirect, no session.
func wantTwoFactorRedirect(t *testing.T, what string, a apiAnswer) string {
	t.Helper()
	wantAPI(t, what, a, 200, "")
	body := a.json(t)
	if body["twoFactorRedirect"] != true || len(body) != 2 {
		t.Fatalf("%s: body %s, want twoFactorRedirect and twoFactorMethods only", what, a.body)
	}
	if m, _ := body["twoFactorMethods"].([]any); len(m) != 1 || m[0] != "totp" {
		t.Fatalf("%s: twoFactorMethods = %v, want [totp]", what, body["twoFactorMethods"])
	}
	c := pendingCookie(t, what, a)
	if c == "" {
		t.Fatalf("%s: no better-auth.two_factor cookie; Set-Cookie %q", what, a.header.Values("Set-Cookie"))
	}
	return c
}

// wantSignedOut checks that c has no session.
func wantSignedOut(t *testing.T, what string, c *apiClient) {
	t.Helper()
	if got := strings.TrimSpace(string(c.do("GET", "/api/auth/get-session", nil).body)); got != "null" {
		t.Fatalf("%s: get-session = %s, want null", what, got)
	}
}

// wantTwoFactorEnabled checks the twoFactorEnabled of an answer's user
// (sign-in, get-session, a verified code).
func wantTwoFactorEnabled(t *testing.T, what string, a apiAnswer, want bool) {
	t.Helper()
	u, _ := a.json(t)["user"].(map[string]any)
	if got, ok := u["twoFactorEnabled"].(bool); !ok || got != want {
		t.Fatalf("%s: user.twoFactorEnabled = %v, want %v (answer %s)", what, u["twoFactorEnabled"], want, a.body)
	}
}

// wantSignedIn checks a verified second factor's answer {token, user} and
// that the session it names has the methods amr.
func (e *apiEnv) wantSignedIn(t *testing.T, what string, a apiAnswer, userID string, amr ...string) string {
	t.Helper()
	wantAPI(t, what, a, 200, "")
	body := a.json(t)
	token, _ := body["token"].(string)
	if token == "" || a.header.Get("set-auth-token") != token {
		t.Fatalf("%s: token %q, set-auth-token %q", what, token, a.header.Get("set-auth-token"))
	}
	if u, _ := body["user"].(map[string]any); u == nil || u["id"] != userID {
		t.Fatalf("%s: user %v, want %s", what, body["user"], userID)
	}
	app := e.app()
	app.bearer = token
	s := app.do("GET", "/api/auth/get-session", nil).json(t)
	sid, _ := s["session"].(map[string]any)["id"].(string)
	ss, err := e.ids.ListSessions(t.Context(), userID)
	mustf(t, err, "list sessions")
	for _, bs := range ss {
		if bs.ID != sid {
			continue
		}
		got := strings.Fields(bs.AMR)
		for _, m := range amr {
			if !slices.Contains(got, m) {
				t.Fatalf("%s: session amr %q, want %q in it", what, bs.AMR, amr)
			}
		}
		return token
	}
	t.Fatalf("%s: session %s not among the user's", what, sid)
	return ""
}

// TestAuthAPITwoFactor walks Better Auth's two-factor plugin paths: enable an
// authenticator app and confirm it with its first code, sign in again
// (twoFactorRedirect and no session), wrong, right and replayed codes, backup
// codes (the count drops), a native app finishing with the cookie sent back,
// an expired pending sign-in, then disable. Every answer is checked against
// openapi.json.
func TestAuthAPITwoFactor(t *testing.T) {
	eachAPIDatabase(t, func(t *testing.T, store *storage.Store) {
		clock := &testClock{now: time.Now()}
		e := newAPIEnv(t, store, apiOptions{mfa: true, clock: clock})
		const addr = "totp@example.com"
		e.signUpVerified(addr, apiPassword)
		signIn := map[string]any{"email": addr, "password": apiPassword}
		pw := map[string]any{"password": apiPassword}
		b := e.browser(trustedApp)
		si := b.do("POST", "/api/auth/sign-in/email", signIn)
		wantAPI(t, "sign in", si, 200, "")
		wantTwoFactorEnabled(t, "sign in without an app", si, false)
		wantTwoFactorEnabled(t, "get-session without an app", b.do("GET", "/api/auth/get-session", nil), false)
		userID := si.json(t)["user"].(map[string]any)["id"].(string)
		methods := func() mfa.Methods {
			t.Helper()
			m, err := e.mfa.Methods(t.Context(), userID)
			mustf(t, err, "methods")
			return m
		}

		// Before an app: nothing to verify, show or renew.
		wantAPI(t, "verify-totp without an app", b.do("POST", "/api/auth/two-factor/verify-totp", map[string]any{"code": "123456"}), 400, "TOTP_NOT_ENABLED")
		wantAPI(t, "get-totp-uri without an app", b.do("POST", "/api/auth/two-factor/get-totp-uri", pw), 400, "TOTP_NOT_ENABLED")
		wantAPI(t, "backup codes without a factor", b.do("POST", "/api/auth/two-factor/generate-backup-codes", pw), 400, "TWO_FACTOR_NOT_ENABLED")
		wantAPI(t, "enable signed out", e.browser(trustedApp).do("POST", "/api/auth/two-factor/enable", pw), 401, "UNAUTHORIZED")

		// Refused enables change nothing.
		wantAPI(t, "enable, wrong password", b.do("POST", "/api/auth/two-factor/enable", map[string]any{"password": "not the password at all"}), 400, "INVALID_PASSWORD")
		wantAPI(t, "enable, no password", b.do("POST", "/api/auth/two-factor/enable", map[string]any{}), 400, "VALIDATION_ERROR")
		wantAPI(t, "enable otp", b.do("POST", "/api/auth/two-factor/enable", map[string]any{"password": apiPassword, "method": "otp"}), 400, "OTP_NOT_CONFIGURED")
		if _, err := e.mfa.PendingTOTPID(t.Context(), userID); !errors.Is(err, mfa.ErrNotFound) {
			t.Fatalf("after refused enables a pending app exists (err %v)", err)
		}
		if m := methods(); m.TOTP != 0 || m.RecoveryCodes != 0 {
			t.Fatalf("after refused enables: %+v", m)
		}

		// An enrolment not finished is replaced by the next one.
		stale := b.do("POST", "/api/auth/two-factor/enable", pw)
		wantAPI(t, "enable, to be replaced", stale, 200, "")
		staleURI := stale.json(t)["totpURI"].(string)
		en := b.do("POST", "/api/auth/two-factor/enable", map[string]any{"password": apiPassword, "issuer": "Notes"})
		wantAPI(t, "enable", en, 200, "")
		body := en.json(t)
		uri, _ := body["totpURI"].(string)
		key, err := otp.NewKeyFromURL(uri)
		mustf(t, err, "totpURI %q", uri)
		if key.Issuer() != "Notes" || key.AccountName() != addr || body["method"] != "totp" {
			t.Fatalf("enable: issuer %q, account %q, method %v", key.Issuer(), key.AccountName(), body["method"])
		}
		var backup []string
		for _, c := range body["backupCodes"].([]any) {
			backup = append(backup, c.(string))
		}
		if len(backup) != mfa.RecoveryCodeCount {
			t.Fatalf("enable: %d backup codes, want %d", len(backup), mfa.RecoveryCodeCount)
		}
		// Pending until its first code: signing in still needs only the password.
		if m := methods(); m.TOTP != 0 {
			t.Fatalf("the app counts before its first code: %+v", m)
		}
		pendingSignIn := e.browser(trustedApp).do("POST", "/api/auth/sign-in/email", signIn)
		wantAPI(t, "sign in with the app pending", pendingSignIn, 200, "")
		wantTwoFactorEnabled(t, "sign in with the app pending", pendingSignIn, false)
		wantTwoFactorEnabled(t, "get-session with the app pending", b.do("GET", "/api/auth/get-session", nil), false)
		again := b.do("POST", "/api/auth/two-factor/get-totp-uri", pw)
		wantAPI(t, "get-totp-uri", again, 200, "")
		if k, err := otp.NewKeyFromURL(again.json(t)["totpURI"].(string)); err != nil || k.Secret() != key.Secret() {
			t.Fatalf("get-totp-uri: %s (%v), want the same secret", again.body, err)
		}

		code := totpCode(t, uri, clock.Now())
		if staleCode := totpCode(t, staleURI, clock.Now()); staleCode != code {
			wantAPI(t, "confirm with the replaced app", b.do("POST", "/api/auth/two-factor/verify-totp", map[string]any{"code": staleCode}), 401, "INVALID_CODE")
		}
		wantAPI(t, "confirm, wrong code", b.do("POST", "/api/auth/two-factor/verify-totp", map[string]any{"code": wrongCode(t, uri, clock.Now())}), 401, "INVALID_CODE")
		if m := methods(); m.TOTP != 0 {
			t.Fatalf("a wrong code confirmed the app: %+v", m)
		}
		ok := b.do("POST", "/api/auth/two-factor/verify-totp", map[string]any{"code": code})
		wantAPI(t, "confirm", ok, 200, "")
		wantTwoFactorEnabled(t, "confirm", ok, true)
		wantTwoFactorEnabled(t, "get-session after confirming", b.do("GET", "/api/auth/get-session", nil), true)
		if ok.json(t)["token"] != si.json(t)["token"] {
			t.Fatalf("confirm: token %v, want the caller's %v", ok.json(t)["token"], si.json(t)["token"])
		}
		if m := methods(); m.TOTP != 1 || m.RecoveryCodes != mfa.RecoveryCodeCount {
			t.Fatalf("after the first code: %+v", m)
		}
		wantAPI(t, "enable twice", b.do("POST", "/api/auth/two-factor/enable", pw), 400, "TOTP_ALREADY_ENABLED")

		// Signing in now needs the second factor.
		wantAPI(t, "sign out", b.do("POST", "/api/auth/sign-out", nil), 200, "")
		wantTwoFactorRedirect(t, "sign in", b.do("POST", "/api/auth/sign-in/email", signIn))
		wantSignedOut(t, "before the second factor", b)
		wantAPI(t, "wrong password still", e.browser(trustedApp).do("POST", "/api/auth/sign-in/email", map[string]any{"email": addr, "password": "not the password at all"}), 401, "INVALID_EMAIL_OR_PASSWORD")

		clock.Advance(30 * time.Second)
		code = totpCode(t, uri, clock.Now())
		wantAPI(t, "wrong code", b.do("POST", "/api/auth/two-factor/verify-totp", map[string]any{"code": wrongCode(t, uri, clock.Now())}), 401, "INVALID_CODE")
		wantSignedOut(t, "after a wrong code", b)
		right := b.do("POST", "/api/auth/two-factor/verify-totp", map[string]any{"code": code, "trustDevice": true})
		e.wantSignedIn(t, "right code", right, userID, "pwd", "otp", "mfa")
		wantTwoFactorEnabled(t, "right code", right, true)
		gs := b.do("GET", "/api/auth/get-session", nil)
		if s := gs.json(t); s["user"].(map[string]any)["id"] != userID {
			t.Fatalf("the browser's cookie names no session: %v", s)
		}
		wantTwoFactorEnabled(t, "get-session after the second factor", gs, true)

		// The same code again, from another browser: refused.
		b2 := e.browser(trustedApp)
		wantTwoFactorRedirect(t, "second browser", b2.do("POST", "/api/auth/sign-in/email", signIn))
		replay := b2.do("POST", "/api/auth/two-factor/verify-totp", map[string]any{"code": code})
		wantAPI(t, "replayed code", replay, 401, "INVALID_CODE")
		if !strings.Contains(replay.json(t)["message"].(string), "already used") {
			t.Fatalf("replayed code: message %q", replay.json(t)["message"])
		}
		wantSignedOut(t, "after a replayed code", b2)

		// A backup code instead: spent once, the count drops.
		wantAPI(t, "wrong backup code", b2.do("POST", "/api/auth/two-factor/verify-backup-code", map[string]any{"code": "aaaaa-bbbbb"}), 401, "INVALID_BACKUP_CODE")
		wantAPI(t, "disableSession signing in", b2.do("POST", "/api/auth/two-factor/verify-backup-code", map[string]any{"code": backup[0], "disableSession": true}), 400, "VALIDATION_ERROR")
		if m := methods(); m.RecoveryCodes != mfa.RecoveryCodeCount {
			t.Fatalf("refused backup codes spent one: %+v", m)
		}
		byBackup := b2.do("POST", "/api/auth/two-factor/verify-backup-code", map[string]any{"code": backup[0]})
		e.wantSignedIn(t, "backup code", byBackup, userID, "pwd", "otp", "mfa")
		wantTwoFactorEnabled(t, "backup code", byBackup, true)
		if m := methods(); m.RecoveryCodes != mfa.RecoveryCodeCount-1 {
			t.Fatalf("after a backup code: %d left, want %d", m.RecoveryCodes, mfa.RecoveryCodeCount-1)
		}
		b3 := e.browser(trustedApp)
		wantTwoFactorRedirect(t, "third browser", b3.do("POST", "/api/auth/sign-in/email", signIn))
		wantAPI(t, "spent backup code", b3.do("POST", "/api/auth/two-factor/verify-backup-code", map[string]any{"code": backup[0]}), 401, "INVALID_BACKUP_CODE")
		wantSignedOut(t, "after a spent backup code", b3)

		// No pending sign-in; one sealed elsewhere; one expired.
		wantAPI(t, "no pending sign-in", e.browser(trustedApp).do("POST", "/api/auth/two-factor/verify-totp", map[string]any{"code": code}), 401, "INVALID_TWO_FACTOR_COOKIE")
		forged := e.app()
		forged.cookie = "better-auth.two_factor=bm90IGEgc2VhbGVkIHNpZ24taW4"
		wantAPI(t, "forged pending sign-in", forged.do("POST", "/api/auth/two-factor/verify-backup-code", map[string]any{"code": backup[1]}), 401, "INVALID_TWO_FACTOR_COOKIE")
		b4 := e.browser(trustedApp)
		wantTwoFactorRedirect(t, "fourth browser", b4.do("POST", "/api/auth/sign-in/email", signIn))
		clock.Advance(mfa.PendingTTL + time.Second)
		wantAPI(t, "expired pending sign-in", b4.do("POST", "/api/auth/two-factor/verify-totp", map[string]any{"code": totpCode(t, uri, clock.Now())}), 401, "INVALID_TWO_FACTOR_COOKIE")
		wantSignedOut(t, "after an expired pending sign-in", b4)
		if m := methods(); m.RecoveryCodes != mfa.RecoveryCodeCount-1 {
			t.Fatalf("refused attempts spent a backup code: %+v", m)
		}

		// A native app: no jar; it sends the two-factor cookie back itself and
		// uses the token from set-auth-token after.
		app := e.app()
		cookie := wantTwoFactorRedirect(t, "app sign-in", app.do("POST", "/api/auth/sign-in/email", signIn))
		app.cookie = "better-auth.two_factor=" + cookie
		app.bearer = e.wantSignedIn(t, "app backup code", app.do("POST", "/api/auth/two-factor/verify-backup-code", map[string]any{"code": backup[1]}), userID, "otp", "mfa")
		app.cookie = ""
		wantAPI(t, "app get-session", app.do("GET", "/api/auth/get-session", nil), 200, "")
		clock.Advance(30 * time.Second)
		confirmed := app.do("POST", "/api/auth/two-factor/verify-totp", map[string]any{"code": totpCode(t, uri, clock.Now())})
		wantAPI(t, "verify-totp signed in", confirmed, 200, "")
		if confirmed.json(t)["token"] != app.bearer {
			t.Fatalf("verify-totp signed in: token %v, want the caller's", confirmed.json(t)["token"])
		}
		wantTwoFactorEnabled(t, "verify-totp signed in", confirmed, true)
		gen := app.do("POST", "/api/auth/two-factor/generate-backup-codes", pw)
		wantAPI(t, "generate backup codes", gen, 200, "")
		if n := len(gen.json(t)["backupCodes"].([]any)); n != mfa.RecoveryCodeCount || methods().RecoveryCodes != mfa.RecoveryCodeCount {
			t.Fatalf("generate backup codes: %d codes, %d stored", n, methods().RecoveryCodes)
		}
		// Signed in, a backup code is checked and spent; the answer is the
		// caller's token and user.
		fresh := gen.json(t)["backupCodes"].([]any)
		own := app.do("POST", "/api/auth/two-factor/verify-backup-code", map[string]any{"code": fresh[0]})
		wantAPI(t, "verify-backup-code signed in", own, 200, "")
		if own.json(t)["token"] != app.bearer || methods().RecoveryCodes != mfa.RecoveryCodeCount-1 {
			t.Fatalf("verify-backup-code signed in: token %v (want the caller's), %d codes left", own.json(t)["token"], methods().RecoveryCodes)
		}
		wantTwoFactorEnabled(t, "verify-backup-code signed in", own, true)
		b5 := e.browser(trustedApp)
		wantTwoFactorRedirect(t, "fifth browser", b5.do("POST", "/api/auth/sign-in/email", signIn))
		wantAPI(t, "an old backup code", b5.do("POST", "/api/auth/two-factor/verify-backup-code", map[string]any{"code": backup[2]}), 401, "INVALID_BACKUP_CODE")

		wantAPI(t, "send-otp", app.do("POST", "/api/auth/two-factor/send-otp", nil), 400, "OTP_NOT_CONFIGURED")
		wantAPI(t, "verify-otp", app.do("POST", "/api/auth/two-factor/verify-otp", map[string]any{"code": "123456"}), 400, "OTP_NOT_CONFIGURED")

		// Disable: the wrong password changes nothing; the right one removes
		// the app and its backup codes, and the password alone signs in again.
		wantAPI(t, "disable, wrong password", app.do("POST", "/api/auth/two-factor/disable", map[string]any{"password": "not the password at all"}), 400, "INVALID_PASSWORD")
		if m := methods(); m.TOTP != 1 {
			t.Fatalf("a refused disable removed the app: %+v", m)
		}
		wantAPI(t, "disable", app.do("POST", "/api/auth/two-factor/disable", pw), 200, "")
		if m := methods(); m.TOTP != 0 || m.RecoveryCodes != 0 {
			t.Fatalf("after disable: %+v", m)
		}
		wantTwoFactorEnabled(t, "get-session after disable", app.do("GET", "/api/auth/get-session", nil), false)
		after := e.browser(trustedApp).do("POST", "/api/auth/sign-in/email", signIn)
		wantAPI(t, "sign in after disable", after, 200, "")
		if after.json(t)["token"] == nil {
			t.Fatalf("sign in after disable: %s", after.body)
		}
		wantTwoFactorEnabled(t, "sign in after disable", after, false)
	})
}

// TestAuthAPITwoFactorThrottle: wrong codes at the API's second step count
// against the throttle the pages use (per account and client address): once
// locked, even the right code is refused with 429 and Retry-After, and no
// session starts.
func TestAuthAPITwoFactorThrottle(t *testing.T) {
	eachAPIDatabase(t, func(t *testing.T, store *storage.Store) {
		e := newAPIEnv(t, store, apiOptions{mfa: true, accountFailures: 3})
		const addr = "throttle@example.com"
		e.signUpVerified(addr, apiPassword)
		u, err := e.ids.Authenticate(t.Context(), addr, apiPassword, "127.0.0.1")
		mustf(t, err, "user")
		en, err := e.mfa.BeginTOTP(t.Context(), u.ID, addr, "Phone")
		mustf(t, err, "begin TOTP")
		mustf(t, e.mfa.ConfirmTOTP(t.Context(), u.ID, en.FactorID, totpCode(t, en.URI, time.Now().Add(-30*time.Second)), "127.0.0.1"), "confirm TOTP")

		b := e.browser(trustedApp)
		wantTwoFactorRedirect(t, "sign in", b.do("POST", "/api/auth/sign-in/email", map[string]any{"email": addr, "password": apiPassword}))
		wrong := wrongCode(t, en.URI, time.Now())
		var locked *apiAnswer
		for i := 0; i < 10 && locked == nil; i++ {
			a := b.do("POST", "/api/auth/two-factor/verify-totp", map[string]any{"code": wrong})
			switch a.status {
			case http.StatusTooManyRequests:
				locked = &a
			case http.StatusUnauthorized:
				wantAPI(t, "wrong code", a, 401, "INVALID_CODE")
			default:
				t.Fatalf("wrong code %d: status %d; body %s", i+1, a.status, a.body)
			}
		}
		if locked == nil {
			t.Fatal("10 wrong codes did not lock the second step")
		}
		wantAPI(t, "the failure that locks", *locked, 429, "TOO_MANY_REQUESTS")
		code := totpCode(t, en.URI, time.Now())
		right := b.do("POST", "/api/auth/two-factor/verify-totp", map[string]any{"code": code})
		wantAPI(t, "right code while locked", right, 429, "TOO_MANY_REQUESTS")
		if right.header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		wantAPI(t, "backup code while locked", b.do("POST", "/api/auth/two-factor/verify-backup-code", map[string]any{"code": "aaaaa-bbbbb"}), 429, "TOO_MANY_REQUESTS")
		wantSignedOut(t, "while locked", b)
	})
}

// TestAuthAPITwoFactorPolicyRequired: under the required MFA policy an account
// without a second factor gets no session from the API and no pending
// sign-in either (the API cannot enrol one before a session): 403
// TWO_FACTOR_REQUIRED, and the sign-in page walks it through.
func TestAuthAPITwoFactorPolicyRequired(t *testing.T) {
	eachAPIDatabase(t, func(t *testing.T, store *storage.Store) {
		e := newAPIEnv(t, store, apiOptions{mfa: true, mfaPolicy: mfa.PolicyRequired})
		const addr = "policy@example.com"
		e.signUpVerified(addr, apiPassword)
		b := e.browser(trustedApp)
		a := b.do("POST", "/api/auth/sign-in/email", map[string]any{"email": addr, "password": apiPassword})
		wantAPI(t, "sign in", a, 403, "TWO_FACTOR_REQUIRED")
		if c := pendingCookie(t, "sign in", a); c != "" {
			t.Fatalf("a pending sign-in for an account with nothing to verify: %q", c)
		}
		wantSignedOut(t, "refused", b)
	})
}
