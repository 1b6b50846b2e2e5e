package importer

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/internal/identity"
)

// Report is what an import did, or (DryRun) would do.
type Report struct {
	// Source is the source database, its secrets masked.
	Source string
	// Casing is the column casing found: camelCase or snake_case.
	Casing string
	DryRun bool
	// Total is the number of users in the source; Read those read.
	Total, Read int
	// Imported, Updated and Unchanged count users by what became of them.
	Imported, Updated, Unchanged int
	// Skipped counts users not imported, by reason.
	Skipped map[string]int
	// Notes counts what was left out of users imported anyway, by what.
	Notes map[string]int
	// Passwords counts the password hashes kept, by scheme ("scrypt",
	// "bcrypt"), and those dropped ("unreadable").
	Passwords map[string]int
	// Identities counts the social accounts kept, by provider.
	Identities map[string]int
	// Sessions and ActiveSessions count the source's sessions (all, and not
	// expired): none is imported. -1 when the source has no session table.
	Sessions, ActiveSessions int64
	// Verifications counts verification rows (-1: no table); none is imported.
	Verifications int64
	// TwoFactor and Passkeys count rows of those plugins' tables (-1: no table).
	TwoFactor, Passkeys int64
	// SecretGiven says whether --secret was given.
	SecretGiven bool
	// TwoFactorImported counts users whose TOTP secret (and backup codes)
	// were imported; TwoFactorSkipped those not, by reason.
	TwoFactorImported int
	TwoFactorSkipped  map[string]int
	// PasskeysImported counts passkeys imported; PasskeysSkipped those not,
	// by reason.
	PasskeysImported int
	PasskeysSkipped  map[string]int
}

func newReport(source string, dryRun bool) Report {
	return Report{
		Source: source, DryRun: dryRun,
		Skipped: map[string]int{}, Notes: map[string]int{}, Passwords: map[string]int{}, Identities: map[string]int{},
		TwoFactorSkipped: map[string]int{}, PasskeysSkipped: map[string]int{},
		Sessions: -1, ActiveSessions: -1, Verifications: -1, TwoFactor: -1, Passkeys: -1,
	}
}

// add counts one user's result.
func (r *Report) add(in identity.ImportUser, res identity.ImportResult) {
	r.Read++
	switch res.Action {
	case identity.ImportCreated:
		r.Imported++
	case identity.ImportUpdated:
		r.Updated++
	case identity.ImportUnchanged:
		r.Unchanged++
	case identity.ImportSkipped:
		r.Skipped[res.Reason]++
		return
	}
	for _, n := range res.Notes {
		r.Notes[n]++
	}
	if res.Password != "" && res.Action == identity.ImportCreated {
		r.Passwords[res.Password]++
	}
	for _, x := range res.IdentitiesAdded {
		r.Identities[x.Provider]++
	}
}

// Changed reports whether the import changed (or, dry, would change) anything.
func (r Report) Changed() bool { return r.Imported+r.Updated > 0 }

// countLeftOut counts the rows the import does not bring.
func (r *Report) countLeftOut(ctx context.Context, tx pgx.Tx, s schema, o Options) error {
	r.SecretGiven = o.Secret != ""
	count := func(table, where string, args ...any) (int64, error) {
		var n int64
		err := tx.QueryRow(ctx, "SELECT count(*) FROM "+ident(table)+" "+where, args...).Scan(&n)
		return n, err
	}
	var err error
	if s.tables["session"] != nil {
		if r.Sessions, err = count("session", ""); err != nil {
			return err
		}
		if s.tables["session"][s.col("expiresAt")] != "" {
			if r.ActiveSessions, err = count("session", "WHERE "+ident(s.col("expiresAt"))+" > $1", o.Now().UTC()); err != nil {
				return err
			}
		}
	}
	if s.tables["verification"] != nil {
		if r.Verifications, err = count("verification", ""); err != nil {
			return err
		}
	}
	if s.twoFactor != "" {
		if r.TwoFactor, err = count(s.twoFactor, ""); err != nil {
			return err
		}
	}
	if s.passkey != "" {
		if r.Passkeys, err = count(s.passkey, ""); err != nil {
			return err
		}
	}
	return nil
}

