// Package middleware is the one HTTP middleware stack both of Gatehouse's
// listeners wrap their routes in, the public server (internal/server) and the
// admin API (internal/admin), so that they cannot drift apart:
//
//   - a request id, taken from a sane X-Request-Id or made, returned, and on
//     every log line written while serving the request (LogHandler);
//   - one access-log line per request, at a level that follows the status and
//     carrying what the handlers added with internal/reqlog, with panics
//     recovered inside it so the 500 is logged like any response;
//   - security headers and a bound on request bodies;
//   - CheckInput, router middleware that refuses bytes no parameter may hold
//     (NUL, invalid UTF-8) and truncated bodies before a handler or the
//     database sees them.
//
// Refusals are written by the listener's ErrorWriter, in its own error format:
// RFC 6749 JSON or the error page on the public listener, problem+json on the
// admin one. The package serves no routes.
package middleware
