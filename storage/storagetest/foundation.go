package storagetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/google/uuid"
	"github.com/ory/fosite"
)

// foundationCases covers users, browser sessions, accounts, transactions and times.
func foundationCases() []Case {
	return []Case{
		{"UserCreateAndGet", testUserCreateAndGet},
		{"UserEmailUniqueAnyCase", testUserEmailUniqueAnyCase},
		{"UserEmailUniqueAnyUnicodeForm", testUserEmailUniqueAnyUnicodeForm},
		{"UserUpdate", testUserUpdate},
		{"UserDeleteCascades", testUserDeleteCascades},
		{"UserListPaging", testUserListPaging},
		{"NotFound", testNotFound},
		{"KeysNotText", testKeysNotText},
		{"SessionCreateAndLookup", testSessionCreateAndLookup},
		{"SessionExpiry", testSessionExpiry},
		{"SessionTouch", testSessionTouch},
		{"SessionDelete", testSessionDelete},
		{"SessionDeleteOthers", testSessionDeleteOthers},
		{"SessionDeleteExpiredInBatches", testSessionDeleteExpiredInBatches},
		{"AccountRecordAndRevoke", testAccountRecordAndRevoke},
		{"AccountNeedsUser", testAccountNeedsUser},
		{"TransactionCommitAndRollback", testTransactionCommitAndRollback},
		{"NestedTransactionJoinsOuter", testNestedTransactionJoinsOuter},
		{"InTxRollsBackOnError", testInTxRollsBackOnError},
		{"TimesAreUTC", testTimesAreUTC},
	}
}

// testClock is a fixed instant at whole seconds, so every dialect stores it
// exactly (PostgreSQL keeps microseconds, SQLite text keeps nanoseconds).
var testClock = time.Date(2030, time.March, 14, 15, 9, 26, 0, time.UTC)

// elsewhere is a zone far from UTC: times handed to the store in it must come back
// as the same instants, in UTC.
var elsewhere = time.FixedZone("UTC-7", -7*3600)

func createUser(t *testing.T, s *storage.Store, email string) storage.User {
	t.Helper()
	u, err := s.CreateUser(t.Context(), storage.User{Email: email, Name: "Test " + email})
	must(t, err, "CreateUser(%q)", email)
	return u
}

// sessionToken returns a random cookie token and its SHA-256, as the session
// package stores it.
func sessionToken(t *testing.T) (token string, hash []byte) {
	t.Helper()
	token = rand.Text()
	h := sha256.Sum256([]byte(token))
	return token, h[:]
}

// createSession stores a session of u that starts at start, idles out after idle
// and ends after life.
func createSession(t *testing.T, s *storage.Store, u storage.User, start time.Time, idle, life time.Duration) storage.BrowserSession {
	t.Helper()
	_, hash := sessionToken(t)
	bs, err := s.CreateSession(t.Context(), storage.BrowserSession{
		TokenHash: hash, UserID: u.ID, AuthTime: start, AMR: "pwd",
		LastSeenAt: start, IdleExpiresAt: start.Add(idle), ExpiresAt: start.Add(life),
		IP: "192.0.2.1", UserAgent: "storagetest",
	})
	must(t, err, "CreateSession for %s", u.Email)
	return bs
}

func wantNotFound(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("%s: error %v, want storage.ErrNotFound", what, err)
	}
}

func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s is in %v, want UTC", what, got.Location())
	}
}

// wantStoreTime checks a time the store set itself against the value it returned
// on write: PostgreSQL keeps microseconds, so allow for rounding.
func wantStoreTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if d := got.Sub(want); d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s is in %v, want UTC", what, got.Location())
	}
}

// wantRecent checks a time the store set itself: in UTC, and close to now.
func wantRecent(t *testing.T, what string, got time.Time) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s is in %v, want UTC", what, got.Location())
	}
	if d := time.Since(got); d < -time.Minute || d > time.Minute {
		t.Errorf("%s = %v, want about now", what, got)
	}
}

func testUserCreateAndGet(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	in := storage.User{
		Email: "  Ada.Lovelace@Example.COM ", EmailVerified: true, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		Name: "Ada Lovelace", GivenName: "Ada", FamilyName: "Lovelace", Picture: "https://example.com/ada.png", Locale: "en-GB",
	}
	created, err := s.CreateUser(ctx, in)
	must(t, err, "CreateUser")
	if uuid.Validate(created.ID) != nil {
		t.Errorf("CreateUser: ID = %q, want a UUID", created.ID)
	}
	if created.Email != "ada.lovelace@example.com" {
		t.Errorf("CreateUser: Email = %q, want it trimmed and lower-cased", created.Email)
	}
	wantRecent(t, "CreatedAt", created.CreatedAt)

	got, err := s.GetUser(ctx, created.ID)
	must(t, err, "GetUser")
	if got.Email != created.Email || !got.EmailVerified || got.PasswordHash != in.PasswordHash ||
		got.Name != in.Name || got.GivenName != in.GivenName || got.FamilyName != in.FamilyName ||
		got.Picture != in.Picture || got.Locale != in.Locale || got.Disabled || got.FailedSignIns != 0 || got.LockedUntil != nil {
		t.Errorf("GetUser = %+v, want the created user %+v", got, created)
	}
	wantStoreTime(t, "GetUser CreatedAt", got.CreatedAt, created.CreatedAt)

	for _, email := range []string{"ada.lovelace@example.com", "ADA.LOVELACE@EXAMPLE.COM", " Ada.Lovelace@example.com"} {
		byEmail, err := s.GetUserByEmail(ctx, email)
		if err != nil || byEmail.ID != created.ID {
			t.Errorf("GetUserByEmail(%q) = %q, %v; want %q", email, byEmail.ID, err, created.ID)
		}
	}

	// A caller may choose the ID (imports, admin API).
	id := uuid.NewString()
	chosen, err := s.CreateUser(ctx, storage.User{ID: id, Email: "chosen@example.com"})
	must(t, err, "CreateUser with an ID")
	if chosen.ID != id {
		t.Errorf("CreateUser with ID %s: got ID %s", id, chosen.ID)
	}
	if _, err := s.CreateUser(ctx, storage.User{ID: id, Email: "other@example.com"}); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateUser with a taken ID: error %v, want storage.ErrConflict", err)
	}
}

