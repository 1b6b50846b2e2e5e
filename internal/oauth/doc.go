// Package oauth is Gatehouse's OAuth 2.0 and OpenID Connect protocol layer: it
// composes ory/fosite on the storage.Store and serves the discovery and JWKS
// documents and the authorize, token, userinfo, introspection, revocation and
// pushed-authorization endpoints (routes in internal/server/routes.go). It is the
// only package besides storage that touches fosite. Browser apps may call the
// token, userinfo and revocation endpoints from their own origins: CORS and
// Preflight (cors.go) decide which origins may read the answers.
//
// The authorize and logout endpoints meet people through signin.Interaction: the
// sign-in, consent and sign-out pages (internal/web) implement it, and the protocol
// code never changes when they do.
//
// The provider's own requests to other servers (a private_key_jwt client's
// jwks_uri, jwks.go) go through internal/outbound's guarded client, never
// fosite's default fetcher: a failed fetch is invalid_client with one generic
// sentence, its cause on the request's log line.
package oauth
