package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeDefaultAudience: oauth.default_audience reaches the protocol layer, so
// tokens whose request named no resource carry it as aud.
func TestServeDefaultAudience(t *testing.T) {
	const aud = "https://api.example.com"
	env := map[string]string{
		"GATEHOUSE_DATA_DIR":               filepath.Join(t.TempDir(), "data"),
		"GATEHOUSE_OAUTH_DEFAULT_AUDIENCE": aud,
	}
	s := startServe(t, env, "--addr", "127.0.0.1:0")
	waitFor(t, s, "/readyz", 30*time.Second, statusIs(http.StatusOK))
	c := createClient(t, env, "--name", "Service", "--grant-type", "client_credentials", "--access-token-format", "jwt")
	req, _ := http.NewRequest(http.MethodPost, s.base+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, c.Secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("client credentials: %d %+v (%v)", resp.StatusCode, tok, err)
	}
	parts := strings.Split(tok.AccessToken, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT access token: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Aud any `json:"aud"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(claims.Aud); string(got) != `"`+aud+`"` && string(got) != `["`+aud+`"]` {
		t.Fatalf("aud = %s, want %s", got, aud)
	}
}
