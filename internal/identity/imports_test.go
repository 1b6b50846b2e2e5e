package identity_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Vectors computed outside Go: the scrypt ones by Better Auth 1.7.25 itself
// (hashPassword from "better-auth/crypto" in Node 20), the bcrypt ones by
// libxcrypt (perl's crypt() with a $2b$10$, $2a$10$ and $2y$10$ salt).
const (
	baScryptHorse = "8e4befe1eb80c3c4996ada504a645d17:870ecad6ec8ff52387bb5a6c32d49adf3df3f5f43a4db7c2f1e4a261e535f618bb96e3fdef1276ea7fd7cebfedcc16ed9754e93df87d99991701fbefdf8ec99d"
	// The password typed in full-width letters, a combining acute accent and
	// circled digits: Better Auth hashed its NFKC form, "café-secret-12".
	baScryptFullWidth = "cf31bfbf01f5388a067bfade1563c3c4:2711a79f231fda6d22f58348b7960d27d3c7a2018d70fed081bfb8acc3348c1fef1eb1650f48322f4198285a43855cae0119150d6eec0db1f4f8e6d4c8dd7f53"
	baScryptUmlauts   = "f6e944da3471316d671f378faae20185:a7e0effa7e3b4950eff0c420551457522209bc2da6aad392d24b1d9b0cb3136afe54ac9b271df97e4501cf1ad54ae848cf8029f5f924a21290f871adc81884d6"
	bcrypt2b          = "$2b$10$0123456789abcdefghijkei2OVEKnhguKYSP1SktRoqDivjbVjTnK"
	bcrypt2bUnicode   = "$2b$10$0123456789abcdefghijkeiBRW50nRaYj88uQEbnbdktXjXJGfhEK"
	bcrypt2a          = "$2a$10$ABCDEFGHIJKLMNOPQRSTUun.tZY/Rwb3RknRB2PwJesc.noNYaqy2"
	bcrypt2y          = "$2y$10$ABCDEFGHIJKLMNOPQRSTUun.tZY/Rwb3RknRB2PwJesc.noNYaqy2"
)

const fullWidthPassword = "ｃａｆｅ\u0301-ｓｅｃｒｅｔ-①②"

func TestLegacyHashVerification(t *testing.T) {
	f := newFixture(t, "sqlite:"+t.TempDir()+"/legacy.db")
	for _, tc := range []struct {
		name, raw, password string
		ok                  bool
	}{
		{"scrypt", baScryptHorse, "correct horse battery staple", true},
		{"scrypt wrong password", baScryptHorse, "correct horse battery stapler", false},
		{"scrypt case matters", baScryptHorse, "Correct horse battery staple", false},
		{"scrypt as typed", baScryptFullWidth, fullWidthPassword, true},
		{"scrypt NFKC form", baScryptFullWidth, "café-secret-12", true},
		{"scrypt decomposed accent", baScryptFullWidth, "cafe\u0301-secret-12", true},
		{"scrypt without the accent", baScryptFullWidth, "cafe-secret-12", false},
		{"scrypt umlauts", baScryptUmlauts, "Passwort mit Ümläuten!", true},
		{"scrypt umlauts decomposed", baScryptUmlauts, "Passwort mit U\u0308mla\u0308uten!", true},
		{"bcrypt 2b", bcrypt2b, "correct horse battery staple", true},
		{"bcrypt 2b wrong", bcrypt2b, "correct horse battery", false},
		{"bcrypt 2b non-ASCII", bcrypt2bUnicode, "héllo wörld 2b", true},
		{"bcrypt 2b non-ASCII decomposed", bcrypt2bUnicode, "he\u0301llo wo\u0308rld 2b", true},
		{"bcrypt 2a", bcrypt2a, "correct horse battery staple", true},
		{"bcrypt 2y", bcrypt2y, "correct horse battery staple", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stored, err := identity.LegacyHash(tc.raw)
			if err != nil {
				t.Fatalf("LegacyHash(%q): %v", tc.raw, err)
			}
			if !identity.IsLegacyHash(stored) {
				t.Errorf("IsLegacyHash(%q) = false", stored)
			}
			ok, rehash, err := f.svc.CheckPassword(stored, tc.password)
			if err != nil || ok != tc.ok || !rehash {
				t.Errorf("CheckPassword(%q, %q) = %v, %v, %v; want %v, true, nil", stored, tc.password, ok, rehash, err, tc.ok)
			}
		})
	}
}

