package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
)

// runUsersCLI runs `gatehouse users ARGS… --data-dir dir` in-process with stdin
// and no environment, and returns its exit code and output.
func runUsersCLI(t *testing.T, dir, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	args = append(append([]string{"users"}, args...), "--data-dir", dir)
	code = run(t.Context(), args, func(string) string { return "" }, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// usersCLI is runUsersCLI that fails the test on a non-zero exit.
func usersCLI(t *testing.T, dir, stdin string, args ...string) string {
	t.Helper()
	code, out, errOut := runUsersCLI(t, dir, stdin, args...)
	if code != 0 {
		t.Fatalf("gatehouse users %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

type cliUser struct {
	ID            string `json:"id"`
	Email         string `json:"email"`
	EmailVerified bool   `json:"email_verified"`
	Name          string `json:"name"`
	GivenName     string `json:"given_name"`
	Locale        string `json:"locale"`
	HasPassword   bool   `json:"has_password"`
	Disabled      bool   `json:"disabled"`
	PasswordHash  string `json:"password_hash"`
}

func decodeUser(t *testing.T, out string) cliUser {
	t.Helper()
	var u cliUser
	if err := json.Unmarshal([]byte(out), &u); err != nil {
		t.Fatalf("decode %q: %v", out, err)
	}
	return u
}

// openDataDir opens the embedded database the CLI wrote.
func openDataDir(t *testing.T, dir string) *storage.Store {
	t.Helper()
	s, err := storage.Open(storage.Options{URL: "sqlite:" + filepath.Join(dir, "gatehouse.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestUsersLifecycle(t *testing.T) {
	dir := t.TempDir()
	const password = "  a passphrase with spaces  "

	out := usersCLI(t, dir, password+"\n", "create", "--email", "Ada@Example.com", "--password-stdin", "--name", "Ada Lovelace", "-o", "json")
	created := decodeUser(t, out)
	if created.ID == "" || created.Email != "ada@example.com" || created.Name != "Ada Lovelace" || created.EmailVerified || !created.HasPassword || created.Disabled {
		t.Errorf("create -o json = %+v", created)
	}
	if strings.Contains(out, "argon2") || created.PasswordHash != "" || strings.Contains(out, "passphrase") {
		t.Errorf("create printed the password or its hash: %s", out)
	}

	// The stored hash uses the production parameters and takes the password as typed.
	store := openDataDir(t, dir)
	stored, err := store.GetUser(t.Context(), created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("stored hash %q, want argon2id with OWASP's parameters", stored.PasswordHash)
	}
	svc := identity.New(store, identity.Options{})
	if ok, _, err := svc.CheckPassword(stored.PasswordHash, password); !ok || err != nil {
		t.Errorf("the password read from stdin does not verify: %v, %v", ok, err)
	}

	verified := decodeUser(t, usersCLI(t, dir, "grace-hopper-1906\n", "create", "--email", "grace@example.com", "--password-stdin", "--email-verified", "-o", "json"))
	if !verified.EmailVerified {
		t.Errorf("create --email-verified = %+v", verified)
	}

	// get by id and by e-mail in any case; the table names the fields.
	for _, ref := range []string{created.ID, "ADA@example.com"} {
		if got := decodeUser(t, usersCLI(t, dir, "", "get", ref, "-o", "json")); got.ID != created.ID {
			t.Errorf("get %s = %+v", ref, got)
		}
	}
	if table := usersCLI(t, dir, "", "get", created.ID); !strings.Contains(table, "ada@example.com") || !strings.Contains(table, "EMAIL VERIFIED") {
		t.Errorf("get (table) = %q", table)
	}

	// list: prefix filter and paging.
	var page struct {
		Users []cliUser `json:"users"`
		Next  string    `json:"next"`
	}
	if err := json.Unmarshal([]byte(usersCLI(t, dir, "", "list", "--email-prefix", "GR", "-o", "json")), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Users) != 1 || page.Users[0].Email != "grace@example.com" {
		t.Errorf("list --email-prefix GR = %+v", page.Users)
	}
	if err := json.Unmarshal([]byte(usersCLI(t, dir, "", "list", "--limit", "1", "-o", "json")), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Users) != 1 || page.Users[0].Email != "ada@example.com" || page.Next != "ada@example.com" {
		t.Errorf("list --limit 1 = %+v next %q", page.Users, page.Next)
	}
	page.Users, page.Next = nil, ""
	if err := json.Unmarshal([]byte(usersCLI(t, dir, "", "list", "--limit", "1", "--page-token", "ada@example.com", "-o", "json")), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Users) != 1 || page.Users[0].Email != "grace@example.com" {
		t.Errorf("second page = %+v", page.Users)
	}
	if table := usersCLI(t, dir, "", "list"); !strings.Contains(table, "ada@example.com") || !strings.Contains(table, "grace@example.com") {
		t.Errorf("list (table) = %q", table)
	}

	// update changes only what is named.
	updated := decodeUser(t, usersCLI(t, dir, "", "update", "ada@example.com", "--given-name", "Ada", "--locale", "en-gb", "-o", "json"))
	if updated.Name != "Ada Lovelace" || updated.GivenName != "Ada" || updated.Locale != "en-GB" {
		t.Errorf("update = %+v", updated)
	}
	moved := decodeUser(t, usersCLI(t, dir, "", "update", created.ID, "--email", "ada@example.org", "-o", "json"))
	if moved.Email != "ada@example.org" || moved.EmailVerified {
		t.Errorf("update --email = %+v, want the new address, unverified", moved)
	}
	if got := decodeUser(t, usersCLI(t, dir, "", "update", created.ID, "--email-verified", "-o", "json")); !got.EmailVerified {
		t.Errorf("update --email-verified = %+v", got)
	}
	if code, _, errOut := runUsersCLI(t, dir, "", "update", created.ID, "--email", "grace@example.com"); code != 1 || !strings.Contains(errOut, "already registered") {
		t.Errorf("update --email to a taken address: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runUsersCLI(t, dir, "", "update", created.ID, "--picture", "javascript:alert(1)"); code != 2 || !strings.Contains(errOut, "picture") {
		t.Errorf("update --picture javascript:…: exit %d, stderr %q", code, errOut)
	}

	// set-password, then check it through the identity service.
	usersCLI(t, dir, "a-new-passphrase-2\n", "set-password", "ada@example.org", "--password-stdin")
	if _, err := svc.Authenticate(t.Context(), "ada@example.org", "a-new-passphrase-2", ""); err != nil {
		t.Errorf("Authenticate with the password set by the CLI: %v", err)
	}

	// disable ends sessions and refuses sign-in; enable lets it in again.
	now := time.Now()
	if _, err := store.CreateSession(t.Context(), storage.BrowserSession{
		TokenHash: []byte("cli-session"), UserID: created.ID, AuthTime: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	if out := usersCLI(t, dir, "", "disable", "ada@example.org"); !strings.Contains(out, "ended 1 session") {
		t.Errorf("disable = %q", out)
	}
	if s, _ := store.ListUserSessions(t.Context(), created.ID, now); len(s) != 0 {
		t.Errorf("%d sessions after disable, want 0", len(s))
	}
	if _, err := svc.Authenticate(t.Context(), "ada@example.org", "a-new-passphrase-2", ""); err == nil {
		t.Error("a disabled user signed in")
	}
	if got := decodeUser(t, usersCLI(t, dir, "", "enable", created.ID, "-o", "json")); got.Disabled {
		t.Errorf("enable = %+v", got)
	}
	if _, err := svc.Authenticate(t.Context(), "ada@example.org", "a-new-passphrase-2", ""); err != nil {
		t.Errorf("Authenticate after enable: %v", err)
	}

	// delete, by e-mail.
	if out := usersCLI(t, dir, "", "delete", "ada@example.org"); !strings.Contains(out, created.ID) {
		t.Errorf("delete = %q", out)
	}
	if code, _, errOut := runUsersCLI(t, dir, "", "get", created.ID); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("get after delete: exit %d, stderr %q", code, errOut)
	}
}

func TestUsersRefusals(t *testing.T) {
	dir := t.TempDir()
	usersCLI(t, dir, "first-user-pass\n", "create", "--email", "taken@example.com", "--password-stdin")
	for _, tc := range []struct {
		name    string
		stdin   string
		args    []string
		code    int
		message string
	}{
		{"no --password-stdin", "some-password-1\n", []string{"create", "--email", "a@example.com"}, 2, "--password-stdin"},
		{"password as a flag", "", []string{"create", "--email", "a@example.com", "--password", "some-password-1"}, 1, "unknown flag"},
		{"empty stdin", "", []string{"create", "--email", "a@example.com", "--password-stdin"}, 2, "no password"},
		{"short password", "short\n", []string{"create", "--email", "a@example.com", "--password-stdin"}, 2, "at least 8"},
		{"common password", "Password123\n", []string{"create", "--email", "a@example.com", "--password-stdin"}, 2, "too common"},
		{"bad e-mail", "some-password-1\n", []string{"create", "--email", "not-an-address", "--password-stdin"}, 2, "invalid e-mail"},
		{"taken e-mail", "some-password-1\n", []string{"create", "--email", "TAKEN@example.com", "--password-stdin"}, 1, "already registered"},
		{"bad output", "", []string{"list", "-o", "yaml"}, 2, "-o"},
		{"update without flags", "", []string{"update", "taken@example.com"}, 2, "nothing to change"},
		{"set-password without stdin flag", "x\n", []string{"set-password", "taken@example.com"}, 2, "--password-stdin"},
		{"get unknown", "", []string{"get", "nobody@example.com"}, 1, "not found"},
		{"get bad id", "", []string{"get", "not-a-uuid"}, 1, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runUsersCLI(t, dir, tc.stdin, tc.args...)
			if code != tc.code || !strings.Contains(errOut, tc.message) {
				t.Errorf("users %s: exit %d, stderr %q; want exit %d mentioning %q (stdout %q)", strings.Join(tc.args, " "), code, errOut, tc.code, tc.message, out)
			}
		})
	}
	var page struct {
		Users []cliUser `json:"users"`
	}
	if err := json.Unmarshal([]byte(usersCLI(t, dir, "", "list", "-o", "json")), &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Users) != 1 {
		t.Errorf("after refused commands: %d users, want 1", len(page.Users))
	}
}
