// Package storage is the only package that reads or writes the database. It owns the
// GORM models (users, browser sessions, accounts, and with later migrations clients
// and every protocol record), the Store that serves them on PostgreSQL and SQLite,
// connection handling suited to Neon (pooled and direct URLs, retry on connection
// loss, bounded start-up wait), the migration runner and the database diagnosis used
// by `gatehouse db check`.
//
// Every dialect guarantees the same things: times are stored and returned in UTC,
// single-row updates are atomic, multi-step writes run in one transaction, e-mail
// addresses are unique regardless of case, and missing rows are reported as
// ErrNotFound and unique-key clashes as ErrConflict.
package storage
