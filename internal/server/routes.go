package server

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/oauth"
)

// addRoutes lists every public route, one line each: this file is the whole HTTP
// surface.
func addRoutes(r *mux.Router, h *health, o *oauth.Handler) {
	r.Handle("/healthz", h.live()).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", h.readiness()).Methods(http.MethodGet, http.MethodHead)
	if o == nil {
		return
	}
	r.Handle("/.well-known/openid-configuration", o.Discovery()).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/.well-known/jwks.json", o.JWKS()).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/oauth2/authorize", o.Authorize()).Methods(http.MethodGet, http.MethodPost)
	r.Handle("/oauth2/token", o.Token()).Methods(http.MethodPost)
	r.Handle("/oauth2/par", o.PushedAuthorize()).Methods(http.MethodPost)
	r.Handle("/oauth2/introspect", o.Introspect()).Methods(http.MethodPost)
	r.Handle("/oauth2/revoke", o.Revoke()).Methods(http.MethodPost)
	r.Handle("/oauth2/logout", o.Logout()).Methods(http.MethodGet, http.MethodPost)
	r.Handle("/userinfo", o.UserInfo()).Methods(http.MethodGet, http.MethodPost)
}