func testUserEmailUniqueAnyCase(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	first := createUser(t, s, "grace@example.com")
	for _, email := range []string{"grace@example.com", "Grace@Example.com", " GRACE@EXAMPLE.COM"} {
		if _, err := s.CreateUser(ctx, storage.User{Email: email}); !errors.Is(err, storage.ErrConflict) {
			t.Errorf("CreateUser(%q) with %q taken: error %v, want storage.ErrConflict", email, first.Email, err)
		}
	}
	other := createUser(t, s, "hopper@example.com")
	other.Email = "GRACE@example.com"
	if _, err := s.UpdateUser(ctx, other); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("UpdateUser to a taken e-mail in another case: error %v, want storage.ErrConflict", err)
	}
	// The failed writes changed nothing.
	users, err := s.ListUsers(ctx, storage.ListUsersOptions{})
	must(t, err, "ListUsers")
	if len(users) != 2 {
		t.Errorf("ListUsers after refused writes: %d users, want 2", len(users))
	}
}

// testUserEmailUniqueAnyUnicodeForm: addresses that differ only in forms NFKC
// folds (full-width letters, ligatures, decomposed accents) are one address, for
// uniqueness and for look-up.
func testUserEmailUniqueAnyUnicodeForm(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	ada := createUser(t, s, "ada@example.com")
	fiona := createUser(t, s, "fiona@exa\u0301mple.com") // decomposed á
	if fiona.Email != "fiona@ex\u00e1mple.com" {
		t.Errorf("CreateUser stored %+q, want the composed form %+q", fiona.Email, "fiona@ex\u00e1mple.com")
	}
	for _, tc := range []struct{ name, email, owner string }{
		{"full-width", "\uff41\uff44\uff41@example.com", ada.ID},
		{"full-width capitals", "\uff21\uff24\uff21@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com", ada.ID},
		{"ligature", "\ufb01ona@ex\u00e1mple.com", fiona.ID},
		{"composed", "Fiona@Ex\u00c1mple.com", fiona.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.CreateUser(ctx, storage.User{Email: tc.email}); !errors.Is(err, storage.ErrConflict) {
				t.Errorf("CreateUser(%+q) with the same address taken: error %v, want storage.ErrConflict", tc.email, err)
			}
			got, err := s.GetUserByEmail(ctx, tc.email)
			if err != nil || got.ID != tc.owner {
				t.Errorf("GetUserByEmail(%+q) = %q, %v; want %q", tc.email, got.ID, err, tc.owner)
			}
		})
	}
}

func testUserUpdate(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "linus@example.com")
	locked := testClock.In(elsewhere)
	u.Email = "Linus@Example.org"
	u.Name, u.Locale = "Linus", "fi"
	u.Disabled, u.EmailVerified = true, true
	u.FailedSignIns = 3
	u.LockedUntil = &locked
	updated, err := s.UpdateUser(ctx, u)
	must(t, err, "UpdateUser")
	if updated.Email != "linus@example.org" || updated.Name != "Linus" || updated.Locale != "fi" ||
		!updated.Disabled || !updated.EmailVerified || updated.FailedSignIns != 3 {
		t.Errorf("UpdateUser = %+v, want the new fields saved", updated)
	}
	if updated.LockedUntil == nil {
		t.Fatalf("UpdateUser: LockedUntil = nil, want %v", locked)
	}
	wantTime(t, "LockedUntil", *updated.LockedUntil, testClock)
	wantStoreTime(t, "CreatedAt after update", updated.CreatedAt, u.CreatedAt)
	if updated.UpdatedAt.Before(updated.CreatedAt) {
		t.Errorf("UpdatedAt %v before CreatedAt %v", updated.UpdatedAt, updated.CreatedAt)
	}

	// Zero values are saved too: clearing a field must not be ignored.
	updated.Disabled, updated.FailedSignIns, updated.LockedUntil, updated.Name = false, 0, nil, ""
	cleared, err := s.UpdateUser(ctx, updated)
	must(t, err, "UpdateUser clearing fields")
	if cleared.Disabled || cleared.FailedSignIns != 0 || cleared.LockedUntil != nil || cleared.Name != "" {
		t.Errorf("UpdateUser with zero values = %+v, want them cleared", cleared)
	}
	if _, err := s.GetUserByEmail(ctx, "linus@example.com"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetUserByEmail(old e-mail): error %v, want storage.ErrNotFound", err)
	}
}

