package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

func brandingCases() []Case {
	return []Case{
		{"BrandingUnsetIsEmpty", testBrandingUnsetIsEmpty},
		{"BrandingPutReplaces", testBrandingPutReplaces},
		{"BrandingWatchWakesAfterCommit", testBrandingWatchWakesAfterCommit},
		{"BrandingRefusesBadText", testBrandingRefusesBadText},
	}
}

func ptr(s string) *string { return &s }

// testBrandingUnsetIsEmpty: a database nobody branded answers every field nil.
func testBrandingUnsetIsEmpty(t *testing.T, s *storage.Store) {
	b, err := s.GetBranding(t.Context())
	must(t, err, "GetBranding")
	if b.ProductName != nil || b.LogoURL != nil || b.FaviconURL != nil || b.PrimaryColor != nil || b.SupportURL != nil || !b.UpdatedAt.IsZero() {
		t.Errorf("GetBranding on a new database = %+v, want every field nil", b)
	}
}

// testBrandingPutReplaces: a put replaces every field (nil clears one, and an
// empty string is kept apart from nil), the row stays one, and the time is UTC.
func testBrandingPutReplaces(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	now := time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.FixedZone("CET", 3600))
	_, err := s.PutBranding(ctx, storage.Branding{
		ProductName: ptr("Acme ID"), LogoURL: ptr("https://cdn.example.com/logo.svg"), FaviconURL: ptr(""),
		PrimaryColor: ptr("#aa3300"), SupportURL: ptr("mailto:help@example.com"),
	}, now)
	must(t, err, "PutBranding")
	got, err := s.GetBranding(ctx)
	must(t, err, "GetBranding")
	want := map[string]*string{"product_name": ptr("Acme ID"), "logo_url": ptr("https://cdn.example.com/logo.svg"), "favicon_url": ptr(""), "primary_color": ptr("#aa3300"), "support_url": ptr("mailto:help@example.com")}
	checkBranding(t, got, want)
	if !got.UpdatedAt.Equal(now.Truncate(time.Microsecond)) || got.UpdatedAt.Location() != time.UTC {
		t.Errorf("UpdatedAt = %v, want %v in UTC", got.UpdatedAt, now)
	}

	_, err = s.PutBranding(ctx, storage.Branding{ProductName: ptr("Acme"), PrimaryColor: ptr("#000000")}, now.Add(time.Minute))
	must(t, err, "PutBranding again")
	got, err = s.GetBranding(ctx)
	must(t, err, "GetBranding")
	checkBranding(t, got, map[string]*string{"product_name": ptr("Acme"), "primary_color": ptr("#000000")})

	var rows int
	must(t, s.DB().QueryRowContext(ctx, "SELECT count(*) FROM branding").Scan(&rows), "count rows")
	if rows != 1 {
		t.Errorf("branding has %d rows, want 1", rows)
	}

	_, err = s.PutBranding(ctx, storage.Branding{}, now)
	must(t, err, "PutBranding nothing")
	got, err = s.GetBranding(ctx)
	must(t, err, "GetBranding")
	checkBranding(t, got, nil)
}

func checkBranding(t *testing.T, got storage.Branding, want map[string]*string) {
	t.Helper()
	for name, v := range map[string]*string{"product_name": got.ProductName, "logo_url": got.LogoURL, "favicon_url": got.FaviconURL, "primary_color": got.PrimaryColor, "support_url": got.SupportURL} {
		w := want[name]
		switch {
		case w == nil && v != nil:
			t.Errorf("%s = %q, want nil", name, *v)
		case w != nil && v == nil:
			t.Errorf("%s = nil, want %q", name, *w)
		case w != nil && *v != *w:
			t.Errorf("%s = %q, want %q", name, *v, *w)
		}
	}
}

// testBrandingWatchWakesAfterCommit: a watcher of TopicBranding is woken when a
// change commits, not before and not after a rollback, and not by other topics.
func testBrandingWatchWakesAfterCommit(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	wake, stop := s.Watch(storage.TopicBranding)
	defer stop()
	if s.Dialect() == storage.Postgres && !s.Pooled() {
		waitUntil(t, "the listener connected", s.Listening)
	}
	woken(wake)
	mail, stopMail := s.Watch(storage.TopicMail)
	defer stopMail()
	woken(mail)

	must(t, s.InTx(ctx, func(ctx context.Context) error {
		_, err := s.PutBranding(ctx, storage.Branding{ProductName: ptr("In a transaction")}, time.Now())
		if woken(wake) {
			t.Errorf("watcher woken before the transaction committed")
		}
		return err
	}), "InTx")
	if !woken(wake) {
		t.Errorf("watcher not woken after the commit")
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.PutBranding(ctx, storage.Branding{ProductName: ptr("Rolled back")}, time.Now()); err != nil {
			return err
		}
		return errors.New("the caller's work failed")
	})
	if err == nil {
		t.Fatal("InTx: no error, want the callback's")
	}
	if woken(wake) {
		t.Errorf("watcher woken by a change that was rolled back")
	}
	got, err := s.GetBranding(ctx)
	must(t, err, "GetBranding")
	checkBranding(t, got, map[string]*string{"product_name": ptr("In a transaction")})
	_, err = s.PutBranding(ctx, storage.Branding{}, time.Now())
	must(t, err, "PutBranding")
	if !woken(wake) {
		t.Errorf("watcher not woken by a change outside a transaction")
	}
	if woken(mail) {
		t.Errorf("a watcher of mail was woken by branding")
	}
}

// testBrandingRefusesBadText: text PostgreSQL would refuse is refused by the
// store, alike on both dialects.
func testBrandingRefusesBadText(t *testing.T, s *storage.Store) {
	if _, err := s.PutBranding(t.Context(), storage.Branding{ProductName: ptr("nul\x00byte")}, time.Now()); err == nil {
		t.Errorf("PutBranding with a NUL byte: no error")
	}
	if _, err := s.PutBranding(t.Context(), storage.Branding{SupportURL: ptr("bad \xff utf-8")}, time.Now()); err == nil {
		t.Errorf("PutBranding with invalid UTF-8: no error")
	}
}