// Write prints the report for a person: what was imported, updated and
// skipped (with reasons), and what an import of Better Auth cannot bring.
func (r Report) Write(w io.Writer) {
	verb := map[bool]string{false: "", true: " (dry run: nothing was written)"}[r.DryRun]
	fmt.Fprintf(w, "Better Auth import from %s (%s columns)%s\n", r.Source, r.Casing, verb)
	skipped := 0
	for _, n := range r.Skipped {
		skipped += n
	}
	fmt.Fprintf(w, "users: %d read, %d imported, %d updated, %d unchanged, %d skipped\n", r.Read, r.Imported, r.Updated, r.Unchanged, skipped)
	for _, reason := range sortedKeys(r.Skipped) {
		fmt.Fprintf(w, "  skipped %d: %s\n", r.Skipped[reason], reason)
	}
	for _, note := range sortedKeys(r.Notes) {
		fmt.Fprintf(w, "  note, %d user(s): %s\n", r.Notes[note], note)
	}
	if len(r.Passwords) > 0 {
		var parts []string
		for _, k := range sortedKeys(r.Passwords) {
			parts = append(parts, fmt.Sprintf("%d %s", r.Passwords[k], k))
		}
		fmt.Fprintf(w, "passwords: %s (kept as they are; each becomes argon2id at the user's first sign-in)\n", strings.Join(parts, ", "))
	}
	if len(r.Identities) > 0 {
		var parts []string
		for _, k := range sortedKeys(r.Identities) {
			parts = append(parts, fmt.Sprintf("%d %s", r.Identities[k], k))
		}
		fmt.Fprintf(w, "social accounts: %s kept as external identities, for sign-in with those providers once they are configured\n", strings.Join(parts, ", "))
	}
	if r.Sessions >= 0 {
		active := ""
		if r.ActiveSessions >= 0 {
			active = fmt.Sprintf(", %d still active", r.ActiveSessions)
		}
		fmt.Fprintf(w, "sessions: %d not imported%s: sessions are not portable; users sign in again (with the same password)\n", r.Sessions, active)
	}
	if r.Verifications >= 0 {
		fmt.Fprintf(w, "verification: %d row(s) skipped: pending e-mail verification and password reset links of Better Auth do not work in Gatehouse; users ask for new ones\n", r.Verifications)
	}
	if r.TwoFactor >= 0 {
		switch {
		case r.DryRun:
			fmt.Fprintf(w, "two-factor: %d row(s) (TOTP secrets and backup codes) to import with --secret; a dry run does not decrypt them\n", r.TwoFactor)
		default:
			fmt.Fprintf(w, "two-factor: %d of %d row(s) imported (TOTP secret as a confirmed authenticator app, backup codes as recovery codes)\n", r.TwoFactorImported, r.TwoFactor)
		}
		for _, why := range sortedKeys(r.TwoFactorSkipped) {
			fmt.Fprintf(w, "  two-factor skipped %d: %s\n", r.TwoFactorSkipped[why], why)
		}
	}
	if r.Passkeys >= 0 {
		if r.DryRun {
			fmt.Fprintf(w, "passkeys: %d to import\n", r.Passkeys)
		} else {
			fmt.Fprintf(w, "passkeys: %d of %d imported\n", r.PasskeysImported, r.Passkeys)
		}
		for _, why := range sortedKeys(r.PasskeysSkipped) {
			fmt.Fprintf(w, "  passkeys skipped %d: %s\n", r.PasskeysSkipped[why], why)
		}
	}
	switch {
	case r.DryRun && r.Changed():
		fmt.Fprintf(w, "Dry run: %d user(s) would be imported and %d updated. Run again without --dry-run to import.\n", r.Imported, r.Updated)
	case r.DryRun:
		fmt.Fprintln(w, "Dry run: nothing would change.")
	case r.Changed():
		fmt.Fprintf(w, "Done: %d user(s) imported, %d updated. Running the import again changes only what differs.\n", r.Imported, r.Updated)
	default:
		fmt.Fprintln(w, "Nothing changed: Gatehouse already has every user as the source has it.")
	}
}

func sortedKeys(m map[string]int) []string { return slices.Sorted(maps.Keys(m)) }
