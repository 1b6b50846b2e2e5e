package middleware_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/middleware"
)

// TestCheckInput: what the input check lets through reaches the handler whole
// (the body readable again, as sent), and what it refuses never reaches it.
func TestCheckInput(t *testing.T) {
	for _, tc := range []struct {
		name, method, target, contentType, body string
		want                                    int
	}{
		{"plain GET", "GET", "/x/app?scope=openid+profile&state=%C3%A9t%C3%A9", "", "", http.StatusOK},
		{"form with UTF-8", "POST", "/x/app", "application/x-www-form-urlencoded", "name=J%C3%BCrgen&x=%E2%9C%93", http.StatusOK},
		{"form with a bad escape is left to the handler", "POST", "/x/app", "application/x-www-form-urlencoded", "name=%zz", http.StatusOK},
		{"JSON with escapes", "POST", "/x/app", "application/json", `{"name":"J\u00fcrgen \ud83d\ude00","n":[1,"a"]}`, http.StatusOK},
		{"JSON syntax error is left to the handler", "POST", "/x/app", "application/json", `{"name":`, http.StatusOK},
		{"JSON problem+json with NUL", "POST", "/x/app", "application/merge-patch+json", `{"name":"\u0000"}`, http.StatusBadRequest},
		{"JSON raw NUL", "POST", "/x/app", "application/json", "{\"name\":\"a\x00\"}", http.StatusBadRequest},
		{"JSON NUL in a nested array", "POST", "/x/app", "application/json", `{"a":[{"b":["ok","\u0000"]}]}`, http.StatusBadRequest},
		{"path variable with NUL", "GET", "/x/a%00b", "", "", http.StatusBadRequest},
		{"query NUL in a later value", "GET", "/x/app?a=1&a=2%00", "", "", http.StatusBadRequest},
		{"form NUL in a name", "POST", "/x/app", "application/x-www-form-urlencoded", "a%00=1", http.StatusBadRequest},
		{"empty body", "POST", "/x/app", "application/json", "", http.StatusOK},
		{"too large", "POST", "/x/app", "application/json", `{"name":"` + strings.Repeat("x", 2048) + `"}`, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got string
			reached := false
			r := mux.NewRouter()
			r.HandleFunc("/x/{id}", func(w http.ResponseWriter, r *http.Request) {
				reached = true
				b, err := io.ReadAll(r.Body)
				if err != nil {
					t.Errorf("handler read: %v", err)
				}
				if r.ContentLength != int64(len(b)) && r.ContentLength != 0 {
					t.Errorf("ContentLength %d, body %d bytes", r.ContentLength, len(b))
				}
				got = string(b)
			})
			var refused int
			r.Use(middleware.CheckInput(func(w http.ResponseWriter, r *http.Request, status int, code, description string) {
				refused = status
				middleware.WriteJSONError(w, r, status, code, description)
			}))
			h := middleware.Stack(r, middleware.Options{MaxBodyBytes: 1024})
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req := httptest.NewRequest(tc.method, tc.target, body)
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d (%s), want %d", rec.Code, rec.Body, tc.want)
			}
			if tc.want == http.StatusOK {
				if !reached || got != tc.body {
					t.Errorf("handler reached %v with body %q, want %q", reached, got, tc.body)
				}
				return
			}
			if reached || refused != tc.want {
				t.Errorf("handler reached %v, refusal %d; want the refusal only", reached, refused)
			}
		})
	}
}
