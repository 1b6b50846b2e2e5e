package storage_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
	"github.com/google/uuid"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"ascii", "  Ada@Example.COM ", "ada@example.com"},
		{"full-width", "\uff21\uff44\uff41\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "ada@example.com"},
		{"ligature", "\ufb01ona@example.com", "fiona@example.com"},
		{"decomposed accent", "jose\u0301@example.com", "jos\u00e9@example.com"},
		{"capital accent", "JOS\u00c9@example.com", "jos\u00e9@example.com"},
		{"compatibility capital", "\u1d2cda@example.com", "ada@example.com"}, // modifier letter capital A
		{"symbol to capitals", "\u2121@example.com", "tel@example.com"},      // ℡
		{"kelvin sign", "\u212aate@example.com", "kate@example.com"},
		{"ideographic space trimmed", "\u3000ada@example.com\u00a0", "ada@example.com"},
		{"non-latin kept", "\u0418\u0432\u0430\u043d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "\u0438\u0432\u0430\u043d@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := storage.NormalizeEmail(tc.in)
			if got != tc.want {
				t.Errorf("NormalizeEmail(%+q) = %+q, want %+q", tc.in, got, tc.want)
			}
			if again := storage.NormalizeEmail(got); again != got {
				t.Errorf("NormalizeEmail is not idempotent on %+q: %+q", got, again)
			}
		})
	}
}

// TestMigrationNormalizesEmails builds a database as version 7 left it, with
// addresses stored before NFKC (only trimmed and lower-cased), and migrates it:
// on PostgreSQL every address whose NFKC form SQL can compute exactly is
// rewritten to what NormalizeEmail gives, so its owner signs in as before;
// collisions and non-ASCII results stay; a non-UTF8 database is left alone.
func TestMigrationNormalizesEmails(t *testing.T) {
	ctx := t.Context()
	dbURL := storagetest.NewPostgresDatabase(t)
	m, err := storage.NewMigrator(dbURL, 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.UpTo(ctx, 7); err != nil {
		t.Fatal(err)
	}
	old := map[string]string{ // stored before → after the migration
		"\uff41\uff44\uff41@example.com": "ada@example.com",            // full-width, alone
		"\u1d2cnn@example.com":           "ann@example.com",            // NFKC gives a capital, lowered after
		"\ufb01ona@ex\u00e4mple.com":     "\ufb01ona@ex\u00e4mple.com", // NFKC keeps non-ASCII: left
		"grace@example.com":              "grace@example.com",          // already normal
		"\uff47race@example.com":         "\uff47race@example.com",     // would collide with grace@: left
		"plain@example.com":              "plain@example.com",
	}
	// Two old rows with one NFKC form: the first (by id) is rewritten.
	second := "00000000-0000-4000-8000-000000000002"
	ids := map[string]string{}
	pg := openRaw(t, dbURL)
	insert := func(id, email string) {
		t.Helper()
		if _, err := pg.DB().ExecContext(ctx, `INSERT INTO users (id, email, created_at, updated_at) VALUES ($1, $2, now(), now())`, id, email); err != nil {
			t.Fatalf("insert %+q: %v", email, err)
		}
	}
	for email := range old {
		id := uuid.NewString()
		ids[email] = id
		insert(id, email)
	}
	insert(first, "\uff4cin@example.com")
	insert(second, "l\uff49n@example.com")

	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	s := storagetest.OpenURL(t, dbURL, storage.PoolerNone)
	for before, want := range old {
		u, err := s.GetUser(ctx, ids[before])
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != want {
			t.Errorf("%+q after the migration: %+q, want %+q", before, u.Email, want)
		}
	}
	if u, err := s.GetUser(ctx, first); err != nil || u.Email != "lin@example.com" {
		t.Errorf("first of two colliding rows: %+q, %v; want lin@example.com", u.Email, err)
	}
	if u, err := s.GetUser(ctx, second); err != nil || u.Email != "l\uff49n@example.com" {
		t.Errorf("second of two colliding rows: %+q, %v; want it left", u.Email, err)
	}
	if u, err := s.GetUserByEmail(ctx, "ADA@example.com"); err != nil || u.ID != ids["\uff41\uff44\uff41@example.com"] {
		t.Errorf("GetUserByEmail(ADA@example.com) after the migration = %q, %v; want the rewritten user", u.ID, err)
	}
}

// TestMigrationSkipsNFKCOnOtherEncodings: normalize() needs UTF8; on another
// server encoding the migration applies and rewrites nothing.
func TestMigrationSkipsNFKCOnOtherEncodings(t *testing.T) {
	ctx := t.Context()
	server := storagetest.PostgresServerURL(t)
	admin := openRaw(t, server)
	var b [6]byte
	rand.Read(b[:])
	name := "gatehouse_test_ascii_" + hex.EncodeToString(b[:])
	if _, err := admin.DB().ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %s ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0", name)); err != nil {
		t.Fatalf("create SQL_ASCII database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.DB().ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	dbURL := storagetest.WithDatabase(t, server, name)
	m, err := storage.NewMigrator(dbURL, 10*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := m.UpTo(ctx, 7); err != nil {
		t.Fatal(err)
	}
	db := openRaw(t, dbURL)
	if _, err := db.DB().ExecContext(ctx, `INSERT INTO users (id, email, created_at, updated_at) VALUES ($1, $2, now(), now())`, first, "\uff41da@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("migrate up on SQL_ASCII: %v", err)
	}
	var email string
	if err := db.DB().QueryRowContext(ctx, `SELECT email FROM users WHERE id = $1`, first).Scan(&email); err != nil {
		t.Fatal(err)
	}
	if email != "\uff41da@example.com" {
		t.Errorf("e-mail on a SQL_ASCII database after the migration: %+q, want it unchanged", email)
	}
}

const first = "00000000-0000-4000-8000-000000000001"

// openRaw opens url without migrating it.
func openRaw(t *testing.T, url string) *storage.Store {
	t.Helper()
	s, err := storage.Open(storage.Options{URL: url, Pooler: storage.PoolerNone, MaxOpenConns: 2})
	if err != nil {
		t.Fatalf("open %s: %v", storage.Describe(url), err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
