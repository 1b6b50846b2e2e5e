package admin

import (
	"net/http"

	"github.com/gatehouse-id/gatehouse/internal/branding"
)

// GetBranding serves GET /admin/branding: the branding in force and what the
// admin API set of it.
func (a *API) GetBranding() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.branding == nil {
			a.brandingOff(w, r)
			return
		}
		v, err := a.branding.Get(r.Context())
		if err != nil {
			a.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// SetBranding serves PUT /admin/branding: the body replaces every override
// (members left out fall back to the configuration).
func (a *API) SetBranding() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.branding == nil {
			a.brandingOff(w, r)
			return
		}
		var set branding.Settings
		if err := a.decode(w, r, &set); err != nil {
			a.error(w, r, err)
			return
		}
		v, err := a.branding.Set(r.Context(), set)
		if err != nil {
			a.error(w, r, err)
			return
		}
		a.log.InfoContext(r.Context(), "admin changed branding", "request_id", requestIDOf(r.Context()))
		writeJSON(w, http.StatusOK, v)
	})
}

// ResetBranding serves DELETE /admin/branding: every override goes, and the
// configuration's branding applies again.
func (a *API) ResetBranding() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.branding == nil {
			a.brandingOff(w, r)
			return
		}
		v, err := a.branding.Reset(r.Context())
		if err != nil {
			a.error(w, r, err)
			return
		}
		a.log.InfoContext(r.Context(), "admin reset branding", "request_id", requestIDOf(r.Context()))
		writeJSON(w, http.StatusOK, v)
	})
}

// brandingOff answers when the API was built without a branding service.
func (a *API) brandingOff(w http.ResponseWriter, r *http.Request) {
	a.problem(w, r, problemNotConfigured, "Branding is not served by this admin API.", nil)
}
