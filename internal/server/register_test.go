package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

var (
	initialToken  = strings.Repeat("i", 40)
	initialToken2 = strings.Repeat("j", 40)
)

func withRegistration(c *oauth.Config) {
	c.DynamicRegistration = true
	c.RegistrationTokens = []string{initialToken, initialToken2}
	c.RegistrableScopes = append(oauth.DefaultRegistrableScopes(), "api:read", "api:write")
}

// call sends a JSON request with an optional bearer token and decodes the JSON
// answer.
func (e *env) call(method, path, bearer, body string) (int, http.Header, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, e.issuer+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			e.t.Fatalf("%s %s: status %d, body not JSON: %s", method, path, resp.StatusCode, b)
		}
	}
	return resp.StatusCode, resp.Header, out
}

func discovery(t *testing.T, e *env) map[string]any {
	t.Helper()
	status, _, body := e.call(http.MethodGet, "/.well-known/openid-configuration", "", "")
	if status != http.StatusOK {
		t.Fatalf("discovery: %d", status)
	}
	return body
}

func TestRegistrationOff(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t))
	status, _, _ := e.call(http.MethodPost, "/oauth2/register", initialToken, `{"grant_types":["client_credentials"]}`)
	if status != http.StatusNotFound {
		t.Errorf("POST /oauth2/register with registration off = %d, want 404", status)
	}
	if status, _, _ := e.call(http.MethodGet, "/oauth2/register/x", initialToken, ""); status != http.StatusNotFound {
		t.Errorf("GET /oauth2/register/x with registration off = %d, want 404", status)
	}
	if _, ok := discovery(t, e)["registration_endpoint"]; ok {
		t.Error("discovery advertises registration_endpoint while registration is off")
	}
	if _, err := oauth.New(oauth.Config{Issuer: e.issuer, Secrets: []string{storagetest.TestSecret}, DynamicRegistration: true}, oauth.Deps{Store: e.store, Keys: e.keys}); err == nil {
		t.Error("oauth.New with registration on and no initial access token: want an error")
	}
}