func testUserDeleteCascades(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	gone := createUser(t, s, "gone@example.com")
	kept := createUser(t, s, "kept@example.com")
	goneSession := createSession(t, s, gone, testClock, time.Hour, 24*time.Hour)
	keptSession := createSession(t, s, kept, testClock, time.Hour, 24*time.Hour)
	_, err := s.RecordAuthorization(ctx, gone.ID, "app", "openid", true, testClock)
	must(t, err, "RecordAuthorization")
	_, err = s.RecordAuthorization(ctx, kept.ID, "app", "openid", true, testClock)
	must(t, err, "RecordAuthorization")

	must(t, s.DeleteUser(ctx, gone.ID), "DeleteUser")

	_, err = s.GetUser(ctx, gone.ID)
	wantNotFound(t, err, "GetUser after DeleteUser")
	_, err = s.GetSessionByTokenHash(ctx, goneSession.TokenHash, testClock)
	wantNotFound(t, err, "GetSessionByTokenHash of a deleted user's session")
	_, err = s.GetAccount(ctx, gone.ID, "app")
	wantNotFound(t, err, "GetAccount of a deleted user")
	wantNotFound(t, s.DeleteUser(ctx, gone.ID), "DeleteUser twice")

	if _, err := s.GetSessionByTokenHash(ctx, keptSession.TokenHash, testClock); err != nil {
		t.Errorf("another user's session after DeleteUser: %v", err)
	}
	if _, err := s.GetAccount(ctx, kept.ID, "app"); err != nil {
		t.Errorf("another user's account after DeleteUser: %v", err)
	}
}

func testUserListPaging(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	for _, e := range []string{"carol@b.example", "alice@a.example", "al_x@a.example", "alex@a.example", "Bob@a.example", "alan@a.example"} {
		createUser(t, s, e)
	}
	emails := func(us []storage.User) []string {
		out := make([]string, len(us))
		for i, u := range us {
			out[i] = u.Email
		}
		return out
	}
	for _, tc := range []struct {
		name string
		opts storage.ListUsersOptions
		want []string
	}{
		{"all in e-mail order", storage.ListUsersOptions{},
			[]string{"al_x@a.example", "alan@a.example", "alex@a.example", "alice@a.example", "bob@a.example", "carol@b.example"}},
		{"first page", storage.ListUsersOptions{Limit: 2}, []string{"al_x@a.example", "alan@a.example"}},
		{"second page", storage.ListUsersOptions{Limit: 2, After: "alan@a.example"}, []string{"alex@a.example", "alice@a.example"}},
		{"last page", storage.ListUsersOptions{Limit: 2, After: "alice@a.example"}, []string{"bob@a.example", "carol@b.example"}},
		{"past the end", storage.ListUsersOptions{Limit: 2, After: "carol@b.example"}, []string{}},
		{"prefix any case", storage.ListUsersOptions{EmailPrefix: "AL"}, []string{"al_x@a.example", "alan@a.example", "alex@a.example", "alice@a.example"}},
		{"prefix paged", storage.ListUsersOptions{EmailPrefix: "al", Limit: 3, After: "alan@a.example"}, []string{"alex@a.example", "alice@a.example"}},
		{"underscore is literal", storage.ListUsersOptions{EmailPrefix: "al_"}, []string{"al_x@a.example"}},
		{"percent is literal", storage.ListUsersOptions{EmailPrefix: "a%"}, []string{}},
		{"prefix with no match", storage.ListUsersOptions{EmailPrefix: "zed"}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListUsers(ctx, tc.opts)
			must(t, err, "ListUsers(%+v)", tc.opts)
			if g := emails(got); !slices.Equal(g, tc.want) {
				t.Errorf("ListUsers(%+v) = %q, want %q", tc.opts, g, tc.want)
			}
		})
	}
}

func testNotFound(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "present@example.com")
	missing := uuid.NewString()
	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"GetUser missing", func() error { _, err := s.GetUser(ctx, missing); return err }},
		{"GetUser not a UUID", func() error { _, err := s.GetUser(ctx, "not-a-uuid"); return err }},
		{"GetUser empty", func() error { _, err := s.GetUser(ctx, ""); return err }},
		{"GetUserByEmail missing", func() error { _, err := s.GetUserByEmail(ctx, "absent@example.com"); return err }},
		{"UpdateUser missing", func() error {
			_, err := s.UpdateUser(ctx, storage.User{ID: missing, Email: "x@example.com"})
			return err
		}},
		{"UpdateUser not a UUID", func() error {
			_, err := s.UpdateUser(ctx, storage.User{ID: "not-a-uuid", Email: "x@example.com"})
			return err
		}},
		{"DeleteUser missing", func() error { return s.DeleteUser(ctx, missing) }},
		{"DeleteUser not a UUID", func() error { return s.DeleteUser(ctx, "42") }},
		{"GetSessionByTokenHash missing", func() error {
			_, h := sessionToken(t)
			_, err := s.GetSessionByTokenHash(ctx, h, testClock)
			return err
		}},
		{"GetAccount missing", func() error { _, err := s.GetAccount(ctx, u.ID, "no-such-client"); return err }},
		{"GetAccount not a UUID", func() error { _, err := s.GetAccount(ctx, "not-a-uuid", "app"); return err }},
		{"RevokeAccount missing", func() error { return s.RevokeAccount(ctx, u.ID, "no-such-client", testClock) }},
		{"RevokeAccount not a UUID", func() error { return s.RevokeAccount(ctx, "not-a-uuid", "app", testClock) }},
	} {
		t.Run(tc.name, func(t *testing.T) { wantNotFound(t, tc.op(), tc.name) })
	}
	// A failed lookup must not break the connection it ran on (PostgreSQL aborts a
	// transaction on a failed statement).
	if _, err := s.GetUser(ctx, u.ID); err != nil {
		t.Errorf("GetUser after not-found lookups: %v", err)
	}
}

