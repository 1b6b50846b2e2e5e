package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/authapi"
	"github.com/gatehouse-id/gatehouse/internal/clientip"
	"github.com/gatehouse-id/gatehouse/internal/middleware"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/internal/web"
)

// ReadinessFunc reports whether the server can serve requests, and the state of each
// check ("database", "schema") in words.
type ReadinessFunc func(ctx context.Context) (ready bool, checks map[string]string)

// Deps are what the server needs. Build them in cmd/gatehouse.
type Deps struct {
	Log   *slog.Logger
	Ready ReadinessFunc
	// OAuth serves the protocol endpoints; nil leaves them out (health-only).
	OAuth *oauth.Handler
	// Pages serves the HTML pages (sign-in, consent, account …); nil leaves
	// them out.
	Pages *web.Pages
	// AuthAPI serves /api/auth (the JSON API for first-party apps); nil leaves
	// it out.
	AuthAPI *authapi.API
	// HTTPS adds Strict-Transport-Security to responses.
	HTTPS bool
	// MaxBodyBytes bounds request bodies; zero means 1 MiB.
	MaxBodyBytes int64
	// Metrics counts every request by route template, method and status, with
	// its latency (a *metrics.Metrics); nil records nothing.
	Metrics RequestObserver
	// TrustedProxies are the reverse proxies whose X-Forwarded-For and
	// Forwarded headers name the client (config server.trusted_proxies); none
	// means the TCP peer is the client.
	TrustedProxies []netip.Prefix
}

// NewServer returns the public HTTP handler: every route, wrapped in the
// middleware stack the admin listener shares (internal/middleware).
func NewServer(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	// The server's own lines carry the request id even when the caller's
	// logger does not add it.
	d.Log = slog.New(LogHandler(d.Log.Handler()))
	r := mux.NewRouter()
	h := &health{ready: d.Ready, log: d.Log}
	s := &surfaces{pages: d.Pages, pageRoutes: map[string]bool{}}
	addRoutes(r, s.page, h, d.OAuth, d.Pages, d.AuthAPI)
	r.Use(middleware.RecordRoute, middleware.CheckInput(s.writeError))
	r.NotFoundHandler = http.HandlerFunc(s.notFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(s.methodNotAllowed)
	return middleware.Stack(r, middleware.Options{
		Log: d.Log, Metrics: d.Metrics, HTTPS: d.HTTPS, MaxBodyBytes: d.MaxBodyBytes, Error: s.writeError,
		ClientIP: clientip.NewResolver(d.TrustedProxies),
	})
}

// surfaces tells which routes are pages, so that a request the middleware
// refuses is answered in its surface's format: the friendly error page for a
// person in a browser, RFC 6749 JSON for a client.
type surfaces struct {
	pages      *web.Pages
	pageRoutes map[string]bool // route templates
}

// page marks route as one a browser shows (routes.go).
func (s *surfaces) page(route *mux.Route) *mux.Route {
	if t, err := route.GetPathTemplate(); err == nil {
		s.pageRoutes[t] = true
	}
	return route
}

// writeError is the public listener's middleware.ErrorWriter.
func (s *surfaces) writeError(w http.ResponseWriter, r *http.Request, status int, code, description string) {
	if strings.HasPrefix(middleware.Route(r.Context()), "/api/auth/") {
		authapi.WriteError(w, r, status, code, description)
		return
	}
	if s.pages != nil && s.pageRoutes[middleware.Route(r.Context())] {
		s.pages.ErrorPage(w, r, status, pageMessage(status))
		return
	}
	middleware.WriteJSONError(w, r, status, code, description)
}

// What the error page says (message keys, internal/i18n) to a browser that
// asked for no page, or in a way the page does not take.
const (
	msgNoPage     = "error.no_page"
	msgNotThisWay = "error.not_this_way"
)

// apiPrefixes are the paths where programs, not people, are answered: an
// unknown path there is JSON whatever the Accept header says.
var apiPrefixes = []string{"/oauth2/", "/api/", "/admin/", "/.well-known/", "/userinfo", "/healthz", "/readyz", "/metrics", "/static/"}

// forPerson reports whether a request that matched no route should get the
// HTML error page: it asks for HTML (a browser navigating), and its path is
// not one where programs are answered.
func (s *surfaces) forPerson(r *http.Request) bool {
	if s.pages == nil || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		return false
	}
	for _, p := range apiPrefixes {
		if strings.HasPrefix(r.URL.Path, p) {
			return false
		}
	}
	return true
}

// notFound answers a path no route serves: the HTML 404 page for a person's
// browser, JSON for programs.
func (s *surfaces) notFound(w http.ResponseWriter, r *http.Request) {
	if s.forPerson(r) {
		s.pages.ErrorPage(w, r, http.StatusNotFound, msgNoPage)
		return
	}
	notFound(w, r)
}

// methodNotAllowed answers a method a route does not take, as notFound
// decides who asks.
func (s *surfaces) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	if s.forPerson(r) {
		s.pages.ErrorPage(w, r, http.StatusMethodNotAllowed, msgNotThisWay)
		return
	}
	methodNotAllowed(w, r)
}

// pageMessage is the message key of what the error page says to a person
// about a refused request.
func pageMessage(status int) string {
	switch {
	case status == http.StatusRequestEntityTooLarge:
		return "error.too_large"
	case status >= 500:
		return "error.server"
	}
	return "error.unreadable"
}
