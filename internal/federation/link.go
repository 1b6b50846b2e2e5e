package federation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"golang.org/x/oauth2"

	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
)

// pendingTTL is how long a person has to prove the existing account.
const pendingTTL = 15 * time.Minute

// PendingLink is an upstream account whose address belongs to a user, waiting
// for that user to prove the account (ConfirmLink).
type PendingLink struct {
	Provider string   `json:"p"`
	Subject  string   `json:"s"`
	Email    string   `json:"m"`
	UserID   string   `json:"u"`
	Continue string   `json:"c"`
	AMR      []string `json:"a"`
	Expires  int64    `json:"e"`
}

func (l *PendingLink) expires() int64 { return l.Expires }

// amrOf is the session's amr after a sign-in through p: "fed", and "mfa"
// when the operator trusts p for it and its own sign-in used a second factor
// (RFC 8176 mfa, otp or hwk).
func amrOf(p *provider, upstream []string) []string {
	amr := []string{"fed"}
	if p.cfg.TrustMFA && slices.ContainsFunc(upstream, func(m string) bool { return m == "mfa" || m == "otp" || m == "hwk" }) {
		amr = append(amr, "mfa")
	}
	return amr
}

// resolve decides what an upstream account means here: sign in its user,
// link it to the signed-in user, ask the address's owner to prove the
// account, or make a new user.
func (s *Service) resolve(ctx context.Context, w http.ResponseWriter, p *provider, up upstreamUser, st flowState, res Result) (Result, error) {
	id := p.cfg.ID
	res.AMR = amrOf(p, up.AMR)
	email := storage.NormalizeEmail(up.Email)
	if !p.domainAllowed(email) {
		return res, fail(CodeDomainNotAllowed, id, "", nil)
	}
	e, err := s.store.GetExternalIdentity(ctx, id, up.Subject)
	switch {
	case err == nil:
		if st.LinkUser != "" && e.UserID != st.LinkUser {
			return res, fail(CodeLinkedElsewhere, id, "", nil)
		}
		u, err := s.users.GetUser(ctx, e.UserID)
		if err != nil {
			return res, fmt.Errorf("federation: user of identity: %w", err)
		}
		if u.Disabled {
			return res, fail(CodeDisabled, id, "", nil)
		}
		if err := s.signedIn(ctx, p, e.ID, email, up.Token); err != nil {
			return res, err
		}
		res.UserID = e.UserID
		return res, nil
	case !errors.Is(err, storage.ErrNotFound):
		return res, fmt.Errorf("federation: look up identity: %w", err)
	}
	if st.LinkUser != "" {
		// The signed-in user proved the account by being signed in, and
		// the provider by this flow.
		if err := s.link(ctx, p, st.LinkUser, up.Subject, email, up.Token); err != nil {
			return res, err
		}
		res.UserID, res.Linked = st.LinkUser, true
		return res, nil
	}
	if email == "" || identity.ValidateEmail(email) != nil {
		return res, fail(CodeNoEmail, id, "", nil)
	}
	if !up.EmailVerified {
		// Never a link, nor an account, on an address the provider did not
		// vouch for: anyone can type someone else's address there.
		return res, fail(CodeUnverifiedEmail, id, "", nil)
	}
	owner, err := s.store.GetUserByEmail(ctx, email)
	switch {
	case err == nil:
		if owner.Disabled {
			return res, fail(CodeDisabled, id, "", nil)
		}
		pl := &PendingLink{Provider: id, Subject: up.Subject, Email: owner.Email, UserID: owner.ID, Continue: st.Continue, AMR: res.AMR,
			Expires: s.now().Add(pendingTTL).Unix()}
		if err := s.setCookie(w, s.pendingCookie(), pendingAAD, pl, pendingTTL); err != nil {
			return res, err
		}
		res.Pending = pl
		return res, nil
	case !errors.Is(err, storage.ErrNotFound):
		return res, fmt.Errorf("federation: look up address: %w", err)
	}
	if p.cfg.LinkOnly {
		return res, fail(CodeNoAccount, id, "", nil)
	}
	u, e, err := s.users.CreateFederatedUser(ctx, identity.FederatedSignUp{
		Provider: id, AccountID: up.Subject, Email: email, EmailVerified: true, Name: up.Name, Picture: up.Picture,
	})
	if err != nil {
		return res, fmt.Errorf("federation: %w", err)
	}
	if err := s.keepTokens(ctx, p, e.ID, up.Token); err != nil {
		return res, err
	}
	res.UserID, res.Created = u.ID, true
	return res, nil
}