// testKeysNotText: a key with a NUL byte or invalid UTF-8 (a client's garbage)
// names no record, on every dialect: PostgreSQL would refuse it with SQLSTATE
// 22021, a server error for the client's mistake, so the store answers
// not-found without asking. A User-Agent is stored cleaned instead.
func testKeysNotText(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "text@example.com")
	for _, key := range []string{"app\x00", "\xff\xfeapp", "a\x00\xc3("} {
		for _, tc := range []struct {
			name string
			op   func() error
		}{
			{"GetClientRecord", func() error { _, err := s.GetClientRecord(ctx, key); return err }},
			{"CachedClientRecord", func() error { _, err := s.CachedClientRecord(ctx, key); return err }},
			{"UpdateClient", func() error { _, err := s.UpdateClient(ctx, storage.Client{ID: key}); return err }},
			{"DeleteClient", func() error { return s.DeleteClient(ctx, key) }},
			{"GetUserByEmail", func() error { _, err := s.GetUserByEmail(ctx, key+"@example.com"); return err }},
			{"GetAccount", func() error { _, err := s.GetAccount(ctx, u.ID, key); return err }},
			{"RevokeAccount", func() error { return s.RevokeAccount(ctx, u.ID, key, testClock) }},
		} {
			t.Run(fmt.Sprintf("%s(%q)", tc.name, key), func(t *testing.T) { wantNotFound(t, tc.op(), tc.name) })
		}
		t.Run(fmt.Sprintf("GetClient(%q)", key), func(t *testing.T) {
			if _, err := s.GetClient(ctx, key); !errors.Is(err, fosite.ErrNotFound) {
				t.Errorf("GetClient(%q) = %v, want fosite.ErrNotFound", key, err)
			}
		})
		t.Run(fmt.Sprintf("ListUsers(%q)", key), func(t *testing.T) {
			for _, o := range []storage.ListUsersOptions{{EmailPrefix: key}, {After: key}} {
				if got, err := s.ListUsers(ctx, o); err != nil || len(got) != 0 {
					t.Errorf("ListUsers(%+v) = %d users, %v; want none, nil", o, len(got), err)
				}
			}
		})
		t.Run(fmt.Sprintf("ListClients(%q)", key), func(t *testing.T) {
			if got, err := s.ListClients(ctx, storage.ListClientsOptions{After: key}); err != nil || len(got) != 0 {
				t.Errorf("ListClients(after %q) = %d clients, %v; want none, nil", key, len(got), err)
			}
		})
	}
	_, h := sessionToken(t)
	bs, err := s.CreateSession(ctx, storage.BrowserSession{UserID: u.ID, TokenHash: h, AuthTime: testClock, LastSeenAt: testClock,
		IdleExpiresAt: testClock.Add(time.Hour), ExpiresAt: testClock.Add(time.Hour), UserAgent: "Mozilla/5.0 \x00\xff(X11)"})
	must(t, err, "CreateSession with a User-Agent holding NUL and invalid UTF-8")
	got, err := s.GetSessionByTokenHash(ctx, h, testClock)
	must(t, err, "GetSessionByTokenHash")
	if got.ID != bs.ID || got.UserAgent != "Mozilla/5.0 \uFFFD(X11)" {
		t.Errorf("stored session %s with User-Agent %q, want %s with %q", got.ID, got.UserAgent, bs.ID, "Mozilla/5.0 \uFFFD(X11)")
	}
	// Nothing above broke the pool's connections.
	if _, err := s.GetUser(ctx, u.ID); err != nil {
		t.Errorf("GetUser after the look-ups: %v", err)
	}
}

func testSessionCreateAndLookup(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "session@example.com")
	token, hash := sessionToken(t)
	start := testClock.In(elsewhere)
	created, err := s.CreateSession(ctx, storage.BrowserSession{
		TokenHash: hash, UserID: u.ID, AuthTime: start, AMR: "pwd otp",
		LastSeenAt: start, IdleExpiresAt: start.Add(30 * time.Minute), ExpiresAt: start.Add(12 * time.Hour),
		IP: "2001:db8::1", UserAgent: "Mozilla/5.0",
	})
	must(t, err, "CreateSession")
	if uuid.Validate(created.ID) != nil {
		t.Errorf("CreateSession: ID = %q, want a UUID", created.ID)
	}
	wantRecent(t, "CreateSession CreatedAt", created.CreatedAt)

	got, err := s.GetSessionByTokenHash(ctx, hash, testClock.Add(time.Minute))
	must(t, err, "GetSessionByTokenHash")
	if got.ID != created.ID || got.UserID != u.ID || got.AMR != "pwd otp" || got.IP != "2001:db8::1" || got.UserAgent != "Mozilla/5.0" {
		t.Errorf("GetSessionByTokenHash = %+v, want %+v", got, created)
	}
	if string(got.TokenHash) != string(hash) {
		t.Errorf("TokenHash = %x, want %x", got.TokenHash, hash)
	}
	wantTime(t, "AuthTime", got.AuthTime, testClock)
	wantTime(t, "LastSeenAt", got.LastSeenAt, testClock)
	wantTime(t, "IdleExpiresAt", got.IdleExpiresAt, testClock.Add(30*time.Minute))
	wantTime(t, "ExpiresAt", got.ExpiresAt, testClock.Add(12*time.Hour))

	// The token itself is not a key: only its hash is.
	if _, err := s.GetSessionByTokenHash(ctx, []byte(token), testClock); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetSessionByTokenHash(raw token): error %v, want storage.ErrNotFound", err)
	}
	// Two sessions never share a token hash.
	dup := created
	dup.ID = ""
	if _, err := s.CreateSession(ctx, dup); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("CreateSession with a taken token hash: error %v, want storage.ErrConflict", err)
	}

	second := createSession(t, s, u, testClock.Add(time.Hour), time.Hour, 24*time.Hour)
	list, err := s.ListUserSessions(ctx, u.ID, testClock.Add(2*time.Hour))
	must(t, err, "ListUserSessions")
	var ids []string
	for _, bs := range list {
		ids = append(ids, bs.ID)
	}
	if !slices.Equal(ids, []string{second.ID, created.ID}) {
		t.Errorf("ListUserSessions = %v, want newest first %v", ids, []string{second.ID, created.ID})
	}
	list, err = s.ListUserSessions(ctx, u.ID, testClock.Add(13*time.Hour))
	must(t, err, "ListUserSessions")
	if len(list) != 1 || list[0].ID != second.ID {
		t.Errorf("ListUserSessions after the first expired = %d sessions, want only %s", len(list), second.ID)
	}
}

