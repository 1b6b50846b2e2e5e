package server_test

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// sqliteEnv is a server on a new SQLite database, for protocol rules that do not
// depend on the database.
func sqliteEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	return newEnv(t, storagetest.OpenURL(t, "sqlite:"+t.TempDir()+"/gatehouse.db", storage.PoolerNone), opts...)
}

// sqliteAndPostgres runs a test on SQLite and on PostgreSQL.
func sqliteAndPostgres(t *testing.T, test func(t *testing.T, open func(testing.TB) *storage.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		test(t, func(tb testing.TB) *storage.Store {
			return storagetest.OpenURL(tb, "sqlite:"+tb.TempDir()+"/gatehouse.db", storage.PoolerNone)
		})
	})
	t.Run("postgres", func(t *testing.T) {
		test(t, func(tb testing.TB) *storage.Store {
			return storagetest.OpenURL(tb, storagetest.NewPostgresDatabase(tb), storage.PoolerNone)
		})
	})
}

// send sends req and decodes the JSON answer (nil for an empty body).
func (e *env) send(req *http.Request) (int, http.Header, map[string]any) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &out); err != nil {
			e.t.Fatalf("%s %s: status %d, body not JSON: %s", req.Method, req.URL.Path, resp.StatusCode, body)
		}
	}
	return resp.StatusCode, resp.Header, out
}

// formRequest builds a form POST to path.
func (e *env) formRequest(path string, form url.Values) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// serviceClient registers a client_credentials client; method "" is
// client_secret_basic.
func (e *env) serviceClient(method string, extra storage.Client) (storage.Client, string) {
	e.t.Helper()
	c := extra
	if c.Name == "" {
		c.Name = "Service"
	}
	c.TokenEndpointAuthMethod = method
	c.GrantTypes, c.ResponseTypes = storage.StringList{"client_credentials"}, storage.StringList{}
	if c.Scopes == nil {
		c.Scopes = storage.StringList{"reports"}
	}
	return e.client(c)
}

// clientCredentials gets a token with client_secret_basic, fatal on failure.
func (e *env) clientCredentials(c storage.Client, secret string, form url.Values) map[string]any {
	e.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("grant_type", "client_credentials")
	status, _, body := e.postForm("/oauth2/token", form, c.ID, secret)
	if status != http.StatusOK {
		e.t.Fatalf("client credentials for %s: %d %v", c.ID, status, body)
	}
	return body
}

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// signedAssertion signs claims as a private_key_jwt client assertion.
func signedAssertion(t *testing.T, priv *ecdsa.PrivateKey, kid string, claims jwt.Claims) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	mustf(t, err, "signer")
	raw, err := jwt.Signed(signer).Claims(claims).Serialize()
	mustf(t, err, "sign assertion")
	return raw
}

// keyClient registers a private_key_jwt client_credentials client and returns a
// function that makes a fresh assertion for it.
func (e *env) keyClient(t *testing.T, extra storage.Client) (storage.Client, func() string) {
	t.Helper()
	priv, kid, jwks := clientKey(t)
	c := extra
	c.JWKS, c.TokenEndpointAuthSigningAlg = jwks, "ES256"
	c, _ = e.serviceClient("private_key_jwt", c)
	return c, func() string { return assertion(t, priv, kid, c.ID, e.issuer+"/oauth2/token", randomHex(8)) }
}

