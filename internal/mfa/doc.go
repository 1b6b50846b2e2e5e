// Package mfa owns a user's second factors and recovery codes: enrolling and
// checking authenticator apps (TOTP, RFC 6238), generating and spending
// recovery codes, removing factors (the user's own, or an operator's reset),
// and the MFA policy that says who must use a second factor. Passkeys
// (WebAuthn) are stored in the same table (storage.Factor) and counted here as
// methods; their ceremonies live beside this package's TOTP code.
//
// It serves no routes itself: the pages (internal/web, /signin/second-factor
// and the account page's "Sign-in methods") and the JSON API
// (internal/authapi, /api/auth/two-factor/*) are two faces over Service.
package mfa
