package openapitest

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

const doc = `{"openapi":"3.1.0","info":{"title":"t","version":"1"},"paths":{"/things/{id}":{"get":{"parameters":[{"name":"id","in":"path","required":true,"schema":{"type":"string"}}],
"responses":{"200":{"description":"ok","content":{"application/json":{"schema":{"type":"object","required":["id","image"],"additionalProperties":false,
"properties":{"id":{"type":"string"},"image":{"type":["string","null"]}}}}}}}}}}}`

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Helper() {}

// TestCheckFindsDrift serves answers that fit the document and answers that
// do not (a missing member, an extra one, a wrong type, an undocumented
// status, an undocumented path) and wants exactly the latter reported.
func TestCheckFindsDrift(t *testing.T) {
	for _, tc := range []struct {
		name, path, body string
		status           int
		ok               bool
	}{
		{"fits", "/things/1", `{"id":"1","image":null}`, 200, true},
		{"fits with a string", "/things/1", `{"id":"1","image":"https://x.example/i.png"}`, 200, true},
		{"missing member", "/things/1", `{"id":"1"}`, 200, false},
		{"extra member", "/things/1", `{"id":"1","image":null,"secret":"x"}`, 200, false},
		{"wrong type", "/things/1", `{"id":1,"image":null}`, 200, false},
		{"undocumented status", "/things/1", `{"code":"X","message":"y"}`, 400, false},
		{"undocumented path", "/other", `{}`, 200, false},
		{"unknown path 404", "/other", `{}`, 404, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{TB: t}
			c := New(rec, []byte(doc))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			client := &http.Client{Transport: c.Transport(nil)}
			res, err := client.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if got := len(rec.errors) == 0; got != tc.ok {
				t.Errorf("reported %q, want ok=%v", rec.errors, tc.ok)
			}
		})
	}
}
