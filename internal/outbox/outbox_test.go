package outbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/mail"
	"github.com/gatehouse-id/gatehouse/internal/mail/mailtest"
	"github.com/gatehouse-id/gatehouse/internal/outbox"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// backend names a database each test runs on; url returns a new, empty one.
type backend struct {
	name string
	url  func(t *testing.T) string
}

func backends() []backend {
	return []backend{
		{"SQLite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "outbox.db") }},
		{"PostgreSQL", func(t *testing.T) string { return storagetest.NewPostgresDatabase(t) }},
	}
}

// eachBackend runs test on every backend with a fresh, migrated store.
func eachBackend(t *testing.T, test func(t *testing.T, url string, s *storage.Store)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			test(t, url, storagetest.OpenURL(t, url, storage.PoolerNone))
		})
	}
}

// clock is a settable clock for one test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2033, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func smtpMailer(t *testing.T, srv *mailtest.Server) *mail.SMTP {
	t.Helper()
	c := srv.Config()
	c.Timeout = 5 * time.Second
	m, err := mail.NewSMTP(c)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	return m
}

const verifyLink = "https://id.example.com/verify-email?token=c2VjcmV0LXZlcmlmaWNhdGlvbi10b2tlbi0wMTIzNDU2Nzg5"

func verifyMessage(to string) mail.Message {
	return mail.Message{
		To: to, Subject: "Verify your e-mail address",
		Text: "Welcome to Gatehouse. Open this link to verify your address:\n" + verifyLink + "\n",
		HTML: `<p>Welcome to Gatehouse.</p><p><a href="` + verifyLink + `">Verify your address</a></p>`,
	}
}

func enqueue(t *testing.T, ctx context.Context, o *outbox.Outbox, m mail.Message) {
	t.Helper()
	if err := o.Enqueue(ctx, m); err != nil {
		t.Fatalf("Enqueue(%s): %v", m.To, err)
	}
}

func listMail(t *testing.T, s *storage.Store, status string) []storage.OutboxMessage {
	t.Helper()
	ms, err := s.ListMail(t.Context(), status, 1000)
	if err != nil {
		t.Fatalf("ListMail(%q): %v", status, err)
	}
	return ms
}

func flush(t *testing.T, o *outbox.Outbox) (int, error) {
	t.Helper()
	return o.Flush(t.Context())
}

func TestDeliver(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, s *storage.Store) {
		ctx := t.Context()
		srv := mailtest.NewServer(t, mailtest.Options{})
		clk := newClock()
		o := outbox.New(s, smtpMailer(t, srv), outbox.Options{Now: clk.Now})

		enqueue(t, ctx, o, verifyMessage("ada@example.com"))
		// Mail enqueued in a transaction that rolls back never goes out.
		err := s.InTx(ctx, func(ctx context.Context) error {
			enqueue(t, ctx, o, verifyMessage("rolled-back@example.com"))
			return errors.New("sign-up failed")
		})
		if err == nil {
			t.Fatal("InTx: no error, want the callback's")
		}
		if n := len(srv.Messages()); n != 0 {
			t.Fatalf("%d messages delivered on Enqueue, want none before Flush", n)
		}

		sent, err := flush(t, o)
		if sent != 1 || err != nil {
			t.Fatalf("Flush = %d, %v; want 1, nil", sent, err)
		}
		got := srv.WaitMessages(t, 1)
		if len(got) != 1 {
			t.Fatalf("delivered %d messages, want 1", len(got))
		}
		r := got[0]
		if r.To[0] != "ada@example.com" || r.Subject != "Verify your e-mail address" || !r.TLS {
			t.Errorf("delivered to %v subject %q TLS %v; want ada@example.com, the subject, over TLS", r.To, r.Subject, r.TLS)
		}
		if link := r.Link("https://id.example.com/"); link != verifyLink {
			t.Errorf("link in the delivered message = %q, want %q", link, verifyLink)
		}
		if !strings.Contains(r.HTML, verifyLink) {
			t.Errorf("HTML part %q lacks the link", r.HTML)
		}
		rows := listMail(t, s, storage.MailSent)
		if len(rows) != 1 || rows[0].Attempts != 1 || rows[0].SentAt == nil || !rows[0].SentAt.Equal(clk.Now()) {
			t.Errorf("sent rows = %+v, want one, sent at the clock's time after 1 attempt", rows)
		}

		clk.Advance(time.Hour)
		if sent, err := flush(t, o); sent != 0 || err != nil {
			t.Errorf("second Flush = %d, %v; want 0, nil", sent, err)
		}
		if n := len(srv.Messages()); n != 1 {
			t.Errorf("delivered %d messages after a second Flush, want 1", n)
		}
	})
}

