package server_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/metrics"
	"github.com/gatehouse-id/gatehouse/internal/server"
)

// TestRequestIDAndRouteLabels: the request id is taken from a sane X-Request-Id
// or made, returned, and on the request's log line; metrics name the route
// template, and "unmatched" for a path no route serves, whatever the path was.
func TestRequestIDAndRouteLabels(t *testing.T) {
	logs := &syncBuffer{}
	m := metrics.New(metrics.Options{})
	srv := httptest.NewServer(server.NewServer(server.Deps{
		Log:     slog.New(slog.NewJSONHandler(logs, nil)),
		Metrics: m,
	}))
	t.Cleanup(srv.Close)
	generated := regexp.MustCompile(`^[0-9a-f]{24}$`)

	for _, tc := range []struct {
		name, method, path, requestID string
		wantStatus                    int
		wantRoute                     string
		keepID                        bool
	}{
		{"caller id kept", http.MethodGet, "/healthz", "lb-7f3a.1_x", http.StatusOK, "/healthz", true},
		{"no id", http.MethodGet, "/healthz", "", http.StatusOK, "/healthz", false},
		{"unsafe id replaced", http.MethodGet, "/healthz", "bad id\"}", http.StatusOK, "/healthz", false},
		{"long id replaced", http.MethodGet, "/healthz", strings.Repeat("a", 65), http.StatusOK, "/healthz", false},
		{"unknown path", http.MethodGet, "/users/12345/secret-looking-path", "", http.StatusNotFound, "unmatched", false},
		{"wrong method", http.MethodDelete, "/healthz", "", http.StatusMethodNotAllowed, "unmatched", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := strings.Count(logs.String(), "\n")
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if tc.requestID != "" {
				req.Header.Set("X-Request-Id", tc.requestID)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tc.method, tc.path, err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.wantStatus)
			}
			id := resp.Header.Get("X-Request-Id")
			if tc.keepID && id != tc.requestID || !tc.keepID && !generated.MatchString(id) {
				t.Errorf("X-Request-Id = %q (sent %q)", id, tc.requestID)
			}
			lines := strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")[before:]
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want the access line:\n%s", len(lines), strings.Join(lines, "\n"))
			}
			var line struct {
				Msg       string `json:"msg"`
				RequestID string `json:"request_id"`
				Route     string `json:"route"`
			}
			if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
				t.Fatalf("log line %q: %v", lines[0], err)
			}
			if line.Msg != "request" || line.RequestID != id || line.Route != tc.wantRoute {
				t.Errorf("log line %s: want msg request, request_id %q, route %q", lines[0], id, tc.wantRoute)
			}
		})
	}

	families, err := m.Gatherer().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	counts := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "gatehouse_http_requests_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			var labels []string
			for _, l := range s.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			counts[strings.Join(labels, ",")] += s.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"method=GET,route=/healthz,status=200":     4,
		"method=GET,route=unmatched,status=404":    1,
		"method=DELETE,route=unmatched,status=405": 1,
	}
	for k, v := range want {
		if counts[k] != v {
			t.Errorf("gatehouse_http_requests_total{%s} = %v, want %v", k, counts[k], v)
		}
	}
	if len(counts) != len(want) {
		t.Errorf("series %v, want exactly %v", counts, want)
	}
}
