package admin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestIdentities checks that a user's linked upstream accounts are listed
// (never their tokens) and unlinked, one user's only, and that an unknown user
// or identity is a 404 problem.
func TestIdentities(t *testing.T) {
	eachDB(t, func(t *testing.T, store *storage.Store) {
		f := newFixture(t, store, tokenA)
		ctx := t.Context()
		var ada, bob identity.View
		f.do(t, http.MethodPost, "/admin/users", map[string]any{"email": "ada@example.com"}).decode(t, &ada)
		f.do(t, http.MethodPost, "/admin/users", map[string]any{"email": "bob@example.com"}).decode(t, &bob)
		at := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
		gh, err := store.CreateExternalIdentity(ctx, storage.ExternalIdentity{UserID: ada.ID, Provider: "github", AccountID: "42", Source: "better-auth"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.CreateExternalIdentity(ctx, storage.ExternalIdentity{UserID: ada.ID, Provider: "google", AccountID: "g-1", Email: "ada@example.com", LastSignInAt: &at}); err != nil {
			t.Fatal(err)
		}
		if err := store.SetExternalIdentityTokens(ctx, gh.ID, []byte(`{"access_token":"gho_secret"}`)); err != nil {
			t.Fatal(err)
		}
		r := f.do(t, http.MethodGet, "/admin/users/"+ada.ID+"/identities", nil)
		wantStatus(t, "list identities", r, http.StatusOK)
		var list struct{ Identities []identityView }
		r.decode(t, &list)
		if len(list.Identities) != 2 || list.Identities[0].Provider != "github" || list.Identities[0].Source != "better-auth" ||
			list.Identities[1].LastSignInAt == nil || !list.Identities[1].LastSignInAt.Equal(at) {
			t.Errorf("identities = %+v, want github (imported) and google (signed in at %v)", list.Identities, at)
		}
		if containsBytes(r.body, "gho_secret") || containsBytes(r.body, "sealed") {
			t.Errorf("the list shows tokens: %s", r.body)
		}
		wantStatus(t, "unlink another user's identity", f.do(t, http.MethodDelete, "/admin/users/"+bob.ID+"/identities/"+gh.ID, nil), http.StatusNotFound)
		wantStatus(t, "unlink", f.do(t, http.MethodDelete, "/admin/users/"+ada.ID+"/identities/"+gh.ID, nil), http.StatusNoContent)
		wantStatus(t, "unlink again", f.do(t, http.MethodDelete, "/admin/users/"+ada.ID+"/identities/"+gh.ID, nil), http.StatusNotFound)
		f.do(t, http.MethodGet, "/admin/users/"+ada.ID+"/identities", nil).decode(t, &list)
		if len(list.Identities) != 1 || list.Identities[0].Provider != "google" {
			t.Errorf("identities after unlinking = %+v, want google only", list.Identities)
		}
		for _, id := range []string{"00000000-0000-4000-8000-000000000000", "not-a-uuid"} {
			r := f.do(t, http.MethodGet, "/admin/users/"+id+"/identities", nil)
			wantStatus(t, "identities of "+id, r, http.StatusNotFound)
			r.problem(t)
		}
	})
}

func containsBytes(b []byte, s string) bool { return strings.Contains(string(b), s) }
