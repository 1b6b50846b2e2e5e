package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"

	"github.com/gatehouse-id/gatehouse/internal/outbound"
	"github.com/gatehouse-id/gatehouse/internal/reqlog"
	"github.com/gatehouse-id/gatehouse/storage"
)

func TestCacheTTL(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value []string
		want  time.Duration
	}{
		{"absent", nil, jwksDefaultTTL},
		{"max-age in bounds", []string{"public, max-age=300"}, 5 * time.Minute},
		{"max-age below the floor", []string{"max-age=5"}, jwksMinTTL},
		{"max-age zero", []string{"max-age=0"}, jwksMinTTL},
		{"max-age over the ceiling", []string{"max-age=864000"}, jwksMaxTTL},
		{"max-age huge", []string{"max-age=99999999999999999"}, jwksMaxTTL},
		{"max-age overflowing", []string{"max-age=99999999999999999999"}, jwksDefaultTTL}, // unparsable: ignored
		{"max-age quoted", []string{`max-age="120"`}, 2 * time.Minute},
		{"no-store", []string{"no-store"}, jwksMinTTL},
		{"no-cache with max-age", []string{"max-age=3600, no-cache"}, jwksMinTTL},
		{"second header line", []string{"public", "Max-Age=7200"}, 2 * time.Hour},
		{"negative", []string{"max-age=-1"}, jwksDefaultTTL},
		{"garbage", []string{"max-age=soon"}, jwksDefaultTTL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tc.value {
				h.Add("Cache-Control", v)
			}
			if got := cacheTTL(h); got != tc.want {
				t.Errorf("cacheTTL(%q) = %v, want %v", tc.value, got, tc.want)
			}
		})
	}
}

// fakeClock is a clock moved by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// keysServer serves a JWK Set with the given Cache-Control and counts requests.
type keysServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newKeysServer(t *testing.T, h http.HandlerFunc) *keysServer {
	t.Helper()
	s := &keysServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func publicJWKS(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newTestFetcher(clock *fakeClock) *jwksFetcher {
	return newJWKSFetcher(outbound.New(outbound.Options{AllowLoopback: true}), clock.Now, slog.New(slog.DiscardHandler))
}

// TestJWKSFetcherHonoursMaxAge: a fetched set is used until its max-age (within
// bounds) runs out, then fetched again.
func TestJWKSFetcherHonoursMaxAge(t *testing.T) {
	jwks := publicJWKS(t)
	for _, tc := range []struct {
		name, cacheControl string
		kept               time.Duration // still cached this long after the fetch
	}{
		{"max-age 300", "max-age=300", 300 * time.Second},
		{"max-age 5 is kept a minute", "max-age=5", jwksMinTTL},
		{"no max-age", "", jwksDefaultTTL},
		{"max-age of ten days is kept a day", "max-age=864000", jwksMaxTTL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newKeysServer(t, func(w http.ResponseWriter, _ *http.Request) {
				if tc.cacheControl != "" {
					w.Header().Set("Cache-Control", tc.cacheControl)
				}
				io.WriteString(w, jwks)
			})
			clock := &fakeClock{now: time.Now()}
			f := newTestFetcher(clock)
			resolve := func() {
				t.Helper()
				set, err := f.Resolve(t.Context(), srv.URL, false)
				if err != nil || len(set.Key("k1")) != 1 {
					t.Fatalf("Resolve = %v, %v; want the set with k1", set, err)
				}
			}
			resolve()
			clock.Advance(tc.kept - time.Second)
			resolve()
			if n := srv.hits.Load(); n != 1 {
				t.Fatalf("within max-age: %d fetches, want 1", n)
			}
			clock.Advance(2 * time.Second)
			resolve()
			if n := srv.hits.Load(); n != 2 {
				t.Fatalf("after max-age: %d fetches, want 2", n)
			}
		})
	}
}

// TestJWKSFetcherRefetchOncePerMinute: ignoreCache (an unknown kid) refetches at
// most once a minute per jwks_uri.
func TestJWKSFetcherRefetchOncePerMinute(t *testing.T) {
	jwks := publicJWKS(t)
	srv := newKeysServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, jwks) })
	clock := &fakeClock{now: time.Now()}
	f := newTestFetcher(clock)
	for range 10 {
		if _, err := f.Resolve(t.Context(), srv.URL, false); err != nil {
			t.Fatal(err)
		}
		if _, err := f.Resolve(t.Context(), srv.URL, true); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.hits.Load(); n != 1 {
		t.Fatalf("10 kid misses in a minute: %d fetches, want 1", n)
	}
	clock.Advance(jwksRefetchInterval)
	f.Resolve(t.Context(), srv.URL, true)
	f.Resolve(t.Context(), srv.URL, true)
	if n := srv.hits.Load(); n != 2 {
		t.Fatalf("kid misses a minute later: %d fetches in all, want 2", n)
	}
}

