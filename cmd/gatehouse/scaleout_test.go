package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// instanceHeader pins a request to one instance behind the test's load balancer;
// without it the balancer takes turns.
const instanceHeader = "X-Test-Instance"

// balancer is a round-robin reverse proxy in front of several gatehouse instances,
// like the load balancer of a scaled-out deployment: every instance has the
// balancer's address as its issuer, so URLs and cookies work whichever instance
// answers.
type balancer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	proxies []*httputil.ReverseProxy
	next    int
	served  []int // requests per instance
}

// newBalancer listens on a loopback port at once, so its URL can be the issuer of
// the instances; serve starts forwarding once setTargets is called.
func newBalancer(t *testing.T) *balancer {
	t.Helper()
	b := &balancer{}
	b.srv = httptest.NewServer(b)
	t.Cleanup(b.srv.Close)
	return b
}

// setTargets names the instances, in order: instance i is base URL targets[i].
func (b *balancer) setTargets(t *testing.T, targets []string) {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, raw := range targets {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		b.proxies = append(b.proxies, &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // the public host, as a load balancer keeps it
		}})
	}
	b.served = make([]int, len(targets))
}

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	if len(b.proxies) == 0 {
		b.mu.Unlock()
		http.Error(w, "no instances yet", http.StatusServiceUnavailable)
		return
	}
	i := b.next % len(b.proxies)
	b.next++
	if h := r.Header.Get(instanceHeader); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 || n >= len(b.proxies) {
			b.mu.Unlock()
			http.Error(w, "bad "+instanceHeader, http.StatusBadRequest)
			return
		}
		i = n
	}
	b.served[i]++
	p := b.proxies[i]
	b.mu.Unlock()
	r.Header.Del(instanceHeader)
	p.ServeHTTP(w, r)
}

// webBrowser is an HTTP client with cookies that does not follow redirects, so
// each step of a flow can be sent to a chosen instance.
type webBrowser struct {
	t    *testing.T
	base string
	c    *http.Client
	via  int // instance to pin requests to; -1 lets the balancer choose
	// header is added to every request (X-Forwarded-For, as a proxy sets it).
	header http.Header
}

