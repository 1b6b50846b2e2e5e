package identity

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// LinkProofTTL is how long a link SendLinkProof mails works.
const LinkProofTTL = 15 * time.Minute

// LinkProofPath is the page a link SendLinkProof mails opens (internal/web).
const LinkProofPath = "/signin/link/mail"

// SendLinkProof mails user userID a link that proves they hold the account,
// so that an upstream identity may be linked to it (internal/federation). The
// link works once, for LinkProofTTL, and only with binding: what the asking
// browser's pending link names (ConsumeLinkProof). provider is the upstream
// provider's name, for the mail. A new link revokes the user's older unused
// ones. It is rationed like the other mails (per address and per client
// address ip, "" when unknown): past a limit it returns a *ThrottledError and
// sends nothing. A disabled user gets ErrDisabled.
func (s *Service) SendLinkProof(ctx context.Context, userID, binding, provider, ip string) error {
	if binding == "" {
		return errors.New("send link proof: no binding")
	}
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("send link proof: %w", err)
	}
	if u.Disabled {
		return ErrDisabled
	}
	now := s.now()
	if err := s.rationMail(ctx, now, u.Email, ip); err != nil {
		return s.rationError("send link proof", err)
	}
	if s.mail == nil {
		return errors.New("send link proof: no mail sender configured")
	}
	token := randomToken()
	err = s.store.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.store.DeleteUserTokens(ctx, u.ID, storage.TokenLinkAccount); err != nil {
			return err
		}
		_, err := s.store.CreateUserToken(ctx, storage.UserToken{
			UserID: u.ID, Purpose: storage.TokenLinkAccount, TokenHash: tokenHash(token),
			BrowserHash: tokenHash(binding), ExpiresAt: now.Add(LinkProofTTL),
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("send link proof: %w", err)
	}
	m, err := s.compose(ctx, mailLinkAccount, u, "mail.link.action", LinkProofTTL, MailData{
		Link: s.tokenLink(LinkProofPath, token, nil), Provider: provider,
	})
	if err != nil {
		return fmt.Errorf("send link proof: %w", err)
	}
	if err := s.mail.Send(ctx, m); err != nil {
		return fmt.Errorf("send link proof: %w", err)
	}
	s.log.InfoContext(ctx, "link proof mail sent", "user_id", u.ID)
	return nil
}

// ConsumeLinkProof spends a token SendLinkProof mailed and returns its user,
// when binding is the one it was mailed for. An unknown, used or expired
// token, or another binding (the link opened in another browser), gets
// ErrInvalidToken; a token refused for its binding stays unspent, so the
// right browser may still use it. A disabled user gets ErrDisabled and the
// token is spent.
func (s *Service) ConsumeLinkProof(ctx context.Context, token, binding string) (storage.User, error) {
	if !wellFormed(token) || binding == "" {
		return storage.User{}, ErrInvalidToken
	}
	var u storage.User
	err := s.store.InTx(ctx, func(ctx context.Context) error {
		t, err := s.store.ConsumeUserToken(ctx, storage.TokenLinkAccount, tokenHash(token), s.now())
		if errors.Is(err, storage.ErrNotFound) {
			return ErrInvalidToken
		}
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare(t.BrowserHash, tokenHash(binding)) != 1 {
			// Rolled back: the token stays for the browser it belongs to.
			return ErrInvalidToken
		}
		u, err = s.store.GetUser(ctx, t.UserID)
		return err
	})
	if errors.Is(err, ErrInvalidToken) {
		s.log.InfoContext(ctx, "link proof refused: unknown, used, expired or another browser's")
		return storage.User{}, ErrInvalidToken
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("consume link proof: %w", err)
	}
	if u.Disabled {
		return storage.User{}, ErrDisabled
	}
	return u, nil
}
