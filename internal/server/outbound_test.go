package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-id/gatehouse/internal/outbound"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// jwksUnusable is the one sentence a client learns when its jwks_uri failed,
// whatever the failure was.
const jwksUnusable = "The client's jwks_uri could not be used."

// countingServer is a client's jwks_uri endpoint that counts its requests.
type countingServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newCountingServer(t *testing.T, h http.HandlerFunc) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// testClock is a clock the test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// jwtClient stores a private_key_jwt client whose keys are at jwksURI.
func (e *env) jwtClient(jwksURI string) storage.Client {
	e.t.Helper()
	c, _ := e.client(storage.Client{Name: "Service", TokenEndpointAuthMethod: "private_key_jwt", TokenEndpointAuthSigningAlg: "ES256",
		JWKSURI: jwksURI, GrantTypes: storage.StringList{"client_credentials"}, ResponseTypes: storage.StringList{}, Scopes: storage.StringList{"reports"}})
	return c
}

// assertionGrant asks for a client_credentials token (no scope) with a client
// assertion signed by priv under kid.
func (e *env) assertionGrant(t *testing.T, clientID string, priv *ecdsa.PrivateKey, kid string) (int, http.Header, map[string]any) {
	t.Helper()
	// The assertion must be valid by the real clock (fosite checks it) and by
	// the server's, which a test may have moved ahead.
	issued, expires := time.Now(), time.Now()
	if e.now != nil {
		issued, expires = minTime(issued, e.now()), maxTime(expires, e.now())
	}
	raw := signedAssertion(t, priv, kid, jwt.Claims{Issuer: clientID, Subject: clientID, Audience: jwt.Audience{e.issuer + "/oauth2/token"},
		ID: randomHex(8), IssuedAt: jwt.NewNumericDate(issued), Expiry: jwt.NewNumericDate(expires.Add(2 * time.Minute))})
	form := url.Values{"grant_type": {"client_credentials"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {raw}}
	return e.postForm("/oauth2/token", form, "", "")
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// wantJWKSUnusable checks the answer to a token request whose client's jwks_uri
// failed: 401 invalid_client with the generic sentence, and nothing of what the
// target did or where it is.
func wantJWKSUnusable(t *testing.T, status int, body map[string]any, target string, leaks ...string) {
	t.Helper()
	desc, _ := body["error_description"].(string)
	if status != http.StatusUnauthorized || body["error"] != "invalid_client" || !strings.Contains(desc, jwksUnusable) {
		t.Fatalf("token request = %d %v, want 401 invalid_client saying %q", status, body, jwksUnusable)
	}
	u, _ := url.Parse(target)
	host, port, _ := net.SplitHostPort(u.Host)
	for _, leak := range append([]string{host, port, u.Host, "redirect", "timed out", "too large", "status", "refused"}, leaks...) {
		if leak != "" && strings.Contains(strings.ToLower(desc), strings.ToLower(leak)) {
			t.Errorf("error_description %q reveals %q", desc, leak)
		}
	}
}

// waitFor polls cond until it holds or ten seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after 10 s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestJWKSURIRegistration: dynamic registration refuses a jwks_uri the server
// must not fetch; a loopback http one only when the development setting is on.
func TestJWKSURIRegistration(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		meta := func(jwksURI string) string {
			b, _ := json.Marshal(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "grant_types": []string{"client_credentials"}, "jwks_uri": jwksURI})
			return string(b)
		}
		strict := newEnv(t, open(t), withRegistration)
		for _, tc := range []struct{ name, uri string }{
			{"http loopback", "http://127.0.0.1:9/x"},
			{"http localhost", "http://localhost:9/x"},
			{"https loopback", "https://127.0.0.1/jwks"},
			{"https localhost", "https://localhost/jwks"},
			{"http public", "http://keys.example.com/jwks"},
			{"private address", "https://10.0.0.7/jwks"},
			{"metadata address", "https://169.254.169.254/latest/meta-data"},
			{"mapped loopback", "https://[::ffff:127.0.0.1]/jwks"},
			{"fragment", "https://keys.example.com/jwks#k"},
			{"user information", "https://user:pw@keys.example.com/jwks"},
			{"relative", "/jwks"},
			{"not http", "ftp://keys.example.com/jwks"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				status, _, body := strict.call(http.MethodPost, "/oauth2/register", initialToken, meta(tc.uri))
				desc, _ := body["error_description"].(string)
				if status != http.StatusBadRequest || body["error"] != "invalid_client_metadata" || !strings.Contains(desc, "jwks_uri") {
					t.Fatalf("register jwks_uri %q = %d %v, want 400 invalid_client_metadata on jwks_uri", tc.uri, status, body)
				}
			})
		}
		if status, _, body := strict.call(http.MethodPost, "/oauth2/register", initialToken, meta("https://keys.example.com/jwks")); status != http.StatusCreated {
			t.Fatalf("register an https jwks_uri = %d %v, want 201", status, body)
		}

		dev := newEnvDeps(t, open(t), envDeps{outbound: outbound.New(outbound.Options{AllowLoopback: true})}, withRegistration)
		for _, uri := range []string{"http://127.0.0.1:9/x", "http://localhost:9/x", "https://127.0.0.1/jwks"} {
			if status, _, body := dev.call(http.MethodPost, "/oauth2/register", initialToken, meta(uri)); status != http.StatusCreated {
				t.Errorf("with loopback allowed, register jwks_uri %q = %d %v, want 201", uri, status, body)
			}
		}
		for _, uri := range []string{"https://10.0.0.7/jwks", "http://keys.example.com/jwks"} {
			if status, _, body := dev.call(http.MethodPost, "/oauth2/register", initialToken, meta(uri)); status != http.StatusBadRequest {
				t.Errorf("with loopback allowed, register jwks_uri %q = %d %v, want 400", uri, status, body)
			}
		}
	})
}

