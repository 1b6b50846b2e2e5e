package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// loadResult is one request of a load generator.
type loadResult struct {
	kind       string // "client_credentials" or "refresh_token"
	start, end time.Time
	status     int // 0: no HTTP response
	err        error
	errCode    string // the error field of an error response
	retryAfter string
	token      tokenResponse
}

// loadLog collects the results of concurrent load generators.
type loadLog struct {
	mu      sync.Mutex
	results []loadResult
}

func (l *loadLog) add(r loadResult) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.results = append(l.results, r)
}

func (l *loadLog) all() []loadResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.results)
}

// timedToken sends one token request and records it.
func timedToken(ctx context.Context, hc *http.Client, base string, c oauthClient, form url.Values) loadResult {
	r := loadResult{kind: form.Get("grant_type"), start: time.Now()}
	res, err := postForm(ctx, hc, base, "/oauth2/token", c, -1, form)
	r.end = time.Now()
	r.status, r.err, r.errCode, r.retryAfter, r.token = res.status, err, res.body.Error, res.retryAfter, res.body
	return r
}

// signUpAndConsent signs a new user up through the pages and opens the mailed
// verification link (from inbox) in the same browser, which signs it in, then
// runs the authorization code flow for app (consenting on the first run) and
// returns the tokens, n times: n independent refresh-token families of one user.
func signUpAndConsent(t *testing.T, base string, inbox *mailtest.Server, app oauthClient, redirectURI string, n int) []tokenResponse {
	t.Helper()
	b := newWebBrowser(t, base)
	const password = "the analytical engine weaves"
	p := b.submit(b.get("/signup"), "sign-up", map[string]string{"email": "ada@example.com", "name": "Ada", "password": password, "confirm": password})
	if p.status != http.StatusOK || !strings.Contains(p.body, `id="signup-sent"`) {
		t.Fatalf("sign-up: status %d\n%s", p.status, p.body)
	}
	link := inbox.WaitMessages(t, 1)[0].Link(base + "/verify-email")
	if p := b.get(link); p.status != http.StatusSeeOther || p.location == nil || p.location.Path != "/account" {
		t.Fatalf("verification link %q: status %d, Location %v; want 303 to the account page, signed in", link, p.status, p.location)
	}
	var out []tokenResponse
	for range n {
		cr := newCodeRequest(app, redirectURI, "openid offline_access")
		code, _ := cr.authorize(t, b, func(int) {})
		tok := cr.exchange(t, base, -1, code)
		if tok.RefreshToken == "" {
			t.Fatalf("code exchange returned no refresh token: %+v", tok)
		}
		out = append(out, tok)
	}
	return out
}