// TestSecretClientsAcceptBothSecretMethods: a client with a secret authenticates
// with client_secret_basic or client_secret_post, whichever it registered, as
// Keycloak allows; private_key_jwt and none stay exact, and each refusal says what
// the client must send instead.
func TestSecretClientsAcceptBothSecretMethods(t *testing.T) {
	e := sqliteEnv(t)
	for _, registered := range []string{"client_secret_basic", "client_secret_post"} {
		c, secret := e.serviceClient(registered, storage.Client{})
		for _, style := range []struct {
			name  string
			style oauth2.AuthStyle
		}{{"client_secret_basic", oauth2.AuthStyleInHeader}, {"client_secret_post", oauth2.AuthStyleInParams}} {
			t.Run("registered "+registered+", sent "+style.name, func(t *testing.T) {
				cc := clientcredentials.Config{ClientID: c.ID, ClientSecret: secret, TokenURL: e.issuer + "/oauth2/token", Scopes: []string{"reports"}, AuthStyle: style.style}
				tok, err := cc.Token(t.Context())
				if err != nil {
					t.Fatalf("client registered for %s authenticating with %s: %v", registered, style.name, err)
				}
				if got := e.introspect(tok.AccessToken, c.ID, secret); got["active"] != true {
					t.Fatalf("token introspects as %v", got)
				}
			})
		}
	}

	secretClient, secret := e.serviceClient("client_secret_basic", storage.Client{})
	keyClient, makeAssertion := e.keyClient(t, storage.Client{})
	public, _ := e.client(storage.Client{Name: "SPA", Public: true})
	for _, tc := range []struct {
		name       string
		form       url.Values
		user, pass string
		wantStatus int
		wantError  string
		wantHint   []string // in error_description
	}{
		{"private_key_jwt client sends a secret with basic", url.Values{}, keyClient.ID, "guess", 401, "invalid_client",
			[]string{"private_key_jwt", "client_assertion"}},
		{"private_key_jwt client sends a secret in the body", url.Values{"client_id": {keyClient.ID}, "client_secret": {"guess"}}, "", "", 401, "invalid_client",
			[]string{"private_key_jwt", "client_assertion"}},
		{"private_key_jwt client sends only its id", url.Values{"client_id": {keyClient.ID}}, "", "", 401, "invalid_client",
			[]string{"private_key_jwt", "client_assertion"}},
		{"public client sends a secret", url.Values{"client_id": {public.ID}, "client_secret": {"guess"}}, "", "", 401, "invalid_client",
			[]string{"none", "client_id"}},
		{"secret client sends an assertion", url.Values{"client_id": {secretClient.ID}, "client_assertion_type": {jwtBearer}, "client_assertion": {makeAssertion()}}, "", "", 401, "invalid_client",
			[]string{"client_secret_basic", "client_secret_post"}},
		{"secret client sends no secret", url.Values{"client_id": {secretClient.ID}}, "", "", 401, "invalid_client",
			[]string{"client_secret_basic", "client_secret_post"}},
		{"secret client sends a wrong secret", url.Values{}, secretClient.ID, secret + "x", 401, "invalid_client", nil},
		// RFC 6749 §2.3: a client MUST NOT use more than one authentication method.
		{"secret in the header and the body", url.Values{"client_id": {secretClient.ID}, "client_secret": {secret}}, secretClient.ID, secret, 400, "invalid_request",
			[]string{"one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}}
			for k, v := range tc.form {
				form[k] = v
			}
			status, hdr, body := e.postForm("/oauth2/token", form, tc.user, tc.pass)
			if status != tc.wantStatus || body["error"] != tc.wantError {
				t.Fatalf("= %d %v, want %d %s", status, body, tc.wantStatus, tc.wantError)
			}
			desc, _ := body["error_description"].(string)
			for _, h := range tc.wantHint {
				if !strings.Contains(desc, h) {
					t.Errorf("error_description %q does not mention %q", desc, h)
				}
			}
			if status == http.StatusUnauthorized && hdr.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Fatal("a client secret reached the log")
	}
}

// TestClientAssertionOutsideItsTimeWindow: an expired or not-yet-valid client
// assertion is a failed client authentication (401 invalid_client), not a server
// error.
func TestClientAssertionOutsideItsTimeWindow(t *testing.T) {
	e := sqliteEnv(t)
	priv, kid, jwks := clientKey(t)
	c, _ := e.serviceClient("private_key_jwt", storage.Client{JWKS: jwks, TokenEndpointAuthSigningAlg: "ES256"})
	now := time.Now()
	at := func(d time.Duration) *jwt.NumericDate { return jwt.NewNumericDate(now.Add(d)) }
	for _, tc := range []struct {
		name   string
		claims jwt.Claims
	}{
		{"expired", jwt.Claims{IssuedAt: at(-10 * time.Minute), Expiry: at(-5 * time.Minute)}},
		{"not yet valid", jwt.Claims{IssuedAt: at(0), NotBefore: at(10 * time.Minute), Expiry: at(15 * time.Minute)}},
		{"issued in the future", jwt.Claims{IssuedAt: at(10 * time.Minute), Expiry: at(15 * time.Minute)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			claims := tc.claims
			claims.Issuer, claims.Subject, claims.ID = c.ID, c.ID, randomHex(8)
			claims.Audience = jwt.Audience{e.issuer + "/oauth2/token"}
			form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {jwtBearer},
				"client_assertion": {signedAssertion(t, priv, kid, claims)}}
			status, _, body := e.postForm("/oauth2/token", form, "", "")
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Fatalf("= %d %v, want 401 invalid_client", status, body)
			}
		})
	}
}

