package authapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/federation"
)

// accountService is what the account endpoints need from internal/federation:
// the user's external identities, unlinking one (never the last way in) and
// a valid upstream access token.
type accountService interface {
	Accounts(ctx context.Context, userID string) ([]federation.Account, error)
	Unlink(ctx context.Context, userID, id string) error
	Token(ctx context.Context, userID, identityID string) (federation.UpstreamToken, error)
}

// credentialProvider is the providerId of the password account in Better
// Auth's list: its id and accountId are the user's id.
const credentialProvider = "credential"

// Better Auth's codes for the account endpoints.
const (
	codeAccountNotFound      = "ACCOUNT_NOT_FOUND"
	codeUnlinkLastAccount    = "FAILED_TO_UNLINK_LAST_ACCOUNT"
	codeProviderNotSupported = "PROVIDER_NOT_SUPPORTED"
	codeAccessTokenNotFound  = "ACCESS_TOKEN_NOT_FOUND"
	codeFailedToGetToken     = "FAILED_TO_GET_ACCESS_TOKEN"
	codeIDTokenNotSupported  = "ID_TOKEN_NOT_SUPPORTED"
	codeLinkedToAnotherUser  = "account_already_linked_to_different_user"
)

// accountJSON is Better Auth's account object (list-accounts).
type accountJSON struct {
	ID         string    `json:"id"`
	ProviderID string    `json:"providerId"`
	AccountID  string    `json:"accountId"`
	UserID     string    `json:"userId"`
	Scopes     []string  `json:"scopes"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// accounts is the caller's accounts as Better Auth lists them: the password
// ("credential") when the user has one, then each linked upstream identity.
func (a *API) accounts(ctx context.Context, c current) ([]accountJSON, error) {
	u := c.bs.User
	out := []accountJSON{}
	if u.PasswordHash != "" {
		out = append(out, accountJSON{ID: u.ID, ProviderID: credentialProvider, AccountID: u.ID, UserID: u.ID, Scopes: []string{},
			CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC()})
	}
	if a.fed == nil {
		return out, nil
	}
	list, err := a.fed.Accounts(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	for _, e := range list {
		out = append(out, accountJSON{ID: e.ID, ProviderID: e.Provider, AccountID: e.AccountID, UserID: u.ID, Scopes: e.Scopes,
			CreatedAt: e.CreatedAt.UTC(), UpdatedAt: e.UpdatedAt.UTC()})
	}
	return out, nil
}

// accountSelection is how a request names one of the caller's accounts:
// Better Auth 1.7's {accountId} (the id list-accounts gives), or the older
// {providerId, accountId?} (accountId then the upstream account's id).
type accountSelection struct {
	AccountID  *string `json:"accountId"`
	ProviderID *string `json:"providerId"`
}

// find answers the account the selection names, or false (none matches).
func (s accountSelection) find(list []accountJSON) (accountJSON, bool) {
	if s.AccountID != nil {
		for _, acc := range list {
			if acc.ID == *s.AccountID {
				return acc, true
			}
		}
	}
	if s.ProviderID == nil {
		return accountJSON{}, false
	}
	for _, acc := range list {
		if acc.ProviderID == *s.ProviderID && (s.AccountID == nil || acc.AccountID == *s.AccountID) {
			return acc, true
		}
	}
	return accountJSON{}, false
}

// selected decodes the body's account selection and finds the account, or
// answers the refusal (400 VALIDATION_ERROR, 400 ACCOUNT_NOT_FOUND) and
// returns false.
func (a *API) selected(w http.ResponseWriter, r *http.Request, c current) (accountJSON, bool) {
	var in accountSelection
	if !a.body(w, r, &in, false) {
		return accountJSON{}, false
	}
	if in.AccountID == nil && in.ProviderID == nil {
		a.fail(w, r, http.StatusBadRequest, codeValidation, "Invalid body: accountId is required.")
		return accountJSON{}, false
	}
	list, err := a.accounts(r.Context(), c)
	if err != nil {
		a.serverError(w, r, "list accounts", err)
		return accountJSON{}, false
	}
	acc, ok := in.find(list)
	if !ok {
		a.fail(w, r, http.StatusBadRequest, codeAccountNotFound, "Account not found")
		return accountJSON{}, false
	}
	return acc, true
}

// withUpstreamAccount serves a path whose body names one of the caller's
// linked upstream accounts (see selected): h runs with it. The password
// ("credential") is no upstream account: 400 with credentialCode and
// credentialMessage.
func (a *API) withUpstreamAccount(credentialCode, credentialMessage string, h func(w http.ResponseWriter, r *http.Request, c current, acc accountJSON)) http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		acc, ok := a.selected(w, r, c)
		if !ok {
			return
		}
		if acc.ProviderID == credentialProvider {
			a.fail(w, r, http.StatusBadRequest, credentialCode, credentialMessage)
			return
		}
		h(w, r, c, acc)
	})
}

// ListAccounts serves GET /api/auth/list-accounts: the caller's accounts, the
// password first ("credential"), then the linked upstream identities by
// provider.
func (a *API) ListAccounts() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		list, err := a.accounts(r.Context(), c)
		if err != nil {
			a.serverError(w, r, "list accounts", err)
			return
		}
		writeJSON(w, http.StatusOK, list)
	})
}

// LinkSocial serves POST /api/auth/link-social {provider, callbackURL?,
// errorCallbackURL?, disableRedirect?}: it begins a flow at the provider that
// links the upstream account to the signed-in caller and answers the
// provider's URL ({url, redirect}), as sign-in/social does. The browser must
// come back to /api/auth/callback/{provider} with the same session cookie:
// a bearer-only caller cannot link here (NOT_SUPPORTED). An upstream account
// linked to another user is refused at the callback
// (errorCallbackURL?error=account_already_linked_to_different_user).
func (a *API) LinkSocial() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		var in struct {
			Provider         *string         `json:"provider"`
			CallbackURL      *string         `json:"callbackURL"`
			ErrorCallbackURL *string         `json:"errorCallbackURL"`
			DisableRedirect  *bool           `json:"disableRedirect"`
			Scopes           []string        `json:"scopes"`
			IDToken          json.RawMessage `json:"idToken"`
		}
		if !a.body(w, r, &in, false) || !a.missing(w, r, map[string]*string{"provider": in.Provider}, "provider") {
			return
		}
		if a.fed == nil || !a.fed.Has(*in.Provider) {
			a.fail(w, r, http.StatusNotFound, codeProviderNotFound, "Provider not found")
			return
		}
		switch {
		case len(in.IDToken) > 0 && string(in.IDToken) != "null":
			a.fail(w, r, http.StatusBadRequest, codeIDTokenNotSupported, "id_token not supported: link through the provider's page (omit idToken).")
			return
		case len(in.Scopes) > 0:
			a.fail(w, r, http.StatusBadRequest, codeNotSupported, "Additional scopes are not offered: the operator configures the scopes Gatehouse asks the provider for.")
			return
		case c.bearer:
			a.fail(w, r, http.StatusBadRequest, codeNotSupported, "Linking needs the browser's session cookie: the provider sends the browser back, and the link is made for the session it carries.")
			return
		}
		f := federation.Flow{API: true, Continue: "/", LinkUserID: c.bs.UserID}
		a.beginFlow(w, r, "link social", *in.Provider, &f, in.DisableRedirect,
			returnURL{in.CallbackURL, &f.Continue}, returnURL{in.ErrorCallbackURL, &f.ErrorURL})
	})
}

// UnlinkAccount serves POST /api/auth/unlink-account {accountId} (or
// {providerId, accountId?}): the linked upstream identity is removed, unless
// it is the caller's last way to sign in (400 FAILED_TO_UNLINK_LAST_ACCOUNT).
// The password is not removed here (400 NOT_SUPPORTED).
func (a *API) UnlinkAccount() http.Handler {
	return a.withUpstreamAccount(codeNotSupported, "The password is not removed through the API.", func(w http.ResponseWriter, r *http.Request, c current, acc accountJSON) {
		err := a.fed.Unlink(r.Context(), c.bs.UserID, acc.ID)
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, map[string]bool{"status": true})
		case federation.CodeOf(err) == federation.CodeLastMethod:
			a.fail(w, r, http.StatusBadRequest, codeUnlinkLastAccount, "You can't unlink your last account")
		case isNotFound(err):
			a.fail(w, r, http.StatusBadRequest, codeAccountNotFound, "Account not found")
		default:
			a.serverError(w, r, "unlink account", err)
		}
	})
}

// GetAccessToken serves POST /api/auth/get-access-token {accountId} (or
// {providerId, accountId?}): a valid access token of the caller's upstream
// account, refreshed at the provider when the kept one has expired, for apps
// that call the provider's API. Only providers whose tokens the operator
// keeps (store_tokens) have one. The token is never logged.
func (a *API) GetAccessToken() http.Handler {
	return a.withUpstreamAccount(codeProviderNotSupported, "Provider credential is not supported.", func(w http.ResponseWriter, r *http.Request, c current, acc accountJSON) {
		tok, err := a.fed.Token(r.Context(), c.bs.UserID, acc.ID)
		if err != nil {
			a.tokenRefused(w, r, acc.ProviderID, err)
			return
		}
		out := struct {
			AccessToken          string     `json:"accessToken"`
			AccessTokenExpiresAt *time.Time `json:"accessTokenExpiresAt,omitempty"`
			Scopes               []string   `json:"scopes"`
		}{AccessToken: tok.AccessToken, Scopes: tok.Scopes}
		if out.Scopes == nil {
			out.Scopes = []string{}
		}
		if !tok.Expiry.IsZero() {
			exp := tok.Expiry.UTC()
			out.AccessTokenExpiresAt = &exp
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// tokenRefused answers why there is no access token of provider.
func (a *API) tokenRefused(w http.ResponseWriter, r *http.Request, provider string, err error) {
	switch federation.CodeOf(err) {
	case federation.CodeUnknownProvider:
		a.fail(w, r, http.StatusBadRequest, codeProviderNotSupported, "Provider "+provider+" is not supported.")
	case federation.CodeTokensNotKept:
		a.fail(w, r, http.StatusBadRequest, codeAccessTokenNotFound,
			"Access token not found: Gatehouse does not keep "+provider+"'s tokens (the operator turns store_tokens on for providers whose API apps call).")
	case federation.CodeNoTokens:
		a.fail(w, r, http.StatusBadRequest, codeAccessTokenNotFound,
			"Access token not found: none is kept for this account yet. Sign in with "+provider+" again to keep one.")
	case federation.CodeTokenExpired:
		a.fail(w, r, http.StatusBadRequest, codeFailedToGetToken,
			"Failed to get a valid access token: it has expired and "+provider+" gave no refresh token. Sign in with "+provider+" again.")
	case federation.CodeUpstreamError:
		a.fail(w, r, http.StatusBadRequest, codeFailedToGetToken, "Failed to get a valid access token: "+provider+" refused the refresh.")
	case federation.CodeUpstreamUnavailable:
		a.fail(w, r, http.StatusBadGateway, codeUpstreamUnavailable, "The provider cannot be reached. Try again in a moment.")
	default:
		if isNotFound(err) {
			a.fail(w, r, http.StatusBadRequest, codeAccountNotFound, "Account not found")
			return
		}
		a.serverError(w, r, "get access token", err)
	}
}
