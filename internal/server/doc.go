// Package server assembles Gatehouse's public HTTP surface: every route, in
// routes.go, wrapped in the middleware stack the admin listener shares
// (internal/middleware: request id, panic recovery, access log, security
// headers, body limit, and the input check that refuses NUL bytes, invalid
// UTF-8 and truncated bodies with 400). It decides which routes are pages, so
// that a refused request gets the error page there and RFC 6749 JSON
// elsewhere; a path no route serves is the HTML 404 page for a browser (Accept:
// text/html, outside the protocol and API prefixes) and JSON otherwise. It
// serves /healthz and /readyz itself.
package server