// TestUnsupportedGrantTypes: a grant the server does not offer is
// unsupported_grant_type (RFC 6749 §5.2), whoever asks.
func TestUnsupportedGrantTypes(t *testing.T) {
	e := sqliteEnv(t)
	c, secret := e.serviceClient("", storage.Client{})
	for _, grant := range []string{
		"password",
		"urn:ietf:params:oauth:grant-type:device_code",
		"urn:ietf:params:oauth:grant-type:jwt-bearer",
		"urn:ietf:params:oauth:grant-type:token-exchange",
		"implicit",
		"something_else",
	} {
		t.Run(grant, func(t *testing.T) {
			for _, user := range []string{c.ID, ""} {
				status, _, body := e.postForm("/oauth2/token", url.Values{"grant_type": {grant}, "username": {"a"}, "password": {"b"}}, user, secret)
				if status != http.StatusBadRequest || body["error"] != "unsupported_grant_type" {
					t.Fatalf("grant_type=%s (client %q) = %d %v, want 400 unsupported_grant_type", grant, user, status, body)
				}
			}
		})
	}
}

// TestAlwaysIssueRefreshTokenClientRefreshes: a client configured to always get a
// refresh token can use it without offline_access.
func TestAlwaysIssueRefreshTokenClientRefreshes(t *testing.T) {
	e := sqliteEnv(t)
	c, secret := e.client(storage.Client{Name: "Always", AlwaysIssueRefreshToken: true})
	code, verifier := e.codeFor(e.browser(), c, url.Values{"scope": {"openid"}})
	status, body := e.redeem(c, secret, code, verifier)
	rt, _ := body["refresh_token"].(string)
	if status != http.StatusOK || rt == "" {
		t.Fatalf("redeem: %d %v, want a refresh token", status, body)
	}
	for i := range 2 {
		status, _, body = e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, c.ID, secret)
		if status != http.StatusOK || body["refresh_token"] == nil || body["access_token"] == nil {
			t.Fatalf("refresh %d: %d %v, want new tokens", i+1, status, body)
		}
		rt = body["refresh_token"].(string)
	}
}

