// Package storagetest holds the storage conformance suite that every backend runs,
// and helpers that give each test an isolated, freshly migrated database: SQLite in
// a temporary directory, or a new PostgreSQL database on the server named by
// TEST_DATABASE_URL (or in a dockertest container when that is unset and a Docker
// engine answers). Import it only from _test.go files.
package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ory/dockertest/v3"
	dc "github.com/ory/dockertest/v3/docker"
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
	cases = append(cases, outboxCases()...)
	cases = append(cases, identityCases()...)
	cases = append(cases, corsCases()...)
	cases = append(cases, brandingCases()...)
	cases = append(cases, importCases()...)
	cases = append(cases, federationCases()...)
	cases = append(cases, growthCases()...)
	cases = append(cases, roundTripCases()...)
	cases = append(cases, factorCases()...)
	cases = append(cases, providerCases()...)
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
// dropped when t ends. The server comes from PostgresServerURL; without one the
// test fails when CI is set and is skipped (with instructions) otherwise.
func OpenPostgres(t *testing.T) *storage.Store {
	t.Helper()
	return OpenURL(t, NewPostgresDatabase(t), storage.PoolerNone)
}

// PostgresServerURL returns the PostgreSQL server tests create their databases on:
// TEST_DATABASE_URL when set, else a container started with dockertest when a
// Docker engine answers. With neither it fails the test when CI is set and skips
// it (with instructions) otherwise.
func PostgresServerURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	u, err := dockerPostgres()
	if err == nil {
		return u
	}
	msg := "no PostgreSQL for tests: set TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable (any database the user may CREATE DATABASE from), or make a Docker engine reachable (" + err.Error() + ")"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// errNoDocker means no Docker engine answered.
var errNoDocker = errors.New("no Docker engine answered")

// docker holds the one PostgreSQL container a test binary starts; every test
// gets its own database on it. Tests cannot remove it when the binary ends, so
// the engine does, after dockerLifetime.
var docker struct {
	once sync.Once
	url  string
	err  error
}

// dockerLifetime bounds how long the test container lives.
const dockerLifetime = 20 * time.Minute

func dockerPostgres() (string, error) {
	docker.once.Do(func() { docker.url, docker.err = startDockerPostgres() })
	return docker.url, docker.err
}

func startDockerPostgres() (string, error) {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return "", fmt.Errorf("%w: %v", errNoDocker, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := pool.Client.PingWithContext(ctx); err != nil {
		return "", fmt.Errorf("%w: %v", errNoDocker, err)
	}
	const password = "gatehouse-test"
	res, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: "postgres", Tag: "16-alpine",
		Env: []string{"POSTGRES_PASSWORD=" + password, "POSTGRES_DB=postgres"},
		Cmd: []string{"postgres", "-c", "fsync=off", "-c", "max_connections=200"},
		// Published on loopback only.
		PortBindings: map[dc.Port][]dc.PortBinding{"5432/tcp": {{HostIP: "127.0.0.1", HostPort: "0"}}},
	}, func(hc *dc.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = dc.RestartPolicy{Name: "no"}
	})
	if err != nil {
		return "", fmt.Errorf("start PostgreSQL container: %w", err)
	}
	if err := res.Expire(uint(dockerLifetime / time.Second)); err != nil {
		pool.Purge(res)
		return "", fmt.Errorf("PostgreSQL container: %w", err)
	}
	u := url.URL{
		Scheme: "postgres", User: url.UserPassword("postgres", password),
		Host: res.GetHostPort("5432/tcp"), Path: "/postgres", RawQuery: "sslmode=disable",
	}
	pool.MaxWait = 60 * time.Second
	if err := pool.Retry(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgconn.Connect(ctx, u.String())
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	}); err != nil {
		pool.Purge(res)
		return "", fmt.Errorf("PostgreSQL container did not accept connections: %w", err)
	}
	return u.String(), nil
}

// NewPostgresDatabase creates an empty database on the PostgresServerURL server,
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
	s, err := storage.Open(storage.Options{URL: dbURL, Pooler: pooler, Secrets: []string{TestSecret}, MaxOpenConns: 10, MaxIdleConns: 10})
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
