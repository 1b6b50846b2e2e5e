package federation_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/federation/federationtest"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// eachDB runs test on SQLite and on PostgreSQL, each with a new database.
func eachDB(t *testing.T, test func(t *testing.T, open func(t *testing.T) *storage.Store)) {
	t.Run("SQLite", func(t *testing.T) { test(t, storagetest.OpenSQLite) })
	t.Run("PostgreSQL", func(t *testing.T) { test(t, storagetest.OpenPostgres) })
}

// clock is a settable clock shared by the services of a test.
type clock struct {
	mu sync.Mutex
	at time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.at.Add(d)
}

// mailbox is an identity.Sender that keeps what it is asked to send.
type mailbox struct {
	mu   sync.Mutex
	msgs []identity.Mail
}

func (m *mailbox) Send(_ context.Context, msg identity.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

var mailedLink = regexp.MustCompile(`https?://[^\s"<>]+/signin/link/mail\?token=[A-Za-z0-9_-]+`)

// lastLink is the link of the last mail to `to`, its subject and how many
// mails there are.
func (m *mailbox) lastLink(t *testing.T, to string) (link, subject string, n int) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.msgs) - 1; i >= 0; i-- {
		if m.msgs[i].To == to {
			if l := mailedLink.FindString(m.msgs[i].Text); l != "" {
				return l, m.msgs[i].Subject, len(m.msgs)
			}
		}
	}
	t.Fatalf("no mail with a link to %s (%d mails)", to, len(m.msgs))
	return "", "", 0
}

// newProofHarness is newHarness on the store open returns, with a mailbox
// and a clock shared by identity and federation.
func newProofHarness(t *testing.T, open func(t *testing.T) *storage.Store, providers ...federation.ProviderConfig) (*harness, *mailbox, *clock) {
	t.Helper()
	mail := &mailbox{}
	clk := &clock{at: time.Now().UTC()}
	h := harnessOn(t, open(t), identity.Options{Mail: mail, Now: clk.Now}, federation.Options{Providers: providers, Now: clk.Now})
	return h, mail, clk
}

// browserCookies are the cookies a response left set (those it cleared
// left out).
func browserCookies(resp *http.Response) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range resp.Cookies() {
		if c.MaxAge >= 0 {
			out = append(out, c)
		}
	}
	return out
}

// request is a request to target carrying cookies.
func request(method, target string, cookies []*http.Cookie) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return r
}

// pendingIn signs in through id with an upstream account whose verified
// address belongs to a user, and returns the pending link's cookies.
func (h *harness) pendingIn(id string, f federation.Flow) []*http.Cookie {
	h.t.Helper()
	res, err, resp := h.signIn(id, f, "")
	if err != nil || res.Pending == nil {
		h.t.Fatalf("sign-in = %+v, %v, want a pending link", res, err)
	}
	return browserCookies(resp)
}

func (h *harness) wantNoIdentity(provider, subject string) {
	h.t.Helper()
	if e, err := h.store.GetExternalIdentity(h.t.Context(), provider, subject); !errors.Is(err, storage.ErrNotFound) {
		h.t.Fatalf("identity %s/%s = %+v, %v, want none: nothing may be linked", provider, subject, e, err)
	}
}

func tokenOf(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get("token")
}

