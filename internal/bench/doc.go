// Package bench is Gatehouse's load tool, run as `gatehouse bench`: it drives a
// deployment (any URL) with one scenario at a time — client credentials,
// introspection, discovery, the signed-in authorization code flow, first sign-in —
// from a fixed number of workers for a fixed time after a warm-up, and reports
// requests, errors by kind, throughput and latency percentiles, and, given the
// server's process id on the same machine, its CPU seconds and peak resident memory.
// It creates its own client and user through the admin API and removes them after.
//
// LatencyProxy (`gatehouse bench proxy`) puts a database at a distance: a TCP
// proxy that adds a round-trip time, for measuring what round trips cost.
//
// Seed (`gatehouse bench seed`) fills a database with generated clients, users and
// stored tokens through storage, to measure a big deployment.
package bench
