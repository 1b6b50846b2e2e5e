// Package metrics owns Gatehouse's Prometheus metrics: HTTP requests by route
// template and status with latency histograms, tokens issued by grant type,
// sign-in outcomes, the database pool, the schema's migration version, build
// information, and the Go runtime and process collectors.
//
// Every metric lives in the registry of one Metrics value; nothing is registered
// globally. Metrics.Handler serves GET /metrics, which cmd/gatehouse mounts on the
// admin listener only, never on the public one.
package metrics
