package storage_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"github.com/ory/fosite"
)

// cacheWait bounds every poll for a change to reach another store. Correctness,
// not speed: a notification arrives in milliseconds.
const cacheWait = 5 * time.Second

// migrateURL migrates the database dbURL names.
func migrateURL(tb testing.TB, dbURL string) {
	tb.Helper()
	m, err := storage.NewMigrator(dbURL, 10*time.Second, nil)
	if err != nil {
		tb.Fatalf("migrator for %s: %v", storage.Describe(dbURL), err)
	}
	defer m.Close()
	if _, err := m.Up(context.Background()); err != nil {
		tb.Fatalf("migrate %s: %v", storage.Describe(dbURL), err)
	}
}

// openStore opens a store on the migrated database o.URL with the test secret and
// closes it when tb ends.
func openStore(tb testing.TB, o storage.Options) *storage.Store {
	tb.Helper()
	o.Secrets = []string{storagetest.TestSecret}
	o.MaxOpenConns, o.MaxIdleConns = 10, 10
	if o.Pooler == "" {
		o.Pooler = storage.PoolerNone
	}
	s, err := storage.Open(o)
	if err != nil {
		tb.Fatalf("open %s: %v", storage.Describe(o.URL), err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// newPostgres returns the URL of a new, migrated PostgreSQL database.
func newPostgres(tb testing.TB) string {
	tb.Helper()
	u := storagetest.NewPostgresDatabase(tb)
	migrateURL(tb, u)
	return u
}

// newSQLite returns the URL of a new, migrated SQLite file.
func newSQLite(tb testing.TB) string {
	tb.Helper()
	u := "sqlite:" + filepath.Join(tb.TempDir(), "gatehouse.db")
	migrateURL(tb, u)
	return u
}

// TestPostgresClientCache runs the conformance suite with the client cache on.
func TestPostgresClientCache(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) *storage.Store {
		return openStore(t, storage.Options{URL: newPostgres(t), ClientCacheTTL: time.Hour})
	})
}

// TestSQLiteClientCache runs the conformance suite with the client cache on.
func TestSQLiteClientCache(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) *storage.Store {
		return openStore(t, storage.Options{URL: newSQLite(t), ClientCacheTTL: time.Hour})
	})
}

// createClient stores a confidential client with id.
func createClient(t *testing.T, s *storage.Store, id string) storage.Client {
	t.Helper()
	c, err := s.CreateClient(t.Context(), storage.Client{
		ID: id, Name: "Client " + id, SecretHash: "hash-1",
		RedirectURIs: storage.StringList{"https://app.example/cb"},
		GrantTypes:   storage.StringList{"client_credentials"},
	})
	if err != nil {
		t.Fatalf("CreateClient(%q): %v", id, err)
	}
	return c
}

// lookup returns what s.GetClient answers for id: its secret hash, redirect URIs
// and name, or "not found".
func lookup(t *testing.T, s *storage.Store, id string) string {
	t.Helper()
	c, err := s.GetClient(t.Context(), id)
	if errors.Is(err, fosite.ErrNotFound) {
		return "not found"
	}
	if err != nil {
		t.Fatalf("GetClient(%q): %v", id, err)
	}
	rec := c.(*storage.FositeClient).Record()
	return fmt.Sprintf("secret=%s redirect_uris=%v name=%s", c.GetHashedSecret(), c.GetRedirectURIs(), rec.Name)
}

// waitCached looks id up in s until s caches it: a store with a listener caches
// nothing until the listener, started by the first lookup, is connected.
func waitCached(tb testing.TB, s *storage.Store, id string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cacheWait)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !storage.ClientCached(s, id) {
		if _, err := s.GetClient(ctx, id); err != nil {
			tb.Fatalf("GetClient(%q): %v", id, err)
		}
		select {
		case <-ctx.Done():
			tb.Fatalf("GetClient(%q) did not cache the client within %s (synced: %v)", id, cacheWait, storage.ClientCacheSynced(s))
		case <-tick.C:
		}
	}
}

// waitLookup looks id up in s until the answer is want.
func waitLookup(t *testing.T, s *storage.Store, id, want string) {
	t.Helper()
	waitFor(t, cacheWait, "GetClient("+id+") = "+want, func() (bool, error) {
		return lookup(t, s, id) == want, nil
	})
}

// setNameBehindStore changes the client's name with plain SQL, which announces
// nothing: only a store that does not cache sees it.
func setNameBehindStore(t *testing.T, s *storage.Store, id, name string) {
	t.Helper()
	q := "UPDATE clients SET name = ? WHERE id = ?"
	if s.Dialect() == storage.Postgres {
		q = "UPDATE clients SET name = $1 WHERE id = $2"
	}
	if _, err := s.DB().ExecContext(t.Context(), q, name, id); err != nil {
		t.Fatalf("update client name with SQL: %v", err)
	}
}

