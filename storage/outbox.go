package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// maxLastError bounds the stored send error: an SMTP reply is a line or two.
const maxLastError = 1000

// EnqueueMail stores m as a pending message, in the transaction ctx carries if
// any. It sets ID (when empty), Status, Attempts and CreatedAt; a zero
// NextAttemptAt means due at once.
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
	if err := s.write(ctx, func(ctx context.Context) error { return s.conn(ctx).Create(&m).Error }); err != nil {
		return OutboxMessage{}, fmt.Errorf("enqueue mail: %w", translate(err))
	}
	return m, nil
}

// GetMail returns the outbox message with id, or ErrNotFound.
func (s *Store) GetMail(ctx context.Context, id string) (OutboxMessage, error) {
	if uuid.Validate(id) != nil {
		return OutboxMessage{}, fmt.Errorf("get mail %q: %w", id, ErrNotFound)
	}
	var m OutboxMessage
	err := s.read(ctx, func(ctx context.Context) error { return s.conn(ctx).Where("id = ?", id).Take(&m).Error })
	if err != nil {
		return OutboxMessage{}, fmt.Errorf("get mail %s: %w", id, translate(err))
	}
	return m, nil
}

// ListMail returns up to limit outbox messages in status (every status when
// empty), oldest first. A limit of zero means 100.
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
	return out, nil
}

// ClaimMail claims up to limit pending messages due at now (and not claimed by a
// worker whose lease is still running) for lease, and returns them, the longest
// due first. A claimed message is not returned again until its lease ends, so
// workers on any number of instances never claim the same message together: on
// PostgreSQL the rows are locked with FOR UPDATE SKIP LOCKED, on SQLite the write
// transaction serialises claimers. The claimer reports the outcome with
// MarkMailSent, MarkMailRetry or MarkMailFailed; a claimer that vanishes leaves
// the message to be claimed again when the lease ends.
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
// server at at, after attempts attempts. It returns ErrNotFound when no pending
// message has id.
func (s *Store) MarkMailSent(ctx context.Context, id string, attempts int, at time.Time) error {
	at = at.UTC()
	return s.markMail(ctx, "mark mail sent", id, map[string]any{
		"status": MailSent, "attempts": attempts, "sent_at": at, "locked_until": nil, "last_error": "",
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
// keeping it (status MailFailed) with lastErr for an operator to see. It returns
// ErrNotFound when no pending message has id.
func (s *Store) MarkMailFailed(ctx context.Context, id string, attempts int, lastErr string) error {
	return s.markMail(ctx, "mark mail failed", id, map[string]any{
		"status": MailFailed, "attempts": attempts, "locked_until": nil, "last_error": truncate(lastErr, maxLastError),
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
	if batch <= 0 {
		batch = 1000
	}
	before = before.UTC()
	var total int64
	for {
		var n int64
		err := s.write(ctx, func(ctx context.Context) error {
			res := s.conn(ctx).Exec("DELETE FROM mail_outbox WHERE id IN (SELECT id FROM mail_outbox WHERE status = ? AND sent_at < ? LIMIT ?)", MailSent, before, batch)
			n = res.RowsAffected
			return res.Error
		})
		if err != nil {
			return total, fmt.Errorf("delete sent mail: %w", translate(err))
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
