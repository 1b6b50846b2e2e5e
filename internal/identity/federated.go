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
		storage.ExternalIdentity{Provider: in.Provider, AccountID: in.AccountID, Email: email, LastSignInAt: &at})
	if err != nil {
		return storage.User{}, storage.ExternalIdentity{}, fmt.Errorf("create federated user: %w", err)
	}
	s.log.InfoContext(ctx, "user created by upstream sign-in", "user_id", u.ID, "provider", in.Provider)
	return u, e, nil
}
