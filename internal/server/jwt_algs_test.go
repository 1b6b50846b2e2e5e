package server_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestJWTAccessTokenAlgs: for each algorithm JWT access tokens may be signed
// with (ES256 by default, RS256, EdDSA), a client_credentials token carries that
// alg and a kid, verifies with go-oidc against the JWKS named by discovery,
// introspects as active, and still does both after its key was rotated out of
// signing. Discovery advertises RS256 and ES256 for ID tokens whatever signs
// the access tokens.
func TestJWTAccessTokenAlgs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfgAlg  string // oauth.Config.JWTAccessTokenAlg; "" is the default
		wantAlg string
		wantKty string
	}{
		{name: "default", cfgAlg: "", wantAlg: keys.ES256, wantKty: "EC"},
		{name: "RS256", cfgAlg: keys.RS256, wantAlg: keys.RS256, wantKty: "RSA"},
		{name: "EdDSA", cfgAlg: keys.EdDSA, wantAlg: keys.EdDSA, wantKty: "OKP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
				e := newEnv(t, open(t), func(c *oauth.Config) { c.JWTAccessTokenAlg = tc.cfgAlg })
				ctx := oidc.ClientContext(t.Context(), http.DefaultClient)

				provider, err := oidc.NewProvider(ctx, e.issuer)
				mustf(t, err, "discovery")
				var meta struct {
					IDTokenAlgs []string `json:"id_token_signing_alg_values_supported"`
					JWKSURI     string   `json:"jwks_uri"`
				}
				mustf(t, provider.Claims(&meta), "discovery claims")
				if !slices.Contains(meta.IDTokenAlgs, keys.RS256) || !slices.Contains(meta.IDTokenAlgs, keys.ES256) {
					t.Errorf("id_token_signing_alg_values_supported = %v, want RS256 and ES256", meta.IDTokenAlgs)
				}
				status, _, jwks := e.call(http.MethodGet, "/.well-known/jwks.json", "", "")
				if status != http.StatusOK {
					t.Fatalf("JWKS: %d %v", status, jwks)
				}
				var ktys []string
				for _, k := range jwks["keys"].([]any) {
					ktys = append(ktys, k.(map[string]any)["kty"].(string))
				}
				for _, want := range []string{"RSA", "EC", tc.wantKty} {
					if !slices.Contains(ktys, want) {
						t.Errorf("JWKS key types = %v, want %s among them", ktys, want)
					}
				}

				c, secret := e.serviceClient("", storage.Client{AccessTokenFormat: "jwt"})
				verifier := provider.Verifier(&oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: []string{tc.wantAlg}})
				token := func() (raw string, kid any) {
					raw = e.clientCredentials(c, secret, nil)["access_token"].(string)
					h := decodeJWTPart(t, raw, 0)
					if h["alg"] != tc.wantAlg || h["typ"] != "at+jwt" || h["kid"] == nil {
						t.Fatalf("access token header = %v, want alg %s, typ at+jwt and a kid", h, tc.wantAlg)
					}
					return raw, h["kid"]
				}
				check := func(what, raw string) {
					t.Helper()
					idt, err := verifier.Verify(ctx, raw)
					if err != nil {
						t.Fatalf("%s: go-oidc verification: %v", what, err)
					}
					var claims struct {
						ClientID string `json:"client_id"`
						Scope    string `json:"scope"`
					}
					mustf(t, idt.Claims(&claims), "claims")
					if idt.Subject != c.ID || claims.ClientID != c.ID || idt.Issuer != e.issuer {
						t.Errorf("%s: sub %q client_id %q iss %q, want the client %s and the issuer", what, idt.Subject, claims.ClientID, idt.Issuer, c.ID)
					}
					if got := e.introspect(raw, c.ID, secret); got["active"] != true || got["client_id"] != c.ID {
						t.Errorf("%s: introspection = %v, want active, client_id %s", what, got, c.ID)
					}
				}
				before, oldKID := token()
				check("token", before)

				rotated, err := e.keys.Rotate(t.Context(), tc.wantAlg)
				mustf(t, err, "rotate")
				deadline := time.Now().Add(10 * time.Second)
				after, kid := token()
				for kid != rotated.KID {
					if kid != oldKID || time.Now().After(deadline) {
						t.Fatalf("after rotation the access token names kid %v, want the old %v until the new %s signs", kid, oldKID, rotated.KID)
					}
					after, kid = token()
				}
				check("token after rotation", after)
				check("token signed before rotation", before)

				// A token whose header names another alg than its key's is refused.
				parts := strings.Split(before, ".")
				other := keys.RS256
				if tc.wantAlg == keys.RS256 {
					other = keys.ES256
				}
				hdr, _ := json.Marshal(map[string]any{"alg": other, "kid": oldKID, "typ": "at+jwt"})
				forged := base64URL(hdr) + "." + parts[1] + "." + parts[2]
				if got := e.introspect(forged, c.ID, secret); got["active"] != false {
					t.Errorf("introspection of a token with alg %s on a %s key = %v, want inactive", other, tc.wantAlg, got)
				}
			})
		})
	}
}
