package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/clients"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/openapitest"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

var (
	tokenA = strings.Repeat("a", 40)
	tokenB = strings.Repeat("b", 40)
)

// fastParams keeps password hashing quick in tests.
var fastParams = identity.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}

// fixture is an admin API over a fresh store, served by httptest.
type fixture struct {
	store *storage.Store
	srv   *httptest.Server
	token string
}

func newFixture(t *testing.T, store *storage.Store, tokens ...string) *fixture {
	t.Helper()
	now := time.Now
	api := New(Deps{
		Clients: clients.New(store, store.Sealer(), now, clients.Rules{}),
		Users:   identity.New(store, identity.Options{Params: fastParams}),
		Keys:    keys.New(store, keys.Options{}),
		Tokens:  tokens,
	})
	f := newFixtureFor(t, store, api)
	if len(tokens) > 0 {
		f.token = tokens[0]
	}
	return f
}

// newFixtureFor serves api over store with httptest.
func newFixtureFor(t *testing.T, store *storage.Store, api *API) *fixture {
	t.Helper()
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	// Every answer of the suite is checked against openapi.json.
	srv.Client().Transport = openapitest.New(t, openAPI).Transport(srv.Client().Transport)
	return &fixture{store: store, srv: srv}
}

// eachDB runs test on SQLite and on PostgreSQL, each with a new database.
func eachDB(t *testing.T, test func(t *testing.T, store *storage.Store)) {
	t.Run("SQLite", func(t *testing.T) { test(t, storagetest.OpenSQLite(t)) })
	t.Run("PostgreSQL", func(t *testing.T) { test(t, storagetest.OpenPostgres(t)) })
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) problem(t *testing.T) Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, r.body)
	}
	var p Problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("problem body %s: %v", r.body, err)
	}
	if p.Status != r.status || p.Type == "" || p.Title == "" {
		t.Errorf("problem = %+v, want type, title and status %d", p, r.status)
	}
	return p
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
}

// do sends method path with body (a string of JSON, or nil) and f's token.
func (f *fixture) do(t *testing.T, method, path string, body any) response {
	t.Helper()
	return f.doAs(t, f.token, method, path, body)
}

func (f *fixture) doAs(t *testing.T, token, method, path string, body any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		s, ok := body.(string)
		if !ok {
			b, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			s = string(b)
		}
		rd = strings.NewReader(s)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func wantStatus(t *testing.T, what string, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("%s: status %d, want %d; body %s", what, r.status, want, r.body)
	}
}