func TestRegistration(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t), withRegistration)
		if got := discovery(t, e)["registration_endpoint"]; got != e.issuer+"/oauth2/register" {
			t.Errorf("registration_endpoint = %v, want %s/oauth2/register", got, e.issuer)
		}
		meta := `{"client_name":"Robot","grant_types":["client_credentials"],"scope":"api:read","software_id":"ignored","first_party":true}`

		// The initial access token is required and checked.
		for _, tc := range []struct{ name, token, challenge string }{
			{"no token", "", `Bearer realm="client-registration"`},
			{"wrong token", strings.Repeat("x", 40), `error="invalid_token"`},
		} {
			status, h, body := e.call(http.MethodPost, "/oauth2/register", tc.token, meta)
			if status != http.StatusUnauthorized || !strings.Contains(h.Get("WWW-Authenticate"), tc.challenge) || body["error"] == nil {
				t.Errorf("%s: %d %q %v, want 401 with %q", tc.name, status, h.Get("WWW-Authenticate"), body, tc.challenge)
			}
		}

		// Register, with the second configured token.
		status, h, reg := e.call(http.MethodPost, "/oauth2/register", initialToken2, meta)
		if status != http.StatusCreated {
			t.Fatalf("register: %d %v", status, reg)
		}
		id, _ := reg["client_id"].(string)
		secret, _ := reg["client_secret"].(string)
		rat, _ := reg["registration_access_token"].(string)
		uri, _ := reg["registration_client_uri"].(string)
		if id == "" || secret == "" || rat == "" || uri != e.issuer+"/oauth2/register/"+id || reg["client_secret_expires_at"] != float64(0) {
			t.Fatalf("register = %v", reg)
		}
		if h.Get("Cache-Control") != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", h.Get("Cache-Control"))
		}
		rec, err := e.store.GetClientRecord(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if rec.FirstParty || rec.RegistrationTokenHash == "" || strings.Contains(rec.RegistrationTokenHash, rat) {
			t.Errorf("stored client: first_party %v, registration token hash %q; want not first-party and a hash", rec.FirstParty, rec.RegistrationTokenHash)
		}

		// The new client gets tokens.
		status, _, tok := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"api:read"}}, id, secret)
		if status != http.StatusOK || tok["access_token"] == nil {
			t.Fatalf("client_credentials as the registered client: %d %v", status, tok)
		}

		// Read with the registration access token; others are refused alike.
		status, _, got := e.call(http.MethodGet, "/oauth2/register/"+id, rat, "")
		if status != http.StatusOK || got["client_id"] != id || got["client_secret"] != nil || got["registration_access_token"] != rat {
			t.Errorf("read = %d %v", status, got)
		}
		for _, tc := range []struct{ name, path, token string }{
			{"initial token", "/oauth2/register/" + id, initialToken},
			{"no token", "/oauth2/register/" + id, ""},
			{"unknown client", "/oauth2/register/nobody", rat},
		} {
			if status, h, _ := e.call(http.MethodGet, tc.path, tc.token, ""); status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("read with %s = %d, want 401 with a Bearer challenge", tc.name, status)
			}
		}

		// Update: client_id must match; the metadata is replaced; the secret stays.
		if status, _, body := e.call(http.MethodPut, "/oauth2/register/"+id, rat, `{"client_name":"X","grant_types":["client_credentials"]}`); status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" {
			t.Errorf("update without client_id = %d %v", status, body)
		}
		status, _, upd := e.call(http.MethodPut, "/oauth2/register/"+id, rat, `{"client_id":"`+id+`","client_name":"Robot 2","grant_types":["client_credentials"],"scope":"api:read api:write"}`)
		if status != http.StatusOK || upd["client_name"] != "Robot 2" || upd["scope"] != "api:read api:write" {
			t.Errorf("update = %d %v", status, upd)
		}
		if status, _, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"api:write"}}, id, secret); status != http.StatusOK {
			t.Errorf("client_credentials after update: %d", status)
		}

		// RFC 7591 §3.2.2 errors.
		status, _, body := e.call(http.MethodPost, "/oauth2/register", initialToken, `{"redirect_uris":["http://evil.example.com/cb"]}`)
		if status != http.StatusBadRequest || body["error"] != "invalid_redirect_uri" || !strings.Contains(body["error_description"].(string), "redirect_uris[0]") {
			t.Errorf("bad redirect URI = %d %v", status, body)
		}
		status, _, body = e.call(http.MethodPost, "/oauth2/register", initialToken, `{"grant_types":["password"]}`)
		if status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" {
			t.Errorf("bad grant type = %d %v", status, body)
		}
		status, _, body = e.call(http.MethodPost, "/oauth2/register", initialToken, `{"redirect_uris":"https://a.example.com/cb"}`)
		if status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" {
			t.Errorf("redirect_uris as a string = %d %v", status, body)
		}

		// Delete: the client and its tokens go; the token stops working.
		if status, _, _ := e.call(http.MethodDelete, "/oauth2/register/"+id, rat, ""); status != http.StatusNoContent {
			t.Errorf("delete = %d, want 204", status)
		}
		if status, _, _ := e.call(http.MethodGet, "/oauth2/register/"+id, rat, ""); status != http.StatusUnauthorized {
			t.Errorf("read after delete = %d, want 401", status)
		}
		if status, _, _ := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, id, secret); status != http.StatusUnauthorized {
			t.Errorf("client_credentials after delete = %d, want 401", status)
		}
		if strings.Contains(e.logs.String(), rat) || strings.Contains(e.logs.String(), secret) || strings.Contains(e.logs.String(), initialToken2) {
			t.Error("a token or secret reached the log")
		}
	})
}

// TestRegisteredPublicClient registers a native public client: no secret, a
// registration access token all the same.
func TestRegisteredPublicClient(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t), withRegistration)
	status, _, reg := e.call(http.MethodPost, "/oauth2/register", initialToken,
		`{"application_type":"native","token_endpoint_auth_method":"none","redirect_uris":["http://127.0.0.1/cb"]}`)
	if status != http.StatusCreated || reg["client_secret"] != nil || reg["client_secret_expires_at"] != nil || reg["registration_access_token"] == nil {
		t.Fatalf("register public = %d %v", status, reg)
	}
	if reg["token_endpoint_auth_method"] != "none" || reg["scope"] == "" {
		t.Errorf("register public = %v", reg)
	}
}

