package federation_test

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/federation/federationtest"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func buttons(fed *federation.Service) []string {
	var out []string
	for _, b := range fed.Buttons() {
		out = append(out, b.ID+"="+b.Name)
	}
	return out
}

// TestStoredProviderSignIn: a provider added through the service is offered
// at once and signs people in; a change takes effect at once; once removed it
// is unknown (a flow begun before fails too) while its users' identities
// stay, and added again it signs them in as before.
func TestStoredProviderSignIn(t *testing.T) {
	eachDB(t, func(t *testing.T, open func(t *testing.T) *storage.Store) {
		store := open(t)
		up := federationtest.New(t)
		up.SetClaims(map[string]any{"sub": "st-1", "email": "stored@example.com", "email_verified": true})
		h := harnessOn(t, store, identity.Options{}, federation.Options{Providers: []federation.ProviderConfig{oidcProvider("corp", up)}, TTL: time.Hour})
		ctx := t.Context()
		spec := federation.ProviderSpec{ID: "acme", Name: "Acme", Issuer: up.Issuer(), ClientID: federationtest.ClientID, ClientSecret: "rp-secret"}
		v, err := h.fed.AddProvider(ctx, spec)
		if err != nil {
			t.Fatalf("AddProvider: %v", err)
		}
		if v.Source != federation.SourceAdmin || !v.ClientSecretSet || v.Kind != federation.KindOIDC {
			t.Errorf("AddProvider = %+v", v)
		}
		if got := buttons(h.fed); !slices.Equal(got, []string{"corp=Upstream", "acme=Acme"}) {
			t.Errorf("buttons = %v, want the configured one, then acme", got)
		}
		if !h.fed.Has("acme") || h.fed.Name("acme") != "Acme" {
			t.Errorf("Has/Name of acme = %v %q", h.fed.Has("acme"), h.fed.Name("acme"))
		}

		res, err, _ := h.signIn("acme", federation.Flow{Continue: "/account"}, "")
		if err != nil {
			t.Fatalf("sign-in through the stored provider: %v", err)
		}
		if !res.Created || res.Provider != "acme" || res.UserID == "" {
			t.Errorf("sign-in = %+v, want a new user through acme", res)
		}

		if _, err := h.fed.ChangeProvider(ctx, "acme", federation.ProviderSpec{Name: "Acme Login", Issuer: up.Issuer(), ClientID: federationtest.ClientID}); err != nil {
			t.Fatalf("ChangeProvider: %v", err)
		}
		if got := buttons(h.fed); !slices.Equal(got, []string{"corp=Upstream", "acme=Acme Login"}) {
			t.Errorf("buttons after the change = %v", got)
		}
		again, err, _ := h.signIn("acme", federation.Flow{}, "")
		if err != nil || again.UserID != res.UserID || again.Created {
			t.Errorf("sign-in after the change = %+v, %v, want the same user", again, err)
		}

		inFlight := h.begin("acme", federation.Flow{})
		if err := h.fed.RemoveProvider(ctx, "acme"); err != nil {
			t.Fatalf("RemoveProvider: %v", err)
		}
		if got := buttons(h.fed); !slices.Equal(got, []string{"corp=Upstream"}) {
			t.Errorf("buttons after removal = %v", got)
		}
		_, err, _ = h.finish("acme", inFlight, "")
		wantCode(t, err, federation.CodeUnknownProvider)
		_, err = h.fed.Begin(ctx, nil, "acme", federation.Flow{})
		wantCode(t, err, federation.CodeUnknownProvider)
		if e, err := store.GetExternalIdentity(ctx, "acme", "st-1"); err != nil || e.UserID != res.UserID {
			t.Errorf("identity after removal = %+v, %v, want it kept", e, err)
		}

		if _, err := h.fed.AddProvider(ctx, spec); err != nil {
			t.Fatalf("AddProvider again: %v", err)
		}
		back, err, _ := h.signIn("acme", federation.Flow{}, "")
		if err != nil || back.UserID != res.UserID || back.Created {
			t.Errorf("sign-in once added again = %+v, %v, want the same user", back, err)
		}
	})
}

