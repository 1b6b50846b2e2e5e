package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	netmail "net/mail"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Retry and clean-up policy.
const (
	// baseBackoff is the delay before the first retry; each further one doubles
	// it, up to maxBackoff. With the default 10 attempts a message rides out an
	// outage of about four hours.
	baseBackoff = 30 * time.Second
	maxBackoff  = time.Hour
	// sentRetention is how long sent messages (and their one-time links) are
	// kept, for an operator asking "did it go out?"; cleanupEvery is how often
	// Run deletes older ones.
	sentRetention = 24 * time.Hour
	cleanupEvery  = time.Hour
	// recordTimeout bounds writing one send's outcome.
	recordTimeout = 10 * time.Second
)

// Options configure an Outbox. Zero values mean the defaults.
type Options struct {
	// Interval is how often Run looks for due mail; default 2s.
	Interval time.Duration
	// Batch is how many messages one Flush claims; default 20.
	Batch int
	// MaxAttempts is how many sends are tried before a message is given up on;
	// default 10.
	MaxAttempts int
	// Lease is how long a claim keeps other workers off a message; default 1m.
	// Flush stops sending when 90% of it has passed.
	Lease time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Log receives one line per send outcome (never a body); nil discards.
	Log *slog.Logger
}

// Outbox queues mail in the database and sends it. Build it with New; it is safe
// for concurrent use.
type Outbox struct {
	store       *storage.Store
	mailer      mail.Mailer
	interval    time.Duration
	batch       int
	maxAttempts int
	lease       time.Duration
	now         func() time.Time
	log         *slog.Logger
	// kick wakes Run after an Enqueue, so mail does not wait for the interval.
	kick chan struct{}
}

var _ mail.Mailer = (*Outbox)(nil)

