package clients_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/clients"
)

// TestMFAPolicy: a client's mfa_policy is one of the policies or empty, and
// travels from the spec to the record and back to the view.
func TestMFAPolicy(t *testing.T) {
	base := clients.Spec{ClientName: "App", RedirectURIs: []string{"https://app.example.com/cb"}}
	for _, policy := range []string{"", "optional", "required", "if_enrolled"} {
		spec := base
		spec.MFAPolicy = policy
		c, err := clients.Validate(spec)
		if err != nil {
			t.Errorf("Validate(mfa_policy %q): %v", policy, err)
			continue
		}
		if c.MFAPolicy != policy || clients.ViewOf(c).MFAPolicy != policy || clients.ViewOf(c).Spec().MFAPolicy != policy {
			t.Errorf("mfa_policy %q did not travel: record %q", policy, c.MFAPolicy)
		}
	}
	spec := base
	spec.MFAPolicy = "always"
	_, err := clients.Validate(spec)
	var ve *clients.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "mfa_policy") {
		t.Errorf("Validate(mfa_policy always) = %v, want a ValidationError naming mfa_policy", err)
	}
}
