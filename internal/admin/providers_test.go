package admin

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/clients"
	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/outbound"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

const (
	configSecret = "config-secret-never-shown"
	adminSecret  = "admin-secret-never-shown"
)

// newProvidersFixture serves the admin API with a federation service that
// has one provider in its configuration ("corp").
func newProvidersFixture(t *testing.T, store *storage.Store) (*fixture, *federation.Service) {
	t.Helper()
	users := identity.New(store, identity.Options{Params: fastParams})
	fed, err := federation.New(federation.Options{
		Providers: []federation.ProviderConfig{{ID: "corp", Issuer: "https://sso.corp.example", ClientID: "gatehouse", ClientSecret: configSecret}},
		Issuer:    "https://id.example.com", Store: store, Users: users,
		Outbound: outbound.New(outbound.Options{}), Sealer: store.Sealer(), TTL: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fed.Close)
	api := New(Deps{
		Clients:    clients.New(store, store.Sealer(), time.Now, clients.Rules{}),
		Users:      users,
		Keys:       keys.New(store, keys.Options{}),
		Federation: fed,
		Tokens:     []string{tokenA},
	})
	f := newFixtureFor(t, store, api)
	f.token = tokenA
	return f, fed
}

func buttonIDs(fed *federation.Service) []string {
	var out []string
	for _, b := range fed.Buttons() {
		out = append(out, b.ID+"="+b.Name)
	}
	return out
}

func problemFields(t *testing.T, r response) []string {
	t.Helper()
	var out []string
	for _, e := range r.problem(t).Errors {
		out = append(out, e.Field)
	}
	slices.Sort(out)
	return out
}

// TestProvidersAPI: a provider added through the admin API is offered at
// once, its secret stored sealed and never shown; a change without a secret
// keeps it; a duplicate id, an id of the configuration file and bad input
// are refused and change nothing; removal takes the button away and leaves
// the users' identities.
func TestProvidersAPI(t *testing.T) {
	eachDB(t, func(t *testing.T, store *storage.Store) {
		f, fed := newProvidersFixture(t, store)
		ctx := t.Context()
		var seen [][]byte // every body answered, to look for the secrets
		do := func(method, path string, body any) response {
			t.Helper()
			r := f.do(t, method, path, body)
			seen = append(seen, r.body)
			return r
		}

		var list struct{ Providers []federation.ProviderView }
		r := do(http.MethodGet, "/admin/providers", nil)
		wantStatus(t, "list", r, http.StatusOK)
		r.decode(t, &list)
		if len(list.Providers) != 1 || list.Providers[0].ID != "corp" || list.Providers[0].Source != federation.SourceConfig || !list.Providers[0].ClientSecretSet {
			t.Fatalf("list before any change = %+v, want the configured corp", list.Providers)
		}

		spec := map[string]any{
			"id": "acme", "kind": "oidc", "name": "Acme SSO", "issuer": "https://login.acme.example", "client_id": "gh-client",
			"client_secret": adminSecret, "scopes": []string{"openid", "email"}, "claims": map[string]any{"email": "mail"},
			"allowed_domains": []string{"acme.example"}, "style": "dark", "logo_url": "/static/acme.svg", "trust_mfa": true,
		}
		r = do(http.MethodPost, "/admin/providers", spec)
		wantStatus(t, "create", r, http.StatusCreated)
		var v federation.ProviderView
		r.decode(t, &v)
		if v.ID != "acme" || v.Source != federation.SourceAdmin || !v.ClientSecretSet || v.Name != "Acme SSO" || v.Claims.Email != "mail" ||
			!v.TrustMFA || v.CallbackURL != "https://id.example.com/signin/callback/acme" || v.CreatedAt == nil || !slices.Equal(v.Scopes, []string{"openid", "email"}) {
			t.Errorf("create answered %+v", v)
		}
		if loc := r.header.Get("Location"); loc != "/admin/providers/acme" {
			t.Errorf("Location = %q", loc)
		}
		// Sealed at rest: the column is not the secret, and does not hold it.
		var raw []byte
		if err := store.DB().QueryRowContext(ctx, "SELECT client_secret_sealed FROM upstream_providers WHERE id = $1", "acme").Scan(&raw); err != nil {
			t.Fatal(err)
		}
		if len(raw) == 0 || bytes.Contains(raw, []byte(adminSecret)) {
			t.Errorf("client_secret_sealed = %q, want the secret sealed", raw)
		}
		if got := buttonIDs(fed); !slices.Equal(got, []string{"corp=corp", "acme=Acme SSO"}) {
			t.Errorf("buttons after create = %v, want corp then acme at once", got)
		}

		// Refused, and nothing changes: a duplicate, an id of the
		// configuration, bad members (each named), unknown members, not JSON.
		r = do(http.MethodPost, "/admin/providers", spec)
		wantStatus(t, "create a duplicate", r, http.StatusConflict)
		r.problem(t)
		clash := maps.Clone(spec)
		clash["id"] = "corp"
		r = do(http.MethodPost, "/admin/providers", clash)
		wantStatus(t, "create with a configured id", r, http.StatusConflict)
		if p := r.problem(t); !strings.Contains(p.Detail, "configuration file") {
			t.Errorf("clash problem = %+v, want it to name the configuration file", p)
		}
		r = do(http.MethodPost, "/admin/providers", map[string]any{
			"id": "Bad Id", "kind": "myspace", "style": "neon", "logo_url": "javascript:alert(1)", "allowed_domains": []string{"a@b"},
			"scopes": []string{"two words"}, "api_url": "ftp://x",
		})
		wantStatus(t, "create with bad members", r, http.StatusBadRequest)
		want := []string{"allowed_domains[0]", "api_url", "client_id", "client_secret", "id", "kind", "logo_url", "scopes[0]", "style"}
		if got := problemFields(t, r); !slices.Equal(got, want) {
			t.Errorf("fields named = %v, want %v", got, want)
		}
		r = do(http.MethodPost, "/admin/providers", map[string]any{"id": "oidc-no-issuer", "client_id": "x", "client_secret": "y"})
		wantStatus(t, "oidc without an issuer", r, http.StatusBadRequest)
		if got := problemFields(t, r); !slices.Equal(got, []string{"issuer"}) {
			t.Errorf("fields named = %v, want issuer", got)
		}
		r = do(http.MethodPost, "/admin/providers", map[string]any{"id": "ms", "kind": "microsoft", "tenant": "../evil", "client_id": "x", "client_secret": "y"})
		wantStatus(t, "a bad tenant", r, http.StatusBadRequest)
		if got := problemFields(t, r); !slices.Equal(got, []string{"tenant"}) {
			t.Errorf("fields named = %v, want tenant", got)
		}
		for _, body := range []string{`{"id":"x","colour":"red"}`, `{"id":7}`, `{"id":"x","claims":{"mail":"e"}}`, `[]`} {
			wantStatus(t, "create "+body, do(http.MethodPost, "/admin/providers", body), http.StatusBadRequest)
		}
		rows, err := store.ListUpstreamProviders(ctx)
		if err != nil || len(rows) != 1 {
			t.Fatalf("stored after refused creates = %d, %v; want acme only", len(rows), err)
		}

		// A change without a secret keeps it; every other member is replaced.
		r = do(http.MethodPut, "/admin/providers/acme", map[string]any{"kind": "gitlab", "name": "Acme GitLab", "issuer": "https://gitlab.acme.example", "client_id": "gl-client"})
		wantStatus(t, "update without a secret", r, http.StatusOK)
		v = federation.ProviderView{}
		r.decode(t, &v)
		if v.Kind != "gitlab" || v.Name != "Acme GitLab" || v.ClientID != "gl-client" || !v.ClientSecretSet || v.TrustMFA || len(v.Scopes) != 0 || v.Claims.Email != "" {
			t.Errorf("update answered %+v", v)
		}
		if row, err := store.GetUpstreamProvider(ctx, "acme"); err != nil || row.ClientSecret != adminSecret {
			t.Errorf("secret after an update without one = %q, %v; want it kept", row.ClientSecret, err)
		}
		if got := buttonIDs(fed); !slices.Equal(got, []string{"corp=corp", "acme=Acme GitLab"}) {
			t.Errorf("buttons after update = %v", got)
		}
		r = do(http.MethodPut, "/admin/providers/acme", map[string]any{"kind": "gitlab", "client_id": "gl-client", "client_secret": "rotated-" + adminSecret})
		wantStatus(t, "update with a secret", r, http.StatusOK)
		if row, _ := store.GetUpstreamProvider(ctx, "acme"); row.ClientSecret != "rotated-"+adminSecret {
			t.Errorf("secret after rotation = %q", row.ClientSecret)
		}
		wantStatus(t, "update another id in the body", do(http.MethodPut, "/admin/providers/acme", map[string]any{"id": "other", "kind": "gitlab", "client_id": "x"}), http.StatusBadRequest)
		wantStatus(t, "update with a bad member", do(http.MethodPut, "/admin/providers/acme", map[string]any{"kind": "gitlab", "client_id": "x", "style": "neon"}), http.StatusBadRequest)
		wantStatus(t, "update a configured provider", do(http.MethodPut, "/admin/providers/corp", map[string]any{"issuer": "https://x.example", "client_id": "x"}), http.StatusConflict)
		wantStatus(t, "update a missing provider", do(http.MethodPut, "/admin/providers/nope", map[string]any{"issuer": "https://x.example", "client_id": "x"}), http.StatusNotFound)
		if row, _ := store.GetUpstreamProvider(ctx, "acme"); row.ClientID != "gl-client" || row.Style != "" {
			t.Errorf("refused updates changed the provider: %+v", row)
		}

		r = do(http.MethodGet, "/admin/providers/acme", nil)
		wantStatus(t, "get", r, http.StatusOK)
		r = do(http.MethodGet, "/admin/providers/corp", nil)
		wantStatus(t, "get a configured provider", r, http.StatusOK)
		v = federation.ProviderView{}
		r.decode(t, &v)
		if v.Source != federation.SourceConfig || !v.ClientSecretSet || v.CreatedAt != nil {
			t.Errorf("configured provider = %+v", v)
		}
		list.Providers = nil
		do(http.MethodGet, "/admin/providers", nil).decode(t, &list)
		if len(list.Providers) != 2 || list.Providers[1].ID != "acme" {
			t.Errorf("list = %+v, want corp and acme", list.Providers)
		}

		// Removal: the button goes, the users' identities stay.
		u, _, err := store.CreateUserWithExternalIdentity(ctx, storage.User{Email: "fed@acme.example", EmailVerified: true}, storage.ExternalIdentity{Provider: "acme", AccountID: "s-1"})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, "delete a configured provider", do(http.MethodDelete, "/admin/providers/corp", nil), http.StatusConflict)
		wantStatus(t, "delete", do(http.MethodDelete, "/admin/providers/acme", nil), http.StatusNoContent)
		wantStatus(t, "delete again", do(http.MethodDelete, "/admin/providers/acme", nil), http.StatusNotFound)
		wantStatus(t, "get after delete", do(http.MethodGet, "/admin/providers/acme", nil), http.StatusNotFound)
		if got := buttonIDs(fed); !slices.Equal(got, []string{"corp=corp"}) {
			t.Errorf("buttons after delete = %v", got)
		}
		if e, err := store.GetExternalIdentity(ctx, "acme", "s-1"); err != nil || e.UserID != u.ID {
			t.Errorf("the identity after its provider went = %+v, %v; want it kept", e, err)
		}

		for _, b := range seen {
			for _, secret := range []string{configSecret, adminSecret} {
				if bytes.Contains(b, []byte(secret)) {
					t.Errorf("an answer shows a client secret: %s", b)
				}
			}
			if bytes.Contains(b, []byte(`"client_secret":`)) {
				t.Errorf("an answer has a client_secret member: %s", b)
			}
		}
		if res := f.doAs(t, "", http.MethodGet, "/admin/providers", nil); res.status != http.StatusUnauthorized {
			t.Errorf("list without a token = %d, want 401", res.status)
		}
	})
}

// TestProvidersAPIOff: without the federation service the routes say so.
func TestProvidersAPIOff(t *testing.T) {
	f := newFixture(t, storagetest.OpenSQLite(t), tokenA)
	r := f.do(t, http.MethodGet, "/admin/providers", nil)
	wantStatus(t, "list without federation", r, http.StatusServiceUnavailable)
	r.problem(t)
}

// TestOpenAPIProviderSchemasMatchTypes: the ProviderSpec, Provider and
// ProviderClaims schemas list exactly the JSON members of the types.
func TestOpenAPIProviderSchemasMatchTypes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for schema, typ := range map[string]reflect.Type{
		"ProviderSpec": reflect.TypeFor[federation.ProviderSpec](), "Provider": reflect.TypeFor[federation.ProviderView](),
		"ProviderClaims": reflect.TypeFor[federation.Claims](),
	} {
		var fields []string
		for f := range typ.Fields() {
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
				fields = append(fields, name)
			}
		}
		slices.Sort(fields)
		if got := slices.Sorted(maps.Keys(doc.Components.Schemas[schema].Properties)); !slices.Equal(fields, got) {
			t.Errorf("schema %s documents %v; %s has %v", schema, got, typ, fields)
		}
	}
}
