package federation_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-id/gatehouse/internal/federation"
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
	up := newFakeOIDC(t)
	up.set(func(f *fakeOIDC) {
		f.claims = map[string]any{"sub": "1098", "email": "g@example.com", "email_verified": true}
	})
	h := newHarness(t, federation.ProviderConfig{ID: "google", Kind: federation.KindGoogle, Issuer: up.issuer(), ClientID: "rp", ClientSecret: "s"})
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
	up := newFakeOIDC(t)
	up.set(func(f *fakeOIDC) {
		f.claims = map[string]any{"sub": "77", "email": "gl@example.com", "email_verified": true, "name": "GL User"}
	})
	h := newHarness(t, federation.ProviderConfig{ID: "gitlab", Kind: federation.KindGitLab, Issuer: up.issuer() + "/", ClientID: "rp", ClientSecret: "s",
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

// TestMicrosoftPreset: with common, an ID token is accepted when its issuer
// is its own tenant's (tid) and refused when it names another tenant's issuer
// or no tenant; with a fixed tenant the issuer must be that tenant's.
func TestMicrosoftPreset(t *testing.T) {
	ms := newFakeMicrosoft(t)
	h := newHarness(t,
		federation.ProviderConfig{ID: "ms", Kind: federation.KindMicrosoft, Issuer: ms.authority(), ClientID: "rp", ClientSecret: "s"},
		federation.ProviderConfig{ID: "ms-a", Kind: federation.KindMicrosoft, Tenant: tenantA, Issuer: ms.authority(), ClientID: "rp", ClientSecret: "s"},
	)

	t.Run("common, the token's own tenant", func(t *testing.T) {
		ms.set(map[string]any{"sub": "ms-1", "tid": tenantA, "email": "a@contoso.example", "email_verified": true}, "")
		res, err, _ := h.signIn("ms", federation.Flow{}, "")
		if err != nil || !res.Created {
			t.Fatalf("sign-in = %+v, %v", res, err)
		}
		if got := ms.lastAuthorizePath(); got != "/common/oauth2/v2.0/authorize" {
			t.Errorf("authorized at %q, want the common endpoint", got)
		}
	})
	t.Run("common, another tenant's issuer", func(t *testing.T) {
		ms.set(map[string]any{"sub": "ms-2", "tid": tenantA, "email": "b@contoso.example", "email_verified": true}, ms.tenantIssuer(tenantB))
		_, err, _ := h.signIn("ms", federation.Flow{}, "")
		wantCode(t, err, federation.CodeUpstreamError)
		if !strings.Contains(err.Error(), "does not match its tenant") {
			t.Errorf("refused for %v, want the tenant rule", err)
		}
	})
	t.Run("common, no tenant", func(t *testing.T) {
		ms.set(map[string]any{"sub": "ms-3", "email": "c@contoso.example", "email_verified": true}, ms.tenantIssuer(tenantA))
		_, err, _ := h.signIn("ms", federation.Flow{}, "")
		wantCode(t, err, federation.CodeUpstreamError)
		if !strings.Contains(err.Error(), "does not match its tenant") {
			t.Errorf("refused for %v, want the tenant rule", err)
		}
	})
	t.Run("fixed tenant", func(t *testing.T) {
		ms.set(map[string]any{"sub": "ms-4", "tid": tenantA, "email": "d@contoso.example", "email_verified": true}, "")
		res, err, _ := h.signIn("ms-a", federation.Flow{}, "")
		if err != nil || !res.Created {
			t.Fatalf("sign-in = %+v, %v", res, err)
		}
		if got := ms.lastAuthorizePath(); got != "/"+tenantA+"/oauth2/v2.0/authorize" {
			t.Errorf("authorized at %q, want the tenant's endpoint", got)
		}
	})
	t.Run("fixed tenant, another tenant's token", func(t *testing.T) {
		ms.set(map[string]any{"sub": "ms-5", "tid": tenantB, "email": "e@contoso.example", "email_verified": true}, ms.tenantIssuer(tenantB))
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

// fakeMicrosoft serves the shape of Microsoft's identity platform (v2.0)
// under /{tenant}/: discovery (whose issuer, for common, organizations and
// consumers, holds the {tenantid} placeholder), authorize, token and keys. Its
// ID tokens carry tid and, unless told otherwise, the issuer of that tenant.
type fakeMicrosoft struct {
	t   *testing.T
	srv *httptest.Server
	key *rsa.PrivateKey

	mu        sync.Mutex
	claims    map[string]any
	iss       string // "" means the issuer of claims' tid
	codes     map[string]pendingCode
	authorize string // the path of the last authorization request
}

func newFakeMicrosoft(t *testing.T) *fakeMicrosoft {
	t.Helper()
	m := &fakeMicrosoft{t: t, codes: map[string]pendingCode{}}
	var err error
	if m.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		tenant := r.PathValue("tenant")
		iss := m.tenantIssuer(tenant)
		if slices.Contains([]string{"common", "organizations", "consumers"}, tenant) {
			iss = m.tenantIssuer("{tenantid}")
		}
		base := m.authority() + "/" + tenant
		writeJSON(w, map[string]any{
			"issuer": iss, "authorization_endpoint": base + "/oauth2/v2.0/authorize", "token_endpoint": base + "/oauth2/v2.0/token",
			"jwks_uri": base + "/discovery/v2.0/keys", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"pairwise"}, "id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &m.key.PublicKey, KeyID: "ms1", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		m.mu.Lock()
		defer m.mu.Unlock()
		m.authorize = r.URL.Path
		code := rand.Text()
		m.codes[code] = pendingCode{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri"), claims: m.claims}
		back, _ := url.Parse(q.Get("redirect_uri"))
		back.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
	})
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		defer m.mu.Unlock()
		pc, ok := m.codes[r.PostFormValue("code")]
		delete(m.codes, r.PostFormValue("code"))
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != pc.challenge || r.PostFormValue("redirect_uri") != pc.redirect {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		iss := m.iss
		if iss == "" {
			tid, _ := pc.claims["tid"].(string)
			iss = m.tenantIssuer(tid)
		}
		now := time.Now()
		claims := map[string]any{"iss": iss, "aud": "rp", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "nonce": pc.nonce}
		for k, v := range pc.claims {
			claims[k] = v
		}
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: m.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "ms1"))
		if err != nil {
			m.t.Error(err)
			return
		}
		idt, err := jwt.Signed(signer).Claims(claims).Serialize()
		if err != nil {
			m.t.Error(err)
			return
		}
		writeJSON(w, map[string]any{"access_token": "at-" + rand.Text(), "token_type": "Bearer", "expires_in": 3600, "id_token": idt})
	})
	m.srv = httptest.NewServer(mux)
	t.Cleanup(m.srv.Close)
	return m
}

// authority is the fake's login host, what the preset's issuer override names.
func (m *fakeMicrosoft) authority() string { return m.srv.URL }

func (m *fakeMicrosoft) tenantIssuer(tid string) string {
	return m.authority() + "/" + tid + "/v2.0"
}

// set makes the next sign-in's claims, and its ID token's issuer ("" for the
// issuer of the claims' tid).
func (m *fakeMicrosoft) set(claims map[string]any, iss string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claims, m.iss = claims, iss
}

func (m *fakeMicrosoft) lastAuthorizePath() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.TrimPrefix(m.authorize, m.srv.URL)
}
