package clients

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/google/uuid"
)

// ErrNoSecret means a secret was asked of a client that authenticates without
// one: a public client (none) or one that signs assertions (private_key_jwt).
var ErrNoSecret = errors.New("the client authenticates without a secret")

// ErrPublicClient is ErrNoSecret, by the name it had when only public clients
// were without a secret.
var ErrPublicClient = ErrNoSecret

// usesSecret reports whether a validated client authenticates with a client
// secret. Only those get one: a private_key_jwt or none client with a secret
// would hold a credential that works nowhere but could still leak.
func usesSecret(c storage.Client) bool {
	return c.TokenEndpointAuthMethod == AuthClientSecretBasic || c.TokenEndpointAuthMethod == AuthClientSecretPost
}

// clientStore is the part of storage.Store the service uses.
type clientStore interface {
	CreateClient(ctx context.Context, c storage.Client) (storage.Client, error)
	GetClientRecord(ctx context.Context, id string) (storage.Client, error)
	ListClients(ctx context.Context, o storage.ListClientsOptions) ([]storage.Client, error)
	UpdateClient(ctx context.Context, c storage.Client) (storage.Client, error)
	DeleteClient(ctx context.Context, id string) error
}

var _ clientStore = (*storage.Store)(nil)

// Service registers and manages clients. Build it with New; the zero value is
// unusable. Errors wrap storage.ErrNotFound for an unknown id and
// storage.ErrConflict for a taken client_id; invalid input is a *ValidationError.
type Service struct {
	store  clientStore
	sealer *storage.Sealer  // hashes client secrets; nil refuses confidential clients
	now    func() time.Time // injected so tests can freeze time
	rules  Rules
}

// New returns a Service over store. sealer hashes client secrets (use
// Store.Sealer()); now stamps created and updated times; rules are the
// operator's settings every create and update is validated under.
func New(store clientStore, sealer *storage.Sealer, now func() time.Time, rules Rules) *Service {
	return &Service{store: store, sealer: sealer, now: now, rules: rules}
}

// Create validates spec, applies its defaults and stores the client. For a
// client that authenticates with a secret (client_secret_basic or _post) it
// returns the generated secret: this is the only time the secret exists outside
// the caller, since only its keyed hash is stored. Public and private_key_jwt
// clients get no secret, and none is stored. Nothing is stored when validation
// fails.
func (s *Service) Create(ctx context.Context, spec Spec) (View, string, error) {
	v, secret, _, err := s.create(ctx, spec, nil)
	return v, secret, err
}

// create is Create. For a dynamic registration (reg not nil) it also holds the
// client to the registration rules and makes the RFC 7592 registration access
// token, storing its hash.
func (s *Service) create(ctx context.Context, spec Spec, reg *RegistrationRules) (View, string, string, error) {
	c, err := s.rules.Validate(spec)
	if err != nil {
		return View{}, "", "", err
	}
	registration := reg != nil
	if registration {
		if err := reg.check(&c, len(spec.Scope) > 0).err(); err != nil {
			return View{}, "", "", err
		}
	}
	if c.ID == "" {
		c.ID = uuid.NewString() // random (version 4) and URL-safe
	}
	var secret, token string
	if usesSecret(c) {
		if secret, c.SecretHash, err = s.newSecret(); err != nil {
			return View{}, "", "", fmt.Errorf("create client %s: %w", c.ID, err)
		}
	}
	if registration {
		if token, c.RegistrationTokenHash, err = s.newSecret(); err != nil {
			return View{}, "", "", fmt.Errorf("create client %s: %w", c.ID, err)
		}
	}
	now := s.now().UTC()
	c.CreatedAt, c.UpdatedAt = now, now
	stored, err := s.store.CreateClient(ctx, c)
	if err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return View{}, "", "", fmt.Errorf("create client: client_id %q is taken: %w", c.ID, err)
		}
		return View{}, "", "", fmt.Errorf("create client %s: %w", c.ID, err)
	}
	return ViewOf(stored), secret, token, nil
}

// Get returns the client with the given id.
func (s *Service) Get(ctx context.Context, id string) (View, error) {
	c, err := s.store.GetClientRecord(ctx, id)
	if err != nil {
		return View{}, fmt.Errorf("client %q: %w", id, err)
	}
	return ViewOf(c), nil
}

// ListOptions pages through clients in client_id order.
type ListOptions struct {
	// After is the Next of the previous page; empty starts at the beginning.
	After string
	// Limit is the page size: DefaultPageSize when zero, at most MaxPageSize.
	Limit int
}

// Page sizes for List.
const (
	DefaultPageSize = 100
	MaxPageSize     = 500
)

// Page is one page of clients. Next is empty on the last page.
type Page struct {
	Clients []View `json:"clients"`
	Next    string `json:"next,omitempty"`
}

