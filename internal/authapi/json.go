package authapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/reqlog"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Error codes: Better Auth's where it has one for the case, so that clients
// written for it recognise them.
const (
	codeInvalidEmailOrPassword = "INVALID_EMAIL_OR_PASSWORD"
	codeEmailNotVerified       = "EMAIL_NOT_VERIFIED"
	codeInvalidEmail           = "INVALID_EMAIL"
	codeInvalidPassword        = "INVALID_PASSWORD"
	codePasswordTooShort       = "PASSWORD_TOO_SHORT"
	codePasswordTooLong        = "PASSWORD_TOO_LONG"
	codeInvalidToken           = "INVALID_TOKEN"
	codeUnauthorized           = "UNAUTHORIZED"
	codeInvalidOrigin          = "INVALID_ORIGIN"
	codeMissingOrigin          = "MISSING_OR_NULL_ORIGIN"
	codeValidation             = "VALIDATION_ERROR"
	codeBadRequest             = "BAD_REQUEST"
	codeBodyNotObject          = "BODY_MUST_BE_AN_OBJECT"
	codeUnsupportedMedia       = "UNSUPPORTED_MEDIA_TYPE"
	codeEmailCannotBeUpdated   = "EMAIL_CAN_NOT_BE_UPDATED"
	codeEmailAlreadyVerified   = "EMAIL_ALREADY_VERIFIED"
	codeEmailMismatch          = "EMAIL_MISMATCH"
	codeSessionExpired         = "SESSION_EXPIRED"
	codeCredentialNotFound     = "CREDENTIAL_ACCOUNT_NOT_FOUND"
	codeInvalidCallbackURL     = "INVALID_CALLBACK_URL"
	codeInvalidRedirectURL     = "INVALID_REDIRECT_URL"
	// Gatehouse's own, where Better Auth has none.
	codeTooManyRequests    = "TOO_MANY_REQUESTS"
	codeAccountDisabled    = "ACCOUNT_DISABLED"
	codeServiceUnavailable = "SERVICE_UNAVAILABLE"
	codeNotSupported       = "NOT_SUPPORTED"
)

// apiError is the error body: Better Auth's {code, message}.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// user is Better Auth's user object, with its two-factor plugin's
// twoFactorEnabled: the user has a confirmed authenticator app, so a
// sign-in asks for its code.
type user struct {
	ID               string    `json:"id"`
	Name             string    `json:"name"`
	Email            string    `json:"email"`
	EmailVerified    bool      `json:"emailVerified"`
	Image            *string   `json:"image"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
	TwoFactorEnabled bool      `json:"twoFactorEnabled"`
}

// userOf is u's user object; twoFactor says whether u has a confirmed
// authenticator app.
func userOf(u storage.User, twoFactor bool) user {
	var img *string
	if u.Picture != "" {
		img = &u.Picture
	}
	return user{ID: u.ID, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified, Image: img,
		CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(), TwoFactorEnabled: twoFactor}
}

// sessionUser is the user object of a session Find returned: whether the
// user has an authenticator app comes with the session's read. With second
// factors off no sign-in asks for one, so none is reported.
func (a *API) sessionUser(bs *storage.BrowserSession) user {
	return userOf(*bs.User, a.mfa != nil && bs.UserHasTOTP)
}

// sessionJSON is Better Auth's session object. Token is the caller's own token
// for the session that made the request; for the others (list-sessions) it is
// the session's id, a handle revoke-session takes: only a hash of each token
// is stored.
type sessionJSON struct {
	ID        string    `json:"id"`
	Token     string    `json:"token"`
	UserID    string    `json:"userId"`
	ExpiresAt time.Time `json:"expiresAt"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	IPAddress *string   `json:"ipAddress"`
	UserAgent *string   `json:"userAgent"`
}

func sessionOf(bs storage.BrowserSession, token string) sessionJSON {
	if token == "" {
		token = bs.ID
	}
	orNil := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	// The session ends at the earlier of its idle and absolute expiry.
	exp := bs.ExpiresAt
	if bs.IdleExpiresAt.Before(exp) {
		exp = bs.IdleExpiresAt
	}
	return sessionJSON{ID: bs.ID, Token: token, UserID: bs.UserID, ExpiresAt: exp.UTC(), CreatedAt: bs.CreatedAt.UTC(),
		UpdatedAt: bs.LastSeenAt.UTC(), IPAddress: orNil(bs.IP), UserAgent: orNil(bs.UserAgent)}
}

