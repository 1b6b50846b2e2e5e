package federation

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// providerStore is the upstream-provider half of the store: the providers
// added at run time (the admin API), and the change notification that tells
// every instance to reload them.
type providerStore interface {
	ListUpstreamProviders(ctx context.Context) ([]storage.UpstreamProvider, error)
	GetUpstreamProvider(ctx context.Context, id string) (storage.UpstreamProvider, error)
	CreateUpstreamProvider(ctx context.Context, p storage.UpstreamProvider) (storage.UpstreamProvider, error)
	UpdateUpstreamProvider(ctx context.Context, p storage.UpstreamProvider) (storage.UpstreamProvider, error)
	DeleteUpstreamProvider(ctx context.Context, id string) error
	Watch(topic storage.Topic) (<-chan struct{}, func())
	Listening() bool
}

// ErrConfigured is a change through the admin API to a provider the
// configuration file defines (or a new one with its id): change it there.
var ErrConfigured = errors.New("the provider is defined in the configuration file")

// ErrNotSetUp is a provider added to a service built without what sign-in
// through providers needs (the store, the users, the outbound client, the
// sealer).
var ErrNotSetUp = errors.New("sign-in through upstream providers is not set up on this server")

// The sources of a ProviderView.
const (
	SourceConfig = "config"
	SourceAdmin  = "admin"
)

// Claims is a provider's claim mapping as the admin API reads and shows it;
// empty means the standard claim.
type Claims struct {
	Subject       string `json:"sub,omitempty"`
	Email         string `json:"email,omitempty"`
	EmailVerified string `json:"email_verified,omitempty"`
	Name          string `json:"name,omitempty"`
	Picture       string `json:"picture,omitempty"`
}

// ProviderSpec is a provider as the admin API takes it: ProviderConfig's
// fields under the configuration file's names. On a change ClientSecret may
// be left out to keep the stored one.
type ProviderSpec struct {
	ID             string   `json:"id,omitempty"`
	Kind           string   `json:"kind,omitempty"`
	Name           string   `json:"name,omitempty"`
	Style          string   `json:"style,omitempty"`
	LogoURL        string   `json:"logo_url,omitempty"`
	Issuer         string   `json:"issuer,omitempty"`
	Tenant         string   `json:"tenant,omitempty"`
	ClientID       string   `json:"client_id,omitempty"`
	ClientSecret   string   `json:"client_secret,omitempty"`
	Scopes         []string `json:"scopes,omitempty"`
	Claims         Claims   `json:"claims"`
	AllowedDomains []string `json:"allowed_domains,omitempty"`
	LinkOnly       bool     `json:"link_only,omitempty"`
	TrustMFA       bool     `json:"trust_mfa,omitempty"`
	StoreTokens    bool     `json:"store_tokens,omitempty"`
	AuthURL        string   `json:"auth_url,omitempty"`
	TokenURL       string   `json:"token_url,omitempty"`
	APIURL         string   `json:"api_url,omitempty"`
}

// ProviderView is a provider as the admin API shows it: never its secret,
// only whether one is set.
type ProviderView struct {
	ID              string   `json:"id"`
	Kind            string   `json:"kind"`
	Name            string   `json:"name"`
	Style           string   `json:"style"`
	LogoURL         string   `json:"logo_url"`
	Issuer          string   `json:"issuer"`
	Tenant          string   `json:"tenant"`
	ClientID        string   `json:"client_id"`
	ClientSecretSet bool     `json:"client_secret_set"`
	Scopes          []string `json:"scopes"`
	Claims          Claims   `json:"claims"`
	AllowedDomains  []string `json:"allowed_domains"`
	LinkOnly        bool     `json:"link_only"`
	TrustMFA        bool     `json:"trust_mfa"`
	StoreTokens     bool     `json:"store_tokens"`
	AuthURL         string   `json:"auth_url"`
	TokenURL        string   `json:"token_url"`
	APIURL          string   `json:"api_url"`
	// Source is config (the configuration file: read-only here) or admin.
	Source string `json:"source"`
	// CallbackURL is the redirect URI to register at the provider.
	CallbackURL string     `json:"callback_url"`
	CreatedAt   *time.Time `json:"created_at,omitempty"`
	UpdatedAt   *time.Time `json:"updated_at,omitempty"`
}

