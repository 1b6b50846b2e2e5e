package admin

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/branding"
	"github.com/gatehouse-id/gatehouse/internal/clients"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/storage"
)

func newBrandingFixture(t *testing.T, store *storage.Store) (*fixture, *branding.Service) {
	t.Helper()
	name, colour := "Configured ID", "#0b7a3b"
	b, err := branding.New(store, branding.Options{Defaults: branding.Settings{ProductName: &name, PrimaryColor: &colour}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	api := New(Deps{
		Clients:  clients.New(store, store.Sealer(), time.Now, clients.Rules{}),
		Users:    identity.New(store, identity.Options{Params: fastParams}),
		Keys:     keys.New(store, keys.Options{}),
		Branding: b,
		Tokens:   []string{tokenA},
	})
	f := newFixtureFor(t, store, api)
	f.token = tokenA
	return f, b
}

// TestBrandingAPI: GET shows the configuration's branding; PUT sets overrides
// that win field by field (the rest falls back to the configuration), and the
// pages' service sees them at once; invalid members are refused together,
// each named; DELETE drops the overrides.
func TestBrandingAPI(t *testing.T) {
	eachDB(t, func(t *testing.T, store *storage.Store) {
		f, svc := newBrandingFixture(t, store)
		var v branding.View
		res := f.do(t, http.MethodGet, "/admin/branding", nil)
		if res.status != http.StatusOK {
			t.Fatalf("GET /admin/branding = %d %s", res.status, res.body)
		}
		res.decode(t, &v)
		if v.ProductName != "Configured ID" || v.PrimaryColor != "#0b7a3b" || v.OnPrimaryColor != "#ffffff" || v.LogoURL != "" ||
			v.Overrides != (branding.Settings{}) || v.UpdatedAt != nil {
			t.Errorf("GET before any change = %+v", v)
		}

		res = f.do(t, http.MethodPut, "/admin/branding", `{"product_name":"Acme ID","primary_color":"#FFD000","support_url":"mailto:help@acme.example","logo_url":null}`)
		if res.status != http.StatusOK {
			t.Fatalf("PUT /admin/branding = %d %s", res.status, res.body)
		}
		v = branding.View{}
		res.decode(t, &v)
		if v.ProductName != "Acme ID" || v.PrimaryColor != "#ffd000" || v.OnPrimaryColor != "#000000" || v.SupportURL != "mailto:help@acme.example" ||
			v.Overrides.ProductName == nil || *v.Overrides.ProductName != "Acme ID" || v.Overrides.LogoURL != nil || v.UpdatedAt == nil {
			t.Errorf("PUT answered %+v", v)
		}
		if b, err := svc.Current(t.Context()); err != nil || b.ProductName != "Acme ID" || b.Light.Primary != "#ffd000" {
			t.Errorf("the pages' branding after PUT = %+v, %v", b, err)
		}
		res = f.do(t, http.MethodGet, "/admin/branding", nil)
		v = branding.View{}
		res.decode(t, &v)
		if v.ProductName != "Acme ID" || v.SupportURL != "mailto:help@acme.example" {
			t.Errorf("GET after PUT = %+v", v)
		}

		// A second PUT replaces every override: the name falls back.
		res = f.do(t, http.MethodPut, "/admin/branding", `{"primary_color":"#123456"}`)
		v = branding.View{}
		res.decode(t, &v)
		if res.status != http.StatusOK || v.ProductName != "Configured ID" || v.PrimaryColor != "#123456" || v.SupportURL != "" {
			t.Errorf("second PUT = %d %+v, want the configured name back", res.status, v)
		}

		res = f.do(t, http.MethodPut, "/admin/branding", `{"product_name":"","primary_color":"blue","logo_url":"javascript:alert(1)","favicon_url":"//evil.example/x.ico","support_url":"call us"}`)
		p := res.problem(t)
		var fields []string
		for _, e := range p.Errors {
			fields = append(fields, e.Field)
		}
		slices.Sort(fields)
		if res.status != http.StatusBadRequest || !slices.Equal(fields, []string{"favicon_url", "logo_url", "primary_color", "product_name", "support_url"}) {
			t.Errorf("PUT with five bad members = %d, fields %v", res.status, fields)
		}
		if b, _ := svc.Current(t.Context()); b.PrimaryColor != "#123456" {
			t.Errorf("a refused PUT changed the branding: %+v", b)
		}
		for _, body := range []string{`{"colour":"#123456"}`, `{"product_name":7}`, `[]`} {
			if res := f.do(t, http.MethodPut, "/admin/branding", body); res.status != http.StatusBadRequest {
				t.Errorf("PUT %s = %d, want 400", body, res.status)
			}
		}

		res = f.do(t, http.MethodDelete, "/admin/branding", nil)
		v = branding.View{}
		res.decode(t, &v)
		if res.status != http.StatusOK || v.ProductName != "Configured ID" || v.PrimaryColor != "#0b7a3b" || v.Overrides != (branding.Settings{}) {
			t.Errorf("DELETE = %d %+v, want the configuration's branding", res.status, v)
		}
		if res := f.doAs(t, "", http.MethodGet, "/admin/branding", nil); res.status != http.StatusUnauthorized {
			t.Errorf("GET without a token = %d, want 401", res.status)
		}
	})
}

// TestOpenAPIBrandingSchemasMatchTypes: the Branding and BrandingSettings
// schemas list exactly the JSON members of branding.View and
// branding.Settings.
func TestOpenAPIBrandingSchemasMatchTypes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for schema, typ := range map[string]reflect.Type{"Branding": reflect.TypeFor[branding.View](), "BrandingSettings": reflect.TypeFor[branding.Settings]()} {
		var fields []string
		for f := range typ.Fields() {
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name != "" && name != "-" {
				fields = append(fields, name)
			}
		}
		slices.Sort(fields)
		if got := slices.Sorted(maps.Keys(doc.Components.Schemas[schema].Properties)); !slices.Equal(fields, got) {
			t.Errorf("schema %s documents %v; %s has %v", schema, got, typ, fields)
		}
	}
}
