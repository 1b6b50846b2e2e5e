package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// find returns the metric of family name whose labels include want.
func find(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) (*dto.Metric, bool) {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for k, v := range want {
				if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
					continue metrics
				}
			}
			return m, true
		}
	}
	return nil, false
}

// value returns the value of a counter or gauge, failing when it is absent.
func value(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	m, ok := find(t, g, name, labels)
	if !ok {
		t.Fatalf("no %s%v", name, labels)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("%s%v is neither a counter nor a gauge", name, labels)
	return 0
}

func TestRequests(t *testing.T) {
	m := New(Options{Version: "test"})
	m.ObserveRequest("/oauth2/token", http.MethodPost, 200, 30*time.Millisecond)
	m.ObserveRequest("/oauth2/token", http.MethodPost, 200, 10*time.Millisecond)
	m.ObserveRequest("/oauth2/token", http.MethodPost, 400, time.Millisecond)
	m.ObserveRequest(RouteUnmatched, "BREW", 404, time.Millisecond)

	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"token ok", map[string]string{"route": "/oauth2/token", "method": "POST", "status": "200"}, 2},
		{"token bad request", map[string]string{"route": "/oauth2/token", "method": "POST", "status": "400"}, 1},
		{"unknown method", map[string]string{"route": "unmatched", "method": "OTHER", "status": "404"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := value(t, m.Gatherer(), "gatehouse_http_requests_total", tc.labels); got != tc.want {
				t.Errorf("gatehouse_http_requests_total%v = %v, want %v", tc.labels, got, tc.want)
			}
		})
	}
	h, ok := find(t, m.Gatherer(), "gatehouse_http_request_duration_seconds", map[string]string{"route": "/oauth2/token", "method": "POST"})
	if !ok {
		t.Fatal("no latency histogram for POST /oauth2/token")
	}
	if got := h.GetHistogram().GetSampleCount(); got != 3 {
		t.Errorf("histogram sample count = %d, want 3", got)
	}
	if got, want := h.GetHistogram().GetSampleSum(), 0.041; got < want-1e-9 || got > want+1e-9 {
		t.Errorf("histogram sample sum = %v, want %v", got, want)
	}
	if _, ok := find(t, m.Gatherer(), "gatehouse_http_requests_total", map[string]string{"method": "BREW"}); ok {
		t.Error("a client-chosen method became a label value")
	}
}

func TestTokensAndSignIns(t *testing.T) {
	m := New(Options{})
	m.TokenIssued("authorization_code")
	m.TokenIssued("refresh_token")
	m.TokenIssued("refresh_token")
	m.TokenIssued("made-up")
	m.SignIn(SignInSuccess)
	m.SignIn(SignInFailure)
	m.SignIn(SignInFailure)
	m.SignIn(SignInThrottled)
	m.SignIn("whatever")
	for _, tc := range []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"code", "gatehouse_tokens_issued_total", map[string]string{"grant_type": "authorization_code"}, 1},
		{"refresh", "gatehouse_tokens_issued_total", map[string]string{"grant_type": "refresh_token"}, 2},
		{"client credentials starts at zero", "gatehouse_tokens_issued_total", map[string]string{"grant_type": "client_credentials"}, 0},
		{"unknown grant", "gatehouse_tokens_issued_total", map[string]string{"grant_type": "other"}, 1},
		{"success", "gatehouse_sign_ins_total", map[string]string{"outcome": "success"}, 1},
		{"failure", "gatehouse_sign_ins_total", map[string]string{"outcome": "failure"}, 2},
		{"throttled", "gatehouse_sign_ins_total", map[string]string{"outcome": "throttled"}, 1},
		{"unknown outcome", "gatehouse_sign_ins_total", map[string]string{"outcome": "other"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := value(t, m.Gatherer(), tc.metric, tc.labels); got != tc.want {
				t.Errorf("%s%v = %v, want %v", tc.metric, tc.labels, got, tc.want)
			}
		})
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.ObserveRequest("/healthz", http.MethodGet, 200, time.Millisecond)
	m.TokenIssued("client_credentials")
	m.SignIn(SignInSuccess)
}

func TestBuildInfoAndRuntime(t *testing.T) {
	m := New(Options{Version: "1.2.3"})
	if got := value(t, m.Gatherer(), "gatehouse_build_info", map[string]string{"version": "1.2.3", "go_version": runtime.Version()}); got != 1 {
		t.Errorf("gatehouse_build_info = %v, want 1", got)
	}
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if _, ok := find(t, m.Gatherer(), name, nil); !ok && (name != "process_start_time_seconds" || runtime.GOOS == "linux") {
			t.Errorf("no %s: the Go and process collectors are not registered", name)
		}
	}
	if _, ok := find(t, m.Gatherer(), "gatehouse_db_connections", nil); ok {
		t.Error("pool metrics without a store")
	}
}