// TestRegistrationLimits: a registered client gets only the operator's
// registrable scopes (RFC 7591 §2, §5); it may register allowed_cors_origins and
// claims_in_id_token but never resource_server; private_key_jwt and none clients
// get no secret.
func TestRegistrationLimits(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t), func(c *oauth.Config) {
			c.DynamicRegistration = true
			c.RegistrationTokens = []string{initialToken}
		})
		_, _, jwks := clientKey(t)
		for _, tc := range []struct {
			name, meta string
			wantError  string
		}{
			{"a scope outside the registrable ones", `{"grant_types":["client_credentials"],"scope":"api:admin"}`, "invalid_client_metadata"},
			{"openid with an operator's scope", `{"redirect_uris":["https://a.example.com/cb"],"scope":"openid admin"}`, "invalid_client_metadata"},
			{"an origin with a path", `{"redirect_uris":["https://a.example.com/cb"],"allowed_cors_origins":["https://spa.example.com/app"]}`, "invalid_client_metadata"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, _, body := e.call(http.MethodPost, "/oauth2/register", initialToken, tc.meta)
				if status != http.StatusBadRequest || body["error"] != tc.wantError {
					t.Fatalf("register %s = %d %v, want 400 %s", tc.meta, status, body, tc.wantError)
				}
			})
		}
		p, err := e.store.ListClients(t.Context(), storage.ListClientsOptions{})
		mustf(t, err, "list clients")
		if len(p) != 0 {
			t.Fatalf("refused registrations stored %d clients", len(p))
		}

		status, _, reg := e.call(http.MethodPost, "/oauth2/register", initialToken,
			`{"redirect_uris":["https://a.example.com/cb"],"allowed_cors_origins":["https://SPA.example.com"],"claims_in_id_token":true,"resource_server":true}`)
		if status != http.StatusCreated {
			t.Fatalf("register = %d %v", status, reg)
		}
		if reg["scope"] != "openid profile email offline_access" || reg["claims_in_id_token"] != true || reg["resource_server"] != nil {
			t.Errorf("registered = %v, want the default scopes, claims_in_id_token and no resource_server", reg)
		}
		if o, _ := reg["allowed_cors_origins"].([]any); len(o) != 1 || o[0] != "https://spa.example.com" {
			t.Errorf("allowed_cors_origins = %v, want [https://spa.example.com]", reg["allowed_cors_origins"])
		}
		id, rat := reg["client_id"].(string), reg["registration_access_token"].(string)
		rec, err := e.store.GetClientRecord(t.Context(), id)
		mustf(t, err, "get client")
		if rec.ResourceServer || !rec.ClaimsInIDToken {
			t.Errorf("stored resource_server %v, claims_in_id_token %v; want false, true", rec.ResourceServer, rec.ClaimsInIDToken)
		}
		status, _, body := e.call(http.MethodPut, "/oauth2/register/"+id, rat, `{"client_id":"`+id+`","redirect_uris":["https://a.example.com/cb"],"scope":"openid api:admin"}`)
		if status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" || !strings.Contains(body["error_description"].(string), "api:admin") {
			t.Errorf("update with a scope outside the registrable ones = %d %v", status, body)
		}

		for _, tc := range []struct{ name, meta string }{
			{"private_key_jwt", `{"grant_types":["client_credentials"],"scope":"openid","token_endpoint_auth_method":"private_key_jwt","token_endpoint_auth_signing_alg":"ES256","jwks":` + jwks + `}`},
			{"none", `{"redirect_uris":["https://a.example.com/cb"],"token_endpoint_auth_method":"none"}`},
		} {
			t.Run("no secret for "+tc.name, func(t *testing.T) {
				status, _, reg := e.call(http.MethodPost, "/oauth2/register", initialToken, tc.meta)
				if status != http.StatusCreated {
					t.Fatalf("register = %d %v", status, reg)
				}
				if _, ok := reg["client_secret"]; ok {
					t.Errorf("registration response has a client_secret: %v", reg)
				}
				if _, ok := reg["client_secret_expires_at"]; ok {
					t.Errorf("registration response has client_secret_expires_at: %v", reg)
				}
				rec, err := e.store.GetClientRecord(t.Context(), reg["client_id"].(string))
				mustf(t, err, "get client")
				if rec.SecretHash != "" {
					t.Errorf("stored secret hash %q, want none", rec.SecretHash)
				}
			})
		}
	})
}
