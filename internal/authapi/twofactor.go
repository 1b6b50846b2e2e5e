package authapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/clientip"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// secondFactors is what the API asks of the second-factor service (an
// *mfa.Service): the calls the pages make, so that a second factor given here
// is checked, throttled and recorded as it is there.
type secondFactors interface {
	Methods(ctx context.Context, userID string) (mfa.Methods, error)
	StepAfter(ctx context.Context, userID string, amr []string, clientPolicy string) (mfa.Step, mfa.Methods, error)
	BeginTOTP(ctx context.Context, userID, account, name string) (mfa.Enrolment, error)
	TOTPURI(ctx context.Context, userID, account, issuer string) (string, bool, error)
	PendingTOTPID(ctx context.Context, userID string) (string, error)
	ConfirmTOTP(ctx context.Context, userID, id, code, ip string) error
	VerifyTOTP(ctx context.Context, userID, code, ip string) (storage.Factor, error)
	UseRecoveryCode(ctx context.Context, userID, code, ip string) (int, error)
	NewRecoveryCodes(ctx context.Context, userID string) ([]string, error)
	RemoveTOTP(ctx context.Context, userID string) (int, error)
	DropPendingTOTP(ctx context.Context, userID string) error
	SealPending(p mfa.Pending, purpose string) (string, error)
	OpenPending(value, purpose string, now time.Time) (mfa.Pending, error)
}

// Better Auth two-factor plugin's error codes, and Gatehouse's own
// TWO_FACTOR_REQUIRED for an account that must set up a second factor before
// it may sign in (Better Auth has no such step; the sign-in page has).
const (
	codeTwoFactorRequired      = "TWO_FACTOR_REQUIRED"
	codeInvalidCode            = "INVALID_CODE"
	codeInvalidBackupCode      = "INVALID_BACKUP_CODE"
	codeInvalidTwoFactorCookie = "INVALID_TWO_FACTOR_COOKIE"
	codeTOTPNotEnabled         = "TOTP_NOT_ENABLED"
	codeTOTPAlreadyEnabled     = "TOTP_ALREADY_ENABLED"
	codeTwoFactorNotEnabled    = "TWO_FACTOR_NOT_ENABLED"
	codeOTPNotConfigured       = "OTP_NOT_CONFIGURED"
)

// pendingPurpose names the API's pending sign-ins to mfa.SealPending: one
// sealed for another face does not open here.
const pendingPurpose = "authapi"

// The pending sign-in cookie's name: Better Auth's two-factor cookie (its
// "better-auth" prefix, __Secure- over https).
const (
	pendingCookie       = "better-auth.two_factor"
	securePendingCookie = "__Secure-better-auth.two_factor"
)

// maxIssuerLen bounds enable's issuer, the name an authenticator app shows.
const maxIssuerLen = 64

func (a *API) pendingCookieName() string {
	if a.secure {
		return securePendingCookie
	}
	return pendingCookie
}

// twoFactorOff answers 404 when second factors are not configured.
func (a *API) twoFactorOff(w http.ResponseWriter, r *http.Request) bool {
	if a.mfa == nil {
		a.fail(w, r, http.StatusNotFound, codeNotSupported, "Two-factor authentication is not enabled")
		return true
	}
	return false
}

// afterFirstFactor decides what follows a right first factor (methods amr)
// for userID, by the rule the pages follow (mfa.StepAfter): StepNone, a
// session now; StepVerify, the pending sign-in cookie is set and the second
// factor must come next (the methods say which the user has); StepEnrol, the
// account must add a second factor first, on the sign-in page.
func (a *API) afterFirstFactor(w http.ResponseWriter, r *http.Request, userID string, amr []string) (mfa.Step, mfa.Methods, error) {
	if a.mfa == nil {
		return mfa.StepNone, mfa.Methods{}, nil
	}
	step, m, err := a.mfa.StepAfter(r.Context(), userID, amr, "")
	if err != nil || step != mfa.StepVerify {
		return step, m, err
	}
	sealed, err := a.mfa.SealPending(mfa.Pending{UserID: userID, AMR: amr, Expires: a.now().Add(mfa.PendingTTL)}, pendingPurpose)
	if err != nil {
		return step, m, err
	}
	http.SetCookie(w, &http.Cookie{Name: a.pendingCookieName(), Value: sealed, Path: "/api/auth", Secure: a.secure,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: int(mfa.PendingTTL / time.Second)})
	return step, m, nil
}

