package storage

import (
	"context"
	"fmt"

	"github.com/ory/fosite"
)

// CreateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage; signature is
// the code's signature, never the code.
func (s *Store) CreateAuthorizeCodeSession(ctx context.Context, signature string, r fosite.Requester) error {
	if err := s.createRequest(ctx, authorizeCodeTable, signature, r, fosite.AuthorizeCode); err != nil {
		return fmt.Errorf("create authorization code: %w", translate(err))
	}
	return nil
}

// GetAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. A redeemed code
// gives the request together with fosite.ErrInvalidatedAuthorizeCode, so that
// fosite can revoke the tokens issued from it (RFC 6749 §4.1.2).
func (s *Store) GetAuthorizeCodeSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	if t := pgTxOf(ctx); t != nil {
		if _, ok := t.cached(authorizeCodeTable, signature); !ok {
			s.used(ctx)
			if err := s.read(ctx, func(ctx context.Context) error { return t.readCode(ctx, signature) }); err != nil {
				return nil, fmt.Errorf("get authorization code: %w", err)
			}
		}
	}
	req, active, err := s.getRequest(ctx, authorizeCodeTable, signature, session)
	if err != nil {
		return nil, fmt.Errorf("get authorization code: %w", err)
	}
	if !active {
		return req, fmt.Errorf("get authorization code: %w", fosite.ErrInvalidatedAuthorizeCode)
	}
	return req, nil
}

// InvalidateAuthorizeCodeSession implements oauth2.AuthorizeCodeStorage. It marks
// the code used with one conditional update, so of two concurrent redemptions
// exactly one succeeds; the other gets fosite.ErrInvalidatedAuthorizeCode.
func (s *Store) InvalidateAuthorizeCodeSession(ctx context.Context, signature string) error {
	if t := pgTxOf(ctx); t != nil {
		// The code was read FOR UPDATE in this transaction: no other can
		// redeem it before this one ends, so the update is decided here and
		// goes out with the commit.
		if m, ok := t.cached(authorizeCodeTable, signature); ok && m != nil && m.locked {
			if !m.row.Active {
				return fmt.Errorf("invalidate authorization code: %w", fosite.ErrInvalidatedAuthorizeCode)
			}
			s.used(ctx)
			return s.write(ctx, func(context.Context) error {
				t.queue(pgOp{sql: "UPDATE " + authorizeCodeTable + " SET active = false WHERE signature = $1", args: []any{signature}})
				m.row.Active = false
				return nil
			})
		}
	}
	var rows int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Table(authorizeCodeTable).
			Where("signature = ? AND active = ?", signature, true).
			Update("active", false)
		rows = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("invalidate authorization code: %w", translate(err))
	}
	if rows == 0 {
		return fmt.Errorf("invalidate authorization code: %w", fosite.ErrInvalidatedAuthorizeCode)
	}
	return nil
}

// CreatePKCERequestSession implements pkce.PKCERequestStorage; signature is the
// authorization code's signature.
func (s *Store) CreatePKCERequestSession(ctx context.Context, signature string, r fosite.Requester) error {
	if err := s.createRequest(ctx, pkceRequestTable, signature, r, fosite.AuthorizeCode); err != nil {
		return fmt.Errorf("create pkce request: %w", translate(err))
	}
	return nil
}

// GetPKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) GetPKCERequestSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error) {
	req, _, err := s.getRequest(ctx, pkceRequestTable, signature, session)
	if err != nil {
		return nil, fmt.Errorf("get pkce request: %w", err)
	}
	return req, nil
}

// DeletePKCERequestSession implements pkce.PKCERequestStorage.
func (s *Store) DeletePKCERequestSession(ctx context.Context, signature string) error {
	if err := s.deleteRow(ctx, pkceRequestTable, signature); err != nil {
		return fmt.Errorf("delete pkce request: %w", translate(err))
	}
	return nil
}

// CreateOpenIDConnectSession implements openid.OpenIDConnectRequestStorage. fosite
// names the record by the raw authorization code; only its SHA-256 is stored.
func (s *Store) CreateOpenIDConnectSession(ctx context.Context, authorizeCode string, r fosite.Requester) error {
	if err := s.createRequest(ctx, oidcRequestTable, hashKey(authorizeCode), r, fosite.AuthorizeCode); err != nil {
		return fmt.Errorf("create openid connect request: %w", translate(err))
	}
	return nil
}

// GetOpenIDConnectSession implements openid.OpenIDConnectRequestStorage; the
// session is decoded into requester's session.
func (s *Store) GetOpenIDConnectSession(ctx context.Context, authorizeCode string, requester fosite.Requester) (fosite.Requester, error) {
	var session fosite.Session
	if requester != nil {
		session = requester.GetSession()
	}
	req, _, err := s.getRequest(ctx, oidcRequestTable, hashKey(authorizeCode), session)
	if err != nil {
		return nil, fmt.Errorf("get openid connect request: %w", err)
	}
	return req, nil
}

// DeleteOpenIDConnectSession implements openid.OpenIDConnectRequestStorage.
func (s *Store) DeleteOpenIDConnectSession(ctx context.Context, authorizeCode string) error {
	if err := s.deleteRow(ctx, oidcRequestTable, hashKey(authorizeCode)); err != nil {
		return fmt.Errorf("delete openid connect request: %w", translate(err))
	}
	return nil
}
