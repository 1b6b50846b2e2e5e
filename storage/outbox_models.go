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
// The bodies carry one-time links (e-mail verification, password reset), so a
// database dump must not reveal them: the store seals both bodies together with
// the system secret into SealedBody, bound to the row's id, and keeps the
// text_body and html_body columns empty. Callers read and write TextBody and
// HTMLBody; the store fills them from SealedBody. Rows queued by versions
// before 00009 hold plain bodies and SealedBody nil; they are sent as they are.
// Marking a message sent or failed clears its bodies at once; the janitor
// deletes sent rows after a day and failed ones after a week. Bodies are never
// logged: LastError holds the SMTP error only.
type OutboxMessage struct {
	ID        string `gorm:"type:uuid;primaryKey"`
	ToAddress string `gorm:"not null"`
	Subject   string `gorm:"not null"`
	TextBody  string `gorm:"not null"`
	HTMLBody  string `gorm:"column:html_body;not null;default:''"`
	// SealedBody holds TextBody and HTMLBody sealed with the system secret
	// (additional data "mail_outbox:"+ID); nil for plain rows and once the
	// message is sent or given up. The store reads and writes it; callers leave
	// it alone.
	SealedBody []byte `gorm:"column:sealed_body"`
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