// List returns one page of clients.
func (s *Service) List(ctx context.Context, o ListOptions) (Page, error) {
	limit := o.Limit
	switch {
	case limit <= 0:
		limit = DefaultPageSize
	case limit > MaxPageSize:
		limit = MaxPageSize
	}
	// One more than asked tells whether another page follows.
	cs, err := s.store.ListClients(ctx, storage.ListClientsOptions{After: o.After, Limit: limit + 1})
	if err != nil {
		return Page{}, fmt.Errorf("list clients: %w", err)
	}
	p := Page{Clients: make([]View, 0, min(len(cs), limit))}
	for i, c := range cs {
		if i == limit {
			p.Next = cs[i-1].ID
			break
		}
		p.Clients = append(p.Clients, ViewOf(c))
	}
	return p, nil
}

// Update replaces every field of the client with spec, under the same rules and
// defaults as Create, keeping its id, secret and creation time. A client that
// stops authenticating with a secret (made public or private_key_jwt) loses it;
// one that starts gets a new one, returned here once. Otherwise the returned
// secret is empty.
func (s *Service) Update(ctx context.Context, id string, spec Spec) (View, string, error) {
	return s.update(ctx, id, spec, nil)
}

// update is Update, holding a dynamically registered client's update (reg not
// nil) to the registration rules.
func (s *Service) update(ctx context.Context, id string, spec Spec, reg *RegistrationRules) (View, string, error) {
	var p problems
	if spec.ClientID != "" && spec.ClientID != id {
		p.add("client_id", "cannot be changed (from %q to %q); create a new client instead", id, spec.ClientID)
	}
	spec.ClientID = id
	c, err := s.rules.Validate(spec)
	if err != nil {
		var ve *ValidationError
		if !errors.As(err, &ve) {
			return View{}, "", err
		}
		p = append(p, ve.Problems...)
	} else if reg != nil {
		p = append(p, reg.check(&c, len(spec.Scope) > 0)...)
	}
	if err := p.err(); err != nil {
		return View{}, "", err
	}
	old, err := s.store.GetClientRecord(ctx, id)
	if err != nil {
		return View{}, "", fmt.Errorf("update client %q: %w", id, err)
	}
	var secret string
	switch {
	case !usesSecret(c):
		c.SecretHash = ""
	case old.SecretHash != "":
		c.SecretHash = old.SecretHash
	default:
		if secret, c.SecretHash, err = s.newSecret(); err != nil {
			return View{}, "", fmt.Errorf("update client %q: %w", id, err)
		}
	}
	c.CreatedAt = old.CreatedAt
	c.RegistrationTokenHash = old.RegistrationTokenHash
	c.UpdatedAt = s.now().UTC()
	stored, err := s.store.UpdateClient(ctx, c)
	if err != nil {
		return View{}, "", fmt.Errorf("update client %q: %w", id, err)
	}
	return ViewOf(stored), secret, nil
}

// Delete removes the client.
func (s *Service) Delete(ctx context.Context, id string) error {
	if err := s.store.DeleteClient(ctx, id); err != nil {
		return fmt.Errorf("delete client %q: %w", id, err)
	}
	return nil
}

// RotateSecret gives a client that authenticates with a secret a new one,
// returned once; the old secret stops working at once. It fails with ErrNoSecret
// for a public or private_key_jwt client.
func (s *Service) RotateSecret(ctx context.Context, id string) (View, string, error) {
	c, err := s.store.GetClientRecord(ctx, id)
	if err != nil {
		return View{}, "", fmt.Errorf("rotate secret of client %q: %w", id, err)
	}
	if c.Public || !usesSecret(c) {
		return View{}, "", fmt.Errorf("rotate secret of client %q: %w", id, ErrNoSecret)
	}
	secret, hash, err := s.newSecret()
	if err != nil {
		return View{}, "", fmt.Errorf("rotate secret of client %q: %w", id, err)
	}
	c.SecretHash = hash
	c.UpdatedAt = s.now().UTC()
	stored, err := s.store.UpdateClient(ctx, c)
	if err != nil {
		return View{}, "", fmt.Errorf("rotate secret of client %q: %w", id, err)
	}
	return ViewOf(stored), secret, nil
}

// secretBytes is the secret's randomness: 256 bits, so that the fast keyed hash
// Sealer.HashClientSecret is as safe as a slow password hash (nobody can search
// 2^256 candidates) while keeping the token endpoint fast.
const secretBytes = 32

// newSecret makes a client secret and its hash.
func (s *Service) newSecret() (secret, hash string, err error) {
	if s.sealer == nil {
		return "", "", errors.New("no system secret configured to hash client secrets with")
	}
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate client secret: %w", err)
	}
	secret = base64.RawURLEncoding.EncodeToString(b)
	return secret, s.sealer.HashClientSecret([]byte(secret)), nil
}
