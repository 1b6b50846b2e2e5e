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
	// Nonce is known only to the browser that holds the cookie: a mailed
	// link (MailLink) is bound to it, with the provider, subject and user.
	Nonce string `json:"n,omitempty"`
	// API marks a link of a flow the JSON API began: Continue is the
	// caller's callbackURL, checked against the trusted origins at Begin.
	API bool `json:"i,omitempty"`
	// Token is the first upstream token, for providers whose tokens are
	// kept (store_tokens); the cookie is sealed. Nil when not kept or too
	// large for a cookie.
	Token *storedToken `json:"t,omitempty"`
	// ACR is the upstream ID token's acr, kept on the identity once linked.
	ACR string `json:"r,omitempty"`
}

// binding names the pending link for a mailed link: the provider, subject
// and user it would link, and the nonce only this browser's cookie holds.
func (l *PendingLink) binding() string {
	return l.Provider + "\x00" + l.Subject + "\x00" + l.UserID + "\x00" + l.Nonce
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
		if err := s.signedIn(ctx, p, e.ID, email, up.ACR, up.Token); err != nil {
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
		if err := s.link(ctx, p, st.LinkUser, up.Subject, email, up.ACR, up.Token); err != nil {
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
			Expires: s.now().Add(pendingTTL).Unix(), Nonce: random(), API: st.API, ACR: up.ACR}
		if p.cfg.StoreTokens && up.Token != nil {
			pl.Token = &storedToken{AccessToken: up.Token.AccessToken, TokenType: up.Token.TokenType, RefreshToken: up.Token.RefreshToken, Expiry: up.Token.Expiry}
		}
		if err := s.setPending(ctx, w, pl); err != nil {
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
		Provider: id, AccountID: up.Subject, Email: email, EmailVerified: true, Name: up.Name, Picture: up.Picture, ACR: up.ACR,
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
func (s *Service) signedIn(ctx context.Context, p *provider, identityID, email, acr string, tok *oauth2.Token) error {
	if err := s.store.RecordExternalSignIn(ctx, identityID, email, acr, s.now()); err != nil {
		return fmt.Errorf("federation: record sign-in: %w", err)
	}
	return s.keepTokens(ctx, p, identityID, tok)
}

// link stores the upstream account as userID's; acr is the ID token's.
func (s *Service) link(ctx context.Context, p *provider, userID, subject, email, acr string, tok *oauth2.Token) error {
	at := s.now()
	e, err := s.store.CreateExternalIdentity(ctx, storage.ExternalIdentity{UserID: userID, Provider: p.cfg.ID, AccountID: subject, Email: email,
		LastSignInAt: &at, LastACR: acr})
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

// maxCookieValue bounds a cookie's value, below what browsers keep (4096
// bytes with the name and attributes) and what readCookie accepts.
const maxCookieValue = 3800

// setPending keeps pl in the pending cookie for pendingTTL. Upstream tokens
// too large for a cookie are left out (and so not kept after the link).
func (s *Service) setPending(ctx context.Context, w http.ResponseWriter, pl *PendingLink) error {
	if pl.Token != nil {
		v, err := s.sealValue(pendingAAD, pl)
		if err != nil {
			return err
		}
		if len(v) > maxCookieValue {
			s.log.WarnContext(ctx, "upstream tokens too large to carry to the link; not kept", "provider", pl.Provider)
			pl.Token = nil
		}
	}
	return s.setCookie(w, s.pendingCookie(), pendingAAD, pl, pendingTTL)
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
	var tok *oauth2.Token
	if t := pl.Token; t != nil {
		tok = &oauth2.Token{AccessToken: t.AccessToken, TokenType: t.TokenType, RefreshToken: t.RefreshToken, Expiry: t.Expiry}
	}
	if err := s.link(ctx, p, userID, pl.Subject, pl.Email, pl.ACR, tok); err != nil {
		return Result{}, err
	}
	return Result{UserID: userID, AMR: pl.AMR, Continue: pl.Continue, Provider: pl.Provider, Linked: true, API: pl.API}, nil
}

// MailLink mails the owner of the pending link's account a single-use link
// (identity.SendLinkProof) that makes the link when opened in this browser
// within 15 minutes (ConfirmMailedLink). It renews the pending cookie for as
// long. ip is the client's address, for rationing; a *identity.ThrottledError
// sends nothing. No pending link is CodeBadState.
func (s *Service) MailLink(ctx context.Context, w http.ResponseWriter, r *http.Request, ip string) (*PendingLink, error) {
	pl, ok := s.Pending(r)
	if !ok {
		return nil, fail(CodeBadState, "", "no pending link", nil)
	}
	if pl.Nonce == "" {
		pl.Nonce = random()
	}
	pl.Expires = s.now().Add(pendingTTL).Unix()
	if err := s.setPending(ctx, w, pl); err != nil {
		return pl, err
	}
	if err := s.users.SendLinkProof(ctx, pl.UserID, pl.binding(), s.Name(pl.Provider), ip); err != nil {
		if errors.Is(err, identity.ErrDisabled) {
			return pl, fail(CodeDisabled, pl.Provider, "", nil)
		}
		return pl, fmt.Errorf("federation: mail link: %w", err)
	}
	return pl, nil
}

// ConfirmMailedLink makes the pending link when token is the one MailLink
// mailed for it: the same browser (its pending cookie names the token's
// provider, subject and user, and holds its nonce), within 15 minutes, once.
// Then it is ConfirmLink. No pending link here, another browser's, an
// expired or a used token is CodeLinkInvalid, and nothing is linked.
func (s *Service) ConfirmMailedLink(ctx context.Context, w http.ResponseWriter, r *http.Request, token string) (Result, error) {
	pl, ok := s.Pending(r)
	if !ok {
		return Result{}, fail(CodeLinkInvalid, "", "no pending link in this browser", nil)
	}
	u, err := s.users.ConsumeLinkProof(ctx, token, pl.binding())
	switch {
	case errors.Is(err, identity.ErrInvalidToken):
		return Result{}, fail(CodeLinkInvalid, pl.Provider, "unknown, used or expired link, or another browser's", nil)
	case errors.Is(err, identity.ErrDisabled):
		return Result{}, fail(CodeDisabled, pl.Provider, "", nil)
	case err != nil:
		return Result{}, fmt.Errorf("federation: mailed link: %w", err)
	}
	return s.ConfirmLink(ctx, w, r, u.ID)
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
// way to sign in (no password, no passkey and no other identity):
// CodeLastMethod.
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
		has, err := s.hasPasskey(ctx, userID)
		if err != nil {
			return fmt.Errorf("federation: unlink: %w", err)
		}
		if !has {
			return fail(CodeLastMethod, "", "", nil)
		}
	}
	if err := s.store.DeleteExternalIdentity(ctx, userID, id); err != nil {
		return fmt.Errorf("federation: unlink: %w", err)
	}
	s.log.InfoContext(ctx, "upstream identity unlinked", "user_id", userID, "identity_id", id)
	return nil
}

// hasPasskey reports whether the user has a confirmed passkey, a way to sign
// in without a password.
func (s *Service) hasPasskey(ctx context.Context, userID string) (bool, error) {
	if s.factors == nil {
		return false, nil
	}
	list, err := s.factors.ListFactors(ctx, userID)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(list, func(f storage.Factor) bool { return f.Kind == storage.FactorWebAuthn && f.Confirmed() }), nil
}
