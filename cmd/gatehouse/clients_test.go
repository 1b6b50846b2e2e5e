package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// runClientsCLI runs the CLI in-process with no environment and returns its exit
// code and output.
func runClientsCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(t.Context(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// clientsCLI runs `gatehouse clients ARGS… --data-dir dir` and fails the test on a
// non-zero exit.
func clientsCLI(t *testing.T, dir string, args ...string) string {
	t.Helper()
	code, out, errOut := runClientsCLI(t, append(append([]string{"clients"}, args...), "--data-dir", dir)...)
	if code != 0 {
		t.Fatalf("gatehouse clients %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

type cliClient struct {
	ClientID                string   `json:"client_id"`
	ClientSecret            *string  `json:"client_secret"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	Scope                   string   `json:"scope"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Public                  bool     `json:"public"`
}

func decodeClient(t *testing.T, out string) cliClient {
	t.Helper()
	var c cliClient
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	return c
}

func listClientIDs(t *testing.T, dir string) []string {
	t.Helper()
	var page struct {
		Clients []cliClient `json:"clients"`
	}
	out := clientsCLI(t, dir, "list", "-o", "json")
	if err := json.Unmarshal([]byte(out), &page); err != nil {
		t.Fatalf("decode list %q: %v", out, err)
	}
	var ids []string
	for _, c := range page.Clients {
		ids = append(ids, c.ClientID)
	}
	return ids
}

// storedClient reopens the embedded database the CLI wrote and returns the record
// and the store's sealer.
func storedClient(t *testing.T, dir, id string) (storage.Client, *storage.Sealer) {
	t.Helper()
	secret, err := os.ReadFile(filepath.Join(dir, "system.secret"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.Open(storage.Options{
		URL:     "sqlite:" + filepath.Join(dir, "gatehouse.db"),
		Secrets: []string{strings.TrimSpace(string(secret))},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c, err := store.GetClientRecord(t.Context(), id)
	if err != nil {
		t.Fatalf("GetClientRecord(%s) = %v", id, err)
	}
	return c, store.Sealer()
}

func TestClientsLifecycle(t *testing.T) {
	dir := t.TempDir()

	// create -o json: the id and, once, the secret.
	created := decodeClient(t, clientsCLI(t, dir, "create", "--name", "My App",
		"--redirect-uri", "https://app.example.com/callback", "--redirect-uri", "http://localhost:3000/callback",
		"--scope", "openid,profile", "--scope", "email offline_access", "-o", "json"))
	if created.ClientID == "" || created.ClientSecret == nil || *created.ClientSecret == "" {
		t.Fatalf("create -o json = %+v, want client_id and client_secret", created)
	}
	secret := *created.ClientSecret
	if created.Scope != "openid profile email offline_access" || len(created.RedirectURIs) != 2 ||
		strings.Join(created.GrantTypes, ",") != "authorization_code,refresh_token" {
		t.Errorf("create -o json = %+v", created)
	}
	rec, sealer := storedClient(t, dir, created.ClientID)
	if rec.SecretHash == "" || strings.Contains(rec.SecretHash, secret) {
		t.Errorf("stored hash %q: want a hash, not the secret", rec.SecretHash)
	}
	if !sealer.CompareClientSecret(rec.SecretHash, []byte(secret)) {
		t.Error("printed secret does not verify against the stored hash")
	}

	// get never shows a secret again; list shows the client.
	got := clientsCLI(t, dir, "get", created.ClientID, "-o", "json")
	if c := decodeClient(t, got); c.ClientSecret != nil || c.ClientName != "My App" {
		t.Errorf("get -o json = %s, want the client without a secret", got)
	}
	if table := clientsCLI(t, dir, "list"); !strings.Contains(table, created.ClientID) || !strings.Contains(table, "My App") {
		t.Errorf("list = %q, want the client", table)
	}
	if ids := listClientIDs(t, dir); len(ids) != 1 || ids[0] != created.ClientID {
		t.Errorf("list -o json ids = %v, want [%s]", ids, created.ClientID)
	}

	// update changes only what is named.
	updated := decodeClient(t, clientsCLI(t, dir, "update", created.ClientID, "--name", "Renamed", "-o", "json"))
	if updated.ClientName != "Renamed" || len(updated.RedirectURIs) != 2 || updated.ClientSecret != nil {
		t.Errorf("update -o json = %+v, want the new name, the same redirect URIs, no secret", updated)
	}
	if rec2, _ := storedClient(t, dir, created.ClientID); rec2.SecretHash != rec.SecretHash {
		t.Error("update changed the secret")
	}
	if code, _, errOut := runClientsCLI(t, "clients", "update", created.ClientID, "--data-dir", dir); code == 0 || !strings.Contains(errOut, "nothing to change") {
		t.Errorf("update without flags: exit %d, stderr %q; want a refusal", code, errOut)
	}

	// rotate-secret prints a new secret; the old one stops working.
	rotated := decodeClient(t, clientsCLI(t, dir, "rotate-secret", created.ClientID, "-o", "json"))
	if rotated.ClientSecret == nil || *rotated.ClientSecret == "" || *rotated.ClientSecret == secret {
		t.Fatalf("rotate-secret -o json = %+v, want a new secret", rotated)
	}
	rec, sealer = storedClient(t, dir, created.ClientID)
	if !sealer.CompareClientSecret(rec.SecretHash, []byte(*rotated.ClientSecret)) || sealer.CompareClientSecret(rec.SecretHash, []byte(secret)) {
		t.Error("after rotate-secret: want the new secret to verify and the old one not")
	}

	// delete removes it.
	if out := clientsCLI(t, dir, "delete", created.ClientID); !strings.Contains(out, created.ClientID) {
		t.Errorf("delete = %q", out)
	}
	if code, _, errOut := runClientsCLI(t, "clients", "get", created.ClientID, "--data-dir", dir); code == 0 || !strings.Contains(errOut, "not found") {
		t.Errorf("get after delete: exit %d, stderr %q; want not found", code, errOut)
	}
	if ids := listClientIDs(t, dir); len(ids) != 0 {
		t.Errorf("list after delete = %v, want none", ids)
	}
}

func TestClientsCreateTable(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runClientsCLI(t, "clients", "create", "--data-dir", dir, "--id", "worker",
		"--grant-type", "client_credentials", "--scope", "api:read", "--access-token-lifespan", "15m")
	if code != 0 {
		t.Fatalf("create: exit %d, stderr %q", code, errOut)
	}
	for _, want := range []string{"CLIENT ID", "worker", "CLIENT SECRET", "client_credentials", "api:read", "15m0s"} {
		if !strings.Contains(out, want) {
			t.Errorf("create table = %q, want %q in it", out, want)
		}
	}
	if !strings.Contains(errOut, "cannot be shown again") {
		t.Errorf("stderr = %q, want the warning that the secret is shown once", errOut)
	}
	if code, _, errOut := runClientsCLI(t, "clients", "create", "--data-dir", dir, "--id", "worker"); code == 0 || !strings.Contains(errOut, "taken") {
		t.Errorf("second create --id worker: exit %d, stderr %q; want client_id taken", code, errOut)
	}
}

func TestClientsCreatePublicNative(t *testing.T) {
	dir := t.TempDir()
	c := decodeClient(t, clientsCLI(t, dir, "create", "--name", "CLI", "--public", "--application-type", "native",
		"--redirect-uri", "com.example.cli:/callback", "--redirect-uri", "http://127.0.0.1/callback", "-o", "json"))
	if c.ClientSecret != nil || !c.Public || c.TokenEndpointAuthMethod != "none" {
		t.Errorf("create --public = %+v, want a public client without a secret", c)
	}
	rec, _ := storedClient(t, dir, c.ClientID)
	if rec.SecretHash != "" {
		t.Errorf("public client stored hash %q, want none", rec.SecretHash)
	}
}

func TestClientsCreateRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		wants []string // phrases stderr must contain
	}{
		{"relative redirect URI", []string{"--redirect-uri", "/callback"},
			[]string{"redirect_uris[0]", `"/callback" is not absolute`}},
		{"http for a non-loopback web client", []string{"--redirect-uri", "http://app.example.com/callback"},
			[]string{"redirect_uris[0]", "http", "loopback"}},
		{"unknown grant type", []string{"--grant-type", "authorization_code,magic", "--redirect-uri", "https://app.example.com/cb"},
			[]string{"grant_types[1]", `unknown grant type "magic"`}},
		{"every problem at once", []string{"--redirect-uri", "/callback", "--redirect-uri", "http://app.example.com/cb",
			"--grant-type", "authorization_code,magic", "--access-token-format", "paseto"},
			[]string{"redirect_uris[0]", "redirect_uris[1]", "grant_types[1]", "access_token_format"}},
		{"private key in jwks", []string{"--token-endpoint-auth-method", "private_key_jwt", "--jwks",
			`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}]}`},
			[]string{"jwks", "private or symmetric"}},
		{"CORS origin with a path", []string{"--redirect-uri", "https://app.example.com/cb", "--allowed-cors-origin", "https://spa.example.com/app"},
			[]string{"allowed_cors_origins[0]", "without a path"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"clients", "create", "--data-dir", dir, "--name", "Bad", "-o", "json"}, tc.args...)
			code, out, errOut := runClientsCLI(t, args...)
			if code == 0 {
				t.Fatalf("exit 0, stdout %q; want a refusal", out)
			}
			if out != "" {
				t.Errorf("stdout = %q, want nothing", out)
			}
			for _, want := range tc.wants {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr = %q, want %q in it", errOut, want)
				}
			}
			if ids := listClientIDs(t, dir); len(ids) != 0 {
				t.Errorf("list after refusal = %v, want none", ids)
			}
		})
	}
}

func TestClientsUpdateRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	c := decodeClient(t, clientsCLI(t, dir, "create", "--redirect-uri", "https://app.example.com/cb", "-o", "json"))
	code, _, errOut := runClientsCLI(t, "clients", "update", c.ClientID, "--data-dir", dir, "--redirect-uri", "http://app.example.com/cb")
	if code == 0 || !strings.Contains(errOut, "redirect_uris[0]") {
		t.Errorf("update with an http redirect URI: exit %d, stderr %q; want a refusal naming redirect_uris[0]", code, errOut)
	}
	got := decodeClient(t, clientsCLI(t, dir, "get", c.ClientID, "-o", "json"))
	if len(got.RedirectURIs) != 1 || got.RedirectURIs[0] != "https://app.example.com/cb" {
		t.Errorf("redirect URIs after a refused update = %v, want them unchanged", got.RedirectURIs)
	}
}

// TestClientsInteropFlags: --allowed-cors-origin, --resource-server and
// --claims-in-id-token (Hydra's names) reach the stored client and can be changed
// by update; private_key_jwt clients get no secret and none to rotate.
func TestClientsInteropFlags(t *testing.T) {
	dir := t.TempDir()
	out := clientsCLI(t, dir, "create", "--id", "spa", "--public", "--redirect-uri", "https://spa.example.com/cb",
		"--allowed-cors-origin", "https://cdn.example.com", "--allowed-cors-origin", "http://localhost:5173",
		"--resource-server", "--claims-in-id-token", "-o", "json")
	var c struct {
		AllowedCORSOrigins []string `json:"allowed_cors_origins"`
		ResourceServer     bool     `json:"resource_server"`
		ClaimsInIDToken    bool     `json:"claims_in_id_token"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.AllowedCORSOrigins, " ") != "https://cdn.example.com http://localhost:5173" || !c.ResourceServer || !c.ClaimsInIDToken {
		t.Errorf("create = %s", out)
	}
	rec, _ := storedClient(t, dir, "spa")
	if len(rec.AllowedCORSOrigins) != 2 || !rec.ResourceServer || !rec.ClaimsInIDToken {
		t.Errorf("stored = %+v", rec)
	}
	clientsCLI(t, dir, "update", "spa", "--allowed-cors-origin", "", "--resource-server=false", "--claims-in-id-token=false")
	rec, _ = storedClient(t, dir, "spa")
	if len(rec.AllowedCORSOrigins) != 0 || rec.ResourceServer || rec.ClaimsInIDToken {
		t.Errorf("after update = %+v, want the settings cleared", rec)
	}
	if table := clientsCLI(t, dir, "get", "spa"); !strings.Contains(table, "ALLOWED CORS ORIGINS") || !strings.Contains(table, "CLAIMS IN ID TOKEN") {
		t.Errorf("get = %q, want the interop settings", table)
	}

	jwt := decodeClient(t, clientsCLI(t, dir, "create", "--id", "svc", "--grant-type", "client_credentials",
		"--token-endpoint-auth-method", "private_key_jwt", "--jwks-uri", "https://svc.example.com/jwks.json", "-o", "json"))
	if jwt.ClientSecret != nil {
		t.Errorf("create private_key_jwt printed a secret")
	}
	if rec, _ := storedClient(t, dir, "svc"); rec.SecretHash != "" {
		t.Errorf("private_key_jwt client stored hash %q, want none", rec.SecretHash)
	}
	if code, out, errOut := runClientsCLI(t, "clients", "rotate-secret", "svc", "--data-dir", dir); code == 0 || strings.Contains(out, "SECRET") {
		t.Errorf("rotate-secret of a private_key_jwt client: exit %d, stdout %q, stderr %q; want a refusal", code, out, errOut)
	}
	if rec, _ := storedClient(t, dir, "svc"); rec.SecretHash != "" {
		t.Errorf("rotate-secret stored a hash for a private_key_jwt client")
	}
}
