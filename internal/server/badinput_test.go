package server_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/authapi"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/internal/server"
	"github.com/gatehouse-id/gatehouse/internal/session"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"github.com/gatehouse-id/gatehouse/templates"
)

// pageRoutes are the routes a person's browser shows: a refused request gets
// the error page there, and RFC 6749 JSON everywhere else.
var pageRoutes = []string{
	"/signin", "/signup", "/consent", "/signout", "/forgot-password", "/reset-password", "/verify-email",
	"/account", "/account/profile", "/account/password", "/account/verify-email", "/account/applications/revoke",
	"/account/sessions/end", "/account/sessions/sign-out", "/static/branding.css", "/static/", "/oauth2/authorize", "/oauth2/logout",
	"/signin/with/{provider}", "/signin/callback/{provider}", "/signin/link", "/account/identities/link", "/account/identities/unlink",
	"/signin/passkey", "/signin/passkey/options", "/account/passkeys", "/account/passkeys/options", "/account/passkeys/rename",
	"/account/passkeys/remove", "/signin/second-factor/passkey", "/signin/second-factor/passkey/options",
	"/signin/second-factor", "/signin/set-up-second-factor", "/account/mfa", "/account/mfa/totp",
	"/signin/link/mail", "/signin/link/passkey/options", "/signin/link/passkey",
}

// fullServer is Gatehouse with every public route: the pages, the protocol
// endpoints and dynamic registration.
type fullServer struct {
	url  string
	deps server.Deps
	logs *syncBuffer
}

func newFullServer(t *testing.T, store *storage.Store) *fullServer {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	logs := &syncBuffer{}
	log := slog.New(server.LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	ids := identity.New(store, identity.Options{BaseURL: issuer, Mail: discardMail{}, Log: log, Params: identity.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1}})
	key := sha256.Sum256([]byte("csrf key for tests"))
	pages, err := web.New(web.Deps{Templates: templates.FS, Store: store, Identity: ids, Sessions: session.New(store, session.Options{}),
		CSRFKey: key[:], Issuer: issuer, Log: log})
	mustf(t, err, "web.New")
	cfg := oauth.Config{Issuer: issuer, Secrets: []string{storagetest.TestSecret}, DynamicRegistration: true, RegistrationTokens: []string{initialToken}}
	km := keys.New(store, keys.Options{MaxTokenLifetime: cfg.MaxTokenLifetime(), Log: log})
	mustf(t, km.EnsureKeys(t.Context()), "ensure keys")
	h, err := oauth.New(cfg, oauth.Deps{Store: store, Keys: km, Interaction: pages, ErrorPage: pages.ErrorPage, Log: log})
	mustf(t, err, "oauth.New")
	api, err := authapi.New(authapi.Deps{Identity: ids, Sessions: session.New(store, session.Options{}), Keys: km, Issuer: issuer, Templates: templates.FS, Log: log})
	mustf(t, err, "authapi.New")
	deps := server.Deps{Log: log, OAuth: h, Pages: pages, AuthAPI: api, Ready: func(ctx context.Context) (bool, map[string]string) {
		r := store.CheckReady(ctx)
		return r.Ready, r.Checks
	}}
	srv.Config.Handler = server.NewServer(deps)
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &fullServer{url: issuer, deps: deps, logs: logs}
}

