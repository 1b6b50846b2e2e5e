package admin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/clients"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/keys"
)

// openAPI is the OpenAPI 3 document of this API, kept next to the handlers so a
// change to one shows in the review of the other; TestOpenAPIMatchesRoutes keeps
// them in step.
//
//go:embed openapi.json
var openAPI []byte

// Deps are what the admin API needs. Build them in cmd/gatehouse.
type Deps struct {
	Clients *clients.Service
	Users   *identity.Service
	Keys    *keys.Manager
	// Tokens are the accepted bearer tokens; none makes every /admin route
	// answer 503.
	Tokens []string
	// Metrics serves GET /metrics (Prometheus); nil leaves the route out.
	Metrics http.Handler
	// Log receives one line per request and every server error; nil discards.
	Log *slog.Logger
	// MaxBodyBytes bounds request bodies; zero means 1 MiB.
	MaxBodyBytes int64
}

// API is the admin HTTP handler. Build it with New; the zero value is unusable.
type API struct {
	clients *clients.Service
	users   *identity.Service
	keys    *keys.Manager
	metrics http.Handler
	log     *slog.Logger
	maxBody int64
	// tokens holds the SHA-256 of each admin token: comparing digests makes every
	// comparison the same length, so its time says nothing about a token.
	tokens  [][sha256.Size]byte
	handler http.Handler
	router  *mux.Router
}

// New returns the admin API: every route of routes.go behind its middleware.
func New(d Deps) *API {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	a := &API{
		clients: d.Clients, users: d.Users, keys: d.Keys, metrics: d.Metrics,
		log: d.Log, maxBody: d.MaxBodyBytes,
	}
	for _, t := range d.Tokens {
		a.tokens = append(a.tokens, sha256.Sum256([]byte(t)))
	}
	r := mux.NewRouter()
	a.routes(r)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.problem(w, r, problemNotFound, "No such resource.", nil)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.problem(w, r, problemMethod, "This resource does not accept "+r.Method+".", nil)
	})
	a.router = r
	var h http.Handler = r
	h = a.accessLog(h)
	h = a.recoverPanics(h)
	h = requestID(h)
	a.handler = h
	return a
}

// ServeHTTP serves the admin API.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(w, r) }

// authenticate lets a request through only with a configured admin token.
func (a *API) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(a.tokens) == 0 {
			a.problem(w, r, problemNotConfigured, "The admin API is not configured: set at least one admin token (admin.tokens, GATEHOUSE_ADMIN_TOKENS).", nil)
			return
		}
		scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		token = strings.TrimSpace(token)
		if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
			a.problem(w, r, problemUnauthorized, "Send an admin token as \"Authorization: Bearer <token>\".", nil)
			return
		}
		sum := sha256.Sum256([]byte(token))
		match := 0
		for _, t := range a.tokens { // every token, no early exit
			match |= subtle.ConstantTimeCompare(sum[:], t[:])
		}
		if match != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse-admin", error="invalid_token"`)
			a.problem(w, r, problemUnauthorized, "The admin token is not valid.", nil)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// healthz answers 200 while the process runs.
func (a *API) healthz() http.Handler {
	body := []byte(`{"status":"ok"}` + "\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(body)
	})
}

// openAPIDocument serves GET /openapi.json.
func (a *API) openAPIDocument() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(openAPI)
	})
}

type requestIDKey struct{}

func requestIDOf(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// requestID accepts a sane X-Request-Id from the caller or makes one, returns it
// and puts it in the context, as the public server does.
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

type statusRecorder struct {
	http.ResponseWriter
	status int
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
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// accessLog logs one line per request: the path, never the query or headers.
func (a *API) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		a.log.InfoContext(r.Context(), "admin request", "request_id", requestIDOf(r.Context()), "method", r.Method,
			"path", r.URL.Path, "status", rec.status, "duration_ms", float64(time.Since(start).Microseconds())/1000)
	})
}

// recoverPanics turns a panic into a 500 problem and logs the stack once.
func (a *API) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.ErrorContext(r.Context(), "panic serving admin request", "request_id", requestIDOf(r.Context()),
					"path", r.URL.Path, "panic", slog.AnyValue(v).String(), "stack", string(debug.Stack()))
				a.problem(w, r, problemInternal, "", nil)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
