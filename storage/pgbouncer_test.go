package storage_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestPgBouncer runs the whole conformance suite through PgBouncer in transaction
// pool mode (Neon's pooled endpoint, with fewer server connections than clients),
// migrating on the direct URL as `gatehouse migrate` does with
// DATABASE_DIRECT_URL.
func TestPgBouncer(t *testing.T) {
	server := storagetest.PostgresServerURL(t)
	pooler := storagetest.StartPgBouncer(t, server)

	t.Run("PoolModeIsTransaction", func(t *testing.T) {
		if got := pgbouncerSetting(t, pooler, "pool_mode"); got != "transaction" {
			t.Fatalf("pgbouncer pool_mode = %q, want transaction", got)
		}
	})

	storagetest.Run(t, func(t *testing.T) *storage.Store {
		t.Helper()
		direct := storagetest.NewPostgresDatabase(t)
		m, err := storage.NewMigrator(direct, 10*time.Second, nil)
		if err != nil {
			t.Fatalf("NewMigrator: %v", err)
		}
		defer m.Close()
		if _, err := m.Up(t.Context()); err != nil {
			t.Fatalf("migrate on the direct URL: %v", err)
		}
		pooled := storagetest.WithDatabase(t, pooler, databaseName(t, direct))
		s, err := storage.Open(storage.Options{
			URL: pooled, Pooler: storage.PoolerTransaction, MaxOpenConns: 10, MaxIdleConns: 10,
			Secrets: []string{storagetest.TestSecret},
		})
		if err != nil {
			t.Fatalf("open through pgbouncer: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		if !s.Pooled() {
			t.Fatalf("store opened with PoolerTransaction: Pooled() = false")
		}
		// Reading the migration state through the pooler takes no lock.
		if pending, err := s.PendingMigrations(t.Context()); err != nil || len(pending) > 0 {
			t.Fatalf("PendingMigrations through pgbouncer = %v, %v; want none", pending, err)
		}
		return s
	})
}

// pgbouncerSetting reads one setting from PgBouncer's admin console (simple
// query protocol only).
func pgbouncerSetting(t *testing.T, pooledURL, key string) string {
	t.Helper()
	admin := storagetest.WithDatabase(t, pooledURL, "pgbouncer")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to the pgbouncer console: %v", err)
	}
	defer conn.Close(ctx)
	res, err := conn.Exec(ctx, "SHOW CONFIG").ReadAll()
	if err != nil {
		t.Fatalf("SHOW CONFIG: %v", err)
	}
	for _, r := range res {
		for _, row := range r.Rows {
			if len(row) >= 2 && string(row[0]) == key {
				return string(row[1])
			}
		}
	}
	t.Fatalf("SHOW CONFIG has no %s", key)
	return ""
}

func databaseName(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(u.Path, "/")
}