// update applies change to the stored client with id through s.
func update(t *testing.T, s *storage.Store, id string, change func(*storage.Client)) {
	t.Helper()
	c, err := s.GetClientRecord(t.Context(), id)
	if err != nil {
		t.Fatalf("GetClientRecord(%q): %v", id, err)
	}
	change(&c)
	if _, err := s.UpdateClient(t.Context(), c); err != nil {
		t.Fatalf("UpdateClient(%q): %v", id, err)
	}
}

// TestClientCacheSeesOtherStore has store b change a client store a has cached,
// on one PostgreSQL database: a's listener evicts it, so a sees every change.
func TestClientCacheSeesOtherStore(t *testing.T) {
	dbURL := newPostgres(t)
	a := openStore(t, storage.Options{URL: dbURL, ClientCacheTTL: time.Hour})
	b := openStore(t, storage.Options{URL: dbURL, ClientCacheTTL: time.Hour})
	createClient(t, b, "app")

	waitCached(t, a, "app")
	before := lookup(t, a, "app")
	setNameBehindStore(t, b, "app", "renamed quietly")
	if got := lookup(t, a, "app"); got != before {
		t.Fatalf("GetClient after a change that announced nothing = %s, want the cached %s", got, before)
	}

	update(t, b, "app", func(c *storage.Client) { c.SecretHash = "hash-2" })
	waitLookup(t, a, "app", "secret=hash-2 redirect_uris=[https://app.example/cb] name=renamed quietly")

	waitCached(t, a, "app")
	update(t, b, "app", func(c *storage.Client) { c.RedirectURIs = storage.StringList{"https://app.example/new"} })
	waitLookup(t, a, "app", "secret=hash-2 redirect_uris=[https://app.example/new] name=renamed quietly")

	waitCached(t, a, "app")
	if err := b.DeleteClient(t.Context(), "app"); err != nil {
		t.Fatalf("DeleteClient: %v", err)
	}
	waitLookup(t, a, "app", "not found")
}

// TestClientCacheSeesOwnWrites checks that a store's own client writes show in its
// next lookup, with no wait, on both dialects.
func TestClientCacheSeesOwnWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", newSQLite},
		{"postgres", newPostgres},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, storage.Options{URL: tc.url(t), ClientCacheTTL: time.Hour})
			createClient(t, s, "app")

			waitCached(t, s, "app")
			update(t, s, "app", func(c *storage.Client) { c.SecretHash = "hash-2" })
			if got, want := lookup(t, s, "app"), "secret=hash-2 redirect_uris=[https://app.example/cb] name=Client app"; got != want {
				t.Errorf("GetClient after UpdateClient = %s, want %s", got, want)
			}

			waitCached(t, s, "app")
			if err := s.DeleteClient(t.Context(), "app"); err != nil {
				t.Fatalf("DeleteClient: %v", err)
			}
			if got := lookup(t, s, "app"); got != "not found" {
				t.Errorf("GetClient after DeleteClient = %s, want not found", got)
			}
			if storage.ClientCached(s, "app") {
				t.Errorf("a client that is not found was cached")
			}
		})
	}
}

