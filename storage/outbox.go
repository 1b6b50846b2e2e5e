package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// maxLastError bounds the stored send error: an SMTP reply is a line or two.
const maxLastError = 1000

// errMailNoSealer refuses to queue mail without system secrets: bodies carry
// live links and are stored only encrypted.
var errMailNoSealer = errors.New("no system secret configured: mail bodies are stored only encrypted")

// mailBody is what SealedBody seals.
type mailBody struct {
	Text string `json:"t"`
	HTML string `json:"h,omitempty"`
}

// mailAAD binds a sealed body to its row, so it cannot be moved to another
// message (another recipient).
func mailAAD(id string) []byte { return []byte("mail_outbox:" + id) }

// sealMail moves m's bodies into SealedBody.
func (s *Store) sealMail(m *OutboxMessage) error {
	if s.sealer == nil {
		return errMailNoSealer
	}
	b, err := json.Marshal(mailBody{Text: m.TextBody, HTML: m.HTMLBody})
	if err != nil {
		return err
	}
	m.SealedBody = s.sealer.Seal(b, mailAAD(m.ID))
	m.TextBody, m.HTMLBody = "", ""
	return nil
}

// openMail fills m's bodies from SealedBody (a plain row, queued before bodies
// were sealed, keeps its own), and clears SealedBody.
func (s *Store) openMail(m *OutboxMessage) error {
	if len(m.SealedBody) == 0 {
		m.SealedBody = nil
		return nil
	}
	if s.sealer == nil {
		return errMailNoSealer
	}
	b, err := s.sealer.Open(m.SealedBody, mailAAD(m.ID))
	if err != nil {
		return err
	}
	var body mailBody
	if err := json.Unmarshal(b, &body); err != nil {
		return fmt.Errorf("sealed body: %w", err)
	}
	m.TextBody, m.HTMLBody, m.SealedBody = body.Text, body.HTML, nil
	return nil
}

// EnqueueMail stores m as a pending message, in the transaction ctx carries if
// any, with its bodies sealed (see OutboxMessage). It sets ID (when empty),
// Status, Attempts and CreatedAt; a zero NextAttemptAt means due at once. Once
// the message is committed, watchers of TopicMail are woken, on every instance
// that listens. It refuses to store mail without a system secret.
func (s *Store) EnqueueMail(ctx context.Context, m OutboxMessage) (OutboxMessage, error) {
	if m.ID == "" {
		m.ID = uuid.NewString()
	}
	if m.ToAddress == "" {
		return OutboxMessage{}, errors.New("enqueue mail: no recipient")
	}
	now := time.Now().UTC()
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now
	}
	if m.NextAttemptAt.IsZero() {
		m.NextAttemptAt = m.CreatedAt
	}
	m.CreatedAt, m.NextAttemptAt = m.CreatedAt.UTC(), m.NextAttemptAt.UTC()
	m.Status, m.Attempts, m.LockedUntil, m.LastError, m.SentAt = MailPending, 0, nil, "", nil
	row := m
	if err := s.sealMail(&row); err != nil {
		return OutboxMessage{}, fmt.Errorf("enqueue mail: %w", err)
	}
	err := s.write(ctx, func(ctx context.Context) error {
		if s.dialect != Postgres {
			return s.conn(ctx).Create(&row).Error
		}
		// One statement stores the message and tells the other instances, at
		// commit, that mail is waiting.
		notify, args := s.notifySQL(TopicMail)
		return s.conn(ctx).Exec(`WITH queued AS (
				INSERT INTO mail_outbox (id, to_address, subject, text_body, html_body, sealed_body, status, attempts, next_attempt_at, last_error, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id)
			`+notify+` FROM queued`,
			append([]any{row.ID, row.ToAddress, row.Subject, row.TextBody, row.HTMLBody, row.SealedBody, row.Status, row.Attempts, row.NextAttemptAt, row.LastError, row.CreatedAt}, args...)...).Error
	})
	if err != nil {
		return OutboxMessage{}, fmt.Errorf("enqueue mail: %w", translate(err))
	}
	s.announced(ctx, TopicMail)
	return m, nil
}

