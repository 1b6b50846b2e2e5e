package storage_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"github.com/jackc/pgx/v5/pgconn"
)

// setURLQuery returns raw with the query key set to value.
func setURLQuery(t *testing.T, raw, key, value string) string {
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

// adminConn is a connection of the test's own to the server, outside the store.
func adminConn(t *testing.T) *sql.DB {
	t.Helper()
	s, err := storage.Open(storage.Options{URL: storagetest.PostgresServerURL(t), Pooler: storage.PoolerNone, MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("open admin connection: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s.DB()
}

// TestPostgresTLS opens a store with sslmode=require against a server with ssl=on
// and checks every connection of the store is encrypted.
func TestPostgresTLS(t *testing.T) {
	ctx := t.Context()
	admin := adminConn(t)
	var ssl string
	if err := admin.QueryRowContext(ctx, "SHOW ssl").Scan(&ssl); err != nil {
		t.Fatalf("SHOW ssl: %v", err)
	}
	if ssl != "on" {
		msg := "the test PostgreSQL server has ssl=off: turn it on (Debian: ssl = on with the snakeoil certificate in postgresql.conf)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	direct := storagetest.NewPostgresDatabase(t)
	tlsURL := setURLQuery(t, direct, "sslmode", "require")
	s := storagetest.OpenURL(t, tlsURL, storage.PoolerNone)

	var encrypted bool
	var version string
	if err := s.DB().QueryRowContext(ctx, "SELECT ssl, coalesce(version, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&encrypted, &version); err != nil {
		t.Fatalf("pg_stat_ssl: %v", err)
	}
	if !encrypted {
		t.Fatalf("sslmode=require: the connection is not encrypted")
	}
	t.Logf("store connection encrypted with %s", version)

	u, err := s.CreateUser(ctx, storage.User{Email: "tls@example.com"})
	if err != nil {
		t.Fatalf("CreateUser over TLS: %v", err)
	}
	if got, err := s.GetUserByEmail(ctx, "TLS@example.com"); err != nil || got.ID != u.ID {
		t.Fatalf("GetUserByEmail over TLS = %v, %v", got.ID, err)
	}
	err = s.InTx(ctx, func(ctx context.Context) error {
		_, err := s.RecordAuthorization(ctx, u.ID, "app", "openid", true, time.Now())
		return err
	})
	if err != nil {
		t.Fatalf("InTx over TLS: %v", err)
	}

	// Every backend the store opened on its database is encrypted.
	var plain, total int
	err = admin.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE NOT s.ssl), count(*)
		FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1`, databaseName(t, direct)).Scan(&plain, &total)
	if err != nil {
		t.Fatal(err)
	}
	if total == 0 || plain != 0 {
		t.Errorf("backends on the store's database: %d of %d unencrypted, want 0 of at least 1", plain, total)
	}

	// require encrypts without checking the certificate; verify-full checks it, and
	// the server's self-signed (snakeoil) certificate is not trusted.
	t.Run("VerifyFullChecksCertificate", func(t *testing.T) {
		verify := setURLQuery(t, direct, "sslmode", "verify-full")
		vs, err := storage.Open(storage.Options{URL: verify, Pooler: storage.PoolerNone, MaxOpenConns: 1, ConnectTimeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer vs.Close()
		err = vs.Ping(ctx)
		if err == nil {
			t.Fatalf("sslmode=verify-full against an untrusted certificate: connected, want a certificate error")
		}
		if !strings.Contains(err.Error(), "certificate") && !strings.Contains(err.Error(), "x509") {
			t.Errorf("sslmode=verify-full error %q, want a certificate error", err)
		}
	})
}

// TestConnectionLoss ends every backend of the store's database the way a Neon
// suspend (or a failover) does, with pg_terminate_backend (SQLSTATE 57P01 on the
// next use), and shows the store's next reads, writes and transactions succeed on
// new connections.
func TestConnectionLoss(t *testing.T) {
	ctx := t.Context()
	direct := storagetest.NewPostgresDatabase(t)
	dbName := databaseName(t, direct)
	s := storagetest.OpenURL(t, direct, storage.PoolerNone)
	admin := adminConn(t)

	u, err := s.CreateUser(ctx, storage.User{Email: "survivor@example.com"})
	if err != nil {
		t.Fatal(err)
	}

	// terminate fills the pool with idle connections used a moment ago (so
	// database/sql will not ping them first), then ends every backend on the
	// database and waits until they are gone.
	terminate := func(t *testing.T) {
		t.Helper()
		const held = 5
		var txs []context.Context
		for range held {
			txCtx, err := s.BeginTX(ctx)
			if err != nil {
				t.Fatalf("BeginTX: %v", err)
			}
			if _, err := s.GetUser(txCtx, u.ID); err != nil {
				t.Fatalf("GetUser: %v", err)
			}
			txs = append(txs, txCtx)
		}
		for _, txCtx := range txs {
			if err := s.Rollback(txCtx); err != nil {
				t.Fatalf("Rollback: %v", err)
			}
		}
		if idle := s.DB().Stats().Idle; idle < held {
			t.Fatalf("pool holds %d idle connections, want at least %d", idle, held)
		}
		// Pick the victims first, then end them one by one: in one statement the
		// planner may call pg_terminate_backend before the datname filter.
		pids, err := backendPIDs(ctx, admin, dbName)
		if err != nil {
			t.Fatal(err)
		}
		if len(pids) < held {
			t.Fatalf("%d backends on the store's database, want at least %d", len(pids), held)
		}
		for _, pid := range pids {
			if _, err := admin.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
				t.Fatalf("pg_terminate_backend(%d): %v", pid, err)
			}
		}
		waitFor(t, 10*time.Second, "backends to exit", func() (bool, error) {
			var left int
			err := admin.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", dbName).Scan(&left)
			return left == 0, err
		})
	}

	t.Run("WriteFirst", func(t *testing.T) {
		terminate(t)
		if _, err := s.CreateUser(ctx, storage.User{Email: "after-write@example.com"}); err != nil {
			t.Fatalf("CreateUser after the backends were terminated: %v", err)
		}
		if _, err := s.GetUserByEmail(ctx, "after-write@example.com"); err != nil {
			t.Fatalf("GetUserByEmail: %v", err)
		}
	})
	t.Run("ReadFirst", func(t *testing.T) {
		terminate(t)
		if _, err := s.GetUser(ctx, u.ID); err != nil {
			t.Fatalf("GetUser after the backends were terminated: %v", err)
		}
		if _, err := s.RecordAuthorization(ctx, u.ID, "app", "openid", true, time.Now()); err != nil {
			t.Fatalf("RecordAuthorization: %v", err)
		}
	})
	t.Run("TransactionFirst", func(t *testing.T) {
		terminate(t)
		err := s.InTx(ctx, func(ctx context.Context) error {
			if _, err := s.CreateUser(ctx, storage.User{Email: "after-tx@example.com"}); err != nil {
				return err
			}
			_, err := s.RecordAuthorization(ctx, u.ID, "app-two", "openid", false, time.Now())
			return err
		})
		if err != nil {
			t.Fatalf("InTx after the backends were terminated: %v", err)
		}
		if _, err := s.GetUserByEmail(ctx, "after-tx@example.com"); err != nil {
			t.Fatalf("GetUserByEmail: %v", err)
		}
	})
	t.Run("BeginTXFirst", func(t *testing.T) {
		// fosite's token endpoint begins its transaction with BeginTX.
		terminate(t)
		txCtx, err := s.BeginTX(ctx)
		if err != nil {
			t.Fatalf("BeginTX after the backends were terminated: %v", err)
		}
		if _, err := s.CreateUser(txCtx, storage.User{Email: "after-begin@example.com"}); err != nil {
			s.Rollback(txCtx)
			t.Fatalf("CreateUser in the transaction: %v", err)
		}
		if err := s.Commit(txCtx); err != nil {
			t.Fatalf("Commit: %v", err)
		}
	})
	t.Run("ConcurrentReads", func(t *testing.T) {
		terminate(t)
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for range 10 {
			wg.Go(func() {
				if _, err := s.GetUser(ctx, u.ID); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("GetUser after the backends were terminated: %v", err)
		}
	})
}

// backendPIDs lists the server processes connected to database name.
func backendPIDs(ctx context.Context, admin *sql.DB, name string) ([]int64, error) {
	rows, err := admin.QueryContext(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = $1", name)
	if err != nil {
		return nil, fmt.Errorf("list backends: %w", err)
	}
	defer rows.Close()
	var pids []int64
	for rows.Next() {
		var pid int64
		if err := rows.Scan(&pid); err != nil {
			return nil, err
		}
		pids = append(pids, pid)
	}
	return pids, rows.Err()
}

// waitFor polls cond until it holds or bound passes.
func waitFor(t *testing.T, bound time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for %s: not within %s", what, bound)
		case <-tick.C:
		}
	}
}

func TestIsConnectionLoss(t *testing.T) {
	pg := func(code string) error { return &pgconn.PgError{Severity: "FATAL", Code: code, Message: "test"} }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"admin shutdown 57P01", pg("57P01"), true},
		{"admin shutdown wrapped", fmt.Errorf("get user: %w", pg("57P01")), true},
		{"crash shutdown 57P02", pg("57P02"), true},
		{"cannot connect now 57P03", pg("57P03"), true},
		{"too many connections 53300", pg("53300"), true},
		{"connection failure 08006", pg("08006"), true},
		{"connection does not exist 08003", pg("08003"), true},
		{"unique violation 23505", pg("23505"), false},
		{"query canceled 57014", pg("57014"), false},
		{"undefined table 42P01", pg("42P01"), false},
		{"invalid uuid 22P02", pg("22P02"), false},
		{"prepared statement does not exist 26000", pg("26000"), false},
		{"bad connection", driver.ErrBadConn, true},
		{"EOF", io.EOF, true},
		{"unexpected EOF", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), true},
		{"not found", storage.ErrNotFound, false},
		{"conflict", fmt.Errorf("create user: %w", storage.ErrConflict), false},
		{"canceled", context.Canceled, false},
		{"plain error", errors.New("syntax error at or near"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := storage.IsConnectionLoss(tc.err); got != tc.want {
				t.Errorf("IsConnectionLoss(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestConcurrentMigrations starts three Migrators on one empty database at once,
// as three instances starting together would: the advisory lock makes each
// migration apply exactly once, and none of them fails.
func TestConcurrentMigrations(t *testing.T) {
	ctx := t.Context()
	direct := storagetest.NewPostgresDatabase(t)
	known, err := storage.KnownVersions(storage.Postgres)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3
	var migrators []*storage.Migrator
	for range n {
		m, err := storage.NewMigrator(direct, 10*time.Second, nil)
		if err != nil {
			t.Fatalf("NewMigrator: %v", err)
		}
		t.Cleanup(func() { m.Close() })
		migrators = append(migrators, m)
	}
	applied := make([][]int64, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, m := range migrators {
		wg.Go(func() {
			<-start
			applied[i], errs[i] = m.Up(ctx)
		})
	}
	close(start)
	wg.Wait()

	var all []int64
	for i := range n {
		if errs[i] != nil {
			t.Errorf("migrator %d: Up: %v", i, errs[i])
		}
		all = append(all, applied[i]...)
	}
	slices.Sort(all)
	if !slices.Equal(all, known) {
		t.Errorf("versions applied by the three migrators together = %v, want each of %v once", all, known)
	}

	s := storagetest.OpenURL(t, direct, storage.PoolerNone)
	rows, err := s.DB().QueryContext(ctx, `SELECT version_id, count(*) FROM schema_migrations
		WHERE version_id > 0 GROUP BY version_id ORDER BY version_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var recorded []int64
	for rows.Next() {
		var v, c int64
		if err := rows.Scan(&v, &c); err != nil {
			t.Fatal(err)
		}
		if c != 1 {
			t.Errorf("schema_migrations has %d rows for version %d, want 1", c, v)
		}
		recorded = append(recorded, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(recorded, known) {
		t.Errorf("schema_migrations versions = %v, want %v", recorded, known)
	}
	if pending, err := s.PendingMigrations(ctx); err != nil || len(pending) != 0 {
		t.Errorf("PendingMigrations = %v, %v; want none", pending, err)
	}
}
