package admin

import (
	"net/http"
	"net/url"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/clients"
)

// clientWithSecret is a client as returned when a secret was just made: the only
// time the secret is shown.
type clientWithSecret struct {
	clients.View
	ClientSecret string `json:"client_secret,omitempty"`
}

// CreateClient serves POST /admin/clients: a clients.Spec in, 201 with the client
// and, for a confidential client, its secret.
func (a *API) CreateClient() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var spec clients.Spec
		if err := a.decode(w, r, &spec); err != nil {
			a.error(w, r, err)
			return
		}
		v, secret, err := a.clients.Create(r.Context(), spec)
		if err != nil {
			a.error(w, r, err)
			return
		}
		a.log.InfoContext(r.Context(), "admin created client", "client_id", v.ClientID, "request_id", requestIDOf(r.Context()))
		w.Header().Set("Location", "/admin/clients/"+url.PathEscape(v.ClientID))
		writeJSON(w, http.StatusCreated, clientWithSecret{v, secret})
	})
}

// ListClients serves GET /admin/clients?limit=&after=: one page in client_id order.
func (a *API) ListClients() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, after, err := paging(r, clients.MaxPageSize)
		if err != nil {
			a.error(w, r, err)
			return
		}
		p, err := a.clients.List(r.Context(), clients.ListOptions{Limit: limit, After: after})
		if err != nil {
			a.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, p)
	})
}

// GetClient serves GET /admin/clients/{id}.
func (a *API) GetClient() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := a.clients.Get(r.Context(), mux.Vars(r)["id"])
		if err != nil {
			a.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// UpdateClient serves PUT /admin/clients/{id}: the Spec replaces every field, with
// the rules and defaults of create. The secret is kept, dropped (the client became
// public) or made and shown once (it stopped being public).
func (a *API) UpdateClient() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var spec clients.Spec
		if err := a.decode(w, r, &spec); err != nil {
			a.error(w, r, err)
			return
		}
		v, secret, err := a.clients.Update(r.Context(), mux.Vars(r)["id"], spec)
		if err != nil {
			a.error(w, r, err)
			return
		}
		a.log.InfoContext(r.Context(), "admin updated client", "client_id", v.ClientID, "request_id", requestIDOf(r.Context()))
		writeJSON(w, http.StatusOK, clientWithSecret{v, secret})
	})
}

// DeleteClient serves DELETE /admin/clients/{id}: the client and every token
// issued to it go.
func (a *API) DeleteClient() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := mux.Vars(r)["id"]
		if err := a.clients.Delete(r.Context(), id); err != nil {
			a.error(w, r, err)
			return
		}
		a.log.InfoContext(r.Context(), "admin deleted client", "client_id", id, "request_id", requestIDOf(r.Context()))
		w.WriteHeader(http.StatusNoContent)
	})
}

// RotateClientSecret serves POST /admin/clients/{id}/secret: a new secret, shown
// once; the old one stops working at once.
func (a *API) RotateClientSecret() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, secret, err := a.clients.RotateSecret(r.Context(), mux.Vars(r)["id"])
		if err != nil {
			a.error(w, r, err)
			return
		}
		a.log.InfoContext(r.Context(), "admin rotated client secret", "client_id", v.ClientID, "request_id", requestIDOf(r.Context()))
		writeJSON(w, http.StatusOK, clientWithSecret{v, secret})
	})
}
