package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/google/uuid"
)

// outboxCases covers the mail outbox.
func outboxCases() []Case {
	return []Case{
		{"MailEnqueueAndGet", testMailEnqueueAndGet},
		{"MailEnqueueInTransaction", testMailEnqueueInTransaction},
		{"MailClaimDueAndLease", testMailClaimDueAndLease},
		{"MailClaimConcurrent", testMailClaimConcurrent},
		{"MailMarkOutcomes", testMailMarkOutcomes},
		{"MailDeleteSentInBatches", testMailDeleteSentInBatches},
	}
}

// mailEpoch is a fixed instant the outbox tests count from.
func mailEpoch() time.Time { return time.Date(2032, 5, 6, 7, 8, 9, 0, time.UTC) }

func enqueueMail(t *testing.T, ctx context.Context, s *storage.Store, to string, due time.Time) storage.OutboxMessage {
	t.Helper()
	m, err := s.EnqueueMail(ctx, storage.OutboxMessage{
		ToAddress: to, Subject: "Verify your e-mail",
		TextBody:  "Open https://id.example.com/verify?token=secret-" + to,
		HTMLBody:  `<p><a href="https://id.example.com/verify?token=secret-` + to + `">Verify</a></p>`,
		CreatedAt: due, NextAttemptAt: due,
	})
	must(t, err, "EnqueueMail(%s)", to)
	return m
}

func mailRecipients(ms []storage.OutboxMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ToAddress
	}
	return out
}

func testMailEnqueueAndGet(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	due := mailEpoch().In(elsewhere)
	m := enqueueMail(t, ctx, s, "ada@example.com", due)
	if uuid.Validate(m.ID) != nil {
		t.Errorf("EnqueueMail: ID = %q, want a UUID", m.ID)
	}
	got, err := s.GetMail(ctx, m.ID)
	must(t, err, "GetMail")
	if got.ToAddress != "ada@example.com" || got.Subject != m.Subject || got.TextBody != m.TextBody || got.HTMLBody != m.HTMLBody ||
		got.Status != storage.MailPending || got.Attempts != 0 || got.LockedUntil != nil || got.LastError != "" || got.SentAt != nil {
		t.Errorf("GetMail = %+v, want the pending message %+v", got, m)
	}
	wantTime(t, "NextAttemptAt", got.NextAttemptAt, mailEpoch())
	wantTime(t, "CreatedAt", got.CreatedAt, mailEpoch())

	// Without times the message is due at once.
	now, err := s.EnqueueMail(ctx, storage.OutboxMessage{ToAddress: "now@example.com", Subject: "s", TextBody: "t"})
	must(t, err, "EnqueueMail without times")
	wantRecent(t, "NextAttemptAt", now.NextAttemptAt)

	if _, err := s.EnqueueMail(ctx, storage.OutboxMessage{Subject: "s", TextBody: "t"}); err == nil {
		t.Errorf("EnqueueMail without a recipient: no error")
	}
	_, err = s.GetMail(ctx, uuid.NewString())
	wantNotFound(t, err, "GetMail(unknown)")
	_, err = s.GetMail(ctx, "not-a-uuid")
	wantNotFound(t, err, "GetMail(not-a-uuid)")

	list, err := s.ListMail(ctx, storage.MailPending, 0)
	must(t, err, "ListMail")
	if len(list) != 2 {
		t.Errorf("ListMail(pending) = %v, want 2 messages", mailRecipients(list))
	}
}

func testMailEnqueueInTransaction(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	var rolled storage.OutboxMessage
	err := s.InTx(ctx, func(ctx context.Context) error {
		rolled = enqueueMail(t, ctx, s, "rolled@example.com", mailEpoch())
		return errors.New("the caller's work failed")
	})
	if err == nil {
		t.Fatal("InTx: no error, want the callback's")
	}
	_, err = s.GetMail(ctx, rolled.ID)
	wantNotFound(t, err, "GetMail after the transaction rolled back")

	var kept storage.OutboxMessage
	must(t, s.InTx(ctx, func(ctx context.Context) error {
		kept = enqueueMail(t, ctx, s, "kept@example.com", mailEpoch())
		return nil
	}), "InTx")
	if _, err := s.GetMail(ctx, kept.ID); err != nil {
		t.Errorf("GetMail after commit: %v", err)
	}
}

