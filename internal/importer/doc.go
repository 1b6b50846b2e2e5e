// Package importer brings the users of another authentication system into
// Gatehouse: `gatehouse import better-auth` reads a Better Auth database
// (PostgreSQL) and hands each user to the identity service
// (identity.ImportUsers), which owns every write.
//
// It owns no data of its own and no routes. It is the one place outside
// storage that speaks SQL, and only to the source database, read-only: one
// REPEATABLE READ, READ ONLY transaction gives a consistent snapshot, and a
// cursor reads users in batches. It detects Better Auth's core tables ("user",
// "account", "session", "verification") with camelCase or snake_case columns,
// ignores plugin columns, and counts what it cannot bring: sessions (not
// portable: users sign in again), verification rows, two-factor secrets and
// passkeys (until Gatehouse has multi-factor authentication).
package importer
