package storagetest

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

func providerCases() []Case {
	return []Case{
		{"UpstreamProviderRoundTrip", testUpstreamProviderRoundTrip},
		{"UpstreamProviderSecretSealed", testUpstreamProviderSecretSealed},
		{"UpstreamProviderUpdateKeepsSecret", testUpstreamProviderUpdateKeepsSecret},
		{"UpstreamProviderConflictAndMissing", testUpstreamProviderConflictAndMissing},
		{"UpstreamProviderDeleteKeepsIdentities", testUpstreamProviderDeleteKeepsIdentities},
		{"UpstreamProviderWatchWakesAfterCommit", testUpstreamProviderWatchWakesAfterCommit},
		{"UpstreamProviderRefusesBadText", testUpstreamProviderRefusesBadText},
	}
}

func sampleProvider(id string) storage.UpstreamProvider {
	return storage.UpstreamProvider{
		ID: id, Kind: "oidc", Name: "Corp SSO", Issuer: "https://sso.example.com", ClientID: "gatehouse", ClientSecret: "s3cret-" + id,
		Scopes: storage.StringList{"openid", "email"}, ClaimEmail: "mail", ClaimName: "display_name", Style: "dark", LogoURL: "/static/corp.svg",
		AllowedDomains: storage.StringList{"example.com"}, LinkOnly: true, TrustMFA: true, StoreTokens: true,
	}
}

// testUpstreamProviderRoundTrip: every field comes back as stored, the list is
// in the order the providers were added, and times are UTC.
func testUpstreamProviderRoundTrip(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	list, err := s.ListUpstreamProviders(ctx)
	must(t, err, "ListUpstreamProviders on a new database")
	if len(list) != 0 {
		t.Fatalf("a new database lists %d providers", len(list))
	}
	want := sampleProvider("zeta")
	created, err := s.CreateUpstreamProvider(ctx, want)
	must(t, err, "CreateUpstreamProvider")
	gh := storage.UpstreamProvider{ID: "alpha", Kind: "github", ClientID: "gh", ClientSecret: "gh-secret",
		AuthURL: "https://ghe.example.com/login/oauth/authorize", TokenURL: "https://ghe.example.com/login/oauth/access_token", APIURL: "https://ghe.example.com/api/v3"}
	_, err = s.CreateUpstreamProvider(ctx, gh)
	must(t, err, "CreateUpstreamProvider github")

	got, err := s.GetUpstreamProvider(ctx, "zeta")
	must(t, err, "GetUpstreamProvider")
	if got.CreatedAt.Location() != time.UTC || !got.CreatedAt.Equal(created.CreatedAt) {
		t.Errorf("CreatedAt = %v, want %v in UTC", got.CreatedAt, created.CreatedAt)
	}
	if got.Kind != want.Kind || got.Name != want.Name || got.Issuer != want.Issuer || got.ClientID != want.ClientID || got.ClientSecret != want.ClientSecret ||
		!slices.Equal(got.Scopes, want.Scopes) || got.ClaimEmail != "mail" || got.ClaimName != "display_name" || got.ClaimSubject != "" ||
		got.Style != "dark" || got.LogoURL != want.LogoURL || !slices.Equal(got.AllowedDomains, want.AllowedDomains) ||
		!got.LinkOnly || !got.TrustMFA || !got.StoreTokens {
		t.Errorf("GetUpstreamProvider = %+v, want %+v", got, want)
	}
	list, err = s.ListUpstreamProviders(ctx)
	must(t, err, "ListUpstreamProviders")
	if len(list) != 2 || list[0].ID != "zeta" || list[1].ID != "alpha" {
		t.Fatalf("ListUpstreamProviders = %v, want zeta then alpha (the order they were added)", ids(list))
	}
	if list[1].APIURL != gh.APIURL || list[1].AuthURL != gh.AuthURL || list[1].TokenURL != gh.TokenURL || list[1].ClientSecret != "gh-secret" ||
		list[1].Scopes == nil || len(list[1].Scopes) != 0 {
		t.Errorf("listed github provider = %+v", list[1])
	}
}

func ids(list []storage.UpstreamProvider) []string {
	var out []string
	for _, p := range list {
		out = append(out, p.ID)
	}
	return out
}

