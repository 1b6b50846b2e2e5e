package web_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/gatehouse-id/gatehouse/internal/branding"
	"github.com/gatehouse-id/gatehouse/internal/clientip"
	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/internal/outbound"
	"github.com/gatehouse-id/gatehouse/internal/server"
	"github.com/gatehouse-id/gatehouse/internal/session"
	"github.com/gatehouse-id/gatehouse/internal/web"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"github.com/gatehouse-id/gatehouse/templates"
)

// testPassword is accepted by the identity rules.
const testPassword = "correct horse battery staple"

// databases runs a test on SQLite and on PostgreSQL.
func databases(t *testing.T, test func(t *testing.T, store *storage.Store)) {
	t.Run("sqlite", func(t *testing.T) { test(t, storagetest.OpenSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, storagetest.OpenPostgres(t)) })
}

// mailbox is an identity.Sender that keeps what it is asked to send.
type mailbox struct {
	mu   sync.Mutex
	msgs []identity.Mail
}

func (m *mailbox) Send(_ context.Context, msg identity.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

func (m *mailbox) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

// link returns the last mailed link to path, addressed to `to`.
func (m *mailbox) link(t *testing.T, to, path string) string {
	t.Helper()
	linkPattern := regexp.MustCompile(`https?://[^\s"<>]+`)
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.msgs) - 1; i >= 0; i-- {
		if !strings.EqualFold(m.msgs[i].To, to) {
			continue
		}
		for _, l := range linkPattern.FindAllString(m.msgs[i].Text, -1) {
			if u, err := url.Parse(l); err == nil && u.Path == path {
				return l
			}
		}
	}
	t.Fatalf("no mail to %s with a link to %s (have %d mails)", to, path, len(m.msgs))
	return ""
}

// env is Gatehouse with the real pages on an httptest server.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	issuer string
	store  *storage.Store
	pages  *web.Pages
	ids    *identity.Service
	mail   *mailbox
	logs   *syncBuffer
	mfa    *mfa.Service
	fed    *federation.Service
}

// envOption adjusts what newEnv builds.
type envOption func(*envConfig)

type envConfig struct {
	identity  func(*identity.Options)
	proxies   []string
	branding  *branding.Service
	templates fs.FS
	// mfa, when set, gives the pages second factors under this policy.
	mfa mfa.Policy
	// providers, when set, are the upstream identity providers, on the
	// clock fedNow (nil: time.Now).
	providers []federation.ProviderConfig
	fedNow    func() time.Time
}

// withFederation offers upstream identity providers, whose cookies follow
// now (nil: time.Now).
func withFederation(now func() time.Time, providers ...federation.ProviderConfig) envOption {
	return func(c *envConfig) { c.providers, c.fedNow = providers, now }
}

// withMFA gives the pages the second-factor service under policy.
func withMFA(policy mfa.Policy) envOption {
	return func(c *envConfig) { c.mfa = policy }
}

// withBranding gives the pages and mail a branding service.
func withBranding(b *branding.Service) envOption {
	return func(c *envConfig) { c.branding = b }
}

// withTemplates serves the pages from fsys instead of the built-in files.
func withTemplates(fsys fs.FS) envOption {
	return func(c *envConfig) { c.templates = fsys }
}

// withIdentity adjusts the identity service's options (limits).
func withIdentity(f func(*identity.Options)) envOption {
	return func(c *envConfig) { c.identity = f }
}

// withTrustedProxies makes the server read X-Forwarded-For from peers in
// cidrs (the test's requests come from 127.0.0.1).
func withTrustedProxies(cidrs ...string) envOption {
	return func(c *envConfig) { c.proxies = cidrs }
}

