package identity

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/reqlog"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Mail and sign-ups are rationed per hour, in the database so that every
// instance counts together. The keys share the sign-in throttle table (and its
// sweeping) under their own prefixes. A request refused by one limit is not
// counted by the limits after it, so a client that is over its own budget does
// not spend an address's.

// rationMail takes one mail to email caused from ip out of both budgets, or
// returns a *ThrottledError (ThrottleMail) when either is spent. The address is
// counted by the hash of its normalised form whether or not an account has it,
// so that the 429 does not tell registered addresses from others. ip "" (not
// known) has no budget of its own.
func (s *Service) rationMail(ctx context.Context, now time.Time, email, ip string) error {
	if ip != "" {
		if err := s.take(ctx, now, "mail-ip", ipPart(ip), s.mailFromLimit, ThrottleMail); err != nil {
			return err
		}
	}
	return s.take(ctx, now, "mail-to", emailHash(email), s.mailToLimit, ThrottleMail)
}

// rationSignUp takes one sign-up from ip's budget, or returns a *ThrottledError
// (ThrottleSignUp) when it is spent.
func (s *Service) rationSignUp(ctx context.Context, now time.Time, ip string) error {
	if ip == "" {
		return nil
	}
	return s.take(ctx, now, "signup-ip", ipPart(ip), s.signUpLimit, ThrottleSignUp)
}

// take counts one event of kind for id under l, or returns the *ThrottledError
// with reason when l is spent. The refusal joins the request's access-log line
// (kind only: id is an address or its hash).
func (s *Service) take(ctx context.Context, now time.Time, kind, id string, l storage.RateLimit, reason ThrottleReason) error {
	d, err := s.store.TakeRateLimit(ctx, kind+":"+id, now, l)
	if err != nil {
		return fmt.Errorf("ration %s: %w", kind, err)
	}
	if d.Allowed {
		return nil
	}
	attrs := []slog.Attr{slog.String("rate_limited", kind), slog.Int("limit_per_hour", l.Max)}
	if !reqlog.Add(ctx, attrs...) {
		s.log.LogAttrs(ctx, slog.LevelInfo, "over the hourly limit", attrs...)
	}
	return &ThrottledError{RetryAfter: d.RetryAt.Sub(now), Reason: reason}
}
