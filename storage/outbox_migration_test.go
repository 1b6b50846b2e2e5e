package storage_test

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestMailSealedMigration migrates a database whose outbox was written by a
// version that stored bodies in clear: the sent row loses its body (its link
// must not stay readable), the pending one keeps it and is still sent, with its
// body.
func TestMailSealedMigration(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", newSQLite},
		{"postgres", newPostgres},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			dbURL := tc.url(t)
			m, err := storage.NewMigrator(dbURL, 10*time.Second, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			// Back to the schema before 00009 (newer migrations first).
			for {
				v, err := m.Down(ctx)
				if err != nil {
					t.Fatalf("migrate down: %v", err)
				}
				if v <= 9 {
					break
				}
			}
			db, err := storage.Open(storage.Options{URL: dbURL, Pooler: storage.PoolerNone, MaxOpenConns: 1})
			if err != nil {
				t.Fatal(err)
			}
			const link = "https://id.example.com/verify-email?token=bGVnYWN5LXRva2VuLTAxMjM0NTY3ODlhYmNkZWYwMTIz"
			p := func(n int) string {
				if db.Dialect() == storage.Postgres {
					return "$" + strconv.Itoa(n)
				}
				return "?"
			}
			now := time.Now().UTC().Add(-time.Minute)
			for _, row := range []struct{ id, status string }{
				{"11111111-1111-4111-8111-111111111111", storage.MailSent},
				{"22222222-2222-4222-8222-222222222222", storage.MailPending},
			} {
				_, err := db.DB().ExecContext(ctx, "INSERT INTO mail_outbox (id, to_address, subject, text_body, html_body, status, attempts, next_attempt_at, last_error, created_at) VALUES ("+
					strings.Join([]string{p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8), p(9), p(10)}, ", ")+")",
					row.id, "ada@example.com", "Verify", "Open "+link, `<a href="`+link+`">Verify</a>`, row.status, 0, now, "", now)
				if err != nil {
					t.Fatalf("insert a %s row before 00009: %v", row.status, err)
				}
			}
			db.Close()
			if _, err := m.Up(ctx); err != nil {
				t.Fatalf("migrate up: %v", err)
			}

			s := openStore(t, storage.Options{URL: dbURL})
			var text, html string
			err = s.DB().QueryRowContext(ctx, "SELECT text_body, html_body FROM mail_outbox WHERE id = "+p(1), "11111111-1111-4111-8111-111111111111").Scan(&text, &html)
			if err != nil {
				t.Fatal(err)
			}
			if text != "" || html != "" {
				t.Errorf("sent row after 00009: bodies %q, %q; want them dropped", text, html)
			}
			claimed, err := s.ClaimMail(ctx, time.Now(), 10, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if len(claimed) != 1 || claimed[0].ID != "22222222-2222-4222-8222-222222222222" || claimed[0].TextBody != "Open "+link {
				t.Fatalf("ClaimMail after 00009 = %+v, want the pending plain row with its body", claimed)
			}
			if err := s.MarkMailSent(ctx, claimed[0].ID, 1, time.Now()); err != nil {
				t.Fatal(err)
			}
			var sealed sql.NullString
			err = s.DB().QueryRowContext(context.Background(), "SELECT text_body, html_body, sealed_body FROM mail_outbox WHERE id = "+p(1), claimed[0].ID).Scan(&text, &html, &sealed)
			if err != nil {
				t.Fatal(err)
			}
			if text != "" || html != "" || sealed.Valid {
				t.Errorf("plain row once sent: bodies %q, %q, sealed %v; want none", text, html, sealed.Valid)
			}
		})
	}
}
