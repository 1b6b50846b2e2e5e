package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// retryAttempts bounds how often one operation is retried after a lost connection.
// A Neon suspend or a failover ends every pooled connection at once; after the
// first loss the idle ones are dropped, so the retry gets a fresh one.
const retryAttempts = 3

// IsConnectionLoss reports whether err means the connection (not the statement)
// failed: SQLSTATE class 08, 57P01 (terminated by administrator, what a Neon suspend
// looks like), 57P02/57P03 (crash shutdown, cannot connect now), 57P05 (idle
// session timeout), 53300 (too many connections), or a network error.
func IsConnectionLoss(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		c := pgErr.Code
		return strings.HasPrefix(c, "08") || c == "57P01" || c == "57P02" || c == "57P03" || c == "57P05" || c == "53300"
	}
	var netErr net.Error
	return errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.As(err, &netErr) ||
		pgconn.SafeToRetry(err) ||
		strings.Contains(err.Error(), "conn closed")
}

// safeToRepeat reports whether a failed write can be sent again: the server never
// ran it, because the connection was known dead before the statement was sent, or
// the server answered with a shutdown or refusal before executing anything.
func safeToRepeat(err error) bool {
	if pgconn.SafeToRetry(err) || errors.Is(err, driver.ErrBadConn) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", "57P05", "53300":
			return true
		}
	}
	return false
}

// withRetry runs op, and runs it again after a lost connection: always when
// idempotent, and for writes only when the server cannot have executed it. Inside a
// transaction nothing is retried; the transaction's owner decides. Outside one, op
// gets a context bounded by the wait timeout, for all its attempts together.
func (s *Store) withRetry(ctx context.Context, idempotent bool, op func(ctx context.Context) error) error {
	if st, ok := txOf(ctx); ok {
		err := op(ctx)
		if err == nil && !idempotent {
			st.written()
		}
		s.noteRefusal(err)
		return err
	}
	opCtx, cancel := s.bounded(ctx)
	defer cancel()
	var err error
	for attempt := 0; attempt < retryAttempts; attempt++ {
		err = op(opCtx)
		if err == nil {
			if !idempotent {
				s.writeSucceeded()
			}
			return nil
		}
		s.noteRefusal(err)
		if opCtx.Err() != nil || !IsConnectionLoss(err) {
			return s.busyIf(ctx, opCtx, err)
		}
		if !idempotent && !safeToRepeat(err) {
			return err
		}
		s.log.DebugContext(ctx, "database connection lost, retrying", "attempt", attempt+1, "error", err.Error())
		s.dropIdle()
	}
	return err
}

// ErrBusy means the database gave no connection, or no answer, within the wait
// timeout (Options.WaitTimeout): the pool is saturated, a pooler's queue is full
// or the server is too slow. The request should fail fast and be retried later.
var ErrBusy = errors.New("database busy: no connection or answer within the wait timeout")

// busyIf marks err as ErrBusy when the store's own deadline (on bounded) ended
// the operation, rather than the caller's ctx.
func (s *Store) busyIf(ctx, bounded context.Context, err error) error {
	if err != nil && bounded.Err() != nil && ctx.Err() == nil {
		s.lastBusy.Store(s.now().UnixNano())
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return err
}

// noteRefusal remembers err when it is a write the database refused, for
// readiness.
func (s *Store) noteRefusal(err error) {
	if IsWriteRefused(err) {
		s.refusal.Store(&writeRefusal{at: s.now(), words: refusalWords(err)})
	}
}

// writeSucceeded forgets a remembered write refusal: the database takes writes.
func (s *Store) writeSucceeded() {
	if s.refusal.Load() != nil {
		s.refusal.Store(nil)
	}
}

// dropIdle closes the pool's idle connections. A lost connection usually means
// the server ended all of them (a Neon suspend, a failover, a restart), and each
// one (the pool hands them out without a ping; see neverPing) would otherwise
// fail one more attempt before the pool noticed.
func (s *Store) dropIdle() {
	s.sqlDB.SetMaxIdleConns(0)
	s.sqlDB.SetMaxIdleConns(s.maxIdle)
}

// read runs an idempotent read with retry on connection loss.
func (s *Store) read(ctx context.Context, op func(ctx context.Context) error) error {
	return s.withRetry(ctx, true, op)
}

// write runs a write, retried only when the server cannot have executed it.
func (s *Store) write(ctx context.Context, op func(ctx context.Context) error) error {
	return s.withRetry(ctx, false, op)
}

// WaitReady pings the database until it answers, with exponential backoff and
// jitter, for bound (a Neon compute waking from zero takes a few seconds): the
// whole budget, with its last attempt at the deadline. It returns the last
// error when the bound has passed.
func (s *Store) WaitReady(ctx context.Context, bound time.Duration) error {
	return retryUntil(ctx, bound, time.Now, sleepCtx, s.Ping, func(attempt int, wait time.Duration, err error) {
		s.setState("waiting for database")
		s.log.WarnContext(ctx, "waiting for database", "attempt", attempt, "retry_in", wait.String(), "error", err.Error())
	})
}

// retryUntil calls attempt until it succeeds or bound has passed, with
// exponential backoff and full jitter, the last attempt at the deadline, and
// returns the last error wrapped.
// now and wait are the clock (time.Now and sleepCtx but in tests); onRetry hears
// of every failure that will be retried.
func retryUntil(ctx context.Context, bound time.Duration, now func() time.Time, wait func(context.Context, time.Duration) error,
	attempt func(context.Context) error, onRetry func(attempt int, wait time.Duration, err error)) error {
	deadline := now().Add(bound)
	delay := 100 * time.Millisecond
	for n := 1; ; n++ {
		err := attempt(ctx)
		if err == nil {
			return nil
		}
		left := deadline.Sub(now())
		if left <= 0 || ctx.Err() != nil {
			return fmt.Errorf("database did not answer within %s: %w", bound, err)
		}
		// Full jitter: several instances starting together do not knock in step.
		// The budget is the setting: a wait never passes the deadline, and the
		// last attempt is made at it.
		sleep := min(delay/2+rand.N(delay/2+1), left)
		onRetry(n, sleep, err)
		if err := wait(ctx, sleep); err != nil {
			return err
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// sleepCtx waits for d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
