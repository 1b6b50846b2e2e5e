package server

import (
	"net/http"

	"github.com/gorilla/mux"
)

// addRoutes lists every public route, one line each: this file is the whole HTTP
// surface.
func addRoutes(r *mux.Router, h *health) {
	r.Handle("/healthz", h.live()).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", h.readiness()).Methods(http.MethodGet, http.MethodHead)
}
