package federation_test

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/federation/federationtest"
)

// TestUpstreamDownAtTokenExchange: a provider that was up for discovery and
// the redirect but is gone when the callback redeems the code is "unavailable"
// (try again later), not a provider that answered wrongly.
func TestUpstreamDownAtTokenExchange(t *testing.T) {
	up := federationtest.New(t)
	up.SetClaims(map[string]any{"sub": "u-down", "email": "down@example.com", "email_verified": true})
	h := newHarness(t, oidcProvider("corp", up))
	cb := h.begin("corp", federation.Flow{})
	up.Close()
	_, err, resp := h.finish("corp", cb, "")
	wantCode(t, err, federation.CodeUpstreamUnavailable)
	if !flowCookieCleared(resp) {
		t.Error("the failed callback did not clear the flow cookie")
	}
}
