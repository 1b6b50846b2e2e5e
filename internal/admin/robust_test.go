package admin

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/clients"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/middleware"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// adminRoutes lists every admin route as "METHOD template".
func adminRoutes(t *testing.T, a *API) []string {
	t.Helper()
	var out []string
	err := a.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tmpl, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			return err
		}
		for _, m := range methods {
			out = append(out, m+" "+tmpl)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fillVars gives a route's variables plain values, or, for the one named bad,
// the raw (already escaped) value bad.
func fillVars(template, bad string) (string, bool) {
	used := false
	var b strings.Builder
	for {
		i := strings.IndexByte(template, '{')
		if i < 0 {
			b.WriteString(template)
			return b.String(), used
		}
		j := strings.IndexByte(template, '}')
		b.WriteString(template[:i])
		if bad != "" && !used {
			b.WriteString(bad)
			used = true
		} else {
			b.WriteString("6f1b5c3e-6d2a-4b7e-9c1d-2e3f4a5b6c7d")
		}
		template = template[j+1:]
	}
}

// TestBadInputEveryAdminRoute walks every admin route with a NUL byte or
// invalid UTF-8 in the query, a path variable, a JSON or form body, and with a
// body shorter than its Content-Length: each is a 400 problem, before the
// database sees it (PostgreSQL refuses such text with 22021, a 500 before).
func TestBadInputEveryAdminRoute(t *testing.T) {
	eachDB(t, func(t *testing.T, store *storage.Store) {
		// /metrics mounted, so that every route is walked.
		a := New(Deps{
			Clients: clients.New(store, store.Sealer(), time.Now, clients.Rules{}),
			Users:   identity.New(store, identity.Options{Params: fastParams}),
			Keys:    keys.New(store, keys.Options{}),
			Tokens:  []string{tokenA},
			Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "# metrics\n") }),
		})
		f := newFixtureFor(t, store, a)
		for _, route := range adminRoutes(t, a) {
			method, template, _ := strings.Cut(route, " ")
			plain, _ := fillVars(template, "")
			type variant struct {
				name, path, contentType, body string
			}
			variants := []variant{
				{"query value with NUL", plain + "?after=a%00b", "", ""},
				{"query value not UTF-8", plain + "?email_prefix=%C3%28", "", ""},
			}
			for _, bad := range []string{"a%00b", "%FF%FE"} {
				if p, ok := fillVars(template, bad); ok {
					variants = append(variants, variant{"path variable " + bad, p, "", ""})
				}
			}
			if method != http.MethodGet {
				variants = append(variants,
					variant{"JSON string with NUL", plain, "application/json", `{"name":"a\u0000b","email":"x@example.com"}`},
					variant{"JSON not UTF-8", plain, "application/json", "{\"name\":\"a\xffb\"}"},
					variant{"form with NUL", plain, "application/x-www-form-urlencoded", "name=a%00b"},
				)
			}
			for _, v := range variants {
				t.Run(route+"/"+v.name, func(t *testing.T) {
					var body io.Reader
					if v.body != "" {
						body = strings.NewReader(v.body)
					}
					req, err := http.NewRequestWithContext(t.Context(), method, f.srv.URL+v.path, body)
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Authorization", "Bearer "+tokenA)
					if v.contentType != "" {
						req.Header.Set("Content-Type", v.contentType)
					}
					res, err := f.srv.Client().Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer res.Body.Close()
					b, _ := io.ReadAll(res.Body)
					r := response{status: res.StatusCode, header: res.Header, body: b}
					wantStatus(t, route+" "+v.name, r, http.StatusBadRequest)
					if p := r.problem(t); p.Type != "urn:gatehouse:problem:invalid-request" || p.RequestID == "" {
						t.Errorf("problem %+v, want invalid-request with the request id", p)
					}
				})
			}
			if method != http.MethodGet {
				t.Run(route+"/truncated body", func(t *testing.T) {
					u, _ := url.Parse(f.srv.URL)
					conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
					if err != nil {
						t.Fatal(err)
					}
					defer conn.Close()
					conn.SetDeadline(time.Now().Add(30 * time.Second))
					const sent = `{"name":"abc"`
					fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
						method, plain, u.Host, tokenA, len(sent)+50, sent)
					conn.(*net.TCPConn).CloseWrite()
					res, err := http.ReadResponse(bufio.NewReader(conn), nil)
					if err != nil {
						t.Fatal(err)
					}
					defer res.Body.Close()
					b, _ := io.ReadAll(res.Body)
					r := response{status: res.StatusCode, header: res.Header, body: b}
					wantStatus(t, route+" truncated", r, http.StatusBadRequest)
					r.problem(t)
				})
			}
		}
	})
}

