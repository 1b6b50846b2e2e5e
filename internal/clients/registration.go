package clients

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-id/gatehouse/storage"
)

// ErrRegistrationToken means a registration access token (RFC 7592 §3) does not
// belong to the client named, or that client does not exist or was not registered
// dynamically. The two cases are one error so that a caller cannot learn which
// client ids exist.
var ErrRegistrationToken = errors.New("invalid registration access token")

// Register creates a client as Create does and also gives it a registration access
// token with which the client manages its own registration (RFC 7592). The token,
// like the secret, is returned only here: only its keyed hash is stored.
func (s *Service) Register(ctx context.Context, spec Spec) (v View, secret, registrationToken string, err error) {
	return s.create(ctx, spec, true)
}

// Registered returns the client id if token is its registration access token, and
// ErrRegistrationToken otherwise. The comparison takes the same time for every
// wrong token.
func (s *Service) Registered(ctx context.Context, id, token string) (View, error) {
	if s.sealer == nil || token == "" {
		return View{}, ErrRegistrationToken
	}
	c, err := s.store.GetClientRecord(ctx, id)
	if err != nil {
		// An unknown id is an invalid token (RFC 7592 §2.1); other failures are not.
		if errors.Is(err, storage.ErrNotFound) {
			return View{}, ErrRegistrationToken
		}
		return View{}, fmt.Errorf("client %q: %w", id, err)
	}
	if c.RegistrationTokenHash == "" || !s.sealer.CompareClientSecret(c.RegistrationTokenHash, []byte(token)) {
		return View{}, ErrRegistrationToken
	}
	return ViewOf(c), nil
}
