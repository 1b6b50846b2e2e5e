package storage_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// statementLog records what Options.OnStatement reports.
type statementLog struct {
	mu  sync.Mutex
	all []storage.Statement
}

func (l *statementLog) add(_ context.Context, st storage.Statement) {
	l.mu.Lock()
	l.all = append(l.all, st)
	l.mu.Unlock()
}

// since returns the statements reported after the first n.
func (l *statementLog) since(n int) []storage.Statement {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.all[n:])
}

func (l *statementLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.all)
}

func sqlOf(sts []storage.Statement) []string {
	out := make([]string, len(sts))
	for i, st := range sts {
		out[i] = st.SQL
		if st.Prepare {
			out[i] = "prepare: " + out[i]
		}
	}
	return out
}

func containsSQL(sts []storage.Statement, part string) bool {
	return slices.ContainsFunc(sts, func(st storage.Statement) bool {
		return !st.Prepare && strings.Contains(strings.ToLower(st.SQL), strings.ToLower(part))
	})
}

// TestStatementHook checks on both dialects that OnStatement sees every
// statement an operation sends (transaction control and pings included) with
// its text, never its arguments, on every connection (the listener's too).
func TestStatementHook(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", newSQLite},
		{"postgres", newPostgres},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log statementLog
			s := openStore(t, storage.Options{URL: tc.url(t), OnStatement: log.add})
			ctx := t.Context()

			n := log.len()
			const secret = "secret-value-that-must-not-be-reported"
			if _, err := s.GetMail(ctx, "0f6b2a53-6c3e-4c1e-9a55-6d1f0f6b2a53"); err == nil {
				t.Fatal("GetMail(unknown) found a message")
			}
			got := log.since(n)
			if !containsSQL(got, "mail_outbox") {
				t.Errorf("GetMail reported %q, want its SELECT on mail_outbox", sqlOf(got))
			}

			n = log.len()
			err := s.InTx(ctx, func(ctx context.Context) error {
				_, err := s.EnqueueMail(ctx, storage.OutboxMessage{ToAddress: "ada@example.com", Subject: secret, TextBody: secret})
				return err
			})
			if err != nil {
				t.Fatalf("InTx: %v", err)
			}
			got = log.since(n)
			for _, want := range []string{"begin", "insert into", "commit"} {
				if !containsSQL(got, want) {
					t.Errorf("a transaction that queued mail reported %q, want a statement with %q", sqlOf(got), want)
				}
			}
			for _, st := range got {
				if strings.Contains(st.SQL, secret) {
					t.Errorf("a reported statement carries an argument: %q", st.SQL)
				}
			}

			n = log.len()
			if err := s.Ping(ctx); err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if got := log.since(n); !containsSQL(got, "-- ping") {
				t.Errorf("Ping reported %q, want -- ping", sqlOf(got))
			}

			if s.Dialect() == storage.Postgres {
				// Using a store that nothing watches (a CLI command) opens no
				// listener connection.
				if storage.ListenerRunning(s) {
					t.Errorf("a store nothing watches started its listener")
				}
				// A watch starts the listener: its LISTEN is reported too.
				_, stop := s.Watch(storage.TopicMail)
				defer stop()
				waitCond(t, "the listener connected", s.Listening)
				if got := log.since(0); !containsSQL(got, "LISTEN gatehouse_mail") {
					t.Errorf("the listener's statements are not reported: %q", sqlOf(got))
				}
			}
		})
	}
}

