// Package identity owns Gatehouse's rules about users: how passwords are chosen,
// hashed (argon2id, PHC strings) and checked, how sign-in failures are throttled
// per account and per client IP (state in the database, so every instance agrees),
// and the single-use links mailed to verify an e-mail address or reset a password.
//
// It serves no routes: the pages in internal/web and the CLI call its Service.
// Mail leaves through the Sender interface, which the binary wires to the outbox.
package identity