func testSessionExpiry(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "expiry@example.com")
	bs := createSession(t, s, u, testClock, 30*time.Minute, 8*time.Hour)
	for _, tc := range []struct {
		name  string
		now   time.Time
		found bool
	}{
		{"at start", testClock, true},
		{"before idle expiry", testClock.Add(29 * time.Minute), true},
		{"at idle expiry", testClock.Add(30 * time.Minute), false},
		{"after idle expiry", testClock.Add(time.Hour), false},
		{"after absolute expiry", testClock.Add(9 * time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.GetSessionByTokenHash(ctx, bs.TokenHash, tc.now)
			switch {
			case tc.found && err != nil:
				t.Errorf("GetSessionByTokenHash at %v: %v, want the session", tc.now, err)
			case !tc.found && !errors.Is(err, storage.ErrNotFound):
				t.Errorf("GetSessionByTokenHash at %v: error %v, want storage.ErrNotFound", tc.now, err)
			}
		})
	}
	// An idle timeout far beyond the absolute expiry still ends at the absolute one.
	long := createSession(t, s, u, testClock, 48*time.Hour, time.Hour)
	if _, err := s.GetSessionByTokenHash(ctx, long.TokenHash, testClock.Add(2*time.Hour)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetSessionByTokenHash past the absolute expiry: error %v, want storage.ErrNotFound", err)
	}
}

func testSessionTouch(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "touch@example.com")
	bs := createSession(t, s, u, testClock, 30*time.Minute, 2*time.Hour)

	seen := testClock.Add(20 * time.Minute)
	must(t, s.TouchSession(ctx, bs.ID, seen.In(elsewhere), seen.Add(30*time.Minute)), "TouchSession")
	// 40 minutes in: past the first idle expiry, within the extended one.
	got, err := s.GetSessionByTokenHash(ctx, bs.TokenHash, testClock.Add(40*time.Minute))
	must(t, err, "GetSessionByTokenHash after TouchSession")
	wantTime(t, "LastSeenAt after touch", got.LastSeenAt, seen)
	wantTime(t, "IdleExpiresAt after touch", got.IdleExpiresAt, seen.Add(30*time.Minute))
	wantTime(t, "ExpiresAt after touch", got.ExpiresAt, testClock.Add(2*time.Hour))
	wantTime(t, "AuthTime after touch", got.AuthTime, testClock)

	// Touching never extends a session past its absolute expiry.
	late := testClock.Add(110 * time.Minute)
	must(t, s.TouchSession(ctx, bs.ID, late, late.Add(30*time.Minute)), "TouchSession near the end")
	got, err = s.GetSessionByTokenHash(ctx, bs.TokenHash, late)
	must(t, err, "GetSessionByTokenHash")
	wantTime(t, "IdleExpiresAt capped", got.IdleExpiresAt, testClock.Add(2*time.Hour))
	if _, err := s.GetSessionByTokenHash(ctx, bs.TokenHash, testClock.Add(2*time.Hour+time.Minute)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetSessionByTokenHash past the absolute expiry after touch: error %v, want storage.ErrNotFound", err)
	}
}

func testSessionDeleteOthers(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "others@example.com")
	other := createUser(t, s, "bystander@example.com")
	keep := createSession(t, s, u, testClock, time.Hour, 24*time.Hour)
	var ended []storage.BrowserSession
	for range 2 {
		ended = append(ended, createSession(t, s, u, testClock, time.Hour, 24*time.Hour))
	}
	theirs := createSession(t, s, other, testClock, time.Hour, 24*time.Hour)
	n, err := s.DeleteOtherUserSessions(ctx, u.ID, keep.ID)
	must(t, err, "DeleteOtherUserSessions")
	if n != 2 {
		t.Errorf("DeleteOtherUserSessions = %d, want 2", n)
	}
	for _, bs := range ended {
		_, err := s.GetSessionByTokenHash(ctx, bs.TokenHash, testClock)
		wantNotFound(t, err, "another session of the user after DeleteOtherUserSessions")
	}
	for name, bs := range map[string]storage.BrowserSession{"the kept session": keep, "another user's session": theirs} {
		if _, err := s.GetSessionByTokenHash(ctx, bs.TokenHash, testClock); err != nil {
			t.Errorf("%s after DeleteOtherUserSessions: %v", name, err)
		}
	}
	// No session to keep: every one ends.
	if n, err := s.DeleteOtherUserSessions(ctx, u.ID, ""); err != nil || n != 1 {
		t.Errorf("DeleteOtherUserSessions keeping none = %d, %v; want 1, nil", n, err)
	}
}