// GetMail returns the outbox message with id, bodies opened, or ErrNotFound. It
// returns ErrUnsealable when no configured system secret opens the bodies.
func (s *Store) GetMail(ctx context.Context, id string) (OutboxMessage, error) {
	if uuid.Validate(id) != nil {
		return OutboxMessage{}, fmt.Errorf("get mail %q: %w", id, ErrNotFound)
	}
	var m OutboxMessage
	err := s.read(ctx, func(ctx context.Context) error { return s.conn(ctx).Where("id = ?", id).Take(&m).Error })
	if err != nil {
		return OutboxMessage{}, fmt.Errorf("get mail %s: %w", id, translate(err))
	}
	if err := s.openMail(&m); err != nil {
		return OutboxMessage{}, fmt.Errorf("get mail %s: %w", id, err)
	}
	return m, nil
}

// ListMail returns up to limit outbox messages in status (every status when
// empty), oldest first, bodies opened. A limit of zero means 100. It returns
// ErrUnsealable when no configured system secret opens a body.
func (s *Store) ListMail(ctx context.Context, status string, limit int) ([]OutboxMessage, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var out []OutboxMessage
	err := s.read(ctx, func(ctx context.Context) error {
		out = out[:0]
		q := s.conn(ctx).Order("created_at, id").Limit(limit)
		if status != "" {
			q = q.Where("status = ?", status)
		}
		return q.Find(&out).Error
	})
	if err != nil {
		return nil, fmt.Errorf("list mail: %w", translate(err))
	}
	for i := range out {
		if err := s.openMail(&out[i]); err != nil {
			return nil, fmt.Errorf("list mail %s: %w", out[i].ID, err)
		}
	}
	return out, nil
}

// ClaimMail claims up to limit pending messages due at now (and not claimed by a
// worker whose lease is still running) for lease, and returns them, the longest
// due first. A claimed message is not returned again until its lease ends, so
// workers on any number of instances never claim the same message together: on
// PostgreSQL the rows are locked with FOR UPDATE SKIP LOCKED, on SQLite the write
// transaction serialises claimers. The claimer reports the outcome with
// MarkMailSent, MarkMailRetry or MarkMailFailed; a claimer that vanishes leaves
// the message to be claimed again when the lease ends. Bodies come back opened; a
// message no configured system secret opens cannot be sent, so it is given up
// at once (MailFailed, with the reason as its LastError) and not returned.
func (s *Store) ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]OutboxMessage, error) {
	if limit <= 0 {
		limit = 20
	}
	if lease <= 0 {
		return nil, errors.New("claim mail: lease must be positive")
	}
	now = now.UTC()
	until := now.Add(lease)
	var out []OutboxMessage
	var err error
	switch s.dialect {
	case Postgres:
		err = s.write(ctx, func(ctx context.Context) error {
			out = out[:0]
			return s.conn(ctx).Raw(`UPDATE mail_outbox SET locked_until = ?
				WHERE id IN (SELECT id FROM mail_outbox
					WHERE status = ? AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until <= ?)
					ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED)
				RETURNING *`, until, MailPending, now, now, limit).Scan(&out).Error
		})
	default:
		// SQLite has one writer at a time and Store opens write transactions with
		// BEGIN IMMEDIATE, so select-then-update inside one is atomic.
		err = s.InTx(ctx, func(ctx context.Context) error {
			out = out[:0]
			var ids []string
			err := s.conn(ctx).Model(&OutboxMessage{}).
				Where("status = ? AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until <= ?)", MailPending, now, now).
				Order("next_attempt_at").Limit(limit).Pluck("id", &ids).Error
			if err != nil || len(ids) == 0 {
				return err
			}
			if err := s.conn(ctx).Model(&OutboxMessage{}).Where("id IN ?", ids).Update("locked_until", until).Error; err != nil {
				return err
			}
			return s.conn(ctx).Where("id IN ?", ids).Find(&out).Error
		})
	}
	if err != nil {
		return nil, fmt.Errorf("claim mail: %w", translate(err))
	}
	kept := out[:0]
	for _, m := range out {
		if err := s.openMail(&m); err != nil {
			s.log.ErrorContext(ctx, "queued mail cannot be decrypted with the configured system secrets; given up", "mail_id", m.ID, "error", err.Error())
			if ferr := s.MarkMailFailed(ctx, m.ID, m.Attempts, "the body cannot be decrypted with the configured system secrets"); ferr != nil {
				return nil, fmt.Errorf("claim mail: %w", ferr)
			}
			continue
		}
		kept = append(kept, m)
	}
	out = kept
	slices.SortFunc(out, func(a, b OutboxMessage) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return a.CreatedAt.Compare(b.CreatedAt)
	})
	for i := range out {
		out[i].NextAttemptAt, out[i].CreatedAt = out[i].NextAttemptAt.UTC(), out[i].CreatedAt.UTC()
		out[i].LockedUntil = utcPtr(out[i].LockedUntil)
	}
	return out, nil
}

