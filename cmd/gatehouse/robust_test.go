package main

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
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