func TestLegacyHashRefused(t *testing.T) {
	for _, tc := range []struct{ name, raw, want string }{
		{"empty", "", "want bcrypt"},
		{"no colon", "8e4befe1eb80c3c4996ada504a645d17", "want bcrypt"},
		{"salt not hex", "zz4befe1eb80c3c4996ada504a645d17:" + strings.Repeat("ab", 64), "salt is not hex"},
		{"short key", "8e4befe1eb80c3c4996ada504a645d17:abcd", "not 64 bytes"},
		{"argon2id", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$a2V5", "not bcrypt"},
		{"md5 crypt", "$1$saltsalt$abcdefghijklmnopqrstuv", "not bcrypt"},
		{"bcrypt cost 20", "$2b$20$0123456789abcdefghijkei2OVEKnhguKYSP1SktRoqDivjbVjTnK", "cost 20"},
		{"bcrypt truncated", "$2b$10$0123456789", "bcrypt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := identity.LegacyHash(tc.raw)
			if !errors.Is(err, identity.ErrUnknownHash) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("LegacyHash(%q) = %v, want ErrUnknownHash saying %q", tc.raw, err, tc.want)
			}
		})
	}
}

// importBatch imports users from "better-auth" and fails the test on an error.
func importBatch(t *testing.T, f *fixture, dryRun bool, users ...identity.ImportUser) []identity.ImportResult {
	t.Helper()
	res, err := f.svc.ImportUsers(t.Context(), "better-auth", users, dryRun)
	if err != nil {
		t.Fatalf("ImportUsers: %v", err)
	}
	if len(res) != len(users) {
		t.Fatalf("ImportUsers returned %d results for %d users", len(res), len(users))
	}
	return res
}

func TestImportedPasswordRehashedAtFirstSignIn(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		importBatch(t, f, false,
			identity.ImportUser{ExternalID: "u1", Email: "scrypt@example.com", PasswordHash: baScryptFullWidth},
			identity.ImportUser{ExternalID: "u2", Email: "bcrypt@example.com", PasswordHash: bcrypt2b},
		)
		for _, tc := range []struct{ email, password, prefix string }{
			{"scrypt@example.com", fullWidthPassword, identity.BetterAuthScryptPrefix},
			{"bcrypt@example.com", "correct horse battery staple", "$2b$"},
		} {
			before, err := f.store.GetUserByEmail(ctx, tc.email)
			if err != nil || !strings.HasPrefix(before.PasswordHash, tc.prefix) {
				t.Fatalf("imported %s: hash %q, %v; want prefix %q", tc.email, before.PasswordHash, err, tc.prefix)
			}
			// A wrong password is refused and replaces nothing.
			if _, err := f.svc.Authenticate(ctx, tc.email, tc.password+"x", ""); !errors.Is(err, identity.ErrInvalidCredentials) {
				t.Fatalf("Authenticate(%s) with a wrong password: %v, want ErrInvalidCredentials", tc.email, err)
			}
			if u, _ := f.store.GetUser(ctx, before.ID); u.PasswordHash != before.PasswordHash {
				t.Errorf("a failed sign-in replaced the imported hash of %s", tc.email)
			}
			u, err := f.svc.Authenticate(ctx, tc.email, tc.password, "")
			if err != nil {
				t.Fatalf("Authenticate(%s) with the imported password: %v", tc.email, err)
			}
			after, _ := f.store.GetUser(ctx, u.ID)
			if !strings.HasPrefix(after.PasswordHash, "$argon2id$") {
				t.Errorf("after the first sign-in the hash of %s is %q, want argon2id", tc.email, after.PasswordHash)
			}
			// The argon2id hash is of the same (normalised) password.
			if _, err := f.svc.Authenticate(ctx, tc.email, identity.NormalizePassword(tc.password), ""); err != nil {
				t.Errorf("second sign-in of %s (NFKC form) after the re-hash: %v", tc.email, err)
			}
			if _, err := f.svc.Authenticate(ctx, tc.email, tc.password+"x", ""); !errors.Is(err, identity.ErrInvalidCredentials) {
				t.Errorf("wrong password after the re-hash of %s: %v", tc.email, err)
			}
		}
	})
}