// testUpstreamProviderSecretSealed: the column holds the secret sealed, not
// in the clear, and a sealed value moved to another row does not open.
func testUpstreamProviderSecretSealed(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	_, err := s.CreateUpstreamProvider(ctx, sampleProvider("one"))
	must(t, err, "CreateUpstreamProvider")
	_, err = s.CreateUpstreamProvider(ctx, sampleProvider("two"))
	must(t, err, "CreateUpstreamProvider")
	var raw []byte
	must(t, s.DB().QueryRowContext(ctx, "SELECT client_secret_sealed FROM upstream_providers WHERE id = 'one'").Scan(&raw), "read the column")
	if len(raw) == 0 || bytes.Contains(raw, []byte("s3cret-one")) {
		t.Fatalf("client_secret_sealed = %q, want the secret sealed", raw)
	}
	// Move one's sealed secret onto two: it is bound to its row.
	_, err = s.DB().ExecContext(ctx, "UPDATE upstream_providers SET client_secret_sealed = $1 WHERE id = 'two'", raw)
	must(t, err, "move the sealed secret")
	if _, err := s.GetUpstreamProvider(ctx, "two"); !errors.Is(err, storage.ErrUnsealable) {
		t.Errorf("GetUpstreamProvider with a moved secret = %v, want ErrUnsealable", err)
	}
}

// testUpstreamProviderUpdateKeepsSecret: an update replaces every field, keeps
// the secret when none is given, the position and the creation time.
func testUpstreamProviderUpdateKeepsSecret(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	first, err := s.CreateUpstreamProvider(ctx, sampleProvider("corp"))
	must(t, err, "CreateUpstreamProvider")
	_, err = s.CreateUpstreamProvider(ctx, sampleProvider("later"))
	must(t, err, "CreateUpstreamProvider")
	_, err = s.UpdateUpstreamProvider(ctx, storage.UpstreamProvider{ID: "corp", Kind: "gitlab", ClientID: "new-client", Issuer: "https://gitlab.example.com"})
	must(t, err, "UpdateUpstreamProvider without a secret")
	got, err := s.GetUpstreamProvider(ctx, "corp")
	must(t, err, "GetUpstreamProvider")
	if got.ClientSecret != "s3cret-corp" || got.Kind != "gitlab" || got.ClientID != "new-client" || got.Name != "" || got.LinkOnly || got.TrustMFA ||
		got.StoreTokens || len(got.Scopes) != 0 || len(got.AllowedDomains) != 0 || got.ClaimEmail != "" || got.Style != "" {
		t.Errorf("after an update without a secret: %+v, want every field replaced and the secret kept", got)
	}
	if !got.CreatedAt.Equal(first.CreatedAt) || got.Position != first.Position {
		t.Errorf("update moved the creation time or position: %+v, first %+v", got, first)
	}
	_, err = s.UpdateUpstreamProvider(ctx, storage.UpstreamProvider{ID: "corp", Kind: "gitlab", ClientID: "new-client", ClientSecret: "rotated"})
	must(t, err, "UpdateUpstreamProvider with a secret")
	got, err = s.GetUpstreamProvider(ctx, "corp")
	must(t, err, "GetUpstreamProvider")
	if got.ClientSecret != "rotated" {
		t.Errorf("secret after rotation = %q", got.ClientSecret)
	}
	list, err := s.ListUpstreamProviders(ctx)
	must(t, err, "ListUpstreamProviders")
	if len(list) != 2 || list[0].ID != "corp" {
		t.Errorf("order after updates = %v, want corp first still", ids(list))
	}
}

// testUpstreamProviderConflictAndMissing: an id stored twice is ErrConflict
// and leaves the first; updating, deleting or reading a missing one is
// ErrNotFound.
func testUpstreamProviderConflictAndMissing(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	_, err := s.CreateUpstreamProvider(ctx, sampleProvider("dup"))
	must(t, err, "CreateUpstreamProvider")
	other := sampleProvider("dup")
	other.Name = "Another"
	if _, err := s.CreateUpstreamProvider(ctx, other); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("a second provider dup = %v, want ErrConflict", err)
	}
	if got, err := s.GetUpstreamProvider(ctx, "dup"); err != nil || got.Name != "Corp SSO" {
		t.Errorf("after the refused create: %+v, %v, want the first kept", got, err)
	}
	if _, err := s.GetUpstreamProvider(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetUpstreamProvider(nope) = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateUpstreamProvider(ctx, sampleProvider("nope")); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("UpdateUpstreamProvider(nope) = %v, want ErrNotFound", err)
	}
	if err := s.DeleteUpstreamProvider(ctx, "nope"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("DeleteUpstreamProvider(nope) = %v, want ErrNotFound", err)
	}
	if _, err := s.CreateUpstreamProvider(ctx, storage.UpstreamProvider{ID: "nosecret", Kind: "oidc", ClientID: "x"}); err == nil {
		t.Errorf("CreateUpstreamProvider without a secret: no error")
	}
	if list, _ := s.ListUpstreamProviders(ctx); len(list) != 1 {
		t.Errorf("refused writes stored something: %v", ids(list))
	}
}

