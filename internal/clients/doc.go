// Package clients owns the rules for registering OAuth 2.0 client applications:
// what a valid client looks like, the defaults an omitted field gets, how client
// IDs and secrets are made, and the JSON shapes (Spec in, View out) the CLI and the
// admin API share. It serves no routes itself; `gatehouse clients …` and the admin
// API (internal/admin) call its Service, so the two can never disagree.
//
// Secrets are generated here with 256 bits from crypto/rand, returned once, and
// stored only as storage.Sealer.HashClientSecret of the secret.
package clients