func TestOutageRetriesWithBackoff(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, s *storage.Store) {
		ctx := t.Context()
		srv := mailtest.NewServer(t, mailtest.Options{})
		clk := newClock()
		var logs syncBuffer
		o := outbox.New(s, smtpMailer(t, srv), outbox.Options{Now: clk.Now, Log: slog.New(slog.NewJSONHandler(&logs, nil))})

		srv.Stop()
		enqueue(t, ctx, o, verifyMessage("ada@example.com"))
		enqueue(t, ctx, o, verifyMessage("grace@example.com"))

		sent, err := flush(t, o)
		if sent != 0 || err == nil {
			t.Fatalf("Flush with the SMTP server down = %d, %v; want 0 and an error", sent, err)
		}
		first := clk.Now()
		for _, m := range listMail(t, s, storage.MailPending) {
			if m.Attempts != 1 || m.LastError == "" || m.LockedUntil != nil {
				t.Errorf("after a failed send: %+v, want 1 attempt, the error kept, unlocked", m)
			}
			if d := m.NextAttemptAt.Sub(first); d < 15*time.Second || d > 30*time.Second {
				t.Errorf("first retry in %s, want 15s to 30s", d)
			}
			if strings.Contains(m.LastError, "token=") || strings.Contains(m.LastError, "Welcome") {
				t.Errorf("LastError %q carries the body", m.LastError)
			}
		}
		if n := len(listMail(t, s, "")); n != 2 {
			t.Errorf("%d messages in the outbox, want both kept", n)
		}

		// Not due yet: nothing is tried.
		if sent, err := flush(t, o); sent != 0 || err != nil {
			t.Errorf("Flush before the retry is due = %d, %v; want 0, nil", sent, err)
		}
		clk.Advance(31 * time.Second)
		if _, err := flush(t, o); err == nil {
			t.Errorf("second Flush with the server down: no error")
		}
		second := clk.Now()
		for _, m := range listMail(t, s, storage.MailPending) {
			if m.Attempts != 2 {
				t.Errorf("after two failed sends: %d attempts, want 2", m.Attempts)
			}
			if d := m.NextAttemptAt.Sub(second); d < 30*time.Second || d > time.Minute {
				t.Errorf("second retry in %s, want 30s to 1m (doubled)", d)
			}
		}

		srv.Start()
		clk.Advance(time.Hour)
		if sent, err := flush(t, o); sent != 2 || err != nil {
			t.Fatalf("Flush with the server back = %d, %v; want 2, nil", sent, err)
		}
		got := srv.WaitMessages(t, 2)
		clk.Advance(2 * time.Hour)
		if sent, err := flush(t, o); sent != 0 || err != nil {
			t.Errorf("Flush after delivery = %d, %v; want 0, nil", sent, err)
		}
		if len(got) != 2 || len(srv.Messages()) != 2 {
			t.Fatalf("delivered %d messages, want exactly 2", len(srv.Messages()))
		}
		for _, r := range got {
			if r.Link("https://") != verifyLink {
				t.Errorf("delivered link %q, want %q", r.Link("https://"), verifyLink)
			}
		}
		for _, m := range listMail(t, s, "") {
			if m.Status != storage.MailSent || m.Attempts != 3 {
				t.Errorf("message %s: status %s after %d attempts, want sent after 3", m.ID, m.Status, m.Attempts)
			}
		}
		if out := logs.String(); !strings.Contains(out, "will retry") || strings.Contains(out, "token=") {
			t.Errorf("logs = %s\nwant the retries logged, and no body", out)
		}
	})
}

