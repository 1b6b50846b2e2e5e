package authapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/clientip"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/internal/session"
)

// freshFor is how long after sign-in a session may delete its user without the
// password (Better Auth's freshAge default: a day).
const freshFor = 24 * time.Hour

const msgResetSent = "If this email exists in our system, check your email for the reset link"

// missing answers 400 VALIDATION_ERROR for the first member of names whose
// value is nil and returns false; true when every one is present.
func (a *API) missing(w http.ResponseWriter, r *http.Request, fields map[string]*string, order ...string) bool {
	for _, name := range order {
		if fields[name] == nil {
			a.fail(w, r, http.StatusBadRequest, codeValidation, "Invalid body: "+name+" is required.")
			return false
		}
	}
	return true
}

// callbackAllowed reports whether the API may send a browser to raw: a path on
// this server, or a URL of a trusted origin (no open redirects).
func (a *API) callbackAllowed(raw string) bool {
	if raw == "" || strings.ContainsAny(raw, "\r\n\t\\ ") {
		return false
	}
	if strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//") {
		return true
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	return a.trustedOrigin(u.Scheme + "://" + u.Host)
}

// absolute makes a callback on this server absolute, for Location.
func (a *API) absolute(raw string) string {
	if strings.HasPrefix(raw, "/") {
		return a.issuer + raw
	}
	return raw
}

// withQuery adds name=value to the URL raw.
func withQuery(raw, name, value string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// passwordRefused answers a *identity.PasswordError with Better Auth's code for
// it, and reports whether err was one.
func (a *API) passwordRefused(w http.ResponseWriter, r *http.Request, err error) bool {
	var pe *identity.PasswordError
	if !errors.As(err, &pe) {
		return false
	}
	code := codeInvalidPassword
	switch {
	case strings.Contains(pe.Key, "short"):
		code = codePasswordTooShort
	case strings.Contains(pe.Key, "long"):
		code = codePasswordTooLong
	}
	a.fail(w, r, http.StatusBadRequest, code, pe.Reason)
	return true
}

// throttledOr answers a *identity.ThrottledError with 429 and reports whether
// err was one.
func (a *API) throttledOr(w http.ResponseWriter, r *http.Request, err error) bool {
	var te *identity.ThrottledError
	if !errors.As(err, &te) {
		return false
	}
	a.throttled(w, r, te.RetryAfter, te.Error())
	return true
}

// SignUpEmail serves POST /api/auth/sign-up/email. The answer is the same
// whether the address was new or registered already ({token: null, user}):
// identity mails the new one a verification link and the registered one's
// owner a notice. No session starts: the address is verified first.
func (a *API) SignUpEmail() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Name        *string `json:"name"`
			Email       *string `json:"email"`
			Password    *string `json:"password"`
			Image       *string `json:"image"`
			CallbackURL *string `json:"callbackURL"`
			RememberMe  *bool   `json:"rememberMe"`
		}
		if !a.body(w, r, &in, false) ||
			!a.missing(w, r, map[string]*string{"name": in.Name, "email": in.Email, "password": in.Password}, "name", "email", "password") {
			return
		}
		if in.CallbackURL != nil && *in.CallbackURL != "" && !a.callbackAllowed(*in.CallbackURL) {
			a.fail(w, r, http.StatusForbidden, codeInvalidCallbackURL, "Invalid callbackURL")
			return
		}
		su := identity.SignUpInput{Email: strings.TrimSpace(*in.Email), Password: *in.Password, Name: strings.TrimSpace(*in.Name)}
		if err := identity.ValidateSignUp(su); err != nil {
			a.signUpRefused(w, r, err)
			return
		}
		_, u, err := a.ids.SignUpUser(r.Context(), su, clientip.FromRequest(r))
		if err != nil {
			if a.throttledOr(w, r, err) || a.signUpRefused(w, r, err) {
				return
			}
			a.serverError(w, r, "sign up", err)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Token *string `json:"token"`
			User  user    `json:"user"`
		}{nil, userOf(u, false)}) // new: no factor yet (and a registered address answers the same)
	})
}

