package storagetest

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// federationCases covers what sign-in through upstream identity providers
// stores: users made by a provider, the sign-in record, sealed upstream tokens
// and unlinking.
func federationCases() []Case {
	return []Case{
		{"FederatedUserCreatedWithIdentity", testFederatedUserCreatedWithIdentity},
		{"FederatedUserConflictStoresNothing", testFederatedUserConflictStoresNothing},
		{"ExternalSignInRecorded", testExternalSignInRecorded},
		{"ExternalTokensSealedAndBound", testExternalTokensSealedAndBound},
		{"ExternalIdentityUnlinkOnlyOwn", testExternalIdentityUnlinkOnlyOwn},
	}
}

// testFederatedUserCreatedWithIdentity: the user (no password) and the
// provider account that made it are stored together and found again.
func testFederatedUserCreatedWithIdentity(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	at := time.Date(2026, 3, 4, 5, 6, 7, 891011000, elsewhere)
	u, e, err := s.CreateUserWithExternalIdentity(ctx,
		storage.User{Email: "Grace@Example.org", EmailVerified: true, Name: "Grace"},
		storage.ExternalIdentity{Provider: "upstream", AccountID: "sub-1", Email: "grace@example.org", LastSignInAt: &at})
	must(t, err, "CreateUserWithExternalIdentity")
	if u.ID == "" || e.ID == "" || e.UserID != u.ID || u.Email != "grace@example.org" {
		t.Fatalf("CreateUserWithExternalIdentity = %+v, %+v, want ids, the link and the e-mail normalised", u, e)
	}
	got, err := s.GetUser(ctx, u.ID)
	must(t, err, "GetUser")
	if got.PasswordHash != "" || !got.EmailVerified || got.Name != "Grace" {
		t.Errorf("GetUser = %+v, want no password, verified, the name", got)
	}
	ge, err := s.GetExternalIdentity(ctx, "upstream", "sub-1")
	must(t, err, "GetExternalIdentity")
	if ge.UserID != u.ID || ge.Email != "grace@example.org" || ge.LastSignInAt == nil || !ge.LastSignInAt.Equal(at) || ge.LastSignInAt.Location() != time.UTC {
		t.Errorf("GetExternalIdentity = %+v, want the user, the e-mail and the sign-in time %v in UTC", ge, at)
	}
	list, err := s.ListExternalIdentities(ctx, u.ID)
	must(t, err, "ListExternalIdentities")
	if len(list) != 1 || list[0].ID != e.ID {
		t.Errorf("ListExternalIdentities = %+v, want the one identity", list)
	}
}

// testFederatedUserConflictStoresNothing: a taken e-mail or a taken provider
// account is ErrConflict, and neither half is stored.
func testFederatedUserConflictStoresNothing(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	taken := createUser(t, s, "taken@example.com")
	_, _, err := s.CreateUserWithExternalIdentity(ctx, storage.User{Email: "TAKEN@example.com"},
		storage.ExternalIdentity{Provider: "upstream", AccountID: "sub-2"})
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("CreateUserWithExternalIdentity with a taken e-mail = %v, want ErrConflict", err)
	}
	_, err = s.GetExternalIdentity(ctx, "upstream", "sub-2")
	wantNotFound(t, err, "the identity of a refused user")

	_, err = s.CreateExternalIdentity(ctx, storage.ExternalIdentity{UserID: taken.ID, Provider: "upstream", AccountID: "sub-3"})
	must(t, err, "CreateExternalIdentity")
	_, _, err = s.CreateUserWithExternalIdentity(ctx, storage.User{Email: "new@example.com"},
		storage.ExternalIdentity{Provider: "upstream", AccountID: "sub-3"})
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("CreateUserWithExternalIdentity with a taken account = %v, want ErrConflict", err)
	}
	_, err = s.GetUserByEmail(ctx, "new@example.com")
	wantNotFound(t, err, "the user whose identity was refused")
}