func testSessionDelete(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "delete@example.com")
	other := createUser(t, s, "other@example.com")
	one := createSession(t, s, u, testClock, time.Hour, 24*time.Hour)
	must(t, s.DeleteSession(ctx, one.ID), "DeleteSession")
	_, err := s.GetSessionByTokenHash(ctx, one.TokenHash, testClock)
	wantNotFound(t, err, "GetSessionByTokenHash after DeleteSession")
	if err := s.DeleteSession(ctx, one.ID); err != nil {
		t.Errorf("DeleteSession of an ended session: %v, want nil", err)
	}

	var mine []storage.BrowserSession
	for range 3 {
		mine = append(mine, createSession(t, s, u, testClock, time.Hour, 24*time.Hour))
	}
	theirs := createSession(t, s, other, testClock, time.Hour, 24*time.Hour)
	n, err := s.DeleteUserSessions(ctx, u.ID)
	must(t, err, "DeleteUserSessions")
	if n != 3 {
		t.Errorf("DeleteUserSessions = %d, want 3", n)
	}
	for _, bs := range mine {
		_, err := s.GetSessionByTokenHash(ctx, bs.TokenHash, testClock)
		wantNotFound(t, err, "session after DeleteUserSessions")
	}
	if _, err := s.GetSessionByTokenHash(ctx, theirs.TokenHash, testClock); err != nil {
		t.Errorf("another user's session after DeleteUserSessions: %v", err)
	}
	if n, err := s.DeleteUserSessions(ctx, u.ID); err != nil || n != 0 {
		t.Errorf("DeleteUserSessions again = %d, %v; want 0, nil", n, err)
	}
}

func testSessionDeleteExpiredInBatches(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "batch@example.com")
	now := testClock.Add(10 * time.Hour)
	var live []storage.BrowserSession
	for i := range 5 {
		// Alternate between absolute and idle expiry.
		if i%2 == 0 {
			createSession(t, s, u, testClock, 12*time.Hour, time.Hour)
		} else {
			createSession(t, s, u, testClock, time.Hour, 24*time.Hour)
		}
	}
	for range 2 {
		live = append(live, createSession(t, s, u, now, time.Hour, 24*time.Hour))
	}
	var got []int64
	for range 10 {
		n, err := s.DeleteExpiredSessions(ctx, now, 2)
		must(t, err, "DeleteExpiredSessions")
		got = append(got, n)
		if n < 2 {
			break
		}
	}
	if want := []int64{2, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("DeleteExpiredSessions(limit 2) until done removed %v, want %v", got, want)
	}
	list, err := s.ListUserSessions(ctx, u.ID, now)
	must(t, err, "ListUserSessions")
	if len(list) != len(live) {
		t.Errorf("sessions left = %d, want the %d live ones", len(list), len(live))
	}
	for _, bs := range live {
		if _, err := s.GetSessionByTokenHash(ctx, bs.TokenHash, now); err != nil {
			t.Errorf("live session after DeleteExpiredSessions: %v", err)
		}
	}
}

func testAccountRecordAndRevoke(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	u := createUser(t, s, "accounts@example.com")
	t1, t2, t3, t4 := testClock, testClock.Add(time.Hour), testClock.Add(2*time.Hour), testClock.Add(3*time.Hour)

	first, err := s.RecordAuthorization(ctx, u.ID, "app-one", "openid email", true, t1.In(elsewhere))
	must(t, err, "RecordAuthorization")
	if uuid.Validate(first.ID) != nil || first.UserID != u.ID || first.ClientID != "app-one" ||
		first.GrantedScopes != "openid email" || !first.ConsentRemembered || first.RevokedAt != nil {
		t.Errorf("RecordAuthorization = %+v", first)
	}
	wantTime(t, "FirstAuthorizedAt", first.FirstAuthorizedAt, t1)
	wantTime(t, "LastAuthorizedAt", first.LastAuthorizedAt, t1)

	again, err := s.RecordAuthorization(ctx, u.ID, "app-one", "openid", false, t2)
	must(t, err, "RecordAuthorization again")
	if again.ID != first.ID || again.GrantedScopes != "openid" || again.ConsentRemembered {
		t.Errorf("RecordAuthorization again = %+v, want the same link with the new scopes and consent", again)
	}
	wantTime(t, "FirstAuthorizedAt after update", again.FirstAuthorizedAt, t1)
	wantTime(t, "LastAuthorizedAt after update", again.LastAuthorizedAt, t2)

	_, err = s.RecordAuthorization(ctx, u.ID, "app-two", "openid profile", true, t3)
	must(t, err, "RecordAuthorization of a second client")
	list, err := s.ListAccounts(ctx, u.ID)
	must(t, err, "ListAccounts")
	if len(list) != 2 || list[0].ClientID != "app-two" || list[1].ClientID != "app-one" {
		t.Errorf("ListAccounts = %+v, want app-two then app-one (most recent first)", list)
	}

	must(t, s.RevokeAccount(ctx, u.ID, "app-one", t4), "RevokeAccount")
	revoked, err := s.GetAccount(ctx, u.ID, "app-one")
	must(t, err, "GetAccount after RevokeAccount")
	if revoked.RevokedAt == nil {
		t.Fatalf("GetAccount after RevokeAccount: RevokedAt = nil")
	}
	wantTime(t, "RevokedAt", *revoked.RevokedAt, t4)
	if revoked.ConsentRemembered || revoked.GrantedScopes != "" {
		t.Errorf("revoked account = %+v, want consent and scopes forgotten", revoked)
	}
	list, err = s.ListAccounts(ctx, u.ID)
	must(t, err, "ListAccounts")
	if len(list) != 1 || list[0].ClientID != "app-two" {
		t.Errorf("ListAccounts after revoking app-one = %+v, want only app-two", list)
	}
	wantNotFound(t, s.RevokeAccount(ctx, u.ID, "app-one", t4), "RevokeAccount twice")

	t5 := testClock.Add(4 * time.Hour)
	restored, err := s.RecordAuthorization(ctx, u.ID, "app-one", "openid", true, t5)
	must(t, err, "RecordAuthorization after revoke")
	if restored.ID != first.ID || restored.RevokedAt != nil || restored.GrantedScopes != "openid" || !restored.ConsentRemembered {
		t.Errorf("RecordAuthorization after revoke = %+v, want the same link restored", restored)
	}
	wantTime(t, "FirstAuthorizedAt after restore", restored.FirstAuthorizedAt, t1)
	list, err = s.ListAccounts(ctx, u.ID)
	must(t, err, "ListAccounts")
	if len(list) != 2 || list[0].ClientID != "app-one" {
		t.Errorf("ListAccounts after restore = %+v, want app-one first", list)
	}

	other := createUser(t, s, "someone-else@example.com")
	if list, err := s.ListAccounts(ctx, other.ID); err != nil || len(list) != 0 {
		t.Errorf("ListAccounts of a user with none = %v, %v; want empty", list, err)
	}
}

