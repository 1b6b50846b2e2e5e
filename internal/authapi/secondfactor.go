package authapi

import (
	"context"
	"net/http"
	"slices"

	"github.com/gatehouse-id/gatehouse/internal/mfa"
)

// secondFactors is what the API asks of the second-factor service: the
// user's methods and the policy in force.
type secondFactors interface {
	Methods(ctx context.Context, userID string) (mfa.Methods, error)
	PolicyFor(clientPolicy string) mfa.Policy
}

// codeTwoFactorRequired answers a sign-in whose first factor was right but
// which must go on with a second one. The API has no second step yet: the
// sign-in pages do.
const codeTwoFactorRequired = "TWO_FACTOR_REQUIRED"

// needsSecondFactor reports whether a sign-in of userID with the methods amr
// must go on with a second factor (the user has one, or the policy wants
// one), so that the API never hands out a session the pages would not: a
// first factor that already counts as multi-factor (a passkey, a provider
// trusted for it) needs none.
func (a *API) needsSecondFactor(ctx context.Context, userID string, amr []string) (bool, error) {
	if a.mfa == nil || slices.Contains(amr, mfa.AMRMFA) {
		return false, nil
	}
	m, err := a.mfa.Methods(ctx, userID)
	if err != nil {
		return false, err
	}
	return mfa.Next(a.mfa.PolicyFor(""), m) != mfa.StepNone, nil
}

// refuseWithoutSecondFactor answers the sign-in API's caller that this account
// signs in through the pages, which ask for the second factor.
func (a *API) refuseWithoutSecondFactor(w http.ResponseWriter, r *http.Request) {
	a.fail(w, r, http.StatusForbidden, codeTwoFactorRequired,
		"This account signs in with a second factor: sign in on the sign-in page ("+a.issuer+"/signin).")
}
