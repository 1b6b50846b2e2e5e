package storagetest

import (
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// importCases covers what gatehouse import stores: users with their source ids
// and timestamps, and upstream accounts.
func importCases() []Case {
	return []Case{
		{"ImportedUserKeepsIDAndTimes", testImportedUserKeepsIDAndTimes},
		{"ImportedUserConflictStoresNothing", testImportedUserConflictStoresNothing},
		{"ImportedUserGoesWithUser", testImportedUserGoesWithUser},
		{"ExternalIdentityUniquePerProviderAccount", testExternalIdentityUniquePerProviderAccount},
	}
}

// testImportedUserKeepsIDAndTimes: the user keeps the id and the times it is
// given (returned in UTC), the e-mail is normalised, and the mapping finds it.
func testImportedUserKeepsIDAndTimes(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	created := time.Date(2024, 5, 6, 7, 8, 9, 123456000, elsewhere)
	updated := created.Add(48 * time.Hour)
	id := "0b6a4a9e-6f0e-4f38-9d7c-3c1f1f0a5d11"
	u, err := s.CreateImportedUser(ctx, storage.User{
		ID: id, Email: "Ada@Example.COM", EmailVerified: true, Name: "Ada", PasswordHash: "$2b$10$abc",
		CreatedAt: created, UpdatedAt: updated,
	}, storage.ImportedUser{Source: "better-auth", ExternalID: "ba_user_1"})
	must(t, err, "CreateImportedUser")
	if u.ID != id {
		t.Errorf("CreateImportedUser ID = %q, want %q", u.ID, id)
	}
	got, err := s.GetUser(ctx, id)
	must(t, err, "GetUser")
	if got.Email != "ada@example.com" || !got.EmailVerified || got.Name != "Ada" || got.PasswordHash != "$2b$10$abc" {
		t.Errorf("GetUser = %+v, want the imported fields with the e-mail normalised", got)
	}
	if !got.CreatedAt.Equal(created) || !got.UpdatedAt.Equal(updated) {
		t.Errorf("GetUser times = %v, %v, want %v, %v", got.CreatedAt, got.UpdatedAt, created, updated)
	}
	if got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt in %v, want UTC", got.CreatedAt.Location())
	}
	m, err := s.GetImportedUser(ctx, "better-auth", "ba_user_1")
	must(t, err, "GetImportedUser")
	if m.UserID != id || m.Source != "better-auth" || m.ExternalID != "ba_user_1" || m.CreatedAt.IsZero() {
		t.Errorf("GetImportedUser = %+v, want the mapping to %s", m, id)
	}
	_, err = s.GetImportedUser(ctx, "better-auth", "ba_user_2")
	wantNotFound(t, err, "GetImportedUser of an unknown id")
	_, err = s.GetImportedUser(ctx, "other", "ba_user_1")
	wantNotFound(t, err, "GetImportedUser of another source")
	_, err = s.GetImportedUser(ctx, "better-auth", "bad\x00id")
	wantNotFound(t, err, "GetImportedUser with a NUL byte")
}

// testImportedUserConflictStoresNothing: a taken e-mail or a mapped source id
// answers ErrConflict and leaves no half of the pair behind.
func testImportedUserConflictStoresNothing(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	createUser(t, s, "taken@example.com")
	_, err := s.CreateImportedUser(ctx, storage.User{Email: "TAKEN@example.com"}, storage.ImportedUser{Source: "better-auth", ExternalID: "x1"})
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("CreateImportedUser with a taken e-mail: error %v, want ErrConflict", err)
	}
	_, err = s.GetImportedUser(ctx, "better-auth", "x1")
	wantNotFound(t, err, "mapping after the refused import")

	_, err = s.CreateImportedUser(ctx, storage.User{Email: "first@example.com"}, storage.ImportedUser{Source: "better-auth", ExternalID: "x2"})
	must(t, err, "CreateImportedUser")
	_, err = s.CreateImportedUser(ctx, storage.User{Email: "second@example.com"}, storage.ImportedUser{Source: "better-auth", ExternalID: "x2"})
	if !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("CreateImportedUser with a mapped external id: error %v, want ErrConflict", err)
	}
	_, err = s.GetUserByEmail(ctx, "second@example.com")
	wantNotFound(t, err, "user of the refused import")
}

// testImportedUserGoesWithUser: deleting the user deletes its mapping and its
// upstream accounts.
func testImportedUserGoesWithUser(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u, err := s.CreateImportedUser(ctx, storage.User{Email: "gone@example.com"}, storage.ImportedUser{Source: "better-auth", ExternalID: "gone"})
	must(t, err, "CreateImportedUser")
	_, err = s.CreateExternalIdentity(ctx, storage.ExternalIdentity{UserID: u.ID, Provider: "github", AccountID: "42", Source: "better-auth"})
	must(t, err, "CreateExternalIdentity")
	must(t, s.DeleteUser(ctx, u.ID), "DeleteUser")
	_, err = s.GetImportedUser(ctx, "better-auth", "gone")
	wantNotFound(t, err, "mapping of a deleted user")
	_, err = s.GetExternalIdentity(ctx, "github", "42")
	wantNotFound(t, err, "external identity of a deleted user")
}

// testExternalIdentityUniquePerProviderAccount: one provider account belongs
// to one user; the same account id at another provider is another account.
func testExternalIdentityUniquePerProviderAccount(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	a, b := createUser(t, s, "a@example.com"), createUser(t, s, "b@example.com")
	e, err := s.CreateExternalIdentity(ctx, storage.ExternalIdentity{UserID: a.ID, Provider: "github", AccountID: "1001", Source: "better-auth"})
	must(t, err, "CreateExternalIdentity")
	if e.ID == "" || e.CreatedAt.IsZero() {
		t.Errorf("CreateExternalIdentity = %+v, want an id and times", e)
	}
	_, err = s.CreateExternalIdentity(ctx, storage.ExternalIdentity{UserID: b.ID, Provider: "github", AccountID: "1001"})
	if !errors.Is(err, storage.ErrConflict) {
		t.Errorf("second user with the same GitHub account: error %v, want ErrConflict", err)
	}
	_, err = s.CreateExternalIdentity(ctx, storage.ExternalIdentity{UserID: a.ID, Provider: "google", AccountID: "1001"})
	must(t, err, "CreateExternalIdentity at another provider")
	got, err := s.GetExternalIdentity(ctx, "github", "1001")
	must(t, err, "GetExternalIdentity")
	if got.UserID != a.ID || got.Source != "better-auth" {
		t.Errorf("GetExternalIdentity = %+v, want user %s from better-auth", got, a.ID)
	}
	list, err := s.ListExternalIdentities(ctx, a.ID)
	must(t, err, "ListExternalIdentities")
	if len(list) != 2 || list[0].Provider != "github" || list[1].Provider != "google" {
		t.Errorf("ListExternalIdentities = %+v, want github then google", list)
	}
	if list, _ := s.ListExternalIdentities(ctx, b.ID); len(list) != 0 {
		t.Errorf("ListExternalIdentities of b = %+v, want none", list)
	}
	_, err = s.CreateExternalIdentity(ctx, storage.ExternalIdentity{UserID: a.ID, Provider: "", AccountID: "1"})
	if err == nil {
		t.Errorf("CreateExternalIdentity without a provider: no error")
	}
}
