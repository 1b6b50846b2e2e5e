package authapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/gatehouse-id/gatehouse/internal/mfa"
)

// passkeyService is what the API needs from internal/mfa's passkeys (an
// *mfa.Passkeys): the same ceremonies the pages use.
type passkeyService interface {
	BeginPasswordless(conditional bool) (mfa.CeremonyOptions, error)
	BeginRegistration(ctx context.Context, userID string) (mfa.CeremonyOptions, error)
	FinishRegistration(ctx context.Context, userID, state string, response []byte, name string) (mfa.Passkey, error)
	FinishLogin(ctx context.Context, purpose, userID, state string, response []byte) (mfa.Assertion, error)
	List(ctx context.Context, userID string) ([]mfa.Passkey, error)
	Rename(ctx context.Context, userID, id, name string) error
	Remove(ctx context.Context, userID, id string) (mfa.Passkey, error)
	ChallengeCookie(state string) *http.Cookie
	ChallengeState(r *http.Request) string
}

// freshSession is how recent a sign-in must be to add a passkey through the
// API (Better Auth's passkey plugin asks for a fresh session too).
const freshSession = 10 * time.Minute

// Better Auth passkey plugin's error codes.
const (
	codeChallengeNotFound    = "CHALLENGE_NOT_FOUND"
	codePasskeyNotFound      = "PASSKEY_NOT_FOUND"
	codeFailedVerifyReg      = "FAILED_TO_VERIFY_REGISTRATION"
	codeAuthenticationFailed = "AUTHENTICATION_FAILED"
	codeSessionNotFresh      = "SESSION_NOT_FRESH"
)

// passkeyJSON is Better Auth's passkey object.
type passkeyJSON struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	UserID       string    `json:"userId"`
	CredentialID string    `json:"credentialID"`
	Counter      int64     `json:"counter"`
	DeviceType   string    `json:"deviceType"`
	BackedUp     bool      `json:"backedUp"`
	Transports   string    `json:"transports"`
	CreatedAt    time.Time `json:"createdAt"`
	AAGUID       string    `json:"aaguid"`
}

func passkeyOf(userID string, pk mfa.Passkey) passkeyJSON {
	dt := "singleDevice"
	if pk.Synced {
		dt = "multiDevice"
	}
	aaguid := ""
	if id, err := uuid.FromBytes(pk.AAGUID); err == nil {
		aaguid = id.String()
	}
	return passkeyJSON{ID: pk.ID, Name: pk.Name, UserID: userID, CredentialID: base64.RawURLEncoding.EncodeToString(pk.CredentialID),
		Counter: pk.SignCount, DeviceType: dt, BackedUp: pk.BackedUp, Transports: strings.Join(pk.Transports, ","),
		CreatedAt: pk.CreatedAt.UTC(), AAGUID: aaguid}
}

// passkeysOff answers 404 when passkeys are not configured.
func (a *API) passkeysOff(w http.ResponseWriter, r *http.Request) bool {
	if a.passkeys == nil {
		a.fail(w, r, http.StatusNotFound, codeNotSupported, "Passkeys are not enabled")
		return true
	}
	return false
}

// writeOptions answers a Begin with its options and keeps its sealed state in
// the challenge cookie (the one the pages use).
func (a *API) writeOptions(w http.ResponseWriter, o mfa.CeremonyOptions) {
	http.SetCookie(w, a.passkeys.ChallengeCookie(o.State))
	writeJSON(w, http.StatusOK, json.RawMessage(o.JSON))
}

// ceremonyRefused answers a ceremony's refusal, or reports false when err is
// not one.
func (a *API) ceremonyRefused(w http.ResponseWriter, r *http.Request, err error, code string) bool {
	switch {
	case errors.Is(err, mfa.ErrChallengeExpired):
		a.fail(w, r, http.StatusBadRequest, codeChallengeNotFound, "Challenge not found or expired")
	case errors.Is(err, mfa.ErrUnknownCredential):
		a.fail(w, r, http.StatusUnauthorized, codePasskeyNotFound, "Passkey not found")
	case errors.Is(err, mfa.ErrClonedAuthenticator), errors.Is(err, mfa.ErrUserNotVerified), errors.Is(err, mfa.ErrPasskeyRejected):
		a.fail(w, r, http.StatusBadRequest, code, err.Error())
	case errors.Is(err, mfa.ErrPasskeyName):
		a.fail(w, r, http.StatusBadRequest, codeValidation, err.Error())
	default:
		return false
	}
	return true
}

// PasskeyRegisterOptions serves GET /api/auth/passkey/generate-register-options:
// the options to create a passkey for the caller, whose sign-in must be recent.
func (a *API) PasskeyRegisterOptions() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		if a.passkeysOff(w, r) {
			return
		}
		if a.now().Sub(c.bs.AuthTime) > freshSession {
			a.fail(w, r, http.StatusForbidden, codeSessionNotFresh, "Sign in again to add a passkey")
			return
		}
		o, err := a.passkeys.BeginRegistration(r.Context(), c.bs.UserID)
		if err != nil {
			a.serverError(w, r, "passkey registration options", err)
			return
		}
		a.writeOptions(w, o)
	})
}

