package mail

import (
	"context"
	"log/slog"
	"sync"
)

// Message is one e-mail to one recipient. Text is required (it carries the link
// for readers without HTML); HTML, when set, is sent as the alternative part.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// LogValue logs a message without its bodies, which carry one-time links.
func (m Message) LogValue() slog.Value {
	return slog.GroupValue(slog.String("to", m.To), slog.String("subject", m.Subject))
}

// Mailer sends one message. Send returns nil only when the message was handed
// over for delivery; callers that must not lose mail queue it (internal/outbox)
// and retry on error.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

var (
	_ Mailer = (*SMTP)(nil)
	_ Mailer = (*Dev)(nil)
)

// devKeep bounds how many messages Dev remembers for Messages.
const devKeep = 100

// Dev is the development mailer: it sends nothing and logs every message, text
// body included, at info level, so that whoever runs Gatehouse locally can open
// the link from the log. It also remembers the last 100 messages for tests. Build
// it with NewDev; it is safe for concurrent use.
type Dev struct {
	log *slog.Logger

	mu   sync.Mutex
	sent []Message
}

// NewDev returns a development mailer that logs to log (nil discards).
func NewDev(log *slog.Logger) *Dev {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dev{log: log}
}

// Send logs m and remembers it. It fails only when ctx is already done.
func (d *Dev) Send(ctx context.Context, m Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Logging the text body is the point of this mailer: it carries the link. No
	// other code logs message bodies.
	d.log.InfoContext(ctx, "mail not sent (development mailer)", "to", m.To, "subject", m.Subject, "text", m.Text)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.sent = append(d.sent, m)
	if len(d.sent) > devKeep {
		d.sent = append(d.sent[:0:0], d.sent[len(d.sent)-devKeep:]...)
	}
	return nil
}

// Messages returns the messages sent so far, oldest first (at most the last 100).
func (d *Dev) Messages() []Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Message(nil), d.sent...)
}