// TestStoredProviderRefusals: an id of the configuration file, invalid fields
// (every one named) and a duplicate are refused and store nothing; a row
// stored under a configured id is not offered twice.
func TestStoredProviderRefusals(t *testing.T) {
	up := federationtest.New(t)
	h := harnessOn(t, storagetest.OpenSQLite(t), identity.Options{}, federation.Options{Providers: []federation.ProviderConfig{oidcProvider("corp", up)}})
	ctx := t.Context()
	_, err := h.fed.AddProvider(ctx, federation.ProviderSpec{ID: "corp", Issuer: up.Issuer(), ClientID: federationtest.ClientID, ClientSecret: "s"})
	if !errors.Is(err, federation.ErrConfigured) {
		t.Errorf("AddProvider(corp) = %v, want ErrConfigured", err)
	}
	if err := h.fed.RemoveProvider(ctx, "corp"); !errors.Is(err, federation.ErrConfigured) {
		t.Errorf("RemoveProvider(corp) = %v, want ErrConfigured", err)
	}
	if _, err := h.fed.ChangeProvider(ctx, "corp", federation.ProviderSpec{Issuer: up.Issuer(), ClientID: federationtest.ClientID}); !errors.Is(err, federation.ErrConfigured) {
		t.Errorf("ChangeProvider(corp) = %v, want ErrConfigured", err)
	}
	_, err = h.fed.AddProvider(ctx, federation.ProviderSpec{ID: "-x", Kind: "microsoft", Issuer: "ftp://x", Tenant: "a/b", Style: "neon"})
	var ve *federation.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("AddProvider with bad fields = %v, want a ValidationError", err)
	}
	var fields []string
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	slices.Sort(fields)
	if want := []string{"client_id", "client_secret", "id", "issuer", "style", "tenant"}; !slices.Equal(fields, want) {
		t.Errorf("fields = %v, want %v", fields, want)
	}
	ok := federation.ProviderSpec{ID: "acme", Issuer: up.Issuer(), ClientID: federationtest.ClientID, ClientSecret: "s"}
	if _, err := h.fed.AddProvider(ctx, ok); err != nil {
		t.Fatal(err)
	}
	if _, err := h.fed.AddProvider(ctx, ok); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("AddProvider twice = %v, want ErrConflict", err)
	}
	// A row under a configured id (the configuration file gained it later):
	// the configured provider is offered, once.
	if _, err := h.store.CreateUpstreamProvider(ctx, storage.UpstreamProvider{ID: "corp", Kind: "oidc", Name: "Shadow", Issuer: up.Issuer(), ClientID: "x", ClientSecret: "y"}); err != nil {
		t.Fatal(err)
	}
	// A row the service would not have accepted is not offered.
	if _, err := h.store.CreateUpstreamProvider(ctx, storage.UpstreamProvider{ID: "weird", Kind: "myspace", ClientID: "x", ClientSecret: "y"}); err != nil {
		t.Fatal(err)
	}
	if got := buttons(h.fed); !slices.Equal(got, []string{"corp=Upstream", "acme=acme"}) {
		t.Errorf("buttons = %v, want corp (configured) and acme", got)
	}
	list, err := h.fed.ListProviders(ctx)
	if err != nil || len(list) != 3 || list[2].ID != "weird" {
		t.Errorf("ListProviders = %+v, %v, want corp, acme and weird (listed, so that it can be fixed or removed)", list, err)
	}
}

// TestStoredProvidersReachOtherInstances: on PostgreSQL another instance
// offers a provider as soon as the change is announced (LISTEN/NOTIFY), and
// stops offering it once removed, with a cache TTL far too long to explain it.
func TestStoredProvidersReachOtherInstances(t *testing.T) {
	url := storagetest.NewPostgresDatabase(t)
	a := harnessOn(t, storagetest.OpenURL(t, url, storage.PoolerNone), identity.Options{}, federation.Options{TTL: time.Hour})
	storeB := storagetest.OpenURL(t, url, storage.PoolerNone)
	b := harnessOn(t, storeB, identity.Options{}, federation.Options{TTL: time.Hour})
	if b.fed.Has("acme") {
		t.Fatal("b offers acme before anyone added it")
	}
	waitFor(t, "b's listener", storeB.Listening)
	up := federationtest.New(t)
	if _, err := a.fed.AddProvider(t.Context(), federation.ProviderSpec{ID: "acme", Issuer: up.Issuer(), ClientID: federationtest.ClientID, ClientSecret: "s"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to offer acme", func() bool { return b.fed.Has("acme") })
	if err := a.fed.RemoveProvider(t.Context(), "acme"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to stop offering acme", func() bool { return !b.fed.Has("acme") })
}

// TestStoredProvidersTTL: where changes cannot be heard (another process on
// the same SQLite file), an instance sees a new provider once its cache TTL
// has passed.
func TestStoredProvidersTTL(t *testing.T) {
	file := "sqlite:" + filepath.Join(t.TempDir(), "shared.db")
	a := harnessOn(t, storagetest.OpenURL(t, file, storage.PoolerNone), identity.Options{}, federation.Options{})
	clk := &clock{at: time.Now()}
	b := harnessOn(t, storagetest.OpenURL(t, file, storage.PoolerNone), identity.Options{}, federation.Options{TTL: time.Minute, Now: clk.Now})
	if b.fed.Has("acme") {
		t.Fatal("b offers acme before anyone added it")
	}
	up := federationtest.New(t)
	if _, err := a.fed.AddProvider(t.Context(), federation.ProviderSpec{ID: "acme", Issuer: up.Issuer(), ClientID: federationtest.ClientID, ClientSecret: "s"}); err != nil {
		t.Fatal(err)
	}
	if !a.fed.Has("acme") {
		t.Error("a does not offer the provider it added")
	}
	if b.fed.Has("acme") {
		t.Error("b offers acme within its TTL, with no way to hear of the change: the cache was not used")
	}
	clk.advance(61 * time.Second)
	if !b.fed.Has("acme") {
		t.Error("b does not offer acme once its TTL passed")
	}
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
