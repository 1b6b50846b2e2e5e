package web_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/federation/federationtest"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
)

// upstreamConfig is provider id, served by the in-test OpenID provider up.
func upstreamConfig(up *federationtest.Provider, id string) federation.ProviderConfig {
	return federation.ProviderConfig{ID: id, Name: "Upstream Co", Issuer: up.Issuer(), ClientID: federationtest.ClientID, ClientSecret: "rp-secret"}
}

// testClock is a clock a test moves on.
type testClock struct {
	mu sync.Mutex
	at time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

// federatedSignIn begins a sign-in with provider id and brings the browser
// back from the provider; it returns the page it lands on.
func (b *browser) federatedSignIn(id string) *page {
	b.e.t.Helper()
	p := b.get("/signin/with/" + id)
	if p.status != http.StatusSeeOther {
		b.e.t.Fatalf("GET /signin/with/%s = %d, want 303 to the provider:\n%s", id, p.status, p.body)
	}
	p = b.get(p.location()) // the provider answers at once
	if p.status != http.StatusFound {
		b.e.t.Fatalf("the provider answered %d", p.status)
	}
	return b.follow(b.get(p.location()))
}

func (e *env) wantNoIdentity(provider, subject string) {
	e.t.Helper()
	if got, err := e.store.GetExternalIdentity(e.t.Context(), provider, subject); !errors.Is(err, storage.ErrNotFound) {
		e.t.Fatalf("identity %s/%s = %+v, %v, want none: nothing may be linked", provider, subject, got, err)
	}
}

func wantLinkRefused(t *testing.T, p *page, who string) {
	t.Helper()
	if p.status != http.StatusBadRequest || !strings.Contains(p.body, "Nothing was linked") || byID(p.doc, "retry-link") == nil {
		t.Fatalf("%s: %d, want the refusal page with a way back:\n%s", who, p.status, p.body)
	}
}

// TestLinkByMailedLink: on /signin/link, "Send me a link instead" mails the
// account's owner a link that links and signs in only in the browser that
// asked, once, within 15 minutes.
func TestLinkByMailedLink(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		idp := federationtest.New(t)
		clk := &testClock{at: time.Now()}
		e := newEnv(t, store, false, withIdentity(func(o *identity.Options) { o.Now = clk.Now }),
			withFederation(clk.Now, upstreamConfig(idp, "corp")))
		ada := e.user("ada@example.com", "Ada")
		idp.SignIn("up-ada", "ada@example.com")

		a := e.browser()
		p := a.federatedSignIn("corp")
		if p.url.Path != "/signin/link" || p.status != http.StatusOK || byID(p.doc, "link-by-mail") == nil {
			t.Fatalf("after the provider: %s %d, want the link page offering a mailed link:\n%s", p.url, p.status, p.body)
		}
		sent := a.submit(p, "link-by-mail", nil)
		if n := byID(sent.doc, "notice"); sent.status != http.StatusOK || n == nil || !strings.Contains(text(n), "ada@example.com") {
			t.Fatalf("after asking for the link: %d, want the page saying where it went:\n%s", sent.status, sent.body)
		}
		link := e.mail.link(t, "ada@example.com", "/signin/link/mail")
		e.wantNoIdentity("corp", "up-ada")

		// Another browser: with no pending link, and with its own pending
		// link of the same upstream account.
		wantLinkRefused(t, e.browser().get(link), "the link in another browser")
		b := e.browser()
		if p := b.federatedSignIn("corp"); p.url.Path != "/signin/link" {
			t.Fatalf("second browser at %s, want the link page", p.url)
		}
		wantLinkRefused(t, b.get(link), "the link in another browser with its own pending link")
		e.wantNoIdentity("corp", "up-ada")

		// The asking browser: linked and signed in.
		done := a.get(link)
		if done.status != http.StatusSeeOther || done.location() != "/account" {
			t.Fatalf("the link in the asking browser: %d → %q, want 303 to /account:\n%s", done.status, done.location(), done.body)
		}
		if acct := a.get("/account"); acct.status != http.StatusOK {
			t.Fatalf("account page after the link: %d, want signed in", acct.status)
		}
		if got, err := e.store.GetExternalIdentity(t.Context(), "corp", "up-ada"); err != nil || got.UserID != ada.ID {
			t.Fatalf("identity after the link = %+v, %v, want Ada's", got, err)
		}

		// Used once.
		wantLinkRefused(t, a.get(link), "the link opened again")

		// Expired: Bo's link opened after 15 minutes links nothing.
		e.user("bo@example.com", "Bo")
		idp.SignIn("up-bo", "bo@example.com")
		c := e.browser()
		c.submit(c.federatedSignIn("corp"), "link-by-mail", nil)
		boLink := e.mail.link(t, "bo@example.com", "/signin/link/mail")
		clk.advance(identity.LinkProofTTL + time.Minute)
		wantLinkRefused(t, c.get(boLink), "an expired link")
		e.wantNoIdentity("corp", "up-bo")
	})
}