// TestDatabaseRestartUnderLoad drives client-credentials and refresh-token traffic
// while the PostgreSQL server is stopped for a few seconds and started again. The
// process keeps running; requests during the outage fail fast with 503
// temporarily_unavailable and Retry-After; within 5 s of the database's return
// every request succeeds; and every token answered with 200 before, during or
// after the outage is still active afterwards (the latest of each refresh-token
// family: rotation revokes the ones before it, by design).
func TestDatabaseRestartUnderLoad(t *testing.T) {
	const (
		connectTimeout = 2 * time.Second
		outage         = 3 * time.Second
		recoveryBound  = 5 * time.Second
		ccWorkers      = 3
		refreshWorkers = 2
		pace           = 30 * time.Millisecond // between one worker's requests
	)
	pg := storagetest.StartPostgres(t, storagetest.PostgresServerOptions{})
	port := freePort(t)
	base := "http://127.0.0.1:" + port
	env := pgEnv(pg.URL())
	inbox := mailtest.NewServer(t, mailtest.Options{TLS: mail.TLSNone})
	maps.Copy(env, smtpEnv(inbox.Config()))
	env["GATEHOUSE_ISSUER"] = base
	env["GATEHOUSE_DATABASE_CONNECT_TIMEOUT"] = connectTimeout.String()
	env["GATEHOUSE_KEYS_REFRESH_INTERVAL"] = "1s" // key reloads fail during the outage too
	if r := runCLI(t, env, "migrate", "up"); r.code != 0 {
		t.Fatalf("migrate up: exit %d\n%s", r.code, r.output())
	}
	s := startServe(t, env, "--addr", "127.0.0.1:"+port, "--migrate")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", s.log)
		}
	})
	waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))

	svc := createClient(t, env, "--name", "Batch", "--grant-type", "client_credentials")
	const redirectURI = "http://127.0.0.1:1/callback"
	app := createClient(t, env, "--name", "Notes", "--redirect-uri", redirectURI, "--scope", "openid,offline_access")
	families := signUpAndConsent(t, base, inbox, app, redirectURI, refreshWorkers)

	hc := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: ccWorkers + refreshWorkers}}
	// Stopping the load lets requests in flight finish: a refresh cut off by the
	// client may have rotated the token on the server, and the next use of the old
	// one would then rightly count as reuse.
	ctx := t.Context()
	stopping := make(chan struct{})
	stopLoad := sync.OnceFunc(func() { close(stopping) })
	defer stopLoad()
	var log loadLog
	var wg sync.WaitGroup
	for range ccWorkers {
		wg.Go(func() {
			tick := time.NewTicker(pace)
			defer tick.Stop()
			for {
				log.add(timedToken(ctx, hc, base, svc, url.Values{"grant_type": {"client_credentials"}}))
				select {
				case <-stopping:
					return
				case <-tick.C:
				}
			}
		})
	}
	latest := make([]tokenResponse, refreshWorkers)
	for i := range refreshWorkers {
		wg.Go(func() {
			tick := time.NewTicker(pace)
			defer tick.Stop()
			cur := families[i]
			defer func() { latest[i] = cur }()
			for {
				r := timedToken(ctx, hc, base, app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {cur.RefreshToken}})
				log.add(r)
				if r.status == http.StatusOK && r.token.RefreshToken != "" {
					cur = r.token
				}
				select {
				case <-stopping:
					return
				case <-tick.C:
				}
			}
		})
	}

	// wait paces the test without sleeping: it returns after d, or fails when serve
	// exits meanwhile.
	wait := func(d time.Duration) {
		t.Helper()
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
		case code := <-s.done:
			s.done <- code
			t.Fatalf("serve exited with %d under load\n%s", code, s.log)
		}
	}
	wait(1500 * time.Millisecond)
	stopAt := time.Now()
	pg.Stop(t)
	downAt := time.Now()
	wait(outage)
	startAt := time.Now()
	pg.Start(t)
	upAt := time.Now() // the server accepts connections again
	wait(recoveryBound + 2*time.Second)
	stopLoad()
	wg.Wait()
	endAt := time.Now()

	select {
	case code := <-s.done:
		s.done <- code
		t.Fatalf("serve exited with %d during the test\n%s", code, s.log)
	default:
	}
	if strings.Contains(s.log.String(), "panic") {
		t.Errorf("serve logged a panic")
	}

	results := log.all()
	var sent, failed, failedWhileDown, transport, wrong int
	var lastFailure time.Time
	var slowest time.Duration
	for _, r := range results {
		sent++
		if r.status == http.StatusOK && r.err == nil {
			continue
		}
		failed++
		if r.end.After(lastFailure) {
			lastFailure = r.end
		}
		if r.start.After(downAt) && r.end.Before(upAt) {
			failedWhileDown++
		}
		if d := r.end.Sub(r.start); d > slowest {
			slowest = d
		}
		switch {
		case r.status == 0:
			transport++
			t.Errorf("%s request at +%s: no HTTP response: %v", r.kind, r.start.Sub(stopAt).Round(time.Millisecond), r.err)
		case r.status != http.StatusServiceUnavailable || r.errCode != "temporarily_unavailable" || r.retryAfter == "":
			wrong++
			if wrong <= 5 {
				t.Errorf("%s request at +%s: status %d, error %q, Retry-After %q (%v); want 503 temporarily_unavailable with Retry-After",
					r.kind, r.start.Sub(stopAt).Round(time.Millisecond), r.status, r.errCode, r.retryAfter, r.err)
			}
		case r.end.Sub(r.start) >= connectTimeout:
			t.Errorf("%s request at +%s failed after %s; want it to fail fast (under the %s connect timeout)",
				r.kind, r.start.Sub(stopAt).Round(time.Millisecond), r.end.Sub(r.start), connectTimeout)
		}
		if r.end.Before(stopAt) || r.start.After(upAt.Add(recoveryBound)) {
			t.Errorf("%s request at +%s failed outside the outage (database stopped at +0s, back at +%s): status %d %q",
				r.kind, r.start.Sub(stopAt).Round(time.Millisecond), upAt.Sub(stopAt).Round(time.Millisecond), r.status, r.errCode)
		}
	}
	if failedWhileDown == 0 {
		t.Errorf("no request failed while the database was down: the outage was not exercised")
	}
	recovery := time.Duration(0)
	if lastFailure.After(upAt) {
		recovery = lastFailure.Sub(upAt)
	}
	if recovery > recoveryBound {
		t.Errorf("requests still failed %s after the database came back, want every one to succeed within %s", recovery, recoveryBound)
	}
	var succeededAfter int
	var firstSuccess time.Time // the first 200 to a request sent after Start was called
	for _, r := range results {
		if r.status != http.StatusOK {
			continue
		}
		if r.start.After(upAt.Add(recovery)) {
			succeededAfter++
		}
		if r.start.After(startAt) && (firstSuccess.IsZero() || r.end.Before(firstSuccess)) {
			firstSuccess = r.end
		}
	}
	if succeededAfter == 0 {
		t.Errorf("no request succeeded after the database came back")
	}

	// Nothing acknowledged was lost: every client-credentials token, and the latest
	// pair of each refresh-token family, introspects as active.
	lost := 0
	issued := 0
	for _, r := range results {
		if r.kind != "client_credentials" || r.status != http.StatusOK {
			continue
		}
		issued++
		if !introspect(t, hc, base, svc, -1, r.token.AccessToken, "access_token") {
			lost++
			t.Errorf("access token issued at +%s is no longer active", r.start.Sub(stopAt).Round(time.Millisecond))
		}
	}
	for i, tok := range latest {
		issued += 2
		if !introspect(t, hc, base, app, -1, tok.AccessToken, "access_token") {
			lost++
			t.Errorf("refresh family %d: its latest access token is no longer active", i)
		}
		if !introspect(t, hc, base, app, -1, tok.RefreshToken, "refresh_token") {
			lost++
			t.Errorf("refresh family %d: its latest refresh token is no longer active", i)
		}
	}
	// The latest refresh tokens still work.
	for i, tok := range latest {
		if r := timedToken(t.Context(), hc, base, app, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}); r.status != http.StatusOK {
			t.Errorf("refresh family %d after the outage: status %d %q", i, r.status, r.errCode)
		}
	}
	t.Logf("database restart under load: %d requests sent over %s; database stopped for %s (stop took %s); "+
		"%d failed (%d while the database was down, all 503 temporarily_unavailable: %t, slowest failure %s); "+
		"%d acknowledged tokens checked, %d lost; PostgreSQL took %s to start, the first 200 came %s after it was started, "+
		"and no request failed later than %s after it accepted connections",
		sent, endAt.Sub(stopAt.Add(-1500*time.Millisecond)).Round(time.Millisecond), upAt.Sub(downAt).Round(time.Millisecond),
		downAt.Sub(stopAt).Round(time.Millisecond), failed, failedWhileDown, transport == 0 && wrong == 0, slowest.Round(time.Millisecond),
		issued, lost, upAt.Sub(startAt).Round(time.Millisecond), firstSuccess.Sub(startAt).Round(time.Millisecond), recovery.Round(time.Millisecond))
}