// twoFactorMethods names the second factors a pending sign-in may finish
// with, as Better Auth's twoFactorMethods does ("totp"; it lists no backup
// codes, which verify-backup-code takes whenever the account has some).
func twoFactorMethods(m mfa.Methods) []string {
	out := []string{}
	if m.TOTP > 0 {
		out = append(out, "totp")
	}
	return out
}

// refuseUntilEnrolled answers a sign-in of an account that must set up a
// second factor before it signs in: the sign-in page walks it through that.
func (a *API) refuseUntilEnrolled(w http.ResponseWriter, r *http.Request) {
	a.fail(w, r, http.StatusForbidden, codeTwoFactorRequired,
		"This account must set up a second factor before it signs in: sign in on the sign-in page ("+a.issuer+"/signin), which walks you through it.")
}

// clearPending deletes the pending sign-in cookie.
func (a *API) clearPending(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: a.pendingCookieName(), Value: "", Path: "/api/auth", Secure: a.secure,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// pending returns the caller's pending sign-in, or answers 401
// INVALID_TWO_FACTOR_COOKIE (none, not ours, or expired) and returns false.
func (a *API) pending(w http.ResponseWriter, r *http.Request) (mfa.Pending, bool) {
	value := ""
	if c, err := r.Cookie(a.pendingCookieName()); err == nil {
		value = c.Value
	}
	p, err := a.mfa.OpenPending(value, pendingPurpose, a.now())
	if err != nil {
		if value != "" {
			a.clearPending(w)
		}
		a.fail(w, r, http.StatusUnauthorized, codeInvalidTwoFactorCookie,
			"No sign-in is waiting for a second factor, or it expired: sign in again.")
		return mfa.Pending{}, false
	}
	return p, true
}

// finishSignIn turns the pending sign-in into a session whose amr adds the
// second factor's methods and mfa, as the pages' second step does, and
// answers Better Auth's {token, user} (the token in set-auth-token too).
func (a *API) finishSignIn(w http.ResponseWriter, r *http.Request, p mfa.Pending, methods ...string) {
	bs, token, ok := a.signInSession(w, r, "second factor", p.UserID, mfa.CompleteAMR(p.AMR, methods...))
	if !ok {
		return
	}
	a.clearPending(w)
	writeJSON(w, http.StatusOK, tokenUser{Token: token, User: a.sessionUser(bs)})
}

// signInSession starts the session of a finished sign-in of userID (amr its
// methods), counts the sign-in, puts the token in set-auth-token and reads
// the session back with its user for the answer. It answers a failure itself
// (what names the sign-in on the log line) and returns false.
func (a *API) signInSession(w http.ResponseWriter, r *http.Request, what, userID string, amr []string) (*storage.BrowserSession, string, bool) {
	_, token, err := a.sessions.Start(w, r, userID, amr, a.now())
	if err != nil {
		a.serverError(w, r, what+": start session", err)
		return nil, "", false
	}
	bs, err := a.sessions.Find(r.Context(), token)
	if err != nil || bs == nil || bs.User == nil {
		a.serverError(w, r, what+": read session", errors.Join(err, errors.New("no session after start")))
		return nil, "", false
	}
	a.countSignIn("success")
	w.Header().Set("set-auth-token", token)
	return bs, token, true
}

// tokenUser is the answer of a verified second factor: the session's token
// and its user.
type tokenUser struct {
	Token string `json:"token"`
	User  user   `json:"user"`
}

// codeRefused answers a refused second-factor code: throttled (429), a code
// already used or a wrong one (401 with code), no such factor (400
// TOTP_NOT_ENABLED). signIn counts the outcome as a sign-in's; what names
// the check on the log line of an error no rule explains.
func (a *API) codeRefused(w http.ResponseWriter, r *http.Request, err error, signIn bool, what, code, message string) {
	outcome := "failure"
	switch {
	case a.throttledOr(w, r, err):
		outcome = "throttled"
	case errors.Is(err, mfa.ErrReplayedCode):
		a.fail(w, r, http.StatusUnauthorized, code, "This code was already used: wait for the next one.")
	case errors.Is(err, mfa.ErrInvalidCode):
		a.fail(w, r, http.StatusUnauthorized, code, message)
	case errors.Is(err, mfa.ErrNotEnrolled), errors.Is(err, mfa.ErrNotFound):
		a.fail(w, r, http.StatusBadRequest, codeTOTPNotEnabled, "TOTP not enabled")
	default:
		a.serverError(w, r, what, err)
		return
	}
	if signIn {
		a.countSignIn(outcome)
	}
}

// passwordConfirmed checks the caller's password before a change to their
// second factors, as a sign-in does (throttled, counted against lock-out),
// and answers the refusal itself: 400 INVALID_PASSWORD, as Better Auth does.
func (a *API) passwordConfirmed(w http.ResponseWriter, r *http.Request, c current, password string) bool {
	if c.bs.User.PasswordHash == "" {
		a.fail(w, r, http.StatusBadRequest, codeCredentialNotFound, "Credential account not found")
		return false
	}
	u, err := a.ids.Authenticate(r.Context(), c.bs.User.Email, password, clientip.FromRequest(r))
	switch {
	case err == nil && u.ID == c.bs.UserID:
		return true
	case err == nil, errors.Is(err, identity.ErrInvalidCredentials):
		a.fail(w, r, http.StatusBadRequest, codeInvalidPassword, "Invalid password")
	case a.throttledOr(w, r, err):
	default:
		a.serverError(w, r, "two-factor: check password", err)
	}
	return false
}

// withPassword serves a two-factor path whose body is {password}: h runs for
// a signed-in caller, second factors on, once the password is right.
func (a *API) withPassword(h func(w http.ResponseWriter, r *http.Request, c current)) http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		if a.twoFactorOff(w, r) {
			return
		}
		var in struct {
			Password *string `json:"password"`
		}
		if !a.body(w, r, &in, false) || !a.missing(w, r, map[string]*string{"password": in.Password}, "password") ||
			!a.passwordConfirmed(w, r, c, *in.Password) {
			return
		}
		h(w, r, c)
	})
}