// signUpRefused answers identity's refusal of sign-up input, the address
// first, and reports whether err was one.
func (a *API) signUpRefused(w http.ResponseWriter, r *http.Request, err error) bool {
	var prof *identity.ProfileError
	switch {
	case errors.Is(err, identity.ErrInvalidEmail):
		a.fail(w, r, http.StatusBadRequest, codeInvalidEmail, "Invalid email")
	case a.passwordRefused(w, r, err):
	case errors.As(err, &prof):
		a.fail(w, r, http.StatusBadRequest, codeValidation, "Invalid body: name: "+prof.Reason)
	default:
		return false
	}
	return true
}

// SignInEmail serves POST /api/auth/sign-in/email: the pages' sign-in
// (throttling, lock-out per account and client address, metrics), then the
// browser session the pages use, its token also in set-auth-token. An account
// with a second factor gets Better Auth's {twoFactorRedirect: true} and the
// pending sign-in cookie instead, and the session once the factor comes.
func (a *API) SignInEmail() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Email       *string `json:"email"`
			Password    *string `json:"password"`
			CallbackURL *string `json:"callbackURL"`
			RememberMe  *bool   `json:"rememberMe"`
		}
		if !a.body(w, r, &in, false) ||
			!a.missing(w, r, map[string]*string{"email": in.Email, "password": in.Password}, "email", "password") {
			return
		}
		cb := ""
		if in.CallbackURL != nil {
			cb = *in.CallbackURL
		}
		if cb != "" && !a.callbackAllowed(cb) {
			a.fail(w, r, http.StatusForbidden, codeInvalidCallbackURL, "Invalid callbackURL")
			return
		}
		email := strings.TrimSpace(*in.Email)
		if identity.ValidateEmail(email) != nil {
			a.fail(w, r, http.StatusBadRequest, codeInvalidEmail, "Invalid email")
			return
		}
		u, err := a.ids.Authenticate(r.Context(), email, *in.Password, clientip.FromRequest(r))
		if err != nil {
			switch {
			case a.throttledOr(w, r, err):
				a.countSignIn("throttled")
			case errors.Is(err, identity.ErrDisabled):
				a.countSignIn("failure")
				a.fail(w, r, http.StatusForbidden, codeAccountDisabled, "This account is disabled. Contact the administrator.")
			case errors.Is(err, identity.ErrInvalidCredentials), errors.Is(err, identity.ErrInvalidEmail):
				a.countSignIn("failure")
				a.fail(w, r, http.StatusUnauthorized, codeInvalidEmailOrPassword, "Invalid email or password")
			default:
				a.serverError(w, r, "sign in", err)
			}
			return
		}
		if a.requireEV && !u.EmailVerified {
			a.countSignIn("failure")
			a.fail(w, r, http.StatusForbidden, codeEmailNotVerified, "Email not verified")
			return
		}
		step, m, err := a.afterFirstFactor(w, r, u.ID, []string{mfa.AMRPassword})
		switch {
		case err != nil:
			a.serverError(w, r, "sign in: second factor", err)
			return
		case step == mfa.StepEnrol:
			a.refuseUntilEnrolled(w, r)
			return
		case step == mfa.StepVerify:
			// Better Auth's two-factor answer: no session yet, the pending
			// sign-in in its cookie, for verify-totp or verify-backup-code.
			writeJSON(w, http.StatusOK, struct {
				TwoFactorRedirect bool     `json:"twoFactorRedirect"`
				TwoFactorMethods  []string `json:"twoFactorMethods"`
			}{true, twoFactorMethods(m)})
			return
		}
		_, token, err := a.sessions.Start(w, r, u.ID, []string{mfa.AMRPassword}, a.now())
		if err != nil {
			a.serverError(w, r, "sign in: start session", err)
			return
		}
		if in.RememberMe != nil && !*in.RememberMe {
			w.Header().Del("Set-Cookie")
			a.sessions.ForgetOnClose(w, token)
		}
		a.countSignIn("success")
		w.Header().Set("set-auth-token", token)
		var urlp *string
		if cb != "" {
			w.Header().Set("Location", a.absolute(cb))
			urlp = &cb
		}
		writeJSON(w, http.StatusOK, struct {
			Redirect bool    `json:"redirect"`
			Token    string  `json:"token"`
			URL      *string `json:"url,omitempty"`
			User     user    `json:"user"`
		}{cb != "", token, urlp, userOf(u, m.TOTP > 0)})
	})
}