// New returns an outbox that stores mail in store and sends it with m.
func New(store *storage.Store, m mail.Mailer, o Options) *Outbox {
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 20
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.Lease <= 0 {
		o.Lease = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Outbox{
		store: store, mailer: m, interval: o.Interval, batch: o.Batch, maxAttempts: o.MaxAttempts,
		lease: o.Lease, now: o.Now, log: o.Log, kick: make(chan struct{}, 1),
	}
}

// Enqueue stores m for sending, in the transaction ctx carries if any: rolled
// back with it, and sent only once it is committed. It checks the recipient and
// that there is a text body; sending happens later, in Run or Flush.
func (o *Outbox) Enqueue(ctx context.Context, m mail.Message) error {
	if _, err := netmail.ParseAddress(m.To); err != nil {
		return fmt.Errorf("enqueue mail: recipient: %w", err)
	}
	if m.Text == "" {
		return errors.New("enqueue mail: empty text body")
	}
	now := o.now().UTC()
	row, err := o.store.EnqueueMail(ctx, storage.OutboxMessage{
		ToAddress: m.To, Subject: m.Subject, TextBody: m.Text, HTMLBody: m.HTML,
		CreatedAt: now, NextAttemptAt: now,
	})
	if err != nil {
		return fmt.Errorf("enqueue mail: %w", err)
	}
	o.log.DebugContext(ctx, "mail queued", "mail_id", row.ID)
	select {
	case o.kick <- struct{}{}:
	default:
	}
	return nil
}

// Send enqueues m; it makes Outbox a mail.Mailer that never loses mail to an
// SMTP outage.
func (o *Outbox) Send(ctx context.Context, m mail.Message) error { return o.Enqueue(ctx, m) }

// Flush makes one pass: it claims up to Batch due messages and sends them one by
// one, marking each sent, or scheduling a retry with exponential backoff and
// jitter, or, after MaxAttempts, failed. It returns how many were sent and every
// error met (a failed send included); a message whose outcome could not be
// recorded is claimed again when its lease ends, so none is lost.
func (o *Outbox) Flush(ctx context.Context) (sent int, err error) {
	_, sent, err = o.flush(ctx)
	return sent, err
}

func (o *Outbox) flush(ctx context.Context) (claimed, sent int, err error) {
	msgs, err := o.store.ClaimMail(ctx, o.now(), o.batch, o.lease)
	if err != nil {
		return 0, 0, fmt.Errorf("flush outbox: %w", err)
	}
	// Stop before the lease ends: past it another worker may claim, and send,
	// the same message. Unsent messages keep their lease and come back after it.
	sendCtx, cancel := context.WithTimeout(ctx, o.lease*9/10)
	defer cancel()
	var errs []error
	for _, m := range msgs {
		if sendCtx.Err() != nil {
			break
		}
		attempts := m.Attempts + 1
		sendErr := o.mailer.Send(sendCtx, mail.Message{To: m.ToAddress, Subject: m.Subject, Text: m.TextBody, HTML: m.HTMLBody})
		if sendErr != nil && ctx.Err() != nil {
			// Shutting down: not the message's fault, so not an attempt; its lease
			// brings it back.
			errs = append(errs, ctx.Err())
			break
		}
		// Record the outcome even if ctx ends meanwhile: a delivered message left
		// pending would be delivered again.
		recCtx, recCancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
		err := o.record(recCtx, m, attempts, sendErr)
		recCancel()
		if err != nil {
			errs = append(errs, err)
		}
		if sendErr != nil {
			errs = append(errs, fmt.Errorf("send mail %s: %w", m.ID, sendErr))
			continue
		}
		sent++
	}
	if len(errs) > 0 {
		return len(msgs), sent, fmt.Errorf("flush outbox: %w", errors.Join(errs...))
	}
	return len(msgs), sent, nil
}

// record stores the outcome of one send and logs it. The send error is the
// mailer's (an SMTP reply, a network error) and never carries the body.
func (o *Outbox) record(ctx context.Context, m storage.OutboxMessage, attempts int, sendErr error) error {
	now := o.now()
	var err error
	switch {
	case sendErr == nil:
		err = o.store.MarkMailSent(ctx, m.ID, attempts, now)
		o.log.InfoContext(ctx, "mail sent", "mail_id", m.ID, "attempts", attempts)
	case attempts >= o.maxAttempts:
		err = o.store.MarkMailFailed(ctx, m.ID, attempts, sendErr.Error())
		o.log.ErrorContext(ctx, "mail given up", "mail_id", m.ID, "attempts", attempts, "error", sendErr.Error())
	default:
		next := now.Add(backoff(attempts))
		err = o.store.MarkMailRetry(ctx, m.ID, attempts, next, sendErr.Error())
		o.log.WarnContext(ctx, "mail not sent, will retry", "mail_id", m.ID, "attempts", attempts,
			"retry_at", next.UTC().Format(time.RFC3339), "error", sendErr.Error())
	}
	if err != nil {
		o.log.ErrorContext(ctx, "mail outcome not recorded", "mail_id", m.ID, "error", err.Error())
		return fmt.Errorf("record mail %s: %w", m.ID, err)
	}
	return nil
}

// backoff returns the delay after the attempts-th failed send: baseBackoff
// doubled per attempt up to maxBackoff, then between half and all of it at
// random, so that mail queued together during an outage does not retry in step.
func backoff(attempts int) time.Duration {
	d := maxBackoff
	if attempts < 20 {
		d = min(baseBackoff<<(attempts-1), maxBackoff)
	}
	return d/2 + rand.N(d/2+1)
}

// Run flushes every Interval (and soon after each Enqueue) until ctx ends,
// draining a backlog batch after batch, and once an hour deletes messages sent
// more than a day ago. Send failures are logged by Flush; Run logs the others.
func (o *Outbox) Run(ctx context.Context) {
	ticker := time.NewTicker(o.interval)
	defer ticker.Stop()
	var lastCleanup time.Time
	for {
		for ctx.Err() == nil {
			claimed, _, err := o.flush(ctx)
			if err != nil && claimed == 0 && ctx.Err() == nil {
				o.log.WarnContext(ctx, "mail outbox flush failed", "error", err.Error())
			}
			if err != nil || claimed < o.batch {
				break
			}
		}
		if now := o.now(); ctx.Err() == nil && now.Sub(lastCleanup) >= cleanupEvery {
			if n, err := o.store.DeleteSentMail(ctx, now.Add(-sentRetention), 1000); err != nil {
				o.log.WarnContext(ctx, "mail outbox clean-up failed", "error", err.Error())
			} else {
				lastCleanup = now
				if n > 0 {
					o.log.InfoContext(ctx, "sent mail deleted", "count", n)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-o.kick:
		}
	}
}