func TestHandler(t *testing.T) {
	m := New(Options{Version: "1.2.3", Store: storagetest.OpenSQLite(t)})
	m.TokenIssued("client_credentials")
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`gatehouse_tokens_issued_total{grant_type="client_credentials"} 1`,
		`gatehouse_build_info{go_version="` + runtime.Version() + `",version="1.2.3"} 1`,
		`gatehouse_db_connections{state="in_use"}`,
		`gatehouse_migration_version `,
		`go_goroutines `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("GET /metrics lacks %q", want)
		}
	}
	if err := testutil.GatherAndCompare(m.Gatherer(), strings.NewReader(`
# HELP gatehouse_tokens_issued_total Successful token endpoint responses, by grant type.
# TYPE gatehouse_tokens_issued_total counter
gatehouse_tokens_issued_total{grant_type="authorization_code"} 0
gatehouse_tokens_issued_total{grant_type="client_credentials"} 1
gatehouse_tokens_issued_total{grant_type="refresh_token"} 0
`), "gatehouse_tokens_issued_total"); err != nil {
		t.Error(err)
	}
}

func TestPool(t *testing.T) {
	store := storagetest.OpenSQLite(t)
	db := store.DB()
	db.SetMaxOpenConns(1)
	// Only the pool collector: the migration version would itself wait for the
	// one connection this test holds.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newPoolCollector(db))
	ctx := t.Context()

	held, err := db.Conn(ctx)
	if err != nil {
		t.Fatalf("take a connection: %v", err)
	}
	if got := value(t, reg, "gatehouse_db_connections", map[string]string{"state": "in_use"}); got != 1 {
		t.Errorf("in_use with one connection held = %v, want 1", got)
	}
	if got := value(t, reg, "gatehouse_db_connections_max", nil); got != 1 {
		t.Errorf("gatehouse_db_connections_max = %v, want 1", got)
	}
	if got := value(t, reg, "gatehouse_db_wait_count_total", nil); got != 0 {
		t.Errorf("wait count before anyone waited = %v, want 0", got)
	}

	// A second query waits for the only connection.
	done := make(chan error, 1)
	go func() { done <- db.PingContext(ctx) }()
	poll(t, "a query to wait for a connection", func() bool { return db.Stats().WaitCount == 1 })
	if err := held.Close(); err != nil {
		t.Fatalf("release the connection: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("waiting query: %v", err)
	}
	if got := value(t, reg, "gatehouse_db_wait_count_total", nil); got != 1 {
		t.Errorf("gatehouse_db_wait_count_total = %v, want 1", got)
	}
	if got := value(t, reg, "gatehouse_db_wait_seconds_total", nil); got <= 0 {
		t.Errorf("gatehouse_db_wait_seconds_total = %v, want > 0", got)
	}
	if got := value(t, reg, "gatehouse_db_connections", map[string]string{"state": "in_use"}); got != 0 {
		t.Errorf("in_use after release = %v, want 0", got)
	}
	if got := value(t, reg, "gatehouse_db_connections", map[string]string{"state": "idle"}); got != 1 {
		t.Errorf("idle after release = %v, want 1", got)
	}
}

// poll waits, with a deadline, until cond holds.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func TestMigrationVersion(t *testing.T) {
	known, err := storage.KnownVersions(storage.SQLite)
	if err != nil || len(known) == 0 {
		t.Fatalf("KnownVersions(sqlite) = %v, %v", known, err)
	}
	latest := float64(known[len(known)-1])

	t.Run("migrated", func(t *testing.T) {
		m := New(Options{Store: storagetest.OpenSQLite(t)})
		if got := value(t, m.Gatherer(), "gatehouse_migration_version", nil); got != latest {
			t.Errorf("gatehouse_migration_version = %v, want %v", got, latest)
		}
	})
	t.Run("empty database", func(t *testing.T) {
		s, err := storage.Open(storage.Options{URL: "sqlite:" + t.TempDir() + "/empty.db"})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		m := New(Options{Store: s})
		if got := value(t, m.Gatherer(), "gatehouse_migration_version", nil); got != 0 {
			t.Errorf("gatehouse_migration_version = %v, want 0", got)
		}
	})
	t.Run("unreachable database", func(t *testing.T) {
		s := storagetest.OpenSQLite(t)
		s.Close()
		m := New(Options{Store: s, MigrationTimeout: time.Second})
		if got := value(t, m.Gatherer(), "gatehouse_migration_version", nil); got != 0 {
			t.Errorf("gatehouse_migration_version = %v, want 0", got)
		}
	})
	t.Run("rolled back", func(t *testing.T) {
		s := storagetest.OpenSQLite(t)
		mig, err := s.Migrator()
		if err != nil {
			t.Fatalf("migrator: %v", err)
		}
		down, err := mig.Down(context.Background())
		if err != nil {
			t.Fatalf("migrate down: %v", err)
		}
		m := New(Options{Store: s})
		want := float64(known[slices.Index(known, down)-1])
		if got := value(t, m.Gatherer(), "gatehouse_migration_version", nil); got != want {
			t.Errorf("gatehouse_migration_version after rolling back %d = %v, want %v", down, got, want)
		}
	})
}
