package identity

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/storage"
)

// FederatedSignUp is a person who signed in through an upstream identity
// provider for the first time, with an address no user has: what the
// provider said about them.
type FederatedSignUp struct {
	// Provider and AccountID name the upstream account (its subject).
	Provider, AccountID string
	// Email is the address the provider gave; EmailVerified whether it
	// vouched for it.
	Email         string
	EmailVerified bool
	// Name and Picture fill the profile when they are valid; an unusable
	// one (too long, not https) is dropped rather than refusing the person.
	Name, Picture string
	// ACR is the acr of the provider's ID token at this sign-in ("" for
	// none), kept on the external identity.
	ACR string
}

// CreateFederatedUser stores a new user without a password and the upstream
// account that made them, in one transaction. The address must be valid
// (ErrInvalidEmail); a taken address or a taken upstream account is
// storage.ErrConflict and nothing is stored. The caller (internal/federation)
// decides whether the provider may create accounts at all.
func (s *Service) CreateFederatedUser(ctx context.Context, in FederatedSignUp) (storage.User, storage.ExternalIdentity, error) {
	email := storage.NormalizeEmail(in.Email)
	if err := validateEmail(email); err != nil {
		return storage.User{}, storage.ExternalIdentity{}, err
	}
	if in.Provider == "" || in.AccountID == "" || !utf8.ValidString(in.AccountID) {
		return storage.User{}, storage.ExternalIdentity{}, fmt.Errorf("create federated user: provider and account id are required")
	}
	p, err := cleanProfile(Profile{Name: in.Name})
	if err != nil {
		p.Name = ""
	}
	if pic, err := cleanProfile(Profile{Picture: in.Picture}); err == nil {
		p.Picture = pic.Picture
	}
	at := s.now()
	u, e, err := s.store.CreateUserWithExternalIdentity(ctx,
		storage.User{Email: email, EmailVerified: in.EmailVerified, Name: strings.TrimSpace(p.Name), Picture: p.Picture},
		storage.ExternalIdentity{Provider: in.Provider, AccountID: in.AccountID, Email: email, LastSignInAt: &at, LastACR: in.ACR})
	if err != nil {
		return storage.User{}, storage.ExternalIdentity{}, fmt.Errorf("create federated user: %w", err)
	}
	s.log.InfoContext(ctx, "user created by upstream sign-in", "user_id", u.ID, "provider", in.Provider)
	return u, e, nil
}

// ListExternalIdentities returns the accounts at upstream identity providers
// linked to the user with id, by provider; the error wraps storage.ErrNotFound
// when there is no such user.
func (s *Service) ListExternalIdentities(ctx context.Context, id string) ([]storage.ExternalIdentity, error) {
	if _, err := s.GetUser(ctx, id); err != nil {
		return nil, err
	}
	out, err := s.store.ListExternalIdentities(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("list external identities of user %s: %w", id, err)
	}
	return out, nil
}

// DeleteExternalIdentity unlinks the user's upstream account identityID (an
// operator's decision: unlike the account page it may remove the last way to
// sign in; a password reset gives the user another). The error wraps
// storage.ErrNotFound when the user holds no such identity.
func (s *Service) DeleteExternalIdentity(ctx context.Context, id, identityID string) error {
	if err := s.store.DeleteExternalIdentity(ctx, id, identityID); err != nil {
		return fmt.Errorf("delete external identity: %w", err)
	}
	s.log.InfoContext(ctx, "upstream identity unlinked by the admin API", "user_id", id, "identity_id", identityID)
	return nil
}
