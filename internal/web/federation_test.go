package web_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
)

// upstreamIdP is a small OpenID Connect provider for these tests: it signs
// in whoever claims says at once (no page), checks PKCE and signs the ID
// token.
type upstreamIdP struct {
	t      *testing.T
	srv    *httptest.Server
	key    *rsa.PrivateKey
	mu     sync.Mutex
	claims map[string]any
	codes  map[string][3]string // code → nonce, PKCE challenge, redirect URI
}

func newUpstreamIdP(t *testing.T) *upstreamIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	f := &upstreamIdP{t: t, key: key, codes: map[string][3]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := f.srv.URL
		writeTestJSON(w, map[string]any{"issuer": iss, "authorization_endpoint": iss + "/authorize", "token_endpoint": iss + "/token",
			"jwks_uri": iss + "/jwks", "response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		writeTestJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &f.key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := rand.Text()
		f.mu.Lock()
		f.codes[code] = [3]string{q.Get("nonce"), q.Get("code_challenge"), q.Get("redirect_uri")}
		f.mu.Unlock()
		back, _ := url.Parse(q.Get("redirect_uri"))
		back.RawQuery = url.Values{"state": {q.Get("state")}, "code": {code}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		pc, ok := f.codes[r.PostFormValue("code")]
		delete(f.codes, r.PostFormValue("code"))
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != pc[1] || r.PostFormValue("redirect_uri") != pc[2] {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: f.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
		if err != nil {
			f.t.Error(err)
			return
		}
		now := time.Now()
		claims := map[string]any{"iss": f.srv.URL, "aud": "rp", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": pc[0]}
		for k, v := range f.claims {
			claims[k] = v
		}
		idt, err := jwt.Signed(signer).Claims(claims).Serialize()
		if err != nil {
			f.t.Error(err)
			return
		}
		writeTestJSON(w, map[string]any{"access_token": "at-" + rand.Text(), "token_type": "Bearer", "expires_in": 3600, "id_token": idt})
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *upstreamIdP) signInAs(claims map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.claims = claims
}

func (f *upstreamIdP) provider(id string) federation.ProviderConfig {
	return federation.ProviderConfig{ID: id, Name: "Upstream Co", Issuer: f.srv.URL, ClientID: "rp", ClientSecret: "rp-secret"}
}

func writeTestJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
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
		idp := newUpstreamIdP(t)
		clk := &testClock{at: time.Now()}
		e := newEnv(t, store, false, withIdentity(func(o *identity.Options) { o.Now = clk.Now }),
			withFederation(clk.Now, idp.provider("corp")))
		ada := e.user("ada@example.com", "Ada")
		idp.signInAs(map[string]any{"sub": "up-ada", "email": "ada@example.com", "email_verified": true})

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
		idp.signInAs(map[string]any{"sub": "up-bo", "email": "bo@example.com", "email_verified": true})
		c := e.browser()
		c.submit(c.federatedSignIn("corp"), "link-by-mail", nil)
		boLink := e.mail.link(t, "bo@example.com", "/signin/link/mail")
		clk.advance(identity.LinkProofTTL + time.Minute)
		wantLinkRefused(t, c.get(boLink), "an expired link")
		e.wantNoIdentity("corp", "up-bo")
	})
}
