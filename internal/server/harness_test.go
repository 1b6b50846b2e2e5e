package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/internal/outbound"
	"github.com/gatehouse-id/gatehouse/internal/server"
	"github.com/gatehouse-id/gatehouse/internal/signin"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// databases runs a test on SQLite, on PostgreSQL, and on PostgreSQL through
// PgBouncer in transaction pool mode (Neon's pooled endpoint).
func databases(t *testing.T, test func(t *testing.T, open func(testing.TB) *storage.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		test(t, func(tb testing.TB) *storage.Store {
			return storagetest.OpenURL(tb, "sqlite:"+tb.TempDir()+"/gatehouse.db", storage.PoolerNone)
		})
	})
	t.Run("postgres", func(t *testing.T) {
		test(t, func(tb testing.TB) *storage.Store {
			return storagetest.OpenURL(tb, storagetest.NewPostgresDatabase(tb), storage.PoolerNone)
		})
	})
	t.Run("pgbouncer", func(t *testing.T) { test(t, throughPgBouncer(t)) })
}

// env is a running Gatehouse on an httptest server, with one user signed in on the
// test browser whenever the provider asks.
type env struct {
	t      testing.TB
	srv    *httptest.Server
	issuer string
	store  *storage.Store
	keys   *keys.Manager
	oauth  *oauth.Handler
	user   storage.User
	ia     *testInteraction
	logs   *syncBuffer
	cfg    oauth.Config
	now    func() time.Time // the server's clock when a test set one; nil: time.Now
}

type envOption func(*oauth.Config)

// keyRefreshInterval is the test server's keys.refresh_interval: a rotated key
// signs this long after the rotation. Nothing refreshes the keys by itself.
const keyRefreshInterval = 20 * time.Millisecond

func newEnv(t testing.TB, store *storage.Store, opts ...envOption) *env {
	t.Helper()
	return newEnvDeps(t, store, envDeps{}, opts...)
}

// envDeps are the oauth.Deps a test may choose; zero fields take oauth's defaults.
type envDeps struct {
	outbound *outbound.Client // nil: https to public addresses only
	now      func() time.Time
}

func newEnvDeps(t testing.TB, store *storage.Store, d envDeps, opts ...envOption) *env {
	t.Helper()
	ctx := context.Background()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	cfg := oauth.Config{Issuer: issuer, Secrets: []string{storagetest.TestSecret}}
	for _, o := range opts {
		o(&cfg)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var extra []string
	if cfg.JWTAccessTokenAlg == keys.EdDSA {
		extra = []string{keys.EdDSA} // as serve does
	}
	km := keys.New(store, keys.Options{MaxTokenLifetime: cfg.MaxTokenLifetime(), RefreshInterval: keyRefreshInterval, Log: log, Extra: extra})
	if err := km.EnsureKeys(ctx); err != nil {
		t.Fatalf("ensure keys: %v", err)
	}
	user, err := store.CreateUser(ctx, storage.User{Email: "Ada@Example.com", EmailVerified: true, Name: "Ada Lovelace", GivenName: "Ada", FamilyName: "Lovelace", Locale: "en"})
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	e := &env{t: t, srv: srv, issuer: issuer, store: store, keys: km, user: user, logs: logs, cfg: cfg, now: d.now}
	e.ia = &testInteraction{env: e, approve: true}
	h, err := oauth.New(cfg, oauth.Deps{Store: store, Keys: km, Interaction: e.ia, Log: log, Outbound: d.outbound, Now: d.now})
	if err != nil {
		t.Fatalf("oauth.New: %v", err)
	}
	e.oauth = h
	srv.Config.Handler = server.NewServer(server.Deps{Log: log, OAuth: h, Ready: func(ctx context.Context) (bool, map[string]string) {
		r := store.CheckReady(ctx)
		return r.Ready, r.Checks
	}})
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return e
}

// testInteraction is the test-only sign-in and consent: the browser signs in as
// env.user at once; consent is approved or denied as the test says.
type testInteraction struct {
	env *env
	mu  sync.Mutex
	// approve decides the consent page; signIns and consents count the pages shown.
	approve  bool
	signIns  int
	consents int
	lastHint string
}

const loginCookie = "test_login"

func (ia *testInteraction) CurrentLogin(r *http.Request, clientID string) (*signin.Login, error) {
	c, err := r.Cookie(loginCookie)
	if err != nil {
		return nil, nil
	}
	userID, at, ok := strings.Cut(c.Value, "|")
	if !ok {
		return nil, errors.New("bad test cookie")
	}
	sec, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return nil, err
	}
	login := &signin.Login{UserID: userID, SessionID: "sid-" + userID[:8], AuthTime: time.Unix(sec, 0), AMR: []string{"pwd"}}
	if clientID == "" {
		return login, nil
	}
	a, err := ia.env.store.GetAccount(r.Context(), userID, clientID)
	if errors.Is(err, storage.ErrNotFound) {
		return login, nil
	}
	if err != nil {
		return nil, err
	}
	if a.RevokedAt == nil && a.ConsentRemembered {
		login.Consent = &signin.Consent{Scopes: strings.Fields(a.GrantedScopes), GrantedAt: a.LastAuthorizedAt}
	}
	return login, nil
}

