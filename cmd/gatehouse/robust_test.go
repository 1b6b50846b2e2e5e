package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/bench"
)

// TestAdminLogLinesCarryRequestID: the admin listener uses the public one's
// middleware stack, so every line logged while serving an admin request, the
// services' own lines included, carries its request id, and each request has
// one access line.
func TestAdminLogLinesCarryRequestID(t *testing.T) {
	token := strings.Repeat("r", 40)
	s := startServe(t, map[string]string{"GATEHOUSE_ADMIN_TOKENS": token}, "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
	call := func(method, path, body string, want int) (string, []byte) {
		t.Helper()
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequestWithContext(t.Context(), method, s.admin+path, rd)
		req.Header.Set("Authorization", "Bearer "+token)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != want {
			t.Errorf("%s %s: %d %s, want %d", method, path, res.StatusCode, b, want)
		}
		return res.Header.Get("X-Request-Id"), b
	}
	createID, body := call(http.MethodPost, "/admin/users", `{"email":"ada@example.com"}`, http.StatusCreated)
	var u struct{ ID string }
	if err := json.Unmarshal(body, &u); err != nil || u.ID == "" {
		t.Fatalf("created user %s: %v", body, err)
	}
	disableID, _ := call(http.MethodPost, "/admin/users/"+u.ID+"/disable", "", http.StatusOK)
	deleteID, _ := call(http.MethodDelete, "/admin/users/"+u.ID, "", http.StatusNoContent)
	badID, _ := call(http.MethodGet, "/admin/users?after=%00", "", http.StatusBadRequest)

	type line struct {
		Msg       string `json:"msg"`
		RequestID string `json:"request_id"`
		Path      string `json:"path"`
	}
	var lines []line
	for _, raw := range strings.Split(strings.TrimSpace(s.log.String()), "\n") {
		var l line
		if json.Unmarshal([]byte(raw), &l) == nil {
			lines = append(lines, l)
		}
	}
	want := func(msg, requestID string) {
		t.Helper()
		n := 0
		for _, l := range lines {
			if l.Msg == msg && l.RequestID == requestID {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d %q lines with request_id %s, want 1\n%s", n, msg, requestID, s.log)
		}
	}
	for _, id := range []string{createID, disableID, deleteID, badID} {
		want("request", id) // the access line
	}
	want("user disabled", disableID) // the identity service's own line
	want("user deleted", deleteID)
	for _, l := range lines {
		if strings.HasPrefix(l.Path, "/admin/") && l.RequestID == "" {
			t.Errorf("admin line %q without request_id", l.Msg)
		}
	}
}

// TestBenchCountsUnfinished: against a deployment that answers nothing, every
// operation is still waiting when the run ends. They are counted as
// unfinished, so the run never reports "0 req/s, 0 errors" as if all was well.
func TestBenchCountsUnfinished(t *testing.T) {
	stalled := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stalled:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stalled) })
	args := []string{"bench", "--url", srv.URL, "--scenario", "discovery", "--duration", "300ms", "--warmup", "0s", "--concurrency", "3"}

	res := runCLI(t, nil, append(args, "-o", "json")...)
	if res.code != 0 {
		t.Fatalf("bench exit %d\n%s", res.code, res.stderr)
	}
	var results []bench.Result
	if err := json.Unmarshal([]byte(res.stdout), &results); err != nil || len(results) != 1 {
		t.Fatalf("bench -o json: %v\n%s", err, res.stdout)
	}
	if r := results[0]; r.Requests != 0 || len(r.Errors) != 0 || r.Unfinished != 3 {
		t.Errorf("stalled run: %d requests, errors %v, %d unfinished; want 0, none, 3 (one per worker)", r.Requests, r.Errors, r.Unfinished)
	}

	res = runCLI(t, nil, args...)
	if res.code != 0 {
		t.Fatalf("bench exit %d\n%s", res.code, res.stderr)
	}
	if !strings.Contains(res.stdout, "unfinished") || !strings.Contains(res.stderr, "no operation completed") {
		t.Errorf("table run: stdout\n%s\nstderr\n%s\nwant an unfinished column and a warning that nothing completed", res.stdout, res.stderr)
	}
}

// TestServeLogsMaskConnectionSecrets: serve names its database in its log
// lines, and explains why it gave up on one, without the password or the
// sslpassword (the passphrase of the client key) of the connection string.
func TestServeLogsMaskConnectionSecrets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	const password, keyPassphrase = "pw-Secret-4711", "key-Passphrase-0815"
	env := map[string]string{
		"DATABASE_URL":                       "postgres://app:" + password + "@" + closed + "/gh?sslmode=disable&sslpassword=" + keyPassphrase,
		"GATEHOUSE_SECRETS_SYSTEM":           testSecret,
		"GATEHOUSE_DATABASE_CONNECT_RETRY":   "1s",
		"GATEHOUSE_DATABASE_CONNECT_TIMEOUT": "1s",
	}
	s := startServe(t, env, "--addr", "127.0.0.1:0")
	select {
	case code := <-s.done:
		s.done <- code
		if code != 1 {
			t.Errorf("serve exit %d, want 1", code)
		}
	case <-time.After(time.Minute):
		t.Fatalf("serve did not give up on an unreachable database\n%s", s.log)
	}
	log := s.log.String()
	for _, secret := range []string{password, keyPassphrase} {
		if strings.Contains(log, secret) {
			t.Errorf("the log shows %q:\n%s", secret, log)
		}
	}
	if !strings.Contains(log, "app:xxxxx@") || !strings.Contains(log, "sslpassword=xxxxx") {
		t.Errorf("log\n%s\nwant the URL named, masked", log)
	}
}