// PasskeyVerifyRegistration serves POST /api/auth/passkey/verify-registration
// {response, name}: the authenticator's answer; the new passkey.
func (a *API) PasskeyVerifyRegistration() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		if a.passkeysOff(w, r) {
			return
		}
		var in struct {
			Response json.RawMessage `json:"response"`
			Name     *string         `json:"name"`
		}
		if !a.body(w, r, &in, false) {
			return
		}
		if len(in.Response) == 0 || string(in.Response) == "null" {
			a.fail(w, r, http.StatusBadRequest, codeValidation, "response is required")
			return
		}
		name := "Passkey"
		if in.Name != nil && strings.TrimSpace(*in.Name) != "" {
			name = *in.Name
		}
		state := a.passkeys.ChallengeState(r)
		http.SetCookie(w, a.passkeys.ChallengeCookie(""))
		pk, err := a.passkeys.FinishRegistration(r.Context(), c.bs.UserID, state, in.Response, name)
		if err != nil {
			if !a.ceremonyRefused(w, r, err, codeFailedVerifyReg) {
				a.serverError(w, r, "passkey registration", err)
			}
			return
		}
		writeJSON(w, http.StatusOK, passkeyOf(c.bs.UserID, pk))
	})
}

// PasskeyAuthenticateOptions serves GET
// /api/auth/passkey/generate-authenticate-options: the options of a
// passwordless sign-in (a discoverable passkey, user verification required).
func (a *API) PasskeyAuthenticateOptions() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.passkeysOff(w, r) {
			return
		}
		o, err := a.passkeys.BeginPasswordless(false)
		if err != nil {
			a.serverError(w, r, "passkey sign-in options", err)
			return
		}
		a.writeOptions(w, o)
	})
}

// PasskeyVerifyAuthentication serves POST
// /api/auth/passkey/verify-authentication {response}: a verified passkey
// starts a session (amr hwk or swk, user, mfa), as sign-in/email does.
func (a *API) PasskeyVerifyAuthentication() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.passkeysOff(w, r) {
			return
		}
		var in struct {
			Response json.RawMessage `json:"response"`
		}
		if !a.body(w, r, &in, false) {
			return
		}
		if len(in.Response) == 0 || string(in.Response) == "null" {
			a.fail(w, r, http.StatusBadRequest, codeValidation, "response is required")
			return
		}
		state := a.passkeys.ChallengeState(r)
		http.SetCookie(w, a.passkeys.ChallengeCookie(""))
		as, err := a.passkeys.FinishLogin(r.Context(), mfa.PurposePasswordless, "", state, in.Response)
		if err != nil {
			if a.ceremonyRefused(w, r, err, codeAuthenticationFailed) {
				a.countSignIn("failure")
			} else {
				a.serverError(w, r, "passkey sign-in", err)
			}
			return
		}
		bs, token, ok := a.signInSession(w, r, "passkey sign-in", as.UserID, append(as.AMR(), mfa.AMRMFA))
		if !ok {
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Session sessionJSON `json:"session"`
			User    user        `json:"user"`
		}{sessionOf(*bs, token), a.sessionUser(bs)})
	})
}

// ListPasskeys serves GET /api/auth/passkey/list-user-passkeys.
func (a *API) ListPasskeys() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		if a.passkeysOff(w, r) {
			return
		}
		l, err := a.passkeys.List(r.Context(), c.bs.UserID)
		if err != nil {
			a.serverError(w, r, "list passkeys", err)
			return
		}
		out := make([]passkeyJSON, 0, len(l))
		for _, pk := range l {
			out = append(out, passkeyOf(c.bs.UserID, pk))
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// DeletePasskey serves POST /api/auth/passkey/delete-passkey {id}.
func (a *API) DeletePasskey() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		if a.passkeysOff(w, r) {
			return
		}
		var in struct {
			ID *string `json:"id"`
		}
		if !a.body(w, r, &in, false) || !a.missing(w, r, map[string]*string{"id": in.ID}, "id") {
			return
		}
		if _, err := a.passkeys.Remove(r.Context(), c.bs.UserID, *in.ID); err != nil {
			if isNotFound(err) {
				a.fail(w, r, http.StatusNotFound, codePasskeyNotFound, "Passkey not found")
				return
			}
			a.serverError(w, r, "delete passkey", err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	})
}

// UpdatePasskey serves POST /api/auth/passkey/update-passkey {id, name}.
func (a *API) UpdatePasskey() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		if a.passkeysOff(w, r) {
			return
		}
		var in struct {
			ID   *string `json:"id"`
			Name *string `json:"name"`
		}
		if !a.body(w, r, &in, false) || !a.missing(w, r, map[string]*string{"id": in.ID, "name": in.Name}, "id", "name") {
			return
		}
		err := a.passkeys.Rename(r.Context(), c.bs.UserID, *in.ID, *in.Name)
		switch {
		case errors.Is(err, mfa.ErrPasskeyName):
			a.fail(w, r, http.StatusBadRequest, codeValidation, err.Error())
			return
		case isNotFound(err):
			a.fail(w, r, http.StatusNotFound, codePasskeyNotFound, "Passkey not found")
			return
		case err != nil:
			a.serverError(w, r, "update passkey", err)
			return
		}
		l, err := a.passkeys.List(r.Context(), c.bs.UserID)
		if err != nil {
			a.serverError(w, r, "update passkey", err)
			return
		}
		for _, pk := range l {
			if pk.ID == *in.ID {
				writeJSON(w, http.StatusOK, map[string]passkeyJSON{"passkey": passkeyOf(c.bs.UserID, pk)})
				return
			}
		}
		a.fail(w, r, http.StatusNotFound, codePasskeyNotFound, "Passkey not found")
	})
}