// TestIntrospectionOnlyForTheTokensClientOrAResourceServer (RFC 7662 §2.1, §4):
// a client introspects its own tokens; a client the operator marked as a resource
// server introspects any; anyone else learns nothing. A bearer token is not client
// authentication, and public clients cannot introspect.
func TestIntrospectionOnlyForTheTokensClientOrAResourceServer(t *testing.T) {
	sqliteAndPostgres(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		owner, ownerSecret := e.client(storage.Client{Name: "Owner", GrantTypes: storage.StringList{"authorization_code", "refresh_token", "client_credentials"}})
		other, otherSecret := e.serviceClient("client_secret_post", storage.Client{Name: "Other"})
		rs, rsSecret := e.serviceClient("", storage.Client{Name: "API", ResourceServer: true})
		rsKey, rsAssertion := e.keyClient(t, storage.Client{Name: "API with key", ResourceServer: true})
		public, _ := e.client(storage.Client{Name: "SPA", Public: true})
		code, verifier := e.codeFor(e.browser(), owner, nil)
		_, tokens := e.redeem(owner, ownerSecret, code, verifier)
		at, rt := tokens["access_token"].(string), tokens["refresh_token"].(string)

		for _, token := range []struct{ name, value string }{{"access token", at}, {"refresh token", rt}} {
			for _, tc := range []struct {
				name       string
				form       url.Values
				user, pass string
				bearer     string
				wantStatus int
				wantActive bool
				wantError  string
			}{
				{"owner with basic", nil, owner.ID, ownerSecret, "", 200, true, ""},
				{"owner with post", url.Values{"client_id": {owner.ID}, "client_secret": {ownerSecret}}, "", "", "", 200, true, ""},
				{"another client", url.Values{"client_id": {other.ID}, "client_secret": {otherSecret}}, "", "", "", 200, false, ""},
				{"resource server", nil, rs.ID, rsSecret, "", 200, true, ""},
				{"resource server with private_key_jwt", url.Values{"client_assertion_type": {jwtBearer}, "client_assertion": {rsAssertion()}}, "", "", "", 200, true, ""},
				{"public client", url.Values{"client_id": {public.ID}}, "", "", "", 401, false, "invalid_client"},
				{"bearer access token", nil, "", "", at, 401, false, "invalid_client"},
				{"no authentication", nil, "", "", "", 401, false, "invalid_client"},
			} {
				t.Run(token.name+" by "+tc.name, func(t *testing.T) {
					form := url.Values{"token": {token.value}}
					for k, v := range tc.form {
						form[k] = v
					}
					req := e.formRequest("/oauth2/introspect", form)
					if tc.user != "" {
						req.SetBasicAuth(url.QueryEscape(tc.user), url.QueryEscape(tc.pass))
					}
					if tc.bearer != "" {
						req.Header.Set("Authorization", "Bearer "+tc.bearer)
					}
					status, _, body := e.send(req)
					if status != tc.wantStatus || body["error"] != nilIfEmpty(tc.wantError) {
						t.Fatalf("= %d %v, want %d %s", status, body, tc.wantStatus, tc.wantError)
					}
					if status != http.StatusOK {
						return
					}
					if body["active"] != tc.wantActive {
						t.Fatalf("active = %v, want %v (%v)", body["active"], tc.wantActive, body)
					}
					if !tc.wantActive && len(body) != 1 {
						t.Fatalf("an inactive answer says more than active=false: %v", body)
					}
					if tc.wantActive && (body["client_id"] != owner.ID || body["sub"] != e.user.ID) {
						t.Fatalf("introspection = %v, want the owner's client_id and the user", body)
					}
				})
			}
		}
		_ = rsKey
	})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// TestUserInfoTakesAccessTokensOnly: /userinfo answers an access token in the
