// Package federation signs people in through upstream identity providers: a
// generic OpenID Connect provider found by its issuer (discovery, code flow
// with PKCE, state and nonce, the ID token verified with go-oidc, userinfo),
// presets for Google, Microsoft, GitLab and GitHub (OAuth 2.0 and its user
// and e-mail APIs), and the external identities that link an upstream
// account to a Gatehouse user.
//
// It owns the rules of linking: an upstream account already linked signs its
// user in; a new address makes a user when the provider may create accounts;
// an address that belongs to a user is linked only after that user proves the
// account (the pages ask for the password, a passkey, or open a single-use
// link mailed to the address in the same browser: MailLink,
// ConfirmMailedLink) and never on an address the provider did not verify. A
// user may unlink an identity unless it is their last way to sign in (no
// password, no passkey, no other identity).
//
// State, nonce and the PKCE verifier travel in a short-lived cookie sealed
// with the system secret (storage.Sealer), bound to the browser and cleared
// at the callback, so any instance can finish a flow another began and a
// callback is used once. Every upstream request goes through the guarded
// outbound client (internal/outbound).
//
// Providers come from the configuration file and, at run time, from the
// store (AddProvider, ChangeProvider, RemoveProvider: the admin API's
// /admin/providers), their client secrets sealed there with the system
// secret. The stored ones are kept in memory until the store announces a
// change (on PostgreSQL, made by any instance) or, where changes cannot be
// heard, for the cache TTL. A stored provider cannot take a configured one's
// id; removing one leaves its users' external identities in place.
//
// It serves no routes itself: the pages (internal/web: /signin/with/{id},
// /signin/callback/{id}, /signin/link, /signin/link/mail, /signin/link/passkey,
// /account/identities/…) and the JSON API (internal/authapi) call it;
// internal/server/routes.go lists them.
package federation