// GetSession serves GET /api/auth/get-session: the caller's session and user,
// or null, in one indexed read and (at most once a minute) one write.
func (a *API) GetSession() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := a.lookup(r)
		if err != nil {
			a.serverError(w, r, "get session", err)
			return
		}
		if c.bs == nil {
			writeJSON(w, http.StatusOK, nil)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Session sessionJSON `json:"session"`
			User    user        `json:"user"`
		}{sessionOf(*c.bs, c.token), a.sessionUser(c.bs)})
	})
}

// SignOut serves POST /api/auth/sign-out: the session ends (for the pages and
// every OIDC flow too) and the cookie goes.
func (a *API) SignOut() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct{}
		if !a.body(w, r, &in, true) {
			return
		}
		c, err := a.lookup(r)
		if err != nil {
			a.serverError(w, r, "sign out", err)
			return
		}
		if c.bs != nil {
			if err := a.ids.EndSession(r.Context(), c.bs.UserID, c.bs.ID); err != nil && !isNotFound(err) {
				a.serverError(w, r, "sign out", err)
				return
			}
		}
		a.sessions.Clear(w)
		writeJSON(w, http.StatusOK, map[string]bool{"success": true})
	})
}

// RequestPasswordReset serves POST /api/auth/request-password-reset: the same
// answer for every address; the mail's link opens Gatehouse's reset page.
func (a *API) RequestPasswordReset() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Email      *string `json:"email"`
			RedirectTo *string `json:"redirectTo"`
		}
		if !a.body(w, r, &in, false) {
			return
		}
		email, ok := a.mailRequest(w, r, in.Email, in.RedirectTo, codeInvalidRedirectURL, "Invalid redirectURL")
		if !ok {
			return
		}
		if err := a.ids.RequestPasswordReset(r.Context(), email, clientip.FromRequest(r)); err != nil {
			if a.throttledOr(w, r, err) {
				return
			}
			a.serverError(w, r, "request password reset", err)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Status  bool   `json:"status"`
			Message string `json:"message"`
		}{true, msgResetSent})
	})
}

// ResetPasswordCallback serves GET /api/auth/reset-password/{token}: to
// callbackURL?token=… when the link still works, else
// callbackURL?error=INVALID_TOKEN. callbackURL must be allowed (a path here
// or a trusted origin), else 400: no open redirects.
func (a *API) ResetPasswordCallback() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token := mux.Vars(r)["token"]
		cb := r.URL.Query().Get("callbackURL")
		if !a.callbackAllowed(cb) {
			a.fail(w, r, http.StatusBadRequest, codeInvalidCallbackURL, "Invalid callbackURL")
			return
		}
		_, err := a.ids.CheckResetToken(r.Context(), token)
		switch {
		case err == nil:
			http.Redirect(w, r, withQuery(a.absolute(cb), "token", token), http.StatusFound)
		case errors.Is(err, identity.ErrInvalidToken), errors.Is(err, identity.ErrDisabled):
			http.Redirect(w, r, withQuery(a.absolute(cb), "error", codeInvalidToken), http.StatusFound)
		default:
			a.serverError(w, r, "check reset link", err)
		}
	})
}

// ResetPassword serves POST /api/auth/reset-password {newPassword, token}: the
// token (also taken from ?token=) is spent, every session of the user ends and
// every token issued for them is revoked.
func (a *API) ResetPassword() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			NewPassword *string `json:"newPassword"`
			Token       *string `json:"token"`
		}
		if !a.body(w, r, &in, false) || !a.missing(w, r, map[string]*string{"newPassword": in.NewPassword}, "newPassword") {
			return
		}
		token := r.URL.Query().Get("token")
		if in.Token != nil {
			token = *in.Token
		}
		if token == "" {
			a.fail(w, r, http.StatusBadRequest, codeInvalidToken, "Invalid token")
			return
		}
		_, err := a.ids.ResetPassword(r.Context(), token, *in.NewPassword)
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, map[string]bool{"status": true})
		case errors.Is(err, identity.ErrInvalidToken), errors.Is(err, identity.ErrDisabled):
			a.fail(w, r, http.StatusBadRequest, codeInvalidToken, "Invalid token")
		case a.passwordRefused(w, r, err):
		default:
			a.serverError(w, r, "reset password", err)
		}
	})
}

