package storage_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // the "sqlite" database/sql driver, for raw connections
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestIsUnavailable walks the failures that mean "the database cannot serve
// now" (answered 503 with Retry-After) and some that do not (the request's or
// the code's fault), with real errors from PostgreSQL and SQLite wherever a test
// can cause them, and built ones (disk full, out of memory) where it cannot.
func TestIsUnavailable(t *testing.T) {
	pg := func(code string) error {
		return fmt.Errorf("create user: %w", &pgconn.PgError{Severity: "ERROR", Code: code, Message: "test"})
	}
	for _, tc := range []struct {
		name        string
		err         func(t *testing.T) error
		unavailable bool
		refused     bool
	}{
		{"postgres: read-only database (25006)", pgReadOnlyWrite, true, true},
		{"postgres: too many connections (53300)", pgTooManyConnections, true, false},
		{"postgres: administrator shutdown mid-transaction (57P01)", pgAdminShutdown, true, false},
		{"postgres: connection refused", pgRefused, true, false},
		{"postgres: statement_timeout (57014)", pgStatementTimeout, true, false},
		{"postgres: pool exhausted (ErrBusy)", pgPoolExhausted, true, false},
		{"postgres: invalid byte sequence (22021) is the input's fault", pgInvalidByteSequence, false, false},
		{"postgres: unique violation is a conflict", pgUniqueViolation, false, false},
		{"postgres: disk full (53100, raised by the server)", pgRaises("53100"), true, true},
		{"postgres: out of memory (53200, raised by the server)", pgRaises("53200"), true, false},
		{"postgres: hot standby (25006, built)", func(*testing.T) error { return pg("25006") }, true, true},
		{"postgres: disk full (53100, built)", func(*testing.T) error { return pg("53100") }, true, true},
		{"postgres: out of memory (53200, built)", func(*testing.T) error { return pg("53200") }, true, false},
		{"postgres: insufficient resources (53000, built)", func(*testing.T) error { return pg("53000") }, true, false},
		{"postgres: I/O error (58030, built)", func(*testing.T) error { return pg("58030") }, true, false},
		{"postgres: cannot connect now (57P03, built)", func(*testing.T) error { return pg("57P03") }, true, false},
		{"postgres: idle session timeout (57P05, built)", func(*testing.T) error { return pg("57P05") }, true, false},
		{"postgres: syntax error (42601, built)", func(*testing.T) error { return pg("42601") }, false, false},
		{"sqlite: read-only connection (SQLITE_READONLY)", sqliteReadOnlyWrite, true, true},
		{"sqlite: full (SQLITE_FULL)", sqliteFullWrite, true, true},
		{"sqlite: busy (SQLITE_BUSY)", sqliteBusyWrite, true, false},
		{"sqlite: locked (SQLITE_LOCKED)", sqliteLockedDrop, true, false},
		{"sqlite: pool exhausted (ErrBusy)", sqlitePoolExhausted, true, false},
		{"sqlite: constraint is a conflict", sqliteUniqueViolation, false, false},
		{"network: EOF", func(*testing.T) error { return fmt.Errorf("read: %w", io.ErrUnexpectedEOF) }, true, false},
		{"network: reset", func(*testing.T) error {
			return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
		}, true, false},
		{"not found", func(*testing.T) error { return fmt.Errorf("get user: %w", storage.ErrNotFound) }, false, false},
		{"conflict", func(*testing.T) error { return fmt.Errorf("create user: %w", storage.ErrConflict) }, false, false},
		{"caller cancelled", func(*testing.T) error { return context.Canceled }, false, false},
		{"nil", func(*testing.T) error { return nil }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err(t)
			t.Logf("error: %v", err)
			if got := storage.IsUnavailable(err); got != tc.unavailable {
				t.Errorf("IsUnavailable(%v) = %v, want %v", err, got, tc.unavailable)
			}
			if got := storage.IsWriteRefused(err); got != tc.refused {
				t.Errorf("IsWriteRefused(%v) = %v, want %v", err, got, tc.refused)
			}
		})
	}
}

