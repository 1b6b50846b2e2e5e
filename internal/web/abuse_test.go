package web_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// wantRetryAfter checks a 429's Retry-After: whole seconds, at most max.
func wantRetryAfter(t *testing.T, p *page, max int) {
	t.Helper()
	n, err := strconv.Atoi(p.header.Get("Retry-After"))
	if err != nil || n < 1 || n > max {
		t.Errorf("%s: Retry-After %q, want 1 to %d seconds", p.url.Path, p.header.Get("Retry-After"), max)
	}
}

// TestLockoutPerClientAddressBehindProxy: behind a trusted proxy, wrong
// passwords from one client lock the account for that client only; the owner,
// elsewhere, signs in, and their session records their own address; a password
// reset lifts the lock.
func TestLockoutPerClientAddressBehindProxy(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, false, withTrustedProxies("127.0.0.1/32"))
		e.user("ada@example.com", "Ada")
		attacker := e.browser()
		attacker.forwardedFor = "203.0.113.66"
		var last *page
		for range 6 {
			last = attacker.submit(attacker.get("/signin"), "sign-in", map[string]string{"email": "ada@example.com", "password": "wrong password"})
		}
		if last.status != http.StatusTooManyRequests {
			t.Fatalf("sixth wrong password from one client: %d, want 429", last.status)
		}
		wantRetryAfter(t, last, 15*60)
		if msg := text(byID(last.doc, "form-error")); !strings.Contains(msg, "reset your password") {
			t.Errorf("lock-out message %q does not say that a password reset unlocks the account", msg)
		}
		right := attacker.submit(attacker.get("/signin"), "sign-in", map[string]string{"email": "ada@example.com", "password": testPassword})
		if right.status != http.StatusTooManyRequests {
			t.Errorf("right password from the locked client: %d, want 429", right.status)
		}

		owner := e.browser()
		owner.forwardedFor = "198.51.100.20, 10.0.0.1" // what the proxy appends after the client
		if p := owner.signIn("ada@example.com", testPassword); p.url.Path != "/account" || p.status != http.StatusOK {
			t.Fatalf("the owner from another address: %s %d, want the account page", p.url, p.status)
		} else if !strings.Contains(text(p.doc), "10.0.0.1 ·") {
			// 10.0.0.1 is not trusted here: it is the right-most untrusted hop.
			t.Errorf("account page does not list the session's address 10.0.0.1:\n%s", text(p.doc))
		}

		// A reset lifts the lock, wherever it was made from.
		owner.submit(owner.get("/forgot-password"), "forgot", map[string]string{"email": "ada@example.com"})
		reset := owner.get(e.mail.link(t, "ada@example.com", "/reset-password"))
		if done := owner.submit(reset, "reset", map[string]string{"password": "new password here", "confirm": "new password here"}); done.status != http.StatusOK {
			t.Fatalf("reset: %d", done.status)
		}
		if p := attacker.signIn("ada@example.com", "new password here"); p.url.Path != "/account" {
			t.Errorf("after the reset, from the client that was locked: %s %d", p.url, p.status)
		}
	})
}

// TestForwardedForIgnoredWithoutTrustedProxies: with no trusted proxy a client
// cannot pick its address with X-Forwarded-For: every request counts against
// its real one, and its session records that.
func TestForwardedForIgnoredWithoutTrustedProxies(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), false, withIdentity(func(o *identity.Options) { o.IPFailures = 3 }))
	e.user("ada@example.com", "Ada")
	b := e.browser()
	var last *page
	for i := range 4 {
		b.forwardedFor = fmt.Sprintf("198.51.100.%d", i+1)
		last = b.submit(b.get("/signin"), "sign-in", map[string]string{"email": fmt.Sprintf("guess%d@example.com", i), "password": "wrong password"})
	}
	if last.status != http.StatusTooManyRequests || !strings.Contains(text(byID(last.doc, "form-error")), "from your network") {
		t.Errorf("fourth guess with a new X-Forwarded-For each time: %d %q, want 429 for the real address", last.status, text(byID(last.doc, "form-error")))
	}
	other := e.browser()
	other.forwardedFor = "198.51.100.99"
	if p := other.signIn("ada@example.com", testPassword); p.status != http.StatusTooManyRequests {
		t.Errorf("the real address is blocked for every claimed one: %d", p.status)
	}
}

