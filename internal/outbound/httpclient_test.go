package outbound_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/outbound"
)

// TestHTTPClientKeepsTheRules: the http.Client handed to go-oidc and x/oauth2
// sends through the guarded client: a loopback target is refused unless
// allowed, a redirect is answered and not followed, the body is capped, and a
// POST body arrives.
func TestHTTPClientKeepsTheRules(t *testing.T) {
	var redirected bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case "/elsewhere":
			redirected = true
		case "/big":
			w.Write([]byte(strings.Repeat("x", 2048)))
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Method", r.Method)
			w.Write(b)
		}
	}))
	t.Cleanup(srv.Close)

	refused := outbound.New(outbound.Options{}).HTTPClient()
	_, err := refused.Get(srv.URL + "/echo")
	var oe *outbound.Error
	if !errors.As(err, &oe) || !errors.Is(oe, outbound.ErrNotAllowed) {
		t.Errorf("GET a loopback URL without AllowLoopback = %v, want ErrNotAllowed", err)
	}

	c := outbound.New(outbound.Options{AllowLoopback: true, MaxBody: 1024}).HTTPClient()
	resp, err := c.Get(srv.URL + "/redirect")
	if err != nil {
		t.Fatalf("GET /redirect: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || redirected {
		t.Errorf("GET /redirect = %d (followed: %v), want 302 answered and not followed", resp.StatusCode, redirected)
	}
	if _, err := c.Get(srv.URL + "/big"); !errors.As(err, &oe) || !errors.Is(oe, outbound.ErrTooLarge) {
		t.Errorf("GET an over-size body = %v, want ErrTooLarge", err)
	}
	resp, err = c.Post(srv.URL+"/echo", "application/x-www-form-urlencoded", strings.NewReader("grant_type=authorization_code"))
	if err != nil {
		t.Fatalf("POST /echo: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "grant_type=authorization_code" || resp.Header.Get("X-Method") != http.MethodPost {
		t.Errorf("POST /echo answered %q (%s), want the body sent back", body, resp.Header.Get("X-Method"))
	}
}
