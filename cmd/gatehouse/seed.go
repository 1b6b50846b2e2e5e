package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/bench"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/spf13/cobra"
)

func seedCommand(e *env) *cobra.Command {
	var (
		o     bench.SeedOptions
		reset bool
	)
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Fill the configured database with generated clients, users and tokens",
		Long: `Fill the configured database with generated clients, users and stored tokens,
to measure a big deployment: three in five tokens are client_credentials access
tokens, one in five a user's access token and one in five its refresh token;
--expired-fraction of them have expired, for the janitor to delete. Every user
has the same (argon2id) password hash, every client the same secret hash. On
PostgreSQL the rows go in with COPY, and the token tables' indexes and
constraints are dropped for the load and built again at its end (once over
all the rows instead of row by row); SQLite takes multi-row INSERTs.
A database that already has tokens, users or clients is refused unless --reset
is given, which first deletes every token, user and client (with their codes,
sessions and accounts). Seed only databases made for load tests.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Tokens < 0 || o.Users < 0 || o.Clients < 0 {
				return &exitError{code: 2, err: fmt.Errorf("--tokens, --users and --clients must not be negative")}
			}
			if o.ExpiredFraction < 0 || o.ExpiredFraction > 1 {
				return &exitError{code: 2, err: fmt.Errorf("--expired-fraction: want a number from 0 to 1, got %v", o.ExpiredFraction)}
			}
			if o.Tokens > 0 && (o.Users == 0 || o.Clients == 0) {
				return &exitError{code: 2, err: fmt.Errorf("--tokens needs --users and --clients of at least 1: tokens belong to them")}
			}
			store, c, err := e.openReadyStore(cmd)
			if err != nil {
				return err
			}
			defer store.Close()
			ctx := cmd.Context()
			counts, err := store.SeededCounts(ctx)
			if err != nil {
				return err
			}
			if n := counts["access_tokens"] + counts["refresh_tokens"] + counts["users"] + counts["clients"]; n > 0 {
				if !reset {
					return &exitError{code: 1, err: fmt.Errorf("the database is not empty (%d access tokens, %d refresh tokens, %d users, %d clients): "+
						"give --reset to delete every token, user and client first, or seed a new database",
						counts["access_tokens"], counts["refresh_tokens"], counts["users"], counts["clients"])}
				}
				fmt.Fprintln(e.stderr, "deleting every token, user and client (--reset)")
				if err := store.ResetSeeded(ctx); err != nil {
					return err
				}
			}
			if store.Sealer() == nil {
				return fmt.Errorf("no system secret configured: stored tokens are encrypted with it")
			}
			// One real hash of a random password: nobody can sign in as a
			// seeded user, but the column holds what a real user's does.
			pw := rand.Text()
			if o.PasswordHash, err = identity.New(store, identity.Options{Now: time.Now, Params: passwordParams(c)}).HashPassword(pw); err != nil {
				return fmt.Errorf("hash the seeded users' password: %w", err)
			}
			o.SecretHash = store.Sealer().HashClientSecret([]byte(rand.Text()))
			o.Issuer = c.Issuer
			o.Progress = e.stderr
			started := time.Now()
			restore, err := store.DeferTokenIndexes(ctx)
			if err != nil {
				return err
			}
			err = bench.Seed(ctx, store, o)
			loaded := time.Now()
			fmt.Fprintln(e.stderr, "building the token tables' indexes and constraints")
			if rerr := restore(context.WithoutCancel(ctx)); rerr != nil {
				return errors.Join(err, rerr)
			}
			if err != nil {
				return err
			}
			took := time.Since(started)
			fmt.Fprintf(e.stderr, "rows loaded in %s, indexes built in %s\n", loaded.Sub(started).Round(100*time.Millisecond), time.Since(loaded).Round(100*time.Millisecond))
			if err := store.Analyze(ctx); err != nil {
				return err
			}
			counts, err = store.SeededCounts(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "seeded %d clients, %d users, %d access tokens and %d refresh tokens in %s\n",
				counts["clients"], counts["users"], counts["access_tokens"], counts["refresh_tokens"], took.Round(100*time.Millisecond))
			sizes, err := store.RelationSizes(ctx)
			if err != nil {
				return nil // SQLite: no sizes to report
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "table\trows\ttable MB\tindexes MB\ttotal MB\t")
			for _, s := range sizes {
				fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t%.1f\t\n", s.Table, s.Rows, mb(s.TableBytes), mb(s.IndexBytes), mb(s.TableBytes+s.IndexBytes))
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Tokens, "tokens", 10_000_000, "stored tokens to generate")
	f.IntVar(&o.Users, "users", 1_000_000, "users to generate")
	f.IntVar(&o.Clients, "clients", 100_000, "clients to generate")
	f.Float64Var(&o.ExpiredFraction, "expired-fraction", 0.9, "fraction of the tokens that have expired (0 to 1)")
	f.BoolVar(&reset, "reset", false, "delete every token, user and client first")
	f.String("data-dir", config.Default().DataDir, "directory of the embedded SQLite database")
	return cmd
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }
