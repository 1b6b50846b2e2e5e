package admin

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
)

// createUserRequest is the body of POST /admin/users.
type createUserRequest struct {
	Email string `json:"email"`
	// Password is optional: without one the user signs in only after a password
	// is set for them or they reset it by mail.
	Password      string `json:"password"`
	Name          string `json:"name"`
	EmailVerified bool   `json:"email_verified"`
}

// CreateUser serves POST /admin/users: 201 with the user. No mail is sent.
func (a *API) CreateUser() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req createUserRequest
		if err := a.decode(w, r, &req); err != nil {
			a.error(w, r, err)
			return
		}
		if strings.TrimSpace(req.Email) == "" {
			a.error(w, r, invalid("A required field is missing.", FieldError{Field: "email", Message: "required"}))
			return
		}
		u, err := a.users.CreateUser(r.Context(), identity.SignUpInput{Email: req.Email, Password: req.Password, Name: req.Name}, req.EmailVerified)
		if err != nil {
			a.error(w, r, err)
			return
		}
		a.log.InfoContext(r.Context(), "admin created user", "user_id", u.ID, "request_id", requestIDOf(r.Context()))
		w.Header().Set("Location", "/admin/users/"+url.PathEscape(u.ID))
		writeJSON(w, http.StatusCreated, identity.ViewOf(u))
	})
}

// userPage is one page of users; Next, when set, is the after of the next page.
type userPage struct {
	Users []identity.View `json:"users"`
	Next  string          `json:"next,omitempty"`
}

// ListUsers serves GET /admin/users?email_prefix=&limit=&after=: one page in
// e-mail order.
func (a *API) ListUsers() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, after, err := paging(r, identity.MaxPageSize)
		if err != nil {
			a.error(w, r, err)
			return
		}
		p, err := a.users.ListUsers(r.Context(), identity.ListOptions{
			EmailPrefix: r.URL.Query().Get("email_prefix"), After: after, Limit: limit,
		})
		if err != nil {
			a.error(w, r, err)
			return
		}
		out := userPage{Users: make([]identity.View, 0, len(p.Users)), Next: p.Next}
		for _, u := range p.Users {
			out.Users = append(out.Users, identity.ViewOf(u))
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// GetUser serves GET /admin/users/{id}.
func (a *API) GetUser() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := a.users.GetUser(r.Context(), mux.Vars(r)["id"])
		if err != nil {
			a.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, identity.ViewOf(u))
	})
}

// updateUserRequest is the body of PATCH /admin/users/{id}: members present are
// changed, members absent (or null) keep their values.
type updateUserRequest struct {
	Name          *string `json:"name"`
	GivenName     *string `json:"given_name"`
	FamilyName    *string `json:"family_name"`
	Picture       *string `json:"picture"`
	Locale        *string `json:"locale"`
	Email         *string `json:"email"`
	EmailVerified *bool   `json:"email_verified"`
}

// UpdateUser serves PATCH /admin/users/{id}. A new e-mail address is unverified
// unless email_verified is true in the same request.
func (a *API) UpdateUser() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req updateUserRequest
		if err := a.decode(w, r, &req); err != nil {
			a.error(w, r, err)
			return
		}
		ch := identity.UserChanges(req)
		if ch.Empty() {
			a.error(w, r, invalid("Nothing to change: name at least one field."))
			return
		}
		u, err := a.users.UpdateUser(r.Context(), mux.Vars(r)["id"], ch)
		if err != nil {
			a.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, identity.ViewOf(u))
	})
}

// DeleteUser serves DELETE /admin/users/{id}: the user, their sessions and
// application links go, and their tokens are revoked.
func (a *API) DeleteUser() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := a.users.DeleteUser(r.Context(), mux.Vars(r)["id"]); err != nil {
			a.error(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// revokedTokens counts what a revocation did.
type revokedTokens struct {
	RefreshTokens      int64 `json:"refresh_tokens"`
	AccessTokens       int64 `json:"access_tokens"`
	AuthorizationCodes int64 `json:"authorization_codes"`
}

// disabledUser is the answer of disable and enable.
type disabledUser struct {
	User          identity.View `json:"user"`
	SessionsEnded int64         `json:"sessions_ended"`
	TokensRevoked revokedTokens `json:"tokens_revoked"`
}

// SetDisabled serves POST /admin/users/{id}/disable (disable true) and
// /enable. Disabling ends the user's sessions and revokes their tokens in the
// same transaction.
func (a *API) SetDisabled(disable bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := a.users.SetDisabled(r.Context(), mux.Vars(r)["id"], disable)
		if err != nil {
			a.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, disabledUser{
			User: identity.ViewOf(d.User), SessionsEnded: d.Sessions,
			TokensRevoked: revokedTokens(d.Revoked),
		})
	})
}

// setPasswordRequest is the body of PUT /admin/users/{id}/password.
type setPasswordRequest struct {
	Password string `json:"password"`
}

// SetPassword serves PUT /admin/users/{id}/password: the password policy of
// sign-up applies, and any sign-in lock of the account is lifted.
func (a *API) SetPassword() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req setPasswordRequest
		if err := a.decode(w, r, &req); err != nil {
			a.error(w, r, err)
			return
		}
		if err := a.users.SetPassword(r.Context(), mux.Vars(r)["id"], req.Password); err != nil {
			a.error(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// sessionView is a browser session as the admin API shows it: never its token
// hash.
type sessionView struct {
	ID            string    `json:"id"`
	AuthTime      time.Time `json:"auth_time"`
	AMR           []string  `json:"amr"`
	LastSeenAt    time.Time `json:"last_seen_at"`
	IdleExpiresAt time.Time `json:"idle_expires_at"`
	ExpiresAt     time.Time `json:"expires_at"`
	IP            string    `json:"ip,omitempty"`
	UserAgent     string    `json:"user_agent,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// ListSessions serves GET /admin/users/{id}/sessions: the unexpired sessions,
// newest first.
func (a *API) ListSessions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss, err := a.users.ListSessions(r.Context(), mux.Vars(r)["id"])
		if err != nil {
			a.error(w, r, err)
			return
		}
		out := make([]sessionView, 0, len(ss))
		for _, s := range ss {
			out = append(out, sessionView{
				ID: s.ID, AuthTime: s.AuthTime.UTC(), AMR: strings.Fields(s.AMR), LastSeenAt: s.LastSeenAt.UTC(),
				IdleExpiresAt: s.IdleExpiresAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(), IP: s.IP, UserAgent: s.UserAgent,
				CreatedAt: s.CreatedAt.UTC(),
			})
		}
		writeJSON(w, http.StatusOK, struct {
			Sessions []sessionView `json:"sessions"`
		}{out})
	})
}

// EndSessions serves DELETE /admin/users/{id}/sessions: every session ends.
func (a *API) EndSessions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.users.EndSessions(r.Context(), mux.Vars(r)["id"]); err != nil {
			a.error(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// EndSession serves DELETE /admin/users/{id}/sessions/{sid}.
func (a *API) EndSession() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := mux.Vars(r)
		if err := a.users.EndSession(r.Context(), v["id"], v["sid"]); err != nil {
			a.error(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// accountView is a connected application of a user.
type accountView struct {
	ClientID          string    `json:"client_id"`
	GrantedScopes     string    `json:"granted_scopes"`
	ConsentRemembered bool      `json:"consent_remembered"`
	FirstAuthorizedAt time.Time `json:"first_authorized_at"`
	LastAuthorizedAt  time.Time `json:"last_authorized_at"`
}

func viewAccount(acc storage.Account) accountView {
	return accountView{
		ClientID: acc.ClientID, GrantedScopes: acc.GrantedScopes, ConsentRemembered: acc.ConsentRemembered,
		FirstAuthorizedAt: acc.FirstAuthorizedAt.UTC(), LastAuthorizedAt: acc.LastAuthorizedAt.UTC(),
	}
}

// ListAccounts serves GET /admin/users/{id}/accounts: the applications the user
// is connected to, most recently used first.
func (a *API) ListAccounts() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		as, err := a.users.ListAccounts(r.Context(), mux.Vars(r)["id"])
		if err != nil {
			a.error(w, r, err)
			return
		}
		out := make([]accountView, 0, len(as))
		for _, acc := range as {
			out = append(out, viewAccount(acc))
		}
		writeJSON(w, http.StatusOK, struct {
			Accounts []accountView `json:"accounts"`
		}{out})
	})
}

// RevokeAccount serves DELETE /admin/users/{id}/accounts/{client_id}: the link is
// revoked and every token the client holds for the user with it, in one
// transaction.
func (a *API) RevokeAccount() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := mux.Vars(r)
		if _, err := a.users.RevokeAccount(r.Context(), v["id"], v["client_id"]); err != nil {
			a.error(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// importedUser is the body of GET /admin/imported-users/{source}/{external_id}.
type importedUser struct {
	Source     string    `json:"source"`
	ExternalID string    `json:"external_id"`
	UserID     string    `json:"user_id"`
	ImportedAt time.Time `json:"imported_at"`
}

// GetImportedUser serves GET /admin/imported-users/{source}/{external_id}: the
// Gatehouse user an imported user's old id maps to (gatehouse import), read-only.
func (a *API) GetImportedUser() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := mux.Vars(r)
		m, err := a.users.LookupImportedUser(r.Context(), v["source"], v["external_id"])
		if err != nil {
			a.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, importedUser{Source: m.Source, ExternalID: m.ExternalID, UserID: m.UserID, ImportedAt: m.CreatedAt.UTC()})
	})
}

// identityView is an account at an upstream identity provider linked to a
// user (never its tokens).
type identityView struct {
	ID           string     `json:"id"`
	Provider     string     `json:"provider"`
	AccountID    string     `json:"account_id"`
	Email        string     `json:"email"`
	Source       string     `json:"source"`
	LastSignInAt *time.Time `json:"last_sign_in_at"`
	CreatedAt    time.Time  `json:"created_at"`
}

// ListIdentities serves GET /admin/users/{id}/identities: the user's linked
// upstream accounts (sign-in with other providers, and those an import kept).
func (a *API) ListIdentities() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		list, err := a.users.ListExternalIdentities(r.Context(), mux.Vars(r)["id"])
		if err != nil {
			a.error(w, r, err)
			return
		}
		out := make([]identityView, 0, len(list))
		for _, e := range list {
			out = append(out, identityView{ID: e.ID, Provider: e.Provider, AccountID: e.AccountID, Email: e.Email, Source: e.Source,
				LastSignInAt: e.LastSignInAt, CreatedAt: e.CreatedAt.UTC()})
		}
		writeJSON(w, http.StatusOK, struct {
			Identities []identityView `json:"identities"`
		}{out})
	})
}

// DeleteIdentity serves DELETE /admin/users/{id}/identities/{identity_id}:
// the upstream account is unlinked from the user.
func (a *API) DeleteIdentity() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := mux.Vars(r)
		if err := a.users.DeleteExternalIdentity(r.Context(), v["id"], v["identity_id"]); err != nil {
			a.error(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// factorsReset is the answer of DELETE /admin/users/{id}/factors.
type factorsReset struct {
	FactorsRemoved int `json:"factors_removed"`
}

// ResetFactors serves DELETE /admin/users/{id}/factors: every second factor,
// passkey and recovery code of the user goes (a lost phone or key), and the
// user gets a mail saying so. The password still signs in.
func (a *API) ResetFactors() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.mfa == nil {
			a.problem(w, r, problemNotConfigured, "Second factors are not configured on this server.", nil)
			return
		}
		u, err := a.users.GetUser(r.Context(), mux.Vars(r)["id"])
		if err != nil {
			a.error(w, r, err)
			return
		}
		n, err := a.mfa.Reset(r.Context(), u.ID)
		if err != nil {
			a.error(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, factorsReset{FactorsRemoved: n})
	})
}