// badInput is one way to send bytes no parameter may hold.
type badInput struct {
	name string
	// body says the variant needs a method with a body.
	body bool
	// vars says the variant needs a route with a path variable.
	vars bool
	make func(method, target string) *http.Request
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func request(method, target, contentType, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		panic(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

var badInputs = []badInput{
	{name: "query value with NUL", make: func(m, t string) *http.Request { return request(m, t+"?client_id=a%00b", "", "") }},
	{name: "query value not UTF-8", make: func(m, t string) *http.Request { return request(m, t+"?client_id=%C3%28", "", "") }},
	{name: "query name not UTF-8", make: func(m, t string) *http.Request { return request(m, t+"?%FF=1", "", "") }},
	{name: "Basic auth with NUL", make: func(m, t string) *http.Request {
		r := request(m, t, "", "")
		r.Header.Set("Authorization", basic("app\x00", "secret"))
		return r
	}},
	{name: "Basic auth decoding to invalid UTF-8", make: func(m, t string) *http.Request {
		r := request(m, t, "", "")
		r.Header.Set("Authorization", basic("app", "%FF%FE"))
		return r
	}},
	{name: "path variable with NUL", vars: true, make: func(m, t string) *http.Request { return request(m, t+"a%00b", "", "") }},
	{name: "path variable not UTF-8", vars: true, make: func(m, t string) *http.Request { return request(m, t+"%FFb", "", "") }},
	{name: "form value with NUL", body: true, make: func(m, t string) *http.Request {
		return request(m, t, "application/x-www-form-urlencoded", "client_id=a%00b&email=x%40example.com")
	}},
	{name: "form value not UTF-8", body: true, make: func(m, t string) *http.Request {
		return request(m, t, "application/x-www-form-urlencoded", "email=%E9%40example.com")
	}},
	{name: "form value with raw bytes not UTF-8", body: true, make: func(m, t string) *http.Request {
		return request(m, t, "application/x-www-form-urlencoded", "name=\xff\xfe")
	}},
	{name: "JSON string with NUL", body: true, make: func(m, t string) *http.Request {
		return request(m, t, "application/json", `{"client_name":"a\u0000b","redirect_uris":["https://app.example.com/cb"]}`)
	}},
	{name: "JSON member name with NUL", body: true, make: func(m, t string) *http.Request {
		return request(m, t, "application/json", `{"client_name\u0000":"a"}`)
	}},
	{name: "JSON not UTF-8", body: true, make: func(m, t string) *http.Request {
		return request(m, t, "application/json", "{\"client_name\":\"a\xffb\"}")
	}},
	{name: "other body with NUL", body: true, make: func(m, t string) *http.Request {
		return request(m, t, "text/plain", "a\x00b")
	}},
}

// fillRoute turns a route template into a path: a variable becomes a plain
// value, or is left for the variant to fill (withVar).
func fillRoute(template string, withVar bool) string {
	if i := strings.IndexByte(template, '{'); i >= 0 {
		if withVar {
			return template[:i]
		}
		return template[:i] + "some-client"
	}
	if strings.HasSuffix(template, "/static/") {
		if withVar {
			return template
		}
		return template + "gatehouse.css"
	}
	return template
}

func hasVar(template string) bool {
	return strings.Contains(template, "{") || strings.HasSuffix(template, "/static/")
}

// TestBadInputEveryRoute walks every route of routes.go with each kind of bad
// input: a NUL byte or invalid UTF-8 in the query, the path variables, a form
// or JSON body, Basic-auth credentials, and a body shorter than its
// Content-Length. Each is answered 400 in its surface's format (the error page
// on pages, RFC 6749 JSON on the protocol endpoints), never 5xx, before the
// database sees it (PostgreSQL would refuse it with 22021, a 500).
func TestBadInputEveryRoute(t *testing.T) {
	for _, db := range []struct {
		name string
		open func(t *testing.T) *storage.Store
	}{
		{"postgres", func(t *testing.T) *storage.Store { return storagetest.OpenPostgres(t) }},
		{"sqlite", func(t *testing.T) *storage.Store { return storagetest.OpenSQLite(t) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			fs := newFullServer(t, db.open(t))
			routes, err := server.RouteList(fs.deps)
			mustf(t, err, "list routes")
			if len(routes) < 25 {
				t.Fatalf("RouteList found %d routes: %v", len(routes), routes)
			}
			for _, route := range routes {
				method, template, _ := strings.Cut(route, " ")
				takesBody := method != http.MethodGet
				for _, in := range badInputs {
					if in.body && !takesBody || in.vars && !hasVar(template) {
						continue
					}
					t.Run(route+"/"+in.name, func(t *testing.T) {
						req := in.make(method, fs.url+fillRoute(template, in.vars))
						resp, err := http.DefaultClient.Do(req)
						mustf(t, err, "%s %s", method, req.URL)
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						checkRefused(t, template, resp.StatusCode, resp.Header, body)
					})
				}
				if takesBody {
					t.Run(route+"/truncated body", func(t *testing.T) {
						status, header, body := sendTruncated(t, fs.url, method, fillRoute(template, false))
						checkRefused(t, template, status, header, body)
					})
				}
			}
		})
	}
}

// checkRefused wants 400 in the surface's format.
func checkRefused(t *testing.T, template string, status int, header http.Header, body []byte) {
	t.Helper()
	if status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400; body %.300s", status, body)
	}
	ct := header.Get("Content-Type")
	if strings.HasPrefix(template, "/api/auth/") {
		// The authentication API's own error body: Better Auth's {code, message}.
		var e struct{ Code, Message string }
		if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(body, &e) != nil || e.Code != "BAD_REQUEST" || e.Message == "" {
			t.Errorf("Content-Type %q, body %.300s; want {code: BAD_REQUEST, message}", ct, body)
		}
		if !strings.Contains(header.Get("Cache-Control"), "no-store") {
			t.Errorf("Cache-Control %q, want no-store", header.Get("Cache-Control"))
		}
		return
	}
	if slices.Contains(pageRoutes, template) {
		if !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(body), "cannot be read") {
			t.Errorf("Content-Type %q, want the error page; body %.300s", ct, body)
		}
		return
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if !strings.HasPrefix(ct, "application/json") || json.Unmarshal(body, &e) != nil || e.Error != "invalid_request" || e.Description == "" {
		t.Errorf("Content-Type %q, body %.300s; want RFC 6749 JSON with invalid_request", ct, body)
	}
	if !strings.Contains(header.Get("Cache-Control"), "no-store") {
		t.Errorf("Cache-Control %q, want no-store", header.Get("Cache-Control"))
	}
}

// sendTruncated sends a request whose body is shorter than its Content-Length
// and then closes its side of the connection, and reads the answer.
func sendTruncated(t *testing.T, base, method, path string) (int, http.Header, []byte) {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	mustf(t, err, "dial")
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	const sent = "client_id=app&grant_type=client_credentials"
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		method, path, u.Host, len(sent)+100, sent)
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	mustf(t, err, "read the answer to a truncated %s %s", method, path)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}
