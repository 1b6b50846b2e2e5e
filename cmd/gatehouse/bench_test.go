package main

import (
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/bench"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// benchAdminToken is the admin token of the servers the bench tests start.
const benchAdminToken = "bench-admin-token-0123456789abcdef"

// serveForBench starts serve on a new PostgreSQL database, with an issuer that
// matches its address and the admin API on, plus the extra environment.
func serveForBench(t *testing.T, extra map[string]string) *serveProc {
	t.Helper()
	addr := "127.0.0.1:" + freePort(t)
	env := pgEnv(storagetest.NewPostgresDatabase(t))
	env["GATEHOUSE_ISSUER"] = "http://" + addr
	env["GATEHOUSE_ADMIN_TOKENS"] = benchAdminToken
	maps.Copy(env, extra)
	s := startServe(t, env, "--addr", addr, "--migrate")
	waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
	return s
}

// runBench runs `gatehouse bench -o json args…` against s and returns its results.
func runBench(t *testing.T, s *serveProc, args ...string) []bench.Result {
	t.Helper()
	args = append([]string{"bench", "--url", s.base, "--admin-url", s.admin, "--admin-token", benchAdminToken, "-o", "json"}, args...)
	res := runCLI(t, nil, args...)
	if res.code != 0 {
		t.Fatalf("bench exit %d\nstderr: %s\nserver log:\n%s", res.code, res.stderr, s.log)
	}
	var results []bench.Result
	if err := json.Unmarshal([]byte(res.stdout), &results); err != nil {
		t.Fatalf("bench -o json: %v\n%s", err, res.stdout)
	}
	return results
}

// TestBenchEveryScenario runs every scenario of the load tool briefly against a
// server on PostgreSQL, as BENCHMARKS.md does for longer: each one completes
// requests without an error, the server's CPU and memory are read from /proc,
// and the run deletes the client and user it made.
func TestBenchEveryScenario(t *testing.T) {
	s := serveForBench(t, nil)
	// serve runs in this process, so this process's /proc entry is the server's
	// (with the load tool's own work added).
	results := runBench(t, s, "--pid", strconv.Itoa(os.Getpid()), "--duration", "1s", "--warmup", "200ms", "--concurrency", "2")
	var ran []string
	for _, r := range results {
		ran = append(ran, r.Scenario)
		if r.Requests == 0 || r.PerSecond <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("%s: %d requests, %.0f/s, p50 %v, p99 %v: want requests and ordered latencies", r.Scenario, r.Requests, r.PerSecond, r.P50, r.P99)
		}
		if len(r.Errors) > 0 {
			t.Errorf("%s: errors %v, want none", r.Scenario, r.Errors)
		}
		if r.ServerCPUSeconds <= 0 || r.PeakRSSBytes <= 0 || r.LifetimePeakRSSBytes < r.PeakRSSBytes {
			t.Errorf("%s: server CPU %.3f s, peak RSS %d, since start %d: want them measured", r.Scenario, r.ServerCPUSeconds, r.PeakRSSBytes, r.LifetimePeakRSSBytes)
		}
	}
	if got, want := strings.Join(ran, ","), strings.Join(bench.Scenarios(), ","); got != want {
		t.Errorf("scenarios run: %s, want %s", got, want)
	}

	// Nothing the run created is left behind.
	for _, path := range []string{"/admin/clients", "/admin/users"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.admin+path, nil)
		req.Header.Set("Authorization", "Bearer "+benchAdminToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct{ Clients, Users []json.RawMessage }
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if left := len(page.Clients) + len(page.Users); err != nil || resp.StatusCode != http.StatusOK || left != 0 {
			t.Errorf("GET %s after the run: %d, %d left (%v), want none", path, resp.StatusCode, left, err)
		}
	}
}

// TestOneDatabaseConnectionIsEnough serves token, JWT, introspection and
// signed-in authorization-code load from a pool of one connection. A request
// that took a second pooled connection while its transaction held the first, or
// waited for one under a process-wide lock, would stall there until the run ends
// (Hydra deadlocks so under load with JWT access tokens): every scenario must
// keep completing requests, without errors.
func TestOneDatabaseConnectionIsEnough(t *testing.T) {
	s := serveForBench(t, map[string]string{
		"GATEHOUSE_DATABASE_MAX_OPEN_CONNS":    "1",
		"GATEHOUSE_OAUTH_JWT_ACCESS_TOKEN_ALG": "ES256",
	})
	results := runBench(t, s, "--scenario", "client-credentials,client-credentials-jwt,introspection,authorization-code",
		"--duration", "2s", "--warmup", "0s", "--concurrency", "8")
	for _, r := range results {
		// A stalled pool completes nothing until the run is over; a working one
		// completes hundreds of requests in two seconds.
		if r.Requests < 20 || len(r.Errors) > 0 {
			t.Errorf("%s on one connection: %d requests, errors %v; want requests and no errors", r.Scenario, r.Requests, r.Errors)
		}
	}
	if len(results) != 4 {
		t.Errorf("%d scenarios ran, want 4", len(results))
	}
}

// TestBenchProxyRefusesBadInput: `gatehouse bench proxy` names the flag at
// fault and exits 2 without listening.
func TestBenchProxyRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no target", []string{"bench", "proxy", "--listen", "127.0.0.1:0"}, "--target is required"},
		{"target without port", []string{"bench", "proxy", "--listen", "127.0.0.1:0", "--target", "127.0.0.1"}, "want host:port"},
		{"negative rtt", []string{"bench", "proxy", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:5432", "--rtt", "-1ms"}, "--rtt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, tc.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "goroutine") {
				t.Errorf("gatehouse %s: exit %d, stderr %q; want exit 2 saying %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
			}
		})
	}
}