func TestImportUsersIdempotent(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		created := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
		keepID := "5b0f0a8e-1c52-4a2d-9a43-2f36c0f0e1aa"
		users := []identity.ImportUser{
			{ExternalID: "Xo1pQ", Email: "Ada@Example.com", Name: "Ada", EmailVerified: true, Picture: "https://img.example.com/ada.png",
				PasswordHash: baScryptHorse, CreatedAt: created, UpdatedAt: created.Add(time.Hour)},
			{ExternalID: keepID, Email: "grace@example.com", Name: "Grace", Picture: "data:image/png;base64,AAAA",
				Identities: []identity.ImportIdentity{{Provider: "github", AccountID: "583231"}}},
			{ExternalID: "bad-email", Email: "not an address"},
			{ExternalID: "bad-hash", Email: "hash@example.com", PasswordHash: "$1$md5$crypt"},
		}
		dry := importBatch(t, f, true, users...)
		if dry[0].Action != identity.ImportCreated || dry[1].Action != identity.ImportCreated {
			t.Errorf("dry run actions = %v, %v; want imported", dry[0].Action, dry[1].Action)
		}
		if l, _ := f.store.ListUsers(ctx, storage.ListUsersOptions{}); len(l) != 0 {
			t.Fatalf("a dry run stored %d users", len(l))
		}

		res := importBatch(t, f, false, users...)
		want := []identity.ImportAction{identity.ImportCreated, identity.ImportCreated, identity.ImportSkipped, identity.ImportCreated}
		for i, r := range res {
			if r.Action != want[i] {
				t.Errorf("import %s: %s (%s), want %s", r.ExternalID, r.Action, r.Reason, want[i])
			}
		}
		if res[2].Reason != "e-mail address not accepted" {
			t.Errorf("skip reason = %q", res[2].Reason)
		}
		if res[0].Password != "scrypt" || res[3].Password != "unreadable" || len(res[3].Notes) != 1 || len(res[1].Notes) != 1 {
			t.Errorf("password and notes: %+v / %+v / %+v", res[0], res[1], res[3])
		}
		ada, err := f.store.GetUserByEmail(ctx, "ada@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if ada.ID == "Xo1pQ" || ada.Name != "Ada" || !ada.EmailVerified || ada.Picture != "https://img.example.com/ada.png" ||
			!ada.CreatedAt.Equal(created) || !ada.UpdatedAt.Equal(created.Add(time.Hour)) || ada.PasswordHash != identity.BetterAuthScryptPrefix+baScryptHorse {
			t.Errorf("imported Ada = %+v", ada)
		}
		if m, err := f.svc.LookupImportedUser(ctx, "better-auth", "Xo1pQ"); err != nil || m.UserID != ada.ID {
			t.Errorf("LookupImportedUser(Xo1pQ) = %+v, %v; want %s", m, err, ada.ID)
		}
		grace, err := f.store.GetUser(ctx, keepID)
		if err != nil || grace.Email != "grace@example.com" || grace.Picture != "" || grace.PasswordHash != "" {
			t.Errorf("Grace kept her UUID? %+v, %v", grace, err)
		}
		ids, err := f.svc.ExternalIdentities(ctx, keepID)
		if err != nil || len(ids) != 1 || ids[0].Provider != "github" || ids[0].AccountID != "583231" || ids[0].Source != "better-auth" {
			t.Errorf("ExternalIdentities(grace) = %+v, %v", ids, err)
		}
		if _, err := f.svc.LookupImportedUser(ctx, "better-auth", "bad-email"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("LookupImportedUser of a skipped user: %v, want ErrNotFound", err)
		}

		// Again: nothing differs, nothing changes.
		again := importBatch(t, f, false, users...)
		for i, r := range again {
			if i != 2 && r.Action != identity.ImportUnchanged {
				t.Errorf("second import of %s: %s %v, want unchanged", r.ExternalID, r.Action, r.Changed)
			}
		}
		if a2, _ := f.store.GetUser(ctx, ada.ID); !a2.UpdatedAt.Equal(ada.UpdatedAt) {
			t.Errorf("second import touched Ada: updated_at %v → %v", ada.UpdatedAt, a2.UpdatedAt)
		}

		// The source changed a name and a verification; Gatehouse re-hashed
		// Ada's password at sign-in and it stays.
		if _, err := f.svc.Authenticate(ctx, "ada@example.com", "correct horse battery staple", ""); err != nil {
			t.Fatal(err)
		}
		users[0].EmailVerified = false // never taken back
		users[1].Name = "Grace Hopper"
		users[1].EmailVerified = true
		third := importBatch(t, f, false, users...)
		if third[0].Action != identity.ImportUnchanged {
			t.Errorf("Ada after her sign-in and an unverified source: %s %v, want unchanged", third[0].Action, third[0].Changed)
		}
		if third[1].Action != identity.ImportUpdated || !slices.Equal(third[1].Changed, []string{"name", "email_verified"}) {
			t.Errorf("Grace renamed: %s %v, want updated [name email_verified]", third[1].Action, third[1].Changed)
		}
		if a3, _ := f.store.GetUser(ctx, ada.ID); !a3.EmailVerified || !strings.HasPrefix(a3.PasswordHash, "$argon2id$") {
			t.Errorf("Ada after the third import: verified %v, hash %q", a3.EmailVerified, a3.PasswordHash)
		}
		if g, _ := f.store.GetUser(ctx, keepID); g.Name != "Grace Hopper" || !g.EmailVerified {
			t.Errorf("Grace after the update: %+v", g)
		}
	})
}