func TestGiveUpAfterMaxAttempts(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, s *storage.Store) {
		ctx := t.Context()
		srv := mailtest.NewServer(t, mailtest.Options{})
		clk := newClock()
		var logs syncBuffer
		o := outbox.New(s, smtpMailer(t, srv), outbox.Options{Now: clk.Now, MaxAttempts: 3, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
		srv.Stop()
		enqueue(t, ctx, o, verifyMessage("ada@example.com"))
		for i := range 3 {
			if _, err := flush(t, o); err == nil {
				t.Errorf("Flush %d with the server down: no error", i+1)
			}
			clk.Advance(2 * time.Hour)
		}
		failed := listMail(t, s, storage.MailFailed)
		if len(failed) != 1 || failed[0].Attempts != 3 || failed[0].LastError == "" {
			t.Fatalf("failed messages = %+v, want the one, after 3 attempts, with its error", failed)
		}
		srv.Start()
		if sent, err := flush(t, o); sent != 0 || err != nil {
			t.Errorf("Flush after giving up = %d, %v; want 0, nil", sent, err)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("a given-up message was delivered %d times", n)
		}
		if out := logs.String(); !strings.Contains(out, `"mail given up"`) || !strings.Contains(out, `"level":"ERROR"`) || strings.Contains(out, "token=") {
			t.Errorf("logs = %s\nwant the give-up logged as an error, and no body", out)
		}
	})
}

func TestConcurrentOutboxesDeliverOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string, s *storage.Store) {
		ctx := t.Context()
		srv := mailtest.NewServer(t, mailtest.Options{})
		clk := newClock()
		// Two instances: each its own store (connection pool) on one database.
		other := storagetest.OpenURL(t, url, storage.PoolerNone)
		a := outbox.New(s, smtpMailer(t, srv), outbox.Options{Now: clk.Now, Batch: 3})
		b := outbox.New(other, smtpMailer(t, srv), outbox.Options{Now: clk.Now, Batch: 3})
		const n = 24
		for i := range n {
			enqueue(t, ctx, a, verifyMessage(fmt.Sprintf("user%02d@example.com", i)))
		}
		var wg sync.WaitGroup
		sent := make([]int, 2)
		errs := make([]error, 2)
		for i, o := range []*outbox.Outbox{a, b} {
			wg.Go(func() {
				for {
					k, err := o.Flush(ctx)
					sent[i] += k
					if err != nil {
						errs[i] = err
						return
					}
					if k == 0 {
						return // nothing left to claim; the other finishes what it holds
					}
				}
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("outbox %d: %v", i, err)
			}
		}
		if sent[0]+sent[1] != n {
			t.Errorf("sent %d + %d, want %d in all", sent[0], sent[1], n)
		}
		got := srv.WaitMessages(t, n)
		count := map[string]int{}
		for _, r := range got {
			count[r.To[0]]++
		}
		for to, k := range count {
			if k != 1 {
				t.Errorf("%s received %d copies, want 1", to, k)
			}
		}
		if len(got) != n || len(count) != n {
			t.Errorf("delivered %d messages to %d recipients, want %d each", len(got), len(count), n)
		}
		if p := listMail(t, s, storage.MailPending); len(p) != 0 {
			t.Errorf("%d messages still pending", len(p))
		}
	})
}

func TestLeaseKeepsOtherWorkersOff(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, s *storage.Store) {
		ctx := t.Context()
		srv := mailtest.NewServer(t, mailtest.Options{})
		clk := newClock()
		o := outbox.New(s, smtpMailer(t, srv), outbox.Options{Now: clk.Now, Lease: time.Minute})
		enqueue(t, ctx, o, verifyMessage("ada@example.com"))
		// Another instance claimed it and died before reporting.
		if got, err := s.ClaimMail(ctx, clk.Now(), 10, time.Minute); err != nil || len(got) != 1 {
			t.Fatalf("ClaimMail = %d messages, %v; want 1", len(got), err)
		}
		if sent, err := flush(t, o); sent != 0 || err != nil {
			t.Errorf("Flush during another's lease = %d, %v; want 0, nil", sent, err)
		}
		clk.Advance(time.Minute)
		if sent, err := flush(t, o); sent != 1 || err != nil {
			t.Errorf("Flush after the lease = %d, %v; want 1, nil", sent, err)
		}
		if n := len(srv.WaitMessages(t, 1)); n != 1 {
			t.Errorf("delivered %d messages, want 1", n)
		}
	})
}

// runOutbox runs o.Run until the test ends, and checks that it returns once its
// context is cancelled.
func runOutbox(t *testing.T, o *outbox.Outbox) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
}

