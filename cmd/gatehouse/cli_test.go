package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// envMap returns a getenv that reads only m, so tests never see the real
// environment.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// cliResult is what one run of the CLI returned and printed.
type cliResult struct {
	code           int
	stdout, stderr string
}

// output is stdout and stderr together, for assertions about everything printed.
func (r cliResult) output() string { return r.stdout + r.stderr }

// runCLI runs the CLI in-process to completion, bounded by a minute.
func runCLI(t *testing.T, env map[string]string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	code := run(ctx, args, envMap(env), strings.NewReader(""), &stdout, &stderr)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// serveProc is a `gatehouse serve` running in-process.
type serveProc struct {
	base   string // http://127.0.0.1:port
	admin  string // http://127.0.0.1:port of the admin listener; "" when off
	log    *syncBuffer
	cancel context.CancelFunc
	done   chan int
}

// startServe runs `gatehouse serve args…` until it logs the address it listens on,
// and stops it when t ends. Pass --addr 127.0.0.1:0. Unless args name
// --admin-addr, the admin listener gets a free loopback port too, so that
// concurrent servers never fight over the default one.
//
// Unless env sets GATEHOUSE_SHUTDOWN_DRAIN, serve stops without a drain: tests
// that stop it do not wait for a load balancer.
func startServe(t *testing.T, env map[string]string, args ...string) *serveProc {
	t.Helper()
	return startServeWith(t, nil, env, args...)
}

// startServeWith is startServe with onStatement seeing every statement serve's
// store sends.
func startServeWith(t *testing.T, onStatement func(context.Context, storage.Statement), vars map[string]string, args ...string) *serveProc {
	t.Helper()
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--admin-addr") }) {
		args = append(args, "--admin-addr", "127.0.0.1:0")
	}
	if _, ok := vars["GATEHOUSE_SHUTDOWN_DRAIN"]; !ok {
		vars = maps.Clone(vars)
		if vars == nil {
			vars = map[string]string{}
		}
		vars["GATEHOUSE_SHUTDOWN_DRAIN"] = "0s"
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &serveProc{log: &syncBuffer{}, cancel: cancel, done: make(chan int, 1)}
	addr := make(chan string, 1)
	adminAddr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			s.log.Write(append(sc.Bytes(), '\n'))
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "listening" {
				select {
				case addr <- line.Addr:
				default:
				}
			}
			if line.Msg == "admin listening" || line.Msg == "admin listener off" {
				select {
				case adminAddr <- line.Addr:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		e := &env{getenv: envMap(vars), stdin: strings.NewReader(""), stdout: io.Discard, stderr: pw, onStatement: onStatement}
		code := e.run(ctx, append([]string{"serve"}, args...))
		pw.Close()
		s.done <- code
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(time.Minute):
			t.Errorf("serve did not stop within a minute\n%s", s.log)
		}
	})
	select {
	case a := <-addr:
		s.base = "http://" + a
		// The admin listener is started right after the public one.
		select {
		case a := <-adminAddr:
			if a != "" {
				s.admin = "http://" + a
			}
		case code := <-s.done:
			s.done <- code
		case <-time.After(time.Minute):
			t.Fatalf("serve did not log its admin listener within a minute\n%s", s.log)
		}
	case code := <-s.done:
		s.done <- code
		t.Fatalf("serve exited with %d before listening\n%s", code, s.log)
	case <-time.After(time.Minute):
		t.Fatalf("serve did not log a listening address within a minute\n%s", s.log)
	}
	return s
}

// stop cancels serve's context (what SIGINT/SIGTERM do in main) and returns its exit
// code.
func (s *serveProc) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		s.done <- code // for Cleanup
		return code
	case <-time.After(time.Minute):
		t.Fatalf("serve did not stop within a minute\n%s", s.log)
		return -1
	}
}

// readyBody is the JSON of /readyz.
type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// waitFor polls GET base+path until cond accepts the status and body, or fails
// after bound.
func waitFor(t *testing.T, s *serveProc, path string, bound time.Duration, cond func(status int, body []byte) bool) (int, []byte) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var status int
	var body []byte
	var lastErr error
	for {
		resp, err := client.Get(s.base + path)
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
			if err == nil && cond(status, body) {
				return status, body
			}
		}
		lastErr = err
		select {
		case <-deadline.C:
			t.Fatalf("GET %s: condition not met within %s: last status %d, body %s, error %v\n%s", path, bound, status, body, lastErr, s.log)
		case code := <-s.done:
			s.done <- code
			t.Fatalf("GET %s: serve exited with %d while waiting; last status %d, body %s\n%s", path, code, status, body, s.log)
		case <-tick.C:
		}
	}
}

