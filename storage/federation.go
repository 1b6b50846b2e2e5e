package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// CreateUserWithExternalIdentity stores u (a new user who signed up through an
// upstream identity provider, without a password) and e, the provider account
// that made it, in one transaction. It sets the ids (when empty), normalises
// the e-mail and sets the timestamps in UTC. A taken e-mail or provider
// account gets ErrConflict and nothing is stored.
func (s *Store) CreateUserWithExternalIdentity(ctx context.Context, u User, e ExternalIdentity) (User, ExternalIdentity, error) {
	if u.ID == "" {
		u.ID = uuid.NewString()
	}
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	if !validKey(e.Provider) || !validKey(e.AccountID) || !validKey(e.Email) || e.Provider == "" || e.AccountID == "" {
		return User{}, ExternalIdentity{}, fmt.Errorf("create user with external identity: provider and account id must be non-empty text")
	}
	u.Email = NormalizeEmail(u.Email)
	now := keyTime(time.Now())
	u.CreatedAt, u.UpdatedAt, u.LockedUntil = now, now, nil
	e.UserID, e.CreatedAt, e.UpdatedAt, e.LastSignInAt, e.SealedTokens = u.ID, now, now, keyTimePtr(e.LastSignInAt), nil
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.conn(ctx).Create(&u).Error; err != nil {
			return err
		}
		return s.conn(ctx).Create(&e).Error
	})
	if err != nil {
		return User{}, ExternalIdentity{}, fmt.Errorf("create user with external identity: %w", translate(err))
	}
	return u, e, nil
}

// RecordExternalSignIn notes that the external identity id signed its user in
// at at, giving email and the acr of the provider's ID token ("" for none).
// ErrNotFound when there is no such identity.
func (s *Store) RecordExternalSignIn(ctx context.Context, id, email, acr string, at time.Time) error {
	if uuid.Validate(id) != nil {
		return fmt.Errorf("record external sign-in: %w", ErrNotFound)
	}
	if !validKey(email) || !validKey(acr) {
		return fmt.Errorf("record external sign-in: the e-mail and acr must be text")
	}
	at = keyTime(at)
	return s.updateExternalIdentity(ctx, "record external sign-in", id, map[string]any{"email": email, "last_acr": acr, "last_sign_in_at": at})
}

// SetExternalIdentityTokens keeps tokens (the caller's encoding of the upstream
// access and refresh tokens) sealed with the system secret and bound to the
// identity's id, so that a database dump does not reveal them and a sealed
// value cannot be moved to another row; nil tokens forget them. A store opened
// without a system secret refuses to keep tokens. ErrNotFound when there is no
// such identity.
func (s *Store) SetExternalIdentityTokens(ctx context.Context, id string, tokens []byte) error {
	if uuid.Validate(id) != nil {
		return fmt.Errorf("set external identity tokens: %w", ErrNotFound)
	}
	var sealed []byte
	if tokens != nil {
		if s.sealer == nil {
			return errors.New("set external identity tokens: no system secret to seal them with")
		}
		sealed = s.sealer.Seal(tokens, externalTokensAAD(id))
	}
	return s.updateExternalIdentity(ctx, "set external identity tokens", id, map[string]any{"sealed_tokens": sealed})
}

// ExternalIdentityTokens returns the tokens SetExternalIdentityTokens kept for
// the identity id, or nil when none are kept. ErrNotFound when there is no
// such identity; ErrUnsealable when no system secret opens them.
func (s *Store) ExternalIdentityTokens(ctx context.Context, id string) ([]byte, error) {
	if uuid.Validate(id) != nil {
		return nil, fmt.Errorf("external identity tokens: %w", ErrNotFound)
	}
	var e ExternalIdentity
	err := s.read(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Select("id", "sealed_tokens").Where("id = ?", id).Take(&e).Error
	})
	if err != nil {
		return nil, fmt.Errorf("external identity tokens: %w", translate(err))
	}
	if e.SealedTokens == nil {
		return nil, nil
	}
	if s.sealer == nil {
		return nil, fmt.Errorf("external identity tokens: %w", ErrUnsealable)
	}
	b, err := s.sealer.Open(e.SealedTokens, externalTokensAAD(id))
	if err != nil {
		return nil, fmt.Errorf("external identity tokens: %w", err)
	}
	return b, nil
}

// DeleteExternalIdentity removes the user's external identity id; ErrNotFound
// when the user holds no such identity (another user's id included).
func (s *Store) DeleteExternalIdentity(ctx context.Context, userID, id string) error {
	if uuid.Validate(userID) != nil || uuid.Validate(id) != nil {
		return fmt.Errorf("delete external identity: %w", ErrNotFound)
	}
	var n int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&ExternalIdentity{})
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("delete external identity: %w", translate(err))
	}
	if n == 0 {
		return fmt.Errorf("delete external identity: %w", ErrNotFound)
	}
	return nil
}

func (s *Store) updateExternalIdentity(ctx context.Context, op, id string, cols map[string]any) error {
	cols["updated_at"] = keyTime(time.Now())
	var n int64
	err := s.write(ctx, func(ctx context.Context) error {
		res := s.conn(ctx).Model(&ExternalIdentity{}).Where("id = ?", id).Updates(cols)
		n = res.RowsAffected
		return res.Error
	})
	if err != nil {
		return fmt.Errorf("%s: %w", op, translate(err))
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	return nil
}

// externalTokensAAD binds sealed upstream tokens to their row.
func externalTokensAAD(id string) []byte { return []byte("external_identities.sealed_tokens:" + id) }
