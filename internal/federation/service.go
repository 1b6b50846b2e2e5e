package federation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/outbound"
	"github.com/gatehouse-id/gatehouse/storage"
)

// userService is what federation needs from internal/identity.
type userService interface {
	GetUser(ctx context.Context, id string) (storage.User, error)
	CreateFederatedUser(ctx context.Context, in identity.FederatedSignUp) (storage.User, storage.ExternalIdentity, error)
	SendLinkProof(ctx context.Context, userID, binding, provider, ip string) error
	ConsumeLinkProof(ctx context.Context, token, binding string) (storage.User, error)
}

// identityStore is the external-identity half of the store, which federation
// owns.
type identityStore interface {
	GetUserByEmail(ctx context.Context, email string) (storage.User, error)
	GetExternalIdentity(ctx context.Context, provider, accountID string) (storage.ExternalIdentity, error)
	ListExternalIdentities(ctx context.Context, userID string) ([]storage.ExternalIdentity, error)
	CreateExternalIdentity(ctx context.Context, e storage.ExternalIdentity) (storage.ExternalIdentity, error)
	RecordExternalSignIn(ctx context.Context, id, email, acr string, at time.Time) error
	SetExternalIdentityTokens(ctx context.Context, id string, tokens []byte) error
	ExternalIdentityTokens(ctx context.Context, id string) ([]byte, error)
	DeleteExternalIdentity(ctx context.Context, userID, id string) error
}

// Options are what New needs.
type Options struct {
	Providers []ProviderConfig
	// Issuer is this server's public URL; the callback of provider id is
	// Issuer + "/signin/callback/" + id.
	Issuer string
	Store  *storage.Store
	Users  userService
	// Outbound is the guarded client every upstream request goes through.
	Outbound *outbound.Client
	// Sealer seals the flow cookies (the store's).
	Sealer *storage.Sealer
	Now    func() time.Time
	Log    *slog.Logger
	// TTL bounds how long the providers added at run time (the admin API;
	// with a Store) are kept in memory while no change can be heard (SQLite
	// written by another process, PostgreSQL without a listener):
	// database.client_cache_ttl. 0 reads them for every use.
	TTL time.Duration
}

// Service runs sign-in through upstream providers. Build it with New.
type Service struct {
	providers []*provider
	byID      map[string]*provider
	store     identityStore
	users     userService
	http      *http.Client
	sealer    *storage.Sealer
	issuer    string
	secure    bool
	now       func() time.Time
	log       *slog.Logger
	// factors tells whether a user has a passkey (Unlink).
	factors factorStore

	// The providers added at run time (stored.go): nil provStore offers
	// none.
	provStore providerStore
	ttl       time.Duration
	watchOnce sync.Once
	wake      <-chan struct{}
	stopWatch func()
	mu        sync.Mutex
	stored    storedSet
	storedOK  bool
	loadedAt  time.Time
	gen       uint64
	retryAt   time.Time
}

// factorStore is the sign-in factors half of the store, read to tell
// whether a user has a passkey.
type factorStore interface {
	ListFactors(ctx context.Context, userID string) ([]storage.Factor, error)
}

// CallbackPath is the path of provider id's redirect URI at this server.
func CallbackPath(id string) string { return "/signin/callback/" + id }

