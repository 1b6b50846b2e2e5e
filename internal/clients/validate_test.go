package clients_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/clients"
	"github.com/go-jose/go-jose/v4"
)

// testKeys holds JWK Sets built once per test function.
type testKeys struct {
	ecPublic, rsaPublic, ecPrivate, symmetric string
}

func newTestKeys(t *testing.T) testKeys {
	t.Helper()
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set := func(key any) string {
		b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key, KeyID: "k1", Use: "sig"}}})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	return testKeys{
		ecPublic:  set(&ec.PublicKey),
		rsaPublic: set(&rk.PublicKey),
		ecPrivate: set(ec),
		symmetric: `{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0","kid":"s"}]}`,
	}
}

// web is a valid confidential web client using the authorization code flow.
func web() clients.Spec {
	return clients.Spec{ClientName: "App", RedirectURIs: []string{"https://app.example.com/callback"}}
}

func TestValidateAccepts(t *testing.T) {
	keys := newTestKeys(t)
	for _, tc := range []struct {
		name  string
		spec  func(s *clients.Spec)
		check func(t *testing.T, c clients.View)
	}{
		{
			name: "web client defaults",
			spec: func(s *clients.Spec) {},
			check: func(t *testing.T, c clients.View) {
				wantList(t, "grant_types", c.GrantTypes, "authorization_code", "refresh_token")
				wantList(t, "response_types", c.ResponseTypes, "code")
				wantList(t, "scope", c.Scope, "openid", "profile", "email", "offline_access")
				wantString(t, "token_endpoint_auth_method", c.TokenEndpointAuthMethod, "client_secret_basic")
				wantString(t, "application_type", c.ApplicationType, "web")
				wantString(t, "id_token_signed_response_alg", c.IDTokenSignedResponseAlg, "RS256")
				wantString(t, "access_token_format", c.AccessTokenFormat, "")
				if c.Public {
					t.Error("Public = true, want false")
				}
			},
		},
		{
			name: "code client without refresh_token gets no offline_access",
			spec: func(s *clients.Spec) { s.GrantTypes = []string{"authorization_code"} },
			check: func(t *testing.T, c clients.View) {
				wantList(t, "scope", c.Scope, "openid", "profile", "email")
			},
		},
		{
			name: "service client defaults to client_credentials without scopes",
			spec: func(s *clients.Spec) { s.RedirectURIs = nil },
			check: func(t *testing.T, c clients.View) {
				wantList(t, "grant_types", c.GrantTypes, "client_credentials")
				wantList(t, "response_types", c.ResponseTypes)
				wantList(t, "scope", c.Scope)
			},
		},
		{
			name: "public flag means auth method none",
			spec: func(s *clients.Spec) { s.Public = true },
			check: func(t *testing.T, c clients.View) {
				wantString(t, "token_endpoint_auth_method", c.TokenEndpointAuthMethod, "none")
			},
		},
		{
			name: "auth method none means public",
			spec: func(s *clients.Spec) { s.TokenEndpointAuthMethod = "none" },
			check: func(t *testing.T, c clients.View) {
				if !c.Public {
					t.Error("Public = false, want true")
				}
			},
		},
		{
			name: "native app with private-use scheme and loopback",
			spec: func(s *clients.Spec) {
				s.Public, s.ApplicationType = true, "native"
				s.RedirectURIs = []string{"com.example.app:/callback", "http://127.0.0.1/callback", "http://[::1]:8400/cb", "https://app.example.com/native"}
			},
		},
		{
			name: "web client on loopback http for development",
			spec: func(s *clients.Spec) {
				s.RedirectURIs = []string{"http://localhost:3000/callback", "http://127.0.0.1:3000/callback", "http://[::1]:3000/cb"}
				s.PostLogoutRedirectURIs = []string{"http://localhost:3000/"}
			},
		},
		{
			name: "private_key_jwt with inline ES256 JWKS",
			spec: func(s *clients.Spec) {
				s.TokenEndpointAuthMethod, s.TokenEndpointAuthSigningAlg = "private_key_jwt", "ES256"
				s.JWKS = json.RawMessage(keys.ecPublic)
			},
			check: func(t *testing.T, c clients.View) {
				if !strings.Contains(string(c.JWKS), `"kid":"k1"`) {
					t.Errorf("jwks = %s, want the key kept", c.JWKS)
				}
			},
		},
		{
			name: "private_key_jwt defaults to RS256",
			spec: func(s *clients.Spec) {
				s.TokenEndpointAuthMethod = "private_key_jwt"
				s.JWKS = json.RawMessage(keys.rsaPublic)
			},
			check: func(t *testing.T, c clients.View) {
				wantString(t, "token_endpoint_auth_signing_alg", c.TokenEndpointAuthSigningAlg, "RS256")
			},
		},
		{
			name: "private_key_jwt with jwks_uri",
			spec: func(s *clients.Spec) {
				s.TokenEndpointAuthMethod, s.JWKSURI = "private_key_jwt", "https://app.example.com/jwks.json"
			},
		},
		{
			name: "every optional field",
			spec: func(s *clients.Spec) {
				s.ClientID = "my-app_1.0~x"
				s.GrantTypes = []string{"authorization_code", "refresh_token", "client_credentials"}
				s.Scope = clients.Scopes{"openid", "api:read", "https://api.example.com/write"}
				s.Audience = []string{"https://api.example.com"}
				s.TokenEndpointAuthMethod = "client_secret_post"
				s.IDTokenSignedResponseAlg = "ES256"
				s.AccessTokenFormat = "jwt"
				s.Lifespans = clients.Lifespans{AccessToken: clients.Duration(time.Hour), RefreshToken: clients.Duration(720 * time.Hour)}
				s.FirstParty, s.AlwaysIssueRefreshToken = true, true
				s.ClientURI, s.LogoURI = "https://app.example.com", "https://app.example.com/logo.png"
				s.PolicyURI, s.TOSURI = "https://app.example.com/privacy", "http://localhost:3000/tos"
			},
			check: func(t *testing.T, c clients.View) {
				wantList(t, "scope", c.Scope, "openid", "api:read", "https://api.example.com/write")
				wantString(t, "client_id", c.ClientID, "my-app_1.0~x")
			},
		},
		{
			name: "opaque access tokens",
			spec: func(s *clients.Spec) { s.AccessTokenFormat = "opaque" },
		},
		{
			name: "allowed CORS origins are stored as browsers send Origin",
			spec: func(s *clients.Spec) {
				s.AllowedCORSOrigins = []string{"https://SPA.example.com", "https://spa.example.com:443", "http://localhost:5173", "http://[::1]:8080", "https://cdn.example.net:8443"}
			},
			check: func(t *testing.T, c clients.View) {
				wantList(t, "allowed_cors_origins", c.AllowedCORSOrigins, "https://spa.example.com", "http://localhost:5173", "http://[::1]:8080", "https://cdn.example.net:8443")
			},
		},
		{
			name: "no allowed CORS origins is an empty list",
			spec: func(s *clients.Spec) {},
			check: func(t *testing.T, c clients.View) {
				if c.AllowedCORSOrigins == nil || len(c.AllowedCORSOrigins) != 0 || c.ResourceServer || c.ClaimsInIDToken {
					t.Errorf("allowed_cors_origins %v, resource_server %v, claims_in_id_token %v; want [], false, false", c.AllowedCORSOrigins, c.ResourceServer, c.ClaimsInIDToken)
				}
			},
		},
		{
			name: "resource_server and claims_in_id_token",
			spec: func(s *clients.Spec) { s.ResourceServer, s.ClaimsInIDToken = true, true },
			check: func(t *testing.T, c clients.View) {
				if !c.ResourceServer || !c.ClaimsInIDToken {
					t.Errorf("resource_server %v, claims_in_id_token %v; want both", c.ResourceServer, c.ClaimsInIDToken)
				}
			},
		},
		{
			name: "duplicates are dropped",
			spec: func(s *clients.Spec) {
				s.RedirectURIs = append(s.RedirectURIs, s.RedirectURIs[0])
				s.GrantTypes = []string{"authorization_code", "authorization_code"}
			},
			check: func(t *testing.T, c clients.View) {
				wantList(t, "grant_types", c.GrantTypes, "authorization_code")
				wantList(t, "redirect_uris", c.RedirectURIs, "https://app.example.com/callback")
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := web()
			tc.spec(&s)
			c, err := clients.Validate(s)
			if err != nil {
				t.Fatalf("Validate(%+v) = %v, want no error", s, err)
			}
			if tc.check != nil {
				tc.check(t, clients.ViewOf(c))
			}
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	keys := newTestKeys(t)
	for _, tc := range []struct {
		name  string
		spec  func(s *clients.Spec)
		field string // the field a problem must name
		text  string // a phrase the message must contain
	}{
		// client_id, client_name, application_type
		{"client_id with slash", func(s *clients.Spec) { s.ClientID = "a/b" }, "client_id", "may contain only"},
		{"client_id too long", func(s *clients.Spec) { s.ClientID = strings.Repeat("a", 256) }, "client_id", "at most 255"},
		{"client_name with control character", func(s *clients.Spec) { s.ClientName = "a\nb" }, "client_name", "control"},
		{"unknown application_type", func(s *clients.Spec) { s.ApplicationType = "desktop" }, "application_type", "want web or native"},

		// redirect_uris
		{"relative redirect URI", func(s *clients.Spec) { s.RedirectURIs = []string{"/callback"} }, "redirect_uris[0]", "not absolute"},
		{"redirect URI without scheme", func(s *clients.Spec) { s.RedirectURIs = []string{"app.example.com/cb"} }, "redirect_uris[0]", "not absolute"},
		{"redirect URI with fragment", func(s *clients.Spec) { s.RedirectURIs = []string{"https://app.example.com/cb#x"} }, "redirect_uris[0]", "fragment"},
		{"redirect URI with empty fragment", func(s *clients.Spec) { s.RedirectURIs = []string{"https://app.example.com/cb#"} }, "redirect_uris[0]", "fragment"},
		{"http redirect URI for a web client", func(s *clients.Spec) { s.RedirectURIs = []string{"http://app.example.com/cb"} }, "redirect_uris[0]", "loopback"},
		{"http redirect URI for a native client", func(s *clients.Spec) {
			s.ApplicationType, s.RedirectURIs = "native", []string{"http://app.example.com/cb"}
		}, "redirect_uris[0]", "loopback"},
		{"private-use scheme for a web client", func(s *clients.Spec) { s.RedirectURIs = []string{"com.example.app:/cb"} }, "redirect_uris[0]", "native"},
		{"private-use scheme without a domain", func(s *clients.Spec) {
			s.ApplicationType, s.RedirectURIs = "native", []string{"myapp:/cb"}
		}, "redirect_uris[0]", "reverse domain"},
		{"javascript scheme", func(s *clients.Spec) { s.RedirectURIs = []string{"javascript:alert(1)"} }, "redirect_uris[0]", "scheme"},
		{"redirect URI with user info", func(s *clients.Spec) { s.RedirectURIs = []string{"https://u:p@app.example.com/cb"} }, "redirect_uris[0]", "user information"},
		{"redirect URI with space", func(s *clients.Spec) { s.RedirectURIs = []string{"https://app.example.com/a b"} }, "redirect_uris[0]", "spaces"},
		{"empty redirect URI", func(s *clients.Spec) { s.RedirectURIs = []string{""} }, "redirect_uris[0]", "empty"},
		{"second redirect URI named by index", func(s *clients.Spec) {
			s.RedirectURIs = []string{"https://app.example.com/cb", "http://evil.example.com/cb"}
		}, "redirect_uris[1]", "loopback"},
		{"code grant without redirect URIs", func(s *clients.Spec) {
			s.RedirectURIs, s.GrantTypes = nil, []string{"authorization_code"}
		}, "redirect_uris", "at least one"},
		{"redirect URIs without code grant", func(s *clients.Spec) { s.GrantTypes = []string{"client_credentials"} }, "redirect_uris", "only with the authorization_code"},

		// post_logout_redirect_uris
		{"http post-logout URI", func(s *clients.Spec) { s.PostLogoutRedirectURIs = []string{"http://app.example.com/bye"} }, "post_logout_redirect_uris[0]", "loopback"},
		{"relative post-logout URI", func(s *clients.Spec) { s.PostLogoutRedirectURIs = []string{"bye"} }, "post_logout_redirect_uris[0]", "not absolute"},
		{"post-logout URI with fragment", func(s *clients.Spec) { s.PostLogoutRedirectURIs = []string{"https://app.example.com/#bye"} }, "post_logout_redirect_uris[0]", "fragment"},

		// grant_types and response_types
		{"unknown grant type", func(s *clients.Spec) { s.GrantTypes = []string{"authorization_code", "magic"} }, "grant_types[1]", `unknown grant type "magic"`},
		{"implicit grant", func(s *clients.Spec) { s.GrantTypes = []string{"implicit"} }, "grant_types[0]", "implicit"},
		{"password grant", func(s *clients.Spec) { s.GrantTypes = []string{"password"} }, "grant_types[0]", "password"},
		{"refresh_token without authorization_code", func(s *clients.Spec) {
			s.RedirectURIs, s.GrantTypes = nil, []string{"client_credentials", "refresh_token"}
		}, "grant_types", "only through authorization_code"},
		{"response type token", func(s *clients.Spec) { s.ResponseTypes = []string{"token"} }, "response_types[0]", "only code"},
		{"code grant without response type code", func(s *clients.Spec) { s.ResponseTypes = []string{"id_token"} }, "response_types", "needs response type code"},
		{"response type without code grant", func(s *clients.Spec) {
			s.RedirectURIs, s.GrantTypes, s.ResponseTypes = nil, []string{"client_credentials"}, []string{"code"}
		}, "response_types", "only with the authorization_code"},

		// token_endpoint_auth_method and public clients
		{"unknown auth method", func(s *clients.Spec) { s.TokenEndpointAuthMethod = "client_secret_jwt" }, "token_endpoint_auth_method", "want one of"},
		{"public client with a secret method", func(s *clients.Spec) {
			s.Public, s.TokenEndpointAuthMethod = true, "client_secret_basic"
		}, "token_endpoint_auth_method", "must be none"},
		{"public client with client_credentials", func(s *clients.Spec) {
			s.Public, s.GrantTypes = true, []string{"authorization_code", "client_credentials"}
		}, "grant_types", "public client cannot use client_credentials"},
		{"auth method none with client_credentials", func(s *clients.Spec) {
			s.TokenEndpointAuthMethod, s.RedirectURIs, s.GrantTypes = "none", nil, []string{"client_credentials"}
		}, "grant_types", "public client cannot use client_credentials"},
		{"public client without redirect URIs", func(s *clients.Spec) { s.Public, s.RedirectURIs = true, nil }, "grant_types", "public client needs"},
		{"always_issue_refresh_token without refresh grant", func(s *clients.Spec) {
			s.GrantTypes, s.AlwaysIssueRefreshToken = []string{"authorization_code"}, true
		}, "always_issue_refresh_token", "refresh_token grant"},

		// private_key_jwt
		{"private_key_jwt without keys", func(s *clients.Spec) { s.TokenEndpointAuthMethod = "private_key_jwt" }, "jwks", "give jwks or jwks_uri"},
		{"private_key_jwt with both", func(s *clients.Spec) {
			s.TokenEndpointAuthMethod, s.JWKS, s.JWKSURI = "private_key_jwt", json.RawMessage(keys.ecPublic), "https://app.example.com/jwks"
		}, "jwks", "not both"},
		{"private key in jwks", func(s *clients.Spec) {
			s.TokenEndpointAuthMethod, s.JWKS = "private_key_jwt", json.RawMessage(keys.ecPrivate)
		}, "jwks", "private"},
		{"symmetric key in jwks", func(s *clients.Spec) {
			s.TokenEndpointAuthMethod, s.JWKS = "private_key_jwt", json.RawMessage(keys.symmetric)
		}, "jwks", "symmetric"},
		{"jwks not a key set", func(s *clients.Spec) {
			s.TokenEndpointAuthMethod, s.JWKS = "private_key_jwt", json.RawMessage(`{"keys":"nope"}`)
		}, "jwks", "not a JWK Set"},
		{"jwks without keys", func(s *clients.Spec) {
			s.TokenEndpointAuthMethod, s.JWKS = "private_key_jwt", json.RawMessage(`{"keys":[]}`)
		}, "jwks", "no keys"},
		{"jwks key does not fit the algorithm", func(s *clients.Spec) {
			s.TokenEndpointAuthMethod, s.TokenEndpointAuthSigningAlg, s.JWKS = "private_key_jwt", "ES256", json.RawMessage(keys.rsaPublic)
		}, "jwks", "can verify ES256"},
		{"jwks with a secret method", func(s *clients.Spec) { s.JWKS = json.RawMessage(keys.ecPublic) }, "jwks", "only with token_endpoint_auth_method private_key_jwt"},
		{"jwks_uri over http", func(s *clients.Spec) {
			s.TokenEndpointAuthMethod, s.JWKSURI = "private_key_jwt", "http://app.example.com/jwks"
		}, "jwks_uri", "https"},
		{"relative jwks_uri", func(s *clients.Spec) {
			s.TokenEndpointAuthMethod, s.JWKSURI = "private_key_jwt", "/jwks"
		}, "jwks_uri", "not absolute"},
		{"jwks_uri with a secret method", func(s *clients.Spec) { s.JWKSURI = "https://app.example.com/jwks" }, "jwks_uri", "only with"},
		{"HMAC assertion algorithm", func(s *clients.Spec) {
			s.TokenEndpointAuthMethod, s.TokenEndpointAuthSigningAlg, s.JWKSURI = "private_key_jwt", "HS256", "https://app.example.com/jwks"
		}, "token_endpoint_auth_signing_alg", "want one of"},
		{"assertion algorithm with a secret method", func(s *clients.Spec) { s.TokenEndpointAuthSigningAlg = "RS256" }, "token_endpoint_auth_signing_alg", "only with"},

		// token formats
		{"ID token algorithm HS256", func(s *clients.Spec) { s.IDTokenSignedResponseAlg = "HS256" }, "id_token_signed_response_alg", "RS256 or ES256"},
		{"ID token algorithm none", func(s *clients.Spec) { s.IDTokenSignedResponseAlg = "none" }, "id_token_signed_response_alg", "RS256 or ES256"},
		{"unknown access token format", func(s *clients.Spec) { s.AccessTokenFormat = "paseto" }, "access_token_format", "opaque or jwt"},

		// scope and audience
		{"scope with a space", func(s *clients.Spec) { s.Scope = clients.Scopes{"openid", "a b"} }, "scope[1]", "RFC 6749 §3.3"},
		{"scope with a quote", func(s *clients.Spec) { s.Scope = clients.Scopes{`a"b`} }, "scope[0]", "not a valid scope token"},
		{"scope with a backslash", func(s *clients.Spec) { s.Scope = clients.Scopes{`a\b`} }, "scope[0]", "not a valid scope token"},
		{"scope with non-ASCII", func(s *clients.Spec) { s.Scope = clients.Scopes{"café"} }, "scope[0]", "not a valid scope token"},
		{"empty audience", func(s *clients.Spec) { s.Audience = []string{""} }, "audience[0]", "non-empty"},

		// allowed_cors_origins
		{"origin with a path", func(s *clients.Spec) { s.AllowedCORSOrigins = []string{"https://spa.example.com/app"} }, "allowed_cors_origins[0]", "without a path"},
		{"origin with a trailing slash", func(s *clients.Spec) { s.AllowedCORSOrigins = []string{"https://spa.example.com/"} }, "allowed_cors_origins[0]", "not even /"},
		{"origin with a query", func(s *clients.Spec) { s.AllowedCORSOrigins = []string{"https://spa.example.com?x"} }, "allowed_cors_origins[0]", "query"},
		{"origin with a fragment", func(s *clients.Spec) { s.AllowedCORSOrigins = []string{"https://spa.example.com#x"} }, "allowed_cors_origins[0]", "fragment"},
		{"http origin not on loopback", func(s *clients.Spec) { s.AllowedCORSOrigins = []string{"http://spa.example.com"} }, "allowed_cors_origins[0]", "loopback"},
		{"origin with another scheme", func(s *clients.Spec) { s.AllowedCORSOrigins = []string{"ftp://spa.example.com"} }, "allowed_cors_origins[0]", "https origin"},
		{"origin without a scheme", func(s *clients.Spec) { s.AllowedCORSOrigins = []string{"spa.example.com"} }, "allowed_cors_origins[0]", "not absolute"},
		{"origin with user information", func(s *clients.Spec) { s.AllowedCORSOrigins = []string{"https://u@spa.example.com"} }, "allowed_cors_origins[0]", "user information"},
		{"wildcard origin", func(s *clients.Spec) { s.AllowedCORSOrigins = []string{"*"} }, "allowed_cors_origins[0]", "not absolute"},
		{"null origin", func(s *clients.Spec) { s.AllowedCORSOrigins = []string{"null"} }, "allowed_cors_origins[0]", "not absolute"},
		{"second origin named by index", func(s *clients.Spec) {
			s.AllowedCORSOrigins = []string{"https://a.example.com", "https://b.example.com/x"}
		}, "allowed_cors_origins[1]", "without a path"},

		// lifespans
		{"negative access token lifespan", func(s *clients.Spec) { s.Lifespans.AccessToken = clients.Duration(-time.Second) }, "lifespans.access_token", "negative"},
		{"negative refresh token lifespan", func(s *clients.Spec) { s.Lifespans.RefreshToken = -1 }, "lifespans.refresh_token", "negative"},
		{"negative ID token lifespan", func(s *clients.Spec) { s.Lifespans.IDToken = -1 }, "lifespans.id_token", "negative"},
		{"negative authorization code lifespan", func(s *clients.Spec) { s.Lifespans.AuthorizationCode = -1 }, "lifespans.authorization_code", "negative"},

		// links
		{"http logo_uri", func(s *clients.Spec) { s.LogoURI = "http://cdn.example.com/logo.png" }, "logo_uri", "loopback"},
		{"relative policy_uri", func(s *clients.Spec) { s.PolicyURI = "privacy" }, "policy_uri", "not absolute"},
		{"ftp tos_uri", func(s *clients.Spec) { s.TOSURI = "ftp://example.com/tos" }, "tos_uri", "https URL"},
		{"client_uri without host", func(s *clients.Spec) { s.ClientURI = "https:///path" }, "client_uri", "no host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := web()
			tc.spec(&s)
			_, err := clients.Validate(s)
			var ve *clients.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate(%+v) = %v, want a *ValidationError", s, err)
			}
			for _, p := range ve.Problems {
				if p.Field == tc.field && strings.Contains(p.Message, tc.text) {
					return
				}
			}
			t.Errorf("Validate(%+v) problems = %+v, want one on %s containing %q", s, ve.Problems, tc.field, tc.text)
		})
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	s := clients.Spec{
		RedirectURIs:      []string{"/relative", "http://app.example.com/cb"},
		GrantTypes:        []string{"authorization_code", "magic"},
		AccessTokenFormat: "paseto",
		LogoURI:           "logo.png",
	}
	_, err := clients.Validate(s)
	var ve *clients.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate = %v, want a *ValidationError", err)
	}
	var fields []string
	for _, p := range ve.Problems {
		fields = append(fields, p.Field)
	}
	for _, want := range []string{"redirect_uris[0]", "redirect_uris[1]", "grant_types[1]", "access_token_format", "logo_uri"} {
		if !slices.Contains(fields, want) {
			t.Errorf("problems name %v, want %s among them", fields, want)
		}
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "invalid client:") || strings.Count(msg, "\n  - ") != len(ve.Problems) {
		t.Errorf("Error() = %q, want one line per problem", msg)
	}
}

func TestSpecJSON(t *testing.T) {
	var s clients.Spec
	in := `{"client_name":"A","redirect_uris":["https://a.example.com/cb"],"scope":"openid  email",
		"lifespans":{"access_token":"15m","refresh_token":3600},
		"jwks":{"keys":[]}}`
	if err := json.Unmarshal([]byte(in), &s); err != nil {
		t.Fatal(err)
	}
	wantList(t, "scope", s.Scope, "openid", "email")
	if got := time.Duration(s.Lifespans.AccessToken); got != 15*time.Minute {
		t.Errorf("lifespans.access_token = %v, want 15m", got)
	}
	if got := time.Duration(s.Lifespans.RefreshToken); got != time.Hour {
		t.Errorf("lifespans.refresh_token = %v, want 1h", got)
	}
	if string(s.JWKS) != `{"keys":[]}` {
		t.Errorf("jwks = %s", s.JWKS)
	}
	if err := json.Unmarshal([]byte(`{"scope":["openid","email"]}`), &s); err != nil {
		t.Fatal(err)
	}
	wantList(t, "scope from a list", s.Scope, "openid", "email")
	if err := json.Unmarshal([]byte(`{"scope":3}`), &s); err == nil {
		t.Error("scope 3 accepted, want an error")
	}
	if err := json.Unmarshal([]byte(`{"lifespans":{"id_token":"soon"}}`), &s); err == nil {
		t.Error(`lifespan "soon" accepted, want an error`)
	}

	c, err := clients.Validate(web())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(clients.ViewOf(c))
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	for _, want := range []string{`"scope":"openid profile email offline_access"`, `"redirect_uris":["https://app.example.com/callback"]`, `"audience":[]`} {
		if !strings.Contains(out, want) {
			t.Errorf("View JSON = %s, want it to contain %s", out, want)
		}
	}
	if strings.Contains(out, `"client_secret"`) || strings.Contains(out, "hash") {
		t.Errorf("View JSON = %s, want no secret or hash", out)
	}
}

func wantList(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func wantString(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// TestValidateJWKSURI: a jwks_uri is a URL the server fetches: https to a
// public host, without fragment or user information; a loopback one (and http
// to it) only under Rules.AllowLoopbackFetch, the development setting.
func TestValidateJWKSURI(t *testing.T) {
	for _, tc := range []struct {
		name          string
		uri           string
		allowLoopback bool
		problem       string // "" when valid
	}{
		{"https public host", "https://app.example.com/jwks.json", false, ""},
		{"https public IP", "https://93.184.215.14/jwks", false, ""},
		{"https with port and query", "https://app.example.com:8443/jwks?tenant=a", false, ""},
		{"http public host", "http://app.example.com/jwks", false, "https"},
		{"http public host with loopback allowed", "http://app.example.com/jwks", true, "loopback"},
		{"http loopback", "http://127.0.0.1:9000/jwks.json", false, "https"},
		{"http loopback allowed", "http://127.0.0.1:9000/jwks.json", true, ""},
		{"http localhost allowed", "http://localhost:9000/jwks.json", true, ""},
		{"http IPv6 loopback allowed", "http://[::1]:9000/jwks.json", true, ""},
		{"https localhost", "https://localhost/jwks", false, "loopback"},
		{"https localhost allowed", "https://localhost/jwks", true, ""},
		{"https loopback IP", "https://127.0.0.1/jwks", false, "loopback"},
		{"https mapped loopback", "https://[::ffff:127.0.0.1]/jwks", false, "loopback"},
		{"private address", "https://10.0.0.7/jwks", false, "private"},
		{"private address with loopback allowed", "https://192.168.1.10/jwks", true, "private"},
		{"metadata address", "https://169.254.169.254/latest/meta-data/", true, "metadata"},
		{"CGNAT address", "https://100.64.1.1/jwks", false, "CGNAT"},
		{"unique local IPv6", "https://[fd00:ec2::254]/jwks", false, "metadata"},
		{"unspecified", "https://0.0.0.0/jwks", true, "this network"},
		{"fragment", "https://app.example.com/jwks#keys", false, "fragment"},
		{"empty fragment", "https://app.example.com/jwks#", false, "fragment"},
		{"user information", "https://user:pw@app.example.com/jwks", false, "user information"},
		{"relative", "/jwks", false, "not absolute"},
		{"no host", "https:///jwks", false, "no host"},
		{"other scheme", "ftp://app.example.com/jwks", true, "https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := web()
			s.RedirectURIs, s.GrantTypes = nil, []string{"client_credentials"}
			s.TokenEndpointAuthMethod, s.JWKSURI = "private_key_jwt", tc.uri
			_, err := clients.Rules{AllowLoopbackFetch: tc.allowLoopback}.Validate(s)
			if tc.problem == "" {
				if err != nil {
					t.Fatalf("Validate(jwks_uri %q, allowLoopback=%v) = %v, want valid", tc.uri, tc.allowLoopback, err)
				}
				return
			}
			var ve *clients.ValidationError
			if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Field != "jwks_uri" || !strings.Contains(ve.Problems[0].Message, tc.problem) {
				t.Fatalf("Validate(jwks_uri %q, allowLoopback=%v) = %v, want one problem on jwks_uri containing %q", tc.uri, tc.allowLoopback, err, tc.problem)
			}
		})
	}
}
