// Package clientip decides which address a request came from: the one every
// per-client rule uses (sign-in throttling, the address a browser session
// records, the rationing of mail and sign-ups).
//
// The TCP peer is the client unless it is one of the operator's trusted proxies
// (config server.trusted_proxies). Only then are X-Forwarded-For and Forwarded
// (RFC 7239) read, from the right, skipping trusted addresses: the right-most
// address that is not itself a trusted proxy is the client, because every
// address to its left was written by a host we do not trust and may be made up.
// A hop that forwarded garbage or "unknown" stops the walk at the proxy that
// wrote it. When a trusted peer sends both headers and they name different
// clients, one of them was passed through unchanged from the client (most
// proxies set one header and forward the other as it came), and which one
// cannot be told, so the peer itself is the answer: nobody can pick their own
// address by adding the header their proxy does not write.
//
// internal/server resolves the address once per request and puts it in the
// context; handlers read it with FromRequest. It serves no routes.
package clientip