// TestJWKSURIFetchGuarded replays the outside review's probes: a
// private_key_jwt client registered with an http loopback jwks_uri (the
// development setting on, so the fetch is made at all), then token requests.
func TestJWKSURIFetchGuarded(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		priv, kid, jwks := clientKey(t)
		e := newEnvDeps(t, open(t), envDeps{outbound: outbound.New(outbound.Options{AllowLoopback: true})}, withRegistration)

		t.Run("redirect to another host is not followed", func(t *testing.T) {
			elsewhere := newCountingServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, jwks) })
			redirector := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1)+"/x", http.StatusFound)
			})
			// Registered as the reviewer did, through dynamic registration.
			b, _ := json.Marshal(map[string]any{"token_endpoint_auth_method": "private_key_jwt", "token_endpoint_auth_signing_alg": "ES256",
				"grant_types": []string{"client_credentials"}, "jwks_uri": redirector.URL + "/x"})
			status, _, reg := e.call(http.MethodPost, "/oauth2/register", initialToken, string(b))
			if status != http.StatusCreated {
				t.Fatalf("register: %d %v", status, reg)
			}
			status, _, body := e.assertionGrant(t, reg["client_id"].(string), priv, kid)
			wantJWKSUnusable(t, status, body, redirector.URL, "302", "found")
			if n := elsewhere.hits.Load(); n != 0 {
				t.Errorf("the redirect was followed: the other host got %d requests", n)
			}
			if n := redirector.hits.Load(); n != 1 {
				t.Errorf("the jwks_uri got %d requests, want 1", n)
			}
			if !strings.Contains(e.logs.String(), "redirect not followed") {
				t.Errorf("the request's log line does not say why:\n%s", e.logs.String())
			}
		})

		t.Run("5xx is one attempt and not echoed", func(t *testing.T) {
			failing := newCountingServer(t, func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusInternalServerError)
			})
			c := e.jwtClient(failing.URL + "/x")
			status, _, body := e.assertionGrant(t, c.ID, priv, kid)
			wantJWKSUnusable(t, status, body, failing.URL, "500")
			if n := failing.hits.Load(); n != 1 {
				t.Errorf("the failing jwks_uri got %d requests for one token request, want exactly 1", n)
			}
		})

		t.Run("oversized body is refused unread", func(t *testing.T) {
			ended := make(chan struct{})
			chunk := []byte(strings.Repeat(" ", 64<<10))
			endless := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
				defer close(ended)
				io.WriteString(w, `{"keys":[`)
				for r.Context().Err() == nil {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			})
			c := e.jwtClient(endless.URL + "/x")
			status, _, body := e.assertionGrant(t, c.ID, priv, kid)
			wantJWKSUnusable(t, status, body, endless.URL)
			select {
			case <-ended:
			case <-time.After(10 * time.Second):
				t.Fatal("the endless body was still being sent 10 s after the token response")
			}
			if !strings.Contains(e.logs.String(), "response too large") {
				t.Errorf("the request's log line does not say why:\n%s", e.logs.String())
			}
		})

		t.Run("refused connection is invalid_client, not an outage", func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			mustf(t, err, "listen")
			closed := "http://" + ln.Addr().String() + "/x"
			ln.Close()
			c := e.jwtClient(closed)
			status, h, body := e.assertionGrant(t, c.ID, priv, kid)
			if status == http.StatusServiceUnavailable || h.Get("Retry-After") != "" {
				t.Fatalf("a refused jwks_uri connection = %d %v (Retry-After %q): reported as an outage", status, body, h.Get("Retry-After"))
			}
			wantJWKSUnusable(t, status, body, closed, "database", "unreachable")
		})

		t.Run("not a JWK Set", func(t *testing.T) {
			junk := newCountingServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "<html>hello</html>") })
			c := e.jwtClient(junk.URL + "/x")
			status, _, body := e.assertionGrant(t, c.ID, priv, kid)
			wantJWKSUnusable(t, status, body, junk.URL, "html")
		})
	})
}