func TestAuth(t *testing.T) {
	t.Run("NotConfigured", func(t *testing.T) {
		f := newFixture(t, storagetest.OpenSQLite(t))
		for _, path := range []string{"/admin/clients", "/admin/users", "/admin/keys"} {
			r := f.doAs(t, tokenA, http.MethodGet, path, nil)
			wantStatus(t, "GET "+path+" without configured tokens", r, http.StatusServiceUnavailable)
			if p := r.problem(t); !strings.Contains(p.Detail, "not configured") || p.Type != "urn:gatehouse:problem:not-configured" {
				t.Errorf("problem = %+v, want it to say the admin API is not configured", p)
			}
		}
		wantStatus(t, "GET /healthz", f.doAs(t, "", http.MethodGet, "/healthz", nil), http.StatusOK)
		wantStatus(t, "GET /openapi.json", f.doAs(t, "", http.MethodGet, "/openapi.json", nil), http.StatusOK)
	})
	f := newFixture(t, storagetest.OpenSQLite(t), tokenA, tokenB)
	for _, tc := range []struct {
		name, header string
		challenge    string
	}{
		{"none", "", `Bearer realm="gatehouse-admin"`},
		{"wrong", "Bearer " + strings.Repeat("c", 40), `error="invalid_token"`},
		{"prefix of a good one", "Bearer " + tokenA[:20], `error="invalid_token"`},
		{"basic", "Basic " + tokenA, `Bearer realm="gatehouse-admin"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+"/admin/clients", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			res, err := f.srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			r := response{status: res.StatusCode, header: res.Header, body: b}
			wantStatus(t, "GET /admin/clients", r, http.StatusUnauthorized)
			if got := res.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") || !strings.Contains(got, tc.challenge) {
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge with %q", got, tc.challenge)
			}
			r.problem(t)
		})
	}
	// Both configured tokens work, so one can replace the other.
	for _, tok := range []string{tokenA, tokenB} {
		wantStatus(t, "GET /admin/clients with a configured token", f.doAs(t, tok, http.MethodGet, "/admin/clients", nil), http.StatusOK)
	}
}

func TestClients(t *testing.T) {
	eachDB(t, func(t *testing.T, store *storage.Store) {
		f := newFixture(t, store, tokenA)
		r := f.do(t, http.MethodPost, "/admin/clients", map[string]any{
			"client_id": "web-app", "client_name": "Web App", "redirect_uris": []string{"https://app.example.com/cb"},
		})
		wantStatus(t, "create", r, http.StatusCreated)
		var created clientWithSecret
		r.decode(t, &created)
		if created.ClientID != "web-app" || created.ClientSecret == "" || r.header.Get("Location") != "/admin/clients/web-app" {
			t.Errorf("create = %+v, Location %q; want web-app with a secret", created, r.header.Get("Location"))
		}
		if !store.Sealer().CompareClientSecret(mustClient(t, store, "web-app").SecretHash, []byte(created.ClientSecret)) {
			t.Error("the returned secret does not match the stored hash")
		}

		// get never shows the secret.
		r = f.do(t, http.MethodGet, "/admin/clients/web-app", nil)
		wantStatus(t, "get", r, http.StatusOK)
		if bytes.Contains(r.body, []byte(`"client_secret"`)) || bytes.Contains(r.body, []byte(created.ClientSecret)) {
			t.Errorf("get shows the secret: %s", r.body)
		}

		// Full update keeps the secret.
		spec := created.Spec()
		spec.ClientName = "Renamed"
		r = f.do(t, http.MethodPut, "/admin/clients/web-app", spec)
		wantStatus(t, "update", r, http.StatusOK)
		var updated clientWithSecret
		r.decode(t, &updated)
		if updated.ClientName != "Renamed" || updated.ClientSecret != "" {
			t.Errorf("update = %+v, want renamed and no new secret", updated)
		}

		// Rotate gives a new secret once.
		r = f.do(t, http.MethodPost, "/admin/clients/web-app/secret", nil)
		wantStatus(t, "rotate", r, http.StatusOK)
		var rotated clientWithSecret
		r.decode(t, &rotated)
		if rotated.ClientSecret == "" || rotated.ClientSecret == created.ClientSecret {
			t.Errorf("rotate = %q, want a new secret", rotated.ClientSecret)
		}

		// Every validation problem is named.
		r = f.do(t, http.MethodPost, "/admin/clients", map[string]any{
			"redirect_uris": []string{"http://app.example.com/cb"}, "grant_types": []string{"magic"},
		})
		wantStatus(t, "create invalid", r, http.StatusBadRequest)
		p := r.problem(t)
		wantFields(t, p, "redirect_uris[0]", "grant_types[0]")

		// Unknown fields are refused and named, all of them.
		r = f.do(t, http.MethodPost, "/admin/clients", `{"client_name":"x","colour":"red","sizes":[1]}`)
		wantStatus(t, "create with unknown fields", r, http.StatusBadRequest)
		wantFields(t, r.problem(t), "colour", "sizes")
		r = f.do(t, http.MethodPost, "/admin/clients", `{"lifespans":{"forever":"1h"}}`)
		wantStatus(t, "create with a nested unknown field", r, http.StatusBadRequest)
		wantFields(t, r.problem(t), "forever")
		r = f.do(t, http.MethodPost, "/admin/clients", `{"redirect_uris":"https://a.example.com/cb"}`)
		wantStatus(t, "create with a wrong type", r, http.StatusBadRequest)
		wantFields(t, r.problem(t), "redirect_uris")
		r = f.do(t, http.MethodPost, "/admin/clients", `{"client_name":`)
		wantStatus(t, "create with broken JSON", r, http.StatusBadRequest)
		r.problem(t)

		// A taken id is a conflict; an unknown one is a 404 problem.
		r = f.do(t, http.MethodPost, "/admin/clients", map[string]any{"client_id": "web-app", "grant_types": []string{"client_credentials"}})
		wantStatus(t, "create taken id", r, http.StatusConflict)
		r.problem(t)
		for _, req := range []struct{ method, path string }{
			{http.MethodGet, "/admin/clients/missing"},
			{http.MethodDelete, "/admin/clients/missing"},
			{http.MethodPost, "/admin/clients/missing/secret"},
		} {
			r = f.do(t, req.method, req.path, nil)
			wantStatus(t, req.method+" "+req.path, r, http.StatusNotFound)
			r.problem(t)
		}
		r = f.do(t, http.MethodPut, "/admin/clients/missing", map[string]any{"grant_types": []string{"client_credentials"}})
		wantStatus(t, "PUT missing", r, http.StatusNotFound)

		wantStatus(t, "delete", f.do(t, http.MethodDelete, "/admin/clients/web-app", nil), http.StatusNoContent)
		wantStatus(t, "get deleted", f.do(t, http.MethodGet, "/admin/clients/web-app", nil), http.StatusNotFound)
	})
}

// TestClientsMetadataAndSecrets: the interop settings go through the admin API
// and back; private_key_jwt and none clients are created without a secret and
// have none to rotate.
func TestClientsMetadataAndSecrets(t *testing.T) {
	eachDB(t, func(t *testing.T, store *storage.Store) {
		f := newFixture(t, store, tokenA)
		r := f.do(t, http.MethodPost, "/admin/clients", map[string]any{
			"client_id": "spa", "public": true, "redirect_uris": []string{"https://spa.example.com/cb"},
			"allowed_cors_origins": []string{"https://CDN.example.com:443"}, "resource_server": true, "claims_in_id_token": true,
		})
		wantStatus(t, "create", r, http.StatusCreated)
		var created clientWithSecret
		r.decode(t, &created)
		if !slices.Equal(created.AllowedCORSOrigins, []string{"https://cdn.example.com"}) || !created.ResourceServer || !created.ClaimsInIDToken {
			t.Errorf("create = %+v, want the origin, resource_server and claims_in_id_token", created.View)
		}
		rec := mustClient(t, store, "spa")
		if !slices.Equal(rec.AllowedCORSOrigins, []string{"https://cdn.example.com"}) || !rec.ResourceServer || !rec.ClaimsInIDToken {
			t.Errorf("stored = %+v", rec)
		}
		r = f.do(t, http.MethodPost, "/admin/clients", map[string]any{"redirect_uris": []string{"https://a.example.com/cb"}, "allowed_cors_origins": []string{"https://a.example.com/path"}})
		wantStatus(t, "create with an origin with a path", r, http.StatusBadRequest)
		wantFields(t, r.problem(t), "allowed_cors_origins[0]")

		jwks := `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","use":"sig","kid":"k1"}]}`
		for _, tc := range []struct{ name, body string }{
			{"private_key_jwt", `{"client_id":"svc","grant_types":["client_credentials"],"token_endpoint_auth_method":"private_key_jwt","token_endpoint_auth_signing_alg":"ES256","jwks":` + jwks + `}`},
			{"none", `{"client_id":"native","public":true,"redirect_uris":["https://n.example.com/cb"]}`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := f.do(t, http.MethodPost, "/admin/clients", tc.body)
				wantStatus(t, "create", r, http.StatusCreated)
				var c clientWithSecret
				r.decode(t, &c)
				if bytes.Contains(r.body, []byte(`"client_secret"`)) || mustClient(t, store, c.ClientID).SecretHash != "" {
					t.Errorf("create %s: response %s, stored hash %q; want no secret", tc.name, r.body, mustClient(t, store, c.ClientID).SecretHash)
				}
				r = f.do(t, http.MethodPost, "/admin/clients/"+c.ClientID+"/secret", nil)
				wantStatus(t, "rotate", r, http.StatusConflict)
				r.problem(t)
				if mustClient(t, store, c.ClientID).SecretHash != "" {
					t.Error("rotate stored a secret")
				}
			})
		}
	})
}

