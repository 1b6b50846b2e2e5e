package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/ory/fosite"
)

// roundTripCases covers the reads that bring what a request needs in one
// statement, and the writes that ride along with another's commit (issue 13).
func roundTripCases() []Case {
	return []Case{
		{"SessionForClient", testSessionForClient},
		{"SessionWithUserHasTOTP", testSessionWithUserHasTOTP},
		{"AccessTokenWithSubject", testAccessTokenWithSubject},
		{"NoteAuthorization", testNoteAuthorization},
		{"NoteAuthorizationRollsBackWithItsTransaction", testNoteAuthorizationRollsBack},
	}
}

// testSessionForClient: the session comes with its user and with that user's
// link to the named client only, whatever else is linked.
func testSessionForClient(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada@example.com")
	bob := createUser(t, s, "bob@example.com")
	bs := createSession(t, s, ada, testClock, time.Hour, 24*time.Hour)
	now := testClock.Add(time.Minute)

	got, link, err := s.GetSessionForClient(ctx, bs.TokenHash, now, "app-one")
	must(t, err, "GetSessionForClient with no link")
	if got.ID != bs.ID || got.User == nil || got.User.ID != ada.ID || got.User.Email != ada.Email {
		t.Fatalf("GetSessionForClient = session %s, user %+v; want session %s of %s", got.ID, got.User, bs.ID, ada.Email)
	}
	if link != nil {
		t.Errorf("GetSessionForClient with no link: link %+v, want nil", link)
	}

	_, err = s.RecordAuthorization(ctx, ada.ID, "app-one", "openid email", true, testClock)
	must(t, err, "RecordAuthorization app-one")
	_, err = s.RecordAuthorization(ctx, ada.ID, "app-two", "openid", false, testClock)
	must(t, err, "RecordAuthorization app-two")
	_, err = s.RecordAuthorization(ctx, bob.ID, "app-three", "openid profile", true, testClock)
	must(t, err, "RecordAuthorization of another user")
	for _, tc := range []struct {
		client, scopes string
		remembered     bool
	}{
		{"app-one", "openid email", true},
		{"app-two", "openid", false},
	} {
		_, link, err := s.GetSessionForClient(ctx, bs.TokenHash, now, tc.client)
		must(t, err, "GetSessionForClient(%s)", tc.client)
		if link == nil || link.UserID != ada.ID || link.ClientID != tc.client || link.GrantedScopes != tc.scopes || link.ConsentRemembered != tc.remembered {
			t.Errorf("GetSessionForClient(%s): link %+v, want %s's with %q, remembered %v", tc.client, link, ada.Email, tc.scopes, tc.remembered)
		}
	}
	// Another user's link is not this session's, nor is "no client" any link.
	for _, client := range []string{"app-three", ""} {
		if _, link, err := s.GetSessionForClient(ctx, bs.TokenHash, now, client); err != nil || link != nil {
			t.Errorf("GetSessionForClient(%q) = link %+v, %v; want none", client, link, err)
		}
	}

	must(t, s.RevokeAccount(ctx, ada.ID, "app-one", now), "RevokeAccount")
	_, link, err = s.GetSessionForClient(ctx, bs.TokenHash, now, "app-one")
	must(t, err, "GetSessionForClient after revoking")
	if link == nil || link.RevokedAt == nil || link.ConsentRemembered {
		t.Errorf("GetSessionForClient after revoking: link %+v, want it revoked (the caller decides)", link)
	}

	_, _, err = s.GetSessionForClient(ctx, bs.TokenHash, testClock.Add(2*time.Hour), "app-two")
	wantNotFound(t, err, "GetSessionForClient of an idle-expired session")
	_, _, err = s.GetSessionForClient(ctx, []byte("no such token hash, 32 bytes...."), now, "app-two")
	wantNotFound(t, err, "GetSessionForClient of an unknown token")
}

