package admin

import (
	"net/http"

	"github.com/gatehouse-id/gatehouse/internal/keys"
)

// ListKeys serves GET /admin/keys: every stored signing key, newest first,
// without its private half.
func (a *API) ListKeys() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infos, err := a.keys.List(r.Context())
		if err != nil {
			a.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Keys []keys.Info `json:"keys"`
		}{infos})
	})
}

// rotateKeysRequest is the body of POST /admin/keys/rotate.
type rotateKeysRequest struct {
	// Alg is RS256, ES256, EdDSA or all (the default: every algorithm the
	// server keeps a key for).
	Alg string `json:"alg"`
}

// RotateKeys serves POST /admin/keys/rotate: a new active key of the algorithm
// (or of each), as `gatehouse keys rotate` makes; retired keys stay published
// until every token they signed has expired.
func (a *API) RotateKeys() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req rotateKeysRequest
		if err := a.decode(w, r, &req); err != nil {
			a.error(w, r, err)
			return
		}
		if req.Alg == "" {
			req.Alg = "all"
		}
		algs, err := a.keys.ParseAlgs(req.Alg)
		if err != nil {
			a.error(w, r, err)
			return
		}
		rotated, err := a.keys.RotateEach(r.Context(), algs)
		if err != nil {
			a.error(w, r, err)
			return
		}
		a.log.InfoContext(r.Context(), "admin rotated signing keys", "algs", algs, "request_id", requestIDOf(r.Context()))
		writeJSON(w, http.StatusOK, struct {
			Rotated []keys.Info `json:"rotated"`
		}{rotated})
	})
}
