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
		{"MailNoLiveLinkAtRest", testMailNoLiveLinkAtRest},
		{"MailPlainRowStillSent", testMailPlainRowStillSent},
		{"MailSealedBodyBoundToRow", testMailSealedBodyBoundToRow},
		{"MailDeleteFailed", testMailDeleteFailed},
		{"MailWatchWakesAfterCommit", testMailWatchWakesAfterCommit},
		{"HousekeepingIsNotActivity", testHousekeepingIsNotActivity},
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

// mailToken is the one-time token in the link of the mail the at-rest tests
// queue; a database dump must show neither it nor the link.
const mailToken = "c2VjcmV0LXJlc2V0LXRva2VuLTAxMjM0NTY3ODlhYmNkZWY"

func resetMessage(to string) storage.OutboxMessage {
	link := "https://id.example.com/reset-password?token=" + mailToken
	return storage.OutboxMessage{
		ToAddress: to, Subject: "Reset your password",
		TextBody: "Open this link to choose a new password:\n" + link + "\n",
		HTMLBody: `<p><a href="` + link + `">Choose a new password</a></p>`,
	}
}

// mailRow reads every column of the outbox row id as stored, each rendered as
// text (bytes as they are), so a test can search the row as a dump would show it.
func mailRow(t *testing.T, s *storage.Store, id string) map[string]string {
	t.Helper()
	rows, err := s.DB().QueryContext(t.Context(), "SELECT * FROM mail_outbox WHERE id = "+placeholder(s, 1), id)
	must(t, err, "read mail_outbox row %s", id)
	defer rows.Close()
	cols, err := rows.Columns()
	must(t, err, "columns of mail_outbox")
	if !rows.Next() {
		t.Fatalf("no mail_outbox row %s", id)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	must(t, rows.Scan(ptrs...), "scan mail_outbox row")
	out := map[string]string{}
	for i, c := range cols {
		switch v := vals[i].(type) {
		case nil:
			out[c] = ""
		case []byte:
			out[c] = string(v)
		default:
			out[c] = fmt.Sprint(v)
		}
	}
	return out
}

// wantNoLink fails when any column of the row holds the link's token.
func wantNoLink(t *testing.T, when string, row map[string]string) {
	t.Helper()
	for col, v := range row {
		if strings.Contains(v, mailToken) || strings.Contains(v, "reset-password") {
			t.Errorf("%s: column %s holds the link: %.80q", when, col, v)
		}
	}
}

func testMailNoLiveLinkAtRest(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	want := resetMessage("ada@example.com")
	m, err := s.EnqueueMail(ctx, want)
	must(t, err, "EnqueueMail")
	wantNoLink(t, "pending", mailRow(t, s, m.ID))
	if row := mailRow(t, s, m.ID); row["sealed_body"] == "" {
		t.Errorf("pending row has no sealed body: %v", row)
	}

	got, err := s.GetMail(ctx, m.ID)
	must(t, err, "GetMail")
	if got.TextBody != want.TextBody || got.HTMLBody != want.HTMLBody || got.SealedBody != nil {
		t.Errorf("GetMail bodies = %q, %q (sealed %d bytes), want the queued ones opened", got.TextBody, got.HTMLBody, len(got.SealedBody))
	}
	claimed, err := s.ClaimMail(ctx, time.Now().Add(time.Minute), 10, time.Minute)
	must(t, err, "ClaimMail")
	if len(claimed) != 1 || claimed[0].TextBody != want.TextBody || claimed[0].HTMLBody != want.HTMLBody {
		t.Fatalf("ClaimMail = %+v, want the message with its bodies", claimed)
	}
	// A retry keeps the sealed bodies, still unreadable.
	must(t, s.MarkMailRetry(ctx, m.ID, 1, time.Now(), "421 4.7.0 try later"), "MarkMailRetry")
	wantNoLink(t, "retrying", mailRow(t, s, m.ID))
	_, err = s.ClaimMail(ctx, time.Now().Add(time.Minute), 10, time.Minute)
	must(t, err, "ClaimMail again")

	// Sent: the bodies go at once.
	must(t, s.MarkMailSent(ctx, m.ID, 2, time.Now()), "MarkMailSent")
	row := mailRow(t, s, m.ID)
	wantNoLink(t, "sent", row)
	if row["text_body"] != "" || row["html_body"] != "" || row["sealed_body"] != "" {
		t.Errorf("sent row keeps a body: text %q, html %q, sealed %d bytes", row["text_body"], row["html_body"], len(row["sealed_body"]))
	}
	if row["to_address"] != "ada@example.com" || row["subject"] != "Reset your password" {
		t.Errorf("sent row lost its recipient or subject: %v", row)
	}

	// Failed: likewise.
	f, err := s.EnqueueMail(ctx, resetMessage("grace@example.com"))
	must(t, err, "EnqueueMail")
	_, err = s.ClaimMail(ctx, time.Now().Add(time.Minute), 10, time.Minute)
	must(t, err, "ClaimMail")
	must(t, s.MarkMailFailed(ctx, f.ID, 10, "550 5.1.1 no such user"), "MarkMailFailed")
	row = mailRow(t, s, f.ID)
	wantNoLink(t, "failed", row)
	if row["text_body"] != "" || row["html_body"] != "" || row["sealed_body"] != "" || row["last_error"] != "550 5.1.1 no such user" {
		t.Errorf("failed row = text %q, html %q, sealed %d bytes, last_error %q; want no body, the error kept",
			row["text_body"], row["html_body"], len(row["sealed_body"]), row["last_error"])
	}
}

// testMailPlainRowStillSent: a message queued by a version that stored bodies
// in clear is claimed with its bodies, and loses them once sent.
func testMailPlainRowStillSent(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	want := resetMessage("legacy@example.com")
	id := "0f6b2a53-6c3e-4c1e-9a55-6d1f0f6b2a53"
	now := time.Now().UTC().Add(-time.Minute)
	p := func(n int) string { return placeholder(s, n) }
	_, err := s.DB().ExecContext(ctx, "INSERT INTO mail_outbox (id, to_address, subject, text_body, html_body, status, attempts, next_attempt_at, last_error, created_at) VALUES ("+
		strings.Join([]string{p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8), p(9), p(10)}, ", ")+")",
		id, want.ToAddress, want.Subject, want.TextBody, want.HTMLBody, storage.MailPending, 0, now, "", now)
	must(t, err, "insert a plain row")
	claimed, err := s.ClaimMail(ctx, time.Now(), 10, time.Minute)
	must(t, err, "ClaimMail")
	if len(claimed) != 1 || claimed[0].ID != id || claimed[0].TextBody != want.TextBody || claimed[0].HTMLBody != want.HTMLBody {
		t.Fatalf("ClaimMail = %+v, want the plain row with its bodies", claimed)
	}
	must(t, s.MarkMailSent(ctx, id, 1, time.Now()), "MarkMailSent")
	wantNoLink(t, "plain row once sent", mailRow(t, s, id))
}

