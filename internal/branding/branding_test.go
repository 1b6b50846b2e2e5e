package branding_test

import (
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/branding"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func str(s string) *string { return &s }

func TestContrast(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want float64
	}{
		{"#ffffff", "#000000", 21},
		{"#1d4ed8", "#ffffff", 6.70},
		{"#767676", "#ffffff", 4.54},
		{"#777777", "#777777", 1},
	} {
		a, _ := branding.ParseColour(tc.a)
		b, _ := branding.ParseColour(tc.b)
		if got := branding.Contrast(a, b); got < tc.want-0.01 || got > tc.want+0.01 {
			t.Errorf("Contrast(%s, %s) = %.3f, want %.2f", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestParseColour(t *testing.T) {
	for in, ok := range map[string]bool{"#1d4ed8": true, "#FFD000": true, "#fff": false, "1d4ed8": false, "#1d4ed8ff": false, "red": false, "#gggggg": false, "": false, "#-12345": false} {
		c, err := branding.ParseColour(in)
		if (err == nil) != ok {
			t.Errorf("ParseColour(%q) = %v, %v; want ok %v", in, c, err, ok)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   branding.Settings
		bad  []string
	}{
		{"nothing set", branding.Settings{}, nil},
		{"all good", branding.Settings{ProductName: str("Acme ID"), LogoURL: str("https://cdn.acme.example/logo.svg"), FaviconURL: str("/static/favicon.png"),
			PrimaryColor: str("#0B7A3B"), SupportURL: str("https://help.acme.example/contact?x=1")}, nil},
		{"empty URLs show none", branding.Settings{LogoURL: str(""), FaviconURL: str(""), SupportURL: str("")}, nil},
		{"loopback http", branding.Settings{LogoURL: str("http://localhost:8080/logo.svg"), SupportURL: str("http://127.0.0.1/help")}, nil},
		{"mailto", branding.Settings{SupportURL: str("mailto:help@acme.example?subject=Sign-in")}, nil},
		{"empty name", branding.Settings{ProductName: str("")}, []string{"product_name"}},
		{"padded name", branding.Settings{ProductName: str(" Acme")}, []string{"product_name"}},
		{"long name", branding.Settings{ProductName: str("an extremely long product name that goes on and on and on past sixty-four")}, []string{"product_name"}},
		{"control in name", branding.Settings{ProductName: str("Acme\nID")}, []string{"product_name"}},
		{"bad colour", branding.Settings{PrimaryColor: str("#12345")}, []string{"primary_color"}},
		{"http logo", branding.Settings{LogoURL: str("http://cdn.acme.example/logo.svg")}, []string{"logo_url"}},
		{"script favicon", branding.Settings{FaviconURL: str("javascript:alert(1)")}, []string{"favicon_url"}},
		{"data logo", branding.Settings{LogoURL: str("data:image/svg+xml,<svg/>")}, []string{"logo_url"}},
		{"protocol-relative", branding.Settings{LogoURL: str("//evil.example/logo.svg")}, []string{"logo_url"}},
		{"quote in URL", branding.Settings{LogoURL: str(`/static/a".svg`)}, []string{"logo_url"}},
		{"userinfo", branding.Settings{SupportURL: str("https://user:pw@help.acme.example/")}, []string{"support_url"}},
		{"two mail addresses", branding.Settings{SupportURL: str("mailto:a@acme.example,b@acme.example")}, []string{"support_url"}},
		{"every field bad", branding.Settings{ProductName: str(""), LogoURL: str("ftp://x/y"), FaviconURL: str("x"), PrimaryColor: str("blue"), SupportURL: str("tel:+1")},
			[]string{"product_name", "logo_url", "favicon_url", "primary_color", "support_url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Validate()
			var ve *branding.ValidationError
			if tc.bad == nil {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.As(err, &ve) {
				t.Fatalf("Validate() = %v, want a *ValidationError", err)
			}
			var fields []string
			for _, p := range ve.Problems {
				fields = append(fields, p.Field)
			}
			if !slices.Equal(fields, tc.bad) {
				t.Errorf("Validate() names %v, want %v", fields, tc.bad)
			}
		})
	}
	s := branding.Settings{PrimaryColor: str("#0B7A3B")}
	if err := s.Validate(); err != nil || *s.PrimaryColor != "#0b7a3b" {
		t.Errorf("Validate did not normalise the colour: %q, %v", *s.PrimaryColor, err)
	}
}

// clock is a settable time for the TTL.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newService(t *testing.T, s *storage.Store, o branding.Options) *branding.Service {
	t.Helper()
	b, err := branding.New(s, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func current(t *testing.T, b *branding.Service) branding.Brand {
	t.Helper()
	br, err := b.Current(t.Context())
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	return br
}

// TestCurrentResolvesAndFollowsChanges on SQLite: the configuration's values
// over the defaults, the admin API's over those, field by field; a change
// through this store shows at once, one written by another process (another
// store on the file) within the TTL.
func TestCurrentResolvesAndFollowsChanges(t *testing.T) {
	file := "sqlite:" + filepath.Join(t.TempDir(), "branding.db")
	s := storagetest.OpenURL(t, file, storage.PoolerNone)
	clk := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	pages := newService(t, s, branding.Options{Defaults: branding.Settings{ProductName: str("Configured")}, TTL: time.Minute, Now: clk.now})
	if _, err := branding.New(s, branding.Options{Defaults: branding.Settings{PrimaryColor: str("navy")}}); err == nil {
		t.Errorf("New accepted an invalid configured colour")
	}

	b := current(t, pages)
	if b.ProductName != "Configured" || b.PrimaryColor != branding.DefaultPrimaryColor || b.LogoURL != "" || b.StylesheetURL() == "" {
		t.Errorf("Current before any change = %+v", b)
	}
	admin := newService(t, s, branding.Options{Now: clk.now})
	if _, err := admin.Set(t.Context(), branding.Settings{LogoURL: str("/static/logo.svg"), PrimaryColor: str("#ffd000")}); err != nil {
		t.Fatal(err)
	}
	b = current(t, pages)
	if b.ProductName != "Configured" || b.LogoURL != "/static/logo.svg" || b.PrimaryColor != "#ffd000" || b.Light.OnPrimary != "#000000" {
		t.Errorf("Current after a change through the same store = %+v", b)
	}

	// Another process on the same file: its change is not announced here.
	other := storagetest.OpenURL(t, file, storage.PoolerNone)
	if _, err := other.PutBranding(t.Context(), storage.Branding{ProductName: str("Elsewhere")}, clk.now()); err != nil {
		t.Fatal(err)
	}
	if b := current(t, pages); b.ProductName != "Configured" {
		t.Errorf("the cached branding was dropped early: %+v", b)
	}
	clk.advance(time.Minute)
	if b := current(t, pages); b.ProductName != "Elsewhere" || b.LogoURL != "" {
		t.Errorf("after the TTL Current = %+v, want the other process's change", b)
	}

	if _, err := admin.Reset(t.Context()); err != nil {
		t.Fatal(err)
	}
	if b := current(t, pages); b.ProductName != "Configured" || b.PrimaryColor != branding.DefaultPrimaryColor {
		t.Errorf("after Reset Current = %+v", b)
	}

	// The database gone: the last branding read, and the error.
	if _, err := admin.Set(t.Context(), branding.Settings{ProductName: str("Last known")}); err != nil {
		t.Fatal(err)
	}
	current(t, pages)
	s.Close()
	clk.advance(time.Hour)
	b, err := pages.Current(t.Context())
	if err == nil || b.ProductName != "Last known" {
		t.Errorf("Current on a closed store = %+v, %v; want the last branding and an error", b, err)
	}
	// For a few seconds it does not ask the failed database again.
	if b, err := pages.Current(t.Context()); err != nil || b.ProductName != "Last known" {
		t.Errorf("Current right after a failure = %+v, %v; want the last branding from memory", b, err)
	}
	clk.advance(10 * time.Second)
	if _, err := pages.Current(t.Context()); err == nil {
		t.Errorf("Current after the back-off did not ask the database again")
	}
}

// TestEveryInstanceSeesChangePromptly: two instances on one PostgreSQL
// database, with a TTL far longer than the test: a change made through one is
// shown by the other as soon as the NOTIFY arrives.
func TestEveryInstanceSeesChangePromptly(t *testing.T) {
	dbURL := storagetest.NewPostgresDatabase(t)
	a := storagetest.OpenURL(t, dbURL, storage.PoolerNone)
	b := storagetest.OpenURL(t, dbURL, storage.PoolerNone)
	pagesB := newService(t, b, branding.Options{TTL: time.Hour})
	adminA := newService(t, a, branding.Options{TTL: time.Hour})

	if got := current(t, pagesB); got.ProductName != branding.DefaultProductName {
		t.Fatalf("before: %+v", got)
	}
	// Current started b's watch, and so its listener.
	waitUntil(t, "b's listener connected", b.Listening)
	current(t, pagesB) // cached from here on: changes are heard
	if _, err := adminA.Set(t.Context(), branding.Settings{ProductName: str("Acme ID"), PrimaryColor: str("#0b7a3b")}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "instance b shows a's change", func() bool {
		got := current(t, pagesB)
		return got.ProductName == "Acme ID" && got.PrimaryColor == "#0b7a3b"
	})
}

// waitUntil polls cond until it holds, for at most 10 seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting until %s", what)
		case <-tick.C:
		}
	}
}
