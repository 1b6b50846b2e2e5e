package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// saturationWait is the wait timeout of the stores these tests saturate: short,
// so that the tests are quick.
const saturationWait = 300 * time.Millisecond

// TestSaturatedPoolFailsFast: when no database connection can be had within
// the wait timeout — PgBouncer's server connections all held by long
// transactions, or every connection of Gatehouse's own pool in use — a token
// request is answered 503 temporarily_unavailable with Retry-After instead of
// hanging, /readyz says the pool is saturated, and both recover once the
// connections are free.
func TestSaturatedPoolFailsFast(t *testing.T) {
	t.Run("pgbouncer pool held", func(t *testing.T) {
		pooler := storagetest.StartPgBouncer(t, storagetest.PostgresServerURL(t))
		direct := storagetest.NewPostgresDatabase(t)
		storagetest.OpenURL(t, direct, storage.PoolerNone) // migrates on the direct URL
		u, _ := url.Parse(direct)
		pooled := storagetest.WithDatabase(t, pooler, strings.TrimPrefix(u.Path, "/"))
		s := openSaturable(t, pooled, storage.PoolerTransaction, 4)
		e := newEnv(t, s)
		svc, secret := e.client(storage.Client{Name: "Batch", GrantTypes: storage.StringList{"client_credentials"}, Scopes: storage.StringList{"api"}})
		wantToken(t, e, svc.ID, secret, http.StatusOK)

		release := holdPgBouncerPool(t, pooled)
		wantToken(t, e, svc.ID, secret, http.StatusServiceUnavailable)
		wantReadyz(t, e, http.StatusServiceUnavailable, "saturated")
		release()
		wantToken(t, e, svc.ID, secret, http.StatusOK)
		wantReadyz(t, e, http.StatusOK, "ok")
	})
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"own pool exhausted/postgres", func(t *testing.T) string { return storagetest.NewPostgresDatabase(t) }},
		{"own pool exhausted/sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db") }},
	} {
		t.Run(db.name, func(t *testing.T) {
			dbURL := db.url(t)
			storagetest.OpenURL(t, dbURL, storage.PoolerNone) // migrates
			s := openSaturable(t, dbURL, storage.PoolerNone, 2)
			e := newEnv(t, s)
			svc, secret := e.client(storage.Client{Name: "Batch", GrantTypes: storage.StringList{"client_credentials"}, Scopes: storage.StringList{"api"}})
			wantToken(t, e, svc.ID, secret, http.StatusOK)

			var held []io.Closer
			for range 2 {
				c, err := s.DB().Conn(t.Context())
				mustf(t, err, "hold a pool connection")
				held = append(held, c)
			}
			wantToken(t, e, svc.ID, secret, http.StatusServiceUnavailable)
			wantReadyz(t, e, http.StatusServiceUnavailable, "saturated: all 2 connections are in use")
			for _, c := range held {
				c.Close()
			}
			wantToken(t, e, svc.ID, secret, http.StatusOK)
			wantReadyz(t, e, http.StatusOK, "ok")
		})
	}
}

// openSaturable opens a store with a short wait timeout and no client cache
// (so that every token request needs the database).
func openSaturable(t *testing.T, dbURL string, pooler storage.PoolerMode, conns int) *storage.Store {
	t.Helper()
	s, err := storage.Open(storage.Options{URL: dbURL, Pooler: pooler, MaxOpenConns: conns, MaxIdleConns: conns,
		WaitTimeout: saturationWait, Secrets: []string{storagetest.TestSecret}})
	mustf(t, err, "open %s", storage.Describe(dbURL))
	t.Cleanup(func() { s.Close() })
	return s
}

// holdPgBouncerPool takes every server connection PgBouncer has for pooled's
// database and user, with transactions left open (transaction pooling keeps a
// server connection for the whole transaction), until release is called.
func holdPgBouncerPool(t *testing.T, pooled string) (release func()) {
	t.Helper()
	const poolSize = 3 // StartPgBouncer's default_pool_size
	var conns []*pgconn.PgConn
	for range poolSize {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		c, err := pgconn.Connect(ctx, pooled)
		mustf(t, err, "connect through pgbouncer")
		_, err = c.Exec(ctx, "BEGIN; SELECT pg_backend_pid()").ReadAll()
		cancel()
		mustf(t, err, "begin a transaction through pgbouncer")
		conns = append(conns, c)
	}
	// One more would now wait in PgBouncer's queue.
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		for _, c := range conns {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			c.Exec(ctx, "ROLLBACK").ReadAll()
			c.Close(ctx)
			cancel()
		}
	}
	t.Cleanup(release)
	return release
}

// wantToken asks for a client_credentials token and wants status; a 503 must be
// temporarily_unavailable with Retry-After. The client's own time-out is long:
// the request must come back by itself.
func wantToken(t *testing.T, e *env, clientID, secret string, want int) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
	mustf(t, err, "token request")
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("token request: %d %s, want %d", resp.StatusCode, body, want)
	}
	if want != http.StatusServiceUnavailable {
		return
	}
	var e2 struct{ Error string }
	if json.Unmarshal(body, &e2) != nil || e2.Error != "temporarily_unavailable" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("token request: %d %s (Retry-After %q), want temporarily_unavailable with Retry-After", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
}

// wantReadyz wants /readyz to answer status with a database check saying words.
func wantReadyz(t *testing.T, e *env, status int, words string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: time.Minute}).Get(e.issuer + "/readyz")
	mustf(t, err, "readyz")
	defer resp.Body.Close()
	var body struct {
		Checks map[string]string `json:"checks"`
	}
	raw, _ := io.ReadAll(resp.Body)
	json.Unmarshal(raw, &body)
	if resp.StatusCode != status || !strings.Contains(body.Checks["database"], words) {
		t.Errorf("/readyz: %d %s, want %d with the database check saying %q", resp.StatusCode, raw, status, words)
	}
}
