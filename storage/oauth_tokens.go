package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/ory/fosite"
	"gorm.io/gorm"
)

// CreateAccessTokenSession implements oauth2.AccessTokenStorage; signature is the
// token's signature, never the token.
func (s *Store) CreateAccessTokenSession(ctx context.Context, signature string, r fosite.Requester) error {
	if err := s.createRequest(ctx, accessTokenTable, signature, r, fosite.AccessToken); err != nil {
		return fmt.Errorf("create access token: %w", translate(err))
	}
	return nil
}

// GetAccessTokenSession implements oauth2.AccessTokenStorage. A revoked access
// token is gone: it gives fosite.ErrNotFound, which fosite's introspection and
// revocation read as inactive.
func (s *Store) GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, active, err := s.getRequest(ctx, accessTokenTable, signature, session)
	if err != nil {
		return nil, fmt.Errorf("get access token: %w", err)
	}
	if !active {
		return nil, fmt.Errorf("get access token: %w", fosite.ErrNotFound)
	}
	return req, nil
}

// DeleteAccessTokenSession implements oauth2.AccessTokenStorage; a missing token
// is not an error.
func (s *Store) DeleteAccessTokenSession(ctx context.Context, signature string) error {
	if err := s.deleteRow(ctx, accessTokenTable, signature); err != nil {
		return fmt.Errorf("delete access token: %w", translate(err))
	}
	return nil
}

// CreateRefreshTokenSession implements oauth2.RefreshTokenStorage; signature and
// accessSignature are token signatures, never tokens.
func (s *Store) CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, r fosite.Requester) error {
	row, err := s.encodeRequest(refreshTokenTable, signature, r, fosite.RefreshToken)
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	rr := refreshRow{Req: row, AccessTokenSignature: accessSignature}
	if t := pgTxOf(ctx); t != nil {
		s.used(ctx)
		return s.write(ctx, func(context.Context) error {
			t.queue(pgOp{sql: "INSERT INTO " + refreshTokenTable + " (" + requestColumns + ", access_token_signature, rotated_at) VALUES " + placeholders(15),
				args: append(requestValues(row), accessSignature, nil)})
			return nil
		})
	}
	if err := s.write(ctx, func(ctx context.Context) error { return s.conn(ctx).Table(refreshTokenTable).Create(&rr).Error }); err != nil {
		return fmt.Errorf("create refresh token: %w", translate(err))
	}
	return nil
}

// GetRefreshTokenSession implements oauth2.RefreshTokenStorage. A rotated or
// revoked token gives the request together with fosite.ErrInactiveToken, so that
// fosite can revoke the token family (RFC 9700 §4.14.2), except that a token
// rotated less than Options.RefreshTokenGracePeriod ago is still accepted.
func (s *Store) GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	var row refreshRow
	if t := pgTxOf(ctx); t != nil {
		// Read FOR UPDATE: a rotation in this transaction is then decided here
		// (RotateRefreshToken), and a concurrent one waits for it.
		m, err := s.pipelinedRow(ctx, t, refreshTokenTable, signature, true)
		if err != nil {
			return nil, fmt.Errorf("get refresh token: %w", err)
		}
		row = refreshRow{Req: m.row, AccessTokenSignature: m.accessSig, RotatedAt: m.rotatedAt}
	} else if err := s.takeRow(ctx, refreshTokenTable, signature, &row); err != nil {
		return nil, fmt.Errorf("get refresh token: %w", err)
	}
	req, err := s.decodeRequest(ctx, refreshTokenTable, &row.Req, session)
	if err != nil {
		return nil, fmt.Errorf("get refresh token: %w", err)
	}
	if !row.Req.Active && !s.inGrace(row.RotatedAt, time.Now().UTC()) {
		return req, fmt.Errorf("get refresh token: %w", fosite.ErrInactiveToken)
	}
	return req, nil
}

// inGrace reports whether a token rotated at rotatedAt is still usable at now.
// RevokeRefreshToken clears rotated_at, so a revoked token never is.
func (s *Store) inGrace(rotatedAt *time.Time, now time.Time) bool {
	return s.refreshGrace > 0 && rotatedAt != nil && rotatedAt.After(now.Add(-s.refreshGrace))
}

