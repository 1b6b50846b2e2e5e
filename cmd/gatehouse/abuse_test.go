package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeWiresTrustedProxiesAndRateLimits checks that serve hands
// server.trusted_proxies and rate_limits to the server and the identity rules:
// behind the trusted proxy a session records the forwarded client address, and
// a second reset mail to one address within the hour is refused with 429 when
// rate_limits.mail_per_address is 1.
func TestServeWiresTrustedProxiesAndRateLimits(t *testing.T) {
	const token = "an-admin-token-that-is-long-enough-0123"
	env := map[string]string{
		"GATEHOUSE_SERVER_TRUSTED_PROXIES":       "127.0.0.1/32",
		"GATEHOUSE_RATE_LIMITS_MAIL_PER_ADDRESS": "1",
		"GATEHOUSE_ADMIN_TOKENS":                 token,
	}
	s := startServe(t, env, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", s.log)
		}
	})
	waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
	admin := func(method, path string, body any, out any) int {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(t.Context(), method, s.admin+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if out != nil {
			json.NewDecoder(res.Body).Decode(out)
		}
		return res.StatusCode
	}
	var u struct{ ID string }
	const password = "a passphrase for the wiring test"
	if status := admin(http.MethodPost, "/admin/users", map[string]any{"email": "ada@example.com", "password": password, "email_verified": true}, &u); status != http.StatusCreated || u.ID == "" {
		t.Fatalf("create user: %d %+v", status, u)
	}

	b := newWebBrowser(t, s.base)
	b.header = http.Header{"X-Forwarded-For": {"198.51.100.7"}}
	p := b.submit(b.get("/signin"), "sign-in", map[string]string{"email": "ada@example.com", "password": password})
	if p.status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d\n%s", p.status, p.body)
	}
	var sessions struct {
		Sessions []struct{ IP string }
	}
	if status := admin(http.MethodGet, "/admin/users/"+u.ID+"/sessions", nil, &sessions); status != http.StatusOK || len(sessions.Sessions) != 1 || sessions.Sessions[0].IP != "198.51.100.7" {
		t.Errorf("sessions: %d %+v, want one from 198.51.100.7 (the forwarded client)", status, sessions)
	}

	forgot := func() *webPage {
		return b.submit(b.get("/forgot-password"), "forgot", map[string]string{"email": "ada@example.com"})
	}
	if p := forgot(); p.status != http.StatusOK {
		t.Fatalf("first reset request: %d", p.status)
	}
	if p := forgot(); p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" || !strings.Contains(p.body, "Try again in") {
		t.Errorf("second reset request with mail_per_address 1: %d Retry-After %q", p.status, p.header.Get("Retry-After"))
	}
}
