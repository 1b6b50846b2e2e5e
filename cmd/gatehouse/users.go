package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/spf13/cobra"
)

func usersCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Create and manage the people who sign in through Gatehouse",
		Long: `Create and manage users. A user is named by its id or its e-mail address (any
case). Passwords are read from standard input with --password-stdin, never from a
flag, where they would land in shell history and process listings; they follow the
same policy as sign-up (8 to 128 characters, not a common password) and are stored
as argon2id hashes.`,
	}
	cmd.PersistentFlags().String("data-dir", config.Default().DataDir, "directory of the embedded SQLite database")
	cmd.PersistentFlags().StringP("output", "o", "table", "output format: table or json")
	cmd.AddCommand(
		usersCreateCommand(e),
		usersListCommand(e),
		usersGetCommand(e),
		usersUpdateCommand(e),
		usersSetPasswordCommand(e),
		usersDisableCommand(e, true),
		usersDisableCommand(e, false),
		usersDeleteCommand(e),
		usersMFACommand(e),
	)
	return cmd
}

// userEnv is what a users subcommand works with.
type userEnv struct {
	store *storage.Store
	svc   *identity.Service
	cfg   config.Config
	log   *slog.Logger
}

// userService opens the store and builds the identity service over it (with the
// production password parameters), and returns a function that closes the store.
func (e *env) userService(cmd *cobra.Command) (userEnv, func(), error) {
	store, c, err := e.openReadyStore(cmd)
	if err != nil {
		return userEnv{}, nil, err
	}
	log := newLogger(c, e.stderr)
	svc := identity.New(store, identity.Options{
		Now: time.Now, Params: passwordParams(c), MaxConcurrentHashes: c.Passwords.MaxConcurrentHashes,
		BaseURL: c.Issuer, Log: log,
	})
	return userEnv{store: store, svc: svc, cfg: c, log: log}, func() { store.Close() }, nil
}

// userError gives input the identity rules refuse the usage exit code.
func userError(err error) error {
	var pe *identity.PasswordError
	var fe *identity.ProfileError
	if errors.As(err, &pe) || errors.As(err, &fe) || errors.Is(err, identity.ErrInvalidEmail) {
		return &exitError{code: 2, err: err}
	}
	return err
}

// readPassword reads the password from the first line of stdin: the line ending
// is dropped, every other character (spaces included) is kept.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", &exitError{code: 2, err: errors.New("--password-stdin: standard input held no password")}
	}
	return pw, nil
}