func TestClientsPaging(t *testing.T) {
	f := newFixture(t, storagetest.OpenSQLite(t), tokenA)
	for i := range 5 {
		r := f.do(t, http.MethodPost, "/admin/clients", map[string]any{"client_id": fmt.Sprintf("svc-%d", i), "grant_types": []string{"client_credentials"}})
		wantStatus(t, "create", r, http.StatusCreated)
	}
	var ids []string
	next := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		var p clients.Page
		f.do(t, http.MethodGet, "/admin/clients?limit=2&after="+next, nil).decode(t, &p)
		for _, c := range p.Clients {
			ids = append(ids, c.ClientID)
		}
		if p.Next == "" {
			break
		}
		next = p.Next
	}
	if want := []string{"svc-0", "svc-1", "svc-2", "svc-3", "svc-4"}; !slices.Equal(ids, want) {
		t.Errorf("paged ids = %v, want %v", ids, want)
	}
	r := f.do(t, http.MethodGet, "/admin/clients?limit=0", nil)
	wantStatus(t, "limit=0", r, http.StatusBadRequest)
	wantFields(t, r.problem(t), "limit")
}

func TestUsers(t *testing.T) {
	eachDB(t, func(t *testing.T, store *storage.Store) {
		f := newFixture(t, store, tokenA)
		r := f.do(t, http.MethodPost, "/admin/users", map[string]any{"email": "Ada@Example.com", "password": "correct horse battery", "name": "Ada"})
		wantStatus(t, "create", r, http.StatusCreated)
		var ada identity.View
		r.decode(t, &ada)
		if ada.Email != "ada@example.com" || !ada.HasPassword || ada.EmailVerified || bytes.Contains(r.body, []byte("correct horse")) {
			t.Errorf("create = %s", r.body)
		}
		// Without a password.
		r = f.do(t, http.MethodPost, "/admin/users", map[string]any{"email": "bob@example.com", "email_verified": true})
		wantStatus(t, "create without password", r, http.StatusCreated)
		var bob identity.View
		r.decode(t, &bob)
		if bob.HasPassword || !bob.EmailVerified {
			t.Errorf("create without password = %+v", bob)
		}

		// Refusals name their field.
		for _, tc := range []struct {
			name  string
			body  any
			field string
		}{
			{"bad email", map[string]any{"email": "not-an-address"}, "email"},
			{"missing email", map[string]any{"name": "x"}, "email"},
			{"weak password", map[string]any{"email": "c@example.com", "password": "password"}, "password"},
			{"unknown field", `{"email":"c@example.com","admin":true}`, "admin"},
		} {
			r = f.do(t, http.MethodPost, "/admin/users", tc.body)
			wantStatus(t, tc.name, r, http.StatusBadRequest)
			wantFields(t, r.problem(t), tc.field)
		}
		r = f.do(t, http.MethodPost, "/admin/users", map[string]any{"email": "ADA@example.com"})
		wantStatus(t, "taken email", r, http.StatusConflict)

		// get, search, patch.
		r = f.do(t, http.MethodGet, "/admin/users/"+ada.ID, nil)
		wantStatus(t, "get", r, http.StatusOK)
		var page userPage
		f.do(t, http.MethodGet, "/admin/users?email_prefix=AD", nil).decode(t, &page)
		if len(page.Users) != 1 || page.Users[0].ID != ada.ID {
			t.Errorf("search ad = %+v", page.Users)
		}
		r = f.do(t, http.MethodPatch, "/admin/users/"+ada.ID, map[string]any{"given_name": "Ada", "locale": "en-gb", "email": "ada@example.org", "email_verified": true})
		wantStatus(t, "patch", r, http.StatusOK)
		var patched identity.View
		r.decode(t, &patched)
		if patched.Name != "Ada" || patched.GivenName != "Ada" || patched.Locale != "en-GB" || patched.Email != "ada@example.org" || !patched.EmailVerified {
			t.Errorf("patch = %+v", patched)
		}
		r = f.do(t, http.MethodPatch, "/admin/users/"+ada.ID, map[string]any{"picture": "ftp://x"})
		wantStatus(t, "patch bad picture", r, http.StatusBadRequest)
		wantFields(t, r.problem(t), "picture")
		wantStatus(t, "patch nothing", f.do(t, http.MethodPatch, "/admin/users/"+ada.ID, `{}`), http.StatusBadRequest)

		// password.
		wantStatus(t, "set password", f.do(t, http.MethodPut, "/admin/users/"+bob.ID+"/password", map[string]any{"password": "a much better password"}), http.StatusNoContent)
		r = f.do(t, http.MethodPut, "/admin/users/"+bob.ID+"/password", map[string]any{"password": "short"})
		wantStatus(t, "set weak password", r, http.StatusBadRequest)
		wantFields(t, r.problem(t), "password")
		if u, _ := store.GetUser(t.Context(), bob.ID); u.PasswordHash == "" {
			t.Error("set password stored no hash")
		}

		// Unknown ids are 404 problems, well-formed or not.
		for _, id := range []string{"00000000-0000-4000-8000-000000000000", "not-a-uuid"} {
			for _, req := range []struct{ method, path string }{
				{http.MethodGet, "/admin/users/" + id},
				{http.MethodDelete, "/admin/users/" + id},
				{http.MethodPost, "/admin/users/" + id + "/disable"},
				{http.MethodGet, "/admin/users/" + id + "/sessions"},
				{http.MethodGet, "/admin/users/" + id + "/accounts"},
			} {
				r = f.do(t, req.method, req.path, nil)
				wantStatus(t, req.method+" "+req.path, r, http.StatusNotFound)
				r.problem(t)
			}
		}

		wantStatus(t, "delete", f.do(t, http.MethodDelete, "/admin/users/"+bob.ID, nil), http.StatusNoContent)
		wantStatus(t, "get deleted", f.do(t, http.MethodGet, "/admin/users/"+bob.ID, nil), http.StatusNotFound)
	})
}

