// Package keys owns Gatehouse's signing keys: it generates them (RS256 with RSA
// 2048, ES256 with P-256), stores them through storage with the private key sealed
// by the system secret, rotates them, and publishes the public halves as a JSON Web
// Key Set (RFC 7517).
//
// A Manager serves signing and verification from an in-memory snapshot, so issuing
// a token costs no database round trip. Run reloads the snapshot when a rotation
// is announced (on PostgreSQL, every listening instance at once) and otherwise
// each RefreshInterval, so a key rotated on one instance is published by all
// within that bound. A rotated key therefore starts signing only one
// RefreshInterval after the rotation, and the key it replaces signs until then:
// no instance signs with a key another instance's JWKS lacks. A retired key stays
// published until every token it may have signed has expired, then leaves the
// JWKS.
//
// It serves no routes itself: internal/oauth serves /.well-known/jwks.json from
// Manager.JWKS, and cmd/gatehouse offers `gatehouse keys list|rotate`.
package keys
