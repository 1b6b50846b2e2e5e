package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// logLine is one JSON line serve logged.
type logLine struct {
	Msg    string `json:"msg"`
	Level  string `json:"level"`
	Worker string `json:"worker"`
}

// logLines parses what s has logged so far.
func logLines(s *serveProc) []logLine {
	var out []logLine
	for _, raw := range strings.Split(s.log.String(), "\n") {
		var l logLine
		if json.Unmarshal([]byte(raw), &l) == nil && l.Msg != "" {
			out = append(out, l)
		}
	}
	return out
}

// countLog counts the lines whose message starts with prefix.
func countLog(s *serveProc, prefix string) int {
	n := 0
	for _, l := range logLines(s) {
		if strings.HasPrefix(l.Msg, prefix) {
			n++
		}
	}
	return n
}

// waitLog polls s's log until cond holds, failing after bound.
func waitLog(t *testing.T, s *serveProc, what string, bound time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s\n%s", bound, what, s.log)
		case code := <-s.done:
			s.done <- code
			t.Fatalf("serve exited with %d while waiting for %s\n%s", code, what, s.log)
		case <-tick.C:
		}
	}
}

// embeddedEnv is the environment of a serve on a new embedded SQLite database.
func embeddedEnv(t *testing.T) map[string]string {
	return map[string]string{"GATEHOUSE_DATA_DIR": filepath.Join(t.TempDir(), "data")}
}

func TestIssuerWarning(t *testing.T) {
	tcp := func(addr string) net.Addr {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, tc := range []struct {
		name, issuer, addr string
		warn               bool
		fix                string
	}{
		{"default issuer, other port", "http://localhost:8080", "127.0.0.1:9000", true, "http://127.0.0.1:9000"},
		{"default issuer, default addr", "http://localhost:8080", "127.0.0.1:8080", false, ""},
		{"localhost on IPv6 loopback", "http://localhost:8080", "[::1]:8080", false, ""},
		{"all interfaces, same port", "http://localhost:8080", "0.0.0.0:8080", false, ""},
		{"all interfaces, other port", "http://localhost:8080", "[::]:9000", true, "http://localhost:9000"},
		{"loopback IP matches", "http://127.0.0.1:9000", "127.0.0.1:9000", false, ""},
		{"loopback IP differs", "http://127.0.0.2:9000", "127.0.0.1:9000", true, "http://127.0.0.1:9000"},
		{"IPv4 issuer, IPv6 listener", "http://127.0.0.1:9000", "[::1]:9000", true, "http://[::1]:9000"},
		{"no port means 80", "http://localhost", "127.0.0.1:80", false, ""},
		{"no port, other listener", "http://localhost", "127.0.0.1:8080", true, "http://127.0.0.1:8080"},
		{"loopback issuer, non-loopback listener", "http://localhost:8080", "192.0.2.7:8080", true, "http://localhost:8080"},
		{"public https issuer", "https://id.example.com", "127.0.0.1:9000", false, ""},
		{"public https issuer with a port", "https://id.example.com:8443", "0.0.0.0:8080", false, ""},
		{"loopback https behind a local proxy", "https://localhost:8443", "127.0.0.1:8080", true, "https://127.0.0.1:8080"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := issuerWarning(tc.issuer, tcp(tc.addr))
			if (got != "") != tc.warn {
				t.Fatalf("issuerWarning(%q, %s) = %q, want a warning: %v", tc.issuer, tc.addr, got, tc.warn)
			}
			if tc.warn && !strings.Contains(got, tc.fix) {
				t.Errorf("issuerWarning(%q, %s) = %q, want it to suggest %s", tc.issuer, tc.addr, got, tc.fix)
			}
		})
	}
}

// freeLoopbackAddr returns a loopback address with a port nothing listens on.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServeWarnsWhenIssuerIsNotHere: `serve --addr 127.0.0.1:P` without an issuer
// advertises http://localhost:8080 and says so at start; an issuer that names the
// listener, or a public https one, gets no warning.
func TestServeWarnsWhenIssuerIsNotHere(t *testing.T) {
	const warning = "issuer does not point at this server"
	addr := freeLoopbackAddr(t)
	for _, tc := range []struct {
		name string
		args []string
		warn bool
	}{
		{"default issuer", []string{"--addr", addr}, true},
		{"issuer names the listener", []string{"--addr", addr, "--issuer", "http://" + addr}, false},
		{"public https issuer", []string{"--addr", "127.0.0.1:0", "--issuer", "https://id.example.com"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServe(t, embeddedEnv(t), tc.args...)
			waitLog(t, s, "ready", time.Minute, func() bool { return countLog(s, "ready") > 0 })
			if got := countLog(s, warning) > 0; got != tc.warn {
				t.Errorf("serve %v logged %q: %v, want %v\n%s", tc.args, warning, got, tc.warn, s.log)
			}
			if tc.warn && !strings.Contains(s.log.String(), "http://"+addr) {
				t.Errorf("the warning does not name the issuer to set (http://%s):\n%s", addr, s.log)
			}
			if code := s.stop(t); code != 0 {
				t.Errorf("serve exit %d", code)
			}
		})
	}
}

// statementCounter counts what serve's store sends, keeping the text.
type statementCounter struct {
	mu  sync.Mutex
	all []string
}

func (c *statementCounter) add(_ context.Context, st storage.Statement) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, st.SQL)
}

func (c *statementCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.all)
}

func (c *statementCounter) since(n int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.all[n:])
}

