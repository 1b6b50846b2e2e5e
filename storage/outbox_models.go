package storage

import "time"

// The states of an outbox message.
const (
	// MailPending marks a message waiting to be sent, for the first time or again.
	MailPending = "pending"
	// MailSent marks a message the SMTP server accepted.
	MailSent = "sent"
	// MailFailed marks a message given up on after too many attempts; it is kept
	// so that an operator can see what was lost.
	MailFailed = "failed"
)

// OutboxMessage is an e-mail waiting in, or kept in, the outbox. Mail is written
// here (in the transaction of whatever caused it) and sent by a worker, so an SMTP
// outage delays mail but loses none.
//
// The bodies carry one-time links (e-mail verification, password reset). They are
// short-lived and the table is the outbox, so they are stored, but never logged:
// LastError holds the SMTP error only, and sent rows are deleted by DeleteSentMail.
type OutboxMessage struct {
	ID        string `gorm:"type:uuid;primaryKey"`
	ToAddress string `gorm:"not null"`
	Subject   string `gorm:"not null"`
	TextBody  string `gorm:"not null"`
	HTMLBody  string `gorm:"column:html_body;not null;default:''"`
	// Status is MailPending, MailSent or MailFailed.
	Status string `gorm:"not null;default:'pending';index:mail_outbox_due_idx,priority:1;check:mail_outbox_status,status IN ('pending', 'sent', 'failed')"`
	// Attempts counts the sends tried so far.
	Attempts int `gorm:"not null;default:0"`
	// NextAttemptAt is when a pending message is due.
	NextAttemptAt time.Time `gorm:"not null;index:mail_outbox_due_idx,priority:2"`
	// LockedUntil, when in the future, means a worker has claimed the message and
	// no other may send it (see ClaimMail).
	LockedUntil *time.Time `gorm:""`
	// LastError is the last send error, never containing the message body.
	LastError string     `gorm:"not null;default:''"`
	CreatedAt time.Time  `gorm:"not null"`
	SentAt    *time.Time `gorm:"index:mail_outbox_sent_at_idx"`
}

// TableName names the table for what it is.
func (OutboxMessage) TableName() string { return "mail_outbox" }

// outboxModels lists the outbox models.
func outboxModels() []any {
	return []any{&OutboxMessage{}}
}
