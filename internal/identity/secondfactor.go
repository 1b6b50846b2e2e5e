package identity

import (
	"context"
	"errors"
)

// Second-factor attempts (authenticator codes, recovery codes) are throttled
// by the same machinery and limits as passwords, under their own keys: per
// (account, client address), so that guesses at one account lock it for the
// guesser's address only, and per client address across accounts. A password
// typed right does not reset the second factor's count.

// secondFactorSubject names a user's second factor in throttle keys.
func secondFactorSubject(userID string) string { return "mfa:" + userID }

// secondFactorIPKey counts ip's second-factor failures across accounts.
func secondFactorIPKey(ip string) string {
	if ip == "" {
		return ""
	}
	return "mfa-ip:" + ipPart(ip)
}

// CheckSecondFactor returns a *ThrottledError when the user's second factor may
// not be tried from ip now: Reason ThrottleSecondFactor when the account is
// locked for ip (which a password reset does not lift), ThrottleAddress when
// ip is blocked.
func (s *Service) CheckSecondFactor(ctx context.Context, userID, ip string) error {
	_, err := s.checkLocks(ctx, s.now(), accountIPKey(secondFactorSubject(userID), ip), secondFactorIPKey(ip))
	return secondFactorLock(err)
}

// secondFactorLock turns an account lock into a second-factor lock, whose
// message does not promise that a password reset unlocks it.
func secondFactorLock(err error) error {
	var te *ThrottledError
	if errors.As(err, &te) && te.Reason == ThrottleAccount {
		return &ThrottledError{RetryAfter: te.RetryAfter, Reason: ThrottleSecondFactor}
	}
	return err
}

// SecondFactorFailed counts a failed second-factor attempt of the user from ip
// and returns err, or a *ThrottledError when this failure locked.
func (s *Service) SecondFactorFailed(ctx context.Context, userID, ip string, err error) error {
	rerr := s.recordFailure(ctx, s.now(), accountIPKey(secondFactorSubject(userID), ip), secondFactorIPKey(ip))
	if errors.Is(rerr, ErrInvalidCredentials) {
		return err
	}
	return secondFactorLock(rerr)
}

// SecondFactorSucceeded clears the user's second-factor failures from ip.
func (s *Service) SecondFactorSucceeded(ctx context.Context, userID, ip string) {
	if err := s.store.DeleteSignInThrottle(ctx, accountIPKey(secondFactorSubject(userID), ip)); err != nil {
		s.log.WarnContext(ctx, "clear second-factor failures", "user_id", userID, "error", err.Error())
	}
}