// TestPostgresConfigPoolerMode checks how a URL and the pooler setting choose
// pgx's query mode: a Neon "-pooler" host, or an explicit transaction setting,
// means exec mode with no statement cache (no server-side prepared statements
// outlive a transaction in PgBouncer); a direct connection keeps the cache and
// gets the statement timeout as a startup parameter.
func TestPostgresConfigPoolerMode(t *testing.T) {
	const (
		neonPooled = "postgres://alex:secret@ep-cool-darkness-123456-pooler.eu-central-1.aws.neon.tech/neondb?sslmode=require"
		neonDirect = "postgres://alex:secret@ep-cool-darkness-123456.eu-central-1.aws.neon.tech/neondb?sslmode=require"
		local      = "postgres://postgres@127.0.0.1:6432/gatehouse?sslmode=disable"
	)
	for _, tc := range []struct {
		name       string
		url        string
		mode       storage.PoolerMode
		wantPooled bool
	}{
		{"neon pooled host, auto", neonPooled, storage.PoolerAuto, true},
		{"neon pooled host, empty mode means auto", neonPooled, "", true},
		{"neon direct host, auto", neonDirect, storage.PoolerAuto, false},
		{"neon pooled host, forced direct", neonPooled, storage.PoolerNone, false},
		{"local pgbouncer, explicit transaction", local, storage.PoolerTransaction, true},
		{"local, auto", local, storage.PoolerAuto, false},
		{"key=value form with pooler host", "host=ep-x-pooler.us-east-2.aws.neon.tech user=u dbname=d sslmode=require", storage.PoolerAuto, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := storage.PostgresConfig(tc.url, tc.mode, 5*time.Second, 30000)
			if err != nil {
				t.Fatalf("PostgresConfig(%s): %v", storage.Describe(tc.url), err)
			}
			pooled := cfg.DefaultQueryExecMode == pgx.QueryExecModeExec
			if pooled != tc.wantPooled {
				t.Errorf("PostgresConfig(%s, %q): exec mode = %v (mode %v), want %v", storage.Describe(tc.url), tc.mode, pooled, cfg.DefaultQueryExecMode, tc.wantPooled)
			}
			_, timeoutSent := cfg.RuntimeParams["statement_timeout"]
			if tc.wantPooled {
				if cfg.StatementCacheCapacity != 0 || cfg.DescriptionCacheCapacity != 0 {
					t.Errorf("pooled: statement cache %d, description cache %d; want 0, 0", cfg.StatementCacheCapacity, cfg.DescriptionCacheCapacity)
				}
				if timeoutSent {
					t.Errorf("pooled: statement_timeout sent as a startup parameter; PgBouncer refuses it")
				}
			} else if !timeoutSent {
				t.Errorf("direct: statement_timeout not sent as a startup parameter")
			}
			if cfg.ConnectTimeout != 5*time.Second {
				t.Errorf("ConnectTimeout = %v, want 5s", cfg.ConnectTimeout)
			}
		})
	}
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"ep-cool-darkness-123456-pooler.eu-central-1.aws.neon.tech", true},
		{"ep-cool-darkness-123456.eu-central-1.aws.neon.tech", false},
		{"db.example.com", false},
		{"pooler.example.com", false},
		{"my-pooler", true},
		{"127.0.0.1", false},
	} {
		if got := storage.IsPoolerHost(tc.host); got != tc.want {
			t.Errorf("IsPoolerHost(%q) = %v, want %v", tc.host, got, tc.want)
		}
	}
}

// TestPoolKeysRefused: pool_* keys are pgxpool options, which plain pgx would send
// to the server as startup parameters; the server (or PgBouncer) rejects them, so
// Open refuses them up front, without echoing the password.
func TestPoolKeysRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  string
		key  string
	}{
		{"pool_max_conns", "postgres://u:hunter2@127.0.0.1:5432/db?sslmode=disable&pool_max_conns=5", "pool_max_conns"},
		{"pool_min_conns", "postgres://u:hunter2@127.0.0.1:5432/db?pool_min_conns=1", "pool_min_conns"},
		{"pool_max_conn_idle_time", "postgresql://u:hunter2@127.0.0.1/db?pool_max_conn_idle_time=1m", "pool_max_conn_idle_time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := storage.Open(storage.Options{URL: tc.url})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%s) = nil error, want the %s key refused", storage.Describe(tc.url), tc.key)
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Errorf("Open(%s) error %q does not name %s", storage.Describe(tc.url), err, tc.key)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("Open error %q shows the password", err)
			}
			if _, err := storage.PostgresConfig(tc.url, storage.PoolerAuto, 0, 0); err == nil {
				t.Errorf("PostgresConfig(%s) = nil error, want %s refused", storage.Describe(tc.url), tc.key)
			}
		})
	}
	// Ordinary libpq keys pass.
	if _, err := storage.PostgresConfig("postgres://u@127.0.0.1/db?sslmode=disable&application_name=x&connect_timeout=3", storage.PoolerAuto, 0, 0); err != nil {
		t.Errorf("PostgresConfig with libpq keys: %v", err)
	}
}