// Authorization header or the form body, refuses a refresh token presented as a
// bearer (RFC 6750 §3.1 invalid_token), and refuses one in the query (RFC 6750
// §2.3, RFC 9700 §4.3.2).
func TestUserInfoTakesAccessTokensOnly(t *testing.T) {
	e := sqliteEnv(t)
	c, secret := e.client(storage.Client{Name: "App"})
	code, verifier := e.codeFor(e.browser(), c, nil)
	_, tokens := e.redeem(c, secret, code, verifier)
	at, rt := tokens["access_token"].(string), tokens["refresh_token"].(string)
	header := func(tok string) func() *http.Request {
		return func() *http.Request {
			req, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			return req
		}
	}
	body := func(tok string) func() *http.Request {
		return func() *http.Request { return e.formRequest("/userinfo", url.Values{"access_token": {tok}}) }
	}
	query := func(tok string) func() *http.Request {
		return func() *http.Request {
			req, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo?"+url.Values{"access_token": {tok}}.Encode(), nil)
			return req
		}
	}
	for _, tc := range []struct {
		name       string
		req        func() *http.Request
		wantStatus int
		wantError  string
	}{
		{"access token in the header", header(at), 200, ""},
		{"access token in the form body", body(at), 200, ""},
		{"refresh token in the header", header(rt), 401, "invalid_token"},
		{"refresh token in the form body", body(rt), 401, "invalid_token"},
		{"access token in the query", query(at), 400, "invalid_request"},
		{"access token in the query and the header", func() *http.Request {
			req := query(at)()
			req.Header.Set("Authorization", "Bearer "+at)
			return req
		}, 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, hdr, got := e.send(tc.req())
			if status != tc.wantStatus || got["error"] != nilIfEmpty(tc.wantError) {
				t.Fatalf("= %d %v, want %d %s", status, got, tc.wantStatus, tc.wantError)
			}
			if status == http.StatusOK && got["sub"] != e.user.ID {
				t.Fatalf("claims = %v", got)
			}
			if status == http.StatusUnauthorized && !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
				t.Fatalf("WWW-Authenticate = %q", hdr.Get("WWW-Authenticate"))
			}
		})
	}
}

// audienceOf returns a JWT's aud as a list (RFC 7519 allows a string too).
func audienceOf(t *testing.T, token string) []string {
	t.Helper()
	switch aud := decodeJWTPart(t, token, 1)["aud"].(type) {
	case string:
		return []string{aud}
	case []any:
		out := []string{}
		for _, a := range aud {
			out = append(out, a.(string))
		}
		return out
	default:
		t.Fatalf("JWT access token has no aud: %v", decodeJWTPart(t, token, 1))
		return nil
	}
}

func introspectedAudience(body map[string]any) []string {
	out := []string{}
	list, _ := body["aud"].([]any)
	for _, a := range list {
		out = append(out, a.(string))
	}
	return out
}

