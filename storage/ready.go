package storage

import (
	"context"
	"fmt"
	"strings"
)

// Readiness is the outcome of the readiness checks, for /readyz.
type Readiness struct {
	Ready bool `json:"ready"`
	// Checks maps each check ("database", "schema") to "ok" or what is wrong.
	Checks map[string]string `json:"checks"`
}

// CheckReady pings the database and checks that no migration is pending.
func (s *Store) CheckReady(ctx context.Context) Readiness {
	r := Readiness{Ready: true, Checks: map[string]string{}}
	if err := s.Ping(ctx); err != nil {
		s.setState("waiting for database")
		r.Ready = false
		r.Checks["database"] = "waiting for database: " + ExplainError(err).Cause
		r.Checks["schema"] = "unknown"
		return r
	}
	r.Checks["database"] = "ok"
	pending, err := s.PendingMigrations(ctx)
	switch {
	case err != nil:
		r.Ready = false
		r.Checks["schema"] = "cannot read migration state: " + ExplainError(err).Cause
	case len(pending) > 0:
		r.Ready = false
		v := make([]string, len(pending))
		for i, p := range pending {
			v[i] = fmt.Sprint(p)
		}
		r.Checks["schema"] = "migrations pending: " + strings.Join(v, ", ") + " (run: gatehouse migrate up)"
	default:
		r.Checks["schema"] = "ok"
	}
	return r
}
