package storage

import (
	"context"
	"fmt"
	"time"
)

// sweptTables are the protocol tables whose rows die at expires_at.
var sweptTables = []string{authorizeCodeTable, accessTokenTable, refreshTokenTable, pkceRequestTable, oidcRequestTable, parRequestTable, jtiTable}

// DeleteExpired removes every code, token, PKCE, OIDC and PAR request, client
// assertion jti and browser session expired at now, and returns how many rows it
// removed. It deletes at most batch rows per statement, so that no statement holds
// locks for long on a busy database, and goes on until a batch comes back short.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time, batch int) (int64, error) {
	if batch <= 0 {
		batch = 1000
	}
	now = now.UTC()
	var total int64
	for _, table := range sweptTables {
		for {
			var n int64
			err := s.write(ctx, func(ctx context.Context) error {
				res := s.conn(ctx).Exec("DELETE FROM "+table+" WHERE signature IN (SELECT signature FROM "+table+" WHERE expires_at < ? LIMIT ?)", now, batch)
				n = res.RowsAffected
				return res.Error
			})
			if err != nil {
				return total, fmt.Errorf("delete expired %s: %w", table, translate(err))
			}
			total += n
			if n < int64(batch) {
				break
			}
			if err := ctx.Err(); err != nil {
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
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
	return total, nil
}
