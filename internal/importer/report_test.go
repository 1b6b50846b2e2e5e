package importer

import (
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/identity"
)

func TestColumnCasing(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		snake       bool
		want        string
	}{
		{"camel stays", "emailVerified", false, "emailVerified"},
		{"snake", "emailVerified", true, "email_verified"},
		{"snake two humps", "accessTokenExpiresAt", true, "access_token_expires_at"},
		{"one word", "password", true, "password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (schema{snake: tc.snake}).col(tc.field); got != tc.want {
				t.Errorf("col(%q) with snake %v = %q, want %q", tc.field, tc.snake, got, tc.want)
			}
		})
	}
}

// TestReportCountsReasons: skipped users are counted by reason and notes by
// what was left out; passwords only for users created now; without the
// optional tables their lines are left out; without changes the report says so.
func TestReportCountsReasons(t *testing.T) {
	r := newReport("postgres://app:xxxxx@db/app", false)
	r.Casing = "camelCase"
	r.Sessions, r.ActiveSessions = 7, 3
	add := func(res identity.ImportResult) { r.add(identity.ImportUser{}, res) }
	add(identity.ImportResult{Action: identity.ImportCreated, Password: "scrypt", IdentitiesAdded: []identity.ImportIdentity{{Provider: "github", AccountID: "1"}}})
	add(identity.ImportResult{Action: identity.ImportCreated, Password: "bcrypt", Notes: []string{"image left out: not an https URL"}})
	add(identity.ImportResult{Action: identity.ImportUnchanged, Password: "scrypt"})
	add(identity.ImportResult{Action: identity.ImportSkipped, Reason: "e-mail address not accepted"})
	add(identity.ImportResult{Action: identity.ImportSkipped, Reason: "e-mail address not accepted"})
	var b strings.Builder
	r.Write(&b)
	out := b.String()
	for _, want := range []string{
		"Better Auth import from postgres://app:xxxxx@db/app (camelCase columns)\n",
		"users: 5 read, 2 imported, 0 updated, 1 unchanged, 2 skipped\n",
		"  skipped 2: e-mail address not accepted\n",
		"  note, 1 user(s): image left out: not an https URL\n",
		"passwords: 1 bcrypt, 1 scrypt (kept",
		"social accounts: 1 github kept",
		"sessions: 7 not imported, 3 still active: sessions are not portable",
		"Done: 2 user(s) imported, 0 updated.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	for _, absent := range []string{"verification:", "two-factor:", "passkeys:"} {
		if strings.Contains(out, absent) {
			t.Errorf("report shows %q for a table the source lacks:\n%s", absent, out)
		}
	}

	quiet := newReport("x", false)
	quiet.add(identity.ImportUser{}, identity.ImportResult{Action: identity.ImportUnchanged})
	b.Reset()
	quiet.Write(&b)
	if !strings.Contains(b.String(), "Nothing changed") || quiet.Changed() {
		t.Errorf("a run without changes:\n%s", b.String())
	}
}
