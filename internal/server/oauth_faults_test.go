package server_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// pgProxy is a TCP proxy in front of PostgreSQL that a test can take down (every
// connection is cut and new ones are closed at once, as when a server or a pooler
// goes away) or arm to lose the answer to the next COMMIT: the server commits,
// and the client's connection drops before it hears so.
type pgProxy struct {
	t        testing.TB
	ln       net.Listener
	upstream string

	mu         sync.Mutex
	down       bool
	dropCommit bool
	droppedAt  int // COMMITs whose answer was lost
	conns      map[net.Conn]struct{}
}

// startPgProxy proxies the server of dbURL and returns the proxy and dbURL
// pointing at it.
func startPgProxy(t testing.TB, dbURL string) (*pgProxy, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	mustf(t, err, "parse %s", storage.Describe(dbURL))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	mustf(t, err, "listen")
	p := &pgProxy{t: t, ln: ln, upstream: u.Host, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	u.Host = ln.Addr().String()
	q := u.Query()
	q.Set("sslmode", "disable") // the proxy reads the server's messages
	u.RawQuery = q.Encode()
	return p, u.String()
}

func (p *pgProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.mu.Unlock()
		s, err := net.Dial("tcp", p.upstream)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go func() { io.Copy(s, c); s.Close(); c.Close() }()
		go p.relay(c, s)
	}
}

// relay copies the server's messages (a type byte, a length, the body) to the
// client, and cuts both connections instead of forwarding a COMMIT's
// CommandComplete while armed.
func (p *pgProxy) relay(client, server net.Conn) {
	defer client.Close()
	defer server.Close()
	head := make([]byte, 5)
	for {
		if _, err := io.ReadFull(server, head); err != nil {
			return
		}
		body := make([]byte, int(binary.BigEndian.Uint32(head[1:]))-4)
		if _, err := io.ReadFull(server, body); err != nil {
			return
		}
		if head[0] == 'C' && string(body) == "COMMIT\x00" {
			p.mu.Lock()
			drop := p.dropCommit
			if drop {
				p.dropCommit = false
				p.droppedAt++
			}
			p.mu.Unlock()
			if drop {
				return
			}
		}
		if _, err := client.Write(append(head, body...)); err != nil {
			return
		}
	}
}

// cut closes every proxied connection.
func (p *pgProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// setDown takes the database away (true) or brings it back.
func (p *pgProxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.cut()
	}
}

// loseNextCommitAnswer arms the proxy for one COMMIT.
func (p *pgProxy) loseNextCommitAnswer() {
	p.mu.Lock()
	p.dropCommit = true
	p.mu.Unlock()
}

func (p *pgProxy) lostCommitAnswers() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.droppedAt
}

// adminDB opens a second pool on dbURL for the test's own statements.
func adminDB(t testing.TB, dbURL string) *storage.Store {
	t.Helper()
	s, err := storage.Open(storage.Options{URL: dbURL, Pooler: storage.PoolerNone, MaxOpenConns: 2})
	mustf(t, err, "open admin connection")
	t.Cleanup(func() { s.Close() })
	return s
}

