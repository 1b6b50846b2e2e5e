package server_test

import (
	"slices"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestDiscoveryUILocales: discovery advertises the pages' languages as
// ui_locales_supported (OpenID Connect Discovery 1.0 §3), and nothing when it
// is given none.
func TestDiscoveryUILocales(t *testing.T) {
	store := storagetest.OpenSQLite(t)
	e := newEnv(t, store, func(c *oauth.Config) { c.UILocales = []string{"en", "de", "pt-BR"} })
	got, _ := discovery(t, e)["ui_locales_supported"].([]any)
	var tags []string
	for _, v := range got {
		s, _ := v.(string)
		tags = append(tags, s)
	}
	if want := []string{"en", "de", "pt-BR"}; !slices.Equal(tags, want) {
		t.Errorf("ui_locales_supported = %v, want %q", got, want)
	}
	if v, ok := discovery(t, newEnv(t, storagetest.OpenSQLite(t)))["ui_locales_supported"]; ok {
		t.Errorf("ui_locales_supported = %v without languages, want it left out", v)
	}
}