func newWebBrowser(t *testing.T, base string) *webBrowser {
	jar, _ := cookiejar.New(nil)
	return &webBrowser{t: t, base: base, via: -1, c: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// on pins the following requests to instance i.
func (b *webBrowser) on(i int) *webBrowser { b.via = i; return b }

// webPage is one response.
type webPage struct {
	url      *url.URL
	status   int
	header   http.Header
	body     string
	location *url.URL // resolved Location of a redirect
}

func (b *webBrowser) do(method, target string, form url.Values) *webPage {
	b.t.Helper()
	u, err := url.Parse(b.base)
	if err != nil {
		b.t.Fatal(err)
	}
	u, err = u.Parse(target)
	if err != nil {
		b.t.Fatalf("bad URL %q: %v", target, err)
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(b.t.Context(), method, u.String(), body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.via >= 0 {
		req.Header.Set(instanceHeader, strconv.Itoa(b.via))
	}
	for k, v := range b.header {
		req.Header[k] = v
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("%s %s: read body: %v", method, u, err)
	}
	p := &webPage{url: u, status: resp.StatusCode, header: resp.Header, body: string(raw)}
	if loc, err := resp.Location(); err == nil {
		p.location = loc
	}
	return p
}

func (b *webBrowser) get(target string) *webPage { return b.do(http.MethodGet, target, nil) }

// submit posts the form that holds the button with id buttonID, with its hidden
// fields (the CSRF token among them), the button's own name and value, and fields.
func (b *webBrowser) submit(p *webPage, buttonID string, fields map[string]string) *webPage {
	b.t.Helper()
	action, values := formOf(b.t, p, buttonID)
	for k, v := range fields {
		values.Set(k, v)
	}
	return b.do(http.MethodPost, p.url.ResolveReference(action).String(), values)
}

// formOf finds the form holding the element with id buttonID and returns its
// action and the values it would send.
func formOf(t *testing.T, p *webPage, buttonID string) (*url.URL, url.Values) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatalf("parse %s: %v", p.url, err)
	}
	attr := func(n *html.Node, key string) string {
		for _, a := range n.Attr {
			if a.Key == key {
				return a.Val
			}
		}
		return ""
	}
	var found *html.Node
	var walk func(n, form *html.Node)
	walk = func(n, form *html.Node) {
		if n.Type == html.ElementNode && n.Data == "form" {
			form = n
		}
		if n.Type == html.ElementNode && attr(n, "id") == buttonID && form != nil && found == nil {
			found = form
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, form)
		}
	}
	walk(doc, nil)
	if found == nil {
		t.Fatalf("%s (status %d) has no form with #%s:\n%s", p.url, p.status, buttonID, p.body)
	}
	values := url.Values{}
	var collect func(n *html.Node)
	collect = func(n *html.Node) {
		if n.Type == html.ElementNode {
			name := attr(n, "name")
			switch {
			case n.Data == "input" && name != "" && attr(n, "type") == "hidden":
				values.Set(name, attr(n, "value"))
			case n.Data == "button" && name != "" && attr(n, "id") == buttonID:
				values.Set(name, attr(n, "value"))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			collect(c)
		}
	}
	collect(found)
	action, err := url.Parse(attr(found, "action"))
	if err != nil {
		t.Fatalf("form action %q: %v", attr(found, "action"), err)
	}
	return action, values
}

// oauthClient is a registered client and its secret.
type oauthClient struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// createClient registers a client with `gatehouse clients create … -o json`.
func createClient(t *testing.T, env map[string]string, args ...string) oauthClient {
	t.Helper()
	out := gatehouse(t, env, append([]string{"clients", "create", "-o", "json"}, args...)...)
	var c oauthClient
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID == "" || c.Secret == "" {
		t.Fatalf("clients create -o json = %q (%v)", out, err)
	}
	return c
}

// tokenResponse is the JSON of the token endpoint, success or error (RFC 6749
// §5.1, §5.2).
type tokenResponse struct {
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	IDToken          string `json:"id_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// tokenResult is one call of the token or introspection endpoint.
type tokenResult struct {
	status     int
	retryAfter string
	body       tokenResponse
	raw        []byte
}

// postForm sends an authenticated form to base+path, pinned to instance via (-1:
// any), and returns its status and decoded body. A transport error is returned,
// not fatal, so load generators can count it.
func postForm(ctx context.Context, hc *http.Client, base, path string, c oauthClient, via int, form url.Values) (tokenResult, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return tokenResult{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	if via >= 0 {
		req.Header.Set(instanceHeader, strconv.Itoa(via))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return tokenResult{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return tokenResult{}, err
	}
	r := tokenResult{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), raw: raw}
	if err := json.Unmarshal(raw, &r.body); err != nil {
		return r, fmt.Errorf("status %d, body %q is not JSON: %w", resp.StatusCode, raw, err)
	}
	return r, nil
}

// mustToken posts a token request that must succeed.
func mustToken(t *testing.T, base string, c oauthClient, via int, form url.Values) tokenResponse {
	t.Helper()
	r, err := postForm(t.Context(), http.DefaultClient, base, "/oauth2/token", c, via, form)
	if err != nil || r.status != http.StatusOK || r.body.AccessToken == "" {
		t.Fatalf("token request %v on instance %d: status %d, body %s, error %v", form.Get("grant_type"), via, r.status, r.raw, err)
	}
	return r.body
}

// introspect reports whether token is active (RFC 7662), asked by client c.
func introspect(t *testing.T, hc *http.Client, base string, c oauthClient, via int, token, hint string) bool {
	t.Helper()
	r, err := postForm(t.Context(), hc, base, "/oauth2/introspect", c, via, url.Values{"token": {token}, "token_type_hint": {hint}})
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("introspect on instance %d: status %d, body %s, error %v", via, r.status, r.raw, err)
	}
	var v struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(r.raw, &v); err != nil {
		t.Fatalf("introspection body %s: %v", r.raw, err)
	}
	return v.Active
}

// codeRequest is an authorization request of the code flow with PKCE.
type codeRequest struct {
	client      oauthClient
	redirectURI string
	scope       string
	prompt      string
	verifier    string
	state       string
}

func newCodeRequest(c oauthClient, redirectURI, scope string) *codeRequest {
	return &codeRequest{client: c, redirectURI: redirectURI, scope: scope, verifier: oauth2.GenerateVerifier(), state: oauth2.GenerateVerifier()[:16]}
}

func (cr *codeRequest) url() string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {cr.client.ID}, "redirect_uri": {cr.redirectURI},
		"scope": {cr.scope}, "state": {cr.state}, "nonce": {"n-" + cr.state},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(cr.verifier)}, "code_challenge_method": {"S256"},
	}
	if cr.prompt != "" {
		q.Set("prompt", cr.prompt)
	}
	return "/oauth2/authorize?" + q.Encode()
}

// authorize follows the flow in the browser, allowing consent when asked, until
// the provider redirects to the client, and returns the code and whether consent
// was asked. Each step goes to the instance the browser is pinned to at that
// moment; step is called before each request after the first, so a test can move
// the browser between instances.
func (cr *codeRequest) authorize(t *testing.T, b *webBrowser, step func(n int)) (code string, consented bool) {
	t.Helper()
	p := b.get(cr.url())
	for n := 1; n <= 10; n++ {
		switch {
		case p.location != nil && strings.HasPrefix(p.location.String(), cr.redirectURI):
			q := p.location.Query()
			if q.Get("state") != cr.state || q.Get("code") == "" {
				t.Fatalf("redirect to the client %s: want a code and state %s", p.location, cr.state)
			}
			return q.Get("code"), consented
		case p.location != nil:
			step(n)
			p = b.get(p.location.String())
		case p.status == http.StatusOK && strings.Contains(p.body, `id="allow"`):
			step(n)
			consented = true
			p = b.submit(p, "allow", nil)
		default:
			t.Fatalf("authorization stopped at %s: status %d\n%s", p.url, p.status, p.body)
		}
	}
	t.Fatalf("authorization did not reach the client within 10 steps")
	return "", false
}

// exchange redeems code at the token endpoint of instance via.
func (cr *codeRequest) exchange(t *testing.T, base string, via int, code string) tokenResponse {
	t.Helper()
	return mustToken(t, base, cr.client, via, url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cr.redirectURI}, "code_verifier": {cr.verifier},
	})
}

// jwksKIDs returns the key ids of the JWKS served at base (pinned to instance via).
func jwksKIDs(t *testing.T, base string, via int) []string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/.well-known/jwks.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(instanceHeader, strconv.Itoa(via))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("JWKS of instance %d: %v", via, err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("JWKS of instance %d: status %d, %v", via, resp.StatusCode, err)
	}
	kids := make([]string, len(set.Keys))
	for i, k := range set.Keys {
		kids[i] = k.KID
	}
	return kids
}

// TestSeveralInstances runs three gatehouse instances on one PostgreSQL database
// behind a round-robin load balancer (their common issuer). They migrate
// concurrently, each migration once; a sign-in, a consent and an authorization
// code cross instances; a key rotated with the CLI reaches every instance at once
// through NOTIFY, though keys.refresh_interval is an hour; a refresh token
// rotated on one instance is refused as reused on another, which revokes the
// family everywhere.
func TestSeveralInstances(t *testing.T) {
	const instances = 3
	const refreshInterval = time.Hour
	db := storagetest.NewPostgresDatabase(t)
	lb := newBalancer(t)
	env := pgEnv(db)
	env["GATEHOUSE_ISSUER"] = lb.srv.URL
	env["GATEHOUSE_KEYS_REFRESH_INTERVAL"] = refreshInterval.String()

	// serve logs "listening" before it migrates, so the three migrate together.
	procs := make([]*serveProc, instances)
	targets := make([]string, instances)
	for i := range procs {
		procs[i] = startServe(t, env, "--addr", "127.0.0.1:0", "--migrate")
		targets[i] = procs[i].base
	}
	t.Cleanup(func() {
		if t.Failed() {
			for i, p := range procs {
				t.Logf("instance %d log:\n%s", i, p.log)
			}
		}
	})
	for _, p := range procs {
		waitFor(t, p, "/readyz", time.Minute, statusIs(http.StatusOK))
	}
	lb.setTargets(t, targets)

	applied := appliedMigrations(t, db)
	known := knownPostgresVersions(t)
	if len(applied) != len(known) {
		t.Errorf("schema_migrations holds versions %v, want %v", applied, known)
	}
	for _, v := range known {
		if applied[v] != 1 {
			t.Errorf("version %d recorded %d times, want once", v, applied[v])
		}
	}
	migrated := 0
	for _, p := range procs {
		if strings.Contains(p.log.String(), `"msg":"migrations applied"`) && !strings.Contains(p.log.String(), `"versions":null`) {
			migrated++
		}
	}
	t.Logf("instances that applied migrations: %d", migrated)

	const email, password = "hedy@example.com", "frequency hopping spread spectrum"
	r := runCLIWithStdin(t, env, password+"\n", "users", "create", "--email", email, "--password-stdin", "--email-verified")
	if r.code != 0 {
		t.Fatalf("users create: exit %d\n%s", r.code, r.output())
	}
	const redirectURI = "http://127.0.0.1:1/callback" // never visited: the browser stops at the redirect
	app := createClient(t, env, "--name", "Radio", "--redirect-uri", redirectURI, "--scope", "openid,profile,email,offline_access")

	t.Run("SignInAcrossInstances", func(t *testing.T) {
		b := newWebBrowser(t, lb.srv.URL)
		form := b.on(0).get("/signin")
		if form.status != http.StatusOK {
			t.Fatalf("GET /signin on instance 0: %d", form.status)
		}
		done := b.on(1).submit(form, "sign-in", map[string]string{"email": email, "password": password})
		if done.status != http.StatusSeeOther {
			t.Fatalf("POST /signin on instance 1 with instance 0's form: %d\n%s", done.status, done.body)
		}
		account := b.on(2).get("/account")
		if account.status != http.StatusOK || !strings.Contains(account.body, email) {
			t.Fatalf("GET /account on instance 2 after signing in on 1: %d\n%s", account.status, account.body)
		}
	})

	var tokens tokenResponse
	t.Run("ConsentRememberedAcrossInstances", func(t *testing.T) {
		b := newWebBrowser(t, lb.srv.URL)
		signIn := b.on(0).get("/signin")
		if p := b.submit(signIn, "sign-in", map[string]string{"email": email, "password": password}); p.status != http.StatusSeeOther {
			t.Fatalf("sign in on instance 0: %d\n%s", p.status, p.body)
		}
		// Each step of the flow goes to the next instance: the consent page comes
		// from one, its POST goes to another.
		cr := newCodeRequest(app, redirectURI, "openid email offline_access")
		b.on(0)
		code, consented := cr.authorize(t, b, func(n int) { b.on(n % instances) })
		if !consented {
			t.Fatal("the first authorization of the application asked no consent")
		}
		tokens = cr.exchange(t, lb.srv.URL, 2, code)
		if tokens.RefreshToken == "" || tokens.IDToken == "" {
			t.Fatalf("code exchange returned no refresh or ID token: %+v", tokens)
		}
		// prompt=none on every instance: the consent is remembered in the database.
		for i := range instances {
			silent := newCodeRequest(app, redirectURI, "openid email offline_access")
			silent.prompt = "none"
			p := b.on(i).get(silent.url())
			if p.location == nil || !strings.HasPrefix(p.location.String(), redirectURI) || p.location.Query().Get("code") == "" {
				t.Fatalf("prompt=none on instance %d: status %d, Location %v (want a code)\n%s", i, p.status, p.location, p.body)
			}
		}
	})
	if tokens.RefreshToken == "" {
		t.Fatal("no tokens from the code flow")
	}

	t.Run("KeyRotationReachesEveryInstance", func(t *testing.T) {
		before := jwksKIDs(t, lb.srv.URL, 0)
		out := gatehouse(t, env, "keys", "rotate", "--alg", "RS256", "-o", "json")
		var rotated []struct {
			KID string `json:"kid"`
		}
		if err := json.Unmarshal([]byte(out), &rotated); err != nil || len(rotated) != 1 || rotated[0].KID == "" {
			t.Fatalf("keys rotate -o json = %q (%v)", out, err)
		}
		kid := rotated[0].KID
		if slices.Contains(before, kid) {
			t.Fatalf("new key %s already served before the rotation", kid)
		}
		start := time.Now()
		// The rotation's NOTIFY wakes every instance's key refresher; the
		// refresh interval (an hour) plays no part. The bound is slack for a
		// busy CI machine.
		bound := 10 * time.Second
		deadline := time.NewTimer(bound)
		defer deadline.Stop()
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		seen := make([]time.Duration, instances)
		for remaining := instances; remaining > 0; {
			for i := range instances {
				if seen[i] == 0 && slices.Contains(jwksKIDs(t, lb.srv.URL, i), kid) {
					seen[i] = time.Since(start)
					remaining--
				}
			}
			if remaining == 0 {
				break
			}
			select {
			case <-deadline.C:
				t.Fatalf("key %s not served by every instance within %s (refresh interval %s): seen after %v", kid, bound, refreshInterval, seen)
			case <-tick.C:
			}
		}
		t.Logf("rotated key %s served by all instances after %v (refresh interval %s)", kid, seen, refreshInterval)
		// The old key stays published: tokens it signed still verify.
		for _, old := range before {
			if !slices.Contains(jwksKIDs(t, lb.srv.URL, 1), old) {
				t.Errorf("retired key %s left the JWKS at once", old)
			}
		}
	})

	t.Run("RefreshReuseAcrossInstances", func(t *testing.T) {
		first := tokens.RefreshToken
		rotated := mustToken(t, lb.srv.URL, app, 1, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}})
		if rotated.RefreshToken == "" || rotated.RefreshToken == first {
			t.Fatalf("refresh on instance 1 did not rotate the refresh token: %+v", rotated)
		}
		reuse, err := postForm(t.Context(), http.DefaultClient, lb.srv.URL, "/oauth2/token", app, 2, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}})
		if err != nil {
			t.Fatal(err)
		}
		if reuse.status != http.StatusBadRequest || reuse.body.Error != "invalid_grant" {
			t.Fatalf("reusing the rotated refresh token on instance 2: status %d, body %s; want 400 invalid_grant", reuse.status, reuse.raw)
		}
		// Reuse revokes the family: the tokens instance 1 issued are dead on every
		// instance.
		for i := range instances {
			if introspect(t, http.DefaultClient, lb.srv.URL, app, i, rotated.RefreshToken, "refresh_token") {
				t.Errorf("instance %d: the refresh token issued before the reuse is still active", i)
			}
			if introspect(t, http.DefaultClient, lb.srv.URL, app, i, rotated.AccessToken, "access_token") {
				t.Errorf("instance %d: the access token issued before the reuse is still active", i)
			}
		}
		again, err := postForm(t.Context(), http.DefaultClient, lb.srv.URL, "/oauth2/token", app, 0, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rotated.RefreshToken}})
		if err != nil {
			t.Fatal(err)
		}
		if again.status != http.StatusBadRequest || again.body.Error != "invalid_grant" {
			t.Errorf("the revoked family's refresh token on instance 0: status %d, body %s; want 400 invalid_grant", again.status, again.raw)
		}
	})

	lb.mu.Lock()
	t.Logf("requests per instance through the balancer: %v", lb.served)
	lb.mu.Unlock()
}

// runCLIWithStdin runs the CLI in-process with stdin, bounded by a minute.
func runCLIWithStdin(t *testing.T, env map[string]string, stdin string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var stdout, stderr syncBuffer
	code := run(ctx, args, envMap(env), strings.NewReader(stdin), &stdout, &stderr)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}
