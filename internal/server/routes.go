package server

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/authapi"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/internal/web"
)

// addRoutes lists every public route, one line each: this file is the whole HTTP
// surface. Routes a person's browser shows are marked with page, so that a
// request the middleware refuses gets the error page there and RFC 6749 JSON
// elsewhere.
func addRoutes(r *mux.Router, page func(*mux.Route) *mux.Route, h *health, o *oauth.Handler, p *web.Pages, api *authapi.API) {
	r.Handle("/healthz", h.live()).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/readyz", h.readiness()).Methods(http.MethodGet, http.MethodHead)
	if p != nil {
		page(r.Handle("/signin", p.CSRF(p.SignInForm())).Methods(http.MethodGet, http.MethodPost))
		page(r.Handle("/signin/passkey/options", p.CSRF(p.PasskeySignInOptions())).Methods(http.MethodPost))
		page(r.Handle("/signin/passkey", p.CSRF(p.PasskeySignIn())).Methods(http.MethodPost))
		page(r.Handle("/signup", p.CSRF(p.SignUp())).Methods(http.MethodGet, http.MethodPost))
		page(r.Handle("/signin/second-factor", p.CSRF(p.SecondFactor())).Methods(http.MethodGet, http.MethodPost))
		page(r.Handle("/signin/second-factor/passkey/options", p.CSRF(p.PasskeySecondFactorOptions())).Methods(http.MethodPost))
		page(r.Handle("/signin/second-factor/passkey", p.CSRF(p.PasskeySecondFactor())).Methods(http.MethodPost))
		page(r.Handle("/signin/set-up-second-factor", p.CSRF(p.SetUpSecondFactor())).Methods(http.MethodGet, http.MethodPost))
		page(r.Handle("/consent", p.CSRF(p.Consent())).Methods(http.MethodPost))
		page(r.Handle("/signout", p.CSRF(p.SignOutForm())).Methods(http.MethodPost))
		page(r.Handle("/forgot-password", p.CSRF(p.ForgotPassword())).Methods(http.MethodGet, http.MethodPost))
		page(r.Handle("/reset-password", p.CSRF(p.ResetPassword())).Methods(http.MethodGet, http.MethodPost))
		page(r.Handle("/verify-email", p.CSRF(p.VerifyEmail())).Methods(http.MethodGet))
		page(r.Handle("/account", p.CSRF(p.Account())).Methods(http.MethodGet))
		page(r.Handle("/account/profile", p.CSRF(p.AccountProfile())).Methods(http.MethodPost))
		page(r.Handle("/account/password", p.CSRF(p.AccountPassword())).Methods(http.MethodPost))
		page(r.Handle("/account/verify-email", p.CSRF(p.ResendVerification())).Methods(http.MethodPost))
		page(r.Handle("/account/applications/revoke", p.CSRF(p.RevokeApplication())).Methods(http.MethodGet, http.MethodPost))
		page(r.Handle("/account/sessions/end", p.CSRF(p.SignOutEverywhere())).Methods(http.MethodGet, http.MethodPost))
		page(r.Handle("/account/sessions/sign-out", p.CSRF(p.SignOutSession())).Methods(http.MethodPost))
		// Sign-in through upstream identity providers (internal/federation).
		page(r.Handle("/signin/with/{provider}", p.CSRF(p.SignInWith())).Methods(http.MethodGet))
		page(r.Handle("/signin/callback/{provider}", p.CSRF(p.FederatedCallback())).Methods(http.MethodGet))
		page(r.Handle("/signin/link", p.CSRF(p.LinkAccount())).Methods(http.MethodGet, http.MethodPost))
		page(r.Handle("/signin/link/mail", p.CSRF(p.LinkByMail())).Methods(http.MethodGet))
		page(r.Handle("/signin/link/passkey/options", p.CSRF(p.LinkPasskeyOptions())).Methods(http.MethodPost))
		page(r.Handle("/signin/link/passkey", p.CSRF(p.LinkPasskey())).Methods(http.MethodPost))
		page(r.Handle("/account/identities/link", p.CSRF(p.LinkIdentity())).Methods(http.MethodPost))
		page(r.Handle("/account/identities/unlink", p.CSRF(p.UnlinkIdentity())).Methods(http.MethodPost))
		page(r.Handle("/account/passkeys/options", p.CSRF(p.PasskeyRegisterOptions())).Methods(http.MethodPost))
		page(r.Handle("/account/passkeys", p.CSRF(p.AddPasskey())).Methods(http.MethodPost))
		page(r.Handle("/account/passkeys/rename", p.CSRF(p.RenamePasskey())).Methods(http.MethodPost))
		page(r.Handle("/account/passkeys/remove", p.CSRF(p.RemovePasskey())).Methods(http.MethodPost))
		page(r.Handle("/account/mfa", p.CSRF(p.AccountMFA())).Methods(http.MethodGet, http.MethodPost))
		page(r.Handle("/account/mfa/totp", p.CSRF(p.AccountTOTP())).Methods(http.MethodPost))
		page(r.Handle("/static/branding.css", p.BrandingStylesheet()).Methods(http.MethodGet, http.MethodHead))
		page(r.PathPrefix("/static/").Handler(p.Static()).Methods(http.MethodGet, http.MethodHead))
		r.Handle("/favicon.ico", p.Favicon()).Methods(http.MethodGet, http.MethodHead)
	}
	if api != nil {
		// The JSON API for first-party apps (Better Auth's shape); Guard adds
		// CORS for trusted origins and refuses cookie-carrying POSTs from others.
		g := api.Guard
		r.Handle("/api/auth/sign-up/email", g(api.SignUpEmail())).Methods(http.MethodPost)
		r.Handle("/api/auth/sign-in/email", g(api.SignInEmail())).Methods(http.MethodPost)
		r.Handle("/api/auth/sign-in/social", g(api.SignInSocial())).Methods(http.MethodPost)
		r.Handle("/api/auth/callback/{provider}", g(api.SocialCallback())).Methods(http.MethodGet)
		r.Handle("/api/auth/get-session", g(api.GetSession())).Methods(http.MethodGet)
		r.Handle("/api/auth/sign-out", g(api.SignOut())).Methods(http.MethodPost)
		r.Handle("/api/auth/request-password-reset", g(api.RequestPasswordReset())).Methods(http.MethodPost)
		r.Handle("/api/auth/reset-password/{token}", g(api.ResetPasswordCallback())).Methods(http.MethodGet)
		r.Handle("/api/auth/reset-password", g(api.ResetPassword())).Methods(http.MethodPost)
		r.Handle("/api/auth/send-verification-email", g(api.SendVerificationEmail())).Methods(http.MethodPost)
		r.Handle("/api/auth/verify-email", g(api.VerifyEmail())).Methods(http.MethodGet)
		r.Handle("/api/auth/change-password", g(api.ChangePassword())).Methods(http.MethodPost)
		r.Handle("/api/auth/update-user", g(api.UpdateUser())).Methods(http.MethodPost)
		r.Handle("/api/auth/list-sessions", g(api.ListSessions())).Methods(http.MethodGet)
		r.Handle("/api/auth/revoke-session", g(api.RevokeSession())).Methods(http.MethodPost)
		r.Handle("/api/auth/revoke-sessions", g(api.RevokeSessions())).Methods(http.MethodPost)
		r.Handle("/api/auth/revoke-other-sessions", g(api.RevokeOtherSessions())).Methods(http.MethodPost)
		r.Handle("/api/auth/delete-user", g(api.DeleteUser())).Methods(http.MethodPost)
		r.Handle("/api/auth/passkey/generate-register-options", g(api.PasskeyRegisterOptions())).Methods(http.MethodGet)
		r.Handle("/api/auth/passkey/verify-registration", g(api.PasskeyVerifyRegistration())).Methods(http.MethodPost)
		r.Handle("/api/auth/passkey/generate-authenticate-options", g(api.PasskeyAuthenticateOptions())).Methods(http.MethodGet)
		r.Handle("/api/auth/passkey/verify-authentication", g(api.PasskeyVerifyAuthentication())).Methods(http.MethodPost)
		r.Handle("/api/auth/passkey/list-user-passkeys", g(api.ListPasskeys())).Methods(http.MethodGet)
		r.Handle("/api/auth/passkey/delete-passkey", g(api.DeletePasskey())).Methods(http.MethodPost)
		r.Handle("/api/auth/passkey/update-passkey", g(api.UpdatePasskey())).Methods(http.MethodPost)
		r.Handle("/api/auth/list-accounts", g(api.ListAccounts())).Methods(http.MethodGet)
		r.Handle("/api/auth/link-social", g(api.LinkSocial())).Methods(http.MethodPost)
		r.Handle("/api/auth/unlink-account", g(api.UnlinkAccount())).Methods(http.MethodPost)
		r.Handle("/api/auth/get-access-token", g(api.GetAccessToken())).Methods(http.MethodPost)
		r.Handle("/api/auth/two-factor/enable", g(api.EnableTwoFactor())).Methods(http.MethodPost)
		r.Handle("/api/auth/two-factor/get-totp-uri", g(api.GetTOTPURI())).Methods(http.MethodPost)
		r.Handle("/api/auth/two-factor/verify-totp", g(api.VerifyTOTP())).Methods(http.MethodPost)
		r.Handle("/api/auth/two-factor/verify-backup-code", g(api.VerifyBackupCode())).Methods(http.MethodPost)
		r.Handle("/api/auth/two-factor/generate-backup-codes", g(api.GenerateBackupCodes())).Methods(http.MethodPost)
		r.Handle("/api/auth/two-factor/disable", g(api.DisableTwoFactor())).Methods(http.MethodPost)
		r.Handle("/api/auth/two-factor/send-otp", g(api.OTPNotConfigured())).Methods(http.MethodPost)
		r.Handle("/api/auth/two-factor/verify-otp", g(api.OTPNotConfigured())).Methods(http.MethodPost)
		r.Handle("/api/auth/ok", g(api.OK())).Methods(http.MethodGet)
		r.Handle("/api/auth/token", g(api.Token())).Methods(http.MethodGet)
		r.Handle("/api/auth/jwks", g(api.JWKS())).Methods(http.MethodGet)
		r.Handle("/api/auth/openapi.json", g(api.OpenAPI())).Methods(http.MethodGet)
		r.Handle("/api/auth/reference", api.Reference()).Methods(http.MethodGet)
		r.PathPrefix("/api/auth/").Handler(api.Preflight()).Methods(http.MethodOptions)
	}
	if o == nil {
		return
	}
	r.Handle("/.well-known/openid-configuration", o.Discovery()).Methods(http.MethodGet, http.MethodHead)
	r.Handle("/.well-known/jwks.json", o.JWKS()).Methods(http.MethodGet, http.MethodHead)
	page(r.Handle("/oauth2/authorize", o.Authorize()).Methods(http.MethodGet, http.MethodPost))
	// Browser apps may call token, revoke and userinfo from their own origin
	// (CORS, see internal/oauth/cors.go); no other endpoint answers preflights.
	r.Handle("/oauth2/token", o.CORS(o.Token())).Methods(http.MethodPost)
	r.Handle("/oauth2/token", o.Preflight(http.MethodPost)).Methods(http.MethodOptions)
	r.Handle("/oauth2/par", o.PushedAuthorize()).Methods(http.MethodPost)
	r.Handle("/oauth2/introspect", o.Introspect()).Methods(http.MethodPost)
	r.Handle("/oauth2/revoke", o.CORS(o.Revoke())).Methods(http.MethodPost)
	r.Handle("/oauth2/revoke", o.Preflight(http.MethodPost)).Methods(http.MethodOptions)
	page(r.Handle("/oauth2/logout", o.Logout()).Methods(http.MethodGet, http.MethodPost))
	r.Handle("/userinfo", o.CORS(o.UserInfo())).Methods(http.MethodGet, http.MethodPost)
	r.Handle("/userinfo", o.Preflight(http.MethodGet, http.MethodPost)).Methods(http.MethodOptions)
	if o.RegistrationEnabled() { // off by default: then these answer 404
		r.Handle("/oauth2/register", o.Register()).Methods(http.MethodPost)
		r.Handle("/oauth2/register/{client_id}", o.RegisteredClient()).Methods(http.MethodGet)
		r.Handle("/oauth2/register/{client_id}", o.UpdateRegistration()).Methods(http.MethodPut)
		r.Handle("/oauth2/register/{client_id}", o.DeleteRegistration()).Methods(http.MethodDelete)
	}
}