func exec(t testing.TB, db *storage.Store, sql string) {
	t.Helper()
	if _, err := db.DB().ExecContext(context.Background(), sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// killFirstCommit installs a deferred constraint trigger on access_tokens that,
// the first time a transaction inserting an access token commits, terminates
// that transaction's own backend: the COMMIT fails with a lost connection and
// nothing is committed. A sequence makes it fire once; it is reset for each use.
func killFirstCommit(t testing.TB, admin *storage.Store) (arm func(), fired func() bool) {
	t.Helper()
	exec(t, admin, `CREATE SEQUENCE gatehouse_test_kill`)
	exec(t, admin, `CREATE FUNCTION gatehouse_test_kill() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF nextval('gatehouse_test_kill') = 1 THEN
		PERFORM pg_terminate_backend(pg_backend_pid());
	END IF;
	RETURN NULL;
END $$`)
	exec(t, admin, `CREATE CONSTRAINT TRIGGER gatehouse_test_kill AFTER INSERT ON access_tokens
	DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION gatehouse_test_kill()`)
	exec(t, admin, `SELECT setval('gatehouse_test_kill', 100)`) // disarmed
	arm = func() { exec(t, admin, `ALTER SEQUENCE gatehouse_test_kill RESTART WITH 1`) }
	fired = func() bool {
		var n int64
		if err := admin.DB().QueryRowContext(context.Background(), `SELECT last_value FROM gatehouse_test_kill`).Scan(&n); err != nil {
			t.Fatalf("read the kill sequence: %v", err)
		}
		return n >= 1 && n < 100
	}
	return arm, fired
}

// TestRedemptionSurvivesAConnectionKilledAtCommit: the connection of a code
// redemption, and of a refresh rotation, is terminated at its COMMIT. The
// client still gets its tokens in the same response (the whole redemption runs
// in one transaction and is run again), the code is redeemed exactly once, and
// the refresh token family lives on.
func TestRedemptionSurvivesAConnectionKilledAtCommit(t *testing.T) {
	dbURL := storagetest.NewPostgresDatabase(t)
	e := newEnv(t, storagetest.OpenURL(t, dbURL, storage.PoolerNone))
	admin := adminDB(t, dbURL)
	arm, fired := killFirstCommit(t, admin)
	c, secret := e.client(storage.Client{Name: "App"})
	code, verifier := e.codeFor(e.browser(), c, nil)

	arm()
	status, first := e.redeem(c, secret, code, verifier)
	if !fired() {
		t.Fatal("the trigger did not kill the redemption's commit")
	}
	if status != http.StatusOK {
		t.Fatalf("redemption whose commit lost its connection = %d %v, want 200 (run again)", status, first)
	}
	if !strings.Contains(e.logs.String(), `"retried":"connection lost at commit"`) {
		t.Fatal("the request line does not say the redemption was run again")
	}
	if got := e.introspect(first["access_token"].(string), c.ID, secret); got["active"] != true {
		t.Fatalf("the access token answered is not active: %v", got)
	}
	if status, again := e.redeem(c, secret, code, verifier); status != http.StatusBadRequest || again["error"] != "invalid_grant" {
		t.Fatalf("second redemption = %d %v, want invalid_grant", status, again)
	}

	// The replay revoked the family (RFC 6749 §4.1.2): a new one for the refresh part.
	code, verifier = e.codeFor(e.browser(), c, nil)
	_, tokens := e.redeem(c, secret, code, verifier)
	arm()
	status, _, rotated := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens["refresh_token"].(string)}}, c.ID, secret)
	if !fired() {
		t.Fatal("the trigger did not kill the rotation's commit")
	}
	if status != http.StatusOK {
		t.Fatalf("refresh whose commit lost its connection = %d %v, want 200", status, rotated)
	}
	status, _, next := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rotated["refresh_token"].(string)}}, c.ID, secret)
	if status != http.StatusOK {
		t.Fatalf("refresh with the rotated token = %d %v: the family was lost", status, next)
	}
}

// TestRedemptionWhoseCommitAnswerWasLost: the database commits a redemption (or
// a rotation) but the connection drops before the answer arrives. The server
// recognises that its work was committed and answers 200 with the tokens it
// stored.
func TestRedemptionWhoseCommitAnswerWasLost(t *testing.T) {
	proxy, proxied := startPgProxy(t, storagetest.NewPostgresDatabase(t))
	e := newEnv(t, storagetest.OpenURL(t, proxied, storage.PoolerNone))
	c, secret := e.client(storage.Client{Name: "App"})
	code, verifier := e.codeFor(e.browser(), c, nil)

	proxy.loseNextCommitAnswer()
	status, first := e.redeem(c, secret, code, verifier)
	if proxy.lostCommitAnswers() != 1 {
		t.Fatalf("the redemption's COMMIT answer was not dropped (%d dropped)", proxy.lostCommitAnswers())
	}
	if status != http.StatusOK {
		t.Fatalf("redemption committed but unanswered = %d %v, want 200", status, first)
	}
	if n := strings.Count(e.logs.String(), `"retried":"commit answer lost; the tokens were committed"`); n != 1 {
		t.Fatalf("request lines recognising a committed redemption: %d, want 1", n)
	}
	if got := e.introspect(first["access_token"].(string), c.ID, secret); got["active"] != true {
		t.Fatalf("the access token answered is not active: %v", got)
	}

	proxy.loseNextCommitAnswer()
	status, _, rotated := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}, c.ID, secret)
	if proxy.lostCommitAnswers() != 2 {
		t.Fatalf("the rotation's COMMIT answer was not dropped")
	}
	if status != http.StatusOK {
		t.Fatalf("rotation committed but unanswered = %d %v, want 200", status, rotated)
	}
	if status, _, next := e.postForm("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rotated["refresh_token"].(string)}}, c.ID, secret); status != http.StatusOK {
		t.Fatalf("refresh with the answered token = %d %v", status, next)
	}
}

