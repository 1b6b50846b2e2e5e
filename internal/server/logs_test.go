package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/metrics"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/internal/server"
	"github.com/gatehouse-id/gatehouse/internal/session"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"github.com/gatehouse-id/gatehouse/templates"
)

// TestLogsKeepSecrets runs a full flow through the real pages and a go-oidc
// relying party: a failed and a good sign-in, consent, the authorization code
// with PKCE, userinfo, refresh, client credentials, introspection, revocation,
// a replayed code and a wrong client secret. Then it checks that no log line
// holds any secret the flow used, that every line written while serving a
// request carries its request id, and what the metrics counted.
func TestLogsKeepSecrets(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newPagesEnv(t, open(t))
		ctx := oidc.ClientContext(t.Context(), http.DefaultClient)
		var secrets []string // every secret value the flow sees or sends
		secret := func(name, v string) {
			t.Helper()
			if len(v) < 8 {
				t.Fatalf("secret %s is too short to search for: %q", name, v)
			}
			secrets = append(secrets, name+"\x00"+v)
		}
		secret("system secret", storagetest.TestSecret)
		secret("user password", pagesPassword)
		secret("wrong password", "not the password at all")

		web, webSecret := e.client(storage.Client{Name: "Notes"})
		secret("client secret", webSecret)
		svc, svcSecret := e.client(storage.Client{Name: "Batch", GrantTypes: storage.StringList{"client_credentials"}, Scopes: storage.StringList{"api"}})
		secret("service client secret", svcSecret)

		provider, err := oidc.NewProvider(ctx, e.issuer)
		mustf(t, err, "discovery")
		endpoint := provider.Endpoint()
		endpoint.AuthStyle = oauth2.AuthStyleInHeader
		conf := oauth2.Config{ClientID: web.ID, ClientSecret: webSecret, Endpoint: endpoint, RedirectURL: web.RedirectURIs[0],
			Scopes: []string{oidc.ScopeOpenID, "profile", "email", oidc.ScopeOfflineAccess}}
		verifier := oauth2.GenerateVerifier()
		secret("PKCE verifier", verifier)

		b := e.browser()
		p := b.follow(b.get(conf.AuthCodeURL(randomHex(16), oauth2.S256ChallengeOption(verifier), oidc.Nonce(randomHex(16)))))
		if p.url.Path != "/signin" || p.status != http.StatusOK {
			t.Fatalf("authorize without a session: %d at %s, want the sign-in page", p.status, p.url)
		}
		if wrong := b.submit(p, "sign-in", map[string]string{"email": "ada@example.com", "password": "not the password at all"}); wrong.status != http.StatusUnauthorized {
			t.Fatalf("sign-in with a wrong password: %d", wrong.status)
		}
		p = b.follow(b.submit(p, "sign-in", map[string]string{"email": "ada@example.com", "password": pagesPassword}))
		if p.status != http.StatusOK || byID(p.doc, "allow") == nil {
			t.Fatalf("after sign-in: %d at %s, want the consent page:\n%s", p.status, p.url, p.body)
		}
		for _, c := range b.jar.Cookies(p.url) {
			secret("cookie "+c.Name, c.Value)
		}
		p = b.follow(b.submit(p, "allow", nil))
		loc, _ := url.Parse(p.header.Get("Location"))
		code := loc.Query().Get("code")
		if p.status != http.StatusSeeOther || !strings.HasPrefix(loc.String(), web.RedirectURIs[0]) || code == "" {
			t.Fatalf("after consent: %d to %q, want a code for the client", p.status, loc)
		}
		secret("authorization code", code)

		tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		mustf(t, err, "exchange code")
		idToken, _ := tok.Extra("id_token").(string)
		secret("access token", tok.AccessToken)
		secret("refresh token", tok.RefreshToken)
		secret("ID token", idToken)
		if _, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok)); err != nil {
			t.Fatalf("userinfo: %v", err)
		}
		expired := *tok
		expired.Expiry = time.Now().Add(-time.Hour)
		fresh, err := conf.TokenSource(ctx, &expired).Token()
		mustf(t, err, "refresh")
		secret("refreshed access token", fresh.AccessToken)
		secret("refreshed refresh token", fresh.RefreshToken)
		if id, _ := fresh.Extra("id_token").(string); id != "" {
			secret("refreshed ID token", id)
		}

		cc := clientcredentials.Config{ClientID: svc.ID, ClientSecret: svcSecret, TokenURL: endpoint.TokenURL, Scopes: []string{"api"}, AuthStyle: oauth2.AuthStyleInHeader}
		svcTok, err := cc.Token(ctx)
		mustf(t, err, "client credentials")
		secret("service access token", svcTok.AccessToken)

		if got := e.introspect(fresh.AccessToken, web.ID, webSecret); got["active"] != true {
			t.Fatalf("introspect = %v, want active", got)
		}
		if status, _, body := e.postForm("/oauth2/revoke", url.Values{"token": {fresh.RefreshToken}}, web.ID, webSecret); status != http.StatusOK {
			t.Fatalf("revoke: %d %v", status, body)
		}

		// Last, as a replayed code revokes what it was exchanged for.
		if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err == nil {
			t.Fatal("a replayed code was redeemed")
		}

		// A caller's request id is kept and returned, and names every line of
		// the request: here the access line and the rejection.
		req, _ := http.NewRequest(http.MethodPost, e.issuer+"/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Request-Id", "caller-id-0001")
		req.SetBasicAuth(svc.ID, "wrong-"+svcSecret)
		resp, err := http.DefaultClient.Do(req)
		mustf(t, err, "token with a wrong secret")
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("X-Request-Id") != "caller-id-0001" {
			t.Fatalf("token with a wrong secret: %d, X-Request-Id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
		}
		e.get(t, "/static/gatehouse.css", http.StatusOK)
		e.get(t, "/no/such/page-12345", http.StatusNotFound)

		lines := e.lines(t)
		for _, l := range lines {
			for _, s := range secrets {
				name, v, _ := strings.Cut(s, "\x00")
				if strings.Contains(l.raw, v) || strings.Contains(l.raw, url.QueryEscape(v)) {
					t.Errorf("log line holds the %s:\n%s", name, l.raw)
				}
				// The random part of an opaque token is its secret half.
				if key, _, ok := strings.Cut(v, "."); ok && len(key) >= 16 && strings.Count(v, ".") == 1 && strings.Contains(l.raw, key) {
					t.Errorf("log line holds the secret half of the %s:\n%s", name, l.raw)
				}
			}
			if l.RequestID == "" {
				t.Errorf("log line written while serving requests has no request_id:\n%s", l.raw)
			}
			if n := strings.Count(l.raw, `"request_id":`); n > 1 {
				t.Errorf("log line has request_id %d times:\n%s", n, l.raw)
			}
		}
		// One line per request: the access line carries the rejection.
		var callerLines []string
		for _, l := range lines {
			if l.RequestID == "caller-id-0001" {
				callerLines = append(callerLines, l.raw)
			}
		}
		if len(callerLines) != 1 || !strings.Contains(callerLines[0], `"msg":"request"`) || !strings.Contains(callerLines[0], `"error":"invalid_client"`) {
			t.Errorf("lines with the caller's request id: %q, want one access line naming the rejection", callerLines)
		}

		e.checkMetrics(t, map[string]float64{
			`gatehouse_tokens_issued_total{grant_type="authorization_code"}`:                       1,
			`gatehouse_tokens_issued_total{grant_type="refresh_token"}`:                            1,
			`gatehouse_tokens_issued_total{grant_type="client_credentials"}`:                       1,
			`gatehouse_sign_ins_total{outcome="success"}`:                                          1,
			`gatehouse_sign_ins_total{outcome="failure"}`:                                          1,
			`gatehouse_http_requests_total{method="POST",route="/oauth2/token",status="200"}`:      3,
			`gatehouse_http_requests_total{method="POST",route="/oauth2/token",status="400"}`:      1,
			`gatehouse_http_requests_total{method="POST",route="/oauth2/token",status="401"}`:      1,
			`gatehouse_http_requests_total{method="POST",route="/signin",status="401"}`:            1,
			`gatehouse_http_requests_total{method="GET",route="/static/",status="200"}`:            1,
			`gatehouse_http_requests_total{method="GET",route="unmatched",status="404"}`:           1,
			`gatehouse_http_requests_total{method="GET",route="/userinfo",status="200"}`:           1,
			`gatehouse_http_requests_total{method="POST",route="/oauth2/introspect",status="200"}`: 1,
			`gatehouse_http_requests_total{method="POST",route="/oauth2/revoke",status="200"}`:     1,
		})
	})
}