func usersCreateCommand(e *env) *cobra.Command {
	var email, name string
	var passwordStdin, verified bool
	cmd := &cobra.Command{
		Use:   "create --email EMAIL --password-stdin",
		Short: "Create a user with a password read from standard input",
		Example: `  printf '%s\n' "$PASSWORD" | gatehouse users create --email ada@example.com --password-stdin --name "Ada Lovelace"
  gatehouse users create --email ops@example.com --password-stdin --email-verified -o json < password.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			if email == "" || !passwordStdin {
				return &exitError{code: 2, err: errors.New("give --email and --password-stdin (with the password on standard input)")}
			}
			pw, err := readPassword(e.stdin)
			if err != nil {
				return err
			}
			// Check the input before touching the database.
			if err := identity.ValidateEmail(email); err != nil {
				return userError(fmt.Errorf("--email %q: %w", email, err))
			}
			if err := identity.ValidatePassword(pw); err != nil {
				return userError(err)
			}
			ue, done, err := e.userService(cmd)
			if err != nil {
				return err
			}
			defer done()
			u, err := ue.svc.CreateUser(cmd.Context(), identity.SignUpInput{Email: email, Password: pw, Name: name}, verified)
			if err != nil {
				return userError(err)
			}
			return printUser(e, format, u)
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "e-mail address (required)")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input (required)")
	cmd.Flags().BoolVar(&verified, "email-verified", false, "mark the e-mail address verified")
	cmd.Flags().StringVar(&name, "name", "", "full name")
	return cmd
}

func printUser(e *env, format string, u storage.User) error {
	v := identity.ViewOf(u)
	if format == "json" {
		return writeJSON(e.stdout, v)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, orDash(v)) }
	row("ID", v.ID)
	row("EMAIL", v.Email)
	row("EMAIL VERIFIED", fmt.Sprint(v.EmailVerified))
	row("NAME", v.Name)
	row("GIVEN NAME", v.GivenName)
	row("FAMILY NAME", v.FamilyName)
	row("PICTURE", v.Picture)
	row("LOCALE", v.Locale)
	password := "not set"
	if v.HasPassword {
		password = "set"
	}
	row("PASSWORD", password)
	row("DISABLED", fmt.Sprint(v.Disabled))
	row("CREATED", v.CreatedAt.Format(time.RFC3339))
	row("UPDATED", v.UpdatedAt.Format(time.RFC3339))
	return tw.Flush()
}

func usersListCommand(e *env) *cobra.Command {
	var o identity.ListOptions
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List users, one page at a time, in e-mail order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			if o.Limit < 1 || o.Limit > identity.MaxPageSize {
				return &exitError{code: 2, err: fmt.Errorf("--limit: want 1 to %d, got %d", identity.MaxPageSize, o.Limit)}
			}
			ue, done, err := e.userService(cmd)
			if err != nil {
				return err
			}
			defer done()
			users, err := ue.svc.ListUsers(cmd.Context(), o)
			if err != nil {
				return err
			}
			page := struct {
				Users []identity.View `json:"users"`
				Next  string          `json:"next,omitempty"`
			}{Users: []identity.View{}, Next: users.Next}
			for _, u := range users.Users {
				page.Users = append(page.Users, identity.ViewOf(u))
			}
			if format == "json" {
				return writeJSON(e.stdout, page)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tEMAIL\tVERIFIED\tNAME\tDISABLED\tCREATED")
			for _, u := range page.Users {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%v\t%s\n", u.ID, u.Email, u.EmailVerified, orDash(u.Name), u.Disabled, u.CreatedAt.Format(time.RFC3339))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if page.Next != "" {
				fmt.Fprintf(e.stderr, "more users: gatehouse users list --page-token %s\n", page.Next)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&o.EmailPrefix, "email-prefix", "", "only users whose e-mail starts with this (any case)")
	cmd.Flags().IntVar(&o.Limit, "limit", identity.DefaultPageSize, fmt.Sprintf("users per page (at most %d)", identity.MaxPageSize))
	cmd.Flags().StringVar(&o.After, "page-token", "", "continue after this e-mail (printed at the end of the previous page)")
	return cmd
}

func usersGetCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "get ID|EMAIL",
		Short: "Show one user",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			ue, done, err := e.userService(cmd)
			if err != nil {
				return err
			}
			defer done()
			u, err := ue.svc.FindUser(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printUser(e, format, u)
		},
	}
}

func usersUpdateCommand(e *env) *cobra.Command {
	var email string
	var verified bool
	cmd := &cobra.Command{
		Use:   "update ID|EMAIL",
		Short: "Change the fields named by flags; the others keep their values",
		Long: `Change the fields named by flags; the others keep their values. A new e-mail
address is unverified unless --email-verified is given too; verification links
mailed to the old address stop working.`,
		Example: `  gatehouse users update ada@example.com --name "Ada King" --locale en-GB
  gatehouse users update 3f2c… --email ada@example.org --email-verified`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			f := cmd.Flags()
			profile := f.Changed("name") || f.Changed("given-name") || f.Changed("family-name") || f.Changed("picture") || f.Changed("locale")
			if !profile && !f.Changed("email") && !f.Changed("email-verified") {
				return &exitError{code: 2, err: errors.New("nothing to change: give at least one flag (see gatehouse users update --help)")}
			}
			if f.Changed("email") {
				if err := identity.ValidateEmail(email); err != nil {
					return userError(fmt.Errorf("--email %q: %w", email, err))
				}
			}
			ue, done, err := e.userService(cmd)
			if err != nil {
				return err
			}
			defer done()
			ctx := cmd.Context()
			u, err := ue.svc.FindUser(ctx, args[0])
			if err != nil {
				return err
			}
			var ch identity.UserChanges
			for name, dst := range map[string]**string{
				"name": &ch.Name, "given-name": &ch.GivenName, "family-name": &ch.FamilyName,
				"picture": &ch.Picture, "locale": &ch.Locale, "email": &ch.Email,
			} {
				// Each flag's value, read by name, so every field is handled alike.
				if f.Changed(name) {
					v, _ := f.GetString(name)
					*dst = &v
				}
			}
			if f.Changed("email-verified") {
				ch.EmailVerified = &verified
			}
			u, err = ue.svc.UpdateUser(ctx, u.ID, ch)
			if errors.Is(err, identity.ErrEmailTaken) {
				return fmt.Errorf("--email %s: %w", email, identity.ErrEmailTaken)
			}
			if err != nil {
				return userError(err)
			}
			return printUser(e, format, u)
		},
	}
	cmd.Flags().String("name", "", "full name")
	cmd.Flags().String("given-name", "", "given name")
	cmd.Flags().String("family-name", "", "family name")
	cmd.Flags().String("picture", "", "URL of a profile picture (https://…)")
	cmd.Flags().String("locale", "", "BCP 47 language tag, such as en or pt-BR")
	cmd.Flags().StringVar(&email, "email", "", "new e-mail address")
	cmd.Flags().BoolVar(&verified, "email-verified", false, "mark the e-mail address verified (or, with =false, unverified)")
	return cmd
}

func usersSetPasswordCommand(e *env) *cobra.Command {
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:     "set-password ID|EMAIL --password-stdin",
		Short:   "Set a user's password, read from standard input, and lift any sign-in lock",
		Example: `  printf '%s\n' "$PASSWORD" | gatehouse users set-password ada@example.com --password-stdin`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			if !passwordStdin {
				return &exitError{code: 2, err: errors.New("give --password-stdin (with the password on standard input)")}
			}
			pw, err := readPassword(e.stdin)
			if err != nil {
				return err
			}
			if err := identity.ValidatePassword(pw); err != nil {
				return userError(err)
			}
			ue, done, err := e.userService(cmd)
			if err != nil {
				return err
			}
			defer done()
			u, err := ue.svc.FindUser(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := ue.svc.SetPassword(cmd.Context(), u.ID, pw); err != nil {
				return userError(err)
			}
			if format == "json" {
				return writeJSON(e.stdout, map[string]any{"id": u.ID, "email": u.Email, "password_set": true})
			}
			fmt.Fprintf(e.stdout, "password set for user %s (%s)\n", u.ID, u.Email)
			return nil
		},
	}
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input (required)")
	return cmd
}

// usersDisableCommand builds disable (disable=true) or enable. Disabling also
// ends the user's browser sessions and revokes the user's tokens, in one
// transaction, so that access stops now rather than when tokens expire.
func usersDisableCommand(e *env, disable bool) *cobra.Command {
	use, short := "enable ID|EMAIL", "Let a disabled user sign in again"
	if disable {
		use, short = "disable ID|EMAIL", "Refuse a user's sign-ins, end their sessions and revoke their tokens"
	}
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			ue, done, err := e.userService(cmd)
			if err != nil {
				return err
			}
			defer done()
			ctx := cmd.Context()
			u, err := ue.svc.FindUser(ctx, args[0])
			if err != nil {
				return err
			}
			d, err := ue.svc.SetDisabled(ctx, u.ID, disable)
			if err != nil {
				return err
			}
			u = d.User
			if format == "json" {
				return printUser(e, format, u)
			}
			if disable {
				fmt.Fprintf(e.stdout, "disabled user %s (%s): ended %d session(s), revoked %d refresh and %d access token(s)\n",
					u.ID, u.Email, d.Sessions, d.Revoked.RefreshTokens, d.Revoked.AccessTokens)
			} else {
				fmt.Fprintf(e.stdout, "enabled user %s (%s)\n", u.ID, u.Email)
			}
			return nil
		},
	}
}

func usersDeleteCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID|EMAIL",
		Short: "Delete a user, their sessions and application links, and revoke their tokens",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			ue, done, err := e.userService(cmd)
			if err != nil {
				return err
			}
			defer done()
			ctx := cmd.Context()
			u, err := ue.svc.FindUser(ctx, args[0])
			if err != nil {
				return err
			}
			if err := ue.svc.DeleteUser(ctx, u.ID); err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(e.stdout, map[string]any{"id": u.ID, "email": u.Email, "deleted": true})
			}
			fmt.Fprintf(e.stdout, "deleted user %s (%s)\n", u.ID, u.Email)
			return nil
		},
	}
}

// usersMFACommand groups the second-factor commands of a user.
func usersMFACommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "mfa",
		Short: "Manage a user's second factors (authenticator apps, passkeys, recovery codes)",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "reset ID|EMAIL",
		Short: "Remove every second factor, passkey and recovery code of a user who lost them",
		Long: `Remove every second factor (authenticator apps), passkey and recovery code of a
user, for someone who lost their phone or key and has no recovery code left. The
password still signs in; under a required MFA policy the user sets up a new factor
right after it. Check who is asking before you run this.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			format, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			ue, done, err := e.userService(cmd)
			if err != nil {
				return err
			}
			defer done()
			ctx := cmd.Context()
			u, err := ue.svc.FindUser(ctx, args[0])
			if err != nil {
				return err
			}
			// The user is told, as after a reset through the admin API: the
			// mail goes into the outbox, which the server sends.
			notify, err := mailingIdentity(ue.cfg, ue.store, ue.log)
			if err != nil {
				return err
			}
			factors, err := mfa.New(mfa.Options{Store: ue.store, Notifier: notify})
			if err != nil {
				return err
			}
			n, err := factors.Reset(ctx, u.ID)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(e.stdout, map[string]any{"id": u.ID, "email": u.Email, "factors_removed": n})
			}
			fmt.Fprintf(e.stdout, "removed %d second factor(s) and the recovery codes of %s (%s)\n", n, u.ID, u.Email)
			return nil
		},
	})
	return cmd
}
