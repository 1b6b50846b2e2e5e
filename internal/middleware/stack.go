package middleware

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/clientip"
	"github.com/gatehouse-id/gatehouse/internal/reqlog"
)

// ErrorWriter answers a request the stack refuses (bad input, a body too large,
// a panic) in its listener's error format. code is an RFC 6749 error code
// ("invalid_request", "server_error") and description a sentence the client
// may see.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, status int, code, description string)

// RequestObserver records one served request; *metrics.Metrics is one. route
// is the matched route's template ("/oauth2/token"), or "unmatched".
type RequestObserver interface {
	ObserveRequest(route, method string, status int, elapsed time.Duration)
}

// Options configure Stack.
type Options struct {
	// Log receives the access lines and recovered panics; nil discards them.
	Log *slog.Logger
	// Metrics counts every request; nil records nothing.
	Metrics RequestObserver
	// HTTPS adds Strict-Transport-Security to responses.
	HTTPS bool
	// MaxBodyBytes bounds request bodies; zero means 1 MiB.
	MaxBodyBytes int64
	// Error writes refusals; nil writes RFC 6749 JSON.
	Error ErrorWriter
	// ClientIP resolves each request's client address (clientip.FromRequest);
	// nil takes the TCP peer, trusting no proxy.
	ClientIP *clientip.Resolver
}

// Stack wraps h, a router whose routes use RecordRoute and CheckInput, in the
// middleware every listener shares, outermost first: request id → client
// address → access log (with panics recovered inside it) → security headers →
// body limit.
func Stack(h http.Handler, o Options) http.Handler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	// Lines written here carry the request id even when the caller's
	// logger does not add it.
	o.Log = slog.New(LogHandler(o.Log.Handler()))
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Error == nil {
		o.Error = WriteJSONError
	}
	h = limitBody(o.MaxBodyBytes)(h)
	h = securityHeaders(o.HTTPS)(h)
	// Panics are recovered inside the access log, so that the 500 the client
	// got is logged and counted like any other response.
	h = recoverPanics(o.Log, o.Error)(h)
	h = accessLog(o.Log, o.Metrics)(h)
	h = clientAddress(o.ClientIP)(h)
	return requestID(h)
}

// clientAddress resolves the client's address once per request, from the TCP
// peer and, behind a trusted proxy, its forwarding headers, and puts it in the
// context, so that every per-client rule (sign-in throttling, the address a
// session records, mail rationing) sees the same one: clientip.FromRequest.
func clientAddress(res *clientip.Resolver) func(http.Handler) http.Handler {
	if res == nil {
		res = clientip.NewResolver(nil)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(clientip.NewContext(r.Context(), res.Resolve(r))))
		})
	}
}

type requestIDKey struct{}

