package server_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// throughPgBouncer returns an opener for the databases helper that gives each store
// a new PostgreSQL database reached through one PgBouncer in transaction pool mode,
// started for t: Neon's pooled endpoint, with fewer server connections than the
// store opens. As `gatehouse migrate` does with DATABASE_DIRECT_URL, migrations run
// on the direct URL (their advisory lock outlives a transaction); the store serves
// on the pooled one with storage.PoolerTransaction.
func throughPgBouncer(t *testing.T) func(testing.TB) *storage.Store {
	t.Helper()
	pooler := storagetest.StartPgBouncer(t, storagetest.PostgresServerURL(t))
	return func(tb testing.TB) *storage.Store {
		tb.Helper()
		direct := storagetest.NewPostgresDatabase(tb)
		m, err := storage.NewMigrator(direct, 10*time.Second, nil)
		if err != nil {
			tb.Fatalf("migrator: %v", err)
		}
		defer m.Close()
		if _, err := m.Up(tb.Context()); err != nil {
			tb.Fatalf("migrate on the direct URL: %v", err)
		}
		u, err := url.Parse(direct)
		if err != nil {
			tb.Fatal(err)
		}
		pooled := storagetest.WithDatabase(tb, pooler, strings.TrimPrefix(u.Path, "/"))
		s, err := storage.Open(storage.Options{
			URL: pooled, Pooler: storage.PoolerTransaction, MaxOpenConns: 10, MaxIdleConns: 10,
			Secrets: []string{storagetest.TestSecret},
		})
		if err != nil {
			tb.Fatalf("open through pgbouncer: %v", err)
		}
		tb.Cleanup(func() { s.Close() })
		if !s.Pooled() {
			tb.Fatal("store opened with PoolerTransaction: Pooled() = false")
		}
		return s
	}
}