// testMailSealedBodyBoundToRow: a sealed body copied onto another message (to
// send someone's reset link to another address) does not open; that message is
// given up, never sent with the copied body.
func testMailSealedBodyBoundToRow(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	victim, err := s.EnqueueMail(ctx, resetMessage("victim@example.com"))
	must(t, err, "EnqueueMail(victim)")
	attacker, err := s.EnqueueMail(ctx, storage.OutboxMessage{ToAddress: "attacker@example.com", Subject: "hi", TextBody: "hello"})
	must(t, err, "EnqueueMail(attacker)")
	_, err = s.DB().ExecContext(ctx, "UPDATE mail_outbox SET sealed_body = (SELECT sealed_body FROM mail_outbox WHERE id = "+placeholder(s, 1)+") WHERE id = "+placeholder(s, 2), victim.ID, attacker.ID)
	must(t, err, "copy the sealed body")

	if _, err := s.GetMail(ctx, attacker.ID); !errors.Is(err, storage.ErrUnsealable) {
		t.Errorf("GetMail(copied body) = %v, want ErrUnsealable", err)
	}
	claimed, err := s.ClaimMail(ctx, time.Now().Add(time.Minute), 10, time.Minute)
	must(t, err, "ClaimMail")
	if len(claimed) != 1 || claimed[0].ID != victim.ID {
		t.Errorf("ClaimMail = %v, want only the victim's own message", mailRecipients(claimed))
	}
	got := mailRow(t, s, attacker.ID)
	if got["status"] != storage.MailFailed || got["sealed_body"] != "" || !strings.Contains(got["last_error"], "decrypt") {
		t.Errorf("message with a copied body: status %q, sealed %d bytes, last_error %q; want failed, no body, the reason",
			got["status"], len(got["sealed_body"]), got["last_error"])
	}
}

