package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"
)

// RecordAuthorization creates or updates the link between the user and the client
// after an authorization: the granted scopes replace the old ones, the remembered
// consent is set, LastAuthorizedAt moves to now and a revoked link is restored.
func (s *Store) RecordAuthorization(ctx context.Context, userID, clientID, scopes string, remember bool, now time.Time) (Account, error) {
	if err := s.upsertAccount(ctx, userID, clientID, scopes, remember, now); err != nil {
		return Account{}, fmt.Errorf("record authorization of %s for user %s: %w", clientID, userID, translate(err))
	}
	return s.GetAccount(ctx, userID, clientID)
}

// upsertAccount is RecordAuthorization's write.
func (s *Store) upsertAccount(ctx context.Context, userID, clientID, scopes string, remember bool, now time.Time) error {
	now = now.UTC()
	a := Account{
		ID: uuid.NewString(), UserID: userID, ClientID: clientID,
		GrantedScopes: scopes, ConsentRemembered: remember,
		FirstAuthorizedAt: now, LastAuthorizedAt: now, CreatedAt: now, UpdatedAt: now,
	}
	return s.write(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "user_id"}, {Name: "client_id"}},
			DoUpdates: clause.Assignments(map[string]any{
				"granted_scopes": scopes, "consent_remembered": remember,
				"last_authorized_at": now, "updated_at": now, "revoked_at": nil,
			}),
		}).Create(&a).Error
	})
}

// GetAccount returns the link between the user and the client, or ErrNotFound.
func (s *Store) GetAccount(ctx context.Context, userID, clientID string) (Account, error) {
	if uuid.Validate(userID) != nil || !validKey(clientID) {
		return Account{}, fmt.Errorf("get account of %s for user %q: %w", clientID, userID, ErrNotFound)
	}
	var a Account
	err := s.read(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Where("user_id = ? AND client_id = ?", userID, clientID).Take(&a).Error
	})
	if err != nil {
		return Account{}, fmt.Errorf("get account of %s for user %s: %w", clientID, userID, translate(err))
	}
	return a, nil
}

// ListAccounts returns the user's links that are not revoked, most recently used
// first.
func (s *Store) ListAccounts(ctx context.Context, userID string) ([]Account, error) {
	var out []Account
	err := s.read(ctx, func(ctx context.Context) error {
		out = out[:0]
		return s.conn(ctx).Where("user_id = ? AND revoked_at IS NULL", userID).Order("last_authorized_at DESC").Find(&out).Error
	})
	if err != nil {
		return nil, fmt.Errorf("list accounts of user %s: %w", userID, translate(err))
	}
	return out, nil
}

// RevokeAccount marks the link revoked and forgets the remembered consent. It
// returns ErrNotFound when there is no live link. Revoking the client's tokens for
// the user is done in the same transaction by the caller once tokens exist.
func (s *Store) RevokeAccount(ctx context.Context, userID, clientID string, now time.Time) error {
	if uuid.Validate(userID) != nil || !validKey(clientID) {
		return fmt.Errorf("revoke account of %s for user %q: %w", clientID, userID, ErrNotFound)
	}
	var rows int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Model(&Account{}).Where("user_id = ? AND client_id = ? AND revoked_at IS NULL", userID, clientID).
			Updates(map[string]any{"revoked_at": now.UTC(), "consent_remembered": false, "granted_scopes": "", "updated_at": now.UTC()})
		rows = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("revoke account of %s for user %s: %w", clientID, userID, translate(err))
	}
	if rows == 0 {
		return fmt.Errorf("revoke account of %s for user %s: %w", clientID, userID, ErrNotFound)
	}
	return nil
}