// SendVerificationEmail serves POST /api/auth/send-verification-email: a new
// verification link, the same answer for every address. Signed in, the
// address must be the caller's and not verified yet.
func (a *API) SendVerificationEmail() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Email       *string `json:"email"`
			CallbackURL *string `json:"callbackURL"`
		}
		if !a.body(w, r, &in, false) {
			return
		}
		email, ok := a.mailRequest(w, r, in.Email, in.CallbackURL, codeInvalidCallbackURL, "Invalid callbackURL")
		if !ok {
			return
		}
		c, err := a.lookup(r)
		if err != nil {
			a.serverError(w, r, "send verification e-mail", err)
			return
		}
		if c.bs != nil {
			if !strings.EqualFold(c.bs.User.Email, email) {
				a.fail(w, r, http.StatusBadRequest, codeEmailMismatch, "Email mismatch")
				return
			}
			if c.bs.User.EmailVerified {
				a.fail(w, r, http.StatusBadRequest, codeEmailAlreadyVerified, "Email is already verified")
				return
			}
		}
		if err := a.ids.ResendVerification(r.Context(), email, clientip.FromRequest(r)); err != nil {
			if a.throttledOr(w, r, err) {
				return
			}
			a.serverError(w, r, "send verification e-mail", err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	})
}

// VerifyEmail serves GET /api/auth/verify-email?token=…[&callbackURL=…]: the
// mailed token is spent and the address verified; with callbackURL the
// browser goes there (with ?error=INVALID_TOKEN when the token is dead).
func (a *API) VerifyEmail() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		cb := q.Get("callbackURL")
		if cb != "" && !a.callbackAllowed(cb) {
			a.fail(w, r, http.StatusBadRequest, codeInvalidCallbackURL, "Invalid callbackURL")
			return
		}
		_, err := a.ids.VerifyEmail(r.Context(), q.Get("token"), "")
		switch {
		case err == nil && cb != "":
			http.Redirect(w, r, a.absolute(cb), http.StatusFound)
		case err == nil:
			writeJSON(w, http.StatusOK, struct {
				Status bool  `json:"status"`
				User   *user `json:"user"`
			}{true, nil})
		case errors.Is(err, identity.ErrInvalidToken) && cb != "":
			http.Redirect(w, r, withQuery(a.absolute(cb), "error", codeInvalidToken), http.StatusFound)
		case errors.Is(err, identity.ErrInvalidToken):
			a.fail(w, r, http.StatusUnauthorized, codeInvalidToken, "Invalid token")
		default:
			a.serverError(w, r, "verify e-mail", err)
		}
	})
}

// ChangePassword serves POST /api/auth/change-password. As on the account
// page, every other session of the user ends and every token issued for them
// is revoked, whatever revokeOtherSessions says; with revokeOtherSessions the
// caller's session is replaced too and the answer carries its new token.
func (a *API) ChangePassword() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		var in struct {
			NewPassword         *string `json:"newPassword"`
			CurrentPassword     *string `json:"currentPassword"`
			RevokeOtherSessions *bool   `json:"revokeOtherSessions"`
		}
		if !a.body(w, r, &in, false) ||
			!a.missing(w, r, map[string]*string{"newPassword": in.NewPassword, "currentPassword": in.CurrentPassword}, "newPassword", "currentPassword") {
			return
		}
		err := a.ids.ChangePassword(r.Context(), identity.PasswordChange{
			UserID: c.bs.UserID, Current: *in.CurrentPassword, Next: *in.NewPassword,
			IP: clientip.FromRequest(r), KeepSession: c.bs.ID,
		})
		switch {
		case err == nil:
		case a.throttledOr(w, r, err), a.passwordRefused(w, r, err):
			return
		case errors.Is(err, identity.ErrInvalidCredentials):
			a.fail(w, r, http.StatusBadRequest, codeInvalidPassword, "Invalid password")
			return
		default:
			a.serverError(w, r, "change password", err)
			return
		}
		var token *string
		if in.RevokeOtherSessions != nil && *in.RevokeOtherSessions {
			_, t, err := a.sessions.Start(w, r, c.bs.UserID, strings.Fields(c.bs.AMR), c.bs.AuthTime)
			if err != nil {
				a.serverError(w, r, "change password: new session", err)
				return
			}
			if err := a.ids.EndSession(r.Context(), c.bs.UserID, c.bs.ID); err != nil && !isNotFound(err) {
				a.serverError(w, r, "change password: end old session", err)
				return
			}
			w.Header().Set("set-auth-token", t)
			token = &t
		}
		writeJSON(w, http.StatusOK, struct {
			Token *string `json:"token"`
			User  user    `json:"user"`
		}{token, a.sessionUser(c.bs)})
	})
}