// newEnv starts the server; withOAuth adds the protocol endpoints (with the
// pages as their sign-in and consent).
func newEnv(t *testing.T, store *storage.Store, withOAuth bool, opts ...envOption) *env {
	t.Helper()
	var cfg envConfig
	for _, o := range opts {
		o(&cfg)
	}
	srv := httptest.NewUnstartedServer(nil)
	issuer := "http://" + srv.Listener.Addr().String()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mail := &mailbox{}
	io := identity.Options{BaseURL: issuer, Mail: mail, Log: log}
	if cfg.branding != nil {
		io.Branding = cfg.branding
	}
	if cfg.identity != nil {
		cfg.identity(&io)
	}
	ids := identity.New(store, io)
	sessions := session.New(store, session.Options{Secure: false})
	key := sha256.Sum256([]byte("csrf key for tests"))
	tmpl := cfg.templates
	if tmpl == nil {
		tmpl = templates.FS
	}
	deps := web.Deps{
		Templates: tmpl, Store: store, Identity: ids, Sessions: sessions,
		CSRFKey: key[:], Issuer: issuer, Log: log,
	}
	if cfg.branding != nil {
		deps.Branding = cfg.branding
	}
	var factors *mfa.Service
	if cfg.mfa != "" {
		var err error
		if factors, err = mfa.New(mfa.Options{Store: store, Issuer: "Gatehouse", Throttle: ids, Policy: cfg.mfa, Log: log}); err != nil {
			t.Fatalf("mfa.New: %v", err)
		}
		deps.MFA = factors
	}
	var fedSvc *federation.Service
	if len(cfg.providers) > 0 {
		fed, err := federation.New(federation.Options{Providers: cfg.providers, Issuer: issuer, Store: store, Users: ids,
			Outbound: outbound.New(outbound.Options{AllowLoopback: true}), Sealer: store.Sealer(), Now: cfg.fedNow, Log: log})
		if err != nil {
			t.Fatalf("federation.New: %v", err)
		}
		deps.Federation = fed
		fedSvc = fed
	}
	pages, err := web.New(deps)
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	proxies, err := clientip.ParseTrusted(cfg.proxies)
	if err != nil {
		t.Fatal(err)
	}
	sdeps := server.Deps{Log: log, Pages: pages, TrustedProxies: proxies}
	if withOAuth {
		cfg := oauth.Config{Issuer: issuer, Secrets: []string{storagetest.TestSecret}, MFAPolicy: string(cfg.mfa)}
		km := keys.New(store, keys.Options{MaxTokenLifetime: cfg.MaxTokenLifetime(), Log: log})
		if err := km.EnsureKeys(t.Context()); err != nil {
			t.Fatalf("ensure keys: %v", err)
		}
		h, err := oauth.New(cfg, oauth.Deps{Store: store, Keys: km, Interaction: pages, ErrorPage: pages.ErrorPage, Log: log})
		if err != nil {
			t.Fatalf("oauth.New: %v", err)
		}
		sdeps.OAuth = h
	}
	srv.Config.Handler = server.NewServer(sdeps)
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return &env{t: t, srv: srv, issuer: issuer, store: store, pages: pages, ids: ids, mail: mail, logs: logs, mfa: factors, fed: fedSvc}
}

// user creates a user with testPassword.
func (e *env) user(email, name string) storage.User {
	e.t.Helper()
	u, err := e.ids.CreateUser(e.t.Context(), identity.SignUpInput{Email: email, Password: testPassword, Name: name}, true)
	if err != nil {
		e.t.Fatalf("create user: %v", err)
	}
	return u
}

// client registers a public client (PKCE, no secret) that may get refresh tokens.
func (e *env) client(id, name string, extra ...func(*storage.Client)) storage.Client {
	e.t.Helper()
	c := storage.Client{
		ID: id, Name: name, Public: true, TokenEndpointAuthMethod: "none", ApplicationType: "web",
		GrantTypes:    storage.StringList{"authorization_code", "refresh_token"},
		ResponseTypes: storage.StringList{"code"},
		Scopes:        storage.StringList{"openid", "profile", "email", "offline_access"},
		RedirectURIs:  storage.StringList{"https://app.example.com/callback"},
	}
	for _, f := range extra {
		f(&c)
	}
	created, err := e.store.CreateClient(e.t.Context(), c)
	if err != nil {
		e.t.Fatalf("create client: %v", err)
	}
	return created
}

// authorizeURL starts a code flow with PKCE; it returns the URL and verifier.
func (e *env) authorizeURL(clientID, scope string) (string, string) {
	verifier := rand.Text() + rand.Text()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"client_id": {clientID}, "response_type": {"code"}, "redirect_uri": {"https://app.example.com/callback"},
		"scope": {scope}, "state": {"state-1234567890"}, "nonce": {"nonce-1234567890"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	return e.issuer + "/oauth2/authorize?" + q.Encode(), verifier
}

// browser is a cookie-keeping client that does not follow redirects, so tests
// see every hop.
type browser struct {
	e *env
	c *http.Client
	// forwardedFor, when set, is sent as X-Forwarded-For on every request, as
	// a proxy in front of the server would.
	forwardedFor string
	// acceptLanguage, when set, is sent as Accept-Language on every request
	// that has none.
	acceptLanguage string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is a response, its body parsed.
type page struct {
	url    *url.URL
	status int
	header http.Header
	body   string
	doc    *html.Node
}

func (p *page) location() string { return p.header.Get("Location") }

func (b *browser) do(req *http.Request) *page {
	b.e.t.Helper()
	if b.forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", b.forwardedFor)
	}
	if b.acceptLanguage != "" && req.Header.Get("Accept-Language") == "" {
		req.Header.Set("Accept-Language", b.acceptLanguage)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.e.t.Fatalf("read body: %v", err)
	}
	doc, err := html.Parse(strings.NewReader(string(body)))
	if err != nil {
		b.e.t.Fatalf("parse HTML of %s: %v", req.URL, err)
	}
	return &page{url: req.URL, status: resp.StatusCode, header: resp.Header, body: string(body), doc: doc}
}

func (b *browser) get(target string) *page {
	b.e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.abs(target), nil)
	if err != nil {
		b.e.t.Fatal(err)
	}
	return b.do(req)
}

// post sends a form as is: no CSRF token unless form has one.
func (b *browser) post(target string, form url.Values) *page {
	b.e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.abs(target), strings.NewReader(form.Encode()))
	if err != nil {
		b.e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *browser) abs(target string) string {
	if strings.HasPrefix(target, "/") {
		return b.e.issuer + target
	}
	return target
}