// TestStartBeforeDatabase starts serve while its PostgreSQL is down: it listens,
// /readyz says it waits for the database, the log says so in plain words, and
// the token endpoint answers 503 temporarily_unavailable. Once the database starts,
// serve migrates, becomes ready and issues tokens.
func TestStartBeforeDatabase(t *testing.T) {
	pg := storagetest.StartPostgres(t, storagetest.PostgresServerOptions{})
	pg.Stop(t)
	env := pgEnv(pg.URL())
	env["GATEHOUSE_DATABASE_CONNECT_RETRY"] = "60s"
	env["GATEHOUSE_DATABASE_CONNECT_TIMEOUT"] = "2s"
	s := startServe(t, env, "--addr", "127.0.0.1:0", "--migrate")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", s.log)
		}
	})

	_, body := waitFor(t, s, "/readyz", 30*time.Second, statusIs(http.StatusServiceUnavailable))
	if r := decodeReady(t, body); !strings.HasPrefix(r.Checks["database"], "waiting for database") {
		t.Errorf("/readyz while the database is down = %+v, want checks.database \"waiting for database…\"", r)
	}
	if !strings.Contains(s.log.String(), `"msg":"waiting for database"`) {
		t.Errorf("serve did not log \"waiting for database\":\n%s", s.log)
	}
	r, err := postForm(t.Context(), http.DefaultClient, s.base, "/oauth2/token", oauthClient{ID: "anyone", Secret: "x"}, -1,
		url.Values{"grant_type": {"client_credentials"}})
	if err != nil || r.status != http.StatusServiceUnavailable || r.body.Error != "temporarily_unavailable" || r.retryAfter == "" {
		t.Errorf("token request before the database is up: status %d, body %s, Retry-After %q, error %v; want 503 temporarily_unavailable with Retry-After",
			r.status, r.raw, r.retryAfter, err)
	}

	pg.Start(t)
	waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
	svc := createClient(t, env, "--name", "Batch", "--grant-type", "client_credentials")
	tok := mustToken(t, s.base, svc, -1, url.Values{"grant_type": {"client_credentials"}})
	if !introspect(t, http.DefaultClient, s.base, svc, -1, tok.AccessToken, "access_token") {
		t.Errorf("the token issued once the database came up is not active")
	}
	if code := s.stop(t); code != 0 {
		t.Errorf("serve after cancel: exit %d, want 0\n%s", code, s.log)
	}
}

