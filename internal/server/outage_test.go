package server_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/server"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestOutageOneLinePerRequest: while the database is away (every connection
// cut and new ones refused), each failed request writes one log line, its
// access line, at WARN for a 503, carrying the cause; no line from the store,
// the handlers or a retry besides (the reviewer counted about seven, three at
// ERROR). Pages answer 503 with Retry-After. The token-side endpoints of
// internal/oauth are left to their own test.
func TestOutageOneLinePerRequest(t *testing.T) {
	direct := storagetest.NewPostgresDatabase(t)
	storagetest.OpenURL(t, direct, storage.PoolerNone) // migrates
	proxy := storagetest.StartProxy(t, direct)
	// The store logs where the server does, as cmd/gatehouse has it.
	logs := &syncBuffer{}
	s, err := storage.Open(storage.Options{URL: proxy.URL(), Pooler: storage.PoolerNone, MaxOpenConns: 4,
		WaitTimeout: 2 * time.Second, Secrets: []string{storagetest.TestSecret},
		Logger: slog.New(server.LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))})
	mustf(t, err, "open through the proxy")
	t.Cleanup(func() { s.Close() })
	e := newPagesEnvLogs(t, s, logs)

	// Before the outage: a browser holding a sign-in form, one holding a
	// sign-up form, and one signed in.
	signIn := e.browser()
	signInPage := signIn.get(e.issuer + "/signin")
	signUp := e.browser()
	signUpPage := signUp.get(e.issuer + "/signup")
	forgot := e.browser()
	forgotPage := forgot.get(e.issuer + "/forgot-password")
	account := e.browser()
	p := account.follow(account.submit(account.get(e.issuer+"/signin?continue=%2Faccount"), "sign-in",
		map[string]string{"email": "ada@example.com", "password": pagesPassword}))
	if p.status != http.StatusOK || !strings.Contains(p.url.Path, "/account") {
		t.Fatalf("sign-in before the outage: %d at %s", p.status, p.url)
	}

	proxy.Refuse(true)
	proxy.Cut()
	waitForCondition(t, 10*time.Second, "the proxy to drop every connection", func() bool { return proxy.Open() == 0 })

	for _, tc := range []struct {
		name       string
		send       func() *htmlPage
		wantStatus int
	}{
		{"sign in", func() *htmlPage {
			return signIn.submit(signInPage, "sign-in", map[string]string{"email": "ada@example.com", "password": pagesPassword})
		}, http.StatusServiceUnavailable},
		{"sign up", func() *htmlPage {
			return signUp.submit(signUpPage, "sign-up", map[string]string{"email": "new@example.com", "password": "another long pass phrase", "confirm": "another long pass phrase", "name": "New"})
		}, http.StatusServiceUnavailable},
		{"account", func() *htmlPage { return account.get(e.issuer + "/account") }, http.StatusServiceUnavailable},
		{"forgot password", func() *htmlPage {
			return forgot.submit(forgotPage, "forgot", map[string]string{"email": "ada@example.com"})
		}, http.StatusOK}, // says nothing that tells known addresses apart
		{"readyz", func() *htmlPage { return signIn.get(e.issuer + "/readyz") }, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := strings.Count(e.logs.String(), "\n")
			p := tc.send()
			if p.status != tc.wantStatus {
				t.Fatalf("status %d, want %d:\n%.500s", p.status, tc.wantStatus, p.body)
			}
			if p.status == http.StatusServiceUnavailable && tc.name != "readyz" && p.header.Get("Retry-After") == "" {
				t.Errorf("503 without Retry-After")
			}
			var lines []string // at info level and above, the default
			for _, l := range strings.Split(strings.TrimSuffix(e.logs.String(), "\n"), "\n")[before:] {
				if !strings.Contains(l, `"level":"DEBUG"`) {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("%d log lines for one failed request, want 1:\n%s", len(lines), strings.Join(lines, "\n"))
			}
			var l struct {
				Level, Msg, Error, RequestID string
			}
			json.Unmarshal([]byte(lines[0]), &l)
			l.RequestID = jsonField(lines[0], "request_id")
			wantLevel := "INFO"
			if tc.wantStatus == http.StatusServiceUnavailable {
				wantLevel = "WARN"
			}
			if l.Msg != "request" || l.Level != wantLevel || l.RequestID != p.header.Get("X-Request-Id") {
				t.Errorf("log line %s, want the access line at %s with the request id", lines[0], wantLevel)
			}
			if tc.name != "readyz" && !strings.Contains(l.Error, "connect") {
				t.Errorf("access line %s does not carry the cause", lines[0])
			}
		})
	}
}

// jsonField reads one string member of a JSON log line.
func jsonField(line, name string) string {
	var m map[string]any
	json.Unmarshal([]byte(line), &m)
	s, _ := m[name].(string)
	return s
}

// waitForCondition polls cond until it holds or bound passes.
func waitForCondition(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("waiting for %s: not within %s", what, bound)
		case <-tick.C:
		}
	}
}