func TestUsersPaging(t *testing.T) {
	f := newFixture(t, storagetest.OpenSQLite(t), tokenA)
	for i := range 5 {
		wantStatus(t, "create", f.do(t, http.MethodPost, "/admin/users", map[string]any{"email": fmt.Sprintf("u%d@example.com", i)}), http.StatusCreated)
	}
	var emails []string
	next := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		var p userPage
		f.do(t, http.MethodGet, "/admin/users?limit=2&after="+next, nil).decode(t, &p)
		if len(p.Users) > 2 {
			t.Fatalf("page of %d, want at most 2", len(p.Users))
		}
		for _, u := range p.Users {
			emails = append(emails, u.Email)
		}
		if p.Next == "" {
			break
		}
		next = p.Next
	}
	if len(emails) != 5 || !slices.IsSorted(emails) {
		t.Errorf("paged e-mails = %v, want 5 in order", emails)
	}
}

// TestDisableEndsAccess checks that disabling a user ends their sessions and
// revokes their tokens, and that sessions and accounts can be listed and ended.
func TestDisableEndsAccess(t *testing.T) {
	eachDB(t, func(t *testing.T, store *storage.Store) {
		f := newFixture(t, store, tokenA)
		var ada identity.View
		f.do(t, http.MethodPost, "/admin/users", map[string]any{"email": "ada@example.com"}).decode(t, &ada)
		f.do(t, http.MethodPost, "/admin/clients", map[string]any{"client_id": "app", "redirect_uris": []string{"https://app.example.com/cb"}})
		f.do(t, http.MethodPost, "/admin/clients", map[string]any{"client_id": "other", "redirect_uris": []string{"https://other.example.com/cb"}})
		ctx := t.Context()
		now := time.Now()
		var sids []string
		for i := range 3 {
			s, err := store.CreateSession(ctx, storage.BrowserSession{
				TokenHash: []byte("session-" + strconv.Itoa(i)), UserID: ada.ID, AuthTime: now, AMR: "pwd", LastSeenAt: now,
				IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour), IP: "127.0.0.1",
			})
			if err != nil {
				t.Fatal(err)
			}
			sids = append(sids, s.ID)
		}
		for _, c := range []string{"app", "other"} {
			if _, err := store.RecordAuthorization(ctx, ada.ID, c, "openid profile", true, now); err != nil {
				t.Fatal(err)
			}
			insertRefreshToken(t, store, c, ada.ID, "rt-"+c)
		}

		// Sessions: list, end one, 404 for one of nobody's.
		var ss struct{ Sessions []sessionView }
		f.do(t, http.MethodGet, "/admin/users/"+ada.ID+"/sessions", nil).decode(t, &ss)
		if len(ss.Sessions) != 3 || !slices.Equal(ss.Sessions[0].AMR, []string{"pwd"}) || bytes.Contains(f.do(t, http.MethodGet, "/admin/users/"+ada.ID+"/sessions", nil).body, []byte("token")) {
			t.Errorf("sessions = %+v", ss.Sessions)
		}
		wantStatus(t, "end one session", f.do(t, http.MethodDelete, "/admin/users/"+ada.ID+"/sessions/"+sids[0], nil), http.StatusNoContent)
		wantStatus(t, "end it again", f.do(t, http.MethodDelete, "/admin/users/"+ada.ID+"/sessions/"+sids[0], nil), http.StatusNotFound)

		// Accounts: list, revoke one with its tokens.
		var as struct{ Accounts []accountView }
		f.do(t, http.MethodGet, "/admin/users/"+ada.ID+"/accounts", nil).decode(t, &as)
		if len(as.Accounts) != 2 {
			t.Errorf("accounts = %+v, want 2", as.Accounts)
		}
		wantStatus(t, "revoke account", f.do(t, http.MethodDelete, "/admin/users/"+ada.ID+"/accounts/other", nil), http.StatusNoContent)
		wantStatus(t, "revoke it again", f.do(t, http.MethodDelete, "/admin/users/"+ada.ID+"/accounts/other", nil), http.StatusNotFound)
		if refreshTokenActive(t, store, "rt-other") || !refreshTokenActive(t, store, "rt-app") {
			t.Error("revoking other should revoke its token and only its token")
		}

		// Disable: sessions end, tokens are revoked, in one go.
		r := f.do(t, http.MethodPost, "/admin/users/"+ada.ID+"/disable", nil)
		wantStatus(t, "disable", r, http.StatusOK)
		var d disabledUser
		r.decode(t, &d)
		if !d.User.Disabled || d.SessionsEnded != 2 || d.TokensRevoked.RefreshTokens != 1 {
			t.Errorf("disable = %+v, want disabled, 2 sessions ended, 1 refresh token revoked", d)
		}
		if left, _ := store.ListUserSessions(ctx, ada.ID, time.Now()); len(left) != 0 {
			t.Errorf("%d sessions left after disable", len(left))
		}
		if refreshTokenActive(t, store, "rt-app") {
			t.Error("a refresh token is active after disable")
		}
		r = f.do(t, http.MethodPost, "/admin/users/"+ada.ID+"/enable", nil)
		wantStatus(t, "enable", r, http.StatusOK)
		r.decode(t, &d)
		if d.User.Disabled {
			t.Error("enable left the user disabled")
		}

		// End all sessions.
		if _, err := store.CreateSession(ctx, storage.BrowserSession{
			TokenHash: []byte("session-new"), UserID: ada.ID, AuthTime: now, LastSeenAt: now,
			IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, "end sessions", f.do(t, http.MethodDelete, "/admin/users/"+ada.ID+"/sessions", nil), http.StatusNoContent)
		if left, _ := store.ListUserSessions(ctx, ada.ID, time.Now()); len(left) != 0 {
			t.Errorf("%d sessions left after ending all", len(left))
		}
	})
}