// RequestID returns the id of the request being served, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestID accepts a sane X-Request-Id from the caller (a load balancer's) or makes
// one, returns it in the response and puts it in the context.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			var b [12]byte
			rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		w.Header().Set("X-Request-Id", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

// validRequestID keeps log lines clean: at most 64 characters of [A-Za-z0-9._-].
func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// recoverPanics turns a panic into a plain 500 and logs the stack once; the client
// never sees it.
func recoverPanics(log *slog.Logger, fail ErrorWriter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.ErrorContext(r.Context(), "panic serving request",
						"path", r.URL.Path, "panic", slog.AnyValue(v).String(), "stack", string(debug.Stack()))
					fail(w, r, http.StatusInternalServerError, "server_error", "internal error; request id "+RequestID(r.Context()))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// routeUnmatched labels a request no route matched (404, 405).
const routeUnmatched = "unmatched"

type routeKey struct{}

// matchedRoute is filled in by RecordRoute once the router has matched, so that
// the middleware outside the router can name the route.
type matchedRoute struct{ template string }

// RecordRoute is router middleware (mux runs it only for a matched route): it
// notes the route's template, never the raw path, whose values are unbounded,
// for the access line, the metrics and Route.
func RecordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m, ok := r.Context().Value(routeKey{}).(*matchedRoute); ok {
			if route := mux.CurrentRoute(r); route != nil {
				if t, err := route.GetPathTemplate(); err == nil {
					m.template = t
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Route returns the template of the route serving the request ("/signin"), or
// "unmatched" before a route matched or when none did.
func Route(ctx context.Context) string {
	if m, ok := ctx.Value(routeKey{}).(*matchedRoute); ok {
		return m.template
	}
	return routeUnmatched
}

// accessLog logs one line per request and reports it to the observer (nil: none).
// It logs the path only, never the query string, which may carry codes, tokens
// or state.
func accessLog(log *slog.Logger, obs RequestObserver) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			route := &matchedRoute{template: routeUnmatched}
			ctx, note := reqlog.Start(context.WithValue(r.Context(), routeKey{}, route))
			r = r.WithContext(ctx)
			next.ServeHTTP(rec, r)
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			elapsed := time.Since(start)
			if obs != nil {
				obs.ObserveRequest(route.template, r.Method, rec.status, elapsed)
			}
			attrs := append(make([]slog.Attr, 0, 8),
				slog.String("method", r.Method), slog.String("route", route.template),
				slog.String("path", r.URL.Path), slog.Int("status", rec.status), slog.Int("bytes", rec.bytes),
				slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000))
			attrs = append(attrs, note.Attrs()...)
			log.LogAttrs(r.Context(), accessLogLevel(rec.status), "request", attrs...)
		})
	}
}

// accessLogLevel is the level of a request's line: a server failure is an
// error, an outage (503) a warning, the rest information.
func accessLogLevel(status int) slog.Level {
	switch {
	case status == http.StatusServiceUnavailable:
		return slog.LevelWarn
	case status >= 500:
		return slog.LevelError
	}
	return slog.LevelInfo
}

// securityHeaders sets the headers every response carries. The values are
// built once and shared (read-only) by every response, rather than allocated
// per request by Header.Set.
func securityHeaders(https bool) func(http.Handler) http.Handler {
	set := http.Header{
		"X-Content-Type-Options":  {"nosniff"},
		"Referrer-Policy":         {"no-referrer"},
		"X-Frame-Options":         {"DENY"},
		"Content-Security-Policy": {"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"},
	}
	if https {
		set["Strict-Transport-Security"] = []string{"max-age=31536000; includeSubDomains"}
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			for k, v := range set {
				h[k] = v[:1:1] // full slice: an Add elsewhere copies instead of sharing
			}
			next.ServeHTTP(w, r)
		})
	}
}

// limitBody bounds request bodies so an oversized request fails instead of
// eating memory; CheckInput, which reads them, answers 413.
func limitBody(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r)
		})
	}
}

// WriteJSONError writes an RFC 6749 §5.2 error object, not to be cached.
func WriteJSONError(w http.ResponseWriter, _ *http.Request, status int, code, description string) {
	WriteJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// WriteJSON writes v as JSON with status; nothing it answers may be cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":"server_error"}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// LogHandler wraps h so that every record logged with a request's context (the
// *Context methods of slog.Logger) carries that request's id as "request_id".
// cmd/gatehouse wraps the handler of the one logger it hands to every package;
// a record that names request_id itself is left as it is.
func LogHandler(h slog.Handler) slog.Handler {
	if _, ok := h.(requestIDHandler); ok {
		return h
	}
	return requestIDHandler{h}
}

// requestIDHandler is the slog.Handler LogHandler returns.
type requestIDHandler struct{ slog.Handler }

// Handle adds request_id from ctx, unless the record has one already.
func (h requestIDHandler) Handle(ctx context.Context, rec slog.Record) error {
	if id := RequestID(ctx); id != "" {
		has := false
		rec.Attrs(func(a slog.Attr) bool {
			has = a.Key == "request_id"
			return !has
		})
		if !has {
			rec = rec.Clone()
			rec.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.Handler.Handle(ctx, rec)
}

// WithAttrs keeps the wrapper around the derived handler.
func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the wrapper around the derived handler.
func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