// TestRunWakesOnEnqueue: with an hour between looks, only the wake-up that
// queued mail gives can deliver in time.
func TestRunWakesOnEnqueue(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, s *storage.Store) {
		srv := mailtest.NewServer(t, mailtest.Options{})
		o := outbox.New(s, smtpMailer(t, srv), outbox.Options{Now: newClock().Now, Interval: time.Hour})
		runOutbox(t, o)
		enqueue(t, t.Context(), o, verifyMessage("ada@example.com"))
		if r := srv.WaitMessages(t, 1)[0]; r.Link("https://") != verifyLink {
			t.Errorf("Run delivered link %q, want %q", r.Link("https://"), verifyLink)
		}
	})
}

// claimCounter counts the claims a store sends, through Options.OnStatement.
type claimCounter struct {
	mu sync.Mutex
	n  int
}

func (c *claimCounter) hook(_ context.Context, st storage.Statement) {
	if !st.Prepare && strings.Contains(st.SQL, "next_attempt_at <=") {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
}

func (c *claimCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// TestRunWakesAtCommit: mail queued in a transaction wakes Run when it is
// committed, and not before: a look while the transaction is open would find
// nothing, and with an hour between looks the mail would wait that long.
func TestRunWakesAtCommit(t *testing.T) {
	eachBackend(t, func(t *testing.T, url string, _ *storage.Store) {
		var claims claimCounter
		s, err := storage.Open(storage.Options{URL: url, Pooler: storage.PoolerNone, Secrets: []string{storagetest.TestSecret}, OnStatement: claims.hook})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if s.Dialect() == storage.Postgres {
			// Connect the listener first: its connection wakes every watcher
			// once, which would be a look of its own.
			_, stop := s.Watch(storage.TopicMail)
			waitFor(t, "the store listening", s.Listening)
			stop()
		}
		srv := mailtest.NewServer(t, mailtest.Options{})
		o := outbox.New(s, smtpMailer(t, srv), outbox.Options{Interval: time.Hour})
		runOutbox(t, o)
		waitFor(t, "Run's first look", func() bool { return claims.count() >= 1 })

		err = s.InTx(t.Context(), func(ctx context.Context) error {
			enqueue(t, ctx, o, verifyMessage("ada@example.com"))
			before := claims.count()
			// Give a premature wake-up every chance to show: Run must not look
			// for mail that is not committed.
			deadline := time.NewTimer(time.Second)
			defer deadline.Stop()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for claims.count() == before {
				select {
				case <-deadline.C:
					return nil
				case <-tick.C:
				}
			}
			t.Errorf("Run looked for mail while the transaction that queued it was open")
			return nil
		})
		if err != nil {
			t.Fatalf("InTx: %v", err)
		}
		if r := srv.WaitMessages(t, 1)[0]; r.To[0] != "ada@example.com" {
			t.Errorf("delivered to %v, want ada@example.com", r.To)
		}
	})
}

// TestRunRetriesWhenDue: a failed send is retried when its backoff has passed,
// without waiting for the next periodic look.
func TestRunRetriesWhenDue(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, s *storage.Store) {
		srv := mailtest.NewServer(t, mailtest.Options{})
		srv.Stop()
		o := outbox.New(s, smtpMailer(t, srv), outbox.Options{Interval: time.Hour, BaseBackoff: 50 * time.Millisecond})
		runOutbox(t, o)
		enqueue(t, t.Context(), o, verifyMessage("ada@example.com"))
		waitFor(t, "a failed attempt", func() bool {
			p := listMail(t, s, storage.MailPending)
			return len(p) == 1 && p[0].Attempts >= 1
		})
		srv.Start()
		srv.WaitMessages(t, 1)
		waitFor(t, "the message marked sent", func() bool { return len(listMail(t, s, storage.MailSent)) == 1 })
	})
}

// TestRunSeesOtherInstance: on PostgreSQL, mail queued through another store (an
// instance that stopped before sending it, or the CLI) wakes Run at once.
func TestRunSeesOtherInstance(t *testing.T) {
	url := storagetest.NewPostgresDatabase(t)
	s := storagetest.OpenURL(t, url, storage.PoolerNone)
	other := storagetest.OpenURL(t, url, storage.PoolerNone)
	srv := mailtest.NewServer(t, mailtest.Options{})
	o := outbox.New(s, smtpMailer(t, srv), outbox.Options{Interval: time.Hour})
	runOutbox(t, o)
	waitFor(t, "the store listening", s.Listening)
	if _, err := other.EnqueueMail(t.Context(), storage.OutboxMessage{ToAddress: "grace@example.com", Subject: "s", TextBody: "t"}); err != nil {
		t.Fatal(err)
	}
	if r := srv.WaitMessages(t, 1)[0]; r.To[0] != "grace@example.com" {
		t.Errorf("delivered to %v, want grace@example.com", r.To)
	}
}

