package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestSignUpSignsInAndShowsAccount(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, false)
		b := e.browser()
		p := b.get("/signup")
		p = b.submit(p, "sign-up", map[string]string{"email": "Grace@Example.com", "name": "Grace Hopper", "password": testPassword, "confirm": testPassword})
		if p.status != http.StatusSeeOther || p.location() != "/account" {
			t.Fatalf("sign-up answered %d Location %q:\n%s", p.status, p.location(), p.body)
		}
		c := b.cookie("gatehouse_session")
		if c == nil {
			t.Fatalf("no session cookie after sign-up")
		}
		p = b.follow(p)
		if p.status != 200 || text(byID(p.doc, "account-email")) != "grace@example.com" {
			t.Fatalf("account page: %d, e-mail %q", p.status, text(byID(p.doc, "account-email")))
		}
		if byID(p.doc, "resend-verification") == nil {
			t.Errorf("unverified account shows no resend button")
		}
		// The verification mail was sent; its link verifies the address.
		link := e.mail.link(t, "grace@example.com", "/verify-email")
		v := b.get(link)
		if v.status != 200 || !strings.Contains(text(v.doc), "verified") {
			t.Fatalf("verify-email: %d %s", v.status, text(v.doc))
		}
		checkPage(t, v)
		if again := b.get(link); again.status != 400 {
			t.Errorf("verification link used twice: %d", again.status)
		}
		p = b.get("/account")
		if byID(p.doc, "resend-verification") != nil {
			t.Errorf("verified account still offers to resend")
		}
		// The same address cannot sign up again, in any case.
		other := e.browser()
		dup := other.submit(other.get("/signup"), "sign-up", map[string]string{"email": "GRACE@example.com", "password": testPassword, "confirm": testPassword})
		if dup.status != http.StatusConflict || attr(byID(dup.doc, "email"), "aria-invalid") != "true" {
			t.Errorf("duplicate sign-up: %d, email aria-invalid=%q", dup.status, attr(byID(dup.doc, "email"), "aria-invalid"))
		}
	})
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
			if in := byID(p.doc, id); attr(in, "aria-invalid") != "true" || !strings.Contains(attr(in, "aria-describedby"), "form-error") {
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
	out := b.submit(p, "sign-out-everywhere", nil)
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
	b := e.browser()
	b.follow(b.submit(b.get("/signup"), "sign-up", map[string]string{"email": "lin@example.com", "password": testPassword, "confirm": testPassword}))
	before := e.mail.count()
	p := b.follow(b.submit(b.get("/account"), "resend-verification", nil))
	if p.status != 200 || !strings.Contains(text(p.doc), "We sent you a new link") || e.mail.count() != before+1 {
		t.Fatalf("resend: %d, mails %d → %d", p.status, before, e.mail.count())
	}
}
