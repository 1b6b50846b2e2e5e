package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/branding"
	"github.com/gatehouse-id/gatehouse/internal/clients"
	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/internal/middleware"
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
	// Branding serves /admin/branding.
	Branding *branding.Service
	// MFA resets users' second factors (DELETE /admin/users/{id}/factors);
	// nil answers that route 503.
	MFA *mfa.Service
	// Federation serves /admin/providers; nil answers those routes 503.
	Federation *federation.Service
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
	clients  *clients.Service
	users    *identity.Service
	keys     *keys.Manager
	branding *branding.Service
	mfa      *mfa.Service
	fed      *federation.Service
	metrics  http.Handler
	log      *slog.Logger
	maxBody  int64
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
		clients: d.Clients, users: d.Users, keys: d.Keys, branding: d.Branding, mfa: d.MFA, fed: d.Federation, metrics: d.Metrics,
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
	r.Use(middleware.RecordRoute, middleware.CheckInput(a.refuse))
	a.router = r
	// The public listener's stack: request id, recovery, the access line,
	// security headers and the body limit.
	a.handler = middleware.Stack(r, middleware.Options{Log: a.log, MaxBodyBytes: a.maxBody, Error: a.refuse})
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

// requestIDOf returns the id the middleware gave the request.
func requestIDOf(ctx context.Context) string { return middleware.RequestID(ctx) }

// refuse is the admin listener's middleware.ErrorWriter: a problem of the kind
// the status names.
func (a *API) refuse(w http.ResponseWriter, r *http.Request, status int, _, description string) {
	k := problemInternal
	switch status {
	case http.StatusBadRequest:
		k = problemInvalidRequest
	case http.StatusRequestEntityTooLarge:
		k = problemTooLarge
	}
	if status < 500 {
		a.problem(w, r, k, description, nil)
		return
	}
	a.problem(w, r, k, "The request failed; the log has the details under its request id.", nil)
}