// TestGracefulShutdown cancels serve's context (what SIGTERM does in main) while
// token requests are in flight: /readyz turns 503 first, while connections are
// still accepted, so a load balancer takes the instance out of rotation; after
// shutdown_drain the listener closes, so new connections are refused; the
// requests already being handled complete with 200; run returns 0 within
// shutdown_grace.
func TestGracefulShutdown(t *testing.T) {
	const grace = 10 * time.Second
	const drain = time.Second
	const held = 6    // requests the handler is inside when the signal comes
	const workers = 4 // ordinary load at the same time
	env := pgEnv(storagetest.NewPostgresDatabase(t))
	env["GATEHOUSE_SHUTDOWN_GRACE"] = grace.String()
	env["GATEHOUSE_SHUTDOWN_DRAIN"] = drain.String()
	s := startServe(t, env, "--addr", "127.0.0.1:0", "--migrate")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", s.log)
		}
	})
	waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
	svc := createClient(t, env, "--name", "Batch", "--grant-type", "client_credentials")
	addr := strings.TrimPrefix(s.base, "http://")

	// Held requests send Expect: 100-continue; the server answers 100 once the token
	// handler reads the body, so Got100Continue proves the handler is running. The
	// body then waits until the test releases it.
	type heldResult struct {
		status int
		body   tokenResponse
		err    error
	}
	release := make(chan struct{})
	inHandler := make(chan struct{}, held)
	heldDone := make(chan heldResult, held)
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	for range held {
		go func() {
			pr, pw := io.Pipe()
			go func() {
				<-release
				pw.Write([]byte(form))
				pw.Close()
			}()
			trace := &httptrace.ClientTrace{Got100Continue: func() { inHandler <- struct{}{} }}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodPost, s.base+"/oauth2/token", pr)
			if err != nil {
				heldDone <- heldResult{err: err}
				return
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Expect", "100-continue")
			req.SetBasicAuth(url.QueryEscape(svc.ID), url.QueryEscape(svc.Secret))
			hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{ExpectContinueTimeout: time.Minute, DisableKeepAlives: true}}
			resp, err := hc.Do(req)
			if err != nil {
				heldDone <- heldResult{err: err}
				return
			}
			defer resp.Body.Close()
			r := heldResult{status: resp.StatusCode}
			raw, _ := io.ReadAll(resp.Body)
			r.err = json.Unmarshal(raw, &r.body)
			heldDone <- r
		}()
	}
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for range held {
		select {
		case <-inHandler:
		case r := <-heldDone:
			t.Fatalf("a held request ended before the handler read its body: %+v", r)
		case <-deadline.C:
			t.Fatal("held requests did not reach the token handler within 30s")
		}
	}

	// Ordinary load: every request that gets an answer gets 200; the others fail to
	// connect once the listener is closed.
	ctx, stopLoad := context.WithCancel(t.Context())
	defer stopLoad()
	var log loadLog
	var wg sync.WaitGroup
	hc := &http.Client{Timeout: 20 * time.Second}
	for range workers {
		wg.Go(func() {
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for ctx.Err() == nil {
				log.add(timedToken(ctx, hc, s.base, svc, url.Values{"grant_type": {"client_credentials"}}))
				select {
				case <-ctx.Done():
				case <-tick.C:
				}
			}
		})
	}
	// Let the load run a moment, then signal.
	warm := time.NewTimer(300 * time.Millisecond)
	<-warm.C
	signalled := time.Now()
	s.cancel()

	// Draining: /readyz answers 503 and says why, on a listener that still
	// accepts connections.
	readyClient := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	drainSeen := time.NewTimer(5 * time.Second)
	defer drainSeen.Stop()
	for {
		resp, err := readyClient.Get(s.base + "/readyz")
		if err != nil {
			t.Fatalf("GET /readyz after the signal: %v; want 503 while draining, before the listener closes", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			if r := decodeReady(t, body); r.Checks["shutdown"] == "" {
				t.Errorf("/readyz while draining = %s, want checks.shutdown", body)
			}
			break
		}
		select {
		case <-drainSeen.C:
			t.Fatalf("/readyz still %d 5s after the signal, want 503 while draining", resp.StatusCode)
		default:
		}
	}
	drainingAfter := time.Since(signalled)

	// After the drain the listener closes: a new connection is refused while
	// the held requests are still in their handlers.
	refusedBy := time.NewTimer(5 * time.Second)
	defer refusedBy.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if errors.Is(err, syscall.ECONNREFUSED) {
			break
		}
		// Accepted, or reset by a listener that was closing while the kernel queued
		// the connection: try again until the port refuses.
		if err == nil {
			c.Close()
		}
		select {
		case <-refusedBy.C:
			t.Fatalf("new connections still accepted 5s after the drain began")
		case <-tick.C:
		}
	}
	refusedAfter := time.Since(signalled)
	select {
	case code := <-s.done:
		t.Fatalf("serve returned %d while requests were still in flight", code)
	default:
	}
	stopLoad()
	wg.Wait()

	close(release)
	for range held {
		select {
		case r := <-heldDone:
			if r.err != nil || r.status != http.StatusOK || r.body.AccessToken == "" {
				t.Errorf("in-flight request: status %d, body %+v, error %v; want 200 with a token", r.status, r.body, r.err)
			}
		case <-time.After(grace):
			t.Fatalf("in-flight requests did not complete within the grace time")
		}
	}
	var code int
	select {
	case code = <-s.done:
		s.done <- code
	case <-time.After(grace):
		t.Fatalf("serve did not return within the %s grace time\n%s", grace, s.log)
	}
	stopped := time.Since(signalled)
	if code != 0 {
		t.Errorf("serve exit code %d after the signal, want 0", code)
	}
	if stopped > grace {
		t.Errorf("serve returned %s after the signal, want within %s", stopped, grace)
	}

	var answered, refused int
	for _, r := range log.all() {
		switch {
		case r.err == nil && r.status == http.StatusOK:
			answered++
		case r.status != 0:
			t.Errorf("request during shutdown answered %d %q, want 200 or no connection", r.status, r.errCode)
		case errors.Is(r.err, context.Canceled):
		default:
			refused++
		}
	}
	if answered == 0 {
		t.Errorf("no request succeeded under load before the signal")
	}
	t.Logf("graceful shutdown: %d held requests completed with 200; load: %d answered 200, %d not connected; /readyz 503 %s and listener closed %s after the signal (drain %s); run returned 0 after %s (grace %s)",
		held, answered, refused, drainingAfter.Round(time.Millisecond), refusedAfter.Round(time.Millisecond), drain, stopped.Round(time.Millisecond), grace)
}