func testMailClaimDueAndLease(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	now := mailEpoch()
	enqueueMail(t, ctx, s, "second@example.com", now.Add(-time.Minute))
	enqueueMail(t, ctx, s, "first@example.com", now.Add(-time.Hour))
	enqueueMail(t, ctx, s, "third@example.com", now)
	enqueueMail(t, ctx, s, "later@example.com", now.Add(time.Second))

	if _, err := s.ClaimMail(ctx, now, 10, 0); err == nil {
		t.Errorf("ClaimMail with no lease: no error")
	}
	got, err := s.ClaimMail(ctx, now.In(elsewhere), 2, time.Minute)
	must(t, err, "ClaimMail")
	if ids := strings.Join(mailRecipients(got), " "); ids != "first@example.com second@example.com" {
		t.Errorf("ClaimMail(limit 2) = %s, want the two longest due, oldest first", ids)
	}
	for _, m := range got {
		if m.LockedUntil == nil {
			t.Errorf("claimed %s: LockedUntil = nil", m.ToAddress)
			continue
		}
		wantTime(t, "LockedUntil", *m.LockedUntil, now.Add(time.Minute))
		if m.TextBody == "" || m.Subject == "" {
			t.Errorf("claimed %s without its content: %+v", m.ToAddress, m)
		}
	}
	got, err = s.ClaimMail(ctx, now, 10, time.Minute)
	must(t, err, "ClaimMail again")
	if ids := strings.Join(mailRecipients(got), " "); ids != "third@example.com" {
		t.Errorf("ClaimMail while two are leased = %s, want only the third (the fourth is not due)", ids)
	}
	got, err = s.ClaimMail(ctx, now.Add(30*time.Second), 10, time.Minute)
	must(t, err, "ClaimMail within the lease")
	if ids := strings.Join(mailRecipients(got), " "); ids != "later@example.com" {
		t.Errorf("ClaimMail within the lease = %s, want only the newly due one", ids)
	}
	// A claimer that vanished: its messages come back once the lease ends.
	got, err = s.ClaimMail(ctx, now.Add(time.Minute), 10, time.Minute)
	must(t, err, "ClaimMail after the lease")
	if ids := strings.Join(mailRecipients(got), " "); ids != "first@example.com second@example.com third@example.com" {
		t.Errorf("ClaimMail after the lease = %s, want the three whose lease ended", ids)
	}
}

