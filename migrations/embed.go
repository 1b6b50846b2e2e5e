// Package migrations holds Gatehouse's versioned SQL schema, one directory per
// dialect (postgres/, sqlite/), embedded in the binary. Every version exists in both
// directories; .ci/run fails on a version without its twin. PostgreSQL is the
// reference schema.
package migrations

import "embed"

// FS holds postgres/*.sql and sqlite/*.sql.
//
//go:embed postgres/*.sql sqlite/*.sql
var FS embed.FS
