package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/outbox"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/spf13/cobra"
)

func janitorCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "janitor",
		Short: "Delete expired codes, tokens, sessions, old mail and unpublished keys once",
		Long: `Delete expired authorization codes, tokens, PKCE/OIDC/PAR requests, client
assertion IDs, browser sessions, outbox mail sent more than a day ago or given up
more than a week ago, and signing keys that have left the JWKS, in bounded batches.
serve does the same in the background every janitor.interval, when the database
was used since its last run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			store, c, err := e.openReadyStore(cmd)
			if err != nil {
				return err
			}
			defer store.Close()
			km := keys.New(store, keys.Options{RefreshInterval: c.Keys.RefreshInterval, MaxTokenLifetime: oauthConfig(c).MaxTokenLifetime()})
			n, pruned, err := sweep(cmd.Context(), store, km, c.Janitor)
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

// sweepTimeout bounds one background sweep; what it leaves, the next one deletes.
const sweepTimeout = 5 * time.Minute

// sweep deletes what has expired (outbox mail past its retention included) and
// the signing keys that have left the JWKS.
func sweep(ctx context.Context, store *storage.Store, km *keys.Manager, c config.Janitor) (records, prunedKeys int64, err error) {
	now := time.Now()
	batch := c.BatchSize
	if batch <= 0 {
		batch = 1000
	}
	records, err = store.DeleteExpired(ctx, now, storage.SweepOptions{Batch: batch, Pause: c.BatchPause})
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
			if err := pause(ctx, c.BatchPause); err != nil {
				return records, 0, err
			}
		}
	}
	mail, err := outbox.Purge(ctx, store, now, batch)
	records += mail
	if err != nil {
		return records, 0, fmt.Errorf("delete old mail: %w", err)
	}
	prunedKeys, err = km.Prune(ctx)
	if err != nil {
		return records, prunedKeys, fmt.Errorf("prune signing keys: %w", err)
	}
	return records, prunedKeys, nil
}

// pause waits d between two full batches, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// runJanitor sweeps every interval until ctx ends, but only when the database
// was used (for anything but housekeeping) since the last sweep: expired rows
// come from use, and an idle instance must not keep its database awake. Each
// sweep runs as housekeeping within sweepTimeout. Every instance runs it; the
// batched deletes make overlapping sweeps harmless.
//
// seen is store.Activity() read before the goroutine starts, so that a request
// served before the goroutine first runs still counts as use.
func runJanitor(ctx context.Context, log *slog.Logger, store *storage.Store, km *keys.Manager, c config.Janitor, seen uint64) {
	t := time.NewTicker(c.Interval)
	defer t.Stop()
	ctx = storage.Housekeeping(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a := store.Activity()
		if a == seen {
			log.DebugContext(ctx, "janitor skipped: the database was not used since the last sweep")
			continue
		}
		seen = a
		sctx, cancel := context.WithTimeout(ctx, sweepTimeout)
		n, pruned, err := sweep(sctx, store, km, c)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				log.WarnContext(ctx, "janitor", "error", err.Error())
			}
			continue
		}
		level := slog.LevelDebug
		if n > 0 || pruned > 0 {
			level = slog.LevelInfo
		}
		log.Log(ctx, level, "janitor swept", "records", n, "signing_keys", pruned)
	}
}
