package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Readiness is the outcome of the readiness checks, for /readyz.
type Readiness struct {
	Ready bool `json:"ready"`
	// Checks maps each check ("database", "schema") to "ok" or what is wrong.
	Checks map[string]string `json:"checks"`
}

// recentWindow is how long readiness remembers requests that waited past the
// wait timeout (a saturated pool), and a write refusal no write has followed.
// A refusal is forgotten at once when a write succeeds; the window lets an
// instance that its readiness took out of a load balancer's rotation, and that
// so gets no writes to try, come back and try again.
const recentWindow = 30 * time.Second

// CheckReady reports whether the store can serve requests now, and if not, why,
// in words: a database that does not answer, a saturated pool (every
// connection in use, or the database or its pooler giving none, while requests
// failed with ErrBusy), a database that refuses writes (a read-only
// transaction setting or hot standby, or a recent refused write such as a full
// disk), or pending migrations. It waits at most the wait timeout.
func (s *Store) CheckReady(ctx context.Context) Readiness {
	r := Readiness{Ready: false, Checks: map[string]string{"schema": "unknown"}}
	if words := s.poolSaturated(); words != "" {
		r.Checks["database"] = words
		return r
	}
	probeCtx, cancel := s.bounded(ctx)
	refuses, err := s.probe(probeCtx)
	// Out of time, by the wait timeout or by the caller's own deadline.
	timedOut := probeCtx.Err() != nil || errors.Is(err, context.DeadlineExceeded)
	cancel()
	switch {
	case err != nil && timedOut && s.recentlyBusy():
		r.Checks["database"] = "saturated: the database (or its pooler) gave no connection or answer within the wait timeout, and requests failed for it in the last " + recentWindow.String() + "; they are answered 503 until it catches up"
		return r
	case err != nil:
		s.setState("waiting for database")
		r.Checks["database"] = "waiting for database: " + ExplainError(err).Cause
		return r
	case refuses != "":
		r.Checks["database"] = "refuses writes: " + refuses
	default:
		if ref := s.refusal.Load(); ref != nil && s.now().Sub(ref.at) < recentWindow {
			r.Checks["database"] = fmt.Sprintf("refuses writes: %s (last refused at %s; ready again once a write succeeds)", ref.words, ref.at.UTC().Format(time.RFC3339))
		} else {
			r.Checks["database"] = "ok"
		}
	}
	pending, err := s.PendingMigrations(ctx)
	switch {
	case err != nil:
		r.Checks["schema"] = "cannot read migration state: " + ExplainError(err).Cause
	case len(pending) > 0:
		v := make([]string, len(pending))
		for i, p := range pending {
			v[i] = fmt.Sprint(p)
		}
		r.Checks["schema"] = "migrations pending: " + strings.Join(v, ", ") + " (run: gatehouse migrate up)"
	default:
		r.Checks["schema"] = "ok"
	}
	r.Ready = r.Checks["database"] == "ok" && r.Checks["schema"] == "ok"
	return r
}

// poolSaturated names a saturated pool: every connection is in use and
// requests failed with ErrBusy recently. Then readiness does not wait for a
// connection itself.
func (s *Store) poolSaturated() string {
	st := s.sqlDB.Stats()
	if st.MaxOpenConnections == 0 || st.InUse < st.MaxOpenConnections || !s.recentlyBusy() {
		return ""
	}
	return fmt.Sprintf("saturated: all %d connections are in use and requests waited past the wait timeout for one in the last %s; they are answered 503 until load drops",
		st.MaxOpenConnections, recentWindow)
}

// recentlyBusy reports whether an operation failed with ErrBusy within
// recentWindow.
func (s *Store) recentlyBusy() bool {
	at := s.lastBusy.Load()
	return at != 0 && s.now().Sub(time.Unix(0, at)) < recentWindow
}

// probe asks the database, in one round trip, whether it takes writes. It
// returns why not in words, or "".
func (s *Store) probe(ctx context.Context) (string, error) {
	switch s.dialect {
	case Postgres:
		var recovery bool
		var readOnly string
		// A hot standby is in recovery; default_transaction_read_only (set on
		// the server, the database or the role) makes every transaction
		// read-only.
		err := s.sqlDB.QueryRowContext(ctx, "SELECT pg_is_in_recovery(), current_setting('transaction_read_only')").Scan(&recovery, &readOnly)
		switch {
		case err != nil:
			return "", err
		case recovery:
			return "the server is a read-only standby (in recovery)", nil
		case readOnly == "on":
			return "transactions are read-only (default_transaction_read_only is on)", nil
		}
		return "", nil
	default:
		var queryOnly int
		if err := s.sqlDB.QueryRowContext(ctx, "PRAGMA query_only").Scan(&queryOnly); err != nil {
			return "", err
		}
		if queryOnly != 0 {
			return "the SQLite connection is query_only", nil
		}
		return "", nil
	}
}
