package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/netip"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/clientip"
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

// NewServer returns the public HTTP handler: every route, wrapped in middleware.
func NewServer(d Deps) http.Handler {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	// The server's own lines carry the request id even when the caller's
	// logger does not add it.
	d.Log = slog.New(LogHandler(d.Log.Handler()))
	if d.MaxBodyBytes <= 0 {
		d.MaxBodyBytes = 1 << 20
	}
	r := mux.NewRouter()
	h := &health{ready: d.Ready, log: d.Log}
	addRoutes(r, h, d.OAuth, d.Pages)
	r.Use(recordRoute)
	r.NotFoundHandler = http.HandlerFunc(notFound)
	r.MethodNotAllowedHandler = http.HandlerFunc(methodNotAllowed)

	var handler http.Handler = r
	handler = limitBody(d.MaxBodyBytes)(handler)
	handler = securityHeaders(d.HTTPS)(handler)
	// Panics are recovered inside the access log, so that the 500 the client
	// got is logged and counted like any other response.
	handler = recoverPanics(d.Log)(handler)
	handler = accessLog(d.Log, d.Metrics)(handler)
	handler = clientAddress(clientip.NewResolver(d.TrustedProxies))(handler)
	handler = requestID(handler)
	return handler
}
