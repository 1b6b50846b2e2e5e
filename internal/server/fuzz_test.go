package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/internal/server"
	"github.com/gatehouse-id/gatehouse/internal/signin"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// The fuzz targets here run against one Gatehouse per target, built once outside
// f.Fuzz on a SQLite file: building a server per input would measure set-up, not
// the endpoints. Inputs never change the clients; codes and tokens they make are
// independent rows.

// fuzzIssuer is fixed so that seeds can name the token endpoint as an audience.
const fuzzIssuer = "https://id.example.test"

// fuzzServer is a running Gatehouse with the clients below registered.
type fuzzServer struct {
	srv     *httptest.Server
	store   *storage.Store
	logs    *tailBuffer
	clients map[string]storage.Client
	// secret is the secret of fuzz-web and fuzz-post. It is random per process, so
	// no corpus entry can contain it.
	secret string
	// jwks is fuzz-jwt's public key set as registered.
	jwks     string
	attacker *ecdsa.PrivateKey
}

func newFuzzServer(f *testing.F) *fuzzServer {
	f.Helper()
	ctx := context.Background()
	store := storagetest.OpenURL(f, "sqlite:"+f.TempDir()+"/gatehouse.db", storage.PoolerNone)
	logs := &tailBuffer{max: 64 << 10}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := oauth.Config{Issuer: fuzzIssuer, Secrets: []string{storagetest.TestSecret}}
	km := keys.New(store, keys.Options{MaxTokenLifetime: cfg.MaxTokenLifetime(), Log: log})
	if err := km.EnsureKeys(ctx); err != nil {
		f.Fatalf("ensure keys: %v", err)
	}
	user, err := store.CreateUser(ctx, storage.User{Email: "fuzz@example.com", EmailVerified: true, Name: "Fuzz"})
	if err != nil {
		f.Fatalf("create user: %v", err)
	}
	fs := &fuzzServer{store: store, logs: logs, clients: map[string]storage.Client{}, secret: "secret-" + randomHex(16)}
	h, err := oauth.New(cfg, oauth.Deps{Store: store, Keys: km, Interaction: &fuzzInteraction{userID: user.ID}, Log: log})
	if err != nil {
		f.Fatalf("oauth.New: %v", err)
	}
	fs.srv = httptest.NewServer(server.NewServer(server.Deps{Log: log, OAuth: h}))
	f.Cleanup(fs.srv.Close)

	clientKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatalf("generate key: %v", err)
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &clientKey.PublicKey, KeyID: "fuzz-key", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		f.Fatalf("marshal jwks: %v", err)
	}
	fs.jwks = string(b)
	if fs.attacker, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		f.Fatalf("generate key: %v", err)
	}
	hash := store.Sealer().HashClientSecret([]byte(fs.secret))
	code := storage.StringList{"authorization_code", "refresh_token"}
	for _, c := range []storage.Client{
		{ID: "fuzz-web", Name: "Web", SecretHash: hash, TokenEndpointAuthMethod: "client_secret_basic", ApplicationType: "web",
			RedirectURIs: storage.StringList{"https://app.example.com/callback", "https://app.example.com/cb?tenant=a"},
			GrantTypes:   storage.StringList{"authorization_code", "refresh_token", "client_credentials"}, ResponseTypes: storage.StringList{"code"},
			Scopes: storage.StringList{"openid", "profile", "email", "offline_access", "reports"}},
		{ID: "fuzz-native", Name: "Native", Public: true, TokenEndpointAuthMethod: "none", ApplicationType: "native", FirstParty: true,
			RedirectURIs: storage.StringList{"http://127.0.0.1/callback", "http://[::1]:8400/cb", "com.example.app:/oauth2redirect"},
			GrantTypes:   code, ResponseTypes: storage.StringList{"code"}, Scopes: storage.StringList{"openid", "profile", "offline_access"}},
		{ID: "fuzz-post", Name: "Service", SecretHash: hash, TokenEndpointAuthMethod: "client_secret_post", ApplicationType: "web",
			GrantTypes: storage.StringList{"client_credentials"}, Scopes: storage.StringList{"reports"}},
		{ID: "fuzz-jwt", Name: "Signed service", TokenEndpointAuthMethod: "private_key_jwt", TokenEndpointAuthSigningAlg: "ES256",
			ApplicationType: "web", JWKS: fs.jwks, GrantTypes: storage.StringList{"client_credentials"}, Scopes: storage.StringList{"reports"}},
	} {
		for _, l := range []*storage.StringList{&c.RedirectURIs, &c.PostLogoutRedirectURIs, &c.ResponseTypes, &c.ResponseModes, &c.Audience} {
			if *l == nil {
				*l = storage.StringList{}
			}
		}
		created, err := store.CreateClient(ctx, c)
		if err != nil {
			f.Fatalf("create client %s: %v", c.ID, err)
		}
		fs.clients[c.ID] = created
	}
	return fs
}

