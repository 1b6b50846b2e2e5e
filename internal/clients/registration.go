package clients

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/storage"
)

// ErrRegistrationToken means a registration access token (RFC 7592 §3) does not
// belong to the client named, or that client does not exist or was not registered
// dynamically. The two cases are one error so that a caller cannot learn which
// client ids exist.
var ErrRegistrationToken = errors.New("invalid registration access token")

// RegistrationRules are what a client may give itself through Dynamic Client
// Registration, beyond what Validate allows any client: the server decides which
// metadata it accepts (RFC 7591 §2). Operator-created clients are not limited.
type RegistrationRules struct {
	// Scopes are the scopes a registered client may have. A client that asks for
	// another is refused (invalid_client_metadata, RFC 7591 §3.2.2); one that
	// asks for none gets the defaults that are among them.
	Scopes []string
}

// check holds a validated client to the rules; asked says whether its spec named
// scopes (otherwise they are Validate's defaults, which are cut down instead).
func (r *RegistrationRules) check(c *storage.Client, asked bool) problems {
	var p problems
	if !asked {
		kept := storage.StringList{}
		for _, sc := range c.Scopes {
			if slices.Contains(r.Scopes, sc) {
				kept = append(kept, sc)
			}
		}
		c.Scopes = kept
		return nil
	}
	for i, sc := range c.Scopes {
		if !slices.Contains(r.Scopes, sc) {
			allowed := "none"
			if len(r.Scopes) > 0 {
				allowed = strings.Join(r.Scopes, " ")
			}
			p.add(fmt.Sprintf("scope[%d]", i), "%q cannot be registered; a registered client may have only: %s", sc, allowed)
		}
	}
	return p
}

// Register creates a client as Create does, held to rules, and also gives it a
// registration access token with which the client manages its own registration
// (RFC 7592). The token, like the secret, is returned only here: only its keyed
// hash is stored.
func (s *Service) Register(ctx context.Context, spec Spec, rules RegistrationRules) (v View, secret, registrationToken string, err error) {
	return s.create(ctx, spec, &rules)
}

// UpdateRegistered is Update for a client managing its own registration (RFC
// 7592 §2.2): held to the same rules as Register.
func (s *Service) UpdateRegistered(ctx context.Context, id string, spec Spec, rules RegistrationRules) (View, string, error) {
	return s.update(ctx, id, spec, &rules)
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
