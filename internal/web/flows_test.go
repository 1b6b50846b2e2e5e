package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/identity"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestSignUpThenVerifySignsIn: sign-up answers "check your e-mail" without
// signing in; the mailed link, opened in the same browser, verifies the address,
// signs the person in and shows the account; opened again it is spent.
func TestSignUpThenVerifySignsIn(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, false)
		b := e.browser()
		p := b.get("/signup")
		p = b.submit(p, "sign-up", map[string]string{"email": "Grace@Example.com", "name": "Grace Hopper", "password": testPassword, "confirm": testPassword})
		if p.status != http.StatusOK || byID(p.doc, "signup-sent") == nil || !strings.Contains(text(byID(p.doc, "signup-sent")), "Grace@Example.com") {
			t.Fatalf("sign-up answered %d:\n%s", p.status, p.body)
		}
		checkPage(t, p)
		wantNoStore(t, p)
		if c := b.cookie("gatehouse_session"); c != nil {
			t.Errorf("sign-up signed the browser in before the address was verified")
		}
		if c := b.cookie("gatehouse_signup"); c == nil || len(c.Value) != 43 {
			t.Fatalf("no sign-up ticket cookie after sign-up: %+v", c)
		}
		if got := b.get("/account"); got.status != http.StatusSeeOther {
			t.Errorf("/account right after sign-up: %d, want 303 to sign in", got.status)
		}

		// The link from the mail, in this browser: verified and signed in.
		link := e.mail.link(t, "grace@example.com", "/verify-email")
		v := b.get(link)
		if v.status != http.StatusSeeOther || v.location() != "/account" {
			t.Fatalf("verify-email in the sign-up browser: %d Location %q, want 303 /account\n%s", v.status, v.location(), v.body)
		}
		if b.cookie("gatehouse_session") == nil {
			t.Errorf("no session after the verification link")
		}
		if b.cookie("gatehouse_signup") != nil {
			t.Errorf("the sign-up ticket cookie outlived its use")
		}
		p = b.follow(v)
		if p.status != 200 || text(byID(p.doc, "account-email")) != "grace@example.com" {
			t.Fatalf("account page: %d, e-mail %q", p.status, text(byID(p.doc, "account-email")))
		}
		if byID(p.doc, "resend-verification") != nil {
			t.Errorf("verified account still offers to resend")
		}
		if again := b.get(link); again.status != 400 {
			t.Errorf("verification link used twice: %d", again.status)
		}
	})
}

// TestSignUpDoesNotRevealTakenAddress: signing up with a registered address gets
// the very answer a new address gets (status, cookies, page), the owner gets a
// notice instead of a link, and nobody is signed in to the owner's account.
func TestSignUpDoesNotRevealTakenAddress(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, false)
		e.user("ada@example.com", "Ada")
		answer := func(email string) (*page, *browser) {
			t.Helper()
			b := e.browser()
			p := b.submit(b.get("/signup"), "sign-up", map[string]string{"email": email, "name": "Someone", "password": "a different passphrase", "confirm": "a different passphrase"})
			return p, b
		}
		newPage, _ := answer("new@example.com")
		takenPage, taker := answer("ADA@example.com")
		if newPage.status != takenPage.status || newPage.status != http.StatusOK {
			t.Fatalf("statuses: new %d, taken %d; want 200 for both", newPage.status, takenPage.status)
		}
		if a, b := cookieShapes(newPage), cookieShapes(takenPage); a != b {
			t.Errorf("cookies differ:\n new:   %s\n taken: %s", a, b)
		}
		if a, b := pageShape(newPage, "new@example.com"), pageShape(takenPage, "ADA@example.com"); a != b {
			t.Errorf("pages differ:\n new:   %s\n taken: %s", a, b)
		}
		for _, h := range []string{"Location", "Retry-After"} {
			if newPage.header.Get(h) != "" || takenPage.header.Get(h) != "" {
				t.Errorf("%s: new %q, taken %q", h, newPage.header.Get(h), takenPage.header.Get(h))
			}
		}
		// The owner heard of it; the one who tried has nothing to open.
		e.mail.mu.Lock()
		last := e.mail.msgs[len(e.mail.msgs)-1]
		e.mail.mu.Unlock()
		if last.To != "ada@example.com" || !strings.Contains(last.Subject, "tried to sign up") || strings.Contains(last.Text, "/verify-email") {
			t.Errorf("last mail: to %s, %q:\n%s", last.To, last.Subject, last.Text)
		}
		if got := taker.get("/account"); got.status != http.StatusSeeOther {
			t.Errorf("the browser that signed up with a taken address is signed in: %d", got.status)
		}
	})
}

