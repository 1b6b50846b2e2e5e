package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/config"
)

// TestFederationProviders: providers load from the YAML file with every key,
// and Validate names each problem by its place in the list.
func TestFederationProviders(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(`federation:
  providers:
    - id: github
      kind: github
      style: dark
      client_id: gh
      client_secret: gh-secret
      link_only: true
      store_tokens: true
    - id: corp
      name: Corp SSO
      issuer: https://sso.corp.example
      client_id: c
      client_secret: s
      scopes: [openid, email]
      claims: {email: mail, email_verified: mail_verified}
      allowed_domains: [corp.example]
      trust_mfa: true
`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := config.Load(good, envFrom(nil), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	ps := c.Federation.Providers
	if len(ps) != 2 || ps[0].Kind != "github" || !ps[0].LinkOnly || !ps[0].StoreTokens || ps[0].Style != "dark" ||
		ps[1].Name != "Corp SSO" || ps[1].Claims.Email != "mail" || ps[1].Claims.EmailVerified != "mail_verified" ||
		!ps[1].TrustMFA || len(ps[1].AllowedDomains) != 1 || len(ps[1].Scopes) != 2 {
		t.Errorf("providers = %+v", ps)
	}

	bad := c
	bad.Federation.Providers = []config.UpstreamProvider{
		{ID: "Bad", ClientID: "a", ClientSecret: "b", Issuer: "https://x.example"},
		{ID: "corp", Kind: "myspace"},
		{ID: "corp", Issuer: "http://sso.example", ClientID: "a", ClientSecret: "b", Style: "neon", LogoURL: "https://cdn.example/x.svg", AllowedDomains: []string{"@"}},
	}
	err = bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted bad providers")
	}
	for _, want := range []string{
		"federation.providers[0].id", "federation.providers[1].kind", "federation.providers[1].client_id",
		"federation.providers[1].client_secret", "federation.providers[2].id: \"corp\" is used", "federation.providers[2].issuer",
		"federation.providers[2].style", "federation.providers[2].logo_url", "federation.providers[2].allowed_domains[0]",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v\nwant it to name %s", err, want)
		}
	}
}