// testUpstreamProviderDeleteKeepsIdentities: removing a provider leaves the
// external identities made through it.
func testUpstreamProviderDeleteKeepsIdentities(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	_, err := s.CreateUpstreamProvider(ctx, sampleProvider("corp"))
	must(t, err, "CreateUpstreamProvider")
	u, e, err := s.CreateUserWithExternalIdentity(ctx, storage.User{Email: "fed@example.com", EmailVerified: true},
		storage.ExternalIdentity{Provider: "corp", AccountID: "sub-1"})
	must(t, err, "CreateUserWithExternalIdentity")
	must(t, s.DeleteUpstreamProvider(ctx, "corp"), "DeleteUpstreamProvider")
	if _, err := s.GetUpstreamProvider(ctx, "corp"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after delete: %v, want ErrNotFound", err)
	}
	got, err := s.GetExternalIdentity(ctx, "corp", "sub-1")
	if err != nil || got.ID != e.ID || got.UserID != u.ID {
		t.Errorf("the identity after its provider went: %+v, %v, want it kept", got, err)
	}
}

// testUpstreamProviderWatchWakesAfterCommit: a watcher of TopicProviders is
// woken by each committed change, not by one rolled back, and not by other
// topics.
func testUpstreamProviderWatchWakesAfterCommit(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	wake, stop := s.Watch(storage.TopicProviders)
	defer stop()
	if s.Dialect() == storage.Postgres && !s.Pooled() {
		waitUntil(t, "the listener connected", s.Listening)
	}
	woken(wake)
	brand, stopBrand := s.Watch(storage.TopicBranding)
	defer stopBrand()
	woken(brand)

	must(t, s.InTx(ctx, func(ctx context.Context) error {
		_, err := s.CreateUpstreamProvider(ctx, sampleProvider("corp"))
		if woken(wake) {
			t.Errorf("watcher woken before the transaction committed")
		}
		return err
	}), "InTx")
	if !woken(wake) {
		t.Errorf("watcher not woken after the create committed")
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.DeleteUpstreamProvider(ctx, "corp"); err != nil {
			return err
		}
		return errors.New("the caller's work failed")
	})
	if err == nil {
		t.Fatal("InTx: no error, want the callback's")
	}
	if woken(wake) {
		t.Errorf("watcher woken by a delete that was rolled back")
	}
	_, err = s.UpdateUpstreamProvider(ctx, sampleProvider("corp"))
	must(t, err, "UpdateUpstreamProvider")
	if !woken(wake) {
		t.Errorf("watcher not woken by an update")
	}
	must(t, s.DeleteUpstreamProvider(ctx, "corp"), "DeleteUpstreamProvider")
	if !woken(wake) {
		t.Errorf("watcher not woken by a delete")
	}
	if woken(brand) {
		t.Errorf("a watcher of branding was woken by providers")
	}
}

// testUpstreamProviderRefusesBadText: text PostgreSQL would refuse is refused
// by the store, alike on both dialects, and nothing is stored.
func testUpstreamProviderRefusesBadText(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	p := sampleProvider("corp")
	p.Name = "nul\x00byte"
	if _, err := s.CreateUpstreamProvider(ctx, p); err == nil {
		t.Errorf("CreateUpstreamProvider with a NUL byte: no error")
	}
	p = sampleProvider("corp")
	p.AllowedDomains = storage.StringList{"bad \xff utf-8"}
	if _, err := s.CreateUpstreamProvider(ctx, p); err == nil {
		t.Errorf("CreateUpstreamProvider with invalid UTF-8: no error")
	}
	if list, _ := s.ListUpstreamProviders(ctx); len(list) != 0 {
		t.Errorf("refused creates stored %v", ids(list))
	}
}