// signedIn records a sign-in through an existing identity.
func (s *Service) signedIn(ctx context.Context, p *provider, identityID, email string, tok *oauth2.Token) error {
	if err := s.store.RecordExternalSignIn(ctx, identityID, email, s.now()); err != nil {
		return fmt.Errorf("federation: record sign-in: %w", err)
	}
	return s.keepTokens(ctx, p, identityID, tok)
}

// link stores the upstream account as userID's.
func (s *Service) link(ctx context.Context, p *provider, userID, subject, email string, tok *oauth2.Token) error {
	at := s.now()
	e, err := s.store.CreateExternalIdentity(ctx, storage.ExternalIdentity{UserID: userID, Provider: p.cfg.ID, AccountID: subject, Email: email, LastSignInAt: &at})
	if errors.Is(err, storage.ErrConflict) {
		return fail(CodeLinkedElsewhere, p.cfg.ID, "", err)
	}
	if err != nil {
		return fmt.Errorf("federation: link: %w", err)
	}
	s.log.InfoContext(ctx, "upstream identity linked", "user_id", userID, "provider", p.cfg.ID)
	return s.keepTokens(ctx, p, e.ID, tok)
}

// storedToken is how upstream tokens are kept (sealed by the store).
type storedToken struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
}

// keepTokens keeps tok when the operator asked for p's tokens.
func (s *Service) keepTokens(ctx context.Context, p *provider, identityID string, tok *oauth2.Token) error {
	if !p.cfg.StoreTokens || tok == nil {
		return nil
	}
	b, err := json.Marshal(storedToken{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry})
	if err != nil {
		return err
	}
	if err := s.store.SetExternalIdentityTokens(ctx, identityID, b); err != nil {
		return fmt.Errorf("federation: keep tokens: %w", err)
	}
	return nil
}

// Pending returns the link waiting in this browser, if any.
func (s *Service) Pending(r *http.Request) (*PendingLink, bool) {
	if s == nil {
		return nil, false
	}
	var pl PendingLink
	if !s.readCookie(r, s.pendingCookie(), pendingAAD, &pl) {
		return nil, false
	}
	if _, ok := s.lookup(r.Context(), pl.Provider); !ok {
		return nil, false
	}
	return &pl, true
}

// ConfirmLink makes the pending link once the caller has checked that the
// person proved userID's account (the password, a passkey); it clears the
// pending cookie and returns the result to sign in with. A pending link of
// another user is CodeBadState.
func (s *Service) ConfirmLink(ctx context.Context, w http.ResponseWriter, r *http.Request, userID string) (Result, error) {
	pl, ok := s.Pending(r)
	if !ok || pl.UserID != userID {
		return Result{}, fail(CodeBadState, "", "no pending link for this user", nil)
	}
	s.clearCookie(w, s.pendingCookie())
	p, ok := s.lookup(ctx, pl.Provider)
	if !ok { // removed since Pending looked
		return Result{}, fail(CodeUnknownProvider, pl.Provider, "", nil)
	}
	if err := s.link(ctx, p, userID, pl.Subject, pl.Email, nil); err != nil {
		return Result{}, err
	}
	return Result{UserID: userID, AMR: pl.AMR, Continue: pl.Continue, Provider: pl.Provider, Linked: true}, nil
}

