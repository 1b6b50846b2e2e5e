package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// startAuthorization follows an authorization through sign-in up to the consent
// page.
func startAuthorization(t *testing.T, e *env, b *browser, clientID, scope string) (*page, string) {
	t.Helper()
	authURL, verifier := e.authorizeURL(clientID, scope)
	p := b.get(authURL)
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/signin?") {
		t.Fatalf("authorize signed out: %d %q", p.status, p.location())
	}
	signin := b.follow(p)
	if got := text(signin.doc); !strings.Contains(got, "to continue to") {
		t.Errorf("sign-in page does not name the application: %s", got)
	}
	consent := b.follow(b.submit(signin, "sign-in", map[string]string{"email": "ada@example.com", "password": testPassword}))
	if consent.status != 200 || byID(consent.doc, "allow") == nil {
		t.Fatalf("no consent page after sign-in: %d\n%s", consent.status, consent.body)
	}
	return consent, verifier
}

// callback checks that p sends the browser to the client and returns the query.
func callback(t *testing.T, p *page) url.Values {
	t.Helper()
	if p.status != http.StatusSeeOther && p.status != http.StatusFound {
		t.Fatalf("want a redirect to the client, got %d\n%s", p.status, p.body)
	}
	loc, err := url.Parse(p.location())
	if err != nil || loc.Host != "app.example.com" {
		t.Fatalf("redirect to %q, want the client", p.location())
	}
	return loc.Query()
}

func TestConsentAllowRecordsAccount(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, true)
		ada := e.user("ada@example.com", "Ada")
		e.client("app", "Example App")
		b := e.browser()
		consent, _ := startAuthorization(t, e, b, "app", "openid email")
		q := callback(t, b.follow(b.submit(consent, "allow", nil)))
		if q.Get("code") == "" || q.Get("state") != "state-1234567890" {
			t.Fatalf("callback query %v", q)
		}
		a, err := store.GetAccount(t.Context(), ada.ID, "app")
		if err != nil {
			t.Fatalf("GetAccount: %v", err)
		}
		if !a.ConsentRemembered || a.GrantedScopes != "openid email" || a.RevokedAt != nil {
			t.Errorf("account = %+v", a)
		}
		// Remembered: the next authorization goes straight back.
		authURL, _ := e.authorizeURL("app", "openid email")
		if q := callback(t, b.follow(b.get(authURL))); q.Get("code") == "" {
			t.Errorf("second authorization asked again")
		}
		// A new scope asks again; allowing it adds to the grant.
		authURL, _ = e.authorizeURL("app", "openid profile")
		again := b.follow(b.get(authURL))
		if byID(again.doc, "allow") == nil {
			t.Fatalf("new scope did not ask: %d", again.status)
		}
		callback(t, b.follow(b.submit(again, "allow", nil)))
		a, _ = store.GetAccount(t.Context(), ada.ID, "app")
		if !strings.Contains(a.GrantedScopes, "profile") {
			t.Errorf("granted scopes %q, want profile among them", a.GrantedScopes)
		}
	})
}

func TestConsentDeny(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true)
	ada := e.user("ada@example.com", "Ada")
	e.client("app", "Example App")
	b := e.browser()
	consent, _ := startAuthorization(t, e, b, "app", "openid")
	deny := b.submit(consent, "deny", nil)
	denyURL := attr(byName(consent.doc, "deny"), "value")
	if deny.status != http.StatusSeeOther || deny.location() != denyURL {
		t.Fatalf("deny: %d to %q, want the deny URL %q", deny.status, deny.location(), denyURL)
	}
	q := callback(t, b.follow(deny))
	if q.Get("error") != "access_denied" || q.Get("state") != "state-1234567890" {
		t.Errorf("callback %v, want error=access_denied", q)
	}
	if _, err := e.store.GetAccount(t.Context(), ada.ID, "app"); err == nil {
		t.Errorf("deny recorded an account")
	}
}

func TestConsentRefusesForgedRequests(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true)
	ada := e.user("ada@example.com", "Ada")
	e.client("app", "Example App")
	e.client("other", "Other App")
	b := e.browser()
	consent, _ := startAuthorization(t, e, b, "app", "openid")
	cont := attr(byName(consent.doc, "continue"), "value")
	for _, tc := range []struct {
		name   string
		values map[string]string
	}{
		{"unknown client", map[string]string{"client_id": "ghost"}},
		{"other client", map[string]string{"client_id": "other"}},
		{"continue elsewhere", map[string]string{"continue": "https://evil.example/?client_id=app"}},
		{"deny elsewhere", map[string]string{"deny": "https://evil.example/?client_id=app"}},
		{"no action", map[string]string{"action": "maybe"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := b.submit(consent, "allow", tc.values)
			if p.status != http.StatusBadRequest {
				t.Errorf("status %d, want 400 (Location %q)", p.status, p.location())
			}
		})
	}
	for _, id := range []string{"app", "other", "ghost"} {
		if _, err := e.store.GetAccount(t.Context(), ada.ID, id); err == nil {
			t.Errorf("forged consent recorded an account for %s", id)
		}
	}
	// Signed out meanwhile: back to the authorization, which asks to sign in.
	stranger := e.browser()
	csrfPage := stranger.get("/signin")
	p := stranger.post("/consent", url.Values{"csrf_token": {attr(byName(csrfPage.doc, "csrf_token"), "value")},
		"client_id": {"app"}, "continue": {cont}, "deny": {cont}, "action": {"allow"}})
	if p.status != http.StatusSeeOther || p.location() != cont {
		t.Errorf("consent signed out: %d %q", p.status, p.location())
	}
}

