package outbound_test

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/outbound"
)

// target is a test server that counts the requests it gets.
type target struct {
	*httptest.Server
	hits atomic.Int64
}

func newTarget(t *testing.T, tls bool, h http.HandlerFunc) *target {
	t.Helper()
	tg := &target{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.hits.Add(1)
		h(w, r)
	})
	if tls {
		tg.Server = httptest.NewTLSServer(handler)
	} else {
		tg.Server = httptest.NewServer(handler)
	}
	t.Cleanup(tg.Close)
	return tg
}

// roots trusts the test server's certificate.
func roots(tg *target) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(tg.Certificate())
	return p
}

func ok(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"keys":[]}`) }

// wantKind fails the test unless err is an *outbound.Error of kind.
func wantKind(t *testing.T, err error, kind error) *outbound.Error {
	t.Helper()
	var oe *outbound.Error
	if !errors.As(err, &oe) {
		t.Fatalf("error = %v (%T), want an *outbound.Error of kind %v", err, err, kind)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("error = %v, want kind %v", err, kind)
	}
	return oe
}

// TestGetAllowedURLs: https only; plain http only to a loopback host and only
// with AllowLoopback; no user information; absolute URLs.
func TestGetAllowedURLs(t *testing.T) {
	plain := newTarget(t, false, ok)
	secure := newTarget(t, true, ok)
	port := func(tg *target) string {
		_, p, _ := net.SplitHostPort(tg.Listener.Addr().String())
		return p
	}
	for _, tc := range []struct {
		name          string
		url           string
		allowLoopback bool
		wantErr       error // nil: success
	}{
		{"https loopback with loopback allowed", secure.URL + "/jwks", true, nil},
		{"http loopback IP with loopback allowed", plain.URL + "/jwks", true, nil},
		{"http localhost with loopback allowed", "http://localhost:" + port(plain) + "/jwks", true, nil},
		{"http loopback without loopback allowed", plain.URL + "/jwks", false, outbound.ErrNotAllowed},
		{"http to a non-loopback name even with loopback allowed", "http://vm:" + port(plain) + "/jwks", true, outbound.ErrNotAllowed},
		{"http public host", "http://jwks.example/keys", false, outbound.ErrNotAllowed},
		{"ftp", "ftp://jwks.example/keys", true, outbound.ErrNotAllowed},
		{"file", "file:///etc/passwd", true, outbound.ErrNotAllowed},
		{"relative", "/keys", true, outbound.ErrNotAllowed},
		{"user information", "https://user:pass@127.0.0.1:" + port(secure) + "/jwks", true, outbound.ErrNotAllowed},
		{"unparsable", "https://[::1", true, outbound.ErrNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := plain.hits.Load() + secure.hits.Load()
			c := outbound.New(outbound.Options{AllowLoopback: tc.allowLoopback, RootCAs: roots(secure)})
			resp, err := c.Get(t.Context(), tc.url)
			if tc.wantErr == nil {
				if err != nil || resp.StatusCode != http.StatusOK || string(resp.Body) != `{"keys":[]}` {
					t.Fatalf("Get(%s) = %+v, %v; want 200 and the body", tc.url, resp, err)
				}
				return
			}
			oe := wantKind(t, err, tc.wantErr)
			if strings.Contains(oe.Error(), ":pass@") {
				t.Errorf("error %q repeats the URL's user information", oe.Error())
			}
			if got := plain.hits.Load() + secure.hits.Load(); got != before {
				t.Errorf("a refused URL reached a target (%d requests)", got-before)
			}
		})
	}
}

// TestLocalhostRefusedAtDial: with loopback off, names that resolve to a loopback
// address are refused when dialled, after DNS resolution: the https URL itself is
// acceptable, the address it resolves to is not.
func TestLocalhostRefusedAtDial(t *testing.T) {
	secure := newTarget(t, true, ok)
	_, port, _ := net.SplitHostPort(secure.Listener.Addr().String())
	for _, host := range []string{"localhost", "127.0.0.1", "[::ffff:127.0.0.1]"} {
		t.Run(host, func(t *testing.T) {
			u := "https://" + host + ":" + port + "/jwks"
			refused, err := outbound.New(outbound.Options{RootCAs: roots(secure)}).Get(t.Context(), u)
			oe := wantKind(t, err, outbound.ErrRefused)
			if refused != nil || !strings.Contains(oe.Detail, "loopback") {
				t.Errorf("Get(%s) detail = %q, want the loopback range named", u, oe.Detail)
			}
			if n := secure.hits.Load(); n != 0 {
				t.Errorf("the target got %d requests, want 0", n)
			}
		})
	}
	// With loopback allowed the target is reached: the refusals above were the
	// address check, not a broken URL or certificate. (The test certificate
	// names 127.0.0.1, not localhost.)
	if _, err := outbound.New(outbound.Options{AllowLoopback: true, RootCAs: roots(secure)}).Get(t.Context(), "https://127.0.0.1:"+port+"/jwks"); err != nil {
		t.Fatalf("with loopback allowed: %v", err)
	}
}

// TestNoProxyFromEnvironment: HTTPS_PROXY and HTTP_PROXY are ignored; a proxy
// would connect to the target itself, past the address check.
func TestNoProxyFromEnvironment(t *testing.T) {
	proxy := newTarget(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	for _, k := range []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"} {
		t.Setenv(k, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	c := outbound.New(outbound.Options{})
	// A name that does not resolve here: only a proxy could have answered.
	_, err := c.Get(t.Context(), "https://jwks.invalid/keys")
	wantKind(t, err, outbound.ErrUnreachable)
	if n := proxy.hits.Load(); n != 0 {
		t.Fatalf("the proxy from the environment got %d requests, want 0", n)
	}
}

// TestBodyCap: reading stops at MaxBody; a longer body, declared or not, is
// ErrTooLarge; a body of exactly MaxBody is accepted.
func TestBodyCap(t *testing.T) {
	const limit = 1024
	chunk := []byte(strings.Repeat("x", 512))
	endless := newTarget(t, false, func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length, and no end: only the cap can stop the reading.
		for {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			if r.Context().Err() != nil {
				return
			}
		}
	})
	declared := newTarget(t, false, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(48<<20))
		w.Write(chunk) // the rest never comes: the declared length alone is refused
	})
	exact := newTarget(t, false, func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, strings.Repeat("y", limit))
	})
	c := outbound.New(outbound.Options{AllowLoopback: true, MaxBody: limit})
	for _, tc := range []struct {
		name string
		url  string
	}{
		{"endless chunked body", endless.URL},
		{"declared 48 MiB", declared.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Get(t.Context(), tc.url)
			wantKind(t, err, outbound.ErrTooLarge)
		})
	}
	resp, err := c.Get(t.Context(), exact.URL)
	if err != nil || len(resp.Body) != limit {
		t.Fatalf("a body of exactly MaxBody: %v, %v", resp, err)
	}
	if outbound.DefaultMaxBody != 256<<10 {
		t.Errorf("DefaultMaxBody = %d, want 256 KiB", outbound.DefaultMaxBody)
	}
}

// TestTimeout: a target that never answers, or stops in the middle of its body,
// is cut off at Options.Timeout and its request ends.
func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	ended := make(chan string, 2)
	stall := func(headers bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if headers {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"keys":[`)
				w.(http.Flusher).Flush()
			}
			select {
			case <-r.Context().Done():
				ended <- r.URL.Path
			case <-release:
			}
		}
	}
	noAnswer := newTarget(t, false, stall(false))
	midBody := newTarget(t, false, stall(true))
	// Registered after the targets, so it runs before their Close, which waits
	// for their handlers.
	t.Cleanup(func() { close(release) })
	c := outbound.New(outbound.Options{AllowLoopback: true, Timeout: 100 * time.Millisecond})
	for _, tc := range []struct{ name, url string }{
		{"no answer", noAnswer.URL + "/no-answer"},
		{"stalled body", midBody.URL + "/mid-body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan error, 1)
			go func() {
				_, err := c.Get(context.Background(), tc.url)
				got <- err
			}()
			select {
			case err := <-got:
				wantKind(t, err, outbound.ErrTimeout)
			case <-time.After(10 * time.Second):
				t.Fatal("Get had not returned 10 s after its 100 ms timeout")
			}
			select {
			case <-ended:
			case <-time.After(10 * time.Second):
				t.Fatal("the target's request was still open 10 s after the client gave up")
			}
		})
	}
	if outbound.DefaultTimeout != 5*time.Second {
		t.Errorf("DefaultTimeout = %v, want 5s", outbound.DefaultTimeout)
	}
}