// DeleteRefreshTokenSession implements oauth2.RefreshTokenStorage; a missing
// token is not an error.
func (s *Store) DeleteRefreshTokenSession(ctx context.Context, signature string) error {
	if err := s.deleteRow(ctx, refreshTokenTable, signature); err != nil {
		return fmt.Errorf("delete refresh token: %w", translate(err))
	}
	return nil
}

// RotateRefreshToken implements oauth2.RefreshTokenStorage. One conditional update
// deactivates the presented refresh token, so of concurrent rotations of one token
// exactly one succeeds and the rest get fosite.ErrInactiveToken; the request's
// access tokens are revoked with it. Within the grace period the token may be
// rotated again, and only the access token issued with it is revoked, so the
// tokens issued by the first rotation stay valid.
func (s *Store) RotateRefreshToken(ctx context.Context, requestID, signature string) error {
	now := time.Now().UTC()
	if t := pgTxOf(ctx); t != nil {
		if m, ok := t.cached(refreshTokenTable, signature); ok && m != nil && m.locked {
			if err := s.rotateLocked(ctx, t, m, requestID, now); err != nil {
				return fmt.Errorf("rotate refresh token: %w", err)
			}
			return nil
		}
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		q := s.conn(ctx).Table(refreshTokenTable).Where("signature = ? AND request_id = ?", signature, requestID)
		if s.refreshGrace > 0 {
			q = q.Where("active = ? OR rotated_at > ?", true, now.Add(-s.refreshGrace))
		} else {
			q = q.Where("active = ?", true)
		}
		res := q.Updates(map[string]any{"active": false, "rotated_at": gorm.Expr("COALESCE(rotated_at, ?)", now)})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return fosite.ErrInactiveToken
		}
		if s.refreshGrace > 0 {
			return s.conn(ctx).Exec("DELETE FROM "+accessTokenTable+" WHERE signature IN (SELECT access_token_signature FROM "+refreshTokenTable+" WHERE signature = ?)", signature).Error
		}
		return s.conn(ctx).Exec("DELETE FROM "+accessTokenTable+" WHERE request_id = ?", requestID).Error
	})
	if err != nil {
		return fmt.Errorf("rotate refresh token: %w", translate(err))
	}
	return nil
}

// RevokeRefreshToken implements oauth2.TokenRevocationStorage: it deactivates
// every refresh token of the request, which is the whole family, since fosite
// keeps the request id across rotations. No token is not an error.
func (s *Store) RevokeRefreshToken(ctx context.Context, requestID string) error {
	err := s.write(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Table(refreshTokenTable).Where("request_id = ?", requestID).
			Updates(map[string]any{"active": false, "rotated_at": nil}).Error
	})
	if err != nil {
		return fmt.Errorf("revoke refresh tokens: %w", translate(err))
	}
	return nil
}

// RevokeAccessToken implements oauth2.TokenRevocationStorage: it deletes every
// access token of the request. No token is not an error.
func (s *Store) RevokeAccessToken(ctx context.Context, requestID string) error {
	err := s.write(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Exec("DELETE FROM "+accessTokenTable+" WHERE request_id = ?", requestID).Error
	})
	if err != nil {
		return fmt.Errorf("revoke access tokens: %w", translate(err))
	}
	return nil
}

// rotateLocked is RotateRefreshToken for a token this transaction read FOR
// UPDATE: the update's condition is decided on the row as read, and the
// writes go out with the commit.
func (s *Store) rotateLocked(ctx context.Context, t *pgTx, m *memoRow, requestID string, now time.Time) error {
	if m.row.RequestID != requestID || !(m.row.Active || s.refreshGrace > 0 && m.rotatedAt != nil && m.rotatedAt.After(now.Add(-s.refreshGrace))) {
		return fosite.ErrInactiveToken
	}
	s.used(ctx)
	return s.write(ctx, func(context.Context) error {
		t.queue(pgOp{sql: "UPDATE " + refreshTokenTable + " SET active = false, rotated_at = COALESCE(rotated_at, $1) WHERE signature = $2",
			args: []any{now, m.row.Signature}})
		if s.refreshGrace > 0 {
			t.queue(pgOp{sql: "DELETE FROM " + accessTokenTable + " WHERE signature = $1", args: []any{m.accessSig}})
		} else {
			t.queue(pgOp{sql: "DELETE FROM " + accessTokenTable + " WHERE request_id = $1", args: []any{requestID}})
		}
		m.row.Active = false
		if m.rotatedAt == nil {
			m.rotatedAt = &now
		}
		return nil
	})
}
