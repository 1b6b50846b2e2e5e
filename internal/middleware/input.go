package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// CheckInput is router middleware (mux runs it once a route matched) that
// refuses with 400, through fail, a request whose parameters hold bytes no
// parameter of ours may hold — a NUL byte or invalid UTF-8 in the path (so in
// its variables), the query, a form body, a JSON body's strings or Basic-auth
// credentials — and a body shorter than its Content-Length; a body over the
// stack's bound gets 413. It runs before any handler, so such input never
// reaches the database (PostgreSQL refuses it with SQLSTATE 22021, a server
// error for the client's mistake) or a log line. It reads the body and hands
// the handler a copy.
func CheckInput(fail ErrorWriter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if problem := checkURL(r); problem != "" {
				fail(w, r, http.StatusBadRequest, "invalid_request", problem)
				return
			}
			if problem := checkBasicAuth(r); problem != "" {
				fail(w, r, http.StatusBadRequest, "invalid_request", problem)
				return
			}
			if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
				body, err := io.ReadAll(r.Body)
				r.Body.Close()
				if err != nil {
					var tooLarge *http.MaxBytesError
					if errors.As(err, &tooLarge) {
						fail(w, r, http.StatusRequestEntityTooLarge, "invalid_request", fmt.Sprintf("The request body is larger than %d bytes.", tooLarge.Limit))
						return
					}
					// Most often io.ErrUnexpectedEOF: the client closed the
					// connection before sending Content-Length bytes.
					fail(w, r, http.StatusBadRequest, "invalid_request", "The request body could not be read: it is shorter than its Content-Length.")
					return
				}
				if problem := checkBody(r.Header.Get("Content-Type"), body); problem != "" {
					fail(w, r, http.StatusBadRequest, "invalid_request", problem)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
				r.ContentLength = int64(len(body))
				r.GetBody = nil
			}
			next.ServeHTTP(w, r)
		})
	}
}

// text reports whether s may be a parameter: valid UTF-8 without NUL bytes.
func text(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// checkURL checks the decoded path (where the route's variables come from) and
// every query parameter, name and value.
func checkURL(r *http.Request) string {
	if !text(r.URL.Path) {
		return "The request path holds a NUL byte or invalid UTF-8."
	}
	if r.URL.RawQuery == "" {
		return ""
	}
	// Parameters that do not decode (a bad %-escape) are dropped by every
	// reader of the query, as here.
	q, _ := url.ParseQuery(r.URL.RawQuery)
	if name := badValues(q); name != "" {
		return "The query parameter " + name + " holds a NUL byte or invalid UTF-8."
	}
	return ""
}

// checkBasicAuth checks the user name and password of Basic authentication as
// sent and as RFC 6749 §2.3.1 decodes them (form-urlencoded).
func checkBasicAuth(r *http.Request) string {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return ""
	}
	for _, s := range []string{user, pass} {
		decoded, err := url.QueryUnescape(s)
		if !text(s) || err == nil && !text(decoded) {
			return "The Basic authentication credentials hold a NUL byte or invalid UTF-8."
		}
	}
	return ""
}

// checkBody checks a form body's parameters, a JSON body's strings (names
// included), and any other body as text.
func checkBody(contentType string, body []byte) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/x-www-form-urlencoded":
		form, _ := url.ParseQuery(string(body))
		if name := badValues(form); name != "" {
			return "The form parameter " + name + " holds a NUL byte or invalid UTF-8."
		}
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		// JSON is UTF-8 (RFC 8259 §8.1); Go's decoder would silently turn
		// invalid bytes into U+FFFD.
		if !utf8.Valid(body) {
			return "The JSON body is not valid UTF-8."
		}
		if jsonHasNUL(body) {
			return "A string in the JSON body holds a NUL character."
		}
	default:
		// No endpoint takes binary bodies.
		if !utf8.Valid(body) || bytes.IndexByte(body, 0) >= 0 {
			return "The request body holds a NUL byte or invalid UTF-8."
		}
	}
	return ""
}

// badValues returns the (quoted) name of the first parameter whose name or a
// value is not text, or "".
func badValues(v url.Values) string {
	for name, values := range v {
		if !text(name) {
			return fmt.Sprintf("%q", name)
		}
		for _, value := range values {
			if !text(value) {
				return fmt.Sprintf("%q", name)
			}
		}
	}
	return ""
}

// jsonHasNUL reports whether body holds a NUL byte, or a string (a member name
// or a value) that decodes to one holding U+0000. A body that is not JSON is
// otherwise left to the handler, which names the syntax error.
func jsonHasNUL(body []byte) bool {
	if bytes.IndexByte(body, 0) >= 0 {
		return true
	}
	if !bytes.Contains(body, []byte(`\u0000`)) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && strings.IndexByte(s, 0) >= 0 {
			return true
		}
	}
}