func testMailClaimConcurrent(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	const messages, claimers = 30, 6
	for i := range messages {
		enqueueMail(t, ctx, s, fmt.Sprintf("user%02d@example.com", i), mailEpoch().Add(-time.Duration(i)*time.Second))
	}
	var (
		mu      sync.Mutex
		claimed = map[string]int{}
		wg      sync.WaitGroup
	)
	errs := make([]error, claimers)
	for i := range claimers {
		wg.Go(func() {
			for {
				got, err := s.ClaimMail(ctx, mailEpoch(), 4, time.Hour)
				if err != nil {
					errs[i] = err
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, m := range got {
					claimed[m.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("claimer %d: %v", i, err)
		}
	}
	if len(claimed) != messages {
		t.Errorf("%d claimers claimed %d distinct messages, want all %d", claimers, len(claimed), messages)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("message %s claimed %d times, want once", id, n)
		}
	}
}

func testMailMarkOutcomes(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	now := mailEpoch()
	sent := enqueueMail(t, ctx, s, "sent@example.com", now)
	retry := enqueueMail(t, ctx, s, "retry@example.com", now)
	failed := enqueueMail(t, ctx, s, "failed@example.com", now)
	_, err := s.ClaimMail(ctx, now, 10, time.Minute)
	must(t, err, "ClaimMail")

	must(t, s.MarkMailSent(ctx, sent.ID, 1, now.In(elsewhere)), "MarkMailSent")
	got, err := s.GetMail(ctx, sent.ID)
	must(t, err, "GetMail(sent)")
	if got.Status != storage.MailSent || got.Attempts != 1 || got.SentAt == nil || got.LockedUntil != nil {
		t.Errorf("after MarkMailSent: %+v, want status sent, 1 attempt, sent_at set, unlocked", got)
	} else {
		wantTime(t, "SentAt", *got.SentAt, now)
	}

	must(t, s.MarkMailFailed(ctx, failed.ID, 10, "535 5.7.8 authentication failed"), "MarkMailFailed")
	got, err = s.GetMail(ctx, failed.ID)
	must(t, err, "GetMail(failed)")
	if got.Status != storage.MailFailed || got.Attempts != 10 || got.LastError != "535 5.7.8 authentication failed" {
		t.Errorf("after MarkMailFailed: %+v, want failed, 10 attempts, the error kept", got)
	}
	long := "451 4.3.0 try again later: " + strings.Repeat("é", 2000)
	next := now.Add(5 * time.Minute)
	must(t, s.MarkMailRetry(ctx, retry.ID, 1, next, long), "MarkMailRetry")
	got, err = s.GetMail(ctx, retry.ID)
	must(t, err, "GetMail(retry)")
	if got.Status != storage.MailPending || got.Attempts != 1 || got.LockedUntil != nil {
		t.Errorf("after MarkMailRetry: %+v, want pending, 1 attempt, unlocked", got)
	}
	wantTime(t, "NextAttemptAt", got.NextAttemptAt, next)
	if !strings.HasPrefix(got.LastError, "451 4.3.0") || len(got.LastError) > 1000 || !utf8.ValidString(got.LastError) {
		t.Errorf("LastError = %.40q… (%d bytes), want the error cut to at most 1000 bytes of valid UTF-8", got.LastError, len(got.LastError))
	}
	// Not due before next, due at next.
	early, err := s.ClaimMail(ctx, next.Add(-time.Second), 10, time.Minute)
	must(t, err, "ClaimMail before the retry is due")
	if len(early) != 0 {
		t.Errorf("ClaimMail before the retry is due = %v, want none", mailRecipients(early))
	}
	due, err := s.ClaimMail(ctx, next, 10, time.Minute)
	must(t, err, "ClaimMail when the retry is due")
	if len(due) != 1 || due[0].ID != retry.ID || due[0].Attempts != 1 {
		t.Errorf("ClaimMail when the retry is due = %+v, want the retried message with 1 attempt", due)
	}

	// A failed message is kept but never claimed again.
	later, err := s.ClaimMail(ctx, now.Add(24*time.Hour), 10, time.Minute)
	must(t, err, "ClaimMail a day later")
	if len(later) != 1 || later[0].ID != retry.ID {
		t.Errorf("ClaimMail a day later = %v, want only the pending message", mailRecipients(later))
	}

	// Only pending messages change.
	wantNotFound(t, s.MarkMailSent(ctx, sent.ID, 2, now), "MarkMailSent on a sent message")
	wantNotFound(t, s.MarkMailRetry(ctx, failed.ID, 11, now, "x"), "MarkMailRetry on a failed message")
	wantNotFound(t, s.MarkMailFailed(ctx, uuid.NewString(), 1, "x"), "MarkMailFailed(unknown)")
	wantNotFound(t, s.MarkMailSent(ctx, "not-a-uuid", 1, now), "MarkMailSent(not-a-uuid)")
}

func testMailDeleteSentInBatches(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	now := mailEpoch()
	var old []storage.OutboxMessage
	for i := range 7 {
		m := enqueueMail(t, ctx, s, fmt.Sprintf("old%d@example.com", i), now)
		old = append(old, m)
	}
	recent := enqueueMail(t, ctx, s, "recent@example.com", now)
	pending := enqueueMail(t, ctx, s, "pending@example.com", now)
	failed := enqueueMail(t, ctx, s, "failed@example.com", now)
	for _, m := range old {
		must(t, s.MarkMailSent(ctx, m.ID, 1, now.Add(-48*time.Hour)), "MarkMailSent")
	}
	must(t, s.MarkMailSent(ctx, recent.ID, 1, now), "MarkMailSent(recent)")
	must(t, s.MarkMailFailed(ctx, failed.ID, 10, "gone"), "MarkMailFailed")

	n, err := s.DeleteSentMail(ctx, now.Add(-24*time.Hour).In(elsewhere), 3)
	must(t, err, "DeleteSentMail")
	if n != int64(len(old)) {
		t.Errorf("DeleteSentMail = %d, want %d", n, len(old))
	}
	for _, m := range old {
		_, err := s.GetMail(ctx, m.ID)
		wantNotFound(t, err, "GetMail(deleted "+m.ToAddress+")")
	}
	for _, m := range []storage.OutboxMessage{recent, pending, failed} {
		if _, err := s.GetMail(ctx, m.ID); err != nil {
			t.Errorf("GetMail(%s) after DeleteSentMail: %v, want it kept", m.ToAddress, err)
		}
	}
}
