package federation_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/federation/federationtest"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/outbound"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

const issuer = "http://127.0.0.1:9"

type harness struct {
	t     *testing.T
	store *storage.Store
	users *identity.Service
	fed   *federation.Service
}

func newHarness(t *testing.T, providers ...federation.ProviderConfig) *harness {
	t.Helper()
	return harnessOn(t, storagetest.OpenSQLite(t), identity.Options{}, federation.Options{Providers: providers})
}

// harnessOn is a harness on store: users with io (the base URL and cheap
// hashing filled in), federation with o (issuer, store, users, sealer and an
// outbound client that may reach loopback filled in).
func harnessOn(t *testing.T, store *storage.Store, io identity.Options, o federation.Options) *harness {
	t.Helper()
	io.BaseURL, io.Params = issuer, identity.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}
	users := identity.New(store, io)
	o.Issuer, o.Store, o.Users, o.Sealer = issuer, store, users, store.Sealer()
	o.Outbound = outbound.New(outbound.Options{AllowLoopback: true})
	fed, err := federation.New(o)
	if err != nil {
		t.Fatalf("federation.New: %v", err)
	}
	t.Cleanup(fed.Close)
	return &harness{t: t, store: store, users: users, fed: fed}
}

func oidcProvider(id string, f *federationtest.Provider) federation.ProviderConfig {
	return federation.ProviderConfig{ID: id, Name: "Upstream", Issuer: f.Issuer(), ClientID: federationtest.ClientID, ClientSecret: "rp-secret"}
}

// callback is what the browser brings back from the provider: the callback
// request with the cookies Begin set.
type callback struct {
	req *http.Request
}

