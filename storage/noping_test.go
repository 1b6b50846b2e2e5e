package storage_test

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestIdleConnectionsNotPinged: a pooled connection is reused without a ping
// round trip first (pgx's stdlib pings one idle for over a second, and one it
// has never reset, which cost a client_credentials token 2–4 round trips after
// a pause). A dead idle connection is still survived: reads, and writes the
// server never ran, are retried on a new connection.
func TestIdleConnectionsNotPinged(t *testing.T) {
	ctx := t.Context()
	direct := storagetest.NewPostgresDatabase(t)
	storagetest.OpenURL(t, direct, storage.PoolerNone) // migrates
	proxy := storagetest.StartProxy(t, direct)
	s, err := storage.Open(storage.Options{URL: proxy.URL(), Pooler: storage.PoolerNone, MaxOpenConns: 4, MaxIdleConns: 4,
		Secrets: []string{storagetest.TestSecret}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })

	u, err := s.CreateUser(ctx, storage.User{Email: "idle@example.com"})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	for range 3 {
		if _, err := s.GetUser(ctx, u.ID); err != nil {
			t.Fatalf("GetUser: %v", err)
		}
	}
	if n := proxy.Pings(); n != 0 {
		t.Errorf("the store pinged %d time(s) before reusing an idle connection, want 0", n)
	}

	t.Run("ReadAfterNetworkCut", func(t *testing.T) {
		proxy.Cut() // the idle connections are dead; nobody told the pool
		waitFor(t, 10*time.Second, "the proxy to drop its connections", func() (bool, error) { return proxy.Open() == 0, nil })
		if _, err := s.GetUser(ctx, u.ID); err != nil {
			t.Fatalf("GetUser on a dead idle connection: %v, want it retried on a new one", err)
		}
	})
	t.Run("WriteAfterAdminShutdown", func(t *testing.T) {
		// A Neon suspend or a failover ends the backends with 57P01: the
		// server ran nothing, so even a write is sent again.
		admin := adminConn(t)
		pids, err := backendPIDs(ctx, admin, databaseName(t, direct))
		if err != nil {
			t.Fatal(err)
		}
		for _, pid := range pids {
			if _, err := admin.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.CreateUser(ctx, storage.User{Email: "after-shutdown@example.com"}); err != nil {
			t.Fatalf("CreateUser on a terminated idle connection: %v, want it retried on a new one", err)
		}
	})
	if n := proxy.Pings(); n != 0 {
		t.Errorf("the store pinged %d time(s), want 0", n)
	}
}
