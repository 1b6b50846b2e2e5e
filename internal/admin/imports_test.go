package admin

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
)

// TestImportedUsers: an imported user's old id translates to its Gatehouse id,
// an id with characters a path must escape included; an id never imported, or
// of another source, is 404; the route needs the admin token and only reads.
func TestImportedUsers(t *testing.T) {
	eachDB(t, func(t *testing.T, store *storage.Store) {
		f := newFixture(t, store, tokenA)
		svc := identity.New(store, identity.Options{Params: fastParams})
		res, err := svc.ImportUsers(t.Context(), "better-auth", []identity.ImportUser{
			{ExternalID: "nB2x7QpLr", Email: "ada@example.com", Name: "Ada"},
			{ExternalID: "with space+plus", Email: "bob@example.com"},
		}, false)
		if err != nil || len(res) != 2 || res[0].Action != identity.ImportCreated {
			t.Fatalf("ImportUsers = %+v, %v", res, err)
		}

		for i, id := range []string{"nB2x7QpLr", "with space+plus"} {
			r := f.do(t, http.MethodGet, "/admin/imported-users/better-auth/"+url.PathEscape(id), nil)
			wantStatus(t, "get "+id, r, http.StatusOK)
			var got struct {
				Source     string    `json:"source"`
				ExternalID string    `json:"external_id"`
				UserID     string    `json:"user_id"`
				ImportedAt time.Time `json:"imported_at"`
			}
			r.decode(t, &got)
			if got.Source != "better-auth" || got.ExternalID != id || got.UserID != res[i].UserID || got.ImportedAt.IsZero() {
				t.Errorf("GET mapping of %q = %s, want user %s", id, r.body, res[i].UserID)
			}
		}
		for _, path := range []string{
			"/admin/imported-users/better-auth/unknown",
			"/admin/imported-users/other/nB2x7QpLr",
		} {
			r := f.do(t, http.MethodGet, path, nil)
			wantStatus(t, path, r, http.StatusNotFound)
			r.problem(t)
		}
		r := f.doAs(t, "", http.MethodGet, "/admin/imported-users/better-auth/nB2x7QpLr", nil)
		wantStatus(t, "without a token", r, http.StatusUnauthorized)
		r = f.do(t, http.MethodDelete, "/admin/imported-users/better-auth/nB2x7QpLr", nil)
		wantStatus(t, "DELETE", r, http.StatusMethodNotAllowed)
	})
}