// TestForgotPasswordRationed: past the mails allowed per address, the request
// is refused with 429 and Retry-After, alike for registered and unknown
// addresses, and nothing more is mailed.
func TestForgotPasswordRationed(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, false)
		e.user("ada@example.com", "Ada")
		b := e.browser()
		ask := func(email string) *page {
			return b.submit(b.get("/forgot-password"), "forgot", map[string]string{"email": email})
		}
		for range 3 {
			for _, email := range []string{"ada@example.com", "nobody@example.com"} {
				if p := ask(email); p.status != http.StatusOK || byID(p.doc, "forgot-sent") == nil {
					t.Fatalf("forgot-password(%s): %d", email, p.status)
				}
			}
		}
		known, unknown := ask("Ada@Example.com"), ask("nobody@example.com")
		for _, p := range []*page{known, unknown} {
			if p.status != http.StatusTooManyRequests || byID(p.doc, "forgot-sent") != nil {
				t.Errorf("fourth request: %d, want 429 without the sent notice", p.status)
			}
			wantRetryAfter(t, p, 3600)
			checkPage(t, p)
		}
		if a, b := pageShape(known, "Ada@Example.com"), pageShape(unknown, "nobody@example.com"); a != b {
			t.Errorf("refusals differ:\n known:   %s\n unknown: %s", a, b)
		}
		if msg := text(byID(known.doc, "form-error")); !strings.Contains(msg, "Try again in") {
			t.Errorf("refusal says %q", msg)
		}
		if n := e.mail.count(); n != 3 {
			t.Errorf("%d mails, want 3", n)
		}
	})
}

// TestSignUpRationed: past the sign-ups allowed per client address, sign-up is
// refused with 429 and Retry-After; nothing is stored or mailed.
func TestSignUpRationed(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), false, withIdentity(func(o *identity.Options) { o.SignUpsPerIP = 2 }))
	b := e.browser()
	b.signUp(b.get("/signup"), "one@example.com", testPassword)
	b.signUp(b.get("/signup"), "two@example.com", testPassword)
	p := b.submit(b.get("/signup"), "sign-up", map[string]string{"email": "three@example.com", "password": testPassword, "confirm": testPassword})
	if p.status != http.StatusTooManyRequests || !strings.Contains(text(byID(p.doc, "form-error")), "Try again in") {
		t.Fatalf("third sign-up: %d %q, want 429 saying when to try again", p.status, text(byID(p.doc, "form-error")))
	}
	wantRetryAfter(t, p, 3600)
	checkPage(t, p)
	if _, err := e.userByEmail("three@example.com"); err == nil {
		t.Errorf("a refused sign-up made a user")
	}
	if n := e.mail.count(); n != 2 {
		t.Errorf("%d mails, want 2", n)
	}
}

// TestPasswordChangeSignsOutOtherBrowsers: after a password change this
// browser stays signed in (on a new session token); every other one is signed
// out.
func TestPasswordChangeSignsOutOtherBrowsers(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, false)
		e.user("ada@example.com", "Ada")
		b, other := e.browser(), e.browser()
		p := b.signIn("ada@example.com", testPassword)
		other.signIn("ada@example.com", testPassword)
		before := b.cookie("gatehouse_session").Value
		ok := b.submit(p, "change-password", map[string]string{"current-password": testPassword, "new-password": "brand new secret", "confirm-password": "brand new secret"})
		if ok.status != http.StatusSeeOther || !strings.Contains(ok.location(), "password-changed") {
			t.Fatalf("change password: %d %s", ok.status, ok.location())
		}
		if got := b.follow(ok); got.status != http.StatusOK || !strings.Contains(text(got.doc), "Your password is changed.") {
			t.Errorf("this browser after the change: %d", got.status)
		}
		if c := b.cookie("gatehouse_session"); c == nil || c.Value == before {
			t.Errorf("the session token was not rotated by the password change")
		}
		if got := other.get("/account"); got.status != http.StatusSeeOther {
			t.Errorf("another browser is still signed in after the password change: %d", got.status)
		}
	})
}
