package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/spf13/cobra"
)

func janitorCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "janitor",
		Short: "Delete expired codes, tokens, sessions and unpublished keys once",
		Long: `Delete expired authorization codes, tokens, PKCE/OIDC/PAR requests, client
assertion IDs, browser sessions and signing keys that have left the JWKS, in bounded
batches. serve does the same in the background every janitor.interval.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, c, err := e.openReadyStore(cmd)
			if err != nil {
				return err
			}
			defer store.Close()
			km := keys.New(store, keys.Options{RefreshInterval: c.Keys.RefreshInterval, MaxTokenLifetime: oauthConfig(c).MaxTokenLifetime()})
			n, pruned, err := sweep(cmd.Context(), store, km, c.Janitor.BatchSize)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "deleted %d expired records and %d unpublished signing keys\n", n, pruned)
			return nil
		},
	}
	cmd.Flags().String("data-dir", config.Default().DataDir, "directory of the embedded SQLite database")
	return cmd
}

func sweep(ctx context.Context, store *storage.Store, km *keys.Manager, batch int) (records, prunedKeys int64, err error) {
	now := time.Now()
	records, err = store.DeleteExpired(ctx, now, batch)
	if err != nil {
		return records, 0, fmt.Errorf("delete expired records: %w", err)
	}
	for _, del := range []func() (int64, error){
		func() (int64, error) { return store.DeleteExpiredUserTokens(ctx, now, batch) },
		// Throttle rows outlive their window by a day, so a lockout is never cut short.
		func() (int64, error) { return store.DeleteExpiredSignInThrottles(ctx, now, 24*time.Hour, batch) },
	} {
		for {
			n, err := del()
			records += n
			if err != nil {
				return records, 0, fmt.Errorf("delete expired records: %w", err)
			}
			if n < int64(batch) {
				break
			}
		}
	}
	prunedKeys, err = km.Prune(ctx)
	if err != nil {
		return records, prunedKeys, fmt.Errorf("prune signing keys: %w", err)
	}
	return records, prunedKeys, nil
}

// runJanitor sweeps every interval until ctx ends. Every instance runs it; the
// batched deletes make overlapping sweeps harmless.
func runJanitor(ctx context.Context, log *slog.Logger, store *storage.Store, km *keys.Manager, c config.Janitor) {
	t := time.NewTicker(c.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, pruned, err := sweep(ctx, store, km, c.BatchSize)
		if err != nil {
			log.WarnContext(ctx, "janitor", "error", err.Error())
			continue
		}
		if n > 0 || pruned > 0 {
			log.InfoContext(ctx, "janitor swept", "records", n, "signing_keys", pruned)
		}
	}
}
