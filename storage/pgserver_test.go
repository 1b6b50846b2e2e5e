package storage_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestStartPostgres checks the throwaway server helper itself: scram-sha-256 with
// the right password only, TLS that verify-full accepts against its root
// certificate, and a restart on the same URL after Stop.
func TestStartPostgres(t *testing.T) {
	const password = "s3cret-Pass word"
	srv := storagetest.StartPostgres(t, storagetest.PostgresServerOptions{Password: password, TLS: true})

	diagnose := func(t *testing.T, raw string) (storage.Diagnosis, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		return storage.Diagnose(ctx, storage.Options{URL: raw, Pooler: storage.PoolerNone, ConnectTimeout: 5 * time.Second, MaxOpenConns: 1})
	}

	d, err := diagnose(t, srv.URL())
	if err != nil {
		t.Fatalf("Diagnose(%s): %v", storage.Describe(srv.URL()), err)
	}
	if !d.TLS || d.TLSVersion == "" {
		t.Errorf("Diagnose over sslmode=require: TLS = %v (%q), want on", d.TLS, d.TLSVersion)
	}
	if !strings.HasPrefix(d.ServerVersion, "1") {
		t.Errorf("ServerVersion = %q, want a PostgreSQL version", d.ServerVersion)
	}

	verify := withQuery(t, srv.URL(), "sslmode", "verify-full")
	verify = withQuery(t, verify, "sslrootcert", srv.RootCertFile)
	if _, err := diagnose(t, verify); err != nil {
		t.Errorf("sslmode=verify-full with the server's root certificate: %v", err)
	}

	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("postgres", "wrong")
	wrong := u.String()
	if _, err := diagnose(t, wrong); err == nil {
		t.Errorf("wrong password: connected, want password authentication failed")
	} else if x := storage.ExplainError(err); !strings.Contains(x.Cause, "password authentication failed") {
		t.Errorf("wrong password: cause %q, want password authentication failed (error: %v)", x.Cause, err)
	}

	srv.Stop(t)
	if _, err := diagnose(t, srv.URL()); err == nil {
		t.Fatalf("stopped server: connected, want an error")
	}
	srv.Start(t)
	if _, err := diagnose(t, srv.URL()); err != nil {
		t.Errorf("after restart on the same port: %v", err)
	}
}

func TestStartPostgresTrustNoTLS(t *testing.T) {
	srv := storagetest.StartPostgres(t, storagetest.PostgresServerOptions{})
	if !strings.Contains(srv.URL(), "sslmode=disable") {
		t.Errorf("URL() = %s, want sslmode=disable", srv.URL())
	}
	s := storagetest.OpenURL(t, srv.URL(), storage.PoolerNone)
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	pending, err := s.PendingMigrations(t.Context())
	if err != nil || len(pending) != 0 {
		t.Errorf("PendingMigrations after OpenURL = %v, %v; want none", pending, err)
	}
}

func withQuery(t *testing.T, raw, key, value string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}