// TestPurge deletes sent messages after a day and failed ones after a week, and
// nothing pending.
func TestPurge(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, s *storage.Store) {
		ctx := t.Context()
		now := time.Now()
		mk := func(to string, created time.Time) storage.OutboxMessage {
			m, err := s.EnqueueMail(ctx, storage.OutboxMessage{ToAddress: to, Subject: "s", TextBody: "t", CreatedAt: created})
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		oldSent, recentSent := mk("old-sent@example.com", now.Add(-72*time.Hour)), mk("recent-sent@example.com", now.Add(-2*time.Hour))
		oldFailed, recentFailed := mk("old-failed@example.com", now.Add(-8*24*time.Hour)), mk("recent-failed@example.com", now.Add(-6*24*time.Hour))
		oldPending := mk("old-pending@example.com", now.Add(-30*24*time.Hour))
		for _, m := range []storage.OutboxMessage{oldSent, recentSent} {
			if err := s.MarkMailSent(ctx, m.ID, 1, m.CreatedAt.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range []storage.OutboxMessage{oldFailed, recentFailed} {
			if err := s.MarkMailFailed(ctx, m.ID, 10, "gone"); err != nil {
				t.Fatal(err)
			}
		}
		n, err := outbox.Purge(ctx, s, now, 2)
		if err != nil || n != 2 {
			t.Errorf("Purge = %d, %v; want 2, nil", n, err)
		}
		for _, m := range []storage.OutboxMessage{oldSent, oldFailed} {
			if _, err := s.GetMail(ctx, m.ID); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("GetMail(%s) after Purge: %v, want ErrNotFound", m.ToAddress, err)
			}
		}
		for _, m := range []storage.OutboxMessage{recentSent, recentFailed, oldPending} {
			if _, err := s.GetMail(ctx, m.ID); err != nil {
				t.Errorf("GetMail(%s) after Purge: %v, want it kept", m.ToAddress, err)
			}
		}
	})
}

func TestSendEnqueues(t *testing.T) {
	eachBackend(t, func(t *testing.T, _ string, s *storage.Store) {
		srv := mailtest.NewServer(t, mailtest.Options{})
		var m mail.Mailer = outbox.New(s, smtpMailer(t, srv), outbox.Options{Now: newClock().Now})
		if err := m.Send(t.Context(), verifyMessage("ada@example.com")); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if p := listMail(t, s, storage.MailPending); len(p) != 1 || p[0].ToAddress != "ada@example.com" || p[0].TextBody != verifyMessage("").Text {
			t.Errorf("pending after Send = %+v, want the message queued", p)
		}
		if n := len(srv.Messages()); n != 0 {
			t.Errorf("Send delivered %d messages at once, want it queued", n)
		}
	})
}

func TestEnqueueValidates(t *testing.T) {
	s := storagetest.OpenSQLite(t)
	o := outbox.New(s, mail.NewDev(nil), outbox.Options{})
	for _, tc := range []struct {
		name string
		m    mail.Message
	}{
		{"no recipient", mail.Message{Subject: "s", Text: "t"}},
		{"bad recipient", mail.Message{To: "not an address", Subject: "s", Text: "t"}},
		{"header injection", mail.Message{To: "a@example.com\r\nBcc: b@example.com", Subject: "s", Text: "t"}},
		{"no text", mail.Message{To: "a@example.com", Subject: "s", HTML: "<p>h</p>"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := o.Enqueue(t.Context(), tc.m); err == nil {
				t.Errorf("Enqueue(%+v): no error", tc.m)
			}
		})
	}
	if n := len(listMail(t, s, "")); n != 0 {
		t.Errorf("%d messages stored, want none", n)
	}
}

func TestDevMailerThroughOutbox(t *testing.T) {
	s := storagetest.OpenSQLite(t)
	dev := mail.NewDev(nil)
	o := outbox.New(s, dev, outbox.Options{})
	enqueue(t, t.Context(), o, verifyMessage("ada@example.com"))
	if sent, err := flush(t, o); sent != 1 || err != nil {
		t.Fatalf("Flush = %d, %v; want 1, nil", sent, err)
	}
	if got := dev.Messages(); len(got) != 1 || got[0] != verifyMessage("ada@example.com") {
		t.Errorf("development mailer got %+v, want the message", got)
	}
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}