// TestAccessTokenAudience (RFC 8707, RFC 9068 §2.2): an access token's aud is
// the resource the request named, if the client may use it, or else the default
// audience; JWTs and opaque tokens (through introspection) alike, and never empty.
func TestAccessTokenAudience(t *testing.T) {
	const api, billing = "https://api.example.com/", "https://billing.example.com"
	sqliteAndPostgres(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		allowed := storage.StringList{api, billing}
		jwtSvc, jwtSecret := e.serviceClient("", storage.Client{Name: "JWT service", AccessTokenFormat: "jwt", Audience: allowed})
		opaqueSvc, opaqueSecret := e.serviceClient("", storage.Client{Name: "Opaque service", AccessTokenFormat: "opaque", Audience: allowed})
		for _, tc := range []struct {
			name      string
			resources []string
			want      []string
			wantError string
		}{
			{"no resource: the default audience", nil, []string{e.issuer}, ""},
			{"one allowed resource", []string{api}, []string{api}, ""},
			{"two allowed resources", []string{api, billing}, []string{api, billing}, ""},
			{"a resource the client may not use", []string{"https://other.example.com"}, nil, "invalid_target"},
			{"one allowed, one not", []string{api, "https://other.example.com"}, nil, "invalid_target"},
			{"a resource with a fragment", []string{api + "#x"}, nil, "invalid_target"},
			{"a relative resource", []string{"/api"}, nil, "invalid_target"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, svc := range []struct {
					c      storage.Client
					secret string
				}{{jwtSvc, jwtSecret}, {opaqueSvc, opaqueSecret}} {
					status, _, body := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "resource": tc.resources}, svc.c.ID, svc.secret)
					if tc.wantError != "" {
						if status != http.StatusBadRequest || body["error"] != tc.wantError {
							t.Fatalf("%s: = %d %v, want 400 %s", svc.c.Name, status, body, tc.wantError)
						}
						continue
					}
					if status != http.StatusOK {
						t.Fatalf("%s: = %d %v", svc.c.Name, status, body)
					}
					at := body["access_token"].(string)
					if svc.c.AccessTokenFormat == "jwt" {
						if got := audienceOf(t, at); !slices.Equal(got, tc.want) {
							t.Errorf("JWT aud = %v, want %v", got, tc.want)
						}
					}
					if got := introspectedAudience(e.introspect(at, svc.c.ID, svc.secret)); !slices.Equal(got, tc.want) {
						t.Errorf("%s: introspected aud = %v, want %v", svc.c.Name, got, tc.want)
					}
				}
			})
		}

		t.Run("code flow and refresh", func(t *testing.T) {
			app, secret := e.client(storage.Client{Name: "App", AccessTokenFormat: "jwt", Audience: allowed})
			code, verifier := e.codeFor(e.browser(), app, nil)
			status, body := e.redeem(app, secret, code, verifier)
			if status != http.StatusOK {
				t.Fatalf("redeem: %d %v", status, body)
			}
			if got := audienceOf(t, body["access_token"].(string)); !slices.Equal(got, []string{e.issuer}) {
				t.Fatalf("code flow aud = %v, want the issuer", got)
			}
			status, _, body = e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}}, app.ID, secret)
			if status != http.StatusOK {
				t.Fatalf("refresh: %d %v", status, body)
			}
			if got := audienceOf(t, body["access_token"].(string)); !slices.Equal(got, []string{e.issuer}) {
				t.Fatalf("refreshed aud = %v, want the issuer", got)
			}
			status, _, bad := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)},
				"resource": {"https://other.example.com"}}, app.ID, secret)
			if status != http.StatusBadRequest || bad["error"] != "invalid_target" {
				t.Fatalf("refresh for a resource the client may not use = %d %v, want 400 invalid_target", status, bad)
			}
			status, _, body = e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)},
				"resource": {api}}, app.ID, secret)
			if status != http.StatusOK {
				t.Fatalf("refresh for an allowed resource: %d %v", status, body)
			}
			if got := audienceOf(t, body["access_token"].(string)); !slices.Equal(got, []string{api}) {
				t.Fatalf("aud of a refresh for %s = %v", api, got)
			}
		})

		t.Run("resource on the authorization request", func(t *testing.T) {
			app, secret := e.client(storage.Client{Name: "App with resource", AccessTokenFormat: "jwt", Audience: allowed})
			code, verifier := e.codeFor(e.browser(), app, url.Values{"resource": {api, billing}})
			status, body := e.redeem(app, secret, code, verifier)
			if status != http.StatusOK {
				t.Fatalf("redeem: %d %v", status, body)
			}
			if got := audienceOf(t, body["access_token"].(string)); !slices.Equal(got, []string{api, billing}) {
				t.Fatalf("aud of a code asked for %s and %s = %v", api, billing, got)
			}
			// A resource the client may not use goes back to the client as
			// invalid_target (RFC 8707 §2), with the state.
			verifier, challenge := pkce()
			q := url.Values{"client_id": {app.ID}, "response_type": {"code"}, "redirect_uri": {app.RedirectURIs[0]},
				"scope": {"openid"}, "state": {"s-123456789"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
				"resource": {"https://other.example.com"}}
			_ = verifier
			_, loc := e.authorize(e.browser(), e.issuer+"/oauth2/authorize?"+q.Encode())
			if loc == nil || loc.Query().Get("error") != "invalid_target" || loc.Query().Get("state") != "s-123456789" || loc.Query().Get("code") != "" {
				t.Fatalf("authorize with a resource the client may not use redirected to %v, want error=invalid_target with the state", loc)
			}
		})
	})
}

// TestDefaultAudienceSetting: oauth.default_audience replaces the issuer as the
// aud of tokens whose request named no resource.
func TestDefaultAudienceSetting(t *testing.T) {
	const def = "https://api.example.com"
	e := sqliteEnv(t, func(c *oauth.Config) { c.DefaultAudience = def })
	c, secret := e.serviceClient("", storage.Client{AccessTokenFormat: "jwt"})
	at := e.clientCredentials(c, secret, nil)["access_token"].(string)
	if got := audienceOf(t, at); !slices.Equal(got, []string{def}) {
		t.Fatalf("aud = %v, want [%s]", got, def)
	}
}

