package storage

import (
	"context"
	"fmt"
	"time"
)

// sweptTables are the protocol tables whose rows die at expires_at.
var sweptTables = []string{authorizeCodeTable, accessTokenTable, refreshTokenTable, pkceRequestTable, oidcRequestTable, parRequestTable, jtiTable}

// SweepOptions pace DeleteExpired.
type SweepOptions struct {
	// Batch bounds the rows one DELETE removes (and so the locks it holds and
	// the size of its transaction); zero means 1000.
	Batch int
	// Pause is how long to wait after each full batch before the next one, so
	// that a long sweep leaves the database's CPU, disk and WAL to requests in
	// between; zero means none.
	Pause time.Duration
	// BatchTimeout bounds one DELETE; zero means a minute. It replaces
	// Options.WaitTimeout, which is meant for requests: the first batch after a
	// big sweep may have to visit every row deleted since the last VACUUM.
	BatchTimeout time.Duration
	// Sleep waits for d or until ctx ends; nil means a timer. Tests count pauses
	// with it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DeleteExpired removes every code, token, PKCE, OIDC and PAR request, client
// assertion jti and browser session expired at now, and returns how many rows it
// removed. Each DELETE removes at most o.Batch rows, found through the table's
// expires_at index, in its own short transaction, so that no statement holds
// locks for long or keeps a long transaction open on a busy database; it goes
// on, pausing o.Pause after each full batch, until a batch comes back short.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, o SweepOptions) (int64, error) {
	if o.Batch <= 0 {
		o.Batch = 1000
	}
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = time.Minute
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	batch := o.Batch
	now = now.UTC()
	var total int64
	// next pauses between full batches and reports whether to go on.
	next := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if o.Pause > 0 {
			return o.Sleep(ctx, o.Pause)
		}
		return nil
	}
	for _, table := range sweptTables {
		// Each batch starts where the last one ended (the latest expiry it
		// deleted), not at the start of the expires_at index: the index entries
		// of rows deleted earlier stay until VACUUM, and over a backlog of
		// millions each batch would read all of them again (measured on 3.7
		// million expired access tokens: a batch of 1,000 went from 40 ms to
		// over 5 s).
		after := time.Time{}
		q := "DELETE FROM " + table + " WHERE signature IN (SELECT signature FROM " + table +
			" WHERE expires_at >= " + s.param(1) + " AND expires_at < " + s.param(2) + " ORDER BY expires_at LIMIT " + s.param(3) + ") RETURNING expires_at"
		for {
			var n int64
			var last time.Time
			bctx, cancel := context.WithTimeout(ctx, o.BatchTimeout)
			err := s.bulk(bctx, func(ctx context.Context) error {
				n, last = 0, time.Time{}
				rows, err := s.sqlConn(ctx).QueryContext(ctx, q, after, now, batch)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var exp time.Time
					if err := rows.Scan(&exp); err != nil {
						return err
					}
					n++
					if exp.After(last) {
						last = exp
					}
				}
				return rows.Err()
			})
			cancel()
			if err != nil {
				return total, fmt.Errorf("delete expired %s: %w", table, translate(err))
			}
			total += n
			if n < int64(batch) {
				break
			}
			// Rows that expire at last and were not in this batch are found
			// again by >=.
			after = last
			if err := next(); err != nil {
				return total, err
			}
		}
	}
	for {
		n, err := s.DeleteExpiredSessions(ctx, now, batch)
		total += n
		if err != nil {
			return total, err
		}
		if n < int64(batch) {
			break
		}
		if err := next(); err != nil {
			return total, err
		}
	}
	return total, nil
}
