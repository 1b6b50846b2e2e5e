package mfa

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// PendingTTL is how long a sign-in whose first factor was right has to give
// its second factor (or enrol one), on the pages and in the JSON API alike.
const PendingTTL = 10 * time.Minute

// StepAfter returns what a sign-in of userID whose first factor gave the
// methods amr must do next, under the client's policy clientPolicy ("" for
// the server's), with the user's methods (empty when the step is StepNone
// because amr already counts as multi-factor). The same rule holds for every
// first factor and every face, so that no way in is a way around a second
// factor: a password, an upstream provider, or both; a first factor that
// already counts as multi-factor (a passkey, a provider trusted for it) needs
// no second step.
func (s *Service) StepAfter(ctx context.Context, userID string, amr []string, clientPolicy string) (Step, Methods, error) {
	if slices.Contains(amr, AMRMFA) {
		return StepNone, Methods{}, nil
	}
	m, err := s.Methods(ctx, userID)
	if err != nil {
		return StepNone, Methods{}, err
	}
	return Next(s.PolicyFor(clientPolicy), m), m, nil
}

// CompleteAMR returns the methods of a session that began with the first
// factor's amr and went on with a second factor's methods: those, then mfa,
// each once.
func CompleteAMR(amr []string, methods ...string) []string {
	out := slices.Clone(amr)
	for _, m := range append(slices.Clone(methods), AMRMFA) {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// Pending is a sign-in whose first factor was right and whose second factor
// is still to come. It is no session: a face keeps it sealed (SealPending) in
// a short-lived cookie of the client that signed in, and only the second
// step reads it.
type Pending struct {
	UserID  string    `json:"u"`
	AMR     []string  `json:"a"`
	Expires time.Time `json:"e"`
}

// ErrPendingInvalid means a sealed pending sign-in is missing, was not made
// here (or for another purpose), or has expired.
var ErrPendingInvalid = errors.New("no pending sign-in, or it expired")

// SealPending seals p for purpose (the face's name for its cookie: a value
// sealed for one purpose does not open for another) as a cookie-safe string.
func (s *Service) SealPending(p Pending, purpose string) (string, error) {
	if s.sealer == nil {
		return "", storage.ErrNoSecret
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(s.sealer.Seal(raw, pendingAAD(purpose))), nil
}

// OpenPending opens a value of SealPending for purpose, or returns
// ErrPendingInvalid when it is not one or has expired at now.
func (s *Service) OpenPending(value, purpose string, now time.Time) (Pending, error) {
	if s.sealer == nil || value == "" {
		return Pending{}, ErrPendingInvalid
	}
	sealed, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil {
		return Pending{}, ErrPendingInvalid
	}
	raw, err := s.sealer.Open(sealed, pendingAAD(purpose))
	if err != nil {
		return Pending{}, ErrPendingInvalid
	}
	var p Pending
	if json.Unmarshal(raw, &p) != nil || p.UserID == "" || !now.Before(p.Expires) {
		return Pending{}, ErrPendingInvalid
	}
	return p, nil
}

func pendingAAD(purpose string) []byte { return []byte("mfa:pending-sign-in:v1:" + purpose) }