// TestIdleServeSendsNoStatements measures what an idle serve sends its database:
// with the fallback intervals (mail.poll_interval, keys.refresh_interval) set to
// an hour, nothing at all. The janitor, ticking every 20 ms, sweeps after the
// database was used and not otherwise; each skipped tick is logged, which is
// what the test waits on instead of sleeping. On PostgreSQL the change listener
// stays connected meanwhile.
func TestIdleServeSendsNoStatements(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  func(t *testing.T) map[string]string
	}{
		{"SQLite", embeddedEnv},
		{"PostgreSQL", func(t *testing.T) map[string]string { return pgEnv(storagetest.NewPostgresDatabase(t)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env(t)
			env["GATEHOUSE_LOG_LEVEL"] = "debug"
			env["GATEHOUSE_JANITOR_INTERVAL"] = "20ms"
			env["GATEHOUSE_MAIL_POLL_INTERVAL"] = "1h"
			env["GATEHOUSE_KEYS_REFRESH_INTERVAL"] = "1h"
			var sent statementCounter
			s := startServeWith(t, sent.add, env, "--addr", "127.0.0.1:0", "--migrate")
			waitLog(t, s, "ready", time.Minute, func() bool { return countLog(s, "ready") > 0 })

			// Use the database once: a token request looks the client up. The
			// janitor sweeps after it.
			r, err := postForm(t.Context(), http.DefaultClient, s.base, "/oauth2/token", oauthClient{ID: "nobody", Secret: "x"}, -1,
				url.Values{"grant_type": {"client_credentials"}})
			if err != nil || r.status != http.StatusUnauthorized {
				t.Fatalf("token request for an unknown client: %d %s, %v; want 401", r.status, r.raw, err)
			}
			waitLog(t, s, "a sweep after the request", 30*time.Second, func() bool { return countLog(s, "janitor swept") > 0 })

			// Settled: three janitor ticks in a row without a statement.
			const skipped = "janitor skipped"
			for quiet, last, lastSkips := 0, -1, countLog(s, skipped); quiet < 3; {
				waitLog(t, s, "a janitor tick", 30*time.Second, func() bool { return countLog(s, skipped) > lastSkips })
				lastSkips = countLog(s, skipped)
				if n := sent.count(); n == last {
					quiet++
				} else {
					quiet, last = 0, n
				}
			}

			// Idle: 150 janitor ticks (3 s; the outbox polled every 2 s before).
			before, skips, start := sent.count(), countLog(s, skipped), time.Now()
			waitLog(t, s, "150 janitor ticks", time.Minute, func() bool { return countLog(s, skipped) >= skips+150 })
			idle := time.Since(start)
			if got := sent.since(before); len(got) > 0 {
				t.Errorf("an idle serve sent %d statements in %s: %q", len(got), idle.Round(time.Millisecond), got)
			}
			if tc.name == "PostgreSQL" && !strings.Contains(strings.Join(sent.since(0), "\n"), "LISTEN gatehouse_mail") {
				t.Errorf("serve never listened for mail and key changes")
			}
			t.Logf("idle serve on %s: %d statements in %s (%d janitor ticks skipped)", tc.name, len(sent.since(before)), idle.Round(time.Millisecond), countLog(s, skipped)-skips)
			if code := s.stop(t); code != 0 {
				t.Errorf("serve exit %d", code)
			}
		})
	}
}

// workerFuncs are the functions serve's background workers run in, as a
// goroutine dump names them.
var workerFuncs = []string{"keys.(*Manager).Run", "outbox.(*Outbox).Run", "main.runJanitor", "storage.(*notifier).run"}

// runningWorkers returns the worker functions some goroutine is in.
func runningWorkers() []string {
	buf := make([]byte, 4<<20)
	dump := string(buf[:runtime.Stack(buf, true)])
	var out []string
	for _, f := range workerFuncs {
		if strings.Contains(dump, f) {
			out = append(out, f)
		}
	}
	return out
}

// TestServeJoinsWorkersBeforeClosingStore stops serve and checks that each
// background worker returned before the store was closed, and that none is
// left running once serve has returned.
func TestServeJoinsWorkersBeforeClosingStore(t *testing.T) {
	env := embeddedEnv(t)
	env["GATEHOUSE_LOG_LEVEL"] = "debug"
	env["GATEHOUSE_JANITOR_INTERVAL"] = "10ms"
	s := startServe(t, env, "--addr", "127.0.0.1:0")
	waitLog(t, s, "ready", time.Minute, func() bool { return countLog(s, "ready") > 0 })
	waitLog(t, s, "a janitor tick", time.Minute, func() bool { return countLog(s, "janitor") > 0 })
	if code := s.stop(t); code != 0 {
		t.Fatalf("serve exit %d\n%s", code, s.log)
	}
	lines := logLines(s)
	closed := slices.IndexFunc(lines, func(l logLine) bool { return l.Msg == "database closed" })
	if closed < 0 {
		t.Fatalf("serve did not log closing its database\n%s", s.log)
	}
	for _, w := range []string{"signing key refresher", "mail outbox", "janitor"} {
		i := slices.IndexFunc(lines, func(l logLine) bool { return l.Msg == "background worker stopped" && l.Worker == w })
		if i < 0 || i > closed {
			t.Errorf("worker %q stopped at log line %d, the database closed at %d: want the worker first\n%s", w, i, closed, s.log)
		}
	}
	if left := runningWorkers(); len(left) > 0 {
		t.Errorf("after serve returned, goroutines still run %v", left)
	}
}