// TestThrottledSignInsCounted: an account locked after failed sign-ins is
// counted as throttled, not as failed.
func TestThrottledSignInsCounted(t *testing.T) {
	e := newPagesEnv(t, storagetest.OpenSQLite(t))
	b := e.browser()
	page := b.get(e.issuer + "/signin")
	for i := 0; ; i++ {
		p := b.submit(page, "sign-in", map[string]string{"email": "ada@example.com", "password": "wrong password " + randomHex(4)})
		if p.status == http.StatusTooManyRequests {
			break
		}
		if p.status != http.StatusUnauthorized || i == 10 {
			t.Fatalf("failed sign-in %d: status %d, want 401 until 429", i+1, p.status)
		}
	}
	if got := e.metric(t, `gatehouse_sign_ins_total{outcome="throttled"}`); got != 1 {
		t.Errorf("throttled sign-ins = %v, want 1", got)
	}
	if got := e.metric(t, `gatehouse_sign_ins_total{outcome="success"}`); got != 0 {
		t.Errorf("successful sign-ins = %v, want 0", got)
	}
}

// pagesPassword is the test user's password.
const pagesPassword = "correct horse battery staple"

// pagesEnv is Gatehouse with the real pages and protocol endpoints, logging JSON
// through server.LogHandler as cmd/gatehouse does, with metrics.
type pagesEnv struct {
	*env
	t       *testing.T
	metrics *metrics.Metrics
	// setupLines counts the log lines written before the first request.
	setupLines int
}