// EnableTwoFactor serves POST /api/auth/two-factor/enable {password, issuer?,
// method?}: a new authenticator app for the caller, pending until its first
// code comes to verify-totp (replacing an unfinished enrolment), and new
// backup codes (recovery codes; any old ones are replaced). An account that has an authenticator app already gets
// 400 TOTP_ALREADY_ENABLED; method "otp" (codes by e-mail) 400
// OTP_NOT_CONFIGURED.
func (a *API) EnableTwoFactor() http.Handler {
	return a.signedIn(func(w http.ResponseWriter, r *http.Request, c current) {
		if a.twoFactorOff(w, r) {
			return
		}
		var in struct {
			Password *string `json:"password"`
			Issuer   *string `json:"issuer"`
			Method   *string `json:"method"`
		}
		if !a.body(w, r, &in, false) || !a.missing(w, r, map[string]*string{"password": in.Password}, "password") {
			return
		}
		issuer := ""
		if in.Issuer != nil {
			issuer = strings.TrimSpace(*in.Issuer)
			if !utf8.ValidString(issuer) || utf8.RuneCountInString(issuer) > maxIssuerLen || strings.ContainsAny(issuer, ":\x00") {
				a.fail(w, r, http.StatusBadRequest, codeValidation, "Invalid body: issuer must be at most 64 characters of text, without a colon.")
				return
			}
		}
		switch {
		case in.Method == nil || *in.Method == "totp":
		case *in.Method == "otp":
			a.fail(w, r, http.StatusBadRequest, codeOTPNotConfigured, "OTP is not available: Gatehouse sends no sign-in codes by e-mail. Use an authenticator app (method totp).")
			return
		default:
			a.fail(w, r, http.StatusBadRequest, codeValidation, `Invalid body: method must be "totp" or "otp".`)
			return
		}
		if !a.passwordConfirmed(w, r, c, *in.Password) {
			return
		}
		ctx := r.Context()
		m, err := a.mfa.Methods(ctx, c.bs.UserID)
		if err != nil {
			a.serverError(w, r, "enable two-factor", err)
			return
		}
		if m.TOTP > 0 {
			a.fail(w, r, http.StatusBadRequest, codeTOTPAlreadyEnabled, "TOTP is already enabled")
			return
		}
		// One enrolment at a time, as Better Auth keeps one: an unfinished
		// one is replaced.
		if err := a.mfa.DropPendingTOTP(ctx, c.bs.UserID); err != nil {
			a.serverError(w, r, "enable two-factor", err)
			return
		}
		e, err := a.mfa.BeginTOTP(ctx, c.bs.UserID, c.bs.User.Email, "")
		if err != nil {
			a.serverError(w, r, "enable two-factor", err)
			return
		}
		uri := e.URI
		if issuer != "" {
			if uri, _, err = a.mfa.TOTPURI(ctx, c.bs.UserID, c.bs.User.Email, issuer); err != nil {
				a.serverError(w, r, "enable two-factor: uri", err)
				return
			}
		}
		codes, err := a.mfa.NewRecoveryCodes(ctx, c.bs.UserID)
		if err != nil {
			a.serverError(w, r, "enable two-factor: backup codes", err)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Method      string   `json:"method"`
			TOTPURI     string   `json:"totpURI"`
			BackupCodes []string `json:"backupCodes"`
		}{"totp", uri, codes})
	})
}

