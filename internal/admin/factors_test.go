package admin

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/clients"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestResetFactors: DELETE /admin/users/{id}/factors removes the user's
// factors and recovery codes and says how many factors went; an unknown user
// is 404; without the MFA service the route answers 503.
func TestResetFactors(t *testing.T) {
	store := storagetest.OpenSQLite(t)
	svc, err := mfa.New(mfa.Options{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	ids := identity.New(store, identity.Options{Params: fastParams})
	f := newFixtureFor(t, store, New(Deps{
		Clients: clients.New(store, store.Sealer(), time.Now, clients.Rules{}),
		Users:   ids, Keys: keys.New(store, keys.Options{}), MFA: svc, Tokens: []string{tokenA},
	}))
	f.token = tokenA
	u, err := ids.CreateUser(t.Context(), identity.SignUpInput{Email: "lost@example.com", Password: "correct horse battery"}, true)
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.BeginTOTP(t.Context(), u.ID, u.Email, "Phone")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := store.CreateFactor(t.Context(), storage.Factor{UserID: u.ID, Kind: storage.FactorWebAuthn, Name: "Key", CredentialID: []byte("cred"), ConfirmedAt: &now}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.NewRecoveryCodes(t.Context(), u.ID); err != nil {
		t.Fatal(err)
	}

	r := f.do(t, http.MethodDelete, "/admin/users/"+u.ID+"/factors", nil)
	wantStatus(t, "reset", r, http.StatusOK)
	var got struct {
		FactorsRemoved int `json:"factors_removed"`
	}
	r.decode(t, &got)
	if got.FactorsRemoved != 2 {
		t.Errorf("factors_removed = %d, want 2 (the pending app and the passkey)", got.FactorsRemoved)
	}
	m, err := svc.Methods(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if m.Enrolled() || m.RecoveryCodes != 0 {
		t.Errorf("after reset: %+v, want nothing", m)
	}
	wantStatus(t, "reset of an unknown user", f.do(t, http.MethodDelete, "/admin/users/5d7f3a0e-1111-4c1e-9a55-000000000000/factors", nil), http.StatusNotFound)

	bare := newFixture(t, store, tokenA)
	wantStatus(t, "reset without the MFA service", bare.do(t, http.MethodDelete, "/admin/users/"+u.ID+"/factors", nil), http.StatusServiceUnavailable)
}