// UpdateUser serves POST /api/auth/update-user {name?, image?}; the address
// cannot be changed here.
func (a *API) UpdateUser() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		var in struct {
			Name  *string         `json:"name"`
			Image json.RawMessage `json:"image"`
			Email json.RawMessage `json:"email"`
		}
		if !a.body(w, r, &in, false) {
			return
		}
		if len(in.Email) > 0 && string(in.Email) != "null" {
			a.fail(w, r, http.StatusBadRequest, codeEmailCannotBeUpdated, "Email can not be updated")
			return
		}
		ch := identity.UserChanges{Name: in.Name}
		if len(in.Image) > 0 {
			pic := ""
			if string(in.Image) != "null" {
				if err := json.Unmarshal(in.Image, &pic); err != nil {
					a.fail(w, r, http.StatusBadRequest, codeValidation, "Invalid body: image must be a string or null.")
					return
				}
			}
			ch.Picture = &pic
		}
		if ch.Empty() {
			a.fail(w, r, http.StatusBadRequest, codeBadRequest, "No fields to update")
			return
		}
		_, err := a.ids.UpdateUser(r.Context(), c.bs.UserID, ch)
		var prof *identity.ProfileError
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, map[string]bool{"status": true})
		case errors.As(err, &prof):
			field := prof.Field
			if field == "picture" {
				field = "image"
			}
			a.fail(w, r, http.StatusBadRequest, codeValidation, "Invalid body: "+field+": "+prof.Reason)
		default:
			a.serverError(w, r, "update user", err)
		}
	})
}

// ListSessions serves GET /api/auth/list-sessions: the caller's live sessions,
// newest first. Each token is the session's id (a handle for
// revoke-session), except the caller's own, which is its real token.
func (a *API) ListSessions() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		ss, err := a.ids.ListSessions(r.Context(), c.bs.UserID)
		if err != nil {
			a.serverError(w, r, "list sessions", err)
			return
		}
		now := a.now()
		out := make([]sessionJSON, 0, len(ss))
		for _, bs := range ss {
			if !bs.IdleExpiresAt.After(now) {
				continue
			}
			token := ""
			if bs.ID == c.bs.ID {
				token = c.token
			}
			out = append(out, sessionOf(bs, token))
		}
		writeJSON(w, http.StatusOK, out)
	})
}

// RevokeSession serves POST /api/auth/revoke-session {token}: token is a
// session's id from list-sessions, or a session token; a session of another
// user, or none, changes nothing.
func (a *API) RevokeSession() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		var in struct {
			Token *string `json:"token"`
		}
		if !a.body(w, r, &in, false) || !a.missing(w, r, map[string]*string{"token": in.Token}, "token") {
			return
		}
		id := ""
		switch t := *in.Token; {
		case t == c.token || t == c.bs.ID:
			id = c.bs.ID
		case uuid.Validate(t) == nil:
			id = t
		case session.WellFormed(t):
			bs, err := a.sessions.Find(r.Context(), t)
			if err != nil {
				a.serverError(w, r, "revoke session", err)
				return
			}
			if bs != nil {
				id = bs.ID
			}
		}
		if id != "" {
			if err := a.ids.EndSession(r.Context(), c.bs.UserID, id); err != nil && !isNotFound(err) {
				a.serverError(w, r, "revoke session", err)
				return
			}
		}
		if id == c.bs.ID && !c.bearer {
			a.sessions.Clear(w)
		}
		writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	})
}

