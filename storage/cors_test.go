package storage_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func TestOrigin(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		ok             bool
	}{
		{"https with path", "https://app.example.com/callback?x=1#f", "https://app.example.com", true},
		{"upper case", "HTTPS://App.Example.COM/cb", "https://app.example.com", true},
		{"default https port", "https://app.example.com:443/cb", "https://app.example.com", true},
		{"default http port", "http://localhost:80/cb", "http://localhost", true},
		{"other port", "http://127.0.0.1:5173/cb", "http://127.0.0.1:5173", true},
		{"https on port 80", "https://a.example:80", "https://a.example:80", true},
		{"IPv6 loopback", "http://[::1]:3000/cb", "http://[::1]:3000", true},
		{"origin itself", "https://spa.example.com", "https://spa.example.com", true},
		{"private-use scheme", "com.example.app:/callback", "", false},
		{"custom scheme with host", "myapp://callback", "", false},
		{"user information", "https://u:p@a.example/cb", "", false},
		{"relative", "/callback", "", false},
		{"empty", "", "", false},
		{"invalid UTF-8", "https://a.example\xff/cb", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := storage.Origin(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("Origin(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestCORSOriginBackfill: migration 00011 indexes the origins of the clients that
// exist when it runs, as the store would, and drops the secret hash of
// private_key_jwt and none clients.
func TestCORSOriginBackfill(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"SQLite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "backfill.db") }},
		{"PostgreSQL", func(t *testing.T) string { return storagetest.NewPostgresDatabase(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := storagetest.OpenURL(t, tc.url(t), storage.PoolerNone)
			m, err := s.Migrator()
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			// Roll back to before 00011, however many came after it.
			for {
				st, err := m.Status(ctx)
				if err != nil {
					t.Fatal(err)
				}
				applied := false
				for _, v := range st {
					applied = applied || v.Version == 11 && v.Applied
				}
				if !applied {
					break
				}
				if _, err := m.Down(ctx); err != nil {
					t.Fatalf("migrate down: %v", err)
				}
			}
			insert := func(id, method, secretHash, redirects, origins string) {
				q := fmt.Sprintf(`INSERT INTO clients (id, secret_hash, token_endpoint_auth_method, redirect_uris, post_logout_redirect_uris,
					grant_types, response_types, response_modes, scopes, audience, allowed_cors_origins, created_at, updated_at)
					VALUES ('%s', '%s', '%s', '%s', '[]', '["authorization_code"]', '["code"]', '[]', '["openid"]', '[]', '%s',
					'2026-01-02 03:04:05+00:00', '2026-01-02 03:04:05+00:00')`, id, secretHash, method, redirects, origins)
				if _, err := s.DB().ExecContext(ctx, q); err != nil {
					t.Fatalf("insert client %s: %v", id, err)
				}
			}
			insert("web", "client_secret_basic", "hmac$keep", `["https://App.example.com:443/cb?x=1","http://127.0.0.1:5173","com.example.app:/cb"]`, `["https://cdn.example.net"]`)
			insert("jwt", "private_key_jwt", "hmac$drop", `["https://jwt.example.com/cb"]`, `[]`)
			insert("spa", "none", "hmac$drop", `["https://spa.example.com:8443/cb#"]`, `[]`)
			if _, err := m.Up(ctx); err != nil {
				t.Fatalf("migrate up: %v", err)
			}
			for origin, want := range map[string]bool{
				"https://app.example.com":      true,
				"http://127.0.0.1:5173":        true,
				"https://cdn.example.net":      true,
				"https://jwt.example.com":      true,
				"https://spa.example.com:8443": true,
				"https://app.example.com:443":  false,
				"com.example.app:":             false,
			} {
				got, err := s.CORSOriginAllowed(ctx, origin)
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("after the migration CORSOriginAllowed(%q) = %v, want %v", origin, got, want)
				}
			}
			for id, want := range map[string]string{"web": "hmac$keep", "jwt": "", "spa": ""} {
				c, err := s.GetClientRecord(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if c.SecretHash != want {
					t.Errorf("client %s secret hash = %q after the migration, want %q", id, c.SecretHash, want)
				}
			}
		})
	}
}