// testSessionWithUserHasTOTP: the session comes with its user and whether
// that user has a confirmed authenticator app, read in the same statement:
// not for a pending one, a passkey or another user's app; yes once confirmed;
// no again once it is removed.
func testSessionWithUserHasTOTP(t *testing.T, s *storage.Store) {
	ctx, now := t.Context(), testClock.Add(time.Minute)
	ada := createUser(t, s, "ada@example.com")
	bs := createSession(t, s, ada, testClock, time.Hour, 24*time.Hour)
	read := func(what string, want bool) {
		t.Helper()
		got, err := s.GetSessionWithUser(ctx, bs.TokenHash, now)
		must(t, err, "GetSessionWithUser %s", what)
		if got.ID != bs.ID || got.User == nil || got.User.ID != ada.ID || got.User.Email != ada.Email || got.UserID != ada.ID || got.AMR != "pwd" {
			t.Fatalf("GetSessionWithUser %s = session %s (user %s, amr %q), user %+v; want session %s of %s", what, got.ID, got.UserID, got.AMR, got.User, bs.ID, ada.Email)
		}
		if got.UserHasTOTP != want {
			t.Errorf("GetSessionWithUser %s: UserHasTOTP = %v, want %v", what, got.UserHasTOTP, want)
		}
	}
	read("with no factor", false)

	confirmed := time.Now()
	_, err := s.CreateFactor(ctx, storage.Factor{UserID: ada.ID, Kind: storage.FactorWebAuthn, Name: "Key",
		CredentialID: []byte("ada-key"), PublicKey: []byte("cose"), ConfirmedAt: &confirmed})
	must(t, err, "CreateFactor(webauthn)")
	read("with a passkey", false)
	pending := createTOTP(t, s, ada, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
	read("with a pending authenticator app", false)
	bob := createUser(t, s, "bob@example.com")
	bobs := createTOTP(t, s, bob, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXQ")
	must(t, s.ConfirmFactor(ctx, bob.ID, bobs.ID, 100), "ConfirmFactor(bob)")
	read("with another user's confirmed app", false)

	must(t, s.ConfirmFactor(ctx, ada.ID, pending.ID, 100), "ConfirmFactor(ada)")
	read("with a confirmed authenticator app", true)
	// Other reads of the session do not compute it.
	plain, err := s.GetSessionByTokenHash(ctx, bs.TokenHash, now)
	must(t, err, "GetSessionByTokenHash")
	if plain.UserHasTOTP {
		t.Error("GetSessionByTokenHash: UserHasTOTP = true, want false (only GetSessionWithUser reads it)")
	}
	must(t, s.DeleteFactor(ctx, ada.ID, pending.ID), "DeleteFactor")
	read("after the app is removed", false)

	_, err = s.GetSessionWithUser(ctx, bs.TokenHash, testClock.Add(2*time.Hour))
	wantNotFound(t, err, "GetSessionWithUser of an idle-expired session")
	_, err = s.GetSessionWithUser(ctx, []byte("no such token hash, 32 bytes...."), now)
	wantNotFound(t, err, "GetSessionWithUser of an unknown token")
}

// testAccessTokenWithSubject: asked for it, the access token read brings the
// user it was issued for; a token without a user brings none, and a missing
// one is fosite.ErrNotFound as always.
func testAccessTokenWithSubject(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	newProtoClient(t, s, "app")
	ada := createUser(t, s, "ada@example.com")
	createUser(t, s, "bob@example.com")
	r := protoRequest("app", "req-ada", ada.ID)
	must(t, s.CreateAccessTokenSession(ctx, "at-ada", r), "CreateAccessTokenSession(ada)")
	must(t, s.CreateAccessTokenSession(ctx, "at-service", protoRequest("app", "req-service", "")), "CreateAccessTokenSession(no subject)")
	must(t, s.CreateAccessTokenSession(ctx, "at-assertion", protoRequest("app", "req-assertion", "not-a-uuid")), "CreateAccessTokenSession(other subject)")
	gone := createUser(t, s, "gone@example.com")
	must(t, s.CreateAccessTokenSession(ctx, "at-gone", protoRequest("app", "req-gone", gone.ID)), "CreateAccessTokenSession(gone)")
	must(t, s.DeleteUser(ctx, gone.ID), "DeleteUser")

	var ts storage.TokenSubject
	got, err := s.GetAccessTokenSession(storage.WithTokenSubject(ctx, &ts), "at-ada", newSession())
	must(t, err, "GetAccessTokenSession with its subject")
	wantRequest(t, "GetAccessTokenSession with its subject", got, r)
	if !ts.Read || ts.Subject != ada.ID || ts.User.ID != ada.ID || ts.User.Email != ada.Email {
		t.Errorf("token subject = %+v, want %s read with the token", ts, ada.Email)
	}
	wantStoreTime(t, "subject's CreatedAt", ts.User.CreatedAt, ada.CreatedAt)

	for _, tc := range []struct{ sig, subject string }{{"at-service", ""}, {"at-assertion", "not-a-uuid"}, {"at-gone", gone.ID}} {
		ts := storage.TokenSubject{}
		_, err := s.GetAccessTokenSession(storage.WithTokenSubject(ctx, &ts), tc.sig, newSession())
		must(t, err, "GetAccessTokenSession(%s) with its subject", tc.sig)
		if !ts.Read || ts.Subject != tc.subject || ts.User.ID != "" {
			t.Errorf("GetAccessTokenSession(%s): subject %+v, want subject %q and no user", tc.sig, ts, tc.subject)
		}
	}

	must(t, s.RevokeAccessToken(ctx, "req-ada"), "RevokeAccessToken")
	for _, sig := range []string{"at-ada", "no-such-token"} {
		ts := storage.TokenSubject{}
		if _, err := s.GetAccessTokenSession(storage.WithTokenSubject(ctx, &ts), sig, newSession()); !errors.Is(err, fosite.ErrNotFound) {
			t.Errorf("GetAccessTokenSession(%s) with its subject = %v, want fosite.ErrNotFound", sig, err)
		}
	}
}

// testNoteAuthorization: the link is created, then updated, alone or in a
// transaction, and a revoked one is restored, as RecordAuthorization does.
func testNoteAuthorization(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "links@example.com")
	t1, t2, t3 := testClock, testClock.Add(time.Hour), testClock.Add(2*time.Hour)

	must(t, s.NoteAuthorization(ctx, u.ID, "app", "openid", true, t1), "NoteAuthorization")
	first, err := s.GetAccount(ctx, u.ID, "app")
	must(t, err, "GetAccount")
	if first.GrantedScopes != "openid" || !first.ConsentRemembered || first.RevokedAt != nil {
		t.Errorf("after NoteAuthorization: %+v", first)
	}
	wantTime(t, "FirstAuthorizedAt", first.FirstAuthorizedAt, t1)

	must(t, s.RevokeAccount(ctx, u.ID, "app", t1), "RevokeAccount")
	must(t, s.InTx(ctx, func(ctx context.Context) error {
		return s.NoteAuthorization(ctx, u.ID, "app", "openid email", true, t2)
	}), "NoteAuthorization in a transaction")
	again, err := s.GetAccount(ctx, u.ID, "app")
	must(t, err, "GetAccount")
	if again.ID != first.ID || again.GrantedScopes != "openid email" || !again.ConsentRemembered || again.RevokedAt != nil {
		t.Errorf("after NoteAuthorization of a revoked link: %+v, want the same link restored with the new scopes", again)
	}
	wantTime(t, "FirstAuthorizedAt after update", again.FirstAuthorizedAt, t1)
	wantTime(t, "LastAuthorizedAt after update", again.LastAuthorizedAt, t2)

	must(t, s.NoteAuthorization(ctx, u.ID, "app", "openid", false, t3), "NoteAuthorization again")
	last, err := s.GetAccount(ctx, u.ID, "app")
	must(t, err, "GetAccount")
	if last.GrantedScopes != "openid" || last.ConsentRemembered {
		t.Errorf("after NoteAuthorization again: %+v", last)
	}
	wantTime(t, "LastAuthorizedAt", last.LastAuthorizedAt, t3)
}

// testNoteAuthorizationRollsBack: a queued link write is part of its
// transaction: a failed transaction leaves no link, and a link for a user
// that does not exist fails the transaction.
func testNoteAuthorizationRollsBack(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "rollback@example.com")
	boom := errors.New("boom")
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.NoteAuthorization(ctx, u.ID, "app", "openid", true, testClock); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want the function's error", err)
	}
	_, err = s.GetAccount(ctx, u.ID, "app")
	wantNotFound(t, err, "GetAccount after a rolled-back NoteAuthorization")

	err = s.InTx(ctx, func(ctx context.Context) error {
		return s.NoteAuthorization(ctx, "00000000-0000-4000-8000-000000000000", "app", "openid", true, testClock)
	})
	if err == nil {
		t.Errorf("NoteAuthorization for a user that does not exist: the transaction committed, want a foreign-key failure")
	}
}