// testExternalSignInRecorded: the e-mail and time of the last sign-in are
// kept; an unknown id is ErrNotFound.
func testExternalSignInRecorded(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "lin@example.com")
	e, err := s.CreateExternalIdentity(ctx, storage.ExternalIdentity{UserID: u.ID, Provider: "github", AccountID: "77", Source: "better-auth"})
	must(t, err, "CreateExternalIdentity")
	if e.LastSignInAt != nil || e.Email != "" {
		t.Errorf("a new imported identity = %+v, want no sign-in and no e-mail", e)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, elsewhere)
	must(t, s.RecordExternalSignIn(ctx, e.ID, "lin@example.com", "urn:example:loa:2", at), "RecordExternalSignIn")
	got, err := s.GetExternalIdentity(ctx, "github", "77")
	must(t, err, "GetExternalIdentity")
	if got.Email != "lin@example.com" || got.LastSignInAt == nil || !got.LastSignInAt.Equal(at) || got.Source != "better-auth" || got.LastACR != "urn:example:loa:2" {
		t.Errorf("after RecordExternalSignIn = %+v, want the e-mail, the acr, %v and the source kept", got, at)
	}
	wantNotFound(t, s.RecordExternalSignIn(ctx, "5b0e5b4e-0000-4000-8000-000000000000", "x@example.com", "", at), "RecordExternalSignIn of an unknown id")
}

// testExternalTokensSealedAndBound: tokens read back as kept, are not stored
// in the clear, cannot be moved to another row, and nil forgets them.
func testExternalTokensSealedAndBound(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "tok@example.com")
	a, err := s.CreateExternalIdentity(ctx, storage.ExternalIdentity{UserID: u.ID, Provider: "p", AccountID: "a"})
	must(t, err, "CreateExternalIdentity")
	b, err := s.CreateExternalIdentity(ctx, storage.ExternalIdentity{UserID: u.ID, Provider: "p", AccountID: "b"})
	must(t, err, "CreateExternalIdentity")
	none, err := s.ExternalIdentityTokens(ctx, a.ID)
	must(t, err, "ExternalIdentityTokens before any")
	if none != nil {
		t.Errorf("ExternalIdentityTokens before any = %q, want nil", none)
	}
	secret := []byte(`{"access_token":"upstream-access-token-123"}`)
	must(t, s.SetExternalIdentityTokens(ctx, a.ID, secret), "SetExternalIdentityTokens")
	got, err := s.ExternalIdentityTokens(ctx, a.ID)
	must(t, err, "ExternalIdentityTokens")
	if !bytes.Equal(got, secret) {
		t.Errorf("ExternalIdentityTokens = %q, want %q", got, secret)
	}
	list, err := s.ListExternalIdentities(ctx, u.ID)
	must(t, err, "ListExternalIdentities")
	var sealed []byte
	for _, e := range list {
		if e.ID == a.ID {
			sealed = e.SealedTokens
		}
	}
	if len(sealed) == 0 || bytes.Contains(sealed, []byte("upstream-access-token-123")) {
		t.Fatalf("stored tokens = %q, want them sealed", sealed)
	}
	// A sealed value copied to another row does not open there.
	must(t, s.SetExternalIdentityTokens(ctx, b.ID, []byte("b")), "SetExternalIdentityTokens b")
	if _, err := s.Sealer().Open(sealed, []byte("external_identities.sealed_tokens:"+b.ID)); err == nil {
		t.Error("a's sealed tokens open with b's binding, want them bound to a")
	}
	must(t, s.SetExternalIdentityTokens(ctx, a.ID, nil), "SetExternalIdentityTokens nil")
	got, err = s.ExternalIdentityTokens(ctx, a.ID)
	must(t, err, "ExternalIdentityTokens after forgetting")
	if got != nil {
		t.Errorf("ExternalIdentityTokens after forgetting = %q, want nil", got)
	}
	_, err = s.ExternalIdentityTokens(ctx, "5b0e5b4e-0000-4000-8000-000000000000")
	wantNotFound(t, err, "ExternalIdentityTokens of an unknown id")
}

// testExternalIdentityUnlinkOnlyOwn: a user removes their own identity; one
// of another user is ErrNotFound and stays.
func testExternalIdentityUnlinkOnlyOwn(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	owner := createUser(t, s, "owner@example.com")
	other := createUser(t, s, "other@example.com")
	e, err := s.CreateExternalIdentity(ctx, storage.ExternalIdentity{UserID: owner.ID, Provider: "p", AccountID: "own"})
	must(t, err, "CreateExternalIdentity")
	wantNotFound(t, s.DeleteExternalIdentity(ctx, other.ID, e.ID), "DeleteExternalIdentity by another user")
	if _, err := s.GetExternalIdentity(ctx, "p", "own"); err != nil {
		t.Fatalf("the identity after another user's delete: %v, want it kept", err)
	}
	must(t, s.DeleteExternalIdentity(ctx, owner.ID, e.ID), "DeleteExternalIdentity")
	_, err = s.GetExternalIdentity(ctx, "p", "own")
	wantNotFound(t, err, "the deleted identity")
	wantNotFound(t, s.DeleteExternalIdentity(ctx, owner.ID, e.ID), "DeleteExternalIdentity again")
}
