// Package mail sends Gatehouse's e-mail (address verification, password reset).
// It owns the Mailer interface and two implementations: SMTP, which delivers
// through a submission server over STARTTLS or implicit TLS with AUTH PLAIN, and
// Dev, the embedded default, which only logs each message (the link included) so
// that a developer can follow it. It serves no routes and imports nothing of ours;
// internal/outbox queues mail in the database and hands it to a Mailer.
package mail