// submit does what a person clicking the button with buttonID does: posts the
// button's form with its fields (hidden ones included), values overriding.
func (b *browser) submit(p *page, buttonID string, values map[string]string) *page {
	b.e.t.Helper()
	button := byID(p.doc, buttonID)
	if button == nil {
		b.e.t.Fatalf("no element #%s on %s:\n%s", buttonID, p.url, p.body)
	}
	form := ancestor(button, "form")
	if form == nil {
		b.e.t.Fatalf("#%s is not in a form", buttonID)
	}
	if m := strings.ToLower(attr(form, "method")); m != "post" {
		b.e.t.Fatalf("form of #%s has method %q", buttonID, m)
	}
	data := url.Values{}
	for _, in := range all(form, func(n *html.Node) bool { return n.Data == "input" }) {
		if name := attr(in, "name"); name != "" {
			data.Set(name, attr(in, "value"))
		}
	}
	// A list sends its selected choice (the first when none is).
	for _, sel := range all(form, func(n *html.Node) bool { return n.Data == "select" }) {
		opts := all(sel, func(n *html.Node) bool { return n.Data == "option" })
		if name := attr(sel, "name"); name != "" && len(opts) > 0 {
			chosen := opts[0]
			for _, o := range opts {
				if hasAttr(o, "selected") {
					chosen = o
				}
			}
			data.Set(name, attr(chosen, "value"))
		}
	}
	if name := attr(button, "name"); name != "" {
		data.Set(name, attr(button, "value"))
	}
	for k, v := range values {
		if k != "" && byName(form, k) == nil {
			b.e.t.Fatalf("form of #%s has no field %q", buttonID, k)
		}
		data.Set(k, v)
	}
	action, err := p.url.Parse(attr(form, "action"))
	if err != nil {
		b.e.t.Fatalf("bad form action: %v", err)
	}
	return b.post(action.String(), data)
}

// click does what a person clicking the link with id does: a GET of its href,
// resolved against the page's address (its fragment left out, as browsers do).
func (b *browser) click(p *page, id string) *page {
	b.e.t.Helper()
	a := byID(p.doc, id)
	if a == nil || a.Data != "a" || attr(a, "href") == "" {
		b.e.t.Fatalf("no link #%s on %s:\n%s", id, p.url, p.body)
	}
	target, err := p.url.Parse(attr(a, "href"))
	if err != nil {
		b.e.t.Fatalf("bad href of #%s: %v", id, err)
	}
	target.Fragment = ""
	return b.get(target.String())
}

// follow GETs redirects until a page, or a Location off the provider.
func (b *browser) follow(p *page) *page {
	b.e.t.Helper()
	for range 10 {
		if p.status != http.StatusSeeOther && p.status != http.StatusFound {
			return p
		}
		loc, err := p.url.Parse(p.location())
		if err != nil {
			b.e.t.Fatalf("bad Location %q", p.location())
		}
		if !strings.HasPrefix(loc.String(), b.e.issuer) {
			return p
		}
		p = b.get(loc.String())
	}
	b.e.t.Fatalf("too many redirects")
	return nil
}

// signUp fills the sign-up form of page p (a GET of /signup, maybe with a
// continue URL) and returns the answer: "check your e-mail".
func (b *browser) signUp(p *page, email, password string) *page {
	b.e.t.Helper()
	got := b.submit(p, "sign-up", map[string]string{"email": email, "password": password, "confirm": password})
	if got.status != http.StatusOK || byID(got.doc, "signup-sent") == nil {
		b.e.t.Fatalf("sign-up of %s: %d, want 200 and #signup-sent:\n%s", email, got.status, got.body)
	}
	return got
}

// signIn signs the browser in and returns the page after following redirects.
func (b *browser) signIn(email, password string) *page {
	b.e.t.Helper()
	p := b.get("/signin")
	return b.follow(b.submit(p, "sign-in", map[string]string{"email": email, "password": password}))
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.e.issuer)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// HTML queries.

func all(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

func byID(n *html.Node, id string) *html.Node {
	if found := all(n, func(n *html.Node) bool { return attr(n, "id") == id }); len(found) > 0 {
		return found[0]
	}
	return nil
}

func byName(n *html.Node, name string) *html.Node {
	if found := all(n, func(n *html.Node) bool { return attr(n, "name") == name }); len(found) > 0 {
		return found[0]
	}
	return nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func ancestor(n *html.Node, tag string) *html.Node {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode && p.Data == tag {
			return p
		}
	}
	return nil
}

// text is the text content of n, spaces collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// spoken is the text of n that a screen reader reads: without what is
// aria-hidden or hidden, spaces collapsed.
func spoken(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && (attr(n, "aria-hidden") == "true" || hasAttr(n, "hidden")) {
			return
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
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

// userByEmail reads a user from the store.
func (e *env) userByEmail(email string) (storage.User, error) {
	return e.store.GetUserByEmail(e.t.Context(), email)
}