// MarkMailSent records that the pending message id was accepted by the SMTP
// server at at, after attempts attempts, and drops its bodies: their links are
// no business of the database any more. It returns ErrNotFound when no pending
// message has id.
func (s *Store) MarkMailSent(ctx context.Context, id string, attempts int, at time.Time) error {
	at = at.UTC()
	return s.markMail(ctx, "mark mail sent", id, map[string]any{
		"status": MailSent, "attempts": attempts, "sent_at": at, "locked_until": nil, "last_error": "",
		"text_body": "", "html_body": "", "sealed_body": nil,
	})
}

// MarkMailRetry records a failed attempt at the pending message id: it counts
// attempts, keeps lastErr (which must not contain the body) and makes the message
// due again at next. It returns ErrNotFound when no pending message has id.
func (s *Store) MarkMailRetry(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error {
	return s.markMail(ctx, "mark mail retry", id, map[string]any{
		"attempts": attempts, "next_attempt_at": next.UTC(), "locked_until": nil, "last_error": truncate(lastErr, maxLastError),
	})
}

// MarkMailFailed gives up on the pending message id after attempts attempts,
// keeping its recipient, subject and lastErr (status MailFailed) for an operator
// to see, and dropping its bodies. It returns ErrNotFound when no pending
// message has id.
func (s *Store) MarkMailFailed(ctx context.Context, id string, attempts int, lastErr string) error {
	return s.markMail(ctx, "mark mail failed", id, map[string]any{
		"status": MailFailed, "attempts": attempts, "locked_until": nil, "last_error": truncate(lastErr, maxLastError),
		"text_body": "", "html_body": "", "sealed_body": nil,
	})
}

func (s *Store) markMail(ctx context.Context, op, id string, set map[string]any) error {
	if uuid.Validate(id) != nil {
		return fmt.Errorf("%s %q: %w", op, id, ErrNotFound)
	}
	var rows int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Model(&OutboxMessage{}).Where("id = ? AND status = ?", id, MailPending).Updates(set)
		rows = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("%s %s: %w", op, id, translate(err))
	}
	if rows == 0 {
		return fmt.Errorf("%s %s: %w", op, id, ErrNotFound)
	}
	return nil
}

// DeleteSentMail removes messages sent before before, and returns how many it
// removed. Pending and failed messages stay. It deletes at most batch rows per
// statement and goes on until a batch comes back short.
func (s *Store) DeleteSentMail(ctx context.Context, before time.Time, batch int) (int64, error) {
	return s.deleteMail(ctx, "delete sent mail", "status = ? AND sent_at < ?", MailSent, before, batch)
}

// DeleteFailedMail removes messages given up on (MailFailed) that were queued
// before before, and returns how many it removed, in batches as DeleteSentMail.
func (s *Store) DeleteFailedMail(ctx context.Context, before time.Time, batch int) (int64, error) {
	return s.deleteMail(ctx, "delete failed mail", "status = ? AND created_at < ?", MailFailed, before, batch)
}

func (s *Store) deleteMail(ctx context.Context, op, where, status string, before time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = 1000
	}
	before = before.UTC()
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(ctx context.Context) error {
			res := s.conn(ctx).Exec("DELETE FROM mail_outbox WHERE id IN (SELECT id FROM mail_outbox WHERE "+where+" LIMIT ?)", status, before, batch)
			n = res.RowsAffected
			return res.Error
		})
		if err != nil {
			return total, fmt.Errorf("%s: %w", op, translate(err))
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