// requestLines returns the log lines that carry request id rid.
func requestLines(logs, rid string) []string {
	var out []string
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"request_id":"`+rid+`"`) {
			out = append(out, l)
		}
	}
	return out
}

// TestOutageIsNeverBlamedOnTheClient: while the database is away, /userinfo
// answers a valid token with 503 and Retry-After (not 401, which makes clients
// throw tokens away), the token endpoint with 503 temporarily_unavailable (never
// the non-standard "error"), and each failed request writes one log line with
// its cause.
func TestOutageIsNeverBlamedOnTheClient(t *testing.T) {
	proxy, proxied := startPgProxy(t, storagetest.NewPostgresDatabase(t))
	e := newEnv(t, storagetest.OpenURL(t, proxied, storage.PoolerNone))
	c, secret := e.client(storage.Client{Name: "App", GrantTypes: storage.StringList{"authorization_code", "refresh_token", "client_credentials"}})
	code, verifier := e.codeFor(e.browser(), c, nil)
	_, tokens := e.redeem(c, secret, code, verifier)
	code2, verifier2 := e.codeFor(e.browser(), c, nil)

	proxy.setDown(true)
	userinfo := func() *http.Request {
		req, _ := http.NewRequest(http.MethodGet, e.issuer+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tokens["access_token"].(string))
		return req
	}
	token := func(form url.Values) func() *http.Request {
		return func() *http.Request {
			req := e.formRequest("/oauth2/token", form)
			req.SetBasicAuth(c.ID, secret)
			return req
		}
	}
	for _, tc := range []struct {
		name string
		req  func() *http.Request
	}{
		{"userinfo", userinfo},
		{"client credentials", token(url.Values{"grant_type": {"client_credentials"}})},
		{"refresh", token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens["refresh_token"].(string)}})},
		{"code", token(url.Values{"grant_type": {"authorization_code"}, "code": {code2}, "redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {verifier2}})},
		{"introspection", func() *http.Request {
			req := e.formRequest("/oauth2/introspect", url.Values{"token": {tokens["access_token"].(string)}})
			req.SetBasicAuth(c.ID, secret)
			return req
		}},
		{"revocation", func() *http.Request {
			req := e.formRequest("/oauth2/revoke", url.Values{"token": {tokens["access_token"].(string)}})
			req.SetBasicAuth(c.ID, secret)
			return req
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req()
			rid := "outage-" + randomHex(6)
			req.Header.Set("X-Request-Id", rid)
			status, hdr, body := e.send(req)
			if status != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || hdr.Get("Retry-After") == "" {
				t.Fatalf("during the outage = %d %v (Retry-After %q), want 503 temporarily_unavailable with Retry-After", status, body, hdr.Get("Retry-After"))
			}
			lines := requestLines(e.logs.String(), rid)
			if len(lines) != 1 || !strings.Contains(lines[0], `"cause"`) {
				t.Fatalf("log lines of the failed request = %d, want 1 with its cause:\n%s", len(lines), strings.Join(lines, "\n"))
			}
		})
	}

	proxy.setDown(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, body := e.send(userinfo())
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("userinfo after the outage = %d %v: the token was lost", status, body)
		}
	}
	if status, body := e.redeem(c, secret, code2, verifier2); status != http.StatusOK {
		t.Fatalf("the code tried during the outage is no longer redeemable: %d %v", status, body)
	}
}

// TestRevocationOnAReadOnlyDatabase: a revocation answers 200 only when the token
// was revoked. On a database that refuses writes it answers 503 and the token stays
// as it was; once writes work again the revocation succeeds.
func TestRevocationOnAReadOnlyDatabase(t *testing.T) {
	dbURL := storagetest.NewPostgresDatabase(t)
	store := storagetest.OpenURL(t, dbURL, storage.PoolerNone)
	e := newEnv(t, store)
	// The setting applies to new sessions of that database, so it is changed from
	// another one.
	admin := adminDB(t, storagetest.PostgresServerURL(t))
	name := strings.TrimPrefix(mustParse(t, dbURL).Path, "/")
	c, secret := e.client(storage.Client{Name: "App", GrantTypes: storage.StringList{"authorization_code", "refresh_token", "client_credentials"}})
	code, verifier := e.codeFor(e.browser(), c, nil)
	_, tokens := e.redeem(c, secret, code, verifier)
	readOnly := func(on bool) {
		v := "off"
		if on {
			v = "on"
		}
		exec(t, admin, "ALTER DATABASE "+name+" SET default_transaction_read_only = "+v)
		// Sessions take the setting when they start: close the pool's idle ones.
		store.DB().SetMaxIdleConns(0)
		store.DB().SetMaxIdleConns(10)
	}
	for _, tc := range []struct{ name, token string }{{"refresh token", tokens["refresh_token"].(string)}, {"access token", tokens["access_token"].(string)}} {
		t.Run(tc.name, func(t *testing.T) {
			readOnly(true)
			status, hdr, body := e.postForm("/oauth2/revoke", url.Values{"token": {tc.token}}, c.ID, secret)
			if status != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || hdr.Get("Retry-After") == "" {
				t.Fatalf("revoke on a read-only database = %d %v, want 503 temporarily_unavailable with Retry-After", status, body)
			}
			if got := e.introspect(tc.token, c.ID, secret); got["active"] != true {
				t.Fatalf("after a failed revocation the token is %v", got)
			}
			// The token endpoint tells the client to try again later: a
			// read-only database is an outage, not a client error or a bug.
			for _, form := range []url.Values{
				{"grant_type": {"refresh_token"}, "refresh_token": {tokens["refresh_token"].(string)}},
				{"grant_type": {"client_credentials"}},
			} {
				status, hdr, body := e.postForm("/oauth2/token", form, c.ID, secret)
				if status != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || hdr.Get("Retry-After") == "" {
					t.Fatalf("%s on a read-only database = %d %v, want 503 temporarily_unavailable with Retry-After", form.Get("grant_type"), status, body)
				}
			}
			readOnly(false)
		})
	}
	if status, _, body := e.postForm("/oauth2/revoke", url.Values{"token": {tokens["refresh_token"].(string)}}, c.ID, secret); status != http.StatusOK {
		t.Fatalf("revoke once writable = %d %v", status, body)
	}
	if got := e.introspect(tokens["access_token"].(string), c.ID, secret); got["active"] != false {
		t.Fatalf("after revocation the access token is %v", got)
	}
}

func mustParse(t testing.TB, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	mustf(t, err, "parse URL")
	return u
}

// TestAuthorizeRedirectsTemporarilyUnavailable: when the database cannot serve an
// authorization request past the client check, the client gets
// error=temporarily_unavailable (RFC 6749 §4.1.2.1), not server_error.
func TestAuthorizeRedirectsTemporarilyUnavailable(t *testing.T) {
	dbURL := storagetest.NewPostgresDatabase(t)
	storagetest.OpenURL(t, dbURL, storage.PoolerNone) // migrates
	store, err := storage.Open(storage.Options{URL: dbURL, Pooler: storage.PoolerNone, Secrets: []string{storagetest.TestSecret},
		WaitTimeout: 500 * time.Millisecond})
	mustf(t, err, "open store")
	t.Cleanup(func() { store.Close() })
	e := newEnv(t, store)
	admin := adminDB(t, dbURL)
	c, _ := e.client(storage.Client{Name: "App"})
	b := e.browser()
	e.codeFor(b, c, nil) // signed in, consent remembered

	// Another session holds the codes table: writing the code waits past the
	// store's wait bound.
	tx, err := admin.DB().BeginTx(t.Context(), nil)
	mustf(t, err, "begin")
	defer tx.Rollback()
	if _, err := tx.ExecContext(t.Context(), "LOCK TABLE authorization_codes IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatalf("lock: %v", err)
	}
	_, challenge := pkce()
	_, loc := e.authorize(b, e.issuer+"/oauth2/authorize?"+url.Values{"client_id": {c.ID}, "response_type": {"code"},
		"redirect_uri": {c.RedirectURIs[0]}, "scope": {"openid"}, "state": {"busy-state-0123"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"}}.Encode())
	if loc == nil || loc.Query().Get("error") != "temporarily_unavailable" || loc.Query().Get("state") != "busy-state-0123" {
		t.Fatalf("authorize while the database cannot serve = %v, want error=temporarily_unavailable with state", loc)
	}
}

var _ = errors.New

// TestClientAssertionReplayCheckDuringAnOutage: when the database cannot say
// whether a client assertion's jti was used, the client is told to try again
// (503), not that its assertion was replayed (401).
func TestClientAssertionReplayCheckDuringAnOutage(t *testing.T) {
	dbURL := storagetest.NewPostgresDatabase(t)
	storagetest.OpenURL(t, dbURL, storage.PoolerNone) // migrates
	store, err := storage.Open(storage.Options{URL: dbURL, Pooler: storage.PoolerNone, Secrets: []string{storagetest.TestSecret},
		WaitTimeout: 500 * time.Millisecond})
	mustf(t, err, "open store")
	t.Cleanup(func() { store.Close() })
	e := newEnv(t, store)
	admin := adminDB(t, dbURL)
	_, makeAssertion := e.keyClient(t, storage.Client{})
	form := func() url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {jwtBearer}, "client_assertion": {makeAssertion()}}
	}

	tx, err := admin.DB().BeginTx(t.Context(), nil)
	mustf(t, err, "begin")
	if _, err := tx.ExecContext(t.Context(), "LOCK TABLE client_assertion_jtis IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatalf("lock: %v", err)
	}
	status, hdr, body := e.postForm("/oauth2/token", form(), "", "")
	tx.Rollback()
	if status != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" || hdr.Get("Retry-After") == "" {
		t.Fatalf("assertion while its jti cannot be checked = %d %v, want 503 temporarily_unavailable", status, body)
	}
	if status, _, body := e.postForm("/oauth2/token", form(), "", ""); status != http.StatusOK {
		t.Fatalf("assertion once the database serves = %d %v", status, body)
	}
}
