package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	netmail "net/mail"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Retry and retention policy.
const (
	// DefaultBaseBackoff is the delay before the first retry; each further one
	// doubles it, up to maxBackoff. With the default 10 attempts a message rides
	// out an outage of about four hours.
	DefaultBaseBackoff = 30 * time.Second
	maxBackoff         = time.Hour
	// DefaultInterval is how often Run looks for due mail when nothing woke it.
	DefaultInterval = 10 * time.Minute
	// SentRetention is how long a sent message (recipient and subject only: its
	// bodies are dropped when it is sent) is kept, for an operator asking "did
	// it go out?"; FailedRetention likewise for one given up on.
	SentRetention   = 24 * time.Hour
	FailedRetention = 7 * 24 * time.Hour
	// recordTimeout bounds writing one send's outcome.
	recordTimeout = 10 * time.Second
	// maxWakeups bounds the retry times Run keeps a timer for; later ones are
	// found by the periodic look.
	maxWakeups = 100
)

// Options configure an Outbox. Zero values mean the defaults.
type Options struct {
	// Interval is how often Run looks for due mail when nothing woke it: mail
	// queued on this instance (at its commit) or, on PostgreSQL, announced by
	// another, and retries this instance scheduled, wake it at once. It is the
	// fallback for mail nobody announced (an instance that stopped before
	// sending what it queued); default DefaultInterval.
	Interval time.Duration
	// BaseBackoff is the delay before the first retry of a failed send; each
	// further one doubles it, up to an hour. Default DefaultBaseBackoff.
	BaseBackoff time.Duration
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
	baseBackoff time.Duration
	now         func() time.Time
	log         *slog.Logger

	mu sync.Mutex
	// wakeAt holds, sorted, the times at which mail this outbox scheduled (a
	// retry, a lease that will end) becomes due, so Run wakes for it.
	wakeAt []time.Time
}

var _ mail.Mailer = (*Outbox)(nil)

// New returns an outbox that stores mail in store and sends it with m.
func New(store *storage.Store, m mail.Mailer, o Options) *Outbox {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.BaseBackoff <= 0 {
		o.BaseBackoff = DefaultBaseBackoff
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
		lease: o.Lease, baseBackoff: o.BaseBackoff, now: o.Now, log: o.Log,
	}
}

// Enqueue stores m for sending, in the transaction ctx carries if any: rolled
// back with it, and sent only once it is committed. It checks the recipient and
// that there is a text body; sending happens later, in Run (which the commit
// wakes) or Flush.
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
	claimedAt := o.now()
	msgs, err := o.store.ClaimMail(ctx, claimedAt, o.batch, o.lease)
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
			// The rest come back when their lease ends: wake then.
			o.wakeAtTime(claimedAt.Add(o.lease))
			break
		}
		attempts := m.Attempts + 1
		sendErr := o.mailer.Send(sendCtx, mail.Message{To: m.ToAddress, Subject: m.Subject, Text: m.TextBody, HTML: m.HTMLBody})
		if sendErr != nil && ctx.Err() != nil {
			// Shutting down: not the message's fault, so not an attempt; its lease
			// brings it back.
			o.wakeAtTime(claimedAt.Add(o.lease))
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
		next := now.Add(backoff(o.baseBackoff, attempts))
		o.wakeAtTime(next)
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

// backoff returns the delay after the attempts-th failed send: base doubled
// per attempt up to maxBackoff, then between half and all of it at random, so
// that mail queued together during an outage does not retry in step.
func backoff(base time.Duration, attempts int) time.Duration {
	d := maxBackoff
	if attempts < 20 {
		d = min(base<<(attempts-1), maxBackoff)
	}
	return d/2 + rand.N(d/2+1)
}

// wakeAtTime has Run wake at t, when mail this outbox scheduled becomes due.
func (o *Outbox) wakeAtTime(t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i, found := slices.BinarySearchFunc(o.wakeAt, t, time.Time.Compare)
	if found {
		return
	}
	o.wakeAt = slices.Insert(o.wakeAt, i, t)
	if len(o.wakeAt) > maxWakeups {
		o.wakeAt = o.wakeAt[:maxWakeups]
	}
}

// nextWake drops the wake-up times that have come by now and returns the next
// one, if any.
func (o *Outbox) nextWake(now time.Time) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	i, _ := slices.BinarySearchFunc(o.wakeAt, now, time.Time.Compare)
	for i < len(o.wakeAt) && !o.wakeAt[i].After(now) {
		i++
	}
	o.wakeAt = o.wakeAt[i:]
	if len(o.wakeAt) == 0 {
		return time.Time{}, false
	}
	return o.wakeAt[0], true
}

// Run sends due mail until ctx ends. It sleeps until something may be due:
// mail committed through its store (on PostgreSQL, by any instance that
// announces it), the next retry or lease end it scheduled, or, failing those,
// every Interval. It sends nothing to the database while nothing is due, so an
// idle instance lets its database sleep. Each pass claims a batch and is bounded
// by the lease; a backlog is drained batch after batch. It runs as storage
// housekeeping. Send failures are logged by Flush; Run logs the others.
// Retention (deleting old sent and failed rows) is Purge's, which the janitor
// runs.
func (o *Outbox) Run(ctx context.Context) {
	wake, stop := o.store.Watch(storage.TopicMail)
	defer stop()
	ctx = storage.Housekeeping(ctx)
	poll := time.NewTicker(o.interval)
	defer poll.Stop()
	due := time.NewTimer(time.Hour)
	due.Stop()
	defer due.Stop()
	for {
		o.drain(ctx)
		if next, ok := o.nextWake(o.now()); ok {
			due.Reset(max(next.Sub(o.now()), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		case <-wake:
		case <-due.C:
		}
		due.Stop()
	}
}

// drain flushes batch after batch while batches come back full, each pass
// bounded by the lease.
func (o *Outbox) drain(ctx context.Context) {
	for ctx.Err() == nil {
		pctx, cancel := context.WithTimeout(ctx, o.lease)
		claimed, _, err := o.flush(pctx)
		cancel()
		if err != nil && claimed == 0 && ctx.Err() == nil {
			o.log.WarnContext(ctx, "mail outbox flush failed", "error", err.Error())
		}
		if err != nil || claimed < o.batch {
			return
		}
	}
}

// Purge deletes the messages sent more than SentRetention before now and those
// given up on more than FailedRetention ago, in batches of batch rows, and
// returns how many it deleted. The janitor runs it.
func Purge(ctx context.Context, store *storage.Store, now time.Time, batch int) (int64, error) {
	sent, err := store.DeleteSentMail(ctx, now.Add(-SentRetention), batch)
	if err != nil {
		return sent, fmt.Errorf("purge mail: %w", err)
	}
	failed, err := store.DeleteFailedMail(ctx, now.Add(-FailedRetention), batch)
	if err != nil {
		return sent + failed, fmt.Errorf("purge mail: %w", err)
	}
	return sent + failed, nil
}