// cookieShapes lists the cookies a response sets without their values.
func cookieShapes(p *page) string {
	var out []string
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		v := c.Value
		c.Value = strings.Repeat("x", len(v))
		out = append(out, c.String())
	}
	return strings.Join(out, "; ")
}

// pageShape is the page's text and markup with the address typed and the CSRF
// token taken out.
func pageShape(p *page, email string) string {
	body := strings.ReplaceAll(strings.ReplaceAll(p.body, email, "EMAIL"), url.QueryEscape(email), "EMAIL")
	return regexp.MustCompile(`name="csrf_token" value="[^"]*"`).ReplaceAllString(body, `name="csrf_token" value=""`)
}

// TestVerifyLinkInAnotherBrowser: the link verifies the address anywhere, but
// only the browser that signed up is signed in by it.
func TestVerifyLinkInAnotherBrowser(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), false)
	b := e.browser()
	b.signUp(b.get("/signup"), "lin@example.com", testPassword)
	phone := e.browser()
	p := phone.get(e.mail.link(t, "lin@example.com", "/verify-email"))
	if p.status != http.StatusOK || !strings.Contains(text(p.doc), "verified") || byID(p.doc, "to-sign-in") == nil {
		t.Fatalf("verify-email in another browser: %d\n%s", p.status, p.body)
	}
	checkPage(t, p)
	if attr(byID(p.doc, "to-sign-in"), "href") != "/signin?login_hint=lin%40example.com" {
		t.Errorf("sign-in link %q", attr(byID(p.doc, "to-sign-in"), "href"))
	}
	if phone.cookie("gatehouse_session") != nil || phone.get("/account").status != http.StatusSeeOther {
		t.Errorf("the other browser was signed in by the link")
	}
	if u, err := e.userByEmail("lin@example.com"); err != nil || !u.EmailVerified {
		t.Errorf("address not verified: %+v, %v", u, err)
	}
	// The sign-up browser, its link spent elsewhere, signs in with the password.
	if got := b.signIn("lin@example.com", testPassword); got.url.Path != "/account" {
		t.Errorf("sign-in after verifying elsewhere: %s", got.url)
	}
}

func TestSignUpFieldErrors(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), false)
	b := e.browser()
	for _, tc := range []struct {
		name, field                     string
		email, password, confirm, uname string
	}{
		{"mismatch", "confirm", "a@example.com", testPassword, testPassword + "x", ""},
		{"short password", "password", "a@example.com", "short", "short", ""},
		{"common password", "password", "a@example.com", "password123", "password123", ""},
		{"bad email", "email", "not-an-address", testPassword, testPassword, ""},
		{"long name", "name", "a@example.com", testPassword, testPassword, strings.Repeat("n", 500)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.submit(b.get("/signup"), "sign-up", map[string]string{"email": tc.email, "password": tc.password, "confirm": tc.confirm, "name": tc.uname})
			if p.status < 400 || p.status >= 500 {
				t.Fatalf("status %d, want 4xx", p.status)
			}
			checkPage(t, p)
			in := byID(p.doc, tc.field)
			if attr(in, "aria-invalid") != "true" || !strings.Contains(attr(in, "aria-describedby"), tc.field+"-error") {
				t.Errorf("#%s: aria-invalid=%q aria-describedby=%q", tc.field, attr(in, "aria-invalid"), attr(in, "aria-describedby"))
			}
			if msg := byID(p.doc, tc.field+"-error"); msg == nil || text(msg) == "" {
				t.Errorf("no message for #%s", tc.field)
			}
			if attr(byID(p.doc, "email"), "value") != tc.email {
				t.Errorf("e-mail not kept")
			}
			if _, err := e.userByEmail("a@example.com"); err == nil {
				t.Errorf("user created despite the error")
			}
		})
	}
}