func (sp ProviderSpec) config() ProviderConfig {
	kind := sp.Kind
	if kind == "" {
		kind = KindOIDC
	}
	return ProviderConfig{
		ID: sp.ID, Kind: kind, Name: sp.Name, Style: sp.Style, LogoURL: sp.LogoURL, Issuer: sp.Issuer, Tenant: sp.Tenant,
		ClientID: sp.ClientID, ClientSecret: sp.ClientSecret, Scopes: sp.Scopes,
		Claims:         ClaimMapping{Subject: sp.Claims.Subject, Email: sp.Claims.Email, EmailVerified: sp.Claims.EmailVerified, Name: sp.Claims.Name, Picture: sp.Claims.Picture},
		AllowedDomains: sp.AllowedDomains, LinkOnly: sp.LinkOnly, TrustMFA: sp.TrustMFA, StoreTokens: sp.StoreTokens,
		AuthURL: sp.AuthURL, TokenURL: sp.TokenURL, APIURL: sp.APIURL,
	}
}

func configOfRow(r storage.UpstreamProvider) ProviderConfig {
	return ProviderConfig{
		ID: r.ID, Kind: r.Kind, Name: r.Name, Style: r.Style, LogoURL: r.LogoURL, Issuer: r.Issuer, Tenant: r.Tenant,
		ClientID: r.ClientID, ClientSecret: r.ClientSecret, Scopes: []string(r.Scopes),
		Claims:         ClaimMapping{Subject: r.ClaimSubject, Email: r.ClaimEmail, EmailVerified: r.ClaimEmailVerified, Name: r.ClaimName, Picture: r.ClaimPicture},
		AllowedDomains: []string(r.AllowedDomains), LinkOnly: r.LinkOnly, TrustMFA: r.TrustMFA, StoreTokens: r.StoreTokens,
		AuthURL: r.AuthURL, TokenURL: r.TokenURL, APIURL: r.APIURL,
	}
}

func rowOf(c ProviderConfig) storage.UpstreamProvider {
	return storage.UpstreamProvider{
		ID: c.ID, Kind: c.Kind, Name: c.Name, Style: c.Style, LogoURL: c.LogoURL, Issuer: c.Issuer, Tenant: c.Tenant,
		ClientID: c.ClientID, ClientSecret: c.ClientSecret, Scopes: storage.StringList(c.Scopes),
		ClaimSubject: c.Claims.Subject, ClaimEmail: c.Claims.Email, ClaimEmailVerified: c.Claims.EmailVerified, ClaimName: c.Claims.Name,
		ClaimPicture: c.Claims.Picture, AllowedDomains: storage.StringList(c.AllowedDomains), LinkOnly: c.LinkOnly, TrustMFA: c.TrustMFA,
		StoreTokens: c.StoreTokens, AuthURL: c.AuthURL, TokenURL: c.TokenURL, APIURL: c.APIURL,
	}
}

func (s *Service) viewOf(c ProviderConfig, source string) ProviderView {
	kind := c.Kind
	if kind == "" {
		kind = KindOIDC
	}
	orEmpty := func(l []string) []string {
		if l == nil {
			return []string{}
		}
		return l
	}
	return ProviderView{
		ID: c.ID, Kind: kind, Name: c.Name, Style: c.Style, LogoURL: c.LogoURL, Issuer: c.Issuer, Tenant: c.Tenant, ClientID: c.ClientID,
		ClientSecretSet: c.ClientSecret != "", Scopes: orEmpty(c.Scopes),
		Claims:         Claims{Subject: c.Claims.Subject, Email: c.Claims.Email, EmailVerified: c.Claims.EmailVerified, Name: c.Claims.Name, Picture: c.Claims.Picture},
		AllowedDomains: orEmpty(c.AllowedDomains), LinkOnly: c.LinkOnly, TrustMFA: c.TrustMFA, StoreTokens: c.StoreTokens,
		AuthURL: c.AuthURL, TokenURL: c.TokenURL, APIURL: c.APIURL, Source: source, CallbackURL: s.issuer + CallbackPath(c.ID),
	}
}

func (s *Service) viewOfRow(r storage.UpstreamProvider) ProviderView {
	v := s.viewOf(configOfRow(r), SourceAdmin)
	created, updated := r.CreatedAt, r.UpdatedAt
	v.CreatedAt, v.UpdatedAt = &created, &updated
	return v
}

// storedSet is the providers added at run time, as last read.
type storedSet struct {
	list []*provider
	byID map[string]*provider
}

// readTimeout bounds one read of the stored providers, and failBackoff is how
// long the last list read is used, without asking again, after a read failed.
const (
	readTimeout = 2 * time.Second
	failBackoff = 5 * time.Second
)

