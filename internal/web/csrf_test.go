package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// state is what any of the forms could change.
type state struct {
	users, sessions, mails int
	name, hash             string
	verified               bool
	account                string
	cookie                 string
}

func snapshot(t *testing.T, e *env, b *browser, userID string) state {
	t.Helper()
	ctx := t.Context()
	u, err := e.store.GetUser(ctx, userID)
	if err != nil {
		t.Fatalf("get user: %v", err)
	}
	users, err := e.store.ListUsers(ctx, storage.ListUsersOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := e.store.ListUserSessions(ctx, userID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	account := "none"
	if a, err := e.store.GetAccount(ctx, userID, "app"); err == nil {
		account = fmt.Sprintf("scopes=%q revoked=%v", a.GrantedScopes, a.RevokedAt != nil)
	}
	s := state{users: len(users), sessions: len(sessions), mails: e.mail.count(), name: u.Name, hash: u.PasswordHash,
		verified: u.EmailVerified, account: account}
	if c := b.cookie("gatehouse_session"); c != nil {
		s.cookie = c.Value
	}
	return s
}

func TestFormsRefuseMissingCSRFToken(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true)
	ada, err := e.ids.CreateUser(t.Context(), identity.SignUpInput{Email: "ada@example.com", Password: testPassword, Name: "Ada"}, false)
	if err != nil {
		t.Fatal(err)
	}
	e.client("app", "Example App")
	b := e.browser()
	consent, _ := startAuthorization(t, e, b, "app", "openid")
	if _, err := e.store.RecordAuthorization(t.Context(), ada.ID, "app", "openid", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := e.ids.RequestPasswordReset(t.Context(), "ada@example.com", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	resetToken := mustQuery(t, e.mail.link(t, "ada@example.com", "/reset-password"), "token")
	// Another browser's token does not fit this browser's cookie.
	stranger := e.browser()
	foreign := attr(byName(stranger.get("/signin").doc, "csrf_token"), "value")

	for _, tc := range []struct {
		name string
		path string
		form url.Values
	}{
		{"sign in", "/signin", url.Values{"email": {"ada@example.com"}, "password": {testPassword}}},
		{"sign up", "/signup", url.Values{"email": {"new@example.com"}, "password": {testPassword}, "confirm": {testPassword}}},
		{"consent", "/consent", url.Values{"client_id": {"app"}, "scope": {"openid profile"}, "action": {"allow"},
			"continue": {attr(byName(consent.doc, "continue"), "value")}, "deny": {attr(byName(consent.doc, "deny"), "value")}}},
		{"sign out", "/signout", url.Values{}},
		{"forgot password", "/forgot-password", url.Values{"email": {"ada@example.com"}}},
		{"reset password", "/reset-password", url.Values{"token": {resetToken}, "password": {"a brand new password"}, "confirm": {"a brand new password"}}},
		{"profile", "/account/profile", url.Values{"name": {"Mallory"}}},
		{"password", "/account/password", url.Values{"current-password": {testPassword}, "new-password": {"owned by mallory"}, "confirm-password": {"owned by mallory"}}},
		{"resend verification", "/account/verify-email", url.Values{}},
		{"revoke application", "/account/applications/revoke", url.Values{"client_id": {"app"}}},
		{"sign out everywhere", "/account/sessions/end", url.Values{}},
		{"sign out a device", "/account/sessions/sign-out", url.Values{"session_id": {"any"}}},
	} {
		for _, token := range []string{"", foreign, "garbage"} {
			name := tc.name + "/no token"
			if token != "" {
				name = tc.name + "/wrong token " + token[:min(4, len(token))]
			}
			t.Run(name, func(t *testing.T) {
				before := snapshot(t, e, b, ada.ID)
				form := url.Values{}
				for k, v := range tc.form {
					form[k] = v
				}
				if token != "" {
					form.Set("csrf_token", token)
				}
				p := b.post(tc.path, form)
				if p.status != http.StatusForbidden {
					t.Fatalf("POST %s without a valid token: %d, want 403", tc.path, p.status)
				}
				if msg := text(p.doc); !strings.Contains(msg, "This form has expired, so nothing was changed. Try again.") {
					t.Errorf("error page says %q", msg)
				}
				checkPage(t, p)
				if after := snapshot(t, e, b, ada.ID); after != before {
					t.Errorf("POST %s changed state:\n before %+v\n after  %+v", tc.path, before, after)
				}
			})
		}
	}
	// The same browser with the token from its page still works (the refusals
	// above were not for some other reason).
	p := b.submit(b.get("/account"), "save-profile", map[string]string{"name": "Ada K"})
	if p.status != http.StatusSeeOther {
		t.Errorf("profile with token: %d", p.status)
	}
}

func mustQuery(t *testing.T, raw, key string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Query().Get(key) == "" {
		t.Fatalf("no %s in %q", key, raw)
	}
	return u.Query().Get(key)
}

func TestCSRFCookieAttributes(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), false)
	resp, err := http.Get(e.issuer + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var found bool
	for _, c := range resp.Cookies() {
		if c.Name != "gatehouse_csrf" {
			continue
		}
		found = true
		if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure {
			t.Errorf("CSRF cookie %+v: want HttpOnly, SameSite=Lax, Path=/, not Secure over http", c)
		}
	}
	if !found {
		t.Errorf("no gatehouse_csrf cookie")
	}
}