// TestJWKSFetcherSharesOneFetch: concurrent requests for one jwks_uri wait for
// one fetch and all get its set.
func TestJWKSFetcherSharesOneFetch(t *testing.T) {
	jwks := publicJWKS(t)
	release := make(chan struct{})
	srv := newKeysServer(t, func(w http.ResponseWriter, _ *http.Request) {
		<-release
		io.WriteString(w, jwks)
	})
	f := newTestFetcher(&fakeClock{now: time.Now()})
	const n = 8
	var wg sync.WaitGroup
	sets := make([]*jose.JSONWebKeySet, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { sets[i], errs[i] = f.Resolve(context.Background(), srv.URL, i%2 == 0) })
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		waiting := 0
		if e := f.entries[srv.URL]; e != nil && e.call != nil {
			waiting = e.call.waiters
		}
		f.mu.Unlock()
		if waiting == n-1 {
			break
		}
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("after 10 s, %d of %d requests wait for the fetch", waiting, n-1)
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	for i := range n {
		if errs[i] != nil || sets[i] != sets[0] {
			t.Errorf("request %d: %p, %v; want the shared set %p", i, sets[i], errs[i], sets[0])
		}
	}
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("%d concurrent requests made %d fetches, want 1", n, got)
	}
}

// TestJWKSFetcherFailures: every failure is invalid_client with the generic hint,
// never a network error (which the token endpoint would take for a lost
// database); the cause is on the request's log line; a failure is remembered
// briefly, so a burst of requests sends the target one request.
func TestJWKSFetcherFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/jwks"
	ln.Close()
	failing := newKeysServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	notJSON := newKeysServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "<html>") })
	empty := newKeysServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"keys":[]}`) })
	for _, tc := range []struct {
		name, url, cause string
		hits             *atomic.Int64
	}{
		{"connection refused", closed, "unreachable", nil},
		{"bad gateway", failing.URL + "/jwks?token=s3cr3t", "unexpected status (status 502)", &failing.hits},
		{"not JSON", notJSON.URL, "not a JWK Set", &notJSON.hits},
		{"no keys", empty.URL, "no keys", &empty.hits},
		{"refused address", "https://10.1.2.3/jwks", "address refused", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Now()}
			f := newTestFetcher(clock)
			for i := range 3 {
				ctx, note := reqlog.Start(t.Context())
				_, err := f.Resolve(ctx, tc.url, i == 1)
				rfc := fosite.ErrorToRFC6749Error(err)
				if !errors.Is(err, fosite.ErrInvalidClient) || rfc.HintField != jwksUnusableHint || rfc.DebugField != "" || rfc.Unwrap() != nil {
					t.Fatalf("Resolve = %#v, want invalid_client with only the generic hint", err)
				}
				var netErr net.Error
				if errors.As(err, &netErr) || storage.IsConnectionLoss(err) || storage.IsUnavailable(err) {
					t.Fatalf("Resolve = %v: reads as a lost database", err)
				}
				attrs := note.Attrs()
				if len(attrs) != 1 || attrs[0].Key != "jwks_fetch" || !strings.Contains(attrs[0].Value.String(), tc.cause) {
					t.Fatalf("log line attributes = %v, want jwks_fetch saying %q", attrs, tc.cause)
				}
				if strings.Contains(attrs[0].Value.String(), "s3cr3t") {
					t.Errorf("the log line carries the jwks_uri's query: %v", attrs)
				}
			}
			if tc.hits != nil {
				if n := tc.hits.Load(); n != 1 {
					t.Fatalf("3 requests within %v of a failure: %d fetches, want 1", jwksFailureBackoff, n)
				}
				clock.Advance(jwksFailureBackoff)
				f.Resolve(t.Context(), tc.url, false)
				if n := tc.hits.Load(); n != 2 {
					t.Fatalf("after the backoff: %d fetches in all, want 2", n)
				}
			}
		})
	}
}

// TestJWKSFetcherKeepsSetOnFailedRefetch: a failed refetch after an unknown kid
// does not throw away a set that is still fresh.
func TestJWKSFetcherKeepsSetOnFailedRefetch(t *testing.T) {
	jwks := publicJWKS(t)
	var down atomic.Bool
	srv := newKeysServer(t, func(w http.ResponseWriter, _ *http.Request) {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, jwks)
	})
	clock := &fakeClock{now: time.Now()}
	f := newTestFetcher(clock)
	if _, err := f.Resolve(t.Context(), srv.URL, false); err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	clock.Advance(jwksRefetchInterval)
	if _, err := f.Resolve(t.Context(), srv.URL, true); !errors.Is(err, fosite.ErrInvalidClient) {
		t.Fatalf("failed refetch = %v, want invalid_client", err)
	}
	if set, err := f.Resolve(t.Context(), srv.URL, false); err != nil || len(set.Key("k1")) != 1 {
		t.Fatalf("after a failed refetch, Resolve = %v, %v; want the fresh set still", set, err)
	}
}