// lookup returns provider id: a configured one, else one added at run time.
func (s *Service) lookup(ctx context.Context, id string) (*provider, bool) {
	if s == nil {
		return nil, false
	}
	if p, ok := s.byID[id]; ok {
		return p, true
	}
	p, ok := s.storedProviders(ctx).byID[id]
	return p, ok
}

// all returns every provider offered: the configured ones, then those added
// at run time.
func (s *Service) all(ctx context.Context) []*provider {
	st := s.storedProviders(ctx)
	if len(st.list) == 0 {
		return s.providers
	}
	out := make([]*provider, 0, len(s.providers)+len(st.list))
	out = append(out, s.providers...)
	return append(out, st.list...)
}

// storedProviders returns the providers added at run time. They are kept in
// memory until a change is announced (by this instance or, on PostgreSQL with
// a listener, any other) while changes can be heard, otherwise for the TTL.
// When the database cannot answer, the last list read serves, and for a few
// seconds it is not asked again.
func (s *Service) storedProviders(ctx context.Context) storedSet {
	if s.provStore == nil {
		return storedSet{}
	}
	s.watchOnce.Do(func() { s.wake, s.stopWatch = s.provStore.Watch(storage.TopicProviders) })
	s.mu.Lock()
	if s.wake != nil {
		select {
		case <-s.wake:
			s.storedOK = false
			s.gen++
		default:
		}
	}
	if s.storedOK && (s.provStore.Listening() || s.now().Sub(s.loadedAt) < s.ttl) {
		st := s.stored
		s.mu.Unlock()
		return st
	}
	if s.now().Before(s.retryAt) {
		st := s.stored
		s.mu.Unlock()
		return st
	}
	gen, old := s.gen, s.stored
	s.mu.Unlock()

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readTimeout)
	rows, err := s.provStore.ListUpstreamProviders(rctx)
	cancel()
	if err != nil {
		s.log.WarnContext(ctx, "upstream providers: the stored ones could not be read; the last list read serves", "error", err.Error())
		s.mu.Lock()
		s.retryAt = s.now().Add(failBackoff)
		st := s.stored
		s.mu.Unlock()
		return st
	}
	st := storedSet{byID: map[string]*provider{}}
	for _, r := range rows {
		c := configOfRow(r)
		if _, clash := s.byID[c.ID]; clash {
			s.log.WarnContext(ctx, "upstream providers: a stored provider has the id of a configured one; the configured one is offered", "provider", c.ID)
			continue
		}
		if pr := check(c); len(pr) > 0 { // written past the service
			s.log.WarnContext(ctx, "upstream providers: a stored provider is not valid and is not offered", "provider", c.ID, "problem", (&ValidationError{Problems: pr}).Error())
			continue
		}
		p, ok := old.byID[c.ID]
		if !ok || !reflect.DeepEqual(p.src, c) {
			// New or changed: a changed provider discovers its issuer again.
			p = newProvider(c, s.issuer+CallbackPath(c.ID))
		}
		st.list = append(st.list, p)
		st.byID[c.ID] = p
	}
	s.mu.Lock()
	s.retryAt = time.Time{}
	if s.gen == gen {
		s.stored = st
		s.storedOK = s.ttl > 0 || s.provStore.Listening()
		s.loadedAt = s.now()
	}
	s.mu.Unlock()
	return st
}

// invalidate drops the stored providers kept in memory (after this instance
// changed them).
func (s *Service) invalidate() {
	s.mu.Lock()
	s.storedOK = false
	s.retryAt = time.Time{}
	s.gen++
	s.mu.Unlock()
}

// Close stops watching for changes of the stored providers.
func (s *Service) Close() {
	if s == nil {
		return
	}
	s.watchOnce.Do(func() {}) // no watch from now on
	if s.stopWatch != nil {
		s.stopWatch()
	}
}

// ListProviders returns every provider: the configuration file's, then those
// added through the admin API, as stored now (not as kept in memory).
func (s *Service) ListProviders(ctx context.Context) ([]ProviderView, error) {
	out := []ProviderView{}
	for _, p := range s.providers {
		out = append(out, s.viewOf(p.src, SourceConfig))
	}
	if s.provStore == nil {
		return out, nil
	}
	rows, err := s.provStore.ListUpstreamProviders(ctx)
	if err != nil {
		return nil, fmt.Errorf("federation: list providers: %w", err)
	}
	for _, r := range rows {
		if _, clash := s.byID[r.ID]; !clash {
			out = append(out, s.viewOfRow(r))
		}
	}
	return out, nil
}