// do sends req and returns the response with its body read. The server's log is
// reset first, so that a failure shows this input's lines only.
func (fs *fuzzServer) do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v\nserver log:\n%s", req.Method, req.URL.Path, err, fs.logs.String())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return resp, body
}

var noRedirects = &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// fuzzInteraction is the sign-in and consent for fuzzing. It never changes state:
// the browser is signed in when the request carries the fuzz_login cookie (its
// value is the auth time), fuzz-web has consent for openid, profile and email, and
// the sign-in and consent pages are plain redirects to the issuer.
type fuzzInteraction struct{ userID string }

const fuzzLoginCookie = "fuzz_login"

func (ia *fuzzInteraction) CurrentLogin(r *http.Request, clientID string) (*signin.Login, error) {
	c, err := r.Cookie(fuzzLoginCookie)
	if err != nil {
		return nil, nil
	}
	sec, err := strconv.ParseInt(c.Value, 10, 64)
	if err != nil {
		return nil, nil
	}
	login := &signin.Login{UserID: ia.userID, SessionID: "sid-fuzz", AuthTime: time.Unix(sec, 0), AMR: []string{"pwd"}}
	if clientID == "fuzz-web" {
		login.Consent = &signin.Consent{Scopes: []string{"openid", "profile", "email"}, GrantedAt: time.Unix(1700000000, 0)}
	}
	return login, nil
}

func (ia *fuzzInteraction) SignIn(w http.ResponseWriter, r *http.Request, _ signin.Prompt) {
	http.Redirect(w, r, fuzzIssuer+"/signin", http.StatusSeeOther)
}

func (ia *fuzzInteraction) AskConsent(w http.ResponseWriter, r *http.Request, _ signin.Prompt) {
	http.Redirect(w, r, fuzzIssuer+"/consent", http.StatusSeeOther)
}

func (ia *fuzzInteraction) SignOut(w http.ResponseWriter, _ *http.Request, _ signin.Logout) {
	io.WriteString(w, "signed out")
}

// tailBuffer keeps the last max bytes written to it, so a long fuzz run does not
// grow the log without bound.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (tb *tailBuffer) Write(p []byte) (int, error) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.b = append(tb.b, p...)
	if len(tb.b) > tb.max {
		tb.b = append(tb.b[:0], tb.b[len(tb.b)-tb.max:]...)
	}
	return len(p), nil
}

func (tb *tailBuffer) String() string {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	return string(tb.b)
}

func (tb *tailBuffer) Reset() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.b = tb.b[:0]
}

// sendable reports whether s can go into a request line or header as it is; the
// HTTP client refuses anything else before it reaches the server.
func sendable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// FuzzAuthorizeRequest sends GET /oauth2/authorize with an arbitrary query string,
// from a browser that is signed out, signed in now, or signed in two hours ago
// (login 0, 1, 2), and checks that:
//   - the status is never 5xx;
//   - a redirect goes either to the sign-in or consent page on the issuer, or to a
//     redirect URI registered for the client named by client_id (same scheme,
//     host, port and path; any port only for a native client's loopback IP
//     literal), never elsewhere; a form_post page posts only there too;
//   - a response sent to the client that carries error also carries iss (RFC 9207)
//     and no code; one that carries a code carries iss and the request's state.
func FuzzAuthorizeRequest(f *testing.F) {
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, query string, login uint8) {
		if !sendable(query) || strings.ContainsAny(query, " #\t") { // the client refuses these in a URL
			return
		}
		fs.logs.Reset()
		req, err := http.NewRequest(http.MethodGet, fs.srv.URL+"/oauth2/authorize", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawQuery = query
		switch login % 3 {
		case 1:
			req.AddCookie(&http.Cookie{Name: fuzzLoginCookie, Value: strconv.FormatInt(time.Now().Unix(), 10)})
		case 2:
			req.AddCookie(&http.Cookie{Name: fuzzLoginCookie, Value: strconv.FormatInt(time.Now().Add(-2*time.Hour).Unix(), 10)})
		}
		resp, body := fs.do(t, req)
		fs.checkAuthorize(t, query, resp, body)
	})
}

var formPostAction = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
var formPostInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

