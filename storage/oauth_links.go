package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// NoteAuthorization is RecordAuthorization without reading the link back, for
// the authorize endpoint, which refreshes the link of a returning user with
// every code it issues. Inside a PostgreSQL transaction (InTx) the write is
// queued and leaves with the commit, in the same batch as the code's records,
// so it costs no round trip of its own; it then commits or fails with them.
func (s *Store) NoteAuthorization(ctx context.Context, userID, clientID, scopes string, remember bool, now time.Time) error {
	t := pgTxOf(ctx)
	if t == nil {
		if err := s.upsertAccount(ctx, userID, clientID, scopes, remember, now); err != nil {
			return fmt.Errorf("note authorization of %s for user %s: %w", clientID, userID, translate(err))
		}
		return nil
	}
	now = now.UTC()
	s.used(ctx)
	return s.write(ctx, func(context.Context) error {
		t.queue(pgOp{sql: upsertAccountSQL, args: []any{uuid.NewString(), userID, clientID, scopes, remember, now}})
		return nil
	})
}

// upsertAccountSQL is upsertAccount's statement on PostgreSQL, written out so
// that it can be queued in a pipelined transaction.
const upsertAccountSQL = `INSERT INTO accounts (id, user_id, client_id, granted_scopes, consent_remembered,
	first_authorized_at, last_authorized_at, revoked_at, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $6, NULL, $6, $6)
ON CONFLICT (user_id, client_id) DO UPDATE SET granted_scopes = EXCLUDED.granted_scopes,
	consent_remembered = EXCLUDED.consent_remembered, last_authorized_at = EXCLUDED.last_authorized_at,
	updated_at = EXCLUDED.updated_at, revoked_at = NULL`