// writeJSON writes v with status; no API answer may be cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"code":"INTERNAL_SERVER_ERROR","message":"Internal Server Error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// fail writes an error body with status.
func (a *API) fail(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	reqlog.Add(r.Context(), slog.String("api_error", code))
	writeJSON(w, status, apiError{Code: code, Message: message})
}

// WriteError is the public listener's middleware.ErrorWriter for /api/auth
// routes: requests refused before a handler ran get the API's error body.
func WriteError(w http.ResponseWriter, _ *http.Request, status int, code, description string) {
	c := codeBadRequest
	switch {
	case status == http.StatusRequestEntityTooLarge:
		c = "PAYLOAD_TOO_LARGE"
	case status >= 500:
		c = "INTERNAL_SERVER_ERROR"
	}
	writeJSON(w, status, apiError{Code: c, Message: description})
}

// retryAfterSeconds is the Retry-After of an answer 503 because the database
// cannot serve: a restart, failover or a Neon compute waking takes seconds.
const retryAfterSeconds = "2"

// serverError answers an error no rule explains: 503, with Retry-After when
// the database is unavailable (never 401 or 500: nothing is wrong with the
// request, and the client may try again). The cause goes on the request's log
// line, never to the client.
func (a *API) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	if !reqlog.Add(r.Context(), slog.String("failure", what), slog.String("error", err.Error())) {
		a.log.ErrorContext(r.Context(), what, "error", err.Error())
	}
	msg := "The service is unavailable right now. Try again in a moment."
	if storage.IsUnavailable(err) {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	writeJSON(w, http.StatusServiceUnavailable, apiError{Code: codeServiceUnavailable, Message: msg})
}

// throttled answers 429 with Retry-After in seconds.
func (a *API) throttled(w http.ResponseWriter, r *http.Request, after time.Duration, msg string) {
	secs := int(after.Seconds() + 0.999)
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	a.fail(w, r, http.StatusTooManyRequests, codeTooManyRequests, msg)
}

// badBody is a request body the API refuses, with the status and code.
type badBody struct {
	status        int
	code, message string
}

// decode reads a JSON object body into v. An empty body is {} when optional.
// It refuses another media type (415), broken JSON, a body that is not an
// object, and members of the wrong type (400), naming the member.
func decode(r *http.Request, v any, optional bool) *badBody {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return &badBody{http.StatusBadRequest, codeBadRequest, "The request body could not be read."}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return &badBody{http.StatusBadRequest, codeValidation, "A JSON object body is required."}
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		msg := "Content-Type is required. Allowed types: application/json"
		if mt != "" {
			msg = fmt.Sprintf("Content-Type %q is not allowed. Allowed types: application/json", mt)
		}
		return &badBody{http.StatusUnsupportedMediaType, codeUnsupportedMedia, msg}
	}
	trimmed := bytes.TrimSpace(body)
	if !json.Valid(trimmed) {
		return &badBody{http.StatusBadRequest, codeBadRequest, "Invalid JSON in request body"}
	}
	if trimmed[0] != '{' {
		return &badBody{http.StatusBadRequest, codeBodyNotObject, "Body must be an object"}
	}
	if err := json.Unmarshal(trimmed, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return &badBody{http.StatusBadRequest, codeValidation, fmt.Sprintf("Invalid body: %s must be a %s.", te.Field, jsonKind(te.Type.Kind().String()))}
		}
		return &badBody{http.StatusBadRequest, codeValidation, "Invalid body: " + strings.TrimPrefix(err.Error(), "json: ")}
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "ptr":
		return "value of the documented type"
	}
	return "value of the documented type"
}

// body decodes into v, or answers the refusal and returns false.
func (a *API) body(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	if bad := decode(r, v, optional); bad != nil {
		a.fail(w, r, bad.status, bad.code, bad.message)
		return false
	}
	return true
}
