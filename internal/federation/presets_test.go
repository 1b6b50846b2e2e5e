package federation_test

import (
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/federation/federationtest"
)

// authorizeScope begins a flow at provider id and returns the scope its
// authorization URL asks for.
func (h *harness) authorizeScope(id string) string {
	h.t.Helper()
	to, err := h.fed.Begin(h.t.Context(), httptest.NewRecorder(), id, federation.Flow{})
	if err != nil {
		h.t.Fatalf("Begin(%s): %v", id, err)
	}
	u, err := url.Parse(to)
	if err != nil {
		h.t.Fatal(err)
	}
	return u.Query().Get("scope")
}

// TestPresetIssuers: without an override the presets name their providers'
// issuers (the authorization endpoint is the issuer until discovery).
func TestPresetIssuers(t *testing.T) {
	h := newHarness(t,
		federation.ProviderConfig{ID: "google", Kind: federation.KindGoogle, ClientID: "a", ClientSecret: "b"},
		federation.ProviderConfig{ID: "ms", Kind: federation.KindMicrosoft, ClientID: "a", ClientSecret: "b"},
		federation.ProviderConfig{ID: "ms-tenant", Kind: federation.KindMicrosoft, Tenant: "contoso.onmicrosoft.com", ClientID: "a", ClientSecret: "b"},
		federation.ProviderConfig{ID: "gitlab", Kind: federation.KindGitLab, ClientID: "a", ClientSecret: "b"},
	)
	want := []string{"https://accounts.google.com", "https://login.microsoftonline.com/common/v2.0",
		"https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0", "https://gitlab.com"}
	if got := h.fed.AuthURLs(); !slices.Equal(got, want) {
		t.Errorf("AuthURLs = %v, want %v", got, want)
	}
	if got := buttons(h.fed); !slices.Equal(got, []string{"google=Google", "ms=Microsoft", "ms-tenant=Microsoft", "gitlab=GitLab"}) {
		t.Errorf("buttons = %v", got)
	}
}

// TestGooglePreset and TestGitLabPreset sign in through the presets, pointed
// at an OpenID Connect provider on loopback by the issuer override.
func TestGooglePreset(t *testing.T) {
	up := federationtest.New(t)
	up.SetClaims(map[string]any{"sub": "1098", "email": "g@example.com", "email_verified": true})
	h := newHarness(t, federation.ProviderConfig{ID: "google", Kind: federation.KindGoogle, Issuer: up.Issuer(), ClientID: federationtest.ClientID, ClientSecret: "s"})
	if got := h.authorizeScope("google"); got != "openid email profile" {
		t.Errorf("scope = %q, want the preset's openid email profile", got)
	}
	res, err, _ := h.signIn("google", federation.Flow{}, "")
	if err != nil || !res.Created {
		t.Fatalf("sign-in through the Google preset = %+v, %v", res, err)
	}
	if e, err := h.store.GetExternalIdentity(t.Context(), "google", "1098"); err != nil || e.UserID != res.UserID {
		t.Errorf("identity = %+v, %v", e, err)
	}
}

func TestGitLabPreset(t *testing.T) {
	up := federationtest.New(t)
	up.SetClaims(map[string]any{"sub": "77", "email": "gl@example.com", "email_verified": true, "name": "GL User"})
	h := newHarness(t, federation.ProviderConfig{ID: "gitlab", Kind: federation.KindGitLab, Issuer: up.Issuer() + "/", ClientID: federationtest.ClientID, ClientSecret: "s",
		Scopes: []string{"read_user"}})
	// Scopes replace the preset's; openid is always asked for.
	if got := h.authorizeScope("gitlab"); got != "openid read_user" {
		t.Errorf("scope = %q, want openid read_user", got)
	}
	res, err, _ := h.signIn("gitlab", federation.Flow{}, "")
	if err != nil || !res.Created {
		t.Fatalf("sign-in through the GitLab preset = %+v, %v", res, err)
	}
	if u, err := h.store.GetUser(t.Context(), res.UserID); err != nil || u.Email != "gl@example.com" {
		t.Errorf("user = %+v, %v", u, err)
	}
}