// GetProvider returns provider id; storage.ErrNotFound when there is none.
func (s *Service) GetProvider(ctx context.Context, id string) (ProviderView, error) {
	if p, ok := s.byID[id]; ok {
		return s.viewOf(p.src, SourceConfig), nil
	}
	if s.provStore == nil {
		return ProviderView{}, fmt.Errorf("federation: get provider: %w", storage.ErrNotFound)
	}
	r, err := s.provStore.GetUpstreamProvider(ctx, id)
	if err != nil {
		return ProviderView{}, fmt.Errorf("federation: get provider: %w", err)
	}
	return s.viewOfRow(r), nil
}

// AddProvider stores a new provider and offers it at once on this instance,
// and on the others as soon as they hear of the change (within the cache TTL
// where changes cannot be heard). Invalid fields are a *ValidationError, an
// id of the configuration file ErrConfigured, an id stored already
// storage.ErrConflict; nothing is stored then.
func (s *Service) AddProvider(ctx context.Context, spec ProviderSpec) (ProviderView, error) {
	if !s.canStore() {
		return ProviderView{}, ErrNotSetUp
	}
	c := spec.config()
	if pr := check(c); len(pr) > 0 {
		return ProviderView{}, &ValidationError{Problems: pr}
	}
	if _, ok := s.byID[c.ID]; ok {
		return ProviderView{}, fmt.Errorf("federation: add provider %s: %w", c.ID, ErrConfigured)
	}
	r, err := s.provStore.CreateUpstreamProvider(ctx, rowOf(c))
	if err != nil {
		return ProviderView{}, fmt.Errorf("federation: add provider: %w", err)
	}
	s.invalidate()
	s.log.InfoContext(ctx, "upstream provider added", "provider", c.ID, "kind", c.Kind)
	return s.viewOfRow(r), nil
}

// ChangeProvider replaces every field of the stored provider id with spec's
// (an empty client secret keeps the stored one) and offers the change as
// AddProvider does. A spec naming another id, or invalid fields, is a
// *ValidationError; a configured provider ErrConfigured; a missing one
// storage.ErrNotFound. Nothing changes then.
func (s *Service) ChangeProvider(ctx context.Context, id string, spec ProviderSpec) (ProviderView, error) {
	if _, ok := s.byID[id]; ok {
		return ProviderView{}, fmt.Errorf("federation: change provider %s: %w", id, ErrConfigured)
	}
	if !s.canStore() {
		return ProviderView{}, ErrNotSetUp
	}
	if spec.ID != "" && spec.ID != id {
		return ProviderView{}, &ValidationError{Problems: []Problem{{"id", "must be the id in the path, " + id + " (an id cannot change: remove the provider and add it anew)"}}}
	}
	old, err := s.provStore.GetUpstreamProvider(ctx, id)
	if err != nil {
		return ProviderView{}, fmt.Errorf("federation: change provider: %w", err)
	}
	spec.ID = id
	c := spec.config()
	if c.ClientSecret == "" {
		c.ClientSecret = old.ClientSecret
	}
	if pr := check(c); len(pr) > 0 {
		return ProviderView{}, &ValidationError{Problems: pr}
	}
	r, err := s.provStore.UpdateUpstreamProvider(ctx, rowOf(c))
	if err != nil {
		return ProviderView{}, fmt.Errorf("federation: change provider: %w", err)
	}
	s.invalidate()
	s.log.InfoContext(ctx, "upstream provider changed", "provider", id, "secret_changed", spec.ClientSecret != "")
	return s.viewOfRow(r), nil
}

// RemoveProvider removes the stored provider id. Its users' external
// identities stay: they cannot sign in through it until a provider with this
// id is added again. A configured provider is ErrConfigured; a missing one
// storage.ErrNotFound.
func (s *Service) RemoveProvider(ctx context.Context, id string) error {
	if _, ok := s.byID[id]; ok {
		return fmt.Errorf("federation: remove provider %s: %w", id, ErrConfigured)
	}
	if s.provStore == nil {
		return fmt.Errorf("federation: remove provider: %w", storage.ErrNotFound)
	}
	if err := s.provStore.DeleteUpstreamProvider(ctx, id); err != nil {
		return fmt.Errorf("federation: remove provider: %w", err)
	}
	s.invalidate()
	s.log.InfoContext(ctx, "upstream provider removed", "provider", id)
	return nil
}

// canStore reports whether providers can be added: the service has the store
// and what a sign-in through them needs (New sets provStore only then).
func (s *Service) canStore() bool {
	return s.provStore != nil
}