// lineBuffer collects log lines.
type lineBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lineBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lineBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestUnavailableDatabaseIs503: when the database cannot serve (here every
// connection of the pool is held, so requests wait past the wait timeout; on
// PostgreSQL also a database that went away), the admin API answers 503 with
// Retry-After, not 500, and the cause is on the request's one log line.
func TestUnavailableDatabaseIs503(t *testing.T) {
	for _, db := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"SQLite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db") }},
		{"PostgreSQL", func(t *testing.T) string { return storagetest.NewPostgresDatabase(t) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			dbURL := db.url(t)
			storagetest.OpenURL(t, dbURL, storage.PoolerNone) // migrates
			logs := &lineBuffer{}
			log := slog.New(middleware.LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
			store, err := storage.Open(storage.Options{URL: dbURL, Pooler: storage.PoolerNone, MaxOpenConns: 1,
				WaitTimeout: 100 * time.Millisecond, Secrets: []string{storagetest.TestSecret}, Logger: log})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			f := newFixtureWithLog(t, store, log, tokenA)
			held, err := store.DB().Conn(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()
			for _, tc := range []struct{ method, path, body string }{
				{http.MethodGet, "/admin/users", ""},
				{http.MethodGet, "/admin/clients", ""},
				{http.MethodPost, "/admin/clients", `{"client_name":"During an outage","grant_types":["client_credentials"]}`},
			} {
				var body any
				if tc.body != "" {
					body = tc.body
				}
				before := strings.Count(logs.String(), "\n")
				r := f.do(t, tc.method, tc.path, body)
				wantStatus(t, tc.method+" "+tc.path+" with the pool held", r, http.StatusServiceUnavailable)
				if p := r.problem(t); p.Type != "urn:gatehouse:problem:unavailable" {
					t.Errorf("problem %+v, want unavailable", p)
				}
				if r.header.Get("Retry-After") == "" {
					t.Errorf("%s %s: 503 without Retry-After", tc.method, tc.path)
				}
				lines := strings.Split(strings.TrimSpace(logs.String()), "\n")[before:]
				if len(lines) != 1 || !strings.Contains(lines[0], `"msg":"request"`) || !strings.Contains(lines[0], "database busy") ||
					!strings.Contains(lines[0], `"level":"WARN"`) || !strings.Contains(lines[0], `"request_id":"`+r.header.Get("X-Request-Id")+`"`) {
					t.Errorf("%s %s: log lines\n%s\nwant one access line at WARN with the cause and the request id", tc.method, tc.path, strings.Join(lines, "\n"))
				}
			}
		})
	}
}

// newFixtureWithLog is newFixture with a logger.
func newFixtureWithLog(t *testing.T, store *storage.Store, log *slog.Logger, tokens ...string) *fixture {
	t.Helper()
	now := time.Now
	api := New(Deps{
		Clients: clients.New(store, store.Sealer(), now, clients.Rules{}),
		Users:   identity.New(store, identity.Options{Params: fastParams, Log: log}),
		Keys:    keys.New(store, keys.Options{Log: log}),
		Tokens:  tokens,
		Log:     log,
	})
	f := newFixtureFor(t, store, api)
	if len(tokens) > 0 {
		f.token = tokens[0]
	}
	return f
}