func TestImportNeverMergesByEmail(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		owner := f.signUp(t, "owner@example.com", "the owner's password")
		res := importBatch(t, f, false,
			identity.ImportUser{ExternalID: "o1", Email: "OWNER@example.com", PasswordHash: baScryptHorse,
				Identities: []identity.ImportIdentity{{Provider: "github", AccountID: "1"}}},
			identity.ImportUser{ExternalID: "o2", Email: "other@example.com",
				Identities: []identity.ImportIdentity{{Provider: "github", AccountID: "1"}}},
		)
		if res[0].Action != identity.ImportSkipped || res[0].Reason != "e-mail address already belongs to a Gatehouse user" {
			t.Errorf("import onto a signed-up address: %s %q", res[0].Action, res[0].Reason)
		}
		if u, _ := f.store.GetUser(ctx, owner.ID); u.PasswordHash != owner.PasswordHash {
			t.Error("the import replaced the owner's password")
		}
		if res[1].Action != identity.ImportCreated || len(res[1].IdentitiesAdded) != 1 {
			t.Errorf("second user: %+v", res[1])
		}
		if _, err := f.svc.Authenticate(ctx, "owner@example.com", "correct horse battery staple", ""); !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Errorf("the source's password signs in to the owner's account: %v", err)
		}
	})
}
