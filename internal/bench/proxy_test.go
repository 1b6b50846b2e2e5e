package bench_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/internal/bench"
)

// postgresURL is TEST_DATABASE_URL, the PostgreSQL the tests use; without it
// the test fails in CI and is skipped elsewhere, as storagetest does.
func postgresURL(t *testing.T) *url.URL {
	t.Helper()
	raw := os.Getenv("TEST_DATABASE_URL")
	if raw == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("TEST_DATABASE_URL is not set; CI needs a PostgreSQL")
		}
		t.Skip("set TEST_DATABASE_URL to a PostgreSQL to run this test")
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), "5432")
	}
	return u
}

// startProxy runs a latency proxy in front of the PostgreSQL of u and returns
// u pointed at it.
func startProxy(t *testing.T, u *url.URL, rtt time.Duration) *url.URL {
	t.Helper()
	p, err := bench.NewLatencyProxy("127.0.0.1:0", u.Host, rtt, nil)
	if err != nil {
		t.Fatalf("NewLatencyProxy: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	via := *u
	via.Host = p.Addr()
	return &via
}

// TestLatencyProxyDelaysPostgres: every round trip to a real PostgreSQL
// through the proxy takes at least the configured RTT, statements pipelined in
// one batch share one RTT, and large results arrive whole and in order.
func TestLatencyProxyDelaysPostgres(t *testing.T) {
	const rtt = 40 * time.Millisecond
	u := startProxy(t, postgresURL(t), rtt)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatalf("connect through the proxy: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })

	for i := range 3 {
		start := time.Now()
		var got int
		if err := conn.QueryRow(ctx, "SELECT $1::int + 1", i).Scan(&got); err != nil || got != i+1 {
			t.Fatalf("SELECT through the proxy = %d, %v; want %d", got, err, i+1)
		}
		if took := time.Since(start); took < rtt {
			t.Errorf("round trip %d through the proxy took %s, want at least the RTT %s", i, took, rtt)
		}
	}

	// Ten statements in one batch are one round trip: at least one RTT.
	batch := &pgx.Batch{}
	for i := range 10 {
		batch.Queue("SELECT $1::int", i)
	}
	start := time.Now()
	res := conn.SendBatch(ctx, batch)
	for i := range 10 {
		var got int
		if err := res.QueryRow().Scan(&got); err != nil || got != i {
			t.Fatalf("batch result %d = %d, %v", i, got, err)
		}
	}
	if err := res.Close(); err != nil {
		t.Fatalf("batch: %v", err)
	}
	if took := time.Since(start); took < rtt {
		t.Errorf("a pipelined batch took %s, want at least the RTT %s", took, rtt)
	}

	// Two megabytes each way, in order: the server echoes what it was sent.
	var sb strings.Builder
	for i := 0; sb.Len() < 2<<20; i++ {
		fmt.Fprintf(&sb, "%08d,", i)
	}
	var echo string
	if err := conn.QueryRow(ctx, "SELECT $1::text", sb.String()).Scan(&echo); err != nil {
		t.Fatalf("large echo: %v", err)
	}
	if echo != sb.String() {
		t.Fatalf("large echo through the proxy differs: %d bytes back, want %d", len(echo), sb.Len())
	}
}

// TestLatencyProxyConcurrentConnections: connections are independent; each
// sees its own answers and the delay.
func TestLatencyProxyConcurrentConnections(t *testing.T) {
	const rtt = 20 * time.Millisecond
	u := startProxy(t, postgresURL(t), rtt)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, u.String())
			if err != nil {
				t.Errorf("worker %d: connect: %v", w, err)
				return
			}
			defer conn.Close(ctx)
			for i := range 5 {
				start := time.Now()
				var got string
				want := fmt.Sprintf("w%d-%d", w, i)
				if err := conn.QueryRow(ctx, "SELECT $1::text", want).Scan(&got); err != nil || got != want {
					t.Errorf("worker %d: got %q, %v; want %q", w, got, err, want)
					return
				}
				if took := time.Since(start); took < rtt {
					t.Errorf("worker %d: round trip took %s, want at least %s", w, took, rtt)
				}
			}
		}()
	}
	wg.Wait()
}

func TestLatencyProxyRefusesBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, listen, target string
		rtt                  time.Duration
	}{
		{"negative rtt", "127.0.0.1:0", "127.0.0.1:5432", -time.Millisecond},
		{"target without port", "127.0.0.1:0", "127.0.0.1", time.Millisecond},
		{"bad listen address", "256.0.0.1:0", "127.0.0.1:5432", time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := bench.NewLatencyProxy(tc.listen, tc.target, tc.rtt, nil)
			if err == nil {
				p.Close()
				t.Fatalf("NewLatencyProxy(%q, %q, %s) succeeded, want an error", tc.listen, tc.target, tc.rtt)
			}
		})
	}
}
