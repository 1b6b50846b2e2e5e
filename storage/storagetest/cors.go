package storagetest

import (
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
)

func corsCases() []Case {
	return []Case{
		{"CORSOriginIndex", testCORSOriginIndex},
	}
}

// testCORSOriginIndex: the origins of a client's http(s) redirect URIs and its
// allowed CORS origins are found by CORSOriginAllowed, and follow every write of
// the client: update replaces them, delete removes them, another client's stay.
func testCORSOriginIndex(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	allowed := func(origin string) bool {
		t.Helper()
		ok, err := s.CORSOriginAllowed(ctx, origin)
		must(t, err, "CORSOriginAllowed(%q)", origin)
		return ok
	}
	base := func(id string, redirects, origins []string) storage.Client {
		return storage.Client{ID: id, Public: true, TokenEndpointAuthMethod: "none",
			RedirectURIs: redirects, PostLogoutRedirectURIs: storage.StringList{}, GrantTypes: storage.StringList{"authorization_code"},
			ResponseTypes: storage.StringList{"code"}, ResponseModes: storage.StringList{}, Scopes: storage.StringList{"openid"},
			Audience: storage.StringList{}, AllowedCORSOrigins: origins}
	}
	spa := base("spa", []string{"https://SPA.example.com:443/callback", "http://127.0.0.1:5173/cb?x=1", "com.example.app:/cb"}, []string{"https://cdn.example.net"})
	_, err := s.CreateClient(ctx, spa)
	must(t, err, "CreateClient(spa)")
	_, err = s.CreateClient(ctx, base("other", []string{"https://other.example.org/cb"}, nil))
	must(t, err, "CreateClient(other)")

	for _, tc := range []struct {
		name, origin string
		want         bool
	}{
		{"redirect URI origin, default port dropped, host in lower case", "https://spa.example.com", true},
		{"loopback redirect URI with its port", "http://127.0.0.1:5173", true},
		{"allowed CORS origin", "https://cdn.example.net", true},
		{"another client's redirect URI origin", "https://other.example.org", true},
		{"same host, other port", "http://127.0.0.1:5174", false},
		{"same host, other scheme", "http://spa.example.com", false},
		{"with the default port spelled out", "https://spa.example.com:443", false},
		{"unknown", "https://evil.example", false},
		{"null", "null", false},
		{"not canonical (upper case)", "https://SPA.example.com", false},
		{"with a path", "https://spa.example.com/", false},
		{"invalid UTF-8", "https://spa.example.com\xff", false},
	} {
		if got := allowed(tc.origin); got != tc.want {
			t.Errorf("%s: CORSOriginAllowed(%q) = %v, want %v", tc.name, tc.origin, got, tc.want)
		}
	}

	updated := base("spa", []string{"https://new.example.com/cb"}, nil)
	_, err = s.UpdateClient(ctx, updated)
	must(t, err, "UpdateClient(spa)")
	if allowed("https://spa.example.com") || allowed("https://cdn.example.net") || !allowed("https://new.example.com") {
		t.Errorf("after UpdateClient the index still has the old origins or lacks the new one")
	}
	must(t, s.DeleteClient(ctx, "spa"), "DeleteClient(spa)")
	if allowed("https://new.example.com") {
		t.Errorf("after DeleteClient its origin is still allowed")
	}
	if !allowed("https://other.example.org") {
		t.Errorf("another client's origin was lost")
	}
}
