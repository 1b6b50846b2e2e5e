package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TestServeOutboundAllowLoopback: outbound.allow_loopback reaches both places
// that need it: the admin API accepts a loopback jwks_uri only with it on, and
// only with it on does the token endpoint fetch one.
func TestServeOutboundAllowLoopback(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	var hits atomic.Int64
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Write(set)
	}))
	t.Cleanup(keys.Close)
	token := strings.Repeat("a", 40)
	spec := `{"client_name":"Signed service","token_endpoint_auth_method":"private_key_jwt","token_endpoint_auth_signing_alg":"ES256",` +
		`"grant_types":["client_credentials"],"jwks_uri":"` + keys.URL + `/jwks"}`
	createClient := func(t *testing.T, s *serveProc) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, s.admin+"/admin/clients", strings.NewReader(spec))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		json.NewDecoder(res.Body).Decode(&body)
		return res.StatusCode, body
	}

	t.Run("off", func(t *testing.T) {
		s := startServe(t, map[string]string{"GATEHOUSE_ADMIN_TOKENS": token}, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
		waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
		status, body := createClient(t, s)
		if status != http.StatusBadRequest || !strings.Contains(toJSON(body), "jwks_uri") {
			t.Fatalf("admin create with a loopback jwks_uri = %d %v, want 400 naming jwks_uri", status, body)
		}
	})

	t.Run("on", func(t *testing.T) {
		s := startServe(t, map[string]string{"GATEHOUSE_ADMIN_TOKENS": token, "GATEHOUSE_OUTBOUND_ALLOW_LOOPBACK": "true"},
			"--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
		waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
		status, body := createClient(t, s)
		if status != http.StatusCreated {
			t.Fatalf("admin create with a loopback jwks_uri and allow_loopback = %d %v, want 201", status, body)
		}
		id := body["client_id"].(string)
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: priv}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		// The issuer is the default one: the assertion's audience is its token endpoint.
		assertion, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: id, Subject: id, Audience: jwt.Audience{"http://localhost:8080/oauth2/token"},
			ID: "jti-" + id, IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"grant_type": {"client_credentials"}, "client_assertion": {assertion},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}
		res, err := http.PostForm(s.base+"/oauth2/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || !bytes.Contains(b, []byte("access_token")) {
			t.Fatalf("token with an assertion verified by the loopback jwks_uri = %d %s\n%s", res.StatusCode, b, s.log)
		}
		if n := hits.Load(); n != 1 {
			t.Errorf("the jwks_uri got %d requests, want 1", n)
		}
		if !strings.Contains(s.log.String(), "outbound.allow_loopback") {
			t.Errorf("serve did not warn that outbound.allow_loopback is on:\n%s", s.log)
		}
	})
}

// TestClientsCreateJWKSURI: the CLI refuses a loopback jwks_uri unless
// outbound.allow_loopback is on, as the server would not fetch it.
func TestClientsCreateJWKSURI(t *testing.T) {
	args := func(dir string) []string {
		return []string{"clients", "create", "--data-dir", dir, "--name", "Signed", "-o", "json", "--grant-type", "client_credentials",
			"--token-endpoint-auth-method", "private_key_jwt", "--jwks-uri", "http://127.0.0.1:9000/jwks"}
	}
	dir := t.TempDir()
	code, out, errOut := runClientsCLI(t, args(dir)...)
	if code == 0 || !strings.Contains(errOut, "jwks_uri") {
		t.Fatalf("create with a loopback jwks_uri = exit %d, stdout %q, stderr %q; want a refusal naming jwks_uri", code, out, errOut)
	}
	var stdout, stderr bytes.Buffer
	env := envMap(map[string]string{"GATEHOUSE_OUTBOUND_ALLOW_LOOPBACK": "true"})
	if code := run(t.Context(), args(dir), env, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("create with a loopback jwks_uri and allow_loopback = exit %d\n%s", code, stderr.String())
	}
	if c := decodeClient(t, stdout.String()); c.ClientID == "" {
		t.Fatalf("create printed %q", stdout.String())
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