// begin starts a flow and follows the provider's redirect to our callback,
// as a browser would.
func (h *harness) begin(id string, f federation.Flow) callback {
	h.t.Helper()
	rec := httptest.NewRecorder()
	to, err := h.fed.Begin(h.t.Context(), rec, id, f)
	if err != nil {
		h.t.Fatalf("Begin(%s) = %v", id, err)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(to)
	if err != nil {
		h.t.Fatalf("GET %s: %v", to, err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, issuer+federation.CallbackPath(id)+"?") {
		h.t.Fatalf("the provider sent the browser to %q, want our callback", loc)
	}
	req := httptest.NewRequest(http.MethodGet, loc, nil)
	for _, c := range rec.Result().Cookies() {
		req.AddCookie(c)
	}
	return callback{req: req}
}

// finish brings the callback to the service; it returns the result, the
// error and the response (cookies set or cleared).
func (h *harness) finish(id string, cb callback, currentUser string) (federation.Result, error, *http.Response) {
	h.t.Helper()
	rec := httptest.NewRecorder()
	res, err := h.fed.Finish(rec, cb.req, id, currentUser)
	return res, err, rec.Result()
}

func (h *harness) signIn(id string, f federation.Flow, currentUser string) (federation.Result, error, *http.Response) {
	h.t.Helper()
	return h.finish(id, h.begin(id, f), currentUser)
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := federation.CodeOf(err); got != code {
		t.Fatalf("error = %v (code %q), want code %q", err, got, code)
	}
}

func TestSignUpThenSignInAgain(t *testing.T) {
	up := federationtest.New(t)
	up.SetClaims(map[string]any{"sub": "u-1", "email": "New@Example.com", "email_verified": true})
	up.SetUserinfo(map[string]any{"name": "From Userinfo", "picture": "https://example.com/p.png"})
	h := newHarness(t, oidcProvider("corp", up))
	res, err, resp := h.signIn("corp", federation.Flow{Continue: "/account"}, "")
	if err != nil {
		t.Fatalf("first sign-in: %v", err)
	}
	if !res.Created || res.UserID == "" || res.Continue != "/account" || !slices.Equal(res.AMR, []string{"fed"}) {
		t.Errorf("first sign-in = %+v, want a new user, the continue URL and amr [fed]", res)
	}
	if !flowCookieCleared(resp) {
		t.Error("the callback did not clear the flow cookie")
	}
	u, err := h.store.GetUser(t.Context(), res.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if u.Email != "new@example.com" || !u.EmailVerified || u.PasswordHash != "" || u.Name != "From Userinfo" || u.Picture != "https://example.com/p.png" {
		t.Errorf("new user = %+v, want the verified address, no password, the userinfo name and picture", u)
	}
	again, err, _ := h.signIn("corp", federation.Flow{Continue: "/account"}, "")
	if err != nil {
		t.Fatalf("second sign-in: %v", err)
	}
	if again.Created || again.UserID != res.UserID {
		t.Errorf("second sign-in = %+v, want the same user, not created", again)
	}
	e, err := h.store.GetExternalIdentity(t.Context(), "corp", "u-1")
	if err != nil || e.LastSignInAt == nil || e.Email != "new@example.com" {
		t.Errorf("identity = %+v, %v, want the sign-in recorded", e, err)
	}
}

func flowCookieCleared(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if c.Name == "gatehouse_fed" && c.MaxAge < 0 {
			return true
		}
	}
	return false
}

func TestExistingAddressIsLinkedOnlyAfterProof(t *testing.T) {
	up := federationtest.New(t)
	up.SetClaims(map[string]any{"sub": "u-2", "email": "ada@example.com", "email_verified": true})
	h := newHarness(t, oidcProvider("corp", up))
	ada, err := h.store.CreateUser(t.Context(), storage.User{Email: "ada@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	other, err := h.store.CreateUser(t.Context(), storage.User{Email: "eve@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	res, err, resp := h.signIn("corp", federation.Flow{Continue: "/account"}, "")
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	if res.UserID != "" || res.Pending == nil || res.Pending.UserID != ada.ID || res.Pending.Email != "ada@example.com" {
		t.Fatalf("sign-in = %+v, want a pending link to %s and nobody signed in", res, ada.ID)
	}
	if _, err := h.store.GetExternalIdentity(t.Context(), "corp", "u-2"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("identity before proof: %v, want none (never silent linking)", err)
	}
	// The pending link travels in its cookie to the confirmation page.
	confirm := httptest.NewRequest(http.MethodPost, issuer+"/signin/link", nil)
	for _, c := range resp.Cookies() {
		if c.MaxAge >= 0 {
			confirm.AddCookie(c)
		}
	}
	if pl, ok := h.fed.Pending(confirm); !ok || pl.UserID != ada.ID {
		t.Fatalf("Pending = %+v, %v, want ada's link", pl, ok)
	}
	_, err = h.fed.ConfirmLink(t.Context(), httptest.NewRecorder(), confirm, other.ID)
	wantCode(t, err, federation.CodeBadState)
	linked, err := h.fed.ConfirmLink(t.Context(), httptest.NewRecorder(), confirm, ada.ID)
	if err != nil {
		t.Fatalf("ConfirmLink: %v", err)
	}
	if !linked.Linked || linked.UserID != ada.ID || linked.Continue != "/account" {
		t.Errorf("ConfirmLink = %+v, want ada linked, continuing to /account", linked)
	}
	again, err, _ := h.signIn("corp", federation.Flow{}, "")
	if err != nil || again.UserID != ada.ID {
		t.Errorf("sign-in after linking = %+v, %v, want ada", again, err)
	}
}

func TestUnverifiedAddressNeverLinksNorCreates(t *testing.T) {
	up := federationtest.New(t)
	h := newHarness(t, oidcProvider("corp", up))
	if _, err := h.store.CreateUser(t.Context(), storage.User{Email: "taken@example.com", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"taken@example.com", "fresh@example.com"} {
		up.SetClaims(map[string]any{"sub": "sub-" + email, "email": email, "email_verified": false})
		_, err, _ := h.signIn("corp", federation.Flow{}, "")
		wantCode(t, err, federation.CodeUnverifiedEmail)
		if _, err := h.store.GetExternalIdentity(t.Context(), "corp", "sub-"+email); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("identity for unverified %s: %v, want none", email, err)
		}
	}
	if _, err := h.store.GetUserByEmail(t.Context(), "fresh@example.com"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("user for an unverified address: %v, want none", err)
	}
}

func TestUpstreamRefusals(t *testing.T) {
	up := federationtest.New(t)
	h := newHarness(t, oidcProvider("corp", up))
	claims := map[string]any{"sub": "u-3", "email": "x@example.com", "email_verified": true}
	for _, tc := range []struct {
		name  string
		fault federationtest.Fault
		code  string
	}{
		{"access denied", federationtest.Deny, federation.CodeAccessDenied},
		{"wrong nonce", federationtest.WrongNonce, federation.CodeUpstreamError},
		{"bad signature", federationtest.BadSignature, federation.CodeUpstreamError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up.SetClaims(claims)
			up.SetFault(tc.fault)
			_, err, resp := h.signIn("corp", federation.Flow{}, "")
			wantCode(t, err, tc.code)
			if !flowCookieCleared(resp) {
				t.Error("the refused callback did not clear the flow cookie")
			}
		})
	}
	if _, err := h.store.GetExternalIdentity(t.Context(), "corp", "u-3"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("identity after refusals: %v, want none", err)
	}
}

func TestCallbackStateAndReplay(t *testing.T) {
	up := federationtest.New(t)
	up.SetClaims(map[string]any{"sub": "u-4", "email": "r@example.com", "email_verified": true})
	h := newHarness(t, oidcProvider("corp", up), federation.ProviderConfig{ID: "other", Issuer: up.Issuer(), ClientID: federationtest.ClientID, ClientSecret: "s"})

	t.Run("no cookie", func(t *testing.T) {
		cb := h.begin("corp", federation.Flow{})
		bare := httptest.NewRequest(http.MethodGet, cb.req.URL.String(), nil)
		_, err, _ := h.finish("corp", callback{req: bare}, "")
		wantCode(t, err, federation.CodeBadState)
	})
	t.Run("another state", func(t *testing.T) {
		cb := h.begin("corp", federation.Flow{})
		u := *cb.req.URL
		q := u.Query()
		q.Set("state", "forged")
		u.RawQuery = q.Encode()
		forged := httptest.NewRequest(http.MethodGet, u.String(), nil)
		for _, c := range cb.req.Cookies() {
			forged.AddCookie(c)
		}
		_, err, _ := h.finish("corp", callback{req: forged}, "")
		wantCode(t, err, federation.CodeBadState)
	})
	t.Run("another provider's callback", func(t *testing.T) {
		cb := h.begin("corp", federation.Flow{})
		_, err, _ := h.finish("other", cb, "")
		wantCode(t, err, federation.CodeBadState)
	})
	t.Run("tampered cookie", func(t *testing.T) {
		cb := h.begin("corp", federation.Flow{})
		bad := httptest.NewRequest(http.MethodGet, cb.req.URL.String(), nil)
		for _, c := range cb.req.Cookies() {
			// A character in the middle carries six bits of the sealed
			// value (the last ones may be padding the decoder ignores).
			v := []byte(c.Value)
			if i := len(v) / 2; v[i] == 'A' {
				v[i] = 'B'
			} else {
				v[i] = 'A'
			}
			c.Value = string(v)
			bad.AddCookie(c)
		}
		_, err, _ := h.finish("corp", callback{req: bad}, "")
		wantCode(t, err, federation.CodeBadState)
	})
	t.Run("replayed", func(t *testing.T) {
		cb := h.begin("corp", federation.Flow{})
		if _, err, _ := h.finish("corp", cb, ""); err != nil {
			t.Fatalf("first callback: %v", err)
		}
		// A browser no longer holds the cookie (cleared above) …
		bare := httptest.NewRequest(http.MethodGet, cb.req.URL.String(), nil)
		_, err, _ := h.finish("corp", callback{req: bare}, "")
		wantCode(t, err, federation.CodeBadState)
		// … and one that kept a copy meets the provider's used code.
		_, err, _ = h.finish("corp", cb, "")
		wantCode(t, err, federation.CodeUpstreamError)
	})
}

func TestUpstreamDown(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	addr := down.URL
	down.Close()
	h := newHarness(t, federation.ProviderConfig{ID: "gone", Issuer: addr, ClientID: federationtest.ClientID, ClientSecret: "s"})
	_, err := h.fed.Begin(t.Context(), httptest.NewRecorder(), "gone", federation.Flow{})
	wantCode(t, err, federation.CodeUpstreamUnavailable)
	_, err = h.fed.Begin(t.Context(), httptest.NewRecorder(), "nope", federation.Flow{})
	wantCode(t, err, federation.CodeUnknownProvider)
}

func TestProviderRules(t *testing.T) {
	up := federationtest.New(t)
	linkOnly := oidcProvider("linkonly", up)
	linkOnly.LinkOnly = true
	domains := oidcProvider("work", up)
	domains.AllowedDomains = []string{"corp.example"}
	trusted := oidcProvider("trusted", up)
	trusted.TrustMFA = true
	h := newHarness(t, linkOnly, domains, trusted, oidcProvider("plain", up))
	set := func(sub, email string, amr ...string) {
		up.SetClaims(map[string]any{"sub": sub, "email": email, "email_verified": true, "amr": amr})
	}
	set("a", "a@example.com")
	_, err, _ := h.signIn("linkonly", federation.Flow{}, "")
	wantCode(t, err, federation.CodeNoAccount)

	set("b", "b@elsewhere.example")
	_, err, _ = h.signIn("work", federation.Flow{}, "")
	wantCode(t, err, federation.CodeDomainNotAllowed)
	set("c", "c@corp.example")
	if _, err, _ := h.signIn("work", federation.Flow{}, ""); err != nil {
		t.Errorf("allowed domain: %v", err)
	}

	set("d", "d@example.com", "pwd", "mfa")
	res, err, _ := h.signIn("trusted", federation.Flow{}, "")
	if err != nil || !slices.Equal(res.AMR, []string{"fed", "mfa"}) {
		t.Errorf("trusted provider with upstream mfa: %+v, %v, want amr [fed mfa]", res, err)
	}
	set("e", "e@example.com", "pwd", "mfa")
	res, err, _ = h.signIn("plain", federation.Flow{}, "")
	if err != nil || !slices.Equal(res.AMR, []string{"fed"}) {
		t.Errorf("untrusted provider with upstream mfa: %+v, %v, want amr [fed]", res, err)
	}
	set("f", "f@example.com", "pwd")
	res, err, _ = h.signIn("trusted", federation.Flow{}, "")
	if err != nil || !slices.Equal(res.AMR, []string{"fed"}) {
		t.Errorf("trusted provider without upstream mfa: %+v, %v, want amr [fed]", res, err)
	}
}

func TestLinkFromAccountAndUnlink(t *testing.T) {
	up := federationtest.New(t)
	h := newHarness(t, oidcProvider("corp", up), oidcProvider("second", up))
	ctx := t.Context()
	owner, err := h.store.CreateUser(ctx, storage.User{Email: "owner@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	// The upstream address differs and is not even verified: a signed-in
	// user proved the account by being signed in.
	up.SetClaims(map[string]any{"sub": "acct-1", "email": "someone@upstream.example", "email_verified": false})
	_, err, _ = h.signIn("corp", federation.Flow{Continue: "/account", LinkUserID: owner.ID}, "another-session-user")
	wantCode(t, err, federation.CodeBadState)
	res, err, _ := h.signIn("corp", federation.Flow{Continue: "/account", LinkUserID: owner.ID}, owner.ID)
	if err != nil || !res.Linked || res.UserID != owner.ID {
		t.Fatalf("link from the account page = %+v, %v, want linked to the owner", res, err)
	}
	// The same upstream account cannot be linked to a second user.
	second, err := h.store.CreateUser(ctx, storage.User{Email: "second@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatal(err)
	}
	_, err, _ = h.signIn("corp", federation.Flow{LinkUserID: second.ID}, second.ID)
	wantCode(t, err, federation.CodeLinkedElsewhere)

	list, err := h.fed.Identities(ctx, owner.ID)
	if err != nil || len(list) != 1 || list[0].ProviderName != "Upstream" {
		t.Fatalf("Identities = %+v, %v, want the one link", list, err)
	}
	if err := h.fed.Unlink(ctx, second.ID, list[0].ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Unlink of another user's identity = %v, want ErrNotFound", err)
	}
	if err := h.fed.Unlink(ctx, owner.ID, list[0].ID); err != nil {
		t.Errorf("Unlink with a password left: %v", err)
	}

	// A user made by a provider has no password: their only identity stays.
	up.SetClaims(map[string]any{"sub": "acct-2", "email": "only@example.com", "email_verified": true})
	made, err, _ := h.signIn("corp", federation.Flow{}, "")
	if err != nil || !made.Created {
		t.Fatalf("sign-up: %+v, %v", made, err)
	}
	only, _ := h.fed.Identities(ctx, made.UserID)
	wantCode(t, h.fed.Unlink(ctx, made.UserID, only[0].ID), federation.CodeLastMethod)
	// With a second provider linked, either may go.
	up.SetClaims(map[string]any{"sub": "acct-3", "email": "only@example.com", "email_verified": true})
	if res, err, _ := h.signIn("second", federation.Flow{LinkUserID: made.UserID}, made.UserID); err != nil || !res.Linked {
		t.Fatalf("second link: %+v, %v", res, err)
	}
	if err := h.fed.Unlink(ctx, made.UserID, only[0].ID); err != nil {
		t.Errorf("Unlink with another provider left: %v", err)
	}
}

func TestGitHub(t *testing.T) {
	gh := newFakeGitHub(t)
	h := newHarness(t, federation.ProviderConfig{ID: "github", Kind: federation.KindGitHub, ClientID: "gh-client", ClientSecret: "gh-secret",
		AuthURL: gh.srv.URL + "/login/oauth/authorize", TokenURL: gh.srv.URL + "/login/oauth/access_token", APIURL: gh.srv.URL})
	if b := h.fed.Buttons(); len(b) != 1 || b[0].Name != "GitHub" {
		t.Errorf("Buttons = %+v, want GitHub", b)
	}
	gh.mu.Lock()
	gh.user = map[string]any{"id": 4242, "login": "octocat", "name": nil, "avatar_url": "https://avatars.example.com/u/4242"}
	gh.emails = []map[string]any{
		{"email": "old@example.com", "primary": false, "verified": true},
		{"email": "Octo@Example.com", "primary": true, "verified": true},
	}
	gh.mu.Unlock()
	res, err, _ := h.signIn("github", federation.Flow{}, "")
	if err != nil || !res.Created {
		t.Fatalf("GitHub sign-up = %+v, %v", res, err)
	}
	u, _ := h.store.GetUser(t.Context(), res.UserID)
	if u.Email != "octo@example.com" || u.Name != "octocat" || u.Picture != "https://avatars.example.com/u/4242" {
		t.Errorf("user = %+v, want the primary address, the login as name and the avatar", u)
	}
	if _, err := h.store.GetExternalIdentity(t.Context(), "github", "4242"); err != nil {
		t.Errorf("identity github/4242: %v", err)
	}
	gh.mu.Lock()
	gh.user = map[string]any{"id": 99, "login": "newbie"}
	gh.emails = []map[string]any{{"email": "newbie@example.com", "primary": true, "verified": false}}
	gh.mu.Unlock()
	_, err, _ = h.signIn("github", federation.Flow{}, "")
	wantCode(t, err, federation.CodeUnverifiedEmail)
}

func TestValidate(t *testing.T) {
	err := federation.Validate([]federation.ProviderConfig{
		{ID: "Bad ID", ClientID: "a", ClientSecret: "b", Issuer: "https://x.example"},
		{ID: "dup", Kind: "oidc", ClientID: "a", ClientSecret: "b"},
		{ID: "dup", Kind: "myspace", ClientID: "a", ClientSecret: "b"},
		{ID: "gh", Kind: "github", Style: "neon", AllowedDomains: []string{"a@b"}},
	})
	if err == nil {
		t.Fatal("Validate accepted bad providers")
	}
	for _, want := range []string{"[0].id", "[1].issuer is required", "\"dup\" is used twice", "[2].kind", "[3].client_id", "[3].client_secret", "[3].style", "[3].allowed_domains"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to name %s", err, want)
		}
	}
	if err := federation.Validate([]federation.ProviderConfig{{ID: "google", Kind: "google", ClientID: "a", ClientSecret: "b"}}); err != nil {
		t.Errorf("Validate(google preset) = %v", err)
	}
}

func TestKeptTokensAreSealedAndRefreshed(t *testing.T) {
	up := federationtest.New(t)
	up.SetClaims(map[string]any{"sub": "tok-1", "email": "tok@example.com", "email_verified": true})
	up.SetExpiresIn(5) // within x/oauth2's expiry margin: stale at once
	keep := oidcProvider("keep", up)
	keep.StoreTokens = true
	h := newHarness(t, keep, oidcProvider("nokeep", up))
	res, err, _ := h.signIn("keep", federation.Flow{}, "")
	if err != nil {
		t.Fatal(err)
	}
	e, err := h.store.GetExternalIdentity(t.Context(), "keep", "tok-1")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := h.store.ExternalIdentityTokens(t.Context(), e.ID)
	if err != nil || !strings.Contains(string(raw), `"refresh_token":"rt-`) {
		t.Fatalf("kept tokens = %q, %v, want the refresh token", raw, err)
	}
	first := len(up.Issued())
	tok, err := h.fed.Token(t.Context(), res.UserID, e.ID)
	at := tok.AccessToken
	if err != nil || !strings.HasPrefix(at, "at-") || !tok.Refreshed {
		t.Fatalf("Token = %q (refreshed %v), %v", at, tok.Refreshed, err)
	}
	if len(up.Issued()) != first+1 || up.Refreshes() != 1 {
		t.Errorf("tokens issued %d → %d, refreshes %d; want the stale token refreshed once", first, len(up.Issued()), up.Refreshes())
	}
	raw2, _ := h.store.ExternalIdentityTokens(t.Context(), e.ID)
	if !strings.Contains(string(raw2), at) {
		t.Errorf("kept tokens after refresh do not hold the new access token")
	}

	up.SetClaims(map[string]any{"sub": "tok-2", "email": "tok2@example.com", "email_verified": true})
	res2, err, _ := h.signIn("nokeep", federation.Flow{}, "")
	if err != nil {
		t.Fatal(err)
	}
	e2, _ := h.store.GetExternalIdentity(t.Context(), "nokeep", "tok-2")
	if raw, err := h.store.ExternalIdentityTokens(t.Context(), e2.ID); err != nil || raw != nil {
		t.Errorf("tokens of a provider that keeps none = %q, %v, want nil", raw, err)
	}
	_, err = h.fed.Token(t.Context(), res2.UserID, e2.ID)
	wantCode(t, err, federation.CodeTokensNotKept)
}
