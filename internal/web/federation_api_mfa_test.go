package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/federation/federationtest"
	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestAPILinkWithSecondFactorEndsAtCallback: a sign-in the JSON API began
// (sign-in/social) whose upstream address belongs to a user with an
// authenticator app: the user proves the account on /signin/link, gives the
// second factor, and lands on the API caller's callbackURL (not the account
// page); the second step's CSP lets its form's answer go there.
func TestAPILinkWithSecondFactorEndsAtCallback(t *testing.T) {
	const callbackURL = "https://app.example.com/after-sign-in"
	idp := federationtest.New(t)
	e := newEnv(t, storagetest.OpenSQLite(t), false, withMFA(mfa.PolicyOptional), withFederation(nil, upstreamConfig(idp, "corp")))
	ada := e.user("ada@example.com", "Ada")
	en, err := e.mfa.BeginTOTP(t.Context(), ada.ID, ada.Email, "Phone")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.mfa.ConfirmTOTP(t.Context(), ada.ID, en.FactorID, totpCode(t, en.Secret, time.Now()), ""); err != nil {
		t.Fatal(err)
	}
	idp.SignIn("up-ada", "ada@example.com")

	// What POST /api/auth/sign-in/social and GET /api/auth/callback/corp do
	// (internal/authapi): begin an API flow, and finish it in this browser.
	b := e.browser()
	issuerURL, _ := url.Parse(e.issuer)
	rec := httptest.NewRecorder()
	to, err := e.fed.Begin(t.Context(), rec, "corp", federation.Flow{API: true, Continue: callbackURL})
	if err != nil {
		t.Fatal(err)
	}
	b.c.Jar.SetCookies(issuerURL, rec.Result().Cookies())
	atIdP := b.get(to)
	if atIdP.status != http.StatusFound || !strings.Contains(atIdP.location(), "/api/auth/callback/corp?") {
		t.Fatalf("the provider answered %d to %q, want the API's callback", atIdP.status, atIdP.location())
	}
	cb := httptest.NewRequest(http.MethodGet, atIdP.location(), nil)
	for _, c := range b.c.Jar.Cookies(issuerURL) {
		cb.AddCookie(c)
	}
	rec = httptest.NewRecorder()
	res, err := e.fed.Finish(rec, cb, "corp", "")
	if err != nil || res.Pending == nil {
		t.Fatalf("callback: %+v, %v, want a link pending proof", res, err)
	}
	b.c.Jar.SetCookies(issuerURL, rec.Result().Cookies())

	link := b.get("/signin/link")
	wantStatus(t, "link page", link, http.StatusOK)
	second := b.submit(link, "link-account", map[string]string{"password": testPassword})
	if second.status != http.StatusSeeOther || second.location() != "/signin/second-factor" {
		t.Fatalf("after the password: %d to %q, want the second step", second.status, second.location())
	}
	step := b.get("/signin/second-factor")
	wantStatus(t, "second step", step, http.StatusOK)
	if csp := step.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action") || !strings.Contains(csp, "https://app.example.com") {
		t.Errorf("second step CSP %q does not let its answer go to the API caller", csp)
	}
	done := b.submit(step, "verify-code", map[string]string{"code": totpCode(t, en.Secret, time.Now().Add(30*time.Second))})
	if done.status != http.StatusSeeOther || done.location() != callbackURL {
		t.Fatalf("after the second factor: %d to %q, want the API caller's %s", done.status, done.location(), callbackURL)
	}
	if got, err := e.store.GetExternalIdentity(t.Context(), "corp", "up-ada"); err != nil || got.UserID != ada.ID {
		t.Errorf("identity after the link = %+v, %v, want Ada's", got, err)
	}
}
