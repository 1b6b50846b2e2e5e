package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// The people of the Better Auth app the import tests move.
const (
	baAdaPassword = "correct horse battery staple"
	// Typed with full-width letters, a combining accent and circled digits:
	// Better Auth hashed its NFKC form, "café-secret-12", and so does Gatehouse.
	baGracePassword    = "ｃａｆｅ\u0301-ｓｅｃｒｅｔ-①②"
	baGracePasswordNFK = "café-secret-12"
	// betterAuthSecret is a made-up BETTER_AUTH_SECRET: no output may show it.
	betterAuthSecret = "ba-secret-that-must-never-be-printed-42"
)

// betterAuthSeed is what betterauth_seed.mjs made.
type betterAuthSeed struct {
	Users []struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"users"`
	Sessions  int `json:"sessions"`
	TwoFactor []struct {
		Email       string   `json:"email"`
		TOTPSecret  string   `json:"totpSecret"`
		BackupCodes []string `json:"backupCodes"`
	} `json:"twoFactor"`
	Passkeys []struct {
		CredentialID string `json:"credentialID"`
		Counter      int64  `json:"counter"`
	} `json:"passkeys"`
}

func (s betterAuthSeed) id(t *testing.T, email string) string {
	t.Helper()
	for _, u := range s.Users {
		if u.Email == email {
			return u.ID
		}
	}
	t.Fatalf("the seed made no user %s: %+v", email, s.Users)
	return ""
}

// betterAuthNode returns the node binary, once the npm packages are installed.
// Without them the test fails in CI and is skipped elsewhere.
func betterAuthNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(spaDir, "node_modules", "better-auth", "package.json"))
	}
	if err != nil {
		msg := "node and better-auth are needed: install Node.js and run npm ci --prefix cmd/gatehouse/testdata/js (" + err.Error() + ")"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node
}

// seedBetterAuth runs a real Better Auth (betterauth_seed.mjs) against a new
// PostgreSQL database, dropped when t ends, with its columns in casing
// ("camel" or "snake"). It returns the database's URL and what was made.
func seedBetterAuth(t *testing.T, casing string) (string, betterAuthSeed) {
	t.Helper()
	node := betterAuthNode(t)
	dbURL := storagetest.NewPostgresDatabase(t)
	spec, _ := json.Marshal(map[string]any{
		"users": []map[string]any{
			{"email": "ada@example.com", "password": baAdaPassword, "name": "Ada Lovelace", "signIns": 2},
			{"email": "grace@example.com", "password": baGracePassword, "name": "Grace Hopper"},
		},
		"social":       []map[string]any{{"email": "linus@example.com", "name": "Linus", "provider": "github", "accountId": "583231"}},
		"twoFactorFor": []string{"ada@example.com"},
		"passkeys":     1,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "betterauth_seed.mjs")
	cmd.Dir = spaDir
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dbURL, "CASING="+casing, "BETTER_AUTH_SECRET="+betterAuthSecret)
	cmd.Stdin = bytes.NewReader(spec)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("betterauth_seed.mjs (%s): %v\n%s", casing, err, stderr.String())
	}
	var seed betterAuthSeed
	if err := json.Unmarshal(out, &seed); err != nil || len(seed.Users) != 3 || len(seed.TwoFactor) != 1 || len(seed.Passkeys) != 1 {
		t.Fatalf("betterauth_seed.mjs printed %q: %v", out, err)
	}
	return dbURL, seed
}

// withPassword returns dbURL with a password in it (trust authentication
// ignores it), so that tests can check no output shows it; and the password.
func withPassword(t *testing.T, dbURL string) (string, string) {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if pw, ok := u.User.Password(); ok {
		return dbURL, pw
	}
	const pw = "source-db-password-never-printed"
	u.User = url.UserPassword(u.User.Username(), pw)
	return u.String(), pw
}

// wantInOutput fails the test unless every line of want is in out.
func wantInOutput(t *testing.T, what, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

// wantNoSecrets fails the test when out shows a secret.
func wantNoSecrets(t *testing.T, what, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("%s: output shows a secret (%q):\n%s", what, s, out)
		}
	}
}

// TestImportBetterAuth: a real Better Auth (npm better-auth with pg) signs
// people up and in, with a GitHub account and two-factor and passkey rows
// beside them; `gatehouse import better-auth` moves them into Gatehouse on
// SQLite and on PostgreSQL. A dry run writes nothing; the import keeps names,
// e-mails, verification, images, times, old ids (translated by the admin API)
// and the GitHub account; the same passwords (one needing NFKC) sign in through
// the sign-in page and the authentication API, after which the stored hash is
// argon2id; a second run changes nothing and says so; the report counts the
// sessions as not portable and the two-factor and passkey rows as skipped, and
// shows neither the source's password nor --secret.
func TestImportBetterAuth(t *testing.T) {
	srcURL, seed := seedBetterAuth(t, "camel")
	from, dbPassword := withPassword(t, srcURL)
	src, err := storage.Open(storage.Options{URL: srcURL, Pooler: storage.PoolerNone, MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	var adaCreated time.Time
	if err := src.DB().QueryRowContext(t.Context(), `SELECT "createdAt" FROM "user" WHERE email = 'ada@example.com'`).Scan(&adaCreated); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		// open returns the environment and the flags that point the CLI at a
		// new Gatehouse database, and that database's store.
		open func(t *testing.T) (map[string]string, []string, *storage.Store)
	}{
		{"sqlite", func(t *testing.T) (map[string]string, []string, *storage.Store) {
			dir := t.TempDir()
			if r := runCLI(t, nil, "migrate", "up", "--data-dir", dir); r.code != 0 {
				t.Fatalf("migrate up: %d\n%s", r.code, r.output())
			}
			return map[string]string{}, []string{"--data-dir", dir}, openDataDir(t, dir)
		}},
		{"postgres", func(t *testing.T) (map[string]string, []string, *storage.Store) {
			dbURL := storagetest.NewPostgresDatabase(t)
			env := pgEnv(dbURL)
			if r := runCLI(t, env, "migrate", "up"); r.code != 0 {
				t.Fatalf("migrate up: %d\n%s", r.code, r.output())
			}
			return env, nil, storagetest.OpenURL(t, dbURL, storage.PoolerNone)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			env, flags, store := tc.open(t)
			env["BETTER_AUTH_SECRET"] = betterAuthSecret
			importCLI := func(extra ...string) cliResult {
				t.Helper()
				args := append([]string{"import", "better-auth", "--from", from}, flags...)
				r := runCLI(t, env, append(args, extra...)...)
				wantNoSecrets(t, "import "+strings.Join(extra, " "), r.output(), dbPassword, betterAuthSecret)
				return r
			}
			countUsers := func() int {
				var n int
				if err := store.DB().QueryRowContext(ctx, "SELECT count(*) FROM users").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}

			// A dry run reads and reports, and writes nothing.
			r := importCLI("--dry-run")
			if r.code != 0 {
				t.Fatalf("dry run: exit %d\n%s", r.code, r.output())
			}
			wantInOutput(t, "dry run", r.stdout, "(camelCase columns) (dry run: nothing was written)",
				"users: 3 read, 3 imported, 0 updated, 0 unchanged, 0 skipped", "Dry run: 3 user(s) would be imported")
			if n := countUsers(); n != 0 {
				t.Fatalf("the dry run stored %d users", n)
			}

			r = importCLI()
			if r.code != 0 {
				t.Fatalf("import: exit %d\n%s", r.code, r.output())
			}
			wantInOutput(t, "import", r.stdout,
				"users: 3/3\n", // progress, as plain lines: stdout is no terminal
				"users: 3 read, 3 imported, 0 updated, 0 unchanged, 0 skipped",
				"passwords: 2 scrypt (kept as they are; each becomes argon2id at the user's first sign-in)",
				"social accounts: 1 github kept as external identities",
				fmt.Sprintf("sessions: %d not imported, %d still active: sessions are not portable", seed.Sessions, seed.Sessions),
				"verification: ",
				"two-factor: 1 of 1 row(s) imported (TOTP secret as a confirmed authenticator app, backup codes as recovery codes)",
				"passkeys: 1 of 1 imported",
				"Done: 3 user(s) imported, 0 updated.")

			ada, err := store.GetUserByEmail(ctx, "ada@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if ada.Name != "Ada Lovelace" || ada.EmailVerified || !strings.HasPrefix(ada.PasswordHash, identity.BetterAuthScryptPrefix) ||
				!ada.CreatedAt.Equal(adaCreated.Truncate(time.Microsecond)) {
				t.Errorf("imported Ada = %+v (Better Auth created her at %v)", ada, adaCreated)
			}
			linus, err := store.GetUserByEmail(ctx, "linus@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if !linus.EmailVerified || linus.PasswordHash != "" || linus.Picture != "https://avatars.example.com/u/583231" {
				t.Errorf("imported Linus = %+v, want verified, no password, his avatar", linus)
			}
			ids, err := store.ListExternalIdentities(ctx, linus.ID)
			if err != nil || len(ids) != 1 || ids[0].Provider != "github" || ids[0].AccountID != "583231" || ids[0].Source != "better-auth" {
				t.Errorf("Linus's external identities = %+v, %v; want his GitHub account 583231", ids, err)
			}
			for _, u := range seed.Users {
				m, err := store.GetImportedUser(ctx, "better-auth", u.ID)
				if err != nil {
					t.Errorf("no mapping of Better Auth user %s: %v", u.ID, err)
					continue
				}
				if got, err := store.GetUser(ctx, m.UserID); err != nil || got.Email != u.Email {
					t.Errorf("Better Auth user %s maps to %+v, %v; want %s", u.ID, got, err, u.Email)
				}
			}

			// The same passwords sign in: on the sign-in page and by the
			// authentication API.
			const adminToken = "an-admin-token-for-the-import-test-0123456"
			serveEnv := map[string]string{"GATEHOUSE_ADMIN_TOKENS": adminToken}
			for k, v := range env {
				serveEnv[k] = v
			}
			s := startServe(t, serveEnv, append([]string{"--addr", "127.0.0.1:0"}, flags...)...)
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("server log:\n%s", s.log)
				}
			})
			waitFor(t, s, "/readyz", time.Minute, statusIs(http.StatusOK))
			b := newWebBrowser(t, s.base)
			if p := b.submit(b.get("/signin"), "sign-in", map[string]string{"email": "ada@example.com", "password": baAdaPassword + "!"}); p.status == http.StatusSeeOther {
				t.Fatalf("a wrong password signed Ada in")
			}
			if p := b.submit(b.get("/signin"), "sign-in", map[string]string{"email": "ada@example.com", "password": baAdaPassword}); p.status != http.StatusSeeOther {
				t.Fatalf("Ada's Better Auth password on /signin: %d\n%s", p.status, p.body)
			}
			// Her Better Auth authenticator app gives the second factor.
			adaTF := seed.TwoFactor[0]
			code, err := totp.GenerateCode(adaTF.TOTPSecret, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if p := b.submit(b.get("/signin/second-factor?method=totp"), "verify-code", map[string]string{"code": code}); p.status != http.StatusSeeOther {
				t.Fatalf("Ada's Better Auth TOTP code on /signin/second-factor: %d\n%s", p.status, p.body)
			}
			// A Better Auth backup code works once, as a recovery code.
			backup := adaTF.BackupCodes[0]
			for i, want := range []bool{true, false} {
				rb := newWebBrowser(t, s.base)
				if p := rb.submit(rb.get("/signin"), "sign-in", map[string]string{"email": "ada@example.com", "password": baAdaPassword}); p.status != http.StatusSeeOther {
					t.Fatalf("Ada's password (backup code round %d): %d", i, p.status)
				}
				p := rb.submit(rb.get("/signin/second-factor?method=recovery"), "verify-code", map[string]string{"code": backup})
				if got := strings.Contains(p.body, `id="recovery-remaining"`); got != want {
					t.Errorf("Ada's backup code, use %d: accepted %v, want %v (status %d)", i+1, got, want, p.status)
				}
			}
			// Her passkey is a WebAuthn factor with its credential id and counter.
			credID, err := base64.RawURLEncoding.DecodeString(seed.Passkeys[0].CredentialID)
			if err != nil {
				t.Fatal(err)
			}
			pk, err := store.GetFactorByCredentialID(ctx, credID)
			if err != nil || pk.UserID != ada.ID || pk.Kind != storage.FactorWebAuthn || pk.SignCount != seed.Passkeys[0].Counter ||
				!pk.BackupEligible || !pk.BackupState || pk.Transports != "internal,hybrid" || len(pk.PublicKey) == 0 || !pk.Confirmed() {
				t.Errorf("Ada's imported passkey = %+v, %v; want hers, counter %d", pk, err, seed.Passkeys[0].Counter)
			}
			if u, err := store.GetUserByWebAuthnHandle(ctx, []byte(seed.id(t, "ada@example.com"))); err != nil || u.ID != ada.ID {
				t.Errorf("Ada by her Better Auth id as WebAuthn handle: %+v, %v", u, err)
			}
			svc := identity.New(store, identity.Options{})
			if _, err := svc.Authenticate(ctx, "grace@example.com", baGracePasswordNFK+"3", ""); !errors.Is(err, identity.ErrInvalidCredentials) {
				t.Errorf("Grace with a wrong password: %v, want ErrInvalidCredentials", err)
			}
			// Grace's first sign-in is by the authentication API, as an app
			// that used Better Auth's client would do it, typing the full-width
			// form of her password.
			apiSignIn := func(password string) (int, string) {
				body, _ := json.Marshal(map[string]string{"email": "grace@example.com", "password": password})
				req, err := http.NewRequest("POST", s.base+"/api/auth/sign-in/email", bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("POST /api/auth/sign-in/email: %v", err)
				}
				defer res.Body.Close()
				b, _ := io.ReadAll(res.Body)
				return res.StatusCode, string(b)
			}
			if status, body := apiSignIn(baGracePassword + "?"); status != http.StatusUnauthorized || !strings.Contains(body, "INVALID_EMAIL_OR_PASSWORD") {
				t.Errorf("Grace with a wrong password by API: %d %s, want 401 INVALID_EMAIL_OR_PASSWORD", status, body)
			}
			if status, body := apiSignIn(baGracePassword); status != http.StatusOK || !strings.Contains(body, `"email":"grace@example.com"`) {
				t.Fatalf("Grace's Better Auth password (full-width) by API: %d %s", status, body)
			}
			for _, email := range []string{"ada@example.com", "grace@example.com"} {
				u, _ := store.GetUserByEmail(ctx, email)
				if !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
					t.Errorf("after the first sign-in %s's hash is %.20q…, want argon2id", email, u.PasswordHash)
				}
			}
			// Grace again, now against argon2id, typing the NFKC form.
			g := newWebBrowser(t, s.base)
			if p := g.submit(g.get("/signin"), "sign-in", map[string]string{"email": "grace@example.com", "password": baGracePasswordNFK}); p.status != http.StatusSeeOther {
				t.Errorf("Grace (NFKC form) on /signin after the re-hash: %d", p.status)
			}

			// Applications translate old ids through the admin API.
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.admin+"/admin/imported-users/better-auth/"+url.PathEscape(seed.id(t, "ada@example.com")), nil)
			req.Header.Set("Authorization", "Bearer "+adminToken)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var mapping struct {
				UserID string `json:"user_id"`
			}
			json.NewDecoder(res.Body).Decode(&mapping)
			res.Body.Close()
			if res.StatusCode != http.StatusOK || mapping.UserID != ada.ID {
				t.Errorf("admin lookup of Ada's old id: %d %+v, want %s", res.StatusCode, mapping, ada.ID)
			}

			// Again: nothing differs, so nothing changes (the argon2id hashes stay).
			r = importCLI()
			if r.code != 0 {
				t.Fatalf("second import: exit %d\n%s", r.code, r.output())
			}
			wantInOutput(t, "second import", r.stdout, "users: 3 read, 0 imported, 0 updated, 3 unchanged, 0 skipped",
				"two-factor: 0 of 1 row(s) imported", "two-factor skipped 1: the user already has second factors in Gatehouse",
				"passkeys: 0 of 1 imported", "passkeys skipped 1: already imported",
				"Nothing changed: Gatehouse already has every user as the source has it.")
			if strings.Contains(r.stdout, "passwords:") || strings.Contains(r.stdout, "social accounts:") {
				t.Errorf("second import reports new passwords or accounts:\n%s", r.stdout)
			}
			if u, _ := store.GetUserByEmail(ctx, "ada@example.com"); !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
				t.Errorf("the second import put back Ada's Better Auth hash")
			}
			r = importCLI("--dry-run")
			wantInOutput(t, "dry run after the import", r.stdout, "Dry run: nothing would change.")
		})
	}
}

// TestImportBetterAuthSnakeCase: a Better Auth configured with snake_case
// columns (email_verified, user_id, provider_id, …) imports the same way.
func TestImportBetterAuthSnakeCase(t *testing.T) {
	srcURL, _ := seedBetterAuth(t, "snake")
	dir := t.TempDir()
	r := runCLI(t, nil, "import", "better-auth", "--from", srcURL, "--data-dir", dir)
	if r.code != 0 {
		t.Fatalf("import: exit %d\n%s", r.code, r.output())
	}
	wantInOutput(t, "import", r.stdout, "(snake_case columns)", "users: 3 read, 3 imported", "passwords: 2 scrypt",
		"social accounts: 1 github", "two-factor: 0 of 1 row(s) imported",
		"two-factor skipped 1: no --secret given (BETTER_AUTH_SECRET)", "passkeys: 1 of 1 imported")
	store := openDataDir(t, dir)
	ada, err := store.GetUserByEmail(t.Context(), "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	adaFactors := func() (int, int) {
		t.Helper()
		// Counted in SQL: this store has no system secret to open the sealed ones.
		var totps int
		if err := store.DB().QueryRowContext(t.Context(), "SELECT count(*) FROM user_factors WHERE user_id = ? AND kind = 'totp'", ada.ID).Scan(&totps); err != nil {
			t.Fatal(err)
		}
		codes, err := store.CountRecoveryCodes(t.Context(), ada.ID)
		if err != nil {
			t.Fatal(err)
		}
		return totps, codes
	}
	// A wrong --secret: a clear reason, and nothing of Ada's two-factor written.
	r = runCLI(t, nil, "import", "better-auth", "--from", srcURL, "--data-dir", dir, "--secret", "not-the-better-auth-secret-of-this-app")
	if r.code != 0 {
		t.Fatalf("import with a wrong secret: exit %d\n%s", r.code, r.output())
	}
	wantInOutput(t, "import with a wrong secret", r.stdout, "two-factor: 0 of 1 row(s) imported",
		"two-factor skipped 1: could not be decrypted: is --secret the BETTER_AUTH_SECRET of that app?")
	wantNoSecrets(t, "import with a wrong secret", r.output(), "not-the-better-auth-secret-of-this-app")
	if totps, codes := adaFactors(); totps != 0 || codes != 0 {
		t.Errorf("a wrong secret wrote %d TOTP factor(s) and %d recovery code(s) for Ada", totps, codes)
	}
	// The right one brings them.
	r = runCLI(t, nil, "import", "better-auth", "--from", srcURL, "--data-dir", dir, "--secret", betterAuthSecret)
	wantInOutput(t, "import with the secret", r.stdout, "two-factor: 1 of 1 row(s) imported")
	if totps, codes := adaFactors(); totps != 1 || codes != 10 {
		t.Errorf("after the import with the secret Ada has %d TOTP factor(s) and %d recovery code(s), want 1 and 10", totps, codes)
	}
	svc := identity.New(store, identity.Options{})
	u, err := svc.Authenticate(t.Context(), "grace@example.com", baGracePasswordNFK, "")
	if err != nil || u.Name != "Grace Hopper" {
		t.Fatalf("Grace's password after a snake_case import: %+v, %v", u, err)
	}
	linus, err := store.GetUserByEmail(t.Context(), "linus@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := store.ListExternalIdentities(t.Context(), linus.ID); len(ids) != 1 || ids[0].AccountID != "583231" {
		t.Errorf("Linus's GitHub account after a snake_case import: %+v", ids)
	}
}

// TestImportBetterAuthRefusals: a database without Better Auth's tables gets a
// clear error naming what is missing (and not its password), and changes
// nothing; --from is required.
func TestImportBetterAuthRefusals(t *testing.T) {
	empty, pw := withPassword(t, storagetest.NewPostgresDatabase(t))
	dir := t.TempDir()
	r := runCLI(t, nil, "import", "better-auth", "--from", empty, "--data-dir", dir, "--secret", betterAuthSecret)
	if r.code != 1 || !strings.Contains(r.stderr, `has no table "user" with columns id, email, emailVerified (or email_verified): is this a Better Auth database?`) {
		t.Errorf("import from an empty database: exit %d\n%s", r.code, r.output())
	}
	wantNoSecrets(t, "import from an empty database", r.output(), pw, betterAuthSecret)
	if n := countRows(t, openDataDir(t, dir), "users"); n != 0 {
		t.Errorf("the refused import stored %d users", n)
	}

	r = runCLI(t, nil, "import", "better-auth", "--data-dir", dir)
	if r.code != 2 || !strings.Contains(r.stderr, "give --from") {
		t.Errorf("import without --from: exit %d\n%s", r.code, r.output())
	}
	r = runCLI(t, nil, "import", "better-auth", "--from", "postgres://app:hunter2-x@127.0.0.1:1/none?connect_timeout=2", "--data-dir", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "connect to postgres://app:xxxxx@127.0.0.1:1/none") {
		t.Errorf("import from a closed port: exit %d\n%s", r.code, r.output())
	}
	wantNoSecrets(t, "import from a closed port", r.output(), "hunter2-x")
}

// countRows counts the rows of table.
func countRows(t *testing.T, s *storage.Store, table string) int {
	t.Helper()
	var n int
	if err := s.DB().QueryRowContext(t.Context(), "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