func TestSignInWrongPasswordAndThrottling(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, false)
		e.user("ada@example.com", "Ada")
		b := e.browser()
		p := b.submit(b.get("/signin"), "sign-in", map[string]string{"email": "ada@example.com", "password": "wrong password"})
		if p.status != http.StatusUnauthorized {
			t.Fatalf("wrong password: status %d", p.status)
		}
		checkPage(t, p)
		if got := text(byID(p.doc, "form-error")); got != "E-mail or password is incorrect." {
			t.Errorf("message %q", got)
		}
		if got := attr(byID(p.doc, "email"), "value"); got != "ada@example.com" {
			t.Errorf("e-mail not kept: %q", got)
		}
		if attr(byID(p.doc, "password"), "value") != "" {
			t.Errorf("password echoed back")
		}
		for _, id := range []string{"email", "password"} {
			if in := byID(p.doc, id); attr(in, "aria-invalid") != "true" || !strings.Contains(attr(in, "aria-describedby"), "error-summary") {
				t.Errorf("#%s not tied to the error", id)
			}
		}
		// The same message for an unknown address.
		unknown := b.submit(b.get("/signin"), "sign-in", map[string]string{"email": "nobody@example.com", "password": "wrong password"})
		if unknown.status != http.StatusUnauthorized || text(byID(unknown.doc, "form-error")) != "E-mail or password is incorrect." {
			t.Errorf("unknown e-mail: %d %q", unknown.status, text(byID(unknown.doc, "form-error")))
		}
		// Repeated failures lock the account for a while, with a clear message.
		var last *page
		for range 6 {
			last = b.submit(b.get("/signin"), "sign-in", map[string]string{"email": "ada@example.com", "password": "wrong password"})
		}
		if last.status != http.StatusTooManyRequests {
			t.Fatalf("after repeated failures: status %d", last.status)
		}
		if msg := text(byID(last.doc, "form-error")); !strings.Contains(msg, "Try again in") || !strings.Contains(msg, "minute") {
			t.Errorf("throttled message %q", msg)
		}
		if last.header.Get("Retry-After") == "" {
			t.Errorf("no Retry-After")
		}
		// Even the right password waits.
		right := b.submit(b.get("/signin"), "sign-in", map[string]string{"email": "ada@example.com", "password": testPassword})
		if right.status != http.StatusTooManyRequests {
			t.Errorf("right password while locked: %d", right.status)
		}
	})
}

