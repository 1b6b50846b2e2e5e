package server_test

import (
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/authapi"
	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/federation/federationtest"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/internal/openapitest"
	"github.com/gatehouse-id/gatehouse/internal/outbound"
	"github.com/gatehouse-id/gatehouse/internal/server"
	"github.com/gatehouse-id/gatehouse/internal/session"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"github.com/gatehouse-id/gatehouse/templates"
)

// accountsEnv is apiEnv with federation: the provider "upstream" keeps its
// tokens (store_tokens), "plain" does not; both are the same in-test OpenID
// Connect provider on loopback.
type accountsEnv struct {
	*apiEnv
	up    *federationtest.Provider
	clock *testClock
}

func newAccountsEnv(t *testing.T, store *storage.Store) *accountsEnv {
	t.Helper()
	up := federationtest.New(t)
	clock := &testClock{now: time.Now()} // federation's: moved on by hand, so a kept token expires without waiting
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	logs := &syncBuffer{}
	log := slog.New(server.LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	mb := &mailbox{}
	ids := identity.New(store, identity.Options{BaseURL: issuer, Mail: mb, Log: log,
		Params: identity.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	fed, err := federation.New(federation.Options{
		Providers: []federation.ProviderConfig{
			{ID: "upstream", Name: "Upstream", Issuer: up.Issuer(), ClientID: federationtest.ClientID, ClientSecret: "upstream secret", StoreTokens: true},
			{ID: "plain", Name: "Plain", Issuer: up.Issuer(), ClientID: federationtest.ClientID, ClientSecret: "plain secret"},
		},
		Issuer: issuer, Store: store, Users: ids, Outbound: outbound.New(outbound.Options{AllowLoopback: true}),
		Sealer: store.Sealer(), Now: clock.Now, Log: log,
	})
	mustf(t, err, "federation.New")
	sessions := session.New(store, session.Options{})
	key := sha256.Sum256([]byte("csrf key for tests"))
	pages, err := web.New(web.Deps{Templates: templates.FS, Store: store, Identity: ids, Sessions: sessions, CSRFKey: key[:], Issuer: issuer, Log: log})
	mustf(t, err, "web.New")
	cfg := oauth.Config{Issuer: issuer, Secrets: []string{storagetest.TestSecret}}
	km := keys.New(store, keys.Options{MaxTokenLifetime: cfg.MaxTokenLifetime(), Log: log})
	mustf(t, km.EnsureKeys(t.Context()), "ensure keys")
	h, err := oauth.New(cfg, oauth.Deps{Store: store, Keys: km, Interaction: pages, ErrorPage: pages.ErrorPage, Log: log})
	mustf(t, err, "oauth.New")
	api, err := authapi.New(authapi.Deps{Identity: ids, Sessions: sessions, Keys: km, Issuer: issuer, TrustedOrigins: []string{trustedApp},
		Templates: templates.FS, Log: log, Federation: fed})
	mustf(t, err, "authapi.New")
	srv.Config.Handler = server.NewServer(server.Deps{Log: log, OAuth: h, Pages: pages, AuthAPI: api})
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	e := &apiEnv{t: t, url: issuer, store: store, ids: ids, mail: mb, contract: openapitest.New(t, authapi.OpenAPIDocument()), logs: logs}
	return &accountsEnv{apiEnv: e, up: up, clock: clock}
}

// signedInBrowser signs addr up (verified) and in, in a new browser of the
// trusted app.
func (e *accountsEnv) signedInBrowser(addr string) *apiClient {
	e.t.Helper()
	e.signUpVerified(addr, apiPassword)
	b := e.browser(trustedApp)
	wantAPI(e.t, "sign in "+addr, b.do("POST", "/api/auth/sign-in/email", map[string]any{"email": addr, "password": apiPassword}), 200, "")
	return b
}

// throughProvider follows an authorization URL the API answered: the
// provider signs the person in and sends the browser back to the API's
// callback, whose answer (checked against the document) it returns.
func (e *accountsEnv) throughProvider(b *apiClient, authURL string) apiAnswer {
	e.t.Helper()
	if !strings.HasPrefix(authURL, e.up.Issuer()+"/authorize?") {
		e.t.Fatalf("authorization URL %q is not the provider's", authURL)
	}
	// The provider is not the API: its answers are not the document's.
	plain := &http.Client{Jar: b.http.Jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := plain.Get(authURL)
	mustf(e.t, err, "GET the provider")
	res.Body.Close()
	back, err := url.Parse(res.Header.Get("Location"))
	if err != nil || res.StatusCode != http.StatusFound || !strings.HasPrefix(back.String(), e.url+"/api/auth/callback/") {
		e.t.Fatalf("provider answered %d Location %q, want the API's callback", res.StatusCode, res.Header.Get("Location"))
	}
	return b.do("GET", back.RequestURI(), nil)
}

// link runs link-social for provider in b and returns the callback's answer.
func (e *accountsEnv) link(b *apiClient, provider string) apiAnswer {
	e.t.Helper()
	a := b.do("POST", "/api/auth/link-social", map[string]any{"provider": provider,
		"callbackURL": trustedApp + "/settings", "errorCallbackURL": trustedApp + "/settings/error"})
	wantAPI(e.t, "link-social "+provider, a, 200, "")
	m := a.json(e.t)
	if m["redirect"] != true {
		e.t.Fatalf("link-social answer %s, want redirect true", a.body)
	}
	return e.throughProvider(b, m["url"].(string))
}

type account struct {
	ID, ProviderID, AccountID, UserID string
	Scopes                            []string
}

func (e *accountsEnv) accounts(b *apiClient) []account {
	e.t.Helper()
	a := b.do("GET", "/api/auth/list-accounts", nil)
	wantAPI(e.t, "list-accounts", a, 200, "")
	var list []account
	if err := json.Unmarshal(a.body, &list); err != nil {
		e.t.Fatalf("list-accounts %s: %v", a.body, err)
	}
	return list
}

func providersOf(list []account) []string {
	var out []string
	for _, a := range list {
		out = append(out, a.ProviderID)
	}
	return out
}

func wantRedirect(t *testing.T, what string, a apiAnswer, to string) {
	t.Helper()
	if a.status != http.StatusFound || a.header.Get("Location") != to {
		t.Fatalf("%s: %d Location %q, want 302 to %q; body %s", what, a.status, a.header.Get("Location"), to, a.body)
	}
}

// TestAccountsAPI drives Better Auth's account endpoints through the HTTP
// API against a real upstream OpenID Connect provider on loopback, on both
// databases: list-accounts (the password and each linked provider),
// link-social end to end (the browser lands on callbackURL), an upstream
// account of another user refused, get-access-token with kept tokens and a
// refresh after the kept one expires, its errors (tokens not kept, another
// user's account, the password), unlink-account and the last way in refused;
// no upstream token reaches the log.
func TestAccountsAPI(t *testing.T) {
	eachAPIDatabase(t, func(t *testing.T, store *storage.Store) {
		e := newAccountsEnv(t, store)

		// Signed out: 401, for each.
		anon := e.browser(trustedApp)
		wantAPI(t, "list-accounts signed out", anon.do("GET", "/api/auth/list-accounts", nil), 401, "UNAUTHORIZED")
		wantAPI(t, "link-social signed out", anon.do("POST", "/api/auth/link-social", map[string]any{"provider": "upstream"}), 401, "UNAUTHORIZED")
		wantAPI(t, "unlink signed out", anon.do("POST", "/api/auth/unlink-account", map[string]any{"accountId": "x"}), 401, "UNAUTHORIZED")
		wantAPI(t, "token signed out", anon.do("POST", "/api/auth/get-access-token", map[string]any{"accountId": "x"}), 401, "UNAUTHORIZED")

		// A password user has one account: credential, with the user's id.
		ada := e.signedInBrowser("ada@example.com")
		list := e.accounts(ada)
		if len(list) != 1 || list[0].ProviderID != "credential" || list[0].ID != list[0].UserID || list[0].AccountID != list[0].UserID {
			t.Fatalf("accounts of a password user = %+v, want one credential account", list)
		}
		adaID := list[0].UserID

		// Refusals of link-social change nothing.
		wantAPI(t, "link unknown provider", ada.do("POST", "/api/auth/link-social", map[string]any{"provider": "nope"}), 404, "PROVIDER_NOT_FOUND")
		wantAPI(t, "link without provider", ada.do("POST", "/api/auth/link-social", map[string]any{}), 400, "VALIDATION_ERROR")
		wantAPI(t, "link to a foreign callback", ada.do("POST", "/api/auth/link-social",
			map[string]any{"provider": "upstream", "callbackURL": "https://evil.example/"}), 403, "INVALID_CALLBACK_URL")
		wantAPI(t, "link with more scopes", ada.do("POST", "/api/auth/link-social",
			map[string]any{"provider": "upstream", "scopes": []string{"repo"}}), 400, "NOT_SUPPORTED")
		wantAPI(t, "link with an id token", ada.do("POST", "/api/auth/link-social",
			map[string]any{"provider": "upstream", "idToken": map[string]any{"token": "x"}}), 400, "ID_TOKEN_NOT_SUPPORTED")
		app := e.app()
		si := app.do("POST", "/api/auth/sign-in/email", map[string]any{"email": "ada@example.com", "password": apiPassword})
		wantAPI(t, "app sign-in", si, 200, "")
		app.bearer = si.header.Get("set-auth-token")
		wantAPI(t, "link with a bearer token", app.do("POST", "/api/auth/link-social", map[string]any{"provider": "upstream"}), 400, "NOT_SUPPORTED")
		if got := providersOf(e.accounts(ada)); !slices.Equal(got, []string{"credential"}) {
			t.Fatalf("accounts after refused links = %q", got)
		}

		// link-social end to end: the provider, the callback, the app's page.
		e.up.SignIn("ada-upstream", "ada.upstream@example.net")
		wantRedirect(t, "link callback", e.link(ada, "upstream"), trustedApp+"/settings")
		linkedToken := e.up.Issued()[len(e.up.Issued())-1]
		list = e.accounts(ada)
		if got := providersOf(list); !slices.Equal(got, []string{"credential", "upstream"}) {
			t.Fatalf("accounts after the link = %q, want credential, upstream", got)
		}
		upAcc := list[1]
		if upAcc.AccountID != "ada-upstream" || upAcc.UserID != adaID || !slices.Contains(upAcc.Scopes, "openid") || upAcc.ID == adaID {
			t.Fatalf("linked account = %+v", upAcc)
		}
		// The session is the one that linked: still signed in, as Ada.
		if s := ada.do("GET", "/api/auth/get-session", nil).json(t); s["user"].(map[string]any)["id"] != adaID {
			t.Fatalf("session after the link: %v", s)
		}

		// get-access-token: the kept token, then a refresh once it expires.
		a := ada.do("POST", "/api/auth/get-access-token", map[string]any{"accountId": upAcc.ID})
		wantAPI(t, "get-access-token", a, 200, "")
		m := a.json(t)
		exp, err := time.Parse(time.RFC3339, m["accessTokenExpiresAt"].(string))
		if m["accessToken"] != linkedToken || err != nil || exp.Before(time.Now().Add(50*time.Minute)) || e.up.Refreshes() != 0 {
			t.Fatalf("get-access-token = %s (issued %q, refreshes %d), want the token issued at the link, an hour to live", a.body, linkedToken, e.up.Refreshes())
		}
		e.clock.Advance(2 * time.Hour)
		a = ada.do("POST", "/api/auth/get-access-token", map[string]any{"accountId": upAcc.ID})
		wantAPI(t, "get-access-token after expiry", a, 200, "")
		refreshed := a.json(t)["accessToken"]
		if e.up.Refreshes() != 1 || refreshed == linkedToken || refreshed != e.up.Issued()[len(e.up.Issued())-1] {
			t.Fatalf("after expiry: %s, refreshes %d; want a new token from the provider", a.body, e.up.Refreshes())
		}
		// The new token is kept: asked again (older clients name the
		// provider), it is the same, with no second refresh.
		a = ada.do("POST", "/api/auth/get-access-token", map[string]any{"providerId": "upstream"})
		wantAPI(t, "get-access-token by provider", a, 200, "")
		if a.json(t)["accessToken"] != refreshed || e.up.Refreshes() != 1 {
			t.Fatalf("again: %s, refreshes %d; want the refreshed token kept", a.body, e.up.Refreshes())
		}
		// Access revoked at the provider: once the kept token expires, the
		// provider refuses the refresh, and the API says so.
		e.up.RevokeRefreshTokens()
		e.clock.Advance(2 * time.Hour)
		wantAPI(t, "refresh refused", ada.do("POST", "/api/auth/get-access-token", map[string]any{"accountId": upAcc.ID}), 400, "FAILED_TO_GET_ACCESS_TOKEN")
		wantAPI(t, "token of the password", ada.do("POST", "/api/auth/get-access-token", map[string]any{"accountId": adaID}), 400, "PROVIDER_NOT_SUPPORTED")
		wantAPI(t, "token of no account", ada.do("POST", "/api/auth/get-access-token", map[string]any{"accountId": "0b7f4a56-3d9e-4c1a-9d2b-7e1f0c3a5b6d"}), 400, "ACCOUNT_NOT_FOUND")
		wantAPI(t, "token without an account", ada.do("POST", "/api/auth/get-access-token", map[string]any{}), 400, "VALIDATION_ERROR")

		// A provider whose tokens are not kept: a clear refusal.
		e.up.SignIn("ada-plain", "ada.plain@example.net")
		wantRedirect(t, "link plain", e.link(ada, "plain"), trustedApp+"/settings")
		a = ada.do("POST", "/api/auth/get-access-token", map[string]any{"providerId": "plain"})
		wantAPI(t, "token not kept", a, 400, "ACCESS_TOKEN_NOT_FOUND")
		if msg, _ := a.json(t)["message"].(string); !strings.Contains(msg, "store_tokens") {
			t.Errorf("token not kept: message %q, want it to name store_tokens", msg)
		}

		// Bob cannot link Ada's upstream account, nor see or unlink hers.
		bob := e.signedInBrowser("bob@example.com")
		e.up.SignIn("ada-upstream", "ada.upstream@example.net")
		wantRedirect(t, "link another's account", e.link(bob, "upstream"), trustedApp+"/settings/error?error=account_already_linked_to_different_user")
		if got := providersOf(e.accounts(bob)); !slices.Equal(got, []string{"credential"}) {
			t.Fatalf("Bob's accounts after the refused link = %q", got)
		}
		wantAPI(t, "Bob's token of Ada's account", bob.do("POST", "/api/auth/get-access-token", map[string]any{"accountId": upAcc.ID}), 400, "ACCOUNT_NOT_FOUND")
		wantAPI(t, "Bob unlinks Ada's account", bob.do("POST", "/api/auth/unlink-account", map[string]any{"accountId": upAcc.ID}), 400, "ACCOUNT_NOT_FOUND")

		// A link that ends in another browser (neither the flow cookie nor
		// the session there) links nothing.
		a = ada.do("POST", "/api/auth/link-social", map[string]any{"provider": "upstream", "errorCallbackURL": "/oops"})
		wantAPI(t, "link-social", a, 200, "")
		e.up.SignIn("ada-elsewhere", "ada.elsewhere@example.net")
		wantRedirect(t, "link finished in another browser", e.throughProvider(e.browser(trustedApp), a.json(t)["url"].(string)), e.url+"/?error=bad_state")
		if got := providersOf(e.accounts(ada)); !slices.Equal(got, []string{"credential", "plain", "upstream"}) {
			t.Fatalf("Ada's accounts after a link finished elsewhere = %q", got)
		}

		// unlink-account: the upstream identity goes; the password stays.
		wantAPI(t, "unlink the password", ada.do("POST", "/api/auth/unlink-account", map[string]any{"accountId": adaID}), 400, "NOT_SUPPORTED")
		wantAPI(t, "unlink", ada.do("POST", "/api/auth/unlink-account", map[string]any{"accountId": upAcc.ID}), 200, "")
		if got := providersOf(e.accounts(ada)); !slices.Equal(got, []string{"credential", "plain"}) {
			t.Fatalf("accounts after unlink = %q, want credential, plain", got)
		}
		wantAPI(t, "unlink again", ada.do("POST", "/api/auth/unlink-account", map[string]any{"accountId": upAcc.ID}), 400, "ACCOUNT_NOT_FOUND")
		wantAPI(t, "unlink by provider", ada.do("POST", "/api/auth/unlink-account", map[string]any{"providerId": "plain", "accountId": "ada-plain"}), 200, "")

		// Carol signed up through the provider: her only way in stays.
		carol := e.browser(trustedApp)
		a = carol.do("POST", "/api/auth/sign-in/social", map[string]any{"provider": "upstream", "callbackURL": "/welcome"})
		wantAPI(t, "sign-in/social", a, 200, "")
		e.up.SignIn("carol-upstream", "carol@example.com")
		wantRedirect(t, "sign-up through the provider", e.throughProvider(carol, a.json(t)["url"].(string)), e.url+"/welcome")
		list = e.accounts(carol)
		if len(list) != 1 || list[0].ProviderID != "upstream" || list[0].AccountID != "carol-upstream" {
			t.Fatalf("Carol's accounts = %+v, want the upstream one only", list)
		}
		wantAPI(t, "unlink the last way in", carol.do("POST", "/api/auth/unlink-account", map[string]any{"accountId": list[0].ID}), 400, "FAILED_TO_UNLINK_LAST_ACCOUNT")
		if got := providersOf(e.accounts(carol)); !slices.Equal(got, []string{"upstream"}) {
			t.Fatalf("Carol's accounts after the refused unlink = %q", got)
		}

		// No upstream token reached the log.
		logs := e.logs.String()
		for _, tok := range e.up.Issued() {
			if strings.Contains(logs, tok) {
				t.Errorf("the log holds an upstream access token")
			}
		}
	})
}
