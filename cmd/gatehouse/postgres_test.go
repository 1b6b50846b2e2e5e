package main

import (
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// pgEnv is the environment of a serve or migrate against dbURL.
func pgEnv(dbURL string) map[string]string {
	return map[string]string{
		"DATABASE_URL":                       dbURL,
		"GATEHOUSE_SECRETS_SYSTEM":           testSecret,
		"GATEHOUSE_DATABASE_CONNECT_TIMEOUT": "5s",
	}
}

// appliedMigrations counts the rows of schema_migrations per applied version.
func appliedMigrations(t *testing.T, dbURL string) map[int64]int {
	t.Helper()
	s, err := storage.Open(storage.Options{URL: dbURL, Pooler: storage.PoolerNone, MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var exists bool
	if err := s.DB().QueryRowContext(t.Context(), "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatalf("look for schema_migrations: %v", err)
	}
	if !exists {
		return map[int64]int{}
	}
	rows, err := s.DB().QueryContext(t.Context(), "SELECT version_id, count(*) FROM schema_migrations WHERE version_id > 0 AND is_applied GROUP BY version_id")
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	defer rows.Close()
	out := map[int64]int{}
	for rows.Next() {
		var v int64
		var n int
		if err := rows.Scan(&v, &n); err != nil {
			t.Fatal(err)
		}
		out[v] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func knownPostgresVersions(t *testing.T) []int64 {
	t.Helper()
	v, err := storage.KnownVersions(storage.Postgres)
	if err != nil || len(v) == 0 {
		t.Fatalf("KnownVersions(postgres) = %v, %v", v, err)
	}
	return v
}

func TestServeRefusesPendingMigrations(t *testing.T) {
	db := storagetest.NewPostgresDatabase(t)
	r := runCLI(t, pgEnv(db), "serve", "--addr", "127.0.0.1:0", "--admin-addr", "")
	if r.code == 0 {
		t.Fatalf("serve on a database with pending migrations: exit 0, want non-zero\n%s", r.output())
	}
	if !strings.Contains(r.stderr, "migrate up") || !strings.Contains(r.stderr, "--migrate") {
		t.Errorf("serve on pending migrations: stderr %q, want it to say `gatehouse migrate up` or --migrate", r.stderr)
	}
	if got := appliedMigrations(t, db); len(got) != 0 {
		t.Errorf("serve without --migrate applied %v", got)
	}
}

func TestServeMigrate(t *testing.T) {
	db := storagetest.NewPostgresDatabase(t)
	s := startServe(t, pgEnv(db), "--addr", "127.0.0.1:0", "--migrate")
	_, body := waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
	if r := decodeReady(t, body); r.Status != "ready" || r.Checks["database"] != "ok" || r.Checks["schema"] != "ok" {
		t.Errorf("/readyz = %+v, want ready with database and schema ok", r)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("serve after cancel: exit %d, want 0\n%s", code, s.log)
	}
	got := appliedMigrations(t, db)
	for _, v := range knownPostgresVersions(t) {
		if got[v] != 1 {
			t.Errorf("after serve --migrate: version %d applied %d times, want 1", v, got[v])
		}
	}
}

// TestReadyzWaitingForDatabase starts serve while its database is down (a Neon
// compute suspended to zero): /healthz answers, /readyz says what it waits for, and
// once the database is back serve migrates and becomes ready.
func TestReadyzWaitingForDatabase(t *testing.T) {
	pg := storagetest.StartPostgres(t, storagetest.PostgresServerOptions{})
	pg.Stop(t)
	env := pgEnv(pg.URL())
	env["GATEHOUSE_DATABASE_CONNECT_RETRY"] = "5m"
	env["GATEHOUSE_DATABASE_CONNECT_TIMEOUT"] = "2s"
	s := startServe(t, env, "--addr", "127.0.0.1:0", "--migrate")

	waitFor(t, s, "/healthz", 30*time.Second, statusIs(http.StatusOK))
	_, body := waitFor(t, s, "/readyz", 30*time.Second, statusIs(http.StatusServiceUnavailable))
	r := decodeReady(t, body)
	if r.Status != "not ready" || !strings.HasPrefix(r.Checks["database"], "waiting for database") {
		t.Errorf("/readyz while the database is down = %+v, want checks.database \"waiting for database…\"", r)
	}

	pg.Start(t)
	_, body = waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
	if r := decodeReady(t, body); r.Checks["database"] != "ok" || r.Checks["schema"] != "ok" {
		t.Errorf("/readyz after the database came back = %+v, want database and schema ok", r)
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("serve after cancel: exit %d, want 0\n%s", code, s.log)
	}
}

// TestMigrateConcurrent is three instances running `migrate up` together on one
// empty database: the advisory lock lets each migration apply exactly once.
func TestMigrateConcurrent(t *testing.T) {
	db := storagetest.NewPostgresDatabase(t)
	env := pgEnv(db)
	var wg sync.WaitGroup
	results := make([]cliResult, 3)
	for i := range results {
		wg.Go(func() { results[i] = runCLI(t, env, "migrate", "up") })
	}
	wg.Wait()
	appliedLines := 0
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("migrate up #%d: exit %d\n%s", i, r.code, r.output())
		}
		appliedLines += strings.Count(r.stdout, "applied ")
	}
	known := knownPostgresVersions(t)
	if appliedLines != len(known) {
		t.Errorf("the three runs reported %d applied migrations in all, want %d (each once)", appliedLines, len(known))
	}
	got := appliedMigrations(t, db)
	if len(got) != len(known) {
		t.Errorf("schema_migrations has versions %v, want %v", got, known)
	}
	for _, v := range known {
		if got[v] != 1 {
			t.Errorf("version %d recorded %d times, want once", v, got[v])
		}
	}

	r := runCLI(t, env, "migrate", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "0 pending") {
		t.Fatalf("migrate status: exit %d, stdout %q; want 0 pending\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "migrate", "up")
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to apply") {
		t.Errorf("second migrate up: exit %d, stdout %q; want nothing to apply", r.code, r.stdout)
	}

	newest := known[len(known)-1]
	r = runCLI(t, env, "migrate", "down")
	if r.code != 0 || !strings.Contains(r.stdout, "rolled back "+strconv.FormatInt(newest, 10)) {
		t.Fatalf("migrate down: exit %d, stdout %q; want rolled back %d\n%s", r.code, r.stdout, newest, r.stderr)
	}
	r = runCLI(t, env, "migrate", "status")
	if r.code != 0 || !strings.Contains(r.stdout, "1 pending") || !regexp.MustCompile(`(?m)^0*`+strconv.FormatInt(newest, 10)+`\s+pending`).MatchString(r.stdout) {
		t.Errorf("migrate status after down: exit %d, stdout %q; want version %d pending", r.code, r.stdout, newest)
	}
}

func TestMigrateEmbedded(t *testing.T) {
	dataDir := t.TempDir()
	r := runCLI(t, nil, "migrate", "up", "--data-dir", dataDir)
	if r.code != 0 || !strings.Contains(r.stdout, "applied ") {
		t.Fatalf("migrate up on SQLite: exit %d\n%s", r.code, r.output())
	}
	r = runCLI(t, nil, "migrate", "status", "--data-dir", dataDir)
	if r.code != 0 || !strings.Contains(r.stdout, "0 pending") {
		t.Errorf("migrate status on SQLite: exit %d, stdout %q; want 0 pending", r.code, r.stdout)
	}
}

// dbCheckRows are the rows db check prints for a working connection.
var dbCheckRows = []string{"host:", "database:", "tls:", "server:", "round trip:", "migrations:", "status: OK"}

// squeeze collapses runs of spaces, so assertions do not depend on column widths.
func squeeze(s string) string { return regexp.MustCompile(` +`).ReplaceAllString(s, " ") }

func TestDBCheckLocal(t *testing.T) {
	db := storagetest.NewPostgresDatabase(t)
	env := pgEnv(db)
	env["DATABASE_DIRECT_URL"] = db
	r := runCLI(t, env, "db", "check")
	if r.code != 0 {
		t.Fatalf("db check: exit %d\n%s", r.code, r.output())
	}
	for _, want := range append(dbCheckRows, "direct (migrations):", "connection: direct", "tls: off", "pending") {
		if !strings.Contains(squeeze(r.stdout), want) {
			t.Errorf("db check output lacks %q:\n%s", want, r.stdout)
		}
	}
	u, _ := url.Parse(db)
	if !strings.Contains(r.stdout, u.Host) || !strings.Contains(r.stdout, strings.TrimPrefix(u.Path, "/")) {
		t.Errorf("db check output does not name host %s and database %s:\n%s", u.Host, u.Path, r.stdout)
	}
}

func TestDBCheckEmbedded(t *testing.T) {
	r := runCLI(t, nil, "db", "check", "--data-dir", t.TempDir())
	if r.code != 0 || !strings.Contains(r.stdout, "SQLite") {
		t.Errorf("db check on the embedded default: exit %d\n%s", r.code, r.output())
	}
}

// TestDBCheckFailures covers the failures an operator meets: each exits non-zero and
// names the cause and the fix, and no password is ever printed.
func TestDBCheckFailures(t *testing.T) {
	const password = "Corr3ct-Horse-battery"
	server := storagetest.PostgresServerURL(t)
	pg := storagetest.StartPostgres(t, storagetest.PostgresServerOptions{Password: password, TLS: true})
	withPassword := func(raw, pw string) string {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		u.User = url.UserPassword("postgres", pw)
		return u.String()
	}
	closed := closedPort(t)

	for _, tc := range []struct {
		name      string
		url       string
		secret    string // must not appear in the output
		wantCode  int
		wantLines []string
	}{
		{"connection refused", "postgres://app:" + password + "@127.0.0.1:" + closed + "/gatehouse?sslmode=disable", password, 1,
			[]string{"status: FAILED", "connection refused", "listen_addresses"}},
		{"unknown host", "postgres://app:" + password + "@db.gatehouse.invalid:5432/gatehouse?sslmode=verify-full", password, 1,
			[]string{"FAILED", "host not found", "typos"}},
		{"wrong password", withPassword(pg.URL(), "Wr0ng-Horse-battery"), "Wr0ng-Horse-battery", 1,
			[]string{"FAILED", "password authentication failed", "percent-encoded"}},
		{"database does not exist", storagetest.WithDatabase(t, server, "gatehouse_no_such_db"), "", 1,
			[]string{"FAILED", "database does not exist", "CREATE DATABASE"}},
		{"TLS required by a server that has none", tlsRequired(t), "", 1,
			[]string{"FAILED", "TLS not supported"}},
		{"sslmode=require works and recommends verify-full", pg.URL(), password, 0,
			[]string{"status: OK", "tls: on (TLS", "sslmode: require", "use sslmode=verify-full"}},
		{"sslmode=verify-full with the server's CA", withQuery(t, pg.URL(), "sslmode", "verify-full", "sslrootcert", pg.RootCertFile), password, 0,
			[]string{"status: OK", "sslmode: verify-full", "tls: on (TLS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, map[string]string{"DATABASE_URL": tc.url, "GATEHOUSE_DATABASE_CONNECT_TIMEOUT": "5s"}, "db", "check")
			if r.code != tc.wantCode {
				t.Errorf("db check: exit %d, want %d\n%s", r.code, tc.wantCode, r.output())
			}
			for _, want := range tc.wantLines {
				if !strings.Contains(squeeze(r.stdout), want) {
					t.Errorf("db check output lacks %q:\n%s", want, r.stdout)
				}
			}
			if tc.secret != "" && strings.Contains(r.output(), tc.secret) {
				t.Errorf("db check printed the password:\n%s", r.output())
			}
			if strings.Contains(r.output(), password) {
				t.Errorf("db check printed the server's password:\n%s", r.output())
			}
		})
	}
}

// tlsRequired starts a server without TLS and returns its URL with sslmode=require.
// (The shared test server may well have ssl on, as Debian's default cluster does.)
func tlsRequired(t *testing.T) string {
	t.Helper()
	pg := storagetest.StartPostgres(t, storagetest.PostgresServerOptions{})
	return withQuery(t, pg.URL(), "sslmode", "require")
}

// withQuery sets query parameters (key, value pairs) on raw.
func withQuery(t *testing.T, raw string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	return port
}