func TestKeys(t *testing.T) {
	eachDB(t, func(t *testing.T, store *storage.Store) {
		f := newFixture(t, store, tokenA)
		if err := keys.New(store, keys.Options{}).EnsureKeys(t.Context()); err != nil {
			t.Fatal(err)
		}
		var list struct{ Keys []keys.Info }
		f.do(t, http.MethodGet, "/admin/keys", nil).decode(t, &list)
		if len(list.Keys) != 2 {
			t.Fatalf("keys = %+v, want one per algorithm", list.Keys)
		}
		r := f.do(t, http.MethodPost, "/admin/keys/rotate", map[string]any{"alg": "es256"})
		wantStatus(t, "rotate ES256", r, http.StatusOK)
		var rotated struct{ Rotated []keys.Info }
		r.decode(t, &rotated)
		if len(rotated.Rotated) != 1 || rotated.Rotated[0].Alg != keys.ES256 || rotated.Rotated[0].State != storage.SigningKeyActive {
			t.Errorf("rotate = %+v", rotated.Rotated)
		}
		r = f.do(t, http.MethodPost, "/admin/keys/rotate", `{}`)
		wantStatus(t, "rotate all", r, http.StatusOK)
		r.decode(t, &rotated)
		if len(rotated.Rotated) != 2 {
			t.Errorf("rotate all = %+v", rotated.Rotated)
		}
		f.do(t, http.MethodGet, "/admin/keys", nil).decode(t, &list)
		if len(list.Keys) != 5 {
			t.Errorf("%d keys after three rotations, want 5", len(list.Keys))
		}
		r = f.do(t, http.MethodPost, "/admin/keys/rotate", map[string]any{"alg": "HS256"})
		wantStatus(t, "rotate HS256", r, http.StatusBadRequest)
		wantFields(t, r.problem(t), "alg")
		r = f.do(t, http.MethodPost, "/admin/keys/rotate", nil)
		wantStatus(t, "rotate without a JSON body", r, http.StatusUnsupportedMediaType)
	})
}