func TestContinueOnlyToAuthorizeOrAccount(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), false)
	e.user("ada@example.com", "Ada")
	for _, tc := range []struct{ name, cont, want string }{
		{"empty", "", "/account"},
		{"account", "/account", "/account"},
		{"authorize", e.issuer + "/oauth2/authorize?client_id=app", e.issuer + "/oauth2/authorize?client_id=app"},
		{"other site", "https://evil.example/oauth2/authorize?x=1", "/account"},
		{"scheme-relative", "//evil.example/oauth2/authorize?", "/account"},
		{"relative authorize", "/oauth2/authorize?client_id=app", "/account"},
		{"userinfo trick", strings.Replace(e.issuer, "http://", "http://evil.example@", 1) + "/oauth2/authorize?", "/account"},
		{"host suffix", e.issuer + ".evil.example/oauth2/authorize?", "/account"},
		{"path prefix", e.issuer + "/oauth2/authorize.evil?x", "/account"},
		{"backslash", e.issuer + "/oauth2/authorize?\\evil.example", "/account"},
		{"other path", e.issuer + "/signout", "/account"},
		{"javascript", "javascript:alert(1)", "/account"},
		{"header split", e.issuer + "/oauth2/authorize?a=1\r\nSet-Cookie: x=1", "/account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := e.browser()
			p := b.get("/signin?" + url.Values{"continue": {tc.cont}}.Encode())
			p = b.submit(p, "sign-in", map[string]string{"email": "ada@example.com", "password": testPassword, "continue": tc.cont})
			if p.status != http.StatusSeeOther || p.location() != tc.want {
				t.Errorf("continue=%q: %d Location %q, want %q", tc.cont, p.status, p.location(), tc.want)
			}
		})
	}
	// Signed out, the account page sends the browser to sign in and back.
	b := e.browser()
	p := b.get("/account")
	if p.status != http.StatusSeeOther || p.location() != "/signin?continue=%2Faccount" {
		t.Fatalf("GET /account signed out: %d %q", p.status, p.location())
	}
}

func TestForgotAndResetPassword(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, false)
		e.user("ada@example.com", "Ada")
		// Ada is signed in on another browser; the reset ends that session.
		other := e.browser()
		if p := other.signIn("ada@example.com", testPassword); p.url.Path != "/account" {
			t.Fatalf("sign-in failed: %s", p.url)
		}

		b := e.browser()
		answer := func(email string) string {
			t.Helper()
			p := b.submit(b.get("/forgot-password"), "forgot", map[string]string{"email": email})
			if p.status != 200 || byID(p.doc, "forgot-sent") == nil {
				t.Fatalf("forgot-password(%s): %d\n%s", email, p.status, p.body)
			}
			checkPage(t, p)
			return text(p.doc)
		}
		known, unknown := answer("ada@example.com"), answer("nobody@example.com")
		if known != unknown {
			t.Errorf("answers differ:\n known:   %s\n unknown: %s", known, unknown)
		}
		if e.mail.count() != 1 {
			t.Errorf("%d mails sent, want 1 (none for the unknown address)", e.mail.count())
		}

		link := e.mail.link(t, "ada@example.com", "/reset-password")
		p := b.get(link)
		if p.status != 200 {
			t.Fatalf("reset page: %d", p.status)
		}
		// A mismatch keeps the token.
		bad := b.submit(p, "reset", map[string]string{"password": "new password here", "confirm": "something else"})
		if bad.status != 400 || byID(bad.doc, "confirm-error") == nil {
			t.Fatalf("mismatch: %d", bad.status)
		}
		done := b.submit(bad, "reset", map[string]string{"password": "new password here", "confirm": "new password here"})
		if done.status != 200 || !strings.Contains(text(done.doc), "Your password is changed") {
			t.Fatalf("reset: %d %s", done.status, text(done.doc))
		}
		if again := b.submit(p, "reset", map[string]string{"password": "another password 1", "confirm": "another password 1"}); again.status != 400 || !strings.Contains(text(again.doc), "does not work") {
			t.Errorf("reset link reused: %d", again.status)
		}
		if got := other.get("/account"); got.status != http.StatusSeeOther {
			t.Errorf("other session survived the reset: %d", got.status)
		}
		if p := e.browser().signIn("ada@example.com", "new password here"); p.url.Path != "/account" || p.status != 200 {
			t.Errorf("sign-in with the new password: %s %d", p.url.Path, p.status)
		}
	})
}

