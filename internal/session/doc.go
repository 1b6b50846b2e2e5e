// Package session owns the browser-session cookie: it issues a session when a
// person signs in, finds it again on later requests, rotates it on every sign-in
// and ends it on sign-out. The cookie carries a random token; the database keeps
// only its SHA-256 (storage.BrowserSession.TokenHash), so a leaked table does not
// leak sessions. It serves no routes of its own: internal/web and, through
// internal/signin, internal/oauth use it.
package session