// GetTOTPURI serves POST /api/auth/two-factor/get-totp-uri {password}: the
// otpauth URI of the caller's authenticator app (the one being enrolled, if
// none is confirmed yet), to show it again.
func (a *API) GetTOTPURI() http.Handler {
	return a.withPassword(func(w http.ResponseWriter, r *http.Request, c current) {
		uri, _, err := a.mfa.TOTPURI(r.Context(), c.bs.UserID, c.bs.User.Email, "")
		switch {
		case errors.Is(err, mfa.ErrNotEnrolled):
			a.fail(w, r, http.StatusBadRequest, codeTOTPNotEnabled, "TOTP not enabled")
		case err != nil:
			a.serverError(w, r, "get totp uri", err)
		default:
			writeJSON(w, http.StatusOK, map[string]string{"totpURI": uri})
		}
	})
}

// codeCheck is how verify-totp or verify-backup-code checks its code, for
// verifyCode.
type codeCheck struct {
	// what names the check on log lines ("verify totp").
	what string
	// refused and message are the code and message of a wrong code.
	refused, message string
	// own checks a code of the signed-in caller's account and reports
	// whether the account has an authenticator app after it.
	own func(ctx context.Context, c current, code, ip string) (bool, error)
	// signIn checks a code of the pending sign-in's user.
	signIn func(ctx context.Context, userID, code, ip string) error
	// withoutSession is the request's disableSession: refused when signing
	// in, where the code would be spent for nothing.
	withoutSession bool
}

// codeBody reads a verify body (in, whose code is required) once second
// factors are on, or answers the refusal and returns false.
func (a *API) codeBody(w http.ResponseWriter, r *http.Request, in any, code **string) bool {
	return !a.twoFactorOff(w, r) && a.body(w, r, in, false) && a.missing(w, r, map[string]*string{"code": *code}, "code")
}

// verifyCode checks code as v says. Signed in, the answer is the caller's
// session token and user; signed out, the code finishes the pending sign-in
// of the two-factor cookie with a new session (amr adds otp and mfa).
func (a *API) verifyCode(w http.ResponseWriter, r *http.Request, code string, v codeCheck) {
	c, err := a.lookup(r)
	if err != nil {
		a.serverError(w, r, v.what+": session", err)
		return
	}
	ctx, ip := r.Context(), clientip.FromRequest(r)
	if c.bs != nil {
		hasTOTP, err := v.own(ctx, c, code, ip)
		if err != nil {
			a.codeRefused(w, r, err, false, v.what, v.refused, v.message)
			return
		}
		writeJSON(w, http.StatusOK, tokenUser{Token: c.token, User: userOf(*c.bs.User, hasTOTP)})
		return
	}
	if v.withoutSession {
		a.fail(w, r, http.StatusBadRequest, codeValidation, "Invalid body: disableSession is not supported when signing in: the code would be spent without a session.")
		return
	}
	p, ok := a.pending(w, r)
	if !ok {
		return
	}
	if err := v.signIn(ctx, p.UserID, code, ip); err != nil {
		a.codeRefused(w, r, err, true, v.what, v.refused, v.message)
		return
	}
	a.finishSignIn(w, r, p, mfa.AMROTP)
}

// VerifyTOTP serves POST /api/auth/two-factor/verify-totp {code,
// trustDevice?}. Signed in, the code confirms the authenticator app enable
// began (or, once there is one, is checked against it); the answer is the
// caller's session token and user, twoFactorEnabled now true. Signed out, it
// finishes the pending sign-in of the two-factor cookie with a new session
// (amr adds otp and mfa). trustDevice is accepted and ignored: every sign-in
// asks for the second factor.
func (a *API) VerifyTOTP() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Code        *string `json:"code"`
			TrustDevice *bool   `json:"trustDevice"`
		}
		if !a.codeBody(w, r, &in, &in.Code) {
			return
		}
		a.verifyCode(w, r, *in.Code, codeCheck{what: "verify totp", refused: codeInvalidCode, message: "Invalid code",
			own: a.confirmOrVerifyTOTP,
			signIn: func(ctx context.Context, userID, code, ip string) error {
				_, err := a.mfa.VerifyTOTP(ctx, userID, code, ip)
				return err
			}})
	})
}

