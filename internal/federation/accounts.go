package federation

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/storage"
)

// The codes of Error for upstream tokens (Token).
const (
	// CodeTokensNotKept: the operator does not keep this provider's tokens
	// (store_tokens is off).
	CodeTokensNotKept = "tokens_not_kept"
	// CodeNoTokens: the provider's tokens are kept, but none for this
	// identity (imported, or linked before store_tokens was turned on):
	// signing in through the provider again keeps them.
	CodeNoTokens = "no_tokens"
	// CodeTokenExpired: the kept access token has expired and there is no
	// refresh token to get another.
	CodeTokenExpired = "token_expired"
)

// refreshEarly is how long before its expiry a kept access token is
// refreshed, so that the application does not get one about to die.
const refreshEarly = 30 * time.Second

// Account is an external identity as the JSON API lists it (Better Auth's
// account): ID is the identity's id here, AccountID the upstream subject.
type Account struct {
	ID, Provider, AccountID string
	// Scopes are the scopes Gatehouse asks the provider for; none when the
	// provider is no longer configured.
	Scopes               []string
	CreatedAt, UpdatedAt time.Time
}

// Accounts lists the user's external identities, by provider and subject.
func (s *Service) Accounts(ctx context.Context, userID string) ([]Account, error) {
	if s == nil || s.store == nil {
		return nil, nil
	}
	list, err := s.store.ListExternalIdentities(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("federation: accounts: %w", err)
	}
	out := make([]Account, 0, len(list))
	for _, e := range list {
		a := Account{ID: e.ID, Provider: e.Provider, AccountID: e.AccountID, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, Scopes: []string{}}
		if p, ok := s.lookup(ctx, e.Provider); ok {
			a.Scopes = slices.Clone(p.oauth.Scopes)
		}
		out = append(out, a)
	}
	return out, nil
}

// UpstreamToken is a valid upstream access token of an external identity.
// It never appears in logs (LogValue).
type UpstreamToken struct {
	AccessToken string
	TokenType   string
	// Expiry is zero when the provider did not say.
	Expiry time.Time
	// Scopes are the scopes Gatehouse asks the provider for.
	Scopes []string
	// Refreshed is set when the kept token had expired and was refreshed
	// now.
	Refreshed bool
}

// LogValue keeps the token out of logs.
func (t UpstreamToken) LogValue() slog.Value {
	return slog.GroupValue(slog.Time("expiry", t.Expiry), slog.Bool("refreshed", t.Refreshed))
}

// Token returns a valid access token of the user's external identity
// identityID, for applications that call the provider's API. A kept token
// that has expired (by the service's clock, refreshEarly before its expiry)
// is refreshed at the provider through the guarded client, and the new one
// kept. Another user's identity, or none, is storage.ErrNotFound; a
// provider no longer configured is CodeUnknownProvider; then
// CodeTokensNotKept, CodeNoTokens, CodeTokenExpired; a refresh the provider
// refuses is CodeUpstreamError, one that cannot reach it
// CodeUpstreamUnavailable.
func (s *Service) Token(ctx context.Context, userID, identityID string) (UpstreamToken, error) {
	if s == nil || s.store == nil {
		return UpstreamToken{}, fmt.Errorf("federation: token: %w", storage.ErrNotFound)
	}
	list, err := s.store.ListExternalIdentities(ctx, userID)
	if err != nil {
		return UpstreamToken{}, fmt.Errorf("federation: token: %w", err)
	}
	i := slices.IndexFunc(list, func(e storage.ExternalIdentity) bool { return e.ID == identityID })
	if i < 0 {
		return UpstreamToken{}, fmt.Errorf("federation: token: %w", storage.ErrNotFound)
	}
	e := list[i]
	p, ok := s.lookup(ctx, e.Provider)
	if !ok {
		return UpstreamToken{}, fail(CodeUnknownProvider, e.Provider, "", nil)
	}
	if !p.cfg.StoreTokens {
		return UpstreamToken{}, fail(CodeTokensNotKept, e.Provider, "", nil)
	}
	b, err := s.store.ExternalIdentityTokens(ctx, e.ID)
	if err != nil {
		return UpstreamToken{}, fmt.Errorf("federation: token: %w", err)
	}
	var st storedToken
	if b == nil || json.Unmarshal(b, &st) != nil || st.AccessToken == "" {
		return UpstreamToken{}, fail(CodeNoTokens, e.Provider, "", nil)
	}
	out := UpstreamToken{AccessToken: st.AccessToken, TokenType: st.TokenType, Expiry: st.Expiry, Scopes: slices.Clone(p.oauth.Scopes)}
	if st.Expiry.IsZero() || s.now().Before(st.Expiry.Add(-refreshEarly)) {
		return out, nil
	}
	if st.RefreshToken == "" {
		return UpstreamToken{}, fail(CodeTokenExpired, e.Provider, "", nil)
	}
	conf := p.oauth
	if p.cfg.Kind != KindGitHub {
		if _, _, conf, err = p.discover(s.client(ctx)); err != nil {
			return UpstreamToken{}, fail(CodeUpstreamUnavailable, e.Provider, "discovery", err)
		}
	}
	// A token without an access token is never valid to x/oauth2: it
	// refreshes, and keeps the refresh token when the answer has none.
	tok, err := conf.TokenSource(s.client(ctx), &oauth2.Token{RefreshToken: st.RefreshToken}).Token()
	if err != nil {
		return UpstreamToken{}, upstreamFailure(e.Provider, "refresh", err)
	}
	if !tok.Expiry.IsZero() {
		// expires_in counts from now: by the service's clock.
		tok.Expiry = s.now().Add(time.Until(tok.Expiry))
	}
	if err := s.keepTokens(ctx, p, e.ID, tok); err != nil {
		return UpstreamToken{}, err
	}
	s.log.InfoContext(ctx, "upstream token refreshed", "user_id", userID, "provider", e.Provider)
	out.AccessToken, out.TokenType, out.Expiry, out.Refreshed = tok.AccessToken, tok.TokenType, tok.Expiry, true
	return out, nil
}
