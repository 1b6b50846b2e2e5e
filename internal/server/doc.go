// Package server assembles Gatehouse's public HTTP surface: every route, in
// routes.go, and the middleware every request passes (request id, panic recovery,
// access log, security headers, body limit). It serves /healthz and /readyz itself.
package server
