// Package admin serves Gatehouse's admin API: JSON resources for clients, users
// (with their sessions and connected applications), signing keys, the
// branding and upstream identity providers, on a listener of its own (admin.addr, 127.0.0.1:8081 by default),
// never on the public one. Its routes are listed in routes.go; openapi.json describes every one
// of them and is served at GET /openapi.json.
//
// Every /admin route needs "Authorization: Bearer <token>" with one of the
// configured admin tokens (admin.tokens, GATEHOUSE_ADMIN_TOKENS), compared in
// constant time; with none configured those routes answer 503. /healthz,
// /openapi.json and /metrics need no token: they hold nothing secret, and a
// metrics scraper should not hold a credential that can change users and clients.
//
// Errors are RFC 7807 problem details (application/problem+json); while the
// database cannot serve, 503 with Retry-After. Request bodies are JSON objects;
// unknown members are refused and every invalid field is named. The listener
// uses the public one's middleware stack (internal/middleware), so its requests
// get a request id on every log line, one access line each, and a NUL byte or
// invalid UTF-8 in any parameter is a 400 problem before the database sees it.
// The handlers call the same services as `gatehouse clients|users|keys|providers`
// (internal/clients, internal/identity, internal/keys, internal/branding,
// internal/federation), so the CLI and the API
// cannot disagree.
package admin