// discardMail is an identity.Sender that sends nothing.
type discardMail struct{}

func (discardMail) Send(context.Context, identity.Mail) error { return nil }

func newPagesEnv(t *testing.T, store *storage.Store) *pagesEnv {
	t.Helper()
	return newPagesEnvLogs(t, store, &syncBuffer{})
}

// newPagesEnvLogs is newPagesEnv logging into logs (at debug level), which the
// caller may share with the store.
func newPagesEnvLogs(t *testing.T, store *storage.Store, logs *syncBuffer) *pagesEnv {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	log := slog.New(server.LogHandler(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	m := metrics.New(metrics.Options{Store: store, Version: "test"})
	ids := identity.New(store, identity.Options{BaseURL: issuer, Mail: discardMail{}, Log: log, AccountFailures: 2})
	user, err := ids.CreateUser(t.Context(), identity.SignUpInput{Email: "ada@example.com", Password: pagesPassword, Name: "Ada Lovelace"}, true)
	mustf(t, err, "create user")
	key := sha256.Sum256([]byte("csrf key for tests"))
	pages, err := web.New(web.Deps{Templates: templates.FS, Store: store, Identity: ids, Sessions: session.New(store, session.Options{}),
		CSRFKey: key[:], Issuer: issuer, Log: log, Metrics: m})
	mustf(t, err, "web.New")
	cfg := oauth.Config{Issuer: issuer, Secrets: []string{storagetest.TestSecret}}
	km := keys.New(store, keys.Options{MaxTokenLifetime: cfg.MaxTokenLifetime(), Log: log})
	mustf(t, km.EnsureKeys(t.Context()), "ensure keys")
	h, err := oauth.New(cfg, oauth.Deps{Store: store, Keys: km, Interaction: pages, ErrorPage: pages.ErrorPage, Log: log, Metrics: m})
	mustf(t, err, "oauth.New")
	srv.Config.Handler = server.NewServer(server.Deps{Log: log, OAuth: h, Pages: pages, Metrics: m})
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	e := &env{t: t, srv: srv, issuer: issuer, store: store, keys: km, oauth: h, user: user, logs: logs, cfg: cfg}
	return &pagesEnv{env: e, t: t, metrics: m, setupLines: strings.Count(logs.String(), "\n")}
}

// logLine is one JSON log line.
type logLine struct {
	raw       string
	Msg       string `json:"msg"`
	RequestID string `json:"request_id"`
}

// lines returns the log lines written since setup, that is while serving the
// test's requests.
func (e *pagesEnv) lines(t *testing.T) []logLine {
	t.Helper()
	all := strings.Split(strings.TrimSuffix(e.logs.String(), "\n"), "\n")
	var out []logLine
	for _, raw := range all[e.setupLines:] {
		l := logLine{raw: raw}
		if err := json.Unmarshal([]byte(raw), &l); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, raw)
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		t.Fatal("no log lines")
	}
	return out
}

func (e *pagesEnv) get(t *testing.T, path string, want int) {
	t.Helper()
	resp, err := http.Get(e.issuer + path)
	mustf(t, err, "GET %s", path)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
	}
}