func statusIs(want int) func(int, []byte) bool {
	return func(status int, _ []byte) bool { return status == want }
}

func decodeReady(t *testing.T, body []byte) readyBody {
	t.Helper()
	var r readyBody
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	return r
}

// testSecret is a system secret for serve against PostgreSQL.
const testSecret = storagetest.TestSecret

func TestVersion(t *testing.T) {
	r := runCLI(t, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "gatehouse ") {
		t.Errorf("version: exit %d, stdout %q, stderr %q; want 0 and \"gatehouse …\"", r.code, r.stdout, r.stderr)
	}
}

func TestUsageAndConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		want     []string
	}{
		{"unknown command", nil, []string{"frobnicate"}, 1, []string{"unknown command"}},
		{"bad issuer flag", nil, []string{"serve", "--issuer", "ftp://id.example.com", "--addr", "127.0.0.1:0"}, 2, []string{"issuer:"}},
		{"several problems at once", map[string]string{"GATEHOUSE_LOG_LEVEL": "loud", "GATEHOUSE_DATABASE_POOLER": "maybe"}, []string{"serve", "--addr", "127.0.0.1:0"}, 2, []string{"database.pooler:", "log.level:"}},
		{"bad duration names its key", map[string]string{"GATEHOUSE_DATABASE_CONNECT_RETRY": "forever"}, []string{"serve"}, 1, []string{"connect_retry"}},
		{"external database needs a secret", map[string]string{"DATABASE_URL": "postgres://app@127.0.0.1:1/gh"}, []string{"serve", "--addr", "127.0.0.1:0"}, 2, []string{"GATEHOUSE_SECRETS_SYSTEM"}},
		{"missing config file", nil, []string{"serve", "--config", filepath.Join(t.TempDir(), "none.yaml")}, 1, []string{"none.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, tc.args...)
			if r.code != tc.wantCode {
				t.Errorf("gatehouse %s: exit %d, want %d; stderr %q", strings.Join(tc.args, " "), r.code, tc.wantCode, r.stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("gatehouse %s: stderr %q, want it to mention %q", strings.Join(tc.args, " "), r.stderr, want)
				}
			}
		})
	}
}

// TestServeEmbedded is the README's first command: serve on the embedded SQLite
// default, healthy and ready, then a graceful stop.
func TestServeEmbedded(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startServe(t, nil, "--addr", "127.0.0.1:0", "--data-dir", dataDir)

	_, body := waitFor(t, s, "/healthz", 30*time.Second, statusIs(http.StatusOK))
	if !strings.Contains(string(body), `"ok"`) {
		t.Errorf("/healthz body = %s, want status ok", body)
	}
	_, body = waitFor(t, s, "/readyz", 30*time.Second, statusIs(http.StatusOK))
	r := decodeReady(t, body)
	if r.Checks["database"] != "ok" || r.Checks["schema"] != "ok" {
		t.Errorf("/readyz checks = %v, want database and schema ok", r.Checks)
	}
	for _, f := range []string{"gatehouse.db", "system.secret"} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
			t.Errorf("embedded default did not create %s: %v", f, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dataDir, "system.secret")); err == nil && fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("system.secret mode = %v, want owner-only", fi.Mode().Perm())
	}

	if code := s.stop(t); code != 0 {
		t.Errorf("serve after cancel: exit %d, want 0\n%s", code, s.log)
	}
	if !strings.Contains(s.log.String(), `"msg":"stopped"`) {
		t.Errorf("log does not show a graceful stop:\n%s", s.log)
	}
	if strings.Contains(s.log.String(), readSecret(t, dataDir)) {
		t.Errorf("log contains the system secret")
	}
	// The port is free again: the listener was closed.
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(s.base, "http://"), time.Second); err == nil {
		c.Close()
		t.Errorf("%s still accepts connections after serve returned", s.base)
	}
}

func readSecret(t *testing.T, dataDir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "system.secret"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