// TestDiscoveredAuthMethodsWork: every client authentication method discovery
// lists for introspection and revocation works there, and one it does not list
// is refused.
func TestDiscoveredAuthMethodsWork(t *testing.T) {
	e := sqliteEnv(t)
	provider, err := oidc.NewProvider(oidc.ClientContext(t.Context(), http.DefaultClient), e.issuer)
	mustf(t, err, "discovery")
	var meta struct {
		Introspection []string `json:"introspection_endpoint_auth_methods_supported"`
		Revocation    []string `json:"revocation_endpoint_auth_methods_supported"`
	}
	mustf(t, provider.Claims(&meta), "discovery claims")
	if len(meta.Introspection) == 0 || len(meta.Revocation) == 0 {
		t.Fatalf("discovery lists no auth methods: %+v", meta)
	}
	rs, rsSecret := e.serviceClient("", storage.Client{Name: "Checker", ResourceServer: true})
	active := func(token string) bool { return e.introspect(token, rs.ID, rsSecret)["active"] == true }

	// caller is a client of one method: its own token, and how it authenticates.
	type caller struct {
		token string
		auth  func(req *http.Request, form url.Values)
	}
	basic := func(id, secret string) func(*http.Request, url.Values) {
		return func(req *http.Request, _ url.Values) { req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret)) }
	}
	post := func(id, secret string) func(*http.Request, url.Values) {
		return func(_ *http.Request, form url.Values) { form.Set("client_id", id); form.Set("client_secret", secret) }
	}
	newCaller := map[string]func() caller{
		"client_secret_basic": func() caller {
			c, s := e.serviceClient("client_secret_basic", storage.Client{})
			return caller{e.clientCredentials(c, s, nil)["access_token"].(string), basic(c.ID, s)}
		},
		"client_secret_post": func() caller {
			c, s := e.serviceClient("client_secret_post", storage.Client{})
			return caller{e.clientCredentials(c, s, nil)["access_token"].(string), post(c.ID, s)}
		},
		"private_key_jwt": func() caller {
			_, makeAssertion := e.keyClient(t, storage.Client{})
			status, _, body := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {jwtBearer}, "client_assertion": {makeAssertion()}}, "", "")
			if status != http.StatusOK {
				t.Fatalf("private_key_jwt token: %d %v", status, body)
			}
			return caller{body["access_token"].(string), func(_ *http.Request, form url.Values) {
				form.Set("client_assertion_type", jwtBearer)
				form.Set("client_assertion", makeAssertion())
			}}
		},
		"none": func() caller {
			c, _ := e.client(storage.Client{Name: "SPA", Public: true})
			code, verifier := e.codeFor(e.browser(), c, nil)
			status, _, body := e.postForm("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "client_id": {c.ID},
				"redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier}}, "", "")
			if status != http.StatusOK {
				t.Fatalf("public client token: %d %v", status, body)
			}
			return caller{body["access_token"].(string), func(_ *http.Request, form url.Values) { form.Set("client_id", c.ID) }}
		},
		// client_secret_jwt: an HS256 assertion keyed with the client's secret.
		"client_secret_jwt": func() caller {
			c, s := e.serviceClient("client_secret_basic", storage.Client{})
			token := e.clientCredentials(c, s, nil)["access_token"].(string)
			return caller{token, func(_ *http.Request, form url.Values) {
				mac := hmac.New(sha256.New, []byte(s))
				head := base64URL([]byte(`{"alg":"HS256","typ":"JWT"}`))
				now := time.Now().Unix()
				claims, _ := json.Marshal(map[string]any{"iss": c.ID, "sub": c.ID, "aud": e.issuer + "/oauth2/token", "jti": randomHex(8), "iat": now, "exp": now + 60})
				input := head + "." + base64URL(claims)
				mac.Write([]byte(input))
				form.Set("client_assertion_type", jwtBearer)
				form.Set("client_assertion", input+"."+base64URL(mac.Sum(nil)))
			}}
		},
	}
	try := func(path string, c caller) (int, map[string]any) {
		form := url.Values{"token": {c.token}}
		req := e.formRequest(path, nil)
		c.auth(req, form)
		req.Body = io.NopCloser(strings.NewReader(form.Encode()))
		req.ContentLength = int64(len(form.Encode()))
		status, _, body := e.send(req)
		return status, body
	}
	for _, ep := range []struct {
		name, path string
		listed     []string
		unlisted   string
		worked     func(t *testing.T, c caller, status int, body map[string]any)
	}{
		{"introspection", "/oauth2/introspect", meta.Introspection, "none", func(t *testing.T, c caller, status int, body map[string]any) {
			if status != http.StatusOK || body["active"] != true {
				t.Fatalf("introspect own token = %d %v, want active", status, body)
			}
		}},
		{"revocation", "/oauth2/revoke", meta.Revocation, "client_secret_jwt", func(t *testing.T, c caller, status int, body map[string]any) {
			if status != http.StatusOK || active(c.token) {
				t.Fatalf("revoke own token = %d %v, token active afterwards: %v", status, body, active(c.token))
			}
		}},
	} {
		for _, m := range ep.listed {
			t.Run(ep.name+" with "+m, func(t *testing.T) {
				mk, ok := newCaller[m]
				if !ok {
					t.Fatalf("discovery lists %s for %s, which this test cannot try", m, ep.name)
				}
				c := mk()
				status, body := try(ep.path, c)
				ep.worked(t, c, status, body)
			})
		}
		t.Run(ep.name+" with unlisted "+ep.unlisted, func(t *testing.T) {
			if slices.Contains(ep.listed, ep.unlisted) {
				t.Fatalf("discovery lists %s for %s", ep.unlisted, ep.name)
			}
			c := newCaller[ep.unlisted]()
			status, body := try(ep.path, c)
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Fatalf("= %d %v, want 401 invalid_client", status, body)
			}
			if !active(c.token) {
				t.Fatal("a refused request changed the token")
			}
		})
	}
}

