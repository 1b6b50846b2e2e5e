package admin

import (
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/federation"
)

// providerList is the body of GET /admin/providers.
type providerList struct {
	Providers []federation.ProviderView `json:"providers"`
}

// ListProviders serves GET /admin/providers: the configuration file's
// providers, then those added here, in the order of the sign-in page.
func (a *API) ListProviders() http.Handler {
	return a.withProviders(func(w http.ResponseWriter, r *http.Request) {
		list, err := a.fed.ListProviders(r.Context())
		if err != nil {
			a.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, providerList{Providers: list})
	})
}

// CreateProvider serves POST /admin/providers: a federation.ProviderSpec in,
// 201 with the provider (its secret never shown). Every instance offers it at
// once where changes can be heard, otherwise within the cache TTL.
func (a *API) CreateProvider() http.Handler {
	return a.withProviders(func(w http.ResponseWriter, r *http.Request) {
		var spec federation.ProviderSpec
		if err := a.decode(w, r, &spec); err != nil {
			a.error(w, r, err)
			return
		}
		v, err := a.fed.AddProvider(r.Context(), spec)
		if err != nil {
			a.error(w, r, err)
			return
		}
		a.log.InfoContext(r.Context(), "admin added upstream provider", "provider", v.ID, "request_id", requestIDOf(r.Context()))
		w.Header().Set("Location", "/admin/providers/"+url.PathEscape(v.ID))
		writeJSON(w, http.StatusCreated, v)
	})
}

// GetProvider serves GET /admin/providers/{id}.
func (a *API) GetProvider() http.Handler {
	return a.withProviders(func(w http.ResponseWriter, r *http.Request) {
		v, err := a.fed.GetProvider(r.Context(), mux.Vars(r)["id"])
		if err != nil {
			a.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// UpdateProvider serves PUT /admin/providers/{id}: the spec replaces every
// field; a client_secret left out keeps the stored one.
func (a *API) UpdateProvider() http.Handler {
	return a.withProviders(func(w http.ResponseWriter, r *http.Request) {
		var spec federation.ProviderSpec
		if err := a.decode(w, r, &spec); err != nil {
			a.error(w, r, err)
			return
		}
		v, err := a.fed.ChangeProvider(r.Context(), mux.Vars(r)["id"], spec)
		if err != nil {
			a.error(w, r, err)
			return
		}
		a.log.InfoContext(r.Context(), "admin changed upstream provider", "provider", v.ID, "request_id", requestIDOf(r.Context()))
		writeJSON(w, http.StatusOK, v)
	})
}

// DeleteProvider serves DELETE /admin/providers/{id}. The external identities
// made through the provider stay: their users cannot sign in through it until
// a provider with this id is added again.
func (a *API) DeleteProvider() http.Handler {
	return a.withProviders(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["id"]
		if err := a.fed.RemoveProvider(r.Context(), id); err != nil {
			a.error(w, r, err)
			return
		}
		a.log.InfoContext(r.Context(), "admin removed upstream provider", "provider", id, "request_id", requestIDOf(r.Context()))
		w.WriteHeader(http.StatusNoContent)
	})
}

// withProviders serves h, or, where the API was built without the federation
// service, the answer that upstream providers are not served here.
func (a *API) withProviders(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.fed == nil {
			a.problem(w, r, problemNotConfigured, "Upstream providers are not served by this admin API.", nil)
			return
		}
		h(w, r)
	})
}
