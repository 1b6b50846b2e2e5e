// Package outbox makes e-mail survive an SMTP outage. Enqueue writes a message to
// the mail_outbox table (in the caller's transaction when the context carries
// one, so that mail goes out only if the change that caused it is committed;
// the store seals the bodies, whose links must not be readable in a dump), and
// a worker (Run) claims due messages, hands them to a mail.Mailer, and marks
// them sent or schedules a retry with exponential backoff and jitter, giving up
// after a bound (the message is kept as failed and logged). Claims are leased, so
// any number of instances can run the worker on one database and none sends a
// message another is sending. Run is woken by the commit of queued mail and by
// the retries it scheduled, and otherwise looks only every Interval, so an idle
// server sends its database nothing. Purge deletes old sent and failed rows. It
// serves no routes.
//
// Outbox is itself a mail.Mailer (Send enqueues), so packages that may import
// only internal/mail send through it without knowing it.
package outbox
