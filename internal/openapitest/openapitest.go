// Package openapitest checks HTTP answers against an OpenAPI document (3.0 or
// 3.1) in tests, with github.com/getkin/kin-openapi: a test suite sends its
// requests through Checker.Transport, and every answer whose route the
// document has is validated (status documented, headers, body against the
// schema), so that the document and the code cannot drift apart. It is for
// _test.go files only.
package openapitest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Checker validates answers against one document.
type Checker struct {
	t      testing.TB
	doc    *openapi3.T
	router routers.Router

	mu      sync.Mutex
	checked map[string]int // "METHOD path-template status" → answers checked
}

// New loads and validates the document, or fails t.
func New(t testing.TB, document []byte) *Checker {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(document)
	if err != nil {
		t.Fatalf("openapitest: load document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapitest: the document is not valid OpenAPI: %v", err)
	}
	// Routes are matched on the path alone, whatever host the test server has.
	doc.Servers = openapi3.Servers{{URL: "/"}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("openapitest: router: %v", err)
	}
	return &Checker{t: t, doc: doc, router: router, checked: map[string]int{}}
}

// Check validates one answer to req (its body already read) and reports a
// mismatch with t.Errorf. An answer to a path the document does not have is
// left alone when it is 404 or 405, and is an error otherwise.
func (c *Checker) Check(req *http.Request, status int, header http.Header, body []byte) {
	c.t.Helper()
	if req.Method == http.MethodOptions || req.Method == http.MethodHead {
		return
	}
	// The router matches on the URL; a relative or proxied one is made plain.
	u := *req.URL
	u.Scheme, u.Host = "", ""
	r2 := req.Clone(context.Background())
	r2.URL = &u
	route, params, err := c.router.FindRoute(r2)
	if err != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return
		}
		c.t.Errorf("openapitest: %s %s answered %d but the document has no such operation: %v", req.Method, req.URL.Path, status, err)
		return
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	ct := header.Get("Content-Type")
	if ct != "" && !strings.Contains(ct, "json") {
		// HTML pages: the status and headers are checked, the body is not JSON.
		opts.ExcludeResponseBody = true
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r2, PathParams: params, Route: route, Options: opts},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		c.t.Errorf("openapitest: %s %s answered %d, which the document does not allow: %v\nbody: %.600s", req.Method, req.URL.Path, status, err, body)
	}
	c.mu.Lock()
	c.checked[req.Method+" "+route.Path+" "+http.StatusText(status)]++
	c.mu.Unlock()
}

// Transport returns a RoundTripper that sends through base (nil:
// http.DefaultTransport) and checks every answer.
func (c *Checker) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper{c: c, base: base}
}

type roundTripper struct {
	c    *Checker
	base http.RoundTripper
}

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := rt.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	rt.c.Check(req, res.StatusCode, res.Header, body)
	return res, nil
}

// Checked returns how many answers were checked, per "METHOD path status".
func (c *Checker) Checked() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.checked))
	for k, v := range c.checked {
		out[k] = v
	}
	return out
}