func testAccountNeedsUser(t *testing.T, s *storage.Store) {
	if _, err := s.RecordAuthorization(t.Context(), uuid.NewString(), "app", "openid", true, testClock); err == nil {
		t.Errorf("RecordAuthorization for a user that does not exist: no error, want a foreign-key failure")
	}
}

func testTransactionCommitAndRollback(t *testing.T, s *storage.Store) {
	ctx := t.Context()

	txCtx, err := s.BeginTX(ctx)
	must(t, err, "BeginTX")
	rolled, err := s.CreateUser(txCtx, storage.User{Email: "rolled-back@example.com"})
	must(t, err, "CreateUser in a transaction")
	bs := createSessionCtx(t, txCtx, s, rolled)
	if _, err := s.GetUser(txCtx, rolled.ID); err != nil {
		t.Errorf("GetUser inside the transaction that created it: %v", err)
	}
	// Uncommitted writes are invisible outside the transaction.
	if _, err := s.GetUser(ctx, rolled.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("GetUser outside an open transaction: error %v, want storage.ErrNotFound", err)
	}
	must(t, s.Rollback(txCtx), "Rollback")
	_, err = s.GetUser(ctx, rolled.ID)
	wantNotFound(t, err, "GetUser after Rollback")
	_, err = s.GetSessionByTokenHash(ctx, bs.TokenHash, testClock)
	wantNotFound(t, err, "GetSessionByTokenHash after Rollback")

	txCtx, err = s.BeginTX(ctx)
	must(t, err, "BeginTX")
	kept, err := s.CreateUser(txCtx, storage.User{Email: "committed@example.com"})
	must(t, err, "CreateUser in a transaction")
	must(t, s.Commit(txCtx), "Commit")
	if _, err := s.GetUser(ctx, kept.ID); err != nil {
		t.Errorf("GetUser after Commit: %v", err)
	}

	if err := s.Commit(ctx); err == nil {
		t.Errorf("Commit without a transaction: no error")
	}
	if err := s.Rollback(ctx); err == nil {
		t.Errorf("Rollback without a transaction: no error")
	}
}

// testNestedTransactionJoinsOuter: fosite's handlers begin, commit and roll back
// their own transactions; inside a caller's transaction those calls join it and
// leave the decision to the caller.
func testNestedTransactionJoinsOuter(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	for _, tc := range []struct {
		name       string
		nestedEnd  func(ctx context.Context) error
		outerEnd   func(ctx context.Context) error
		wantStored bool
	}{
		{"nested commit, outer rollback", s.Commit, s.Rollback, false},
		{"nested rollback, outer commit", s.Rollback, s.Commit, true},
		{"nested commit, outer commit", s.Commit, s.Commit, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outer, err := s.BeginTX(ctx)
			must(t, err, "BeginTX")
			nested, err := s.BeginTX(outer)
			if err != nil {
				s.Rollback(outer)
				t.Fatalf("BeginTX inside a transaction: %v, want it to join the outer one", err)
			}
			u, err := s.CreateUser(nested, storage.User{Email: "nested-" + strings.ReplaceAll(tc.name, " ", "") + "@example.com"})
			must(t, err, "CreateUser in the nested transaction")
			must(t, tc.nestedEnd(nested), "end the nested transaction")
			// Still uncommitted: invisible outside, visible inside the outer one.
			if _, err := s.GetUser(ctx, u.ID); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("GetUser outside after the nested transaction ended: error %v, want storage.ErrNotFound", err)
			}
			if _, err := s.GetUser(outer, u.ID); err != nil {
				t.Errorf("GetUser in the outer transaction after the nested one ended: %v", err)
			}
			must(t, tc.outerEnd(outer), "end the outer transaction")
			_, err = s.GetUser(ctx, u.ID)
			if tc.wantStored && err != nil {
				t.Errorf("GetUser after the outer transaction committed: %v", err)
			}
			if !tc.wantStored && !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("GetUser after the outer transaction rolled back: error %v, want storage.ErrNotFound", err)
			}
		})
	}
}

