package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeAdminListener checks that serve starts the admin listener next to the
// public one: without tokens it answers 503 problems; with one it serves the API,
// and the public listener does not serve the admin routes.
func TestServeAdminListener(t *testing.T) {
	get := func(t *testing.T, url, token string) (int, http.Header, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, b
	}

	t.Run("NoTokens", func(t *testing.T) {
		s := startServe(t, nil, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data-dir", t.TempDir())
		if s.admin == "" || s.admin == s.base {
			t.Fatalf("admin listener = %q (public %q), want its own address\n%s", s.admin, s.base, s.log)
		}
		waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
		status, h, body := get(t, s.admin+"/admin/users", "")
		var p struct {
			Type   string
			Status int
			Detail string
		}
		if status != http.StatusServiceUnavailable || h.Get("Content-Type") != "application/problem+json" || json.Unmarshal(body, &p) != nil || !strings.Contains(p.Detail, "not configured") {
			t.Errorf("GET /admin/users without tokens = %d %q %s, want a 503 problem saying it is not configured", status, h.Get("Content-Type"), body)
		}
		if status, _, _ := get(t, s.admin+"/healthz", ""); status != http.StatusOK {
			t.Errorf("admin /healthz = %d", status)
		}
		if status, _, body := get(t, s.admin+"/openapi.json", ""); status != http.StatusOK || !strings.Contains(string(body), `"openapi"`) {
			t.Errorf("admin /openapi.json = %d", status)
		}
		if status, _, body := get(t, s.admin+"/metrics", ""); status != http.StatusOK || !strings.Contains(string(body), "gatehouse_build_info") {
			t.Errorf("admin /metrics = %d", status)
		}
		if status, _, _ := get(t, s.base+"/admin/users", ""); status != http.StatusNotFound {
			t.Errorf("public /admin/users = %d, want 404", status)
		}
		if code := s.stop(t); code != 0 {
			t.Errorf("serve exit code %d, want 0\n%s", code, s.log)
		}
	})

	t.Run("Token", func(t *testing.T) {
		token := strings.Repeat("k", 40)
		s := startServe(t, map[string]string{"GATEHOUSE_ADMIN_TOKENS": "old-token-" + strings.Repeat("o", 30) + "," + token},
			"--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
		waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
		if status, _, body := get(t, s.admin+"/admin/clients", token); status != http.StatusOK || !strings.Contains(string(body), `"clients"`) {
			t.Errorf("GET /admin/clients with a token = %d %s", status, body)
		}
		if strings.Contains(s.log.String(), token) {
			t.Error("the admin token reached the log")
		}
	})

	t.Run("Off", func(t *testing.T) {
		s := startServe(t, nil, "--addr", "127.0.0.1:0", "--admin-addr", "", "--data-dir", t.TempDir())
		if s.admin != "" {
			t.Errorf("admin listener %q with --admin-addr \"\"", s.admin)
		}
	})
}
