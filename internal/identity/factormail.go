package identity

import (
	"context"
	"errors"
	"strings"

	"github.com/gatehouse-id/gatehouse/storage"
)

// factorChangeKey is the message key of the sentence naming a change of the
// user's second factors, as internal/mfa reports it (mfa.Notifier: change
// "added", "removed", "recovery_codes" or "reset"; kind storage.FactorTOTP or
// storage.FactorWebAuthn for the first two), or "" for a change it does not
// know.
func factorChangeKey(change, kind string) string {
	switch change {
	case "added":
		switch kind {
		case storage.FactorTOTP:
			return "mail.factors.totp_added"
		case storage.FactorWebAuthn:
			return "mail.factors.passkey_added"
		}
		return "mail.factors.factor_added"
	case "removed":
		switch kind {
		case storage.FactorTOTP:
			return "mail.factors.totp_removed"
		case storage.FactorWebAuthn:
			return "mail.factors.passkey_removed"
		}
		return "mail.factors.factor_removed"
	case "recovery_codes":
		return "mail.factors.recovery_codes"
	case "reset":
		return "mail.factors.reset"
	}
	return ""
}

// FactorsChanged mails the user that a sign-in method of the account was
// added or removed, its recovery codes made anew, or every factor reset by an
// operator (mfa.Notifier): what changed, when, and what to do if it was not
// them. The mail holds no secret or code. A failure is logged, never
// returned: the change is made already.
func (s *Service) FactorsChanged(ctx context.Context, userID, change, kind string) {
	if err := s.sendFactorsChanged(ctx, userID, change, kind); err != nil {
		s.log.ErrorContext(ctx, "send sign-in method change mail", "user_id", userID, "change", change, "error", err.Error())
		return
	}
	s.log.InfoContext(ctx, "sign-in method change mail sent", "user_id", userID, "change", change)
}

func (s *Service) sendFactorsChanged(ctx context.Context, userID, change, kind string) error {
	key := factorChangeKey(change, kind)
	if key == "" {
		return errors.New("unknown change " + change)
	}
	if s.mail == nil {
		return errors.New("no mail sender configured")
	}
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return err
	}
	m, err := s.compose(ctx, mailFactors, u, "mail.factors.action", 0, MailData{
		Link:   s.link("/account#methods-section", nil),
		Change: strings.TrimPrefix(key, "mail.factors."),
		When:   s.now().UTC().Format("2006-01-02 15:04 UTC"),
	})
	if err != nil {
		return err
	}
	return s.mail.Send(ctx, m)
}