// TestWatchSeesOtherStore has store b queue mail and rotate a key on one
// PostgreSQL database: a's watchers are woken by b's announcements, not by
// their own store's echo.
func TestWatchSeesOtherStore(t *testing.T) {
	dbURL := newPostgres(t)
	a := openStore(t, storage.Options{URL: dbURL})
	b := openStore(t, storage.Options{URL: dbURL})
	mail, stopMail := a.Watch(storage.TopicMail)
	defer stopMail()
	keys, stopKeys := a.Watch(storage.TopicSigningKeys)
	defer stopKeys()
	waitCond(t, "a's listener connected", a.Listening)
	woken(mail)
	woken(keys)

	if _, err := b.EnqueueMail(t.Context(), storage.OutboxMessage{ToAddress: "ada@example.com", Subject: "s", TextBody: "t"}); err != nil {
		t.Fatalf("b.EnqueueMail: %v", err)
	}
	waitWake(t, "a's mail watcher, after b queued mail", mail)
	if woken(keys) {
		t.Errorf("a's key watcher woken by mail")
	}
	k, der := testSigningKey(t)
	if err := b.RotateSigningKey(t.Context(), k, der, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("b.RotateSigningKey: %v", err)
	}
	waitWake(t, "a's key watcher, after b rotated a key", keys)

	// a's own mail wakes its watcher once, at commit; its own NOTIFY is not
	// delivered a second time. Another store's announcement, sent after a's
	// NOTIFY, arrives after it: once that is seen, a's echo would have been too.
	probe, stopProbe := b.Watch(storage.TopicSigningKeys)
	defer stopProbe()
	waitCond(t, "b's listener connected", b.Listening)
	woken(probe)
	if _, err := a.EnqueueMail(t.Context(), storage.OutboxMessage{ToAddress: "ada@example.com", Subject: "s", TextBody: "t"}); err != nil {
		t.Fatalf("a.EnqueueMail: %v", err)
	}
	if !woken(mail) {
		t.Fatalf("a's watcher not woken at the commit of its own mail")
	}
	k2, der2 := testSigningKey(t)
	if err := b.RotateSigningKey(t.Context(), k2, der2, time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("b.RotateSigningKey: %v", err)
	}
	waitWake(t, "a's key watcher, after b's second rotation", keys)
	if woken(mail) {
		t.Errorf("a's mail watcher woken again by the echo of its own NOTIFY")
	}
}

// TestListenerRestartsOnUse ends a store's listener connection (what a Neon
// compute scaling to zero does): housekeeping does not start it again, the
// next other use of the store does, and every watcher is woken then, since
// changes may have been missed meanwhile.
func TestListenerRestartsOnUse(t *testing.T) {
	dbURL := newPostgres(t)
	// The application name tells the listener's connection apart.
	s := openStore(t, storage.Options{URL: dbURL, ListenURL: withAppName(t, dbURL, "gatehouse-listener")})
	wake, stop := s.Watch(storage.TopicMail)
	defer stop()
	waitCond(t, "listener connected", s.Listening)
	woken(wake)

	admin := openStore(t, storage.Options{URL: dbURL})
	if _, err := admin.DB().ExecContext(t.Context(),
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'gatehouse-listener' AND datname = current_database()"); err != nil {
		t.Fatalf("terminate the listener's backend: %v", err)
	}
	waitCond(t, "listener disconnected", func() bool { return !s.Listening() })
	if woken(wake) {
		t.Errorf("watcher woken when the listener was lost")
	}

	// Past the restart backoff, housekeeping alone does not bring it back.
	storage.SetListenBackoffPassed(s)
	if _, err := s.ClaimMail(storage.Housekeeping(t.Context()), time.Now(), 10, time.Minute); err != nil {
		t.Fatalf("ClaimMail: %v", err)
	}
	if storage.ListenerRunning(s) {
		t.Errorf("housekeeping started the listener")
	}
	if _, err := s.ListMail(t.Context(), "", 10); err != nil {
		t.Fatalf("ListMail: %v", err)
	}
	waitCond(t, "listener connected again after a use", s.Listening)
	if !woken(wake) {
		t.Errorf("watcher not woken when the listener reconnected")
	}
}

// withAppName returns dbURL with application_name set.
func withAppName(t *testing.T, dbURL, name string) string {
	t.Helper()
	sep := "?"
	if strings.Contains(dbURL, "?") {
		sep = "&"
	}
	return dbURL + sep + "application_name=" + name
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

// waitWake waits for a wake-up on ch, failing the test after cacheWait.
func waitWake(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(cacheWait):
		t.Fatalf("%s: not woken within %s", what, cacheWait)
	}
}

// waitCond polls cond until it holds, failing the test after cacheWait.
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(cacheWait)
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

// testSigningKey returns a signing-key record for the store's round trip; the
// store checks that the parts are there, not what they hold.
func testSigningKey(t *testing.T) (storage.SigningKey, []byte) {
	t.Helper()
	kid := strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000000000")
	return storage.SigningKey{KID: kid, Alg: "ES256", PublicJWK: `{"kid":"` + kid + `"}`}, []byte("not a real key")
}
