// Package storagetest holds the storage conformance suite that every backend runs,
// and helpers that give each test an isolated, freshly migrated database: SQLite in
// a temporary directory, or a new PostgreSQL database on the server named by
// TEST_DATABASE_URL. Import it only from _test.go files.
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestSecret is a system secret for tests (32+ characters).
const TestSecret = "test-system-secret-0123456789abcdef-0123456789"

// Case is one conformance test.
type Case struct {
	Name string
	Test func(t *testing.T, s *storage.Store)
}

// Run checks that the store returned by open keeps the contract fosite and our
// handlers rely on. open must return an empty, migrated store.
func Run(t *testing.T, open func(t *testing.T) *storage.Store) {
	var cases []Case
	cases = append(cases, foundationCases()...)
	cases = append(cases, protocolCases()...)
	cases = append(cases, keyCases()...)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) { c.Test(t, open(t)) })
	}
}

// OpenSQLite returns a migrated store on a new SQLite file in t's temp dir.
func OpenSQLite(t *testing.T) *storage.Store {
	t.Helper()
	return OpenURL(t, "sqlite:"+filepath.Join(t.TempDir(), "gatehouse.db"), storage.PoolerNone)
}

// OpenPostgres returns a migrated store on a new, empty PostgreSQL database that is
// dropped when t ends. The server comes from TEST_DATABASE_URL; without it the test
// fails when CI is set and is skipped (with instructions) otherwise.
func OpenPostgres(t *testing.T) *storage.Store {
	t.Helper()
	return OpenURL(t, NewPostgresDatabase(t), storage.PoolerNone)
}

// PostgresServerURL returns TEST_DATABASE_URL, or fails (CI) or skips the test.
func PostgresServerURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	msg := "no PostgreSQL for tests: set TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable (any database the user may CREATE DATABASE from)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// NewPostgresDatabase creates an empty database on the TEST_DATABASE_URL server,
// drops it when t ends, and returns its URL.
func NewPostgresDatabase(t testing.TB) string {
	t.Helper()
	server := PostgresServerURL(t)
	admin, err := storage.Open(storage.Options{URL: server, Pooler: storage.PoolerNone, MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("open %s: %v", storage.Describe(server), err)
	}
	defer admin.Close()
	var b [6]byte
	rand.Read(b[:])
	name := "gatehouse_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.DB().ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database on %s: %v", storage.Describe(server), err)
	}
	t.Cleanup(func() {
		a, err := storage.Open(storage.Options{URL: server, Pooler: storage.PoolerNone, MaxOpenConns: 1})
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer a.Close()
		if _, err := a.DB().ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	return WithDatabase(t, server, name)
}

// WithDatabase returns server's URL with its database replaced by name.
func WithDatabase(t testing.TB, server, name string) string {
	t.Helper()
	u, err := url.Parse(server)
	if err != nil || !strings.HasPrefix(u.Scheme, "postgres") {
		t.Fatalf("TEST_DATABASE_URL must be a postgres:// URL, got %s", storage.Describe(server))
	}
	u.Path = "/" + name
	return u.String()
}

// OpenURL opens url with the test secret, migrates it, and closes it when t ends.
func OpenURL(t testing.TB, dbURL string, pooler storage.PoolerMode) *storage.Store {
	t.Helper()
	m, err := storage.NewMigrator(dbURL, 10*time.Second, nil)
	if err != nil {
		t.Fatalf("migrator for %s: %v", storage.Describe(dbURL), err)
	}
	if _, err := m.Up(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", storage.Describe(dbURL), err)
	}
	m.Close()
	s, err := storage.Open(storage.Options{URL: dbURL, Pooler: pooler, Secrets: []string{TestSecret}, MaxOpenConns: 10})
	if err != nil {
		t.Fatalf("open %s: %v", storage.Describe(dbURL), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// must fails the test on err.
func must(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}