// execAdmin runs statements on the test server as its superuser.
func execAdmin(t *testing.T, stmts ...string) {
	t.Helper()
	admin := adminConn(t)
	for _, q := range stmts {
		if _, err := admin.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// readOnlyPostgres returns a store on a new database whose transactions are all
// read-only, as on a hot standby.
func readOnlyPostgres(t *testing.T) *storage.Store {
	t.Helper()
	direct := storagetest.NewPostgresDatabase(t)
	storagetest.OpenURL(t, direct, storage.PoolerNone) // migrates
	execAdmin(t, "ALTER DATABASE "+databaseName(t, direct)+" SET default_transaction_read_only = on")
	// A new store: the setting applies to new sessions.
	return storagetest.OpenURL(t, direct, storage.PoolerNone)
}

func pgReadOnlyWrite(t *testing.T) error {
	s := readOnlyPostgres(t)
	_, err := s.CreateUser(t.Context(), storage.User{Email: "ro@example.com"})
	return err
}

// pgRaises returns the error of a user insert that the server refuses with
// sqlstate, raised by a trigger: what PostgreSQL sends for a full disk or
// exhausted memory, which a test cannot cause.
func pgRaises(sqlstate string) func(t *testing.T) error {
	return func(t *testing.T) error {
		direct := storagetest.NewPostgresDatabase(t)
		s := storagetest.OpenURL(t, direct, storage.PoolerNone)
		refuseInserts(t, direct, sqlstate)
		_, err := s.CreateUser(t.Context(), storage.User{Email: "refused@example.com"})
		return err
	}
}

func pgTooManyConnections(t *testing.T) error {
	direct := storagetest.NewPostgresDatabase(t)
	role := "gatehouse_limited_" + strings.TrimPrefix(databaseName(t, direct), "gatehouse_test_")
	execAdmin(t, "CREATE ROLE "+role+" LOGIN CONNECTION LIMIT 0")
	t.Cleanup(func() { adminConn(t).ExecContext(context.Background(), "DROP ROLE IF EXISTS "+role) })
	u, _ := url.Parse(direct)
	u.User = url.User(role)
	s, err := storage.Open(storage.Options{URL: u.String(), Pooler: storage.PoolerNone})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return s.Ping(t.Context())
}

func pgAdminShutdown(t *testing.T) error {
	direct := storagetest.NewPostgresDatabase(t)
	s := storagetest.OpenURL(t, direct, storage.PoolerNone)
	ctx := t.Context()
	txCtx, err := s.BeginTX(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Rollback(txCtx)
	if _, err := s.ListUsers(txCtx, storage.ListUsersOptions{}); err != nil {
		t.Fatal(err)
	}
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
	// Inside a transaction nothing is retried: the error reaches the caller.
	_, err = s.ListUsers(txCtx, storage.ListUsersOptions{})
	return err
}

func pgRefused(t *testing.T) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s, err := storage.Open(storage.Options{URL: "postgres://postgres@" + addr + "/x?sslmode=disable", Pooler: storage.PoolerNone})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	return s.Ping(t.Context())
}

func pgStatementTimeout(t *testing.T) error {
	direct := storagetest.NewPostgresDatabase(t)
	s, err := storage.Open(storage.Options{URL: direct, Pooler: storage.PoolerNone, StatementTimeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.DB().ExecContext(t.Context(), "SELECT pg_sleep(5)")
	return err
}

func pgPoolExhausted(t *testing.T) error {
	direct := storagetest.NewPostgresDatabase(t)
	storagetest.OpenURL(t, direct, storage.PoolerNone)
	return poolExhausted(t, direct)
}

// poolExhausted holds the only connection of a store's pool and returns the
// error of a read that waits for it past the wait timeout.
func poolExhausted(t *testing.T, dbURL string) error {
	s, err := storage.Open(storage.Options{URL: dbURL, Pooler: storage.PoolerNone, MaxOpenConns: 1, WaitTimeout: 100 * time.Millisecond,
		Secrets: []string{storagetest.TestSecret}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	held, err := s.DB().Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	_, err = s.ListUsers(t.Context(), storage.ListUsersOptions{})
	if !errors.Is(err, storage.ErrBusy) {
		t.Errorf("ListUsers with the pool held = %v, want ErrBusy", err)
	}
	return err
}

func pgInvalidByteSequence(t *testing.T) error {
	direct := storagetest.NewPostgresDatabase(t)
	s := storagetest.OpenURL(t, direct, storage.PoolerNone)
	// Straight to the database, past the store's own checks.
	_, err := s.DB().ExecContext(t.Context(), "SELECT $1::text", "a\x00b")
	if err == nil {
		t.Fatal("PostgreSQL took a NUL byte")
	}
	return err
}

func pgUniqueViolation(t *testing.T) error {
	s := storagetest.OpenPostgres(t)
	if _, err := s.CreateUser(t.Context(), storage.User{Email: "twice@example.com"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.DB().ExecContext(t.Context(), "INSERT INTO users (id, email, created_at, updated_at) SELECT gen_random_uuid(), email, now(), now() FROM users")
	return err
}

// sqliteURL returns a migrated SQLite file's URL with extra pragmas.
func sqliteURL(t *testing.T, pragmas ...string) (base, pragmaURL string) {
	t.Helper()
	base = "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")
	storagetest.OpenURL(t, base, storage.PoolerNone) // migrates
	return base, withPragmas(base, pragmas...)
}

func openSQLite(t *testing.T, dbURL string, o storage.Options) *storage.Store {
	t.Helper()
	o.URL, o.Secrets = dbURL, []string{storagetest.TestSecret}
	s, err := storage.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sqliteReadOnlyWrite(t *testing.T) error {
	_, ro := sqliteURL(t, "query_only(1)")
	_, err := openSQLite(t, ro, storage.Options{}).CreateUser(t.Context(), storage.User{Email: "ro@example.com"})
	return err
}

// fullSQLite returns a store on a SQLite file that cannot grow by a page, with
// one user created before it filled up.
func fullSQLite(t *testing.T) (*storage.Store, storage.User) {
	t.Helper()
	base, _ := sqliteURL(t)
	s := openSQLite(t, base, storage.Options{})
	u, err := s.CreateUser(t.Context(), storage.User{Email: "before@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := s.DB().QueryRowContext(t.Context(), "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	s.Close()
	full := withPragmas(base, fmt.Sprintf("max_page_count(%d)", pages))
	return openSQLite(t, full, storage.Options{}), u
}

// withPragmas returns a SQLite URL with extra pragmas.
func withPragmas(base string, pragmas ...string) string {
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	return base + "?" + q.Encode()
}

func sqliteFullWrite(t *testing.T) error {
	s, _ := fullSQLite(t)
	return fillUp(t, s)
}

// fillUp creates users with long names until the store refuses, and returns
// its error.
func fillUp(t *testing.T, s *storage.Store) error {
	t.Helper()
	long := strings.Repeat("n", 3000)
	for i := range 1000 {
		if _, err := s.CreateUser(t.Context(), storage.User{Email: fmt.Sprintf("fill%d@example.com", i), Name: long}); err != nil {
			return err
		}
	}
	t.Fatal("a SQLite file with max_page_count took 1000 users")
	return nil
}

// rawSQLite opens the SQLite file of base with the driver alone.
func rawSQLite(t *testing.T, base string, pragmas ...string) *sql.DB {
	t.Helper()
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(base, "sqlite:")+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func sqliteBusyWrite(t *testing.T) error {
	base, _ := sqliteURL(t)
	holder := rawSQLite(t, base)
	ctx := t.Context()
	conn, err := holder.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "ROLLBACK")
	other := rawSQLite(t, base, "busy_timeout(0)")
	_, err = other.ExecContext(ctx, "BEGIN IMMEDIATE")
	if err == nil {
		t.Fatal("a second writer got past BEGIN IMMEDIATE")
	}
	return err
}

func sqliteLockedDrop(t *testing.T) error {
	base, _ := sqliteURL(t)
	db := rawSQLite(t, base)
	ctx := t.Context()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "CREATE TABLE scratch (n INTEGER); INSERT INTO scratch VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	// A statement still reading a table locks it against DROP on the same
	// connection.
	rows, err := conn.QueryContext(ctx, "SELECT n FROM scratch")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	rows.Next()
	_, err = conn.ExecContext(ctx, "DROP TABLE scratch")
	if err == nil {
		t.Fatal("DROP TABLE succeeded under an open cursor")
	}
	return err
}

func sqlitePoolExhausted(t *testing.T) error {
	base, _ := sqliteURL(t)
	return poolExhausted(t, base)
}

func sqliteUniqueViolation(t *testing.T) error {
	s := storagetest.OpenSQLite(t)
	if _, err := s.CreateUser(t.Context(), storage.User{Email: "twice@example.com"}); err != nil {
		t.Fatal(err)
	}
	_, err := s.DB().ExecContext(t.Context(), "INSERT INTO users (id, email, created_at, updated_at) SELECT 'x', email, '2026-01-01', '2026-01-01' FROM users")
	return err
}

// TestFailuresLogNothing: a statement that fails (a refused write, a lost
// connection retried, a wait past the timeout) is the caller's error to report,
// once, on the request's access-log line: the store itself writes no line at
// info level or above for it (it wrote one at ERROR per statement and per
// retry). At debug level it still tells.
func TestFailuresLogNothing(t *testing.T) {
	direct := storagetest.NewPostgresDatabase(t)
	storagetest.OpenURL(t, direct, storage.PoolerNone) // migrates
	proxy := storagetest.StartProxy(t, direct)
	var logs strings.Builder
	var debug strings.Builder
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := storage.Open(storage.Options{URL: proxy.URL(), Pooler: storage.PoolerNone, MaxOpenConns: 2, WaitTimeout: 200 * time.Millisecond,
		Secrets: []string{storagetest.TestSecret}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	if _, err := s.CreateUser(ctx, storage.User{Email: "taken@example.com"}); err != nil {
		t.Fatal(err)
	}
	// A conflict, an invalid statement, a refused write.
	if _, err := s.CreateUser(ctx, storage.User{Email: "taken@example.com"}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("CreateUser twice = %v, want ErrConflict", err)
	}
	allow := refuseInserts(t, direct, "53100")
	if _, err := s.CreateUser(ctx, storage.User{Email: "refused@example.com"}); !storage.IsUnavailable(err) {
		t.Fatalf("CreateUser with inserts refused = %v, want unavailable", err)
	}
	allow()
	// The database goes away: every retry fails.
	proxy.Refuse(true)
	proxy.Cut()
	if _, err := s.ListUsers(ctx, storage.ListUsersOptions{}); !storage.IsUnavailable(err) {
		t.Fatalf("ListUsers with the database away = %v, want unavailable", err)
	}
	proxy.Refuse(false)
	if logs.Len() > 0 {
		t.Errorf("the store logged failures at info level or above:\n%s", logs.String())
	}

	debugLog := slog.New(slog.NewJSONHandler(&debug, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := storage.Open(storage.Options{URL: proxy.URL(), Pooler: storage.PoolerNone, Secrets: []string{storagetest.TestSecret}, Logger: debugLog})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.CreateUser(ctx, storage.User{Email: "taken@example.com"}); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("CreateUser twice = %v, want ErrConflict", err)
	}
	if !strings.Contains(debug.String(), "sql statement failed") {
		t.Errorf("at debug level the store did not tell of the failed statement:\n%s", debug.String())
	}
}
