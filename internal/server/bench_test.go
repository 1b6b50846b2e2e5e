package server_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// benchStores gives each benchmark a SQLite and, when TEST_DATABASE_URL is set, a
// PostgreSQL store.
func benchStores(b *testing.B, run func(b *testing.B, s *storage.Store)) {
	b.Run("sqlite", func(b *testing.B) {
		run(b, storagetest.OpenURL(b, "sqlite:"+b.TempDir()+"/gatehouse.db", storage.PoolerNone))
	})
	b.Run("postgres", func(b *testing.B) {
		run(b, storagetest.OpenURL(b, storagetest.NewPostgresDatabase(b), storage.PoolerNone))
	})
}

func benchPost(b *testing.B, c *http.Client, target string, form url.Values, user, pass string) {
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(user, pass)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("POST %s: %d", target, resp.StatusCode)
	}
}

// BenchmarkTokenClientCredentials: client authentication, opaque token generation
// and storage, through the HTTP handler.
func BenchmarkTokenClientCredentials(b *testing.B) {
	benchStores(b, func(b *testing.B, s *storage.Store) {
		e := newEnv(b, s)
		c, secret := e.client(storage.Client{Name: "bench", GrantTypes: storage.StringList{"client_credentials"}, ResponseTypes: storage.StringList{}, Scopes: storage.StringList{"bench"}})
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"bench"}}
		hc := e.srv.Client()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				benchPost(b, hc, e.issuer+"/oauth2/token", form, c.ID, secret)
			}
		})
	})
}

// BenchmarkIntrospection of an opaque access token.
func BenchmarkIntrospection(b *testing.B) {
	benchStores(b, func(b *testing.B, s *storage.Store) {
		e := newEnv(b, s)
		c, secret := e.client(storage.Client{Name: "bench", GrantTypes: storage.StringList{"client_credentials"}, ResponseTypes: storage.StringList{}, Scopes: storage.StringList{"bench"}})
		status, _, body := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"bench"}}, c.ID, secret)
		if status != http.StatusOK {
			b.Fatalf("token: %d %v", status, body)
		}
		form := url.Values{"token": {body["access_token"].(string)}}
		hc := e.srv.Client()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				benchPost(b, hc, e.issuer+"/oauth2/introspect", form, c.ID, secret)
			}
		})
	})
}

// BenchmarkClientSecretCompare: the keyed hash that replaces bcrypt for
// server-generated secrets.
func BenchmarkClientSecretCompare(b *testing.B) {
	s := storagetest.OpenURL(b, "sqlite:"+b.TempDir()+"/gatehouse.db", storage.PoolerNone)
	secret := []byte("a-server-generated-secret-of-43-characters-")
	hash := s.Sealer().HashClientSecret(secret)
	b.ReportAllocs()
	for b.Loop() {
		if !s.Sealer().CompareClientSecret(hash, secret) {
			b.Fatal("mismatch")
		}
	}
}

// BenchmarkIDTokenSigning: one signature with each active key, as an ID token or
// JWT access token costs.
func BenchmarkIDTokenSigning(b *testing.B) {
	s := storagetest.OpenURL(b, "sqlite:"+b.TempDir()+"/gatehouse.db", storage.PoolerNone)
	km := keys.New(s, keys.Options{})
	if err := km.EnsureKeys(context.Background()); err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("header.payload"))
	for _, alg := range []string{"RS256", "ES256"} {
		b.Run(alg, func(b *testing.B) {
			k, err := km.Signer(alg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSessionLookup: the browser-session lookup every authorize request makes.
func BenchmarkSessionLookup(b *testing.B) {
	benchStores(b, func(b *testing.B, s *storage.Store) {
		ctx := context.Background()
		u, err := s.CreateUser(ctx, storage.User{Email: "bench@example.com"})
		if err != nil {
			b.Fatal(err)
		}
		now := time.Now()
		hash := sha256.Sum256([]byte("cookie token"))
		if _, err := s.CreateSession(ctx, storage.BrowserSession{TokenHash: hash[:], UserID: u.ID, AuthTime: now, LastSeenAt: now,
			IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.GetSessionByTokenHash(ctx, hash[:], time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