func (fs *fuzzServer) checkAuthorize(t *testing.T, query string, resp *http.Response, body []byte) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("GET /oauth2/authorize?%s: %s\nstatus %d, Location %q\nbody: %.2000s\nserver log:\n%s",
			query, fmtf(format, args...), resp.StatusCode, resp.Header.Get("Location"), body, fs.logs.String())
	}
	if resp.StatusCode >= 500 {
		fail("status %d", resp.StatusCode)
	}
	form, _ := url.ParseQuery(query)
	var client storage.Client
	if ids := form["client_id"]; len(ids) == 1 {
		client = fs.clients[ids[0]]
	}
	var target *url.URL
	var params url.Values
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		loc := resp.Header.Get("Location")
		u, err := url.Parse(loc)
		if err != nil {
			fail("Location does not parse: %v", err)
		}
		if loc == fuzzIssuer+"/signin" || loc == fuzzIssuer+"/consent" {
			return
		}
		target = u
		params = u.Query()
		if frag, err := url.ParseQuery(u.Fragment); err == nil {
			for k, v := range frag {
				params[k] = append(params[k], v...)
			}
		}
	case strings.Contains(string(body), `<form method="post" action=`):
		m := formPostAction.FindStringSubmatch(string(body))
		if m == nil {
			fail("a form_post page without a parsable form")
		}
		u, err := url.Parse(html.UnescapeString(m[1]))
		if err != nil {
			fail("form action does not parse: %v", err)
		}
		target = u
		params = url.Values{}
		for _, in := range formPostInput.FindAllStringSubmatch(string(body), -1) {
			params.Add(html.UnescapeString(in[1]), html.UnescapeString(in[2]))
		}
	default:
		return
	}
	if !registeredTarget(client, target) {
		fail("response sent to %q, which is not a redirect URI registered for client %q", target, client.ID)
	}
	if params.Get("error") != "" {
		if params.Get("iss") != fuzzIssuer {
			fail("error response without iss=%s", fuzzIssuer)
		}
		if params.Has("code") {
			fail("error response with a code")
		}
	}
	if params.Get("code") != "" {
		if params.Get("iss") != fuzzIssuer {
			fail("code response without iss=%s", fuzzIssuer)
		}
		if states := form["state"]; len(states) == 1 && params.Get("state") != states[0] {
			fail("code response with state %q, want %q", params.Get("state"), states[0])
		}
	}
}

func fmtf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// registeredTarget reports whether u is one of c's registered redirect URIs with
// parameters added: the same scheme, host, port and path, except that a native
// client's loopback IP literal may have any port (RFC 8252 §7.3).
func registeredTarget(c storage.Client, u *url.URL) bool {
	for _, raw := range c.RedirectURIs {
		reg, err := url.Parse(raw)
		if err != nil {
			continue
		}
		if reg.Scheme != u.Scheme || reg.Opaque != u.Opaque || reg.Path != u.Path || reg.User.String() != u.User.String() {
			continue
		}
		if reg.Host == u.Host {
			return true
		}
		ip := net.ParseIP(reg.Hostname())
		if c.ApplicationType == "native" && reg.Scheme == "http" && ip != nil && ip.IsLoopback() && reg.Hostname() == u.Hostname() {
			return true
		}
	}
	return false
}

// rfc6749TokenErrors are the error codes of RFC 6749 §5.2, and RFC 8707 §2's
// invalid_target, the only ones a token endpoint answers a client's mistake with.
var rfc6749TokenErrors = map[string]bool{
	"invalid_request": true, "invalid_client": true, "invalid_grant": true,
	"unauthorized_client": true, "unsupported_grant_type": true, "invalid_scope": true,
	"invalid_target": true,
}

// checkTokenResponse checks what every token endpoint response must be: never 5xx
// but 503; JSON with Cache-Control no-store; an RFC 6749 §5.2 error (or
// temporarily_unavailable with 503) whenever it is not 200; WWW-Authenticate with
// 401; an access token and the bearer type with 200; and no secret anywhere.
func (fs *fuzzServer) checkTokenResponse(t *testing.T, what string, resp *http.Response, body []byte) map[string]any {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s: %s\nstatus %d, headers %v\nbody: %.2000s\nserver log:\n%s", what, fmtf(format, args...), resp.StatusCode, resp.Header, body, fs.logs.String())
	}
	if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
		fail("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		fail("Content-Type %q, want application/json", ct)
	}
	if !strings.Contains(resp.Header.Get("Cache-Control"), "no-store") {
		fail("no Cache-Control: no-store")
	}
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		fail("body is not a JSON object: %v", err)
	}
	for _, secret := range []string{fs.secret, storagetest.TestSecret} {
		if strings.Contains(string(body), secret) || strings.Contains(strings.Join(headerValues(resp.Header), "\n"), secret) {
			fail("the response shows a secret")
		}
	}
	if resp.StatusCode == http.StatusOK {
		if tok, _ := out["access_token"].(string); tok == "" {
			fail("200 without an access_token")
		}
		if typ, _ := out["token_type"].(string); !strings.EqualFold(typ, "bearer") {
			fail("token_type %q, want bearer", typ)
		}
		return out
	}
	code, _ := out["error"].(string)
	switch {
	case resp.StatusCode == http.StatusServiceUnavailable:
		if code != "temporarily_unavailable" && !rfc6749TokenErrors[code] {
			fail("503 with error %q", code)
		}
	case !rfc6749TokenErrors[code]:
		fail("error %q is not one of RFC 6749 §5.2", code)
	}
	if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
		fail("401 without WWW-Authenticate (RFC 6749 §5.2)")
	}
	return out
}