// New checks the providers and returns the service; with no providers it
// works and offers none.
func New(o Options) (*Service, error) {
	if err := Validate(o.Providers); err != nil {
		return nil, fmt.Errorf("federation: %w", err)
	}
	if len(o.Providers) > 0 && (o.Store == nil || o.Users == nil || o.Outbound == nil || o.Sealer == nil) {
		return nil, errors.New("federation: Store, Users, Outbound and Sealer are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	issuer := strings.TrimSuffix(o.Issuer, "/")
	s := &Service{
		byID: map[string]*provider{}, users: o.Users, sealer: o.Sealer, issuer: issuer,
		secure: strings.HasPrefix(issuer, "https://"), now: o.Now, log: o.Log,
	}
	if o.Store != nil {
		s.store, s.factors = o.Store, o.Store
	}
	if o.Outbound != nil {
		s.http = o.Outbound.HTTPClient()
	}
	// Providers added at run time need what the configured ones need.
	if o.Store != nil && o.Users != nil && o.Outbound != nil && o.Sealer != nil {
		s.provStore, s.ttl = o.Store, o.TTL
	}
	for _, c := range o.Providers {
		p := newProvider(c, issuer+CallbackPath(c.ID))
		s.providers = append(s.providers, p)
		s.byID[c.ID] = p
	}
	return s, nil
}

// Buttons lists the providers, for the sign-in and sign-up pages: the
// configured ones in their order, then those added through the admin API in
// the order they were added.
func (s *Service) Buttons() []Button {
	if s == nil {
		return nil
	}
	all := s.all(context.Background())
	out := make([]Button, 0, len(all))
	for _, p := range all {
		out = append(out, p.button())
	}
	return out
}

// Offers reports whether the service may offer providers at some time: it
// has configured ones, or a store that providers can be added to at run
// time.
func (s *Service) Offers() bool {
	return s != nil && (len(s.providers) > 0 || s.canStore())
}

// Has reports whether id names a provider offered now.
func (s *Service) Has(id string) bool {
	_, ok := s.lookup(context.Background(), id)
	return ok
}

// Name is the display name of provider id, or id itself when it is not
// offered (an imported identity of a provider no longer offered).
func (s *Service) Name(id string) string {
	if p, ok := s.lookup(context.Background(), id); ok {
		return p.cfg.Name
	}
	return id
}

// Error is a sign-in through a provider that did not succeed; Code says why,
// for the page or the API to explain and for logs.
type Error struct {
	Code     string
	Provider string
	// Detail is for the log line, never for the person.
	Detail string
	err    error
}

// The codes of Error.
const (
	// CodeUnknownProvider: no such provider is configured.
	CodeUnknownProvider = "unknown_provider"
	// CodeAccessDenied: the person (or the provider) declined.
	CodeAccessDenied = "access_denied"
	// CodeBadState: the callback does not belong to a flow this browser
	// began (no flow cookie, another state, replayed, expired).
	CodeBadState = "bad_state"
	// CodeUpstreamError: the provider answered with an error or something
	// that does not verify (a wrong nonce, a bad signature).
	CodeUpstreamError = "upstream_error"
	// CodeUpstreamUnavailable: the provider could not be reached.
	CodeUpstreamUnavailable = "upstream_unavailable"
	// CodeNoEmail: the provider gave no usable address.
	CodeNoEmail = "no_email"
	// CodeUnverifiedEmail: the provider did not verify the address.
	CodeUnverifiedEmail = "unverified_email"
	// CodeDomainNotAllowed: the address is at a domain the provider does
	// not admit.
	CodeDomainNotAllowed = "domain_not_allowed"
	// CodeNoAccount: the provider only links, and no user linked this
	// upstream account.
	CodeNoAccount = "no_account"
	// CodeLinkedElsewhere: the upstream account is linked to another user.
	CodeLinkedElsewhere = "linked_elsewhere"
	// CodeDisabled: the user is disabled.
	CodeDisabled = "disabled"
	// CodeLastMethod: unlinking would leave the user no way to sign in.
	CodeLastMethod = "last_method"
	// CodeLinkInvalid: a mailed link to make a pending link is unknown,
	// used, expired, or opened in another browser than the one that asked.
	CodeLinkInvalid = "link_invalid"
)

func (e *Error) Error() string {
	s := "federation " + e.Code
	if e.Provider != "" {
		s += " (" + e.Provider + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.err }

func fail(code, provider, detail string, err error) *Error {
	return &Error{Code: code, Provider: provider, Detail: detail, err: err}
}

// CodeOf returns the code of a federation *Error in err's chain, or "" for
// anything else (a database failure).
func CodeOf(err error) string {
	var fe *Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return ""
}

// AuthURLs are the providers' authorization endpoints (their issuers until
// discovery has named the endpoint), for the form-action of pages whose forms
// lead there (the account page's "Link …").
func (s *Service) AuthURLs() []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, p := range s.all(context.Background()) {
		p.mu.Lock()
		u := p.oauth.Endpoint.AuthURL
		p.mu.Unlock()
		if u == "" {
			u = p.cfg.Issuer
		}
		out = append(out, u)
	}
	return out
}