// CancelLink forgets the pending link.
func (s *Service) CancelLink(w http.ResponseWriter) {
	if s != nil {
		s.clearCookie(w, s.pendingCookie())
	}
}

// Linked is an external identity as the account page shows it.
type Linked struct {
	ID, Provider, ProviderName, Email string
	LastSignInAt                      *time.Time
}

// Identities lists the user's external identities.
func (s *Service) Identities(ctx context.Context, userID string) ([]Linked, error) {
	if s == nil || s.store == nil {
		return nil, nil
	}
	list, err := s.store.ListExternalIdentities(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("federation: identities: %w", err)
	}
	out := make([]Linked, 0, len(list))
	for _, e := range list {
		out = append(out, Linked{ID: e.ID, Provider: e.Provider, ProviderName: s.Name(e.Provider), Email: e.Email, LastSignInAt: e.LastSignInAt})
	}
	return out, nil
}

// Unlink removes the user's external identity id, unless it is their last
// way to sign in (no password and no other identity): CodeLastMethod.
// Another user's identity is storage.ErrNotFound.
func (s *Service) Unlink(ctx context.Context, userID, id string) error {
	u, err := s.users.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("federation: unlink: %w", err)
	}
	list, err := s.store.ListExternalIdentities(ctx, userID)
	if err != nil {
		return fmt.Errorf("federation: unlink: %w", err)
	}
	if !slices.ContainsFunc(list, func(e storage.ExternalIdentity) bool { return e.ID == id }) {
		return fmt.Errorf("federation: unlink: %w", storage.ErrNotFound)
	}
	if u.PasswordHash == "" && len(list) < 2 {
		return fail(CodeLastMethod, "", "", nil)
	}
	if err := s.store.DeleteExternalIdentity(ctx, userID, id); err != nil {
		return fmt.Errorf("federation: unlink: %w", err)
	}
	s.log.InfoContext(ctx, "upstream identity unlinked", "user_id", userID, "identity_id", id)
	return nil
}

// AccessToken returns a valid upstream access token of the user's identity
// at provider, refreshing it (and keeping the new one) when it has expired,
// for applications that call the provider's API. ErrNotFound when the user
// has no such identity or no tokens are kept.
func (s *Service) AccessToken(ctx context.Context, userID, provider string) (string, error) {
	p, ok := s.lookup(ctx, provider)
	if !ok {
		return "", fail(CodeUnknownProvider, provider, "", nil)
	}
	list, err := s.store.ListExternalIdentities(ctx, userID)
	if err != nil {
		return "", fmt.Errorf("federation: access token: %w", err)
	}
	i := slices.IndexFunc(list, func(e storage.ExternalIdentity) bool { return e.Provider == provider })
	if i < 0 {
		return "", fmt.Errorf("federation: access token: %w", storage.ErrNotFound)
	}
	b, err := s.store.ExternalIdentityTokens(ctx, list[i].ID)
	if err != nil {
		return "", fmt.Errorf("federation: access token: %w", err)
	}
	var st storedToken
	if b == nil || json.Unmarshal(b, &st) != nil || st.AccessToken == "" {
		return "", fmt.Errorf("federation: access token: %w", storage.ErrNotFound)
	}
	old := &oauth2.Token{AccessToken: st.AccessToken, TokenType: st.TokenType, RefreshToken: st.RefreshToken, Expiry: st.Expiry}
	conf := p.oauth
	if p.cfg.Kind != KindGitHub {
		if _, _, conf, err = p.discover(s.client(ctx)); err != nil {
			return "", fail(CodeUpstreamUnavailable, provider, "discovery", err)
		}
	}
	tok, err := conf.TokenSource(s.client(ctx), old).Token()
	if err != nil {
		return "", upstreamFailure(provider, "refresh", err)
	}
	if tok.AccessToken != old.AccessToken {
		if err := s.keepTokens(ctx, p, list[i].ID, tok); err != nil {
			return "", err
		}
	}
	return tok.AccessToken, nil
}
