package server_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/google/uuid"
)

// TestRequestIDsAreTimeOrdered: the grants a client_credentials request and an
// authorization code start are stored under UUIDv7 request IDs, each sorting
// after the one before, so that the request_id indexes of the token tables
// grow at their right edge (BENCHMARKS.md, "Data growth"); the tokens of a code
// keep the code's ID, as revocation by request ID needs.
func TestRequestIDsAreTimeOrdered(t *testing.T) {
	databases(t, func(t *testing.T, open func(testing.TB) *storage.Store) {
		e := newEnv(t, open(t))
		c, secret := e.client(storage.Client{Name: "Ordered", GrantTypes: storage.StringList{"authorization_code", "refresh_token", "client_credentials"}})
		var ids []string
		for range 3 {
			status, _, body := e.postForm("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
			if status != http.StatusOK {
				t.Fatalf("client_credentials: %d %v", status, body)
			}
			ids = append(ids, e.requestIDOf(body["access_token"].(string)))
		}
		code, verifier := e.codeFor(e.browser(), c, nil)
		status, tokens := e.redeem(c, secret, code, verifier)
		if status != http.StatusOK {
			t.Fatalf("redeem: %d %v", status, tokens)
		}
		codeID := e.requestIDOf(tokens["access_token"].(string))
		ids = append(ids, codeID)
		for i, id := range ids {
			u, err := uuid.Parse(id)
			if err != nil || u.Version() != 7 {
				t.Fatalf("request ID %d is %q (version %v, %v), want a UUIDv7", i, id, u.Version(), err)
			}
			if i > 0 && id <= ids[i-1] {
				t.Errorf("request ID %d %s does not sort after %s", i, id, ids[i-1])
			}
		}
		var refreshID string
		if err := e.store.DB().QueryRowContext(t.Context(), "SELECT request_id FROM refresh_tokens WHERE subject = '"+e.user.ID+"'").Scan(&refreshID); err != nil {
			t.Fatalf("refresh token's request ID: %v", err)
		}
		if refreshID != codeID {
			t.Errorf("refresh token request ID %s, want its access token's %s", refreshID, codeID)
		}
	})
}

// requestIDOf is the stored request ID of an opaque access token, found by the
// signature part of the token (fosite's HMAC strategy: key.signature).
func (e *env) requestIDOf(token string) string {
	e.t.Helper()
	var id string
	sig := token[len(token)-43:]
	if err := e.store.DB().QueryRowContext(e.t.Context(), "SELECT request_id FROM access_tokens WHERE signature = '"+sig+"'").Scan(&id); err != nil {
		e.t.Fatalf("request ID of an access token: %v", err)
	}
	return id
}