// createSessionCtx is createSession with an explicit context (one carrying a
// transaction).
func createSessionCtx(t *testing.T, ctx context.Context, s *storage.Store, u storage.User) storage.BrowserSession {
	t.Helper()
	_, hash := sessionToken(t)
	bs, err := s.CreateSession(ctx, storage.BrowserSession{
		TokenHash: hash, UserID: u.ID, AuthTime: testClock, LastSeenAt: testClock,
		IdleExpiresAt: testClock.Add(time.Hour), ExpiresAt: testClock.Add(time.Hour),
	})
	must(t, err, "CreateSession for %s", u.Email)
	return bs
}

func testInTxRollsBackOnError(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	errStop := errors.New("stop here")
	var created storage.User
	err := s.InTx(ctx, func(ctx context.Context) error {
		var err error
		if created, err = s.CreateUser(ctx, storage.User{Email: "intx@example.com"}); err != nil {
			return err
		}
		createSessionCtx(t, ctx, s, created)
		if _, err := s.RecordAuthorization(ctx, created.ID, "app", "openid", true, testClock); err != nil {
			return err
		}
		// A nested InTx joins the outer transaction.
		return s.InTx(ctx, func(ctx context.Context) error {
			if _, err := s.CreateUser(ctx, storage.User{Email: "nested@example.com"}); err != nil {
				return err
			}
			return fmt.Errorf("nested: %w", errStop)
		})
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("InTx = %v, want the error fn returned", err)
	}
	users, err := s.ListUsers(ctx, storage.ListUsersOptions{})
	must(t, err, "ListUsers")
	if len(users) != 0 {
		t.Errorf("after a failed InTx: %d users, want none", len(users))
	}
	_, err = s.GetAccount(ctx, created.ID, "app")
	wantNotFound(t, err, "GetAccount after a failed InTx")

	err = s.InTx(ctx, func(ctx context.Context) error {
		u, err := s.CreateUser(ctx, storage.User{Email: "intx@example.com"})
		if err != nil {
			return err
		}
		_, err = s.RecordAuthorization(ctx, u.ID, "app", "openid", true, testClock)
		return err
	})
	must(t, err, "InTx")
	u, err := s.GetUserByEmail(ctx, "intx@example.com")
	must(t, err, "GetUserByEmail after InTx")
	if _, err := s.GetAccount(ctx, u.ID, "app"); err != nil {
		t.Errorf("GetAccount after InTx: %v", err)
	}
}

func testTimesAreUTC(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	locked := testClock.In(elsewhere)
	u, err := s.CreateUser(ctx, storage.User{Email: "utc@example.com", LockedUntil: &locked})
	must(t, err, "CreateUser")
	start := testClock.In(elsewhere)
	_, hash := sessionToken(t)
	_, err = s.CreateSession(ctx, storage.BrowserSession{
		TokenHash: hash, UserID: u.ID, AuthTime: start, LastSeenAt: start,
		IdleExpiresAt: start.Add(time.Hour), ExpiresAt: start.Add(time.Hour),
	})
	must(t, err, "CreateSession")
	_, err = s.RecordAuthorization(ctx, u.ID, "app", "openid", true, start)
	must(t, err, "RecordAuthorization")
	must(t, s.RevokeAccount(ctx, u.ID, "app", start), "RevokeAccount")

	got, err := s.GetUser(ctx, u.ID)
	must(t, err, "GetUser")
	bs, err := s.GetSessionByTokenHash(ctx, hash, start)
	must(t, err, "GetSessionByTokenHash")
	a, err := s.GetAccount(ctx, u.ID, "app")
	must(t, err, "GetAccount")
	if got.LockedUntil == nil || a.RevokedAt == nil {
		t.Fatalf("LockedUntil = %v, RevokedAt = %v; want both set", got.LockedUntil, a.RevokedAt)
	}
	for _, tc := range []struct {
		name string
		got  time.Time
	}{
		{"User.CreatedAt", got.CreatedAt}, {"User.UpdatedAt", got.UpdatedAt}, {"User.LockedUntil", *got.LockedUntil},
		{"BrowserSession.AuthTime", bs.AuthTime}, {"BrowserSession.LastSeenAt", bs.LastSeenAt},
		{"BrowserSession.IdleExpiresAt", bs.IdleExpiresAt}, {"BrowserSession.ExpiresAt", bs.ExpiresAt},
		{"BrowserSession.CreatedAt", bs.CreatedAt},
		{"Account.FirstAuthorizedAt", a.FirstAuthorizedAt}, {"Account.LastAuthorizedAt", a.LastAuthorizedAt},
		{"Account.RevokedAt", *a.RevokedAt}, {"Account.CreatedAt", a.CreatedAt}, {"Account.UpdatedAt", a.UpdatedAt},
	} {
		if tc.got.Location() != time.UTC {
			t.Errorf("%s = %v is in %v, want UTC", tc.name, tc.got, tc.got.Location())
		}
	}
	wantTime(t, "LockedUntil", *got.LockedUntil, testClock)
	wantTime(t, "AuthTime", bs.AuthTime, testClock)
	wantTime(t, "RevokedAt", *a.RevokedAt, testClock)
}
