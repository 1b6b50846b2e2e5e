package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// wantReadiness checks CheckReady's verdict and that its database check says
// each of words.
func wantReadiness(t *testing.T, s *storage.Store, ready bool, words ...string) {
	t.Helper()
	r := s.CheckReady(t.Context())
	if r.Ready != ready {
		t.Errorf("CheckReady = ready %v (%v), want %v", r.Ready, r.Checks, ready)
	}
	for _, w := range words {
		if !strings.Contains(r.Checks["database"], w) {
			t.Errorf("CheckReady database check %q, want it to say %q", r.Checks["database"], w)
		}
	}
}

// dbAt returns a pool on dbURL, closed when t ends.
func dbAt(t *testing.T, dbURL string) *sql.DB {
	t.Helper()
	s, err := storage.Open(storage.Options{URL: dbURL, Pooler: storage.PoolerNone, MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.DB()
}

// refuseInserts makes every insert into users fail on the server with sqlstate
// (53100 disk_full, say) until the returned func is called: the error a full
// disk gives, raised by PostgreSQL itself.
func refuseInserts(t *testing.T, dbURL, sqlstate string) (allow func()) {
	t.Helper()
	db := dbAt(t, dbURL)
	for _, q := range []string{
		`CREATE FUNCTION refuse_insert() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused by the test' USING ERRCODE = '` + sqlstate + `'; END $$`,
		`CREATE TRIGGER refuse_insert BEFORE INSERT ON users FOR EACH ROW EXECUTE FUNCTION refuse_insert()`,
	} {
		if _, err := db.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return func() {
		if _, err := db.ExecContext(t.Context(), "DROP TRIGGER refuse_insert ON users"); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReadinessRefusedWrites: /readyz reports a database that refuses writes,
// in words: a read-only setting or standby as the probe finds it, and a write
// the database refused (a full disk) until a write succeeds again, or, with no
// write tried, for 30 seconds.
func TestReadinessRefusedWrites(t *testing.T) {
	t.Run("postgres/read-only", func(t *testing.T) {
		wantReadiness(t, readOnlyPostgres(t), false, "refuses writes", "read-only", "default_transaction_read_only")
	})
	t.Run("sqlite/query-only", func(t *testing.T) {
		_, ro := sqliteURL(t, "query_only(1)")
		wantReadiness(t, openSQLite(t, ro, storage.Options{}), false, "refuses writes", "query_only")
	})
	t.Run("postgres/disk-full", func(t *testing.T) {
		direct := storagetest.NewPostgresDatabase(t)
		s := storagetest.OpenURL(t, direct, storage.PoolerNone)
		u, err := s.CreateUser(t.Context(), storage.User{Email: "before@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		allow := refuseInserts(t, direct, "53100")
		wantReadiness(t, s, true)
		_, err = s.CreateUser(t.Context(), storage.User{Email: "refused@example.com"})
		if !storage.IsWriteRefused(err) {
			t.Fatalf("CreateUser with inserts refused = %v, want a write refusal", err)
		}
		wantReadiness(t, s, false, "refuses writes", "disk is full", "53100")
		// A read succeeding says nothing about writes.
		if _, err := s.GetUser(t.Context(), u.ID); err != nil {
			t.Fatal(err)
		}
		wantReadiness(t, s, false, "disk is full")
		allow()
		if _, err := s.CreateUser(t.Context(), storage.User{Email: "after@example.com"}); err != nil {
			t.Fatal(err)
		}
		wantReadiness(t, s, true)
	})
	t.Run("postgres/refused-in-transaction", func(t *testing.T) {
		direct := storagetest.NewPostgresDatabase(t)
		s := storagetest.OpenURL(t, direct, storage.PoolerNone)
		allow := refuseInserts(t, direct, "53100")
		err := s.InTx(t.Context(), func(ctx context.Context) error {
			_, err := s.CreateUser(ctx, storage.User{Email: "refused@example.com"})
			return err
		})
		if !storage.IsWriteRefused(err) {
			t.Fatalf("InTx with inserts refused = %v, want a write refusal", err)
		}
		wantReadiness(t, s, false, "disk is full")
		// A transaction that only reads commits, and proves nothing.
		if err := s.InTx(t.Context(), func(ctx context.Context) error {
			_, err := s.ListUsers(ctx, storage.ListUsersOptions{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		wantReadiness(t, s, false, "disk is full")
		allow()
		if err := s.InTx(t.Context(), func(ctx context.Context) error {
			_, err := s.CreateUser(ctx, storage.User{Email: "after@example.com"})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		wantReadiness(t, s, true)
	})
	t.Run("sqlite/full", func(t *testing.T) {
		s, u := fullSQLite(t)
		wantReadiness(t, s, true)
		if err := fillUp(t, s); !storage.IsWriteRefused(err) {
			t.Fatalf("filling a SQLite file up = %v, want a write refusal", err)
		}
		wantReadiness(t, s, false, "refuses writes", "disk is full", "SQLITE_FULL")
		// An update in place needs no new page: the database takes writes.
		if err := s.UpdateUserDisabled(t.Context(), u.ID, true); err != nil {
			t.Fatalf("UpdateUserDisabled: %v", err)
		}
		wantReadiness(t, s, true)
	})
	t.Run("sqlite/forgotten-after-window", func(t *testing.T) {
		s, _ := fullSQLite(t)
		if err := fillUp(t, s); !storage.IsWriteRefused(err) {
			t.Fatalf("filling a SQLite file up = %v, want a write refusal", err)
		}
		wantReadiness(t, s, false, "disk is full")
		later := time.Now().Add(31 * time.Second)
		storage.SetClock(s, func() time.Time { return later })
		wantReadiness(t, s, true)
	})
}

// TestReadinessSaturatedPool: with every connection of the pool in use and
// requests failing with ErrBusy, readiness says the pool is saturated (without
// waiting for a connection itself); once a connection is free it is ready.
func TestReadinessSaturatedPool(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"postgres", func(t *testing.T) string {
			direct := storagetest.NewPostgresDatabase(t)
			storagetest.OpenURL(t, direct, storage.PoolerNone)
			return direct
		}},
		{"sqlite", func(t *testing.T) string { base, _ := sqliteURL(t); return base }},
	} {
		t.Run(db.name, func(t *testing.T) {
			s, err := storage.Open(storage.Options{URL: db.url(t), Pooler: storage.PoolerNone, MaxOpenConns: 1,
				WaitTimeout: 100 * time.Millisecond, Secrets: []string{storagetest.TestSecret}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			wantReadiness(t, s, true)
			held, err := s.DB().Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			// Held, but no request has failed for it: not called saturated.
			r := s.CheckReady(t.Context())
			if r.Ready || strings.Contains(r.Checks["database"], "saturated") {
				t.Errorf("CheckReady with the pool held and no request refused = %v, want not ready and not saturated", r.Checks)
			}
			if _, err := s.ListUsers(t.Context(), storage.ListUsersOptions{}); !errors.Is(err, storage.ErrBusy) {
				t.Fatalf("ListUsers with the pool held = %v, want ErrBusy", err)
			}
			wantReadiness(t, s, false, "saturated", "all 1 connections are in use")
			held.Close()
			// Ready again once the connection is back. On a loaded machine
			// one check may outlast the 100 ms bound: poll, with a deadline.
			deadline := time.Now().Add(10 * time.Second)
			for r := s.CheckReady(t.Context()); !r.Ready; r = s.CheckReady(t.Context()) {
				if time.Now().After(deadline) {
					t.Fatalf("CheckReady after the connection came back = %v, want ready", r.Checks)
				}
			}
		})
	}
}