func headerValues(h http.Header) []string {
	var out []string
	for k, vs := range h {
		out = append(out, k)
		out = append(out, vs...)
	}
	return out
}

// FuzzTokenRequest posts an arbitrary body with an arbitrary Authorization header to
// POST /oauth2/token and checks checkTokenResponse's properties. creds adds real
// credentials, so that inputs get past client authentication: bit 0 appends
// fuzz-post's client_id and client_secret to the body, bit 1 replaces the
// Authorization header with fuzz-web's Basic credentials, bit 2 sends the body as
// application/json instead of a form.
func FuzzTokenRequest(f *testing.F) {
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, body, authorization string, creds uint8) {
		if !sendable(authorization) || strings.Contains(body+authorization, fs.secret) {
			return
		}
		fs.logs.Reset()
		if creds&1 != 0 {
			body += "&client_id=fuzz-post&client_secret=" + url.QueryEscape(fs.secret)
		}
		req, err := http.NewRequest(http.MethodPost, fs.srv.URL+"/oauth2/token", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if creds&4 != 0 {
			req.Header.Set("Content-Type", "application/json")
		}
		if authorization != "" {
			req.Header.Set("Authorization", authorization)
		}
		if creds&2 != 0 {
			req.SetBasicAuth("fuzz-web", url.QueryEscape(fs.secret))
		}
		resp, respBody := fs.do(t, req)
		fs.checkTokenResponse(t, "POST /oauth2/token "+strconv.Quote(body), resp, respBody)
	})
}

// FuzzClientAssertion authenticates as fuzz-jwt (private_key_jwt, ES256, an inline
// JWKS whose private key the fuzzer never sees) with an arbitrary client_assertion
// and checks that it never succeeds: the answer is 400 or 401 with invalid_client or
// invalid_request, never 5xx, and checkTokenResponse's properties hold.
//
// When header or claims is not empty the assertion is built from them, JSON that
// the fuzzer controls, signed according to mode&3: 0 no signature, 1 ES256 with a
// key that is not the client's, 2 HS256 keyed with the client's public JWKS (the
// algorithm confusion attack), 3 raw as the signature. Otherwise raw is the
// assertion. Bit 2 of mode adds client_id=fuzz-jwt to the form.
func FuzzClientAssertion(f *testing.F) {
	fs := newFuzzServer(f)
	f.Fuzz(func(t *testing.T, raw, header, claims string, mode uint8) {
		assertion := raw
		if header != "" || claims != "" {
			input := b64(header) + "." + b64(claims)
			var sig []byte
			switch mode & 3 {
			case 1:
				sig = fs.signES256(t, input)
			case 2:
				m := hmac.New(sha256.New, []byte(fs.jwks))
				m.Write([]byte(input))
				sig = m.Sum(nil)
			case 3:
				sig = []byte(raw)
			}
			assertion = input + "." + b64(string(sig))
		}
		fs.logs.Reset()
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"reports"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
		if mode&4 != 0 {
			form.Set("client_id", "fuzz-jwt")
		}
		req, err := http.NewRequest(http.MethodPost, fs.srv.URL+"/oauth2/token", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, body := fs.do(t, req)
		what := "client_assertion " + strconv.Quote(assertion)
		out := fs.checkTokenResponse(t, what, resp, body)
		code, _ := out["error"].(string)
		if (resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusUnauthorized) || (code != "invalid_client" && code != "invalid_request") {
			t.Fatalf("%s: status %d, error %q; want 400 or 401 with invalid_client or invalid_request\nbody: %s\nserver log:\n%s",
				what, resp.StatusCode, code, body, fs.logs.String())
		}
	})
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signES256 signs input as JWS ES256 does (R || S, 32 bytes each) with a key the
// client never registered.
func (fs *fuzzServer) signES256(t *testing.T, input string) []byte {
	t.Helper()
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, fs.attacker, sum[:])
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return sig
}
