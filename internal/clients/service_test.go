package clients_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/clients"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// newService returns a service over a new SQLite store. The store stamps record
// times itself, so the clock only needs to be fixed.
func newService(t *testing.T) (*clients.Service, *storage.Store) {
	t.Helper()
	store := storagetest.OpenSQLite(t)
	now := func() time.Time { return time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) }
	return clients.New(store, store.Sealer(), now, clients.Rules{}), store
}

func TestCreateConfidential(t *testing.T) {
	svc, store := newService(t)
	v, secret, err := svc.Create(t.Context(), web())
	if err != nil {
		t.Fatalf("Create = %v", err)
	}
	if v.ClientID == "" {
		t.Fatal("Create returned no client_id")
	}
	raw, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil || len(raw) != 32 {
		t.Errorf("secret %q: want 32 random bytes in base64url, got %d bytes (%v)", secret, len(raw), err)
	}
	if v.CreatedAt.IsZero() || v.UpdatedAt.Before(v.CreatedAt) || v.CreatedAt.Location() != time.UTC {
		t.Errorf("times = %v, %v, want set, in UTC, updated not before created", v.CreatedAt, v.UpdatedAt)
	}
	rec, err := store.GetClientRecord(t.Context(), v.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.SecretHash == "" || rec.SecretHash == secret {
		t.Errorf("stored secret hash = %q, want a hash that is not the secret", rec.SecretHash)
	}
	if !store.Sealer().CompareClientSecret(rec.SecretHash, []byte(secret)) {
		t.Error("the returned secret does not match the stored hash")
	}
	got, err := svc.Get(t.Context(), v.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ClientName != "App" || got.TokenEndpointAuthMethod != "client_secret_basic" {
		t.Errorf("Get = %+v", got)
	}
}

func TestCreatePublicHasNoSecret(t *testing.T) {
	svc, store := newService(t)
	s := web()
	s.Public = true
	v, secret, err := svc.Create(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if secret != "" {
		t.Errorf("secret = %q, want none for a public client", secret)
	}
	rec, err := store.GetClientRecord(t.Context(), v.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Public || rec.SecretHash != "" {
		t.Errorf("stored Public = %v, SecretHash = %q; want public without a hash", rec.Public, rec.SecretHash)
	}
	if _, _, err := svc.RotateSecret(t.Context(), v.ClientID); !errors.Is(err, clients.ErrPublicClient) {
		t.Errorf("RotateSecret(public) = %v, want ErrPublicClient", err)
	}
}

func TestCreateGivenIDAndConflict(t *testing.T) {
	svc, _ := newService(t)
	s := web()
	s.ClientID = "my-app"
	v, _, err := svc.Create(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	if v.ClientID != "my-app" {
		t.Errorf("client_id = %q, want my-app", v.ClientID)
	}
	if _, _, err := svc.Create(t.Context(), s); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("second Create(my-app) = %v, want ErrConflict", err)
	}
}

func TestCreateInvalidStoresNothing(t *testing.T) {
	svc, _ := newService(t)
	s := web()
	s.RedirectURIs = []string{"http://app.example.com/cb"}
	_, secret, err := svc.Create(t.Context(), s)
	var ve *clients.ValidationError
	if !errors.As(err, &ve) || secret != "" {
		t.Fatalf("Create = %q, %v; want a *ValidationError and no secret", secret, err)
	}
	p, err := svc.List(t.Context(), clients.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Clients) != 0 {
		t.Errorf("List = %d clients, want none", len(p.Clients))
	}
}

func TestList(t *testing.T) {
	svc, _ := newService(t)
	for i := range 5 {
		s := web()
		s.ClientID = fmt.Sprintf("client-%d", i)
		if _, _, err := svc.Create(t.Context(), s); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		p, err := svc.List(t.Context(), clients.ListOptions{After: after, Limit: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Clients) > 2 {
			t.Fatalf("page of %d, want at most 2", len(p.Clients))
		}
		for _, c := range p.Clients {
			ids = append(ids, c.ClientID)
		}
		if p.Next == "" {
			break
		}
		after = p.Next
	}
	wantList(t, "listed ids", ids, "client-0", "client-1", "client-2", "client-3", "client-4")
}

func TestUpdate(t *testing.T) {
	svc, store := newService(t)
	v, secret, err := svc.Create(t.Context(), web())
	if err != nil {
		t.Fatal(err)
	}
	before, _ := store.GetClientRecord(t.Context(), v.ClientID)

	s := v.Spec()
	s.ClientName = "Renamed"
	s.RedirectURIs = []string{"https://other.example.com/cb"}
	u, newSecret, err := svc.Update(t.Context(), v.ClientID, s)
	if err != nil {
		t.Fatalf("Update = %v", err)
	}
	if newSecret != "" {
		t.Errorf("Update made a secret %q, want the old one kept", newSecret)
	}
	if u.ClientName != "Renamed" || u.RedirectURIs[0] != "https://other.example.com/cb" {
		t.Errorf("Update = %+v", u)
	}
	if !u.CreatedAt.Equal(v.CreatedAt) || u.UpdatedAt.Before(v.UpdatedAt) {
		t.Errorf("times = %v, %v; want created %v kept and updated not before %v", u.CreatedAt, u.UpdatedAt, v.CreatedAt, v.UpdatedAt)
	}
	after, _ := store.GetClientRecord(t.Context(), v.ClientID)
	if after.SecretHash != before.SecretHash || !store.Sealer().CompareClientSecret(after.SecretHash, []byte(secret)) {
		t.Error("Update changed the secret")
	}

	// Full replace: the same rules as Create, every problem named.
	bad := s
	bad.ClientID = "other"
	bad.GrantTypes = []string{"magic"}
	_, _, err = svc.Update(t.Context(), v.ClientID, bad)
	var ve *clients.ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) < 2 || ve.Problems[0].Field != "client_id" {
		t.Errorf("Update(bad) = %v, want problems on client_id and grant_types", err)
	}
	missing := s
	missing.ClientID = ""
	if _, _, err := svc.Update(t.Context(), "missing", missing); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Update(missing) = %v, want ErrNotFound", err)
	}

	// Public drops the secret; confidential again gets a new one, shown once.
	pub := s
	pub.Public, pub.TokenEndpointAuthMethod = true, ""
	if _, sec, err := svc.Update(t.Context(), v.ClientID, pub); err != nil || sec != "" {
		t.Fatalf("Update(public) = %q, %v", sec, err)
	}
	if rec, _ := store.GetClientRecord(t.Context(), v.ClientID); rec.SecretHash != "" || !rec.Public {
		t.Errorf("public client kept hash %q (public %v)", rec.SecretHash, rec.Public)
	}
	conf := s
	conf.Public, conf.TokenEndpointAuthMethod = false, ""
	_, sec, err := svc.Update(t.Context(), v.ClientID, conf)
	if err != nil || sec == "" {
		t.Fatalf("Update(confidential) = %q, %v; want a new secret", sec, err)
	}
	if rec, _ := store.GetClientRecord(t.Context(), v.ClientID); !store.Sealer().CompareClientSecret(rec.SecretHash, []byte(sec)) {
		t.Error("new secret does not match the stored hash")
	}
}

func TestRotateSecret(t *testing.T) {
	svc, store := newService(t)
	v, old, err := svc.Create(t.Context(), web())
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := svc.RotateSecret(t.Context(), v.ClientID)
	if err != nil {
		t.Fatal(err)
	}
	if secret == "" || secret == old {
		t.Fatalf("RotateSecret = %q, want a new secret", secret)
	}
	rec, _ := store.GetClientRecord(t.Context(), v.ClientID)
	if !store.Sealer().CompareClientSecret(rec.SecretHash, []byte(secret)) {
		t.Error("the new secret does not match")
	}
	if store.Sealer().CompareClientSecret(rec.SecretHash, []byte(old)) {
		t.Error("the old secret still matches")
	}
	if _, _, err := svc.RotateSecret(t.Context(), "missing"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("RotateSecret(missing) = %v, want ErrNotFound", err)
	}
}

func TestDelete(t *testing.T) {
	svc, _ := newService(t)
	v, _, err := svc.Create(t.Context(), web())
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(t.Context(), v.ClientID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(t.Context(), v.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get after Delete = %v, want ErrNotFound", err)
	}
	if err := svc.Delete(t.Context(), v.ClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("second Delete = %v, want ErrNotFound", err)
	}
}

func TestNoSealerRefusesConfidential(t *testing.T) {
	store := storagetest.OpenSQLite(t)
	svc := clients.New(store, nil, time.Now, clients.Rules{})
	if _, _, err := svc.Create(t.Context(), web()); err == nil {
		t.Error("Create without a sealer succeeded, want an error")
	}
}

// TestOnlySecretMethodsGetASecret: private_key_jwt and none clients never get,
// keep or rotate a secret; client_secret_basic and client_secret_post do.
func TestOnlySecretMethodsGetASecret(t *testing.T) {
	svc, store := newService(t)
	keys := newTestKeys(t)
	pkjwt := func() clients.Spec {
		s := web()
		s.TokenEndpointAuthMethod, s.JWKS = "private_key_jwt", json.RawMessage(keys.rsaPublic)
		return s
	}
	public := func() clients.Spec {
		s := web()
		s.TokenEndpointAuthMethod = "none"
		return s
	}
	post := func() clients.Spec {
		s := web()
		s.TokenEndpointAuthMethod = "client_secret_post"
		return s
	}
	stored := func(id string) string {
		t.Helper()
		rec, err := store.GetClientRecord(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return rec.SecretHash
	}
	for _, tc := range []struct {
		name       string
		spec       clients.Spec
		wantSecret bool
	}{
		{"client_secret_basic", web(), true},
		{"client_secret_post", post(), true},
		{"private_key_jwt", pkjwt(), false},
		{"none", public(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, secret, err := svc.Create(t.Context(), tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if (secret != "") != tc.wantSecret || (stored(v.ClientID) != "") != tc.wantSecret {
				t.Fatalf("Create: secret %v, stored hash %v; want both %v", secret != "", stored(v.ClientID) != "", tc.wantSecret)
			}
			_, rotated, err := svc.RotateSecret(t.Context(), v.ClientID)
			if tc.wantSecret && (err != nil || rotated == "") {
				t.Fatalf("RotateSecret = %q, %v; want a new secret", rotated, err)
			}
			if !tc.wantSecret && (!errors.Is(err, clients.ErrNoSecret) || rotated != "" || stored(v.ClientID) != "") {
				t.Fatalf("RotateSecret = %q, %v (stored hash %q); want ErrNoSecret and no hash", rotated, err, stored(v.ClientID))
			}
		})
	}

	t.Run("switching methods on update", func(t *testing.T) {
		v, _, err := svc.Create(t.Context(), web())
		if err != nil {
			t.Fatal(err)
		}
		s := pkjwt()
		if _, sec, err := svc.Update(t.Context(), v.ClientID, s); err != nil || sec != "" || stored(v.ClientID) != "" {
			t.Fatalf("Update to private_key_jwt = %q, %v, stored hash %q; want no secret kept", sec, err, stored(v.ClientID))
		}
		s = post()
		_, sec, err := svc.Update(t.Context(), v.ClientID, s)
		if err != nil || sec == "" || !store.Sealer().CompareClientSecret(stored(v.ClientID), []byte(sec)) {
			t.Fatalf("Update back to client_secret_post = %q, %v; want a new secret, stored", sec, err)
		}
	})
}

// TestRegistrationRules: a registered client may have only the registrable
// scopes; the defaults are cut down to them; operator-made clients are not
// limited; the rules hold on update too.
func TestRegistrationRules(t *testing.T) {
	svc, _ := newService(t)
	rules := clients.RegistrationRules{Scopes: []string{"openid", "email", "offline_access"}}
	ask := func(scopes ...string) clients.Spec {
		s := web()
		s.Scope = scopes
		return s
	}
	for _, tc := range []struct {
		name      string
		spec      clients.Spec
		wantScope []string
		refused   []string // fields refused
	}{
		{"registrable scopes", ask("openid", "email"), []string{"openid", "email"}, nil},
		{"defaults cut down", web(), []string{"openid", "email", "offline_access"}, nil},
		{"one scope too many", ask("openid", "admin"), nil, []string{"scope[1]"}},
		{"two scopes too many", ask("payments", "openid", "admin"), nil, []string{"scope[0]", "scope[2]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, _, _, err := svc.Register(t.Context(), tc.spec, rules)
			if tc.refused == nil {
				if err != nil {
					t.Fatalf("Register = %v", err)
				}
				wantList(t, "scope", v.Scope, tc.wantScope...)
				return
			}
			var ve *clients.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Register = %v, want a *ValidationError", err)
			}
			var fields []string
			for _, p := range ve.Problems {
				fields = append(fields, p.Field)
				if !strings.Contains(p.Message, "openid email offline_access") {
					t.Errorf("problem %q does not name the registrable scopes", p.Message)
				}
			}
			wantList(t, "refused fields", fields, tc.refused...)
		})
	}
	v, _, _, err := svc.Register(t.Context(), ask("openid"), rules)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.UpdateRegistered(t.Context(), v.ClientID, ask("openid", "admin"), rules); err == nil {
		t.Error("UpdateRegistered with a scope outside the rules succeeded")
	}
	if _, _, err := svc.Update(t.Context(), v.ClientID, ask("openid", "admin")); err != nil {
		t.Errorf("an operator's Update with any scope = %v, want success", err)
	}
	if _, _, err := svc.Create(t.Context(), ask("admin")); err != nil {
		t.Errorf("an operator's Create with any scope = %v, want success", err)
	}
}

// TestServiceRulesJWKSURI: Create and Update validate under the Service's rules:
// a loopback jwks_uri only where the server may fetch it.
func TestServiceRulesJWKSURI(t *testing.T) {
	store := storagetest.OpenSQLite(t)
	signed := web()
	signed.RedirectURIs, signed.GrantTypes = nil, []string{"client_credentials"}
	signed.TokenEndpointAuthMethod, signed.JWKSURI = "private_key_jwt", "https://app.example.com/jwks"
	loopback := signed
	loopback.JWKSURI = "http://127.0.0.1:9000/jwks"

	strict := clients.New(store, store.Sealer(), time.Now, clients.Rules{})
	dev := clients.New(store, store.Sealer(), time.Now, clients.Rules{AllowLoopbackFetch: true})
	var ve *clients.ValidationError
	if _, _, err := strict.Create(t.Context(), loopback); !errors.As(err, &ve) || ve.Problems[0].Field != "jwks_uri" {
		t.Fatalf("strict Create with a loopback jwks_uri = %v, want a problem on jwks_uri", err)
	}
	v, _, err := strict.Create(t.Context(), signed)
	if err != nil {
		t.Fatalf("strict Create with an https jwks_uri = %v", err)
	}
	if _, _, err := strict.Update(t.Context(), v.ClientID, loopback); !errors.As(err, &ve) || ve.Problems[0].Field != "jwks_uri" {
		t.Fatalf("strict Update to a loopback jwks_uri = %v, want a problem on jwks_uri", err)
	}
	if _, _, err := dev.Update(t.Context(), v.ClientID, loopback); err != nil {
		t.Fatalf("Update to a loopback jwks_uri with AllowLoopbackFetch = %v", err)
	}
	if _, _, err := dev.Create(t.Context(), loopback); err != nil {
		t.Fatalf("Create with a loopback jwks_uri with AllowLoopbackFetch = %v", err)
	}
}