// metric returns the value of one counter, named as in the exposition format
// with its labels sorted: `name{a="1",b="2"}`; 0 when it does not exist.
func (e *pagesEnv) metric(t *testing.T, series string) float64 {
	t.Helper()
	got := e.series(t)
	return got[series]
}

// series returns every counter series of the registry by its name and labels.
func (e *pagesEnv) series(t *testing.T) map[string]float64 {
	t.Helper()
	families, err := e.metrics.Gatherer().Gather()
	mustf(t, err, "gather metrics")
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if m.GetCounter() == nil {
				continue
			}
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			slices.Sort(labels)
			out[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetCounter().GetValue()
		}
	}
	return out
}

// checkMetrics compares counters with want, and checks that every route label
// is a route template or "unmatched", never a raw path.
func (e *pagesEnv) checkMetrics(t *testing.T, want map[string]float64) {
	t.Helper()
	got := e.series(t)
	for s, v := range want {
		if got[s] != v {
			t.Errorf("%s = %v, want %v", s, got[s], v)
		}
	}
	templates := routeTemplates()
	for s := range got {
		if !strings.HasPrefix(s, "gatehouse_http_requests_total{") {
			continue
		}
		_, rest, _ := strings.Cut(s, `route="`)
		route, _, _ := strings.Cut(rest, `"`)
		if route != "unmatched" && !slices.Contains(templates, route) {
			t.Errorf("route label %q is not a route template (series %s)", route, s)
		}
	}
}

// routeTemplates lists the templates of the routes in routes.go: the only
// route labels there may be, besides "unmatched".
func routeTemplates() []string {
	return []string{
		"/healthz", "/readyz", "/signin", "/signup", "/consent", "/signout", "/forgot-password", "/reset-password",
		"/verify-email", "/account", "/account/profile", "/account/password", "/account/verify-email",
		"/account/applications/revoke", "/account/sessions/end", "/account/sessions/sign-out", "/static/", "/favicon.ico",
		"/signin/with/{provider}", "/signin/callback/{provider}", "/signin/link", "/account/identities/link", "/account/identities/unlink",
		"/.well-known/openid-configuration", "/.well-known/jwks.json", "/oauth2/authorize", "/oauth2/token",
		"/oauth2/par", "/oauth2/introspect", "/oauth2/revoke", "/oauth2/logout", "/userinfo",
		"/oauth2/register", "/oauth2/register/{client_id}",
		"/api/auth/sign-in/social", "/api/auth/callback/{provider}",
	}
}

