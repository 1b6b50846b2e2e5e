// Package identity owns Gatehouse's rules about users: how passwords are chosen,
// hashed (argon2id, PHC strings) and checked; how sign-in failures are throttled
// per (account, client IP) and per client IP, so that wrong passwords typed
// elsewhere never lock the owner out, with a password reset lifting an
// account's locks; how mail (verification, reset, sign-up notices) and sign-ups
// are rationed per address and per client IP; how sign-up answers alike whether
// an address is registered or not, and lets the mailed link sign in the browser
// that signed up; and the single-use links mailed to verify an e-mail address or
// reset a password. All counters live in the database, so every instance agrees.
// It also takes in users imported from other systems (ImportUsers, for
// gatehouse import): their password hashes (Better Auth's scrypt, bcrypt) are
// checked at sign-in and replaced by argon2id at the first success, and the
// mapping of their old ids and their upstream accounts are kept.
//
// It serves no routes: the pages in internal/web and the CLI call its Service.
// Mail leaves through the Sender interface, which the binary wires to the outbox.
// Client addresses arrive as strings from internal/clientip (the caller's job).
package identity
