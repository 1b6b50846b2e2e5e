// Package outbound is the one HTTP client for every request the server itself
// makes to a URL that someone else chose: a private_key_jwt client's jwks_uri
// today; sector_identifier_uri, request_uri, upstream identity providers and
// logout notifications later. It serves no routes and imports nothing of ours.
//
// A URL named by a client or an upstream is an attacker's lever into the network
// the server sits in (server-side request forgery), so every request is held to
// the same rules:
//
//   - https only; plain http, and any loopback address, only with
//     Options.AllowLoopback (development and tests);
//   - the address actually dialled is checked after DNS resolution, inside the
//     dialer, so a name that resolves (or re-resolves: DNS rebinding) to a
//     private, loopback, link-local, cloud metadata, shared (CGNAT), multicast,
//     reserved or unspecified address, or to an IPv4-mapped or NAT64 form of one,
//     is refused before a packet is sent;
//   - no proxy from the environment, no redirects followed, no retries: exactly
//     one attempt;
//   - one deadline for the whole exchange (DefaultTimeout) and a bounded body
//     (DefaultMaxBody): reading stops at the bound and an over-size body is an
//     error.
//
// Failures are *Error values whose Kind (ErrRefused, ErrTimeout, ErrTooLarge,
// ErrStatus, …) says what happened, for logs. They deliberately do not unwrap to
// net.Error, syscall or io errors: a caller that treats those as "the database is
// unreachable" must never mistake a refused fetch for an outage.
package outbound
