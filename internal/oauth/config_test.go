package oauth_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/oauth"
)

// TestConfigDefaultAudience: the default audience must be an absolute URI without
// a fragment (RFC 8707 §2), like every resource a client may name.
func TestConfigDefaultAudience(t *testing.T) {
	for _, tc := range []struct {
		name, audience string
		wantErr        bool
	}{
		{"empty means the issuer", "", false},
		{"absolute URI", "https://api.example.com", false},
		{"relative", "api", true},
		{"fragment", "https://api.example.com/#x", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := oauth.New(oauth.Config{Issuer: "https://id.example.com", Secrets: []string{strings.Repeat("s", 32)}, DefaultAudience: tc.audience}, oauth.Deps{})
			gotErr := err != nil && strings.Contains(err.Error(), "default audience")
			if gotErr != tc.wantErr {
				t.Errorf("New with default audience %q: error %v, want a default audience error: %v", tc.audience, err, tc.wantErr)
			}
		})
	}
}
