package storage_test

import (
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// TestBrandingChangeReachesOtherStore: on one PostgreSQL database, a branding
// change made through store b wakes a's watcher of TopicBranding (and only
// that one), so every instance reloads its branding at once.
func TestBrandingChangeReachesOtherStore(t *testing.T) {
	dbURL := newPostgres(t)
	a := openStore(t, storage.Options{URL: dbURL})
	b := openStore(t, storage.Options{URL: dbURL})
	brand, stopBrand := a.Watch(storage.TopicBranding)
	defer stopBrand()
	mail, stopMail := a.Watch(storage.TopicMail)
	defer stopMail()
	waitCond(t, "a's listener connected", a.Listening)
	woken(brand)
	woken(mail)

	name := "Acme"
	if _, err := b.PutBranding(t.Context(), storage.Branding{ProductName: &name}, time.Now()); err != nil {
		t.Fatalf("b.PutBranding: %v", err)
	}
	waitWake(t, "a's branding watcher, after b changed the branding", brand)
	if woken(mail) {
		t.Errorf("a's mail watcher woken by branding")
	}
	got, err := a.GetBranding(t.Context())
	if err != nil || got.ProductName == nil || *got.ProductName != name {
		t.Errorf("a.GetBranding = %+v, %v; want product name %q", got, err, name)
	}
}
