// Package authapi serves /api/auth/*, the JSON authentication API for
// first-party apps. Its paths, bodies, answers and error codes follow Better
// Auth's core API (version 1.7), so that Better Auth's client library
// (createAuthClient({ baseURL })) works against Gatehouse unchanged.
//
// It is a thin face over internal/identity and internal/session, like the pages
// of internal/web: the same sign-in (throttling, lock-out per account and
// client address, mail rationing, logs and metrics) and the same browser
// session cookie, so that a session made here is the one the pages and the
// OpenID Connect flows see. Native apps may use the session token as a bearer
// credential instead (Better Auth's bearer plugin): it comes in the
// set-auth-token response header and goes back as Authorization: Bearer.
//
// Cookie-carrying unsafe requests must come from a trusted origin (the
// issuer's, or api.trusted_origins); CORS with credentials answers only those.
// The API's contract is openapi.json (OpenAPI 3.1), served at
// /api/auth/openapi.json and rendered as a page at /api/auth/reference; the
// tests check every answer against it.
//
// Routes (internal/server/routes.go): POST sign-up/email, sign-in/email,
// sign-out, request-password-reset, reset-password, send-verification-email,
// change-password, update-user, revoke-session, revoke-sessions,
// revoke-other-sessions, delete-user, two-factor/enable, two-factor/get-totp-uri,
// two-factor/verify-totp, two-factor/verify-backup-code,
// two-factor/generate-backup-codes, two-factor/disable, two-factor/send-otp and
// two-factor/verify-otp (these two answer OTP_NOT_CONFIGURED); GET get-session,
// reset-password/{token}, verify-email, list-sessions, ok, token, jwks,
// openapi.json, reference; the accounts (accounts.go): GET list-accounts, POST
// link-social, unlink-account, get-access-token; and OPTIONS (CORS preflight)
// on every path.
package authapi