// TestUserInfoUserGoneOrDisabled: userinfo reads the token's user with the
// token (one statement); a user disabled or deleted since the token was issued
// gets no claims but 401 invalid_token, on both databases.
func TestUserInfoUserGoneOrDisabled(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		c, secret := e.client(storage.Client{Name: "App"})
		userinfo := func(at string) (int, map[string]any) {
			req, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+at)
			status, _, got := e.send(req)
			return status, got
		}
		token := func() string {
			code, verifier := e.codeFor(e.browser(), c, nil)
			_, tokens := e.redeem(c, secret, code, verifier)
			at, _ := tokens["access_token"].(string)
			if at == "" {
				t.Fatalf("code redemption answered %v", tokens)
			}
			return at
		}
		at := token()
		if status, got := userinfo(at); status != http.StatusOK || got["sub"] != e.user.ID {
			t.Fatalf("userinfo = %d %v, want the user's claims", status, got)
		}
		u := e.user
		u.Disabled = true
		if _, err := e.store.UpdateUser(t.Context(), u); err != nil {
			t.Fatalf("disable user: %v", err)
		}
		if status, got := userinfo(at); status != http.StatusUnauthorized || got["error"] != "invalid_token" || got["sub"] != nil {
			t.Errorf("userinfo of a disabled user = %d %v, want 401 invalid_token", status, got)
		}
		if err := e.store.DeleteUser(t.Context(), u.ID); err != nil {
			t.Fatalf("delete user: %v", err)
		}
		if status, got := userinfo(at); status != http.StatusUnauthorized || got["error"] != "invalid_token" || got["sub"] != nil {
			t.Errorf("userinfo of a deleted user = %d %v, want 401 invalid_token", status, got)
		}
	})
}