// confirmOrVerifyTOTP checks the signed-in caller's code: it confirms the
// authenticator app enable began when none is confirmed yet, else it is
// checked against the confirmed one. Either way the account has one after.
func (a *API) confirmOrVerifyTOTP(ctx context.Context, c current, code, ip string) (bool, error) {
	m, err := a.mfa.Methods(ctx, c.bs.UserID)
	if err != nil {
		return false, err
	}
	if m.TOTP > 0 {
		_, err = a.mfa.VerifyTOTP(ctx, c.bs.UserID, code, ip)
		return err == nil, err
	}
	id, err := a.mfa.PendingTOTPID(ctx, c.bs.UserID)
	if err == nil {
		err = a.mfa.ConfirmTOTP(ctx, c.bs.UserID, id, code, ip)
	}
	return err == nil, err
}

// VerifyBackupCode serves POST /api/auth/two-factor/verify-backup-code {code,
// disableSession?, trustDevice?}: a backup (recovery) code is spent. Signed
// out, it finishes the pending sign-in as verify-totp does; signed in, the
// answer is the caller's session token and user. disableSession is refused
// when signing in (the code would be spent for nothing).
func (a *API) VerifyBackupCode() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Code           *string `json:"code"`
			DisableSession *bool   `json:"disableSession"`
			TrustDevice    *bool   `json:"trustDevice"`
		}
		if !a.codeBody(w, r, &in, &in.Code) {
			return
		}
		spend := func(ctx context.Context, userID, code, ip string) error {
			_, err := a.mfa.UseRecoveryCode(ctx, userID, code, ip)
			return err
		}
		a.verifyCode(w, r, *in.Code, codeCheck{what: "verify backup code", refused: codeInvalidBackupCode, message: "Invalid backup code",
			own: func(ctx context.Context, c current, code, ip string) (bool, error) {
				return c.bs.UserHasTOTP, spend(ctx, c.bs.UserID, code, ip)
			},
			signIn: spend, withoutSession: in.DisableSession != nil && *in.DisableSession})
	})
}

// GenerateBackupCodes serves POST /api/auth/two-factor/generate-backup-codes
// {password}: new backup codes replace the old ones, for an account with a
// second factor (else 400 TWO_FACTOR_NOT_ENABLED).
func (a *API) GenerateBackupCodes() http.Handler {
	return a.withPassword(func(w http.ResponseWriter, r *http.Request, c current) {
		m, err := a.mfa.Methods(r.Context(), c.bs.UserID)
		if err != nil {
			a.serverError(w, r, "generate backup codes", err)
			return
		}
		if !m.Enrolled() {
			a.fail(w, r, http.StatusBadRequest, codeTwoFactorNotEnabled, "Two factor isn't enabled")
			return
		}
		codes, err := a.mfa.NewRecoveryCodes(r.Context(), c.bs.UserID)
		if err != nil {
			a.serverError(w, r, "generate backup codes", err)
			return
		}
		writeJSON(w, http.StatusOK, struct {
			Status      bool     `json:"status"`
			BackupCodes []string `json:"backupCodes"`
		}{true, codes})
	})
}

// DisableTwoFactor serves POST /api/auth/two-factor/disable {password}: the
// caller's authenticator apps go (and with the last factor the backup codes);
// passkeys stay. With none, nothing changes and the answer is the same.
func (a *API) DisableTwoFactor() http.Handler {
	return a.withPassword(func(w http.ResponseWriter, r *http.Request, c current) {
		if _, err := a.mfa.RemoveTOTP(r.Context(), c.bs.UserID); err != nil {
			a.serverError(w, r, "disable two-factor", err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"status": true})
	})
}

// OTPNotConfigured serves POST /api/auth/two-factor/send-otp and
// verify-otp: Better Auth's one-time codes by e-mail or text message, which
// Gatehouse does not send (a mailed code is a weaker factor than the
// authenticator app and the passkey it offers). 400 OTP_NOT_CONFIGURED, as
// Better Auth answers when the plugin has no sender.
func (a *API) OTPNotConfigured() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.fail(w, r, http.StatusBadRequest, codeOTPNotConfigured,
			"OTP is not available: Gatehouse sends no sign-in codes by e-mail. Use an authenticator app (verify-totp) or a backup code (verify-backup-code).")
	})
}