func TestRevokeApplication(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		e := newEnv(t, store, true)
		ada := e.user("ada@example.com", "Ada")
		e.client("app", "Example App")
		b := e.browser()
		consent, verifier := startAuthorization(t, e, b, "app", "openid offline_access")
		q := callback(t, b.follow(b.submit(consent, "allow", nil)))
		status, tokens := tokenRequest(t, e, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
			"redirect_uri": {"https://app.example.com/callback"}, "client_id": {"app"}, "code_verifier": {verifier}})
		refresh, _ := tokens["refresh_token"].(string)
		if status != 200 || refresh == "" {
			t.Fatalf("token: %d %v", status, tokens)
		}

		p := b.get("/account")
		if byID(p.doc, "revoke-app") == nil || !strings.Contains(text(p.doc), "Example App") {
			t.Fatalf("account page does not list the application:\n%s", p.body)
		}
		if label := attr(byID(p.doc, "revoke-app"), "aria-label"); label != "Disconnect Example App" {
			t.Errorf("revoke link labelled %q, want it to name the application", label)
		}
		// It asks first, naming the application; cancelling changes nothing.
		ask := b.click(p, "revoke-app")
		if ask.status != 200 || !strings.Contains(text(byID(ask.doc, "confirm-revoke")), "Example App") ||
			!strings.Contains(text(all(ask.doc, func(n *html.Node) bool { return n.Data == "h1" })[0]), "Disconnect Example App?") {
			t.Fatalf("revoke asks: %d\n%s", ask.status, ask.body)
		}
		checkPage(t, ask)
		if cancel := attr(byID(ask.doc, "cancel"), "href"); cancel != "/account#applications-section" {
			t.Errorf("cancel leads to %q", cancel)
		}
		if a, err := store.GetAccount(t.Context(), ada.ID, "app"); err != nil || a.RevokedAt != nil {
			t.Fatalf("asking revoked the application: %+v, %v", a, err)
		}
		done := b.submit(ask, "confirm-revoke", nil)
		if done.status != http.StatusSeeOther || done.location() != "/account?notice=application-revoked#applications-section" {
			t.Errorf("revoke answered %d %q", done.status, done.location())
		}
		p = b.follow(done)
		if p.status != 200 || byID(p.doc, "revoke-app") != nil || byID(p.doc, "no-applications") == nil {
			t.Errorf("application still listed after revoke")
		}
		if n := byID(p.doc, "notice"); n == nil || attr(ancestor(n, "section"), "id") != "applications-section" {
			t.Errorf("the notice is not in the applications section")
		}
		// Asking about an application that is not connected goes back.
		if again := b.get("/account/applications/revoke?client_id=app"); again.status != http.StatusSeeOther {
			t.Errorf("asking to revoke a revoked application: %d", again.status)
		}
		a, err := store.GetAccount(t.Context(), ada.ID, "app")
		if err != nil || a.RevokedAt == nil || a.ConsentRemembered {
			t.Errorf("account after revoke = %+v, %v", a, err)
		}
		status, body := tokenRequest(t, e, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"app"}})
		if status != http.StatusBadRequest && status != http.StatusUnauthorized {
			t.Errorf("refresh after revoke: %d %v, want refused", status, body)
		}
		// The next authorization asks for consent again.
		authURL, _ := e.authorizeURL("app", "openid")
		if again := b.follow(b.get(authURL)); byID(again.doc, "allow") == nil {
			t.Errorf("no consent asked after revoke: %d", again.status)
		}
	})
}

func TestPromptCreateAndLoginHint(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), true)
	e.client("app", "Example App")
	b := e.browser()
	authURL, _ := e.authorizeURL("app", "openid")
	p := b.get(authURL + "&prompt=create&login_hint=new%40example.com")
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/signup?") {
		t.Fatalf("prompt=create: %d %q", p.status, p.location())
	}
	signup := b.follow(p)
	if attr(byID(signup.doc, "email"), "value") != "new@example.com" {
		t.Errorf("login_hint not pre-filled")
	}
	sent := b.submit(signup, "sign-up", map[string]string{"password": testPassword, "confirm": testPassword})
	if byID(sent.doc, "signup-sent") == nil || !strings.Contains(text(sent.doc), "Example App") {
		t.Fatalf("sign-up: %d\n%s", sent.status, sent.body)
	}
	// The mailed link, opened in this browser, signs in and continues the
	// authorization.
	link := e.mail.link(t, "new@example.com", "/verify-email")
	consent := b.follow(b.get(link))
	if byID(consent.doc, "allow") == nil {
		t.Fatalf("the verification link did not continue the authorization: %d\n%s", consent.status, consent.body)
	}
	if q := callback(t, b.follow(b.submit(consent, "allow", nil))); q.Get("code") == "" {
		t.Errorf("no code: %v", q)
	}
}

func tokenRequest(t *testing.T, e *env, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(e.issuer+"/oauth2/token", form)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("token response: %v", err)
	}
	return resp.StatusCode, out
}
