package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/importer"
)

func importCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Bring users from another authentication system into Gatehouse",
	}
	cmd.PersistentFlags().String("data-dir", config.Default().DataDir, "directory of the embedded SQLite database")
	cmd.AddCommand(importBetterAuthCommand(e))
	return cmd
}

func importBetterAuthCommand(e *env) *cobra.Command {
	var from, secret string
	var dryRun bool
	var batch int
	cmd := &cobra.Command{
		Use:   "better-auth --from POSTGRES_URL [--secret BETTER_AUTH_SECRET] [--dry-run]",
		Short: "Import the users of a Better Auth database",
		Long: `Import the users of a Better Auth database (PostgreSQL, camelCase or snake_case
columns) into Gatehouse's database, as configured for serve.

Kept: users (name, e-mail, e-mail verified, image, creation time), each mapped
from its Better Auth id (GET /admin/imported-users/better-auth/{id} on the
admin API translates old ids); password hashes as they are (Better Auth's
scrypt, or bcrypt), verified at sign-in and replaced by argon2id at the first
one; social accounts (GitHub, Google, …) as external identities.
With --secret (Better Auth's BETTER_AUTH_SECRET): TOTP secrets, as confirmed
authenticator apps, and backup codes, as recovery codes. Passkeys, as
WebAuthn factors (credential id, public key, counter, backup flags).
Not kept, and counted in the report: sessions (not portable: users sign in
again), verification rows, and two-factor rows without --secret or that
--secret does not decrypt (nothing is written for those users' second factor).

The source is only read. Gatehouse's database is written in batches, one
transaction each; running the import again changes only what differs, so it
can run again after a failure or to catch up before switching over.
--secret may also come from BETTER_AUTH_SECRET; it is never printed.`,
		Example: `  gatehouse import better-auth --from "$BETTER_AUTH_DATABASE_URL" --dry-run
  gatehouse import better-auth --from postgres://app@db.example.com/app?sslmode=require`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(from) == "" {
				return &exitError{code: 2, err: errors.New("give --from with the Better Auth database's PostgreSQL URL")}
			}
			if secret == "" {
				secret = e.getenv("BETTER_AUTH_SECRET")
			}
			ue, done, err := e.userService(cmd)
			if err != nil {
				return err
			}
			defer done()
			progress := newProgress(e.stdout)
			report, err := importer.BetterAuth(cmd.Context(), ue.svc, importer.Options{
				From: from, Secret: secret, Factors: ue.store, DryRun: dryRun, BatchSize: batch, Progress: progress.update,
			})
			progress.finish()
			if err != nil {
				if report.Read > 0 {
					// What was written stays; say how far it got.
					report.Write(e.stdout)
				}
				return err
			}
			report.Write(e.stdout)
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "the Better Auth database's PostgreSQL URL (required; only read)")
	cmd.Flags().StringVar(&secret, "secret", "", "Better Auth's BETTER_AUTH_SECRET (decrypts TOTP secrets and backup codes)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "read and report what would change, write nothing")
	cmd.Flags().IntVar(&batch, "batch-size", importer.DefaultBatchSize, "users per batch (one transaction each)")
	return cmd
}

// progress shows how far an import is: a bar redrawn in place on a terminal,
// a plain line per batch otherwise (a log, a pipe).
type progress struct {
	w        io.Writer
	terminal bool
	drawn    bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

func (p *progress) update(done, total int) {
	if !p.terminal {
		fmt.Fprintf(p.w, "users: %d/%d\n", done, total)
		return
	}
	const width = 30
	filled := width
	if total > 0 {
		filled = done * width / total
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d users", strings.Repeat("#", filled), strings.Repeat(" ", width-filled), done, total)
	p.drawn = true
}

// finish ends the bar's line.
func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