func (ia *testInteraction) SignIn(w http.ResponseWriter, r *http.Request, p signin.Prompt) {
	ia.mu.Lock()
	ia.signIns++
	ia.lastHint = p.LoginHint
	ia.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: ia.env.user.ID + "|" + strconv.FormatInt(time.Now().Unix(), 10), Path: "/"})
	http.Redirect(w, r, p.ContinueURL, http.StatusSeeOther)
}

func (ia *testInteraction) AskConsent(w http.ResponseWriter, r *http.Request, p signin.Prompt) {
	ia.mu.Lock()
	ia.consents++
	approve := ia.approve
	ia.mu.Unlock()
	if !approve {
		http.Redirect(w, r, p.DenyURL, http.StatusSeeOther)
		return
	}
	login, _ := ia.CurrentLogin(r, "")
	if _, err := ia.env.store.RecordAuthorization(r.Context(), login.UserID, p.Client.ID, strings.Join(p.Scopes, " "), true, time.Now()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, p.ContinueURL, http.StatusSeeOther)
}

func (ia *testInteraction) counts() (signIns, consents int) {
	ia.mu.Lock()
	defer ia.mu.Unlock()
	return ia.signIns, ia.consents
}

// browser is an HTTP client with cookies that stops at the first redirect leaving
// the provider, like a browser handing the response to the application.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), e.issuer) {
			return http.ErrUseLastResponse
		}
		if len(via) > 10 {
			return errors.New("too many redirects")
		}
		return nil
	}}
}

// authorize follows the authorization URL in the browser and returns the final
// response: a redirect to the client (its Location parsed), or a page.
func (e *env) authorize(b *http.Client, authURL string) (*http.Response, *url.URL) {
	e.t.Helper()
	resp, err := b.Get(authURL)
	if err != nil {
		e.t.Fatalf("GET %s: %v", authURL, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		return resp, nil
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatalf("bad Location %q: %v", resp.Header.Get("Location"), err)
	}
	return resp, loc
}

// client registers a client directly in the store and returns it with its secret.
func (e *env) client(c storage.Client) (storage.Client, string) {
	e.t.Helper()
	if c.ID == "" {
		c.ID = "client-" + randomHex(6)
	}
	secret := ""
	if !c.Public && c.TokenEndpointAuthMethod != "private_key_jwt" {
		secret = "secret-" + randomHex(16)
		c.SecretHash = e.store.Sealer().HashClientSecret([]byte(secret))
	}
	if c.TokenEndpointAuthMethod == "" {
		if c.Public {
			c.TokenEndpointAuthMethod = "none"
		} else {
			c.TokenEndpointAuthMethod = "client_secret_basic"
		}
	}
	if c.ApplicationType == "" {
		c.ApplicationType = "web"
	}
	if c.GrantTypes == nil {
		c.GrantTypes = storage.StringList{"authorization_code", "refresh_token"}
	}
	if c.ResponseTypes == nil {
		c.ResponseTypes = storage.StringList{"code"}
	}
	if c.Scopes == nil {
		c.Scopes = storage.StringList{"openid", "profile", "email", "offline_access"}
	}
	if c.RedirectURIs == nil && c.GrantTypes.Has("authorization_code") {
		c.RedirectURIs = storage.StringList{"https://app.example.com/callback"}
	}
	created, err := e.store.CreateClient(context.Background(), c)
	if err != nil {
		e.t.Fatalf("create client: %v", err)
	}
	return created, secret
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := io.ReadFull(cryptoRand{}, b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// postForm posts a form, optionally with basic auth, and decodes the JSON answer.
func (e *env) postForm(path string, form url.Values, user, pass string) (int, http.Header, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &out); err != nil {
			e.t.Fatalf("POST %s: status %d, body not JSON: %s", path, resp.StatusCode, body)
		}
	}
	return resp.StatusCode, resp.Header, out
}

// introspect returns whether token is active, asking as the given client.
func (e *env) introspect(token, clientID, secret string) map[string]any {
	e.t.Helper()
	status, _, body := e.postForm("/oauth2/introspect", url.Values{"token": {token}}, clientID, secret)
	if status != http.StatusOK {
		e.t.Fatalf("introspect: status %d %v", status, body)
	}
	return body
}

// pkce returns a verifier and its S256 challenge.
func pkce() (verifier, challenge string) {
	verifier = randomHex(32)
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64URL(sum[:])
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

func mustf(t testing.TB, err error, format string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(format, args...), err)
	}
}

// SignOut ends the test login when confirmed, else "shows" a confirmation page.
func (ia *testInteraction) SignOut(w http.ResponseWriter, r *http.Request, l signin.Logout) {
	if !l.Confirmed {
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "confirm sign-out")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/", MaxAge: -1})
	if l.RedirectURI == "" {
		io.WriteString(w, "signed out")
		return
	}
	http.Redirect(w, r, l.RedirectURI, http.StatusSeeOther)
}
