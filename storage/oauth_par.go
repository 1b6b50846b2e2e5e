package storage

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/ory/fosite"
)

// CreatePARSession implements fosite.PARStorage (RFC 9126). The record is keyed by
// the SHA-256 of requestURI and holds the whole authorization request.
func (s *Store) CreatePARSession(ctx context.Context, requestURI string, r fosite.AuthorizeRequester) error {
	key := hashKey(requestURI)
	row, err := s.encodeRequest(parRequestTable, key, r, fosite.PushedAuthorizeRequestContext)
	if err != nil {
		return fmt.Errorf("create pushed authorization request: %w", err)
	}
	pr := parRow{
		Req:                 row,
		ResponseTypes:       StringList(r.GetResponseTypes()),
		State:               r.GetState(),
		ResponseMode:        string(r.GetResponseMode()),
		DefaultResponseMode: string(r.GetDefaultResponseMode()),
	}
	if u := r.GetRedirectURI(); u != nil {
		pr.RedirectURI = u.String()
	}
	if ar, ok := r.(*fosite.AuthorizeRequest); ok {
		pr.HandledResponseTypes = StringList(ar.HandledResponseTypes)
	}
	if err := s.write(ctx, func(ctx context.Context) error { return s.conn(ctx).Table(parRequestTable).Create(&pr).Error }); err != nil {
		return fmt.Errorf("create pushed authorization request: %w", translate(err))
	}
	return nil
}

// GetPARSession implements fosite.PARStorage. The session is decoded into a new
// one from Options.NewSession; an expired request gives fosite.ErrNotFound.
func (s *Store) GetPARSession(ctx context.Context, requestURI string) (fosite.AuthorizeRequester, error) {
	var row parRow
	if err := s.takeRow(ctx, parRequestTable, hashKey(requestURI), &row); err != nil {
		return nil, fmt.Errorf("get pushed authorization request: %w", err)
	}
	// fosite does not check the expiry of a pushed request; RFC 9126 §2.2 bounds
	// its life, so an expired one is as good as gone.
	if !row.Req.ExpiresAt.After(time.Now().UTC()) {
		return nil, fmt.Errorf("get pushed authorization request: expired: %w", fosite.ErrNotFound)
	}
	req, err := s.decodeRequest(ctx, parRequestTable, &row.Req, nil)
	if err != nil {
		return nil, fmt.Errorf("get pushed authorization request: %w", err)
	}
	ar := &fosite.AuthorizeRequest{
		ResponseTypes:        fosite.Arguments(row.ResponseTypes),
		State:                row.State,
		HandledResponseTypes: fosite.Arguments(row.HandledResponseTypes),
		ResponseMode:         fosite.ResponseModeType(row.ResponseMode),
		DefaultResponseMode:  fosite.ResponseModeType(row.DefaultResponseMode),
		Request:              *req,
	}
	if ar.ResponseTypes == nil {
		ar.ResponseTypes = fosite.Arguments{}
	}
	if ar.HandledResponseTypes == nil {
		ar.HandledResponseTypes = fosite.Arguments{}
	}
	if row.RedirectURI != "" {
		u, err := url.Parse(row.RedirectURI)
		if err != nil {
			return nil, fmt.Errorf("get pushed authorization request: parse redirect uri: %w", err)
		}
		ar.RedirectURI = u
	}
	return ar, nil
}

// DeletePARSession implements fosite.PARStorage; a missing record is not an error.
func (s *Store) DeletePARSession(ctx context.Context, requestURI string) error {
	if err := s.deleteRow(ctx, parRequestTable, hashKey(requestURI)); err != nil {
		return fmt.Errorf("delete pushed authorization request: %w", translate(err))
	}
	return nil
}
