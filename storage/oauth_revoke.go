package storage

import (
	"context"
	"fmt"
)

// RevokedTokens counts what a revocation removed or deactivated.
type RevokedTokens struct {
	RefreshTokens      int64
	AccessTokens       int64
	AuthorizationCodes int64
}

// RevokeClientTokensForSubject revokes every refresh token, access token and
// unredeemed authorization code that clientID holds for subject, in one
// transaction: what disconnecting an application from an account does.
func (s *Store) RevokeClientTokensForSubject(ctx context.Context, subject, clientID string) (RevokedTokens, error) {
	n, err := s.revokeTokens(ctx, "subject = ? AND client_id = ?", subject, clientID)
	if err != nil {
		return RevokedTokens{}, fmt.Errorf("revoke tokens of client %s for subject: %w", clientID, translate(err))
	}
	return n, nil
}

// RevokeSubjectTokens revokes every refresh token, access token and unredeemed
// authorization code issued for subject, to any client, in one transaction.
func (s *Store) RevokeSubjectTokens(ctx context.Context, subject string) (RevokedTokens, error) {
	n, err := s.revokeTokens(ctx, "subject = ?", subject)
	if err != nil {
		return RevokedTokens{}, fmt.Errorf("revoke tokens of subject: %w", translate(err))
	}
	return n, nil
}

func (s *Store) revokeTokens(ctx context.Context, where string, args ...any) (RevokedTokens, error) {
	var n RevokedTokens
	err := s.InTx(ctx, func(ctx context.Context) error {
		n = RevokedTokens{}
		// Refresh tokens are deactivated, not deleted, so that a revoked one
		// presented again is recognised as reuse (and rotated_at is cleared so
		// no grace period applies).
		res := s.conn(ctx).Table(refreshTokenTable).Where(where, args...).Where("active = ? OR rotated_at IS NOT NULL", true).
			Updates(map[string]any{"active": false, "rotated_at": nil})
		if res.Error != nil {
			return res.Error
		}
		n.RefreshTokens = res.RowsAffected
		res = s.conn(ctx).Exec("DELETE FROM "+accessTokenTable+" WHERE "+where, args...)
		if res.Error != nil {
			return res.Error
		}
		n.AccessTokens = res.RowsAffected
		res = s.conn(ctx).Table(authorizeCodeTable).Where(where, args...).Where("active = ?", true).Update("active", false)
		if res.Error != nil {
			return res.Error
		}
		n.AuthorizationCodes = res.RowsAffected
		return nil
	})
	return n, err
}