// closedPortURL returns dbURL pointing at a loopback port nothing listens on.
func closedPortURL(t *testing.T, dbURL string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

// TestClientCacheWithoutListener checks that a store whose listener cannot connect
// caches nothing: every lookup reads the database, even after a change that
// announced nothing.
func TestClientCacheWithoutListener(t *testing.T) {
	dbURL := newPostgres(t)
	deaf := openStore(t, storage.Options{URL: dbURL, ClientCacheTTL: time.Hour, ListenURL: closedPortURL(t, dbURL)})
	other := openStore(t, storage.Options{URL: dbURL})
	createClient(t, other, "app")

	for i := range 3 {
		lookup(t, deaf, "app")
		update(t, other, "app", func(c *storage.Client) { c.SecretHash = fmt.Sprintf("hash-%d", i+2) })
		name := fmt.Sprintf("quiet %d", i)
		setNameBehindStore(t, other, "app", name)
		want := fmt.Sprintf("secret=hash-%d redirect_uris=[https://app.example/cb] name=%s", i+2, name)
		if got := lookup(t, deaf, "app"); got != want {
			t.Errorf("GetClient #%d without a listener = %s, want %s", i, got, want)
		}
	}
	if storage.ClientCacheSynced(deaf) || storage.ClientCached(deaf, "app") {
		t.Errorf("a store whose listener cannot connect trusts its cache")
	}
}

// TestClientCacheTTLOnly checks the cache where no listener is possible (SQLite):
// another store's change shows once the TTL passes, and not before.
func TestClientCacheTTLOnly(t *testing.T) {
	t.Run("StaleUntilTTL", func(t *testing.T) {
		dbURL := newSQLite(t)
		a := openStore(t, storage.Options{URL: dbURL, ClientCacheTTL: time.Hour})
		b := openStore(t, storage.Options{URL: dbURL})
		createClient(t, b, "app")
		waitCached(t, a, "app")
		update(t, b, "app", func(c *storage.Client) { c.SecretHash = "hash-2" })
		if got, want := lookup(t, a, "app"), "secret=hash-1 redirect_uris=[https://app.example/cb] name=Client app"; got != want {
			t.Errorf("GetClient within the TTL = %s, want the cached %s", got, want)
		}
	})
	t.Run("FreshAfterTTL", func(t *testing.T) {
		dbURL := newSQLite(t)
		a := openStore(t, storage.Options{URL: dbURL, ClientCacheTTL: 20 * time.Millisecond})
		b := openStore(t, storage.Options{URL: dbURL})
		createClient(t, b, "app")
		lookup(t, a, "app")
		update(t, b, "app", func(c *storage.Client) { c.SecretHash = "hash-2" })
		waitLookup(t, a, "app", "secret=hash-2 redirect_uris=[https://app.example/cb] name=Client app")
	})
	t.Run("PoolerWithoutListenURL", func(t *testing.T) {
		// Transaction mode on a direct URL: the store cannot tell, and must not LISTEN.
		s := openStore(t, storage.Options{URL: newPostgres(t), Pooler: storage.PoolerTransaction, ClientCacheTTL: time.Hour})
		if !storage.ClientCacheSynced(s) {
			t.Errorf("a pooled store without ListenURL does not cache")
		}
		createClient(t, s, "app")
		lookup(t, s, "app")
		if !storage.ClientCached(s, "app") || listenerRunning() {
			t.Errorf("a pooled store without ListenURL: cached %v, listener running %v; want cached, no listener",
				storage.ClientCached(s, "app"), listenerRunning())
		}
	})
}

// TestClientCacheOff checks that with a zero TTL every lookup reads the database.
func TestClientCacheOff(t *testing.T) {
	s := openStore(t, storage.Options{URL: newSQLite(t)})
	createClient(t, s, "app")
	lookup(t, s, "app")
	setNameBehindStore(t, s, "app", "renamed quietly")
	if got, want := lookup(t, s, "app"), "secret=hash-1 redirect_uris=[https://app.example/cb] name=renamed quietly"; got != want {
		t.Errorf("GetClient with the cache off = %s, want %s", got, want)
	}
	if storage.ClientCached(s, "app") || storage.ClientCacheSynced(s) {
		t.Errorf("a store with ClientCacheTTL 0 caches")
	}
}

// listenerRunning reports whether any store's listener goroutine runs.
func listenerRunning() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Contains(string(buf), "storage.(*notifier).run")
}

// TestClientCacheCloseStopsListener checks that Close ends the listener goroutine
// and its connection.
func TestClientCacheCloseStopsListener(t *testing.T) {
	s := openStore(t, storage.Options{URL: newPostgres(t), ClientCacheTTL: time.Hour})
	createClient(t, s, "app")
	waitCached(t, s, "app")
	if !listenerRunning() {
		t.Fatalf("no listener goroutine while the cache is synced")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if listenerRunning() {
		t.Errorf("the listener goroutine outlived Close")
	}
}

// BenchmarkGetClientCached measures GetClient answered from the client cache.
func BenchmarkGetClientCached(b *testing.B) { benchmarkGetClient(b, time.Hour) }

// BenchmarkGetClientUncached measures GetClient reading the database, for
// comparison.
func BenchmarkGetClientUncached(b *testing.B) { benchmarkGetClient(b, 0) }

func benchmarkGetClient(b *testing.B, ttl time.Duration) {
	for _, tc := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", newSQLite},
		{"postgres", newPostgres},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := openStore(b, storage.Options{URL: tc.url(b), ClientCacheTTL: ttl})
			ctx := b.Context()
			if _, err := s.CreateClient(ctx, storage.Client{ID: "bench", SecretHash: "hash"}); err != nil {
				b.Fatal(err)
			}
			if ttl > 0 {
				waitCached(b, s, "bench") // the loop below measures cache hits
			}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.GetClient(ctx, "bench"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
