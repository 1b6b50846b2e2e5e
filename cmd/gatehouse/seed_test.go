package main

import (
	"database/sql"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// countWhere counts the rows of table matching where on the database at dbURL.
func countWhere(t *testing.T, db *sql.DB, table, where string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM "+table+" WHERE "+where).Scan(&n); err != nil {
		t.Fatalf("count %s where %s: %v", table, where, err)
	}
	return n
}

// TestBenchSeed seeds a PostgreSQL database with `gatehouse bench seed`, checks
// the rows it reports and wrote (expired and live ones, as asked), that it
// refuses to seed again without --reset, that every server scenario of
// `gatehouse bench` still works against the seeded database, and that the
// janitor then deletes every expired seeded token and keeps the live ones.
func TestBenchSeed(t *testing.T) {
	dbURL := storagetest.NewPostgresDatabase(t)
	env := pgEnv(dbURL)
	if r := runCLI(t, env, "migrate", "up"); r.code != 0 {
		t.Fatalf("migrate up: exit %d: %s", r.code, r.output())
	}
	// The token tables' indexes and constraints, as migrated: seeding drops
	// them for the load and must build the same ones again.
	schema := func() string {
		t.Helper()
		db, err := sql.Open("pgx", dbURL)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var def string
		err = db.QueryRowContext(t.Context(), `SELECT string_agg(d, E'\n' ORDER BY d) FROM (
			SELECT pg_get_indexdef(indexrelid) AS d FROM pg_index WHERE indrelid IN ('access_tokens'::regclass, 'refresh_tokens'::regclass)
			UNION ALL SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
			WHERE conrelid IN ('access_tokens'::regclass, 'refresh_tokens'::regclass)) x`).Scan(&def)
		if err != nil {
			t.Fatalf("token tables' indexes: %v", err)
		}
		return def
	}
	migrated := schema()
	if !strings.Contains(migrated, "access_tokens_pkey PRIMARY KEY (signature)") || !strings.Contains(migrated, "access_tokens_request_id_idx") {
		t.Fatalf("token tables' indexes as migrated:\n%s\nwant the primary key and the request_id index", migrated)
	}
	seed := func(args ...string) cliResult {
		t.Helper()
		return runCLI(t, env, append([]string{"bench", "seed", "--tokens", "1000", "--users", "100", "--clients", "20", "--expired-fraction", "0.5"}, args...)...)
	}
	r := seed()
	if r.code != 0 {
		t.Fatalf("bench seed: exit %d: %s", r.code, r.output())
	}
	if want := "seeded 20 clients, 100 users, 800 access tokens and 200 refresh tokens"; !strings.Contains(r.stdout, want) {
		t.Errorf("bench seed output %q, want it to say %q", r.stdout, want)
	}
	for _, want := range []string{"access_tokens", "indexes MB"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("bench seed size report %q lacks %q", r.stdout, want)
		}
	}
	if got := schema(); got != migrated {
		t.Errorf("token tables' indexes and constraints after seeding:\n%s\nwant them as migrated:\n%s", got, migrated)
	}
	if !strings.Contains(r.stderr, "tokens: 1000 of 1000 (100%)") {
		t.Errorf("bench seed progress %q, want a line for the last tenth of the tokens", r.stderr)
	}

	store, err := storage.Open(storage.Options{URL: dbURL, Pooler: storage.PoolerNone, MaxOpenConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	db := store.DB()
	expired := countWhere(t, db, "access_tokens", "expires_at < now()") + countWhere(t, db, "refresh_tokens", "expires_at < now()")
	// 1,000 draws at one half: anything outside 300–700 is a broken generator.
	if expired < 300 || expired > 700 {
		t.Errorf("%d of 1000 seeded tokens expired, want about half", expired)
	}
	liveRefresh := countWhere(t, db, "refresh_tokens", "expires_at > now() + interval '1 day'")
	if liveRefresh == 0 {
		t.Errorf("no live refresh token seeded")
	}
	// Keys as the server writes them: 43-character signatures, UUID request ids
	// and subjects, client_credentials tokens without a subject.
	if n := countWhere(t, db, "access_tokens", "length(signature) <> 43 OR request_id !~ '^[0-9a-f-]{36}$' OR (subject <> '' AND subject !~ '^[0-9a-f-]{36}$')"); n != 0 {
		t.Errorf("%d access tokens with keys unlike the server's", n)
	}
	// Request IDs are UUIDv7 of the issue time, as the server's (internal/oauth).
	if n := countWhere(t, db, "access_tokens", "request_id !~ '^[0-9a-f]{8}-[0-9a-f]{4}-7' OR substr(replace(request_id, '-', ''), 1, 12) <> lpad(to_hex(floor(extract(epoch FROM requested_at) * 1000)::bigint), 12, '0')"); n != 0 {
		t.Errorf("%d access tokens whose request ID is not the UUIDv7 of their issue time", n)
	}
	if n := countWhere(t, db, "access_tokens", "subject = ''"); n != 600 {
		t.Errorf("%d client_credentials access tokens, want 600", n)
	}

	// A second seed without --reset changes nothing.
	r = seed()
	if r.code != 1 || !strings.Contains(r.stderr, "not empty") || !strings.Contains(r.stderr, "--reset") {
		t.Errorf("bench seed on a seeded database: exit %d, %q; want 1 and a pointer to --reset", r.code, r.output())
	}
	if n := countWhere(t, db, "users", "true"); n != 100 {
		t.Errorf("%d users after the refused seed, want 100", n)
	}
	if r := runCLI(t, env, "bench", "seed", "--expired-fraction", "1.5"); r.code != 2 || !strings.Contains(r.stderr, "--expired-fraction") {
		t.Errorf("bench seed --expired-fraction 1.5: exit %d, %q; want 2 naming the flag", r.code, r.output())
	}

	// The server's scenarios work beside the seeded rows.
	addr := "127.0.0.1:" + freePort(t)
	senv := pgEnv(dbURL)
	senv["GATEHOUSE_ISSUER"] = "http://" + addr
	senv["GATEHOUSE_ADMIN_TOKENS"] = benchAdminToken
	senv["GATEHOUSE_JANITOR_INTERVAL"] = "0"
	s := startServe(t, senv, "--addr", addr)
	waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
	results := runBench(t, s, "--scenario", "client-credentials,introspection,authorization-code,get-session",
		"--duration", "1s", "--warmup", "0s", "--concurrency", "2")
	for _, res := range results {
		if res.Requests == 0 || len(res.Errors) > 0 {
			t.Errorf("%s on the seeded database: %d requests, errors %v; want requests and no errors", res.Scenario, res.Requests, res.Errors)
		}
	}
	if len(results) != 4 {
		t.Errorf("%d scenarios ran, want 4", len(results))
	}

	// The janitor deletes the expired seeded tokens in batches and keeps the rest.
	if r := runCLI(t, env, "janitor", "--data-dir", t.TempDir()); r.code != 0 || !strings.Contains(r.stdout, "deleted") {
		t.Fatalf("janitor: exit %d: %s", r.code, r.output())
	}
	if n := countWhere(t, db, "access_tokens", "expires_at < now() - interval '1 minute'") + countWhere(t, db, "refresh_tokens", "expires_at < now() - interval '1 minute'"); n != 0 {
		t.Errorf("%d expired tokens left after the janitor, want none", n)
	}
	if n := countWhere(t, db, "refresh_tokens", "expires_at > now() + interval '1 day'"); n != liveRefresh {
		t.Errorf("%d live refresh tokens after the janitor, want the %d seeded", n, liveRefresh)
	}

	// --reset starts over.
	if r := seed("--reset"); r.code != 0 || !strings.Contains(r.stdout, "seeded 20 clients, 100 users") {
		t.Errorf("bench seed --reset: exit %d: %s", r.code, r.output())
	}
	if n := countWhere(t, db, "users", "true"); n != 100 {
		t.Errorf("%d users after --reset and seeding again, want 100", n)
	}
	if got := schema(); got != migrated {
		t.Errorf("token tables' indexes and constraints after seeding again:\n%s\nwant them as migrated:\n%s", got, migrated)
	}
}

// TestBenchSeedSQLite seeds the embedded SQLite database with INSERTs (no COPY
// there) and reports the counts, without a size table.
func TestBenchSeedSQLite(t *testing.T) {
	env := embeddedEnv(t)
	r := runCLI(t, env, "bench", "seed", "--tokens", "250", "--users", "10", "--clients", "3")
	if r.code != 0 {
		t.Fatalf("bench seed on SQLite: exit %d: %s", r.code, r.output())
	}
	if want := "seeded 3 clients, 10 users, 200 access tokens and 50 refresh tokens"; !strings.Contains(r.stdout, want) {
		t.Errorf("bench seed on SQLite printed %q, want %q", r.stdout, want)
	}
}
