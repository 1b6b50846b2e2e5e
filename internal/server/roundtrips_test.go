package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// roundTripBudgets is the most database round trips each request type may
// take on average once caches are warm (issue 13). A statement, a BEGIN, a
// COMMIT, a statement-cache preparation and a pipelined batch each count as
// one: each is sent and awaited before the next.
var roundTripBudgets = map[string]float64{
	"authorize":       2,
	"authorize again": 2,
	// The session's activity is written at most once a minute, on its own:
	// one more round trip then.
	"authorize, session seen a minute ago": 3,
	"token code":                           2,
	"token refresh":                        2,
	"userinfo":                             1,
	"client_credentials":                   1,
	"introspection":                        1,
	"sign-in":                              3,
}

// roundTripOrder is the order the budgets are reported in.
var roundTripOrder = []string{"authorize", "authorize again", "authorize, session seen a minute ago", "token code", "token refresh", "userinfo", "client_credentials", "introspection", "sign-in"}

// roundTripCounter counts what a store sends, through Options.OnStatement.
type roundTripCounter struct {
	mu    sync.Mutex
	sent  []string
	count int
}

func (c *roundTripCounter) hook(_ context.Context, st storage.Statement) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.count++
	q := st.SQL
	if st.Prepare {
		q = "-- prepare: " + q
	}
	if st.Batch > 0 {
		q = "-- pipelined:\n" + q
	}
	c.sent = append(c.sent, q)
}

// since returns the count and the statements sent since mark.
func (c *roundTripCounter) since(mark int) (int, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count - mark, slices.Clone(c.sent[mark:])
}

func (c *roundTripCounter) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.count
}

// countedStore opens a new migrated PostgreSQL database through url (direct, or
// a pooler's in transaction mode) as cmd/gatehouse does, its client cache on,
// with every statement counted.
func countedStore(t *testing.T, direct, serve string, pooler storage.PoolerMode, c *roundTripCounter) *storage.Store {
	t.Helper()
	m, err := storage.NewMigrator(direct, 10*time.Second, nil)
	mustf(t, err, "migrator")
	_, err = m.Up(t.Context())
	m.Close()
	mustf(t, err, "migrate")
	s, err := storage.Open(storage.Options{URL: serve, Pooler: pooler, MaxOpenConns: 10, MaxIdleConns: 10,
		Secrets: []string{storagetest.TestSecret}, ClientCacheTTL: 30 * time.Second, OnStatement: c.hook})
	mustf(t, err, "open store")
	t.Cleanup(func() { s.Close() })
	return s
}

// TestRoundTripBudgets runs each request type against the real server, pages
// and protocol endpoints on PostgreSQL, directly and through PgBouncer in
// transaction mode, counts the round trips each one takes once the caches are
// warm, and fails when a type takes more than its budget: on a database
// 50 ms away, round trips, not CPU, set the latency.
func TestRoundTripBudgets(t *testing.T) {
	const rounds = 5
	for _, db := range []struct {
		name string
		open func(t *testing.T, c *roundTripCounter) *storage.Store
	}{
		{"postgres", func(t *testing.T, c *roundTripCounter) *storage.Store {
			u := storagetest.NewPostgresDatabase(t)
			return countedStore(t, u, u, storage.PoolerNone, c)
		}},
		{"pgbouncer", func(t *testing.T, c *roundTripCounter) *storage.Store {
			pooler := storagetest.StartPgBouncer(t, storagetest.PostgresServerURL(t))
			direct := storagetest.NewPostgresDatabase(t)
			u, err := url.Parse(direct)
			mustf(t, err, "parse database URL")
			pooled := storagetest.WithDatabase(t, pooler, strings.TrimPrefix(u.Path, "/"))
			s := countedStore(t, direct, pooled, storage.PoolerTransaction, c)
			if !s.Pooled() {
				t.Fatal("store opened with PoolerTransaction: Pooled() = false")
			}
			return s
		}},
	} {
		t.Run(db.name, func(t *testing.T) {
			c := &roundTripCounter{}
			e := newPagesEnv(t, db.open(t, c))
			f := newRoundTripFlow(t, e)
			f.run(c, nil) // warm the client and key caches, the statement caches and the pool
			totals := map[string]int{}
			for range rounds {
				f.run(c, totals)
			}
			var report []string
			for _, name := range roundTripOrder {
				avg := float64(totals[name]) / rounds
				report = append(report, fmt.Sprintf("%s %.1f (budget %g)", name, avg, roundTripBudgets[name]))
				if avg > roundTripBudgets[name] {
					t.Errorf("%s takes %.1f round trips on average, budget %g; the last one sent:\n%s", name, avg, roundTripBudgets[name], strings.Join(f.last[name], "\n"))
				}
			}
			t.Logf("round trips per request on %s: %s", db.name, strings.Join(report, ", "))
			if testing.Verbose() {
				for _, name := range roundTripOrder {
					t.Logf("%s sent, the last time:\n%s", name, strings.Join(f.last[name], "\n"))
				}
			}
		})
	}
}

// roundTripFlow is one signed-in user and one confidential client, and the
// requests whose round trips are counted.
type roundTripFlow struct {
	t        *testing.T
	e        *pagesEnv
	b        *formBrowser
	clientID string
	secret   string
	redirect string
	// last holds each request type's statements, the last time it ran.
	last map[string][]string
}

func newRoundTripFlow(t *testing.T, e *pagesEnv) *roundTripFlow {
	t.Helper()
	client, secret := e.client(storage.Client{Name: "Round trips",
		GrantTypes: storage.StringList{"authorization_code", "refresh_token", "client_credentials"}})
	f := &roundTripFlow{t: t, e: e, clientID: client.ID, secret: secret, redirect: client.RedirectURIs[0], last: map[string][]string{}}
	// Remembered consent, as after a first visit with "remember".
	_, err := e.store.RecordAuthorization(t.Context(), e.user.ID, client.ID, "openid profile email offline_access", true, time.Now())
	mustf(t, err, "record consent")
	return f
}