// TestNoRedirects: a redirect is never followed, to another host or the same.
func TestNoRedirects(t *testing.T) {
	elsewhere := newTarget(t, false, ok)
	redirector := newTarget(t, false, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/jwks", http.StatusFound)
	})
	c := outbound.New(outbound.Options{AllowLoopback: true})
	_, err := c.Get(t.Context(), redirector.URL)
	if oe := wantKind(t, err, outbound.ErrRedirect); oe.StatusCode != http.StatusFound {
		t.Errorf("StatusCode = %d, want 302", oe.StatusCode)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, redirector.URL, strings.NewReader("logout_token=x"))
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("Do = %+v, %v; want the 302 itself", resp, err)
	}
	if n := elsewhere.hits.Load(); n != 0 {
		t.Fatalf("the redirect target got %d requests, want 0", n)
	}
	if n := redirector.hits.Load(); n != 2 {
		t.Errorf("the redirecting target got %d requests, want 2 (one per call)", n)
	}
}

// TestOneAttempt: a 5xx is an ErrStatus after exactly one request; Do returns
// it with its body.
func TestOneAttempt(t *testing.T) {
	failing := newTarget(t, false, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"error":"down"}`)
	})
	c := outbound.New(outbound.Options{AllowLoopback: true})
	_, err := c.Get(t.Context(), failing.URL)
	if oe := wantKind(t, err, outbound.ErrStatus); oe.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("StatusCode = %d, want 503", oe.StatusCode)
	}
	if n := failing.hits.Load(); n != 1 {
		t.Fatalf("the target got %d requests for one Get, want 1", n)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, failing.URL, nil)
	resp, err := c.Do(req)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || string(resp.Body) != `{"error":"down"}` {
		t.Fatalf("Do = %+v, %v; want the 503 and its body", resp, err)
	}
	if n := failing.hits.Load(); n != 2 {
		t.Fatalf("the target got %d requests for one Get and one Do, want 2", n)
	}
}

// TestErrorsAreNotNetworkErrors: whatever failed, the error does not unwrap to
// net.Error, a syscall error or io.EOF, which storage.IsConnectionLoss takes for
// a lost database; and its message carries no query string.
func TestErrorsAreNotNetworkErrors(t *testing.T) {
	// A port nothing listens on: connection refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + ln.Addr().String() + "/jwks?secret=s3cr3t"
	ln.Close()
	// A target that hangs up in the middle of its answer: unexpected EOF.
	hangUp := newTarget(t, false, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, `{"keys":`)
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	stalled := newTarget(t, false, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	secure := newTarget(t, true, ok)
	canceled, cancel := context.WithCancel(t.Context())
	cancel()

	quick := outbound.New(outbound.Options{AllowLoopback: true, Timeout: 100 * time.Millisecond})
	loopback := outbound.New(outbound.Options{AllowLoopback: true})
	strict := outbound.New(outbound.Options{})
	for _, tc := range []struct {
		name string
		c    *outbound.Client
		ctx  context.Context
		url  string
		kind error
	}{
		{"connection refused", loopback, t.Context(), closedURL, outbound.ErrUnreachable},
		{"hang-up mid-body", loopback, t.Context(), hangUp.URL + "?secret=s3cr3t", outbound.ErrUnreachable},
		{"timeout", quick, t.Context(), stalled.URL + "?secret=s3cr3t", outbound.ErrTimeout},
		{"refused address", strict, t.Context(), secure.URL + "?secret=s3cr3t", outbound.ErrRefused},
		{"untrusted certificate", loopback, t.Context(), secure.URL + "?secret=s3cr3t", outbound.ErrTLS},
		{"unresolvable name", strict, t.Context(), "https://jwks.invalid/?secret=s3cr3t", outbound.ErrUnreachable},
		{"caller canceled", loopback, canceled, secure.URL + "?secret=s3cr3t", outbound.ErrCanceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.Get(tc.ctx, tc.url)
			wantKind(t, err, tc.kind)
			var netErr net.Error
			var errno syscall.Errno
			switch {
			case errors.As(err, &netErr):
				t.Errorf("%v unwraps to a net.Error", err)
			case errors.As(err, &errno):
				t.Errorf("%v unwraps to a syscall error", err)
			case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
				t.Errorf("%v unwraps to an io error", err)
			case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
				t.Errorf("%v unwraps to a context error", err)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error %q repeats the query string", err)
			}
		})
	}
}