func TestMailedLinkProvesTheAccount(t *testing.T) {
	eachDB(t, func(t *testing.T, open func(t *testing.T) *storage.Store) {
		up := federationtest.New(t)
		up.SetClaims(map[string]any{"sub": "m-1", "email": "ada@example.com", "email_verified": true})
		h, mail, _ := newProofHarness(t, open, oidcProvider("corp", up))
		ctx := t.Context()
		ada, err := h.store.CreateUser(ctx, storage.User{Email: "ada@example.com", PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}

		// Browser A signs in upstream and asks for the link.
		a := h.pendingIn("corp", federation.Flow{Continue: "/account"})
		rec := httptest.NewRecorder()
		pl, err := h.fed.MailLink(ctx, rec, request(http.MethodPost, issuer+"/signin/link", a), "192.0.2.1")
		if err != nil || pl.UserID != ada.ID {
			t.Fatalf("MailLink = %+v, %v, want ada's pending link", pl, err)
		}
		if renewed := browserCookies(rec.Result()); len(renewed) == 1 {
			a = renewed
		} else {
			t.Fatalf("MailLink set %d cookies, want the renewed pending link", len(renewed))
		}
		link, subject, _ := mail.lastLink(t, "ada@example.com")
		if !strings.HasPrefix(link, issuer+identity.LinkProofPath+"?token=") || !strings.Contains(subject, "Upstream") {
			t.Errorf("mailed link %q, subject %q: want our link page and the provider's name", link, subject)
		}
		token := tokenOf(t, link)
		h.wantNoIdentity("corp", "m-1")

		// Another browser: none of its own pending link, or one of the same
		// upstream account begun there (another nonce). Neither links, and
		// the token stays for browser A.
		_, err = h.fed.ConfirmMailedLink(ctx, httptest.NewRecorder(), request(http.MethodGet, link, nil), token)
		wantCode(t, err, federation.CodeLinkInvalid)
		b := h.pendingIn("corp", federation.Flow{})
		_, err = h.fed.ConfirmMailedLink(ctx, httptest.NewRecorder(), request(http.MethodGet, link, b), token)
		wantCode(t, err, federation.CodeLinkInvalid)
		h.wantNoIdentity("corp", "m-1")
		// A token that is not one.
		_, err = h.fed.ConfirmMailedLink(ctx, httptest.NewRecorder(), request(http.MethodGet, link, a), "not-a-token")
		wantCode(t, err, federation.CodeLinkInvalid)

		// Browser A: linked, and the pending cookie cleared.
		rec = httptest.NewRecorder()
		res, err := h.fed.ConfirmMailedLink(ctx, rec, request(http.MethodGet, link, a), token)
		if err != nil {
			t.Fatalf("ConfirmMailedLink in the asking browser: %v", err)
		}
		if !res.Linked || res.UserID != ada.ID || res.Continue != "/account" || !slices.Equal(res.AMR, []string{"fed"}) {
			t.Errorf("ConfirmMailedLink = %+v, want ada linked, continuing to /account, amr [fed]", res)
		}
		cleared := false
		for _, c := range rec.Result().Cookies() {
			cleared = cleared || (c.Name == "gatehouse_fed_link" && c.MaxAge < 0)
		}
		if !cleared {
			t.Error("the link did not clear the pending cookie")
		}
		if e, err := h.store.GetExternalIdentity(ctx, "corp", "m-1"); err != nil || e.UserID != ada.ID {
			t.Fatalf("identity after the link = %+v, %v, want ada's", e, err)
		}

		// Used once: the same link with the old cookie replayed links nothing more.
		_, err = h.fed.ConfirmMailedLink(ctx, httptest.NewRecorder(), request(http.MethodGet, link, a), token)
		wantCode(t, err, federation.CodeLinkInvalid)
	})
}

func TestMailedLinkExpires(t *testing.T) {
	eachDB(t, func(t *testing.T, open func(t *testing.T) *storage.Store) {
		up := federationtest.New(t)
		up.SetClaims(map[string]any{"sub": "m-2", "email": "bo@example.com", "email_verified": true})
		h, mail, clk := newProofHarness(t, open, oidcProvider("corp", up))
		ctx := t.Context()
		if _, err := h.store.CreateUser(ctx, storage.User{Email: "bo@example.com", PasswordHash: "x"}); err != nil {
			t.Fatal(err)
		}
		a := h.pendingIn("corp", federation.Flow{})
		rec := httptest.NewRecorder()
		if _, err := h.fed.MailLink(ctx, rec, request(http.MethodPost, issuer+"/signin/link", a), ""); err != nil {
			t.Fatal(err)
		}
		a = browserCookies(rec.Result())
		link, _, _ := mail.lastLink(t, "bo@example.com")
		clk.advance(identity.LinkProofTTL + time.Minute)
		_, err := h.fed.ConfirmMailedLink(ctx, httptest.NewRecorder(), request(http.MethodGet, link, a), tokenOf(t, link))
		wantCode(t, err, federation.CodeLinkInvalid)
		h.wantNoIdentity("corp", "m-2")
	})
}

func TestMailLinkNeedsAPendingLink(t *testing.T) {
	up := federationtest.New(t)
	h, mail, _ := newProofHarness(t, storagetest.OpenSQLite, oidcProvider("corp", up))
	_, err := h.fed.MailLink(t.Context(), httptest.NewRecorder(), request(http.MethodPost, issuer+"/signin/link", nil), "")
	wantCode(t, err, federation.CodeBadState)
	if len(mail.msgs) != 0 {
		t.Errorf("%d mails sent without a pending link, want none", len(mail.msgs))
	}
}

func TestUnlinkCountsPasskeys(t *testing.T) {
	eachDB(t, func(t *testing.T, open func(t *testing.T) *storage.Store) {
		up := federationtest.New(t)
		up.SetClaims(map[string]any{"sub": "p-1", "email": "nopw@example.com", "email_verified": true})
		h, _, _ := newProofHarness(t, open, oidcProvider("corp", up))
		ctx := t.Context()
		made, err, _ := h.signIn("corp", federation.Flow{}, "")
		if err != nil || !made.Created {
			t.Fatalf("sign-up: %+v, %v", made, err)
		}
		only, err := h.fed.Identities(ctx, made.UserID)
		if err != nil || len(only) != 1 {
			t.Fatalf("Identities = %+v, %v", only, err)
		}
		// No password, no passkey, one identity: it stays.
		wantCode(t, h.fed.Unlink(ctx, made.UserID, only[0].ID), federation.CodeLastMethod)
		// A passkey not confirmed yet is no way in either.
		f, err := h.store.CreateFactor(ctx, storage.Factor{UserID: made.UserID, Kind: storage.FactorWebAuthn, Name: "Laptop",
			CredentialID: []byte("credential-1"), PublicKey: []byte("key")})
		if err != nil {
			t.Fatal(err)
		}
		if f.Confirmed() {
			t.Fatal("CreateFactor confirmed the passkey; this test wants it pending first")
		}
		wantCode(t, h.fed.Unlink(ctx, made.UserID, only[0].ID), federation.CodeLastMethod)
		if err := h.store.ConfirmFactor(ctx, made.UserID, f.ID, 1); err != nil {
			t.Fatalf("ConfirmFactor: %v", err)
		}
		// With a passkey: the identity may go.
		if err := h.fed.Unlink(ctx, made.UserID, only[0].ID); err != nil {
			t.Fatalf("Unlink with a passkey left: %v", err)
		}
		if left, _ := h.fed.Identities(ctx, made.UserID); len(left) != 0 {
			t.Errorf("identities after unlink = %+v, want none", left)
		}
	})
}

func TestLinkKeepsTheFirstTokenAndTellsTheAPI(t *testing.T) {
	up := federationtest.New(t)
	up.SetClaims(map[string]any{"sub": "k-1", "email": "kept@example.com", "email_verified": true, "acr": "urn:example:loa:3"})
	keep := oidcProvider("keep", up)
	keep.StoreTokens = true
	h, _, _ := newProofHarness(t, storagetest.OpenSQLite, keep)
	ctx := t.Context()
	u, err := h.store.CreateUser(ctx, storage.User{Email: "kept@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	a := h.pendingIn("keep", federation.Flow{Continue: "/account"})
	res, err := h.fed.ConfirmLink(ctx, httptest.NewRecorder(), request(http.MethodPost, issuer+"/signin/link", a), u.ID)
	if err != nil || res.API {
		t.Fatalf("ConfirmLink = %+v, %v, want linked, not an API flow", res, err)
	}
	e, err := h.store.GetExternalIdentity(ctx, "keep", "k-1")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := h.store.ExternalIdentityTokens(ctx, e.ID)
	var kept struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if err != nil || json.Unmarshal(raw, &kept) != nil || !strings.HasPrefix(kept.RefreshToken, "rt-") || !strings.HasPrefix(kept.AccessToken, "at-") {
		t.Errorf("tokens kept after the link = %q, %v, want the first token", raw, err)
	}
	for _, c := range a {
		if strings.Contains(c.Value, kept.AccessToken) || strings.Contains(c.Value, kept.RefreshToken) {
			t.Errorf("cookie %s carried an upstream token unsealed", c.Name)
		}
	}
	if e.LastACR != "urn:example:loa:3" {
		t.Errorf("acr kept after the link = %q, want the ID token's", e.LastACR)
	}
}

func TestUpstreamACRIsKept(t *testing.T) {
	eachDB(t, func(t *testing.T, open func(t *testing.T) *storage.Store) {
		up := federationtest.New(t)
		up.SetClaims(map[string]any{"sub": "acr-1", "email": "acr@example.com", "email_verified": true, "acr": "phr"})
		h, _, _ := newProofHarness(t, open, oidcProvider("corp", up))
		ctx := t.Context()
		if res, err, _ := h.signIn("corp", federation.Flow{}, ""); err != nil || !res.Created {
			t.Fatalf("sign-up: %+v, %v", res, err)
		}
		if e, err := h.store.GetExternalIdentity(ctx, "corp", "acr-1"); err != nil || e.LastACR != "phr" {
			t.Fatalf("after the sign-up the identity = %+v, %v, want acr phr", e, err)
		}
		// The next sign-in names none: that is what is kept.
		up.SetClaims(map[string]any{"sub": "acr-1", "email": "acr@example.com", "email_verified": true})
		if _, err, _ := h.signIn("corp", federation.Flow{}, ""); err != nil {
			t.Fatal(err)
		}
		if e, err := h.store.GetExternalIdentity(ctx, "corp", "acr-1"); err != nil || e.LastACR != "" {
			t.Fatalf("after a sign-in without acr the identity = %+v, %v, want none", e, err)
		}
	})
}