func testMailDeleteFailed(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	now := mailEpoch()
	oldFailed := enqueueMail(t, ctx, s, "old-failed@example.com", now.Add(-8*24*time.Hour))
	newFailed := enqueueMail(t, ctx, s, "new-failed@example.com", now.Add(-time.Hour))
	oldPending := enqueueMail(t, ctx, s, "old-pending@example.com", now.Add(-8*24*time.Hour))
	oldSent := enqueueMail(t, ctx, s, "old-sent@example.com", now.Add(-8*24*time.Hour))
	must(t, s.MarkMailFailed(ctx, oldFailed.ID, 10, "gone"), "MarkMailFailed(old)")
	must(t, s.MarkMailFailed(ctx, newFailed.ID, 10, "gone"), "MarkMailFailed(new)")
	must(t, s.MarkMailSent(ctx, oldSent.ID, 1, now), "MarkMailSent")

	n, err := s.DeleteFailedMail(ctx, now.Add(-7*24*time.Hour).In(elsewhere), 1)
	must(t, err, "DeleteFailedMail")
	if n != 1 {
		t.Errorf("DeleteFailedMail = %d, want 1", n)
	}
	_, err = s.GetMail(ctx, oldFailed.ID)
	wantNotFound(t, err, "GetMail(old failed)")
	for _, m := range []storage.OutboxMessage{newFailed, oldPending, oldSent} {
		if _, err := s.GetMail(ctx, m.ID); err != nil {
			t.Errorf("GetMail(%s) after DeleteFailedMail: %v, want it kept", m.ToAddress, err)
		}
	}
}

// woken reports whether ch holds a wake-up, taking it.
func woken(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// testMailWatchWakesAfterCommit: a watcher of TopicMail is woken when queued
// mail is committed, not while the transaction is open and not after a
// rollback. Local delivery is synchronous, so no wait is needed.
func testMailWatchWakesAfterCommit(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	wake, stop := s.Watch(storage.TopicMail)
	defer stop()
	// The listener, once connected, wakes every watcher once: take that first.
	// Through a pooler (and no listen URL) there is none.
	if s.Dialect() == storage.Postgres && !s.Pooled() {
		waitUntil(t, "the listener connected", s.Listening)
	}
	woken(wake)
	keys, stopKeys := s.Watch(storage.TopicSigningKeys)
	defer stopKeys()
	woken(keys)

	must(t, s.InTx(ctx, func(ctx context.Context) error {
		_, err := s.EnqueueMail(ctx, resetMessage("in-tx@example.com"))
		if woken(wake) {
			t.Errorf("watcher woken before the transaction committed")
		}
		return err
	}), "InTx")
	if !woken(wake) {
		t.Errorf("watcher not woken after the commit")
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.EnqueueMail(ctx, resetMessage("rolled-back@example.com")); err != nil {
			return err
		}
		return errors.New("the caller's work failed")
	})
	if err == nil {
		t.Fatal("InTx: no error, want the callback's")
	}
	if woken(wake) {
		t.Errorf("watcher woken by mail that was rolled back")
	}
	_, err = s.EnqueueMail(ctx, resetMessage("no-tx@example.com"))
	must(t, err, "EnqueueMail")
	if !woken(wake) {
		t.Errorf("watcher not woken by mail queued outside a transaction")
	}
	if woken(keys) {
		t.Errorf("a watcher of signing keys was woken by mail")
	}
	stop()
	_, err = s.EnqueueMail(ctx, resetMessage("after-stop@example.com"))
	must(t, err, "EnqueueMail")
	if woken(wake) {
		t.Errorf("a stopped watch was woken")
	}
}

// testHousekeepingIsNotActivity: what housekeeping does leaves Activity alone;
// anything else counts.
func testHousekeepingIsNotActivity(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	before := s.Activity()
	_, err := s.ClaimMail(storage.Housekeeping(ctx), time.Now(), 10, time.Minute)
	must(t, err, "ClaimMail as housekeeping")
	_, err = s.DeleteSentMail(storage.Housekeeping(ctx), time.Now(), 10)
	must(t, err, "DeleteSentMail as housekeeping")
	if got := s.Activity(); got != before {
		t.Errorf("Activity after housekeeping = %d, want %d", got, before)
	}
	_, err = s.EnqueueMail(ctx, resetMessage("ada@example.com"))
	must(t, err, "EnqueueMail")
	if got := s.Activity(); got <= before {
		t.Errorf("Activity after queuing mail = %d, want more than %d", got, before)
	}
}

// waitUntil polls cond until it holds, failing the test after 10 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