// measure runs one request and adds its round trips to totals (nil: not
// counted).
func (f *roundTripFlow) measure(c *roundTripCounter, totals map[string]int, name string, request func()) {
	f.t.Helper()
	mark := c.mark()
	request()
	n, sent := c.since(mark)
	f.last[name] = sent
	if totals != nil {
		totals[name] += n
	}
}

// run signs in, authorizes, redeems the code, calls userinfo, refreshes,
// takes a client_credentials token and introspects, checking each answer.
func (f *roundTripFlow) run(c *roundTripCounter, totals map[string]int) {
	t := f.t
	t.Helper()
	f.b = f.e.browser() // a browser without a session, as at a first visit of the day
	page := f.b.get(f.e.issuer + "/signin")
	f.measure(c, totals, "sign-in", func() {
		p := f.b.submit(page, "sign-in", map[string]string{"email": "ada@example.com", "password": pagesPassword})
		if p.status != http.StatusSeeOther {
			t.Fatalf("sign-in: status %d, want 303:\n%s", p.status, p.body)
		}
	})

	// A returning user: the consent was remembered over a minute ago, so the
	// authorization refreshes the link as it issues the code. Right after, the
	// link is fresh and is left alone ("authorize again").
	_, err := f.e.store.RecordAuthorization(t.Context(), f.e.user.ID, f.clientID, "openid profile email offline_access", true, time.Now().Add(-2*time.Minute))
	mustf(t, err, "age the remembered consent")
	f.authorize(c, totals, "authorize")
	f.authorize(c, totals, "authorize again")
	if a, err := f.e.store.GetAccount(t.Context(), f.e.user.ID, f.clientID); err != nil || time.Since(a.LastAuthorizedAt) > time.Minute {
		t.Fatalf("after authorize the link was last authorized at %v (%v), want just now", a.LastAuthorizedAt, err)
	}
	sessions, err := f.e.store.ListUserSessions(t.Context(), f.e.user.ID, time.Now())
	mustf(t, err, "list sessions")
	for _, bs := range sessions {
		mustf(t, f.e.store.TouchSession(t.Context(), bs.ID, time.Now().Add(-2*time.Minute), bs.IdleExpiresAt), "age session")
	}
	verifier, code := f.authorize(c, totals, "authorize, session seen a minute ago")

	var tokens map[string]any
	f.measure(c, totals, "token code", func() {
		tokens = f.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {f.redirect}, "code_verifier": {verifier}})
	})
	access, _ := tokens["access_token"].(string)
	refresh, _ := tokens["refresh_token"].(string)
	if access == "" || refresh == "" || tokens["id_token"] == nil {
		t.Fatalf("code redemption answered %v, want access, refresh and ID tokens", tokens)
	}

	f.measure(c, totals, "userinfo", func() {
		req, _ := http.NewRequest(http.MethodGet, f.e.issuer+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		mustf(t, err, "userinfo")
		defer resp.Body.Close()
		var claims map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&claims); err != nil || resp.StatusCode != http.StatusOK || claims["sub"] != f.e.user.ID {
			t.Fatalf("userinfo: status %d, claims %v (%v), want the user's", resp.StatusCode, claims, err)
		}
	})

	f.measure(c, totals, "token refresh", func() {
		rotated := f.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
		if r, _ := rotated["refresh_token"].(string); r == "" || r == refresh {
			t.Fatalf("refresh answered %v, want a new refresh token", rotated)
		}
	})

	var service string
	f.measure(c, totals, "client_credentials", func() {
		service, _ = f.token(url.Values{"grant_type": {"client_credentials"}})["access_token"].(string)
	})

	f.measure(c, totals, "introspection", func() {
		if got := f.e.introspect(service, f.clientID, f.secret); got["active"] != true {
			t.Fatalf("introspection of a fresh token: %v, want active", got)
		}
	})
}

// authorize asks for a code with PKCE, as the signed-in browser, counted
// as name, and returns the verifier and the code.
func (f *roundTripFlow) authorize(c *roundTripCounter, totals map[string]int, name string) (verifier, code string) {
	t := f.t
	t.Helper()
	verifier, challenge := pkce()
	authURL := f.e.issuer + "/oauth2/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {f.clientID}, "redirect_uri": {f.redirect},
		"scope": {"openid profile email offline_access"}, "state": {randomHex(8)}, "nonce": {randomHex(8)},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}.Encode()
	f.measure(c, totals, name, func() {
		p := f.b.get(authURL)
		loc, err := url.Parse(p.header.Get("Location"))
		mustf(t, err, "authorize Location")
		if code = loc.Query().Get("code"); p.status != http.StatusSeeOther || !strings.HasPrefix(loc.String(), f.redirect) || code == "" {
			t.Fatalf("%s: status %d, Location %q, want 303 to the client with a code:\n%s", name, p.status, loc, p.body)
		}
	})
	return verifier, code
}

// token posts a token request as the client and returns the answer, which must
// be 200.
func (f *roundTripFlow) token(form url.Values) map[string]any {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.e.issuer+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(f.clientID), url.QueryEscape(f.secret))
	resp, err := http.DefaultClient.Do(req)
	mustf(f.t, err, "token %s", form.Get("grant_type"))
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil || resp.StatusCode != http.StatusOK {
		f.t.Fatalf("token %s: status %d: %s", form.Get("grant_type"), resp.StatusCode, body)
	}
	return out
}