func TestProblemsForUnknownRoutes(t *testing.T) {
	f := newFixture(t, storagetest.OpenSQLite(t), tokenA)
	r := f.do(t, http.MethodGet, "/admin/nothing", nil)
	wantStatus(t, "unknown path", r, http.StatusNotFound)
	r.problem(t)
	r = f.do(t, http.MethodPatch, "/admin/clients", `{}`)
	wantStatus(t, "wrong method", r, http.StatusMethodNotAllowed)
	r.problem(t)
	big := `{"client_name":"` + strings.Repeat("x", 2<<20) + `"}`
	r = f.do(t, http.MethodPost, "/admin/clients", big)
	wantStatus(t, "huge body", r, http.StatusRequestEntityTooLarge)
	r.problem(t)
}

// wantFields checks that p names every field (and says something about each).
func wantFields(t *testing.T, p Problem, fields ...string) {
	t.Helper()
	for _, field := range fields {
		if !slices.ContainsFunc(p.Errors, func(e FieldError) bool { return e.Field == field && e.Message != "" }) {
			t.Errorf("problem %+v does not name field %q", p, field)
		}
	}
}

func mustClient(t *testing.T, store *storage.Store, id string) storage.Client {
	t.Helper()
	c, err := store.GetClientRecord(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// insertRefreshToken stores an active refresh token of subject for clientID, as
// the protocol layer would, so that a test can see it revoked.
func insertRefreshToken(t *testing.T, s *storage.Store, clientID, subject, signature string) {
	t.Helper()
	_, err := s.DB().ExecContext(t.Context(), placeholders(s, `INSERT INTO refresh_tokens
(signature, request_id, requested_at, client_id, subject, requested_scopes, granted_scopes, requested_audience, granted_audience, active, expires_at, form, session, access_token_signature)
VALUES (?, ?, ?, ?, ?, '', '', '', '', ?, ?, ?, ?, '')`),
		signature, "req-"+signature, time.Now().UTC(), clientID, subject, true, time.Now().UTC().Add(time.Hour), []byte{1}, []byte{1})
	if err != nil {
		t.Fatalf("insert refresh token: %v", err)
	}
}

func refreshTokenActive(t *testing.T, s *storage.Store, signature string) bool {
	t.Helper()
	var active bool
	if err := s.DB().QueryRowContext(t.Context(), placeholders(s, "SELECT active FROM refresh_tokens WHERE signature = ?"), signature).Scan(&active); err != nil {
		t.Fatalf("read refresh token: %v", err)
	}
	return active
}

// placeholders turns ? into $1, $2, … for PostgreSQL.
func placeholders(s *storage.Store, q string) string {
	if s.Dialect() != storage.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