const (
	tenantA = "11111111-1111-4111-8111-111111111111"
	tenantB = "22222222-2222-4222-8222-222222222222"
)

// TestMicrosoftPreset, against the provider's Microsoft shape: with common, an ID token is accepted when its issuer
// is its own tenant's (tid) and refused when it names another tenant's issuer
// or no tenant; with a fixed tenant the issuer must be that tenant's.
func TestMicrosoftPreset(t *testing.T) {
	ms := federationtest.New(t)
	h := newHarness(t,
		federation.ProviderConfig{ID: "ms", Kind: federation.KindMicrosoft, Issuer: ms.Issuer(), ClientID: federationtest.ClientID, ClientSecret: "s"},
		federation.ProviderConfig{ID: "ms-a", Kind: federation.KindMicrosoft, Tenant: tenantA, Issuer: ms.Issuer(), ClientID: federationtest.ClientID, ClientSecret: "s"},
	)
	// next makes the next sign-in's claims, and its ID token's issuer ("" for
	// the issuer of the claims' tid).
	next := func(claims map[string]any, iss string) {
		ms.SetClaims(claims)
		ms.SetIDTokenIssuer(iss)
	}

	t.Run("common, the token's own tenant", func(t *testing.T) {
		next(map[string]any{"sub": "ms-1", "tid": tenantA, "email": "a@contoso.example", "email_verified": true}, "")
		res, err, _ := h.signIn("ms", federation.Flow{}, "")
		if err != nil || !res.Created {
			t.Fatalf("sign-in = %+v, %v", res, err)
		}
		if got := ms.LastAuthorizePath(); got != "/common/oauth2/v2.0/authorize" {
			t.Errorf("authorized at %q, want the common endpoint", got)
		}
	})
	t.Run("common, another tenant's issuer", func(t *testing.T) {
		next(map[string]any{"sub": "ms-2", "tid": tenantA, "email": "b@contoso.example", "email_verified": true}, ms.TenantIssuer(tenantB))
		_, err, _ := h.signIn("ms", federation.Flow{}, "")
		wantCode(t, err, federation.CodeUpstreamError)
		if !strings.Contains(err.Error(), "does not match its tenant") {
			t.Errorf("refused for %v, want the tenant rule", err)
		}
	})
	t.Run("common, no tenant", func(t *testing.T) {
		next(map[string]any{"sub": "ms-3", "email": "c@contoso.example", "email_verified": true}, ms.TenantIssuer(tenantA))
		_, err, _ := h.signIn("ms", federation.Flow{}, "")
		wantCode(t, err, federation.CodeUpstreamError)
		if !strings.Contains(err.Error(), "does not match its tenant") {
			t.Errorf("refused for %v, want the tenant rule", err)
		}
	})
	t.Run("fixed tenant", func(t *testing.T) {
		next(map[string]any{"sub": "ms-4", "tid": tenantA, "email": "d@contoso.example", "email_verified": true}, "")
		res, err, _ := h.signIn("ms-a", federation.Flow{}, "")
		if err != nil || !res.Created {
			t.Fatalf("sign-in = %+v, %v", res, err)
		}
		if got := ms.LastAuthorizePath(); got != "/"+tenantA+"/oauth2/v2.0/authorize" {
			t.Errorf("authorized at %q, want the tenant's endpoint", got)
		}
	})
	t.Run("fixed tenant, another tenant's token", func(t *testing.T) {
		next(map[string]any{"sub": "ms-5", "tid": tenantB, "email": "e@contoso.example", "email_verified": true}, ms.TenantIssuer(tenantB))
		_, err, _ := h.signIn("ms-a", federation.Flow{}, "")
		wantCode(t, err, federation.CodeUpstreamError)
		if !strings.Contains(err.Error(), "issued by a different provider") {
			t.Errorf("refused for %v, want the issuer check", err)
		}
	})
	for _, sub := range []string{"ms-2", "ms-3", "ms-5"} {
		if _, err := h.store.GetExternalIdentity(t.Context(), "ms", sub); err == nil {
			t.Errorf("a refused token linked %s", sub)
		}
	}
}