// TestJWKSURIStalledTarget: a jwks_uri that never answers holds the token
// request only until the outbound timeout, then the client gets invalid_client.
func TestJWKSURIStalledTarget(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		priv, kid, _ := clientKey(t)
		e := newEnvDeps(t, open(t), envDeps{outbound: outbound.New(outbound.Options{AllowLoopback: true, Timeout: 300 * time.Millisecond})})
		release := make(chan struct{})
		cut := make(chan struct{}, 1)
		stalled := newCountingServer(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
				cut <- struct{}{}
			case <-release:
			}
		})
		t.Cleanup(func() { close(release) }) // before the server's Close, which waits for this handler
		c := e.jwtClient(stalled.URL + "/x")
		type answer struct {
			status int
			body   map[string]any
		}
		done := make(chan answer, 1)
		go func() {
			status, _, body := e.assertionGrant(t, c.ID, priv, kid)
			done <- answer{status, body}
		}()
		select {
		case a := <-done:
			wantJWKSUnusable(t, a.status, a.body, stalled.URL)
		case <-time.After(10 * time.Second):
			t.Fatal("the token request had not returned 10 s after the 300 ms outbound timeout")
		}
		select {
		case <-cut:
		case <-time.After(10 * time.Second):
			t.Fatal("the stalled jwks_uri request was not cut off")
		}
		if !strings.Contains(e.logs.String(), "timed out") {
			t.Errorf("the request's log line does not say why:\n%s", e.logs.String())
		}
	})
}

// TestJWKSURIRefetchRateLimited: assertions naming a kid the client's key set
// lacks are invalid_client and refetch the set at most once a minute; a real
// key rotation is still picked up after that minute.
func TestJWKSURIRefetchRateLimited(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		clock := &testClock{now: time.Now()}
		e := newEnvDeps(t, open(t), envDeps{outbound: outbound.New(outbound.Options{AllowLoopback: true}), now: clock.Now})
		priv, kid, jwks := clientKey(t)
		var mu sync.Mutex
		served := jwks
		target := newCountingServer(t, func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			io.WriteString(w, served)
		})
		c := e.jwtClient(target.URL + "/x")
		junkKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

		for i := range 5 {
			status, _, body := e.assertionGrant(t, c.ID, junkKey, "junk-"+randomHex(6))
			if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
				t.Fatalf("junk assertion %d with a random kid = %d %v, want 401 invalid_client", i, status, body)
			}
		}
		if n := target.hits.Load(); n != 1 {
			t.Fatalf("5 junk assertions within a minute fetched the jwks_uri %d times, want 1", n)
		}
		// The client's own key still works, from the cache.
		if status, _, body := e.assertionGrant(t, c.ID, priv, kid); status != http.StatusOK {
			t.Fatalf("a good assertion after junk = %d %v", status, body)
		}

		clock.Advance(61 * time.Second)
		for range 3 {
			e.assertionGrant(t, c.ID, junkKey, "junk-"+randomHex(6))
		}
		if n := target.hits.Load(); n != 2 {
			t.Fatalf("after a minute, junk assertions fetched the jwks_uri %d times in all, want 2", n)
		}

		// The client rotates its key: the new kid is fetched once the minute
		// since the last fetch has passed.
		newPriv, newKID, newJWKS := clientKey(t)
		mu.Lock()
		served = newJWKS
		mu.Unlock()
		clock.Advance(61 * time.Second)
		if status, _, body := e.assertionGrant(t, c.ID, newPriv, newKID); status != http.StatusOK {
			t.Fatalf("an assertion with the rotated key = %d %v, want 200", status, body)
		}
		if n := target.hits.Load(); n != 3 {
			t.Errorf("the rotation fetched the jwks_uri %d times in all, want 3", n)
		}
	})
}

// TestJWKSURIStrictByDefault: without the development setting a client whose
// jwks_uri is loopback (stored before this rule, or by hand) is never fetched.
func TestJWKSURIStrictByDefault(t *testing.T) {
	e := newEnv(t, storagetest.OpenSQLite(t))
	priv, kid, jwks := clientKey(t)
	target := newCountingServer(t, func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, jwks) })
	for _, uri := range []string{target.URL + "/x", strings.Replace(target.URL, "http:", "https:", 1) + "/x", strings.Replace(target.URL, "127.0.0.1", "localhost", 1) + "/x"} {
		c := e.jwtClient(uri)
		status, h, body := e.assertionGrant(t, c.ID, priv, kid)
		if status == http.StatusServiceUnavailable || h.Get("Retry-After") != "" {
			t.Fatalf("jwks_uri %s = %d %v: reported as an outage", uri, status, body)
		}
		wantJWKSUnusable(t, status, body, target.URL)
	}
	if n := target.hits.Load(); n != 0 {
		t.Fatalf("the loopback jwks_uri got %d requests, want 0", n)
	}
}