func TestAccountForms(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), false)
	e.user("ada@example.com", "Ada")
	b := e.browser()
	p := b.signIn("ada@example.com", testPassword)

	p = b.submit(p, "save-profile", map[string]string{"name": "Ada King", "given_name": "Ada", "family_name": "King", "locale": "en-GB"})
	if p.status != http.StatusSeeOther {
		t.Fatalf("save profile: %d\n%s", p.status, p.body)
	}
	p = b.follow(p)
	if attr(byID(p.doc, "name"), "value") != "Ada King" || !strings.Contains(text(p.doc), "Your profile is saved.") {
		t.Errorf("profile not shown as saved")
	}
	bad := b.submit(p, "save-profile", map[string]string{"picture": "javascript:alert(1)"})
	if bad.status != 400 || attr(byID(bad.doc, "picture"), "aria-invalid") != "true" {
		t.Errorf("bad picture: %d", bad.status)
	}

	wrong := b.submit(p, "change-password", map[string]string{"current-password": "nope nope nope", "new-password": "brand new secret", "confirm-password": "brand new secret"})
	if wrong.status != http.StatusUnauthorized || byID(wrong.doc, "current-password-error") == nil {
		t.Errorf("wrong current password: %d", wrong.status)
	}
	ok := b.submit(p, "change-password", map[string]string{"current-password": testPassword, "new-password": "brand new secret", "confirm-password": "brand new secret"})
	if ok.status != http.StatusSeeOther || !strings.Contains(ok.location(), "password-changed") {
		t.Fatalf("change password: %d %s", ok.status, ok.location())
	}
	if p := e.browser().signIn("ada@example.com", "brand new secret"); p.url.Path != "/account" {
		t.Errorf("new password does not sign in")
	}

	// Sign out everywhere ends both browsers' sessions.
	second := e.browser()
	second.signIn("ada@example.com", "brand new secret")
	p = b.get("/account")
	if n := strings.Count(text(p.doc), "last seen"); n < 2 {
		t.Errorf("account lists %d sessions, want at least 2", n)
	}
	// It asks first; the account page's link does nothing by itself.
	ask := b.click(p, "sign-out-everywhere")
	if ask.status != 200 || byID(ask.doc, "confirm-sign-out-everywhere") == nil {
		t.Fatalf("sign out everywhere asks: %d\n%s", ask.status, ask.body)
	}
	checkPage(t, ask)
	if second.get("/account").status != 200 {
		t.Fatalf("asking signed the other browser out")
	}
	if cancel := attr(byID(ask.doc, "cancel"), "href"); cancel != "/account#sessions-section" {
		t.Errorf("cancel leads to %q", cancel)
	}
	out := b.submit(ask, "confirm-sign-out-everywhere", nil)
	if out.status != 200 || !strings.Contains(text(out.doc), "every device") {
		t.Fatalf("sign out everywhere: %d", out.status)
	}
	for name, br := range map[string]*browser{"this": b, "second": second} {
		if got := br.get("/account"); got.status != http.StatusSeeOther {
			t.Errorf("%s browser still signed in", name)
		}
	}

	// Sign out ends this browser only.
	third := e.browser()
	p = third.signIn("ada@example.com", "brand new secret")
	fourth := e.browser()
	fourth.signIn("ada@example.com", "brand new secret")
	out = third.submit(p, "sign-out", nil)
	if out.status != 200 || third.get("/account").status != http.StatusSeeOther || fourth.get("/account").status != 200 {
		t.Errorf("sign out: %d", out.status)
	}
}

func TestResendVerification(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), false)
	if _, err := e.ids.CreateUser(t.Context(), identity.SignUpInput{Email: "lin@example.com", Password: testPassword}, false); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.signIn("lin@example.com", testPassword)
	before := e.mail.count()
	p := b.follow(b.submit(b.get("/account"), "resend-verification", nil))
	if p.status != 200 || !strings.Contains(text(p.doc), "We sent you a new link") || e.mail.count() != before+1 {
		t.Fatalf("resend: %d, mails %d → %d", p.status, before, e.mail.count())
	}
	// Opened in the same browser, a resent link verifies and leads to the
	// account page (this browser is signed in already).
	v := b.get(e.mail.link(t, "lin@example.com", "/verify-email"))
	if v.status != 200 || byID(v.doc, "to-account") == nil {
		t.Errorf("resent link: %d\n%s", v.status, v.body)
	}
}
