package storage_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestHotQueriesUseIndexes asks PostgreSQL how it would run each query on a
// request's hot path and fails when no index serves it. Sequential scans are
// switched off for the session so that the plan shows whether an index could
// be used at all: on the near-empty test tables the planner would otherwise
// prefer reading the whole table, which tells nothing about production sizes.
func TestHotQueriesUseIndexes(t *testing.T) {
	s := openStore(t, storage.Options{URL: newPostgres(t)})
	conn, err := s.DB().Conn(t.Context())
	if err != nil {
		t.Fatalf("connection: %v", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "SET enable_seqscan = off"); err != nil {
		t.Fatalf("SET enable_seqscan: %v", err)
	}
	for _, q := range []struct{ name, sql string }{
		{"client by id", `SELECT * FROM clients WHERE id = 'c'`},
		{"access token by signature", `SELECT * FROM access_tokens WHERE signature = 's'`},
		{"access tokens of a request (revocation)", `DELETE FROM access_tokens WHERE request_id = 'r'`},
		{"refresh token rotation", `UPDATE refresh_tokens SET active = false WHERE signature = 's' AND request_id = 'r' AND active = true`},
		{"refresh tokens of a request", `UPDATE refresh_tokens SET active = false WHERE request_id = 'r'`},
		{"authorization code by signature", `UPDATE authorization_codes SET active = false WHERE signature = 's' AND active = true`},
		{"pkce request by signature", `SELECT * FROM pkce_requests WHERE signature = 's'`},
		{"openid connect request by code hash", `SELECT * FROM oidc_requests WHERE signature = 's'`},
		{"par request by signature", `SELECT * FROM par_requests WHERE signature = 's'`},
		{"expired access tokens (sweeper)", `SELECT signature FROM access_tokens WHERE expires_at <= now() LIMIT 100`},
		{"expired refresh tokens (sweeper)", `SELECT signature FROM refresh_tokens WHERE expires_at < now() LIMIT 1000`},
		{"expired authorization codes (sweeper)", `SELECT signature FROM authorization_codes WHERE expires_at < now() LIMIT 1000`},
		{"expired pkce requests (sweeper)", `SELECT signature FROM pkce_requests WHERE expires_at < now() LIMIT 1000`},
		{"expired openid connect requests (sweeper)", `SELECT signature FROM oidc_requests WHERE expires_at < now() LIMIT 1000`},
		{"expired par requests (sweeper)", `SELECT signature FROM par_requests WHERE expires_at < now() LIMIT 1000`},
		{"expired client assertion jtis (sweeper)", `SELECT signature FROM client_assertion_jtis WHERE expires_at < now() LIMIT 1000`},
		{"expired or idle sessions (sweeper)", `SELECT id FROM sessions WHERE expires_at <= now() OR idle_expires_at <= now() LIMIT 1000`},
		{"expired one-time tokens (sweeper)", `SELECT id FROM user_tokens WHERE expires_at <= now() LIMIT 1000`},
		{"tokens of a subject (account revocation)", `SELECT signature FROM access_tokens WHERE subject = 'u' AND client_id = 'c'`},
		{"session by token hash", `SELECT * FROM sessions WHERE token_hash = '\x00' AND expires_at > now() AND idle_expires_at > now()`},
		{"confirmed authenticator app of a session's user", `SELECT 1 FROM user_factors WHERE user_id = '00000000-0000-0000-0000-000000000000' AND kind = 'totp' AND confirmed_at IS NOT NULL`},
		{"account link", `SELECT * FROM accounts WHERE user_id = '00000000-0000-0000-0000-000000000000' AND client_id = 'c'`},
		{"user by id", `SELECT * FROM users WHERE id = '00000000-0000-0000-0000-000000000000'`},
		{"user by e-mail", `SELECT * FROM users WHERE email = 'a@example.com'`},
		{"one-time token by hash", `SELECT * FROM user_tokens WHERE token_hash = '\x00'`},
		{"client assertion jti", `SELECT count(*) FROM client_assertion_jtis WHERE signature = 's' AND expires_at > now()`},
		{"CORS preflight origin", `SELECT 1 FROM client_cors_origins WHERE origin = 'https://a.example' LIMIT 1`},
		{"CORS origins of a client (rewrite)", `DELETE FROM client_cors_origins WHERE client_id = 'c'`},
	} {
		var plan string
		if err := conn.QueryRowContext(t.Context(), "EXPLAIN (FORMAT JSON) "+q.sql).Scan(&plan); err != nil {
			t.Errorf("%s: EXPLAIN: %v", q.name, err)
			continue
		}
		if !usesIndex(t, plan) {
			t.Errorf("%s: no index serves %q; plan: %s", q.name, q.sql, plan)
		}
	}
	// Reads that join what a request needs into one statement (issue 13):
	// every table of them must be read through an index, not only one.
	for _, q := range []struct{ name, sql string }{
		{"session with its user and link (authorize)", `SELECT * FROM sessions s LEFT JOIN users u ON s.user_id = u.id
			LEFT JOIN accounts a ON s.user_id = a.user_id AND a.client_id = 'c'
			WHERE s.token_hash = '\x00' AND s.expires_at > now() AND s.idle_expires_at > now()`},
		{"access token with its subject (userinfo)", `SELECT * FROM access_tokens t LEFT JOIN users u ON u.id =
			CASE WHEN t.subject ~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN t.subject::uuid END
			WHERE t.signature = 's'`},
	} {
		var plan string
		if err := conn.QueryRowContext(t.Context(), "EXPLAIN (FORMAT JSON) "+q.sql).Scan(&plan); err != nil {
			t.Errorf("%s: EXPLAIN: %v", q.name, err)
			continue
		}
		if strings.Contains(plan, `"Seq Scan"`) || !usesIndex(t, plan) {
			t.Errorf("%s: a table of %q is read without an index; plan: %s", q.name, q.sql, plan)
		}
	}
}

// usesIndex reports whether any node of a JSON plan reads through an index.
func usesIndex(t *testing.T, plan string) bool {
	t.Helper()
	var doc []struct{ Plan map[string]any }
	if err := json.Unmarshal([]byte(plan), &doc); err != nil || len(doc) == 0 {
		t.Fatalf("parse plan %s: %v", plan, err)
	}
	var walk func(n map[string]any) bool
	walk = func(n map[string]any) bool {
		if typ, _ := n["Node Type"].(string); strings.Contains(typ, "Index") {
			return true
		}
		kids, _ := n["Plans"].([]any)
		for _, k := range kids {
			if m, ok := k.(map[string]any); ok && walk(m) {
				return true
			}
		}
		return false
	}
	return walk(doc[0].Plan)
}