// formBrowser is a cookie-keeping client that does not follow redirects.
type formBrowser struct {
	t      *testing.T
	issuer string
	jar    *cookiejar.Jar
	c      *http.Client
}

// htmlPage is a response with its body parsed.
type htmlPage struct {
	url    *url.URL
	status int
	header http.Header
	body   string
	doc    *html.Node
}

func (e *pagesEnv) browser() *formBrowser {
	jar, _ := cookiejar.New(nil)
	return &formBrowser{t: e.t, issuer: e.issuer, jar: jar, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *formBrowser) do(req *http.Request) *htmlPage {
	b.t.Helper()
	resp, err := b.c.Do(req)
	mustf(b.t, err, "%s %s", req.Method, req.URL.Path)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	mustf(b.t, err, "read %s", req.URL.Path)
	doc, err := html.Parse(strings.NewReader(string(body)))
	mustf(b.t, err, "parse %s", req.URL.Path)
	return &htmlPage{url: req.URL, status: resp.StatusCode, header: resp.Header, body: string(body), doc: doc}
}

func (b *formBrowser) get(target string) *htmlPage {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, target, nil)
	mustf(b.t, err, "GET %s", target)
	return b.do(req)
}

// follow GETs redirects within the provider; a redirect elsewhere is returned.
func (b *formBrowser) follow(p *htmlPage) *htmlPage {
	b.t.Helper()
	for range 10 {
		if p.status != http.StatusSeeOther && p.status != http.StatusFound {
			return p
		}
		loc, err := p.url.Parse(p.header.Get("Location"))
		mustf(b.t, err, "Location")
		if !strings.HasPrefix(loc.String(), b.issuer) {
			return p
		}
		p = b.get(loc.String())
	}
	b.t.Fatal("too many redirects")
	return nil
}

// submit posts the form of the button with buttonID, with its fields (the CSRF
// token among them) and values overriding them.
func (b *formBrowser) submit(p *htmlPage, buttonID string, values map[string]string) *htmlPage {
	b.t.Helper()
	button := byID(p.doc, buttonID)
	if button == nil {
		b.t.Fatalf("no #%s on %s:\n%s", buttonID, p.url, p.body)
	}
	form := button
	for form != nil && form.Data != "form" {
		form = form.Parent
	}
	if form == nil {
		b.t.Fatalf("#%s is not in a form", buttonID)
	}
	data := url.Values{}
	walk(form, func(n *html.Node) {
		if n.Data == "input" && attr(n, "name") != "" {
			data.Set(attr(n, "name"), attr(n, "value"))
		}
	})
	if name := attr(button, "name"); name != "" {
		data.Set(name, attr(button, "value"))
	}
	for k, v := range values {
		data.Set(k, v)
	}
	action, err := p.url.Parse(attr(form, "action"))
	mustf(b.t, err, "form action")
	req, err := http.NewRequest(http.MethodPost, action.String(), strings.NewReader(data.Encode()))
	mustf(b.t, err, "POST %s", action)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func walk(n *html.Node, visit func(*html.Node)) {
	if n.Type == html.ElementNode {
		visit(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, visit)
	}
}

func byID(doc *html.Node, id string) *html.Node {
	var found *html.Node
	walk(doc, func(n *html.Node) {
		if found == nil && attr(n, "id") == id {
			found = n
		}
	})
	return found
}

func attr(n *html.Node, name string) string {
	for _, a := range n.Attr {
		if a.Key == name {
			return a.Val
		}
	}
	return ""
}
