package admin

import (
	"net/http"

	"github.com/gorilla/mux"
)

// routes lists every admin-listener route, one line each: this function is the
// whole admin HTTP surface, and openapi.json describes exactly these.
func (a *API) routes(r *mux.Router) {
	auth := a.authenticate
	r.Handle("/healthz", a.healthz()).Methods(http.MethodGet)
	r.Handle("/openapi.json", a.openAPIDocument()).Methods(http.MethodGet)
	if a.metrics != nil {
		r.Handle("/metrics", a.metrics).Methods(http.MethodGet)
	}

	r.Handle("/admin/clients", auth(a.CreateClient())).Methods(http.MethodPost)
	r.Handle("/admin/clients", auth(a.ListClients())).Methods(http.MethodGet)
	r.Handle("/admin/clients/{id}", auth(a.GetClient())).Methods(http.MethodGet)
	r.Handle("/admin/clients/{id}", auth(a.UpdateClient())).Methods(http.MethodPut)
	r.Handle("/admin/clients/{id}", auth(a.DeleteClient())).Methods(http.MethodDelete)
	r.Handle("/admin/clients/{id}/secret", auth(a.RotateClientSecret())).Methods(http.MethodPost)

	r.Handle("/admin/users", auth(a.CreateUser())).Methods(http.MethodPost)
	r.Handle("/admin/users", auth(a.ListUsers())).Methods(http.MethodGet)
	r.Handle("/admin/users/{id}", auth(a.GetUser())).Methods(http.MethodGet)
	r.Handle("/admin/users/{id}", auth(a.UpdateUser())).Methods(http.MethodPatch)
	r.Handle("/admin/users/{id}", auth(a.DeleteUser())).Methods(http.MethodDelete)
	r.Handle("/admin/users/{id}/disable", auth(a.SetDisabled(true))).Methods(http.MethodPost)
	r.Handle("/admin/users/{id}/enable", auth(a.SetDisabled(false))).Methods(http.MethodPost)
	r.Handle("/admin/users/{id}/password", auth(a.SetPassword())).Methods(http.MethodPut)
	r.Handle("/admin/users/{id}/sessions", auth(a.ListSessions())).Methods(http.MethodGet)
	r.Handle("/admin/users/{id}/sessions", auth(a.EndSessions())).Methods(http.MethodDelete)
	r.Handle("/admin/users/{id}/factors", auth(a.ResetFactors())).Methods(http.MethodDelete)
	r.Handle("/admin/users/{id}/sessions/{sid}", auth(a.EndSession())).Methods(http.MethodDelete)
	r.Handle("/admin/users/{id}/accounts", auth(a.ListAccounts())).Methods(http.MethodGet)
	r.Handle("/admin/users/{id}/accounts/{client_id}", auth(a.RevokeAccount())).Methods(http.MethodDelete)
	r.Handle("/admin/users/{id}/identities", auth(a.ListIdentities())).Methods(http.MethodGet)
	r.Handle("/admin/users/{id}/identities/{identity_id}", auth(a.DeleteIdentity())).Methods(http.MethodDelete)
	r.Handle("/admin/imported-users/{source}/{external_id}", auth(a.GetImportedUser())).Methods(http.MethodGet)

	r.Handle("/admin/keys", auth(a.ListKeys())).Methods(http.MethodGet)
	r.Handle("/admin/keys/rotate", auth(a.RotateKeys())).Methods(http.MethodPost)

	r.Handle("/admin/branding", auth(a.GetBranding())).Methods(http.MethodGet)
	r.Handle("/admin/branding", auth(a.SetBranding())).Methods(http.MethodPut)
	r.Handle("/admin/branding", auth(a.ResetBranding())).Methods(http.MethodDelete)

	r.Handle("/admin/providers", auth(a.ListProviders())).Methods(http.MethodGet)
	r.Handle("/admin/providers", auth(a.CreateProvider())).Methods(http.MethodPost)
	r.Handle("/admin/providers/{id}", auth(a.GetProvider())).Methods(http.MethodGet)
	r.Handle("/admin/providers/{id}", auth(a.UpdateProvider())).Methods(http.MethodPut)
	r.Handle("/admin/providers/{id}", auth(a.DeleteProvider())).Methods(http.MethodDelete)
}