// RevokeSessions serves POST /api/auth/revoke-sessions: every session of the
// caller ends, this one included.
func (a *API) RevokeSessions() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		var in struct{}
		if !a.body(w, r, &in, true) {
			return
		}
		if _, err := a.ids.EndSessions(r.Context(), c.bs.UserID); err != nil {
			a.serverError(w, r, "revoke sessions", err)
			return
		}
		a.sessions.Clear(w)
		writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	})
}

// RevokeOtherSessions serves POST /api/auth/revoke-other-sessions: every
// session of the caller but this one ends.
func (a *API) RevokeOtherSessions() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		var in struct{}
		if !a.body(w, r, &in, true) {
			return
		}
		if _, err := a.ids.EndOtherSessions(r.Context(), c.bs.UserID, c.bs.ID); err != nil {
			a.serverError(w, r, "revoke other sessions", err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	})
}

// DeleteUser serves POST /api/auth/delete-user {password?}: with the right
// password (checked, and throttled, as a sign-in), or from a session signed in
// within the last day, the user is deleted with their sessions and tokens.
func (a *API) DeleteUser() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		var in struct {
			Password    *string `json:"password"`
			Token       *string `json:"token"`
			CallbackURL *string `json:"callbackURL"`
		}
		if !a.body(w, r, &in, true) {
			return
		}
		if in.Token != nil {
			a.fail(w, r, http.StatusBadRequest, codeNotSupported, "Deletion by e-mailed token is not offered: give the password, or sign in again and delete within a day.")
			return
		}
		if in.CallbackURL != nil && *in.CallbackURL != "" && !a.callbackAllowed(*in.CallbackURL) {
			a.fail(w, r, http.StatusForbidden, codeInvalidCallbackURL, "Invalid callbackURL")
			return
		}
		switch {
		case in.Password != nil:
			if c.bs.User.PasswordHash == "" {
				a.fail(w, r, http.StatusBadRequest, codeCredentialNotFound, "Credential account not found")
				return
			}
			u, err := a.ids.Authenticate(r.Context(), c.bs.User.Email, *in.Password, clientip.FromRequest(r))
			switch {
			case err == nil && u.ID == c.bs.UserID:
			case err == nil, errors.Is(err, identity.ErrInvalidCredentials):
				a.fail(w, r, http.StatusBadRequest, codeInvalidPassword, "Invalid password")
				return
			case a.throttledOr(w, r, err):
				return
			default:
				a.serverError(w, r, "delete user: check password", err)
				return
			}
		case a.now().Sub(c.bs.AuthTime) >= freshFor:
			a.fail(w, r, http.StatusBadRequest, codeSessionExpired, "Session expired. Re-authenticate to perform this action.")
			return
		}
		if err := a.ids.DeleteUser(r.Context(), c.bs.UserID); err != nil && !isNotFound(err) {
			a.serverError(w, r, "delete user", err)
			return
		}
		a.sessions.Clear(w)
		writeJSON(w, http.StatusOK, struct {
			Success bool   `json:"success"`
			Message string `json:"message"`
		}{true, "User deleted"})
	})
}

// OK serves GET /api/auth/ok.
func (a *API) OK() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]bool{"ok": true})
	})
}

// mailRequest checks what a request for a mailed link carries: an e-mail
// address, and a return URL that must be ours or a trusted origin's (refused
// with badURLCode and badURLMessage). It answers the refusal itself.
func (a *API) mailRequest(w http.ResponseWriter, r *http.Request, email, returnURL *string, badURLCode, badURLMessage string) (string, bool) {
	if !a.missing(w, r, map[string]*string{"email": email}, "email") {
		return "", false
	}
	if returnURL != nil && *returnURL != "" && !a.callbackAllowed(*returnURL) {
		a.fail(w, r, http.StatusForbidden, badURLCode, badURLMessage)
		return "", false
	}
	addr := strings.TrimSpace(*email)
	if identity.ValidateEmail(addr) != nil {
		a.fail(w, r, http.StatusBadRequest, codeInvalidEmail, "Invalid email")
		return "", false
	}
	return addr, true
}
