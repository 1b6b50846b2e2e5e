package admin

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gorilla/mux"

	"github.com/gatehouse-id/gatehouse/internal/clients"
)

// TestOpenAPIMatchesRoutes walks the router and checks that every route and
// method it serves is in openapi.json and every path and method there is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "patch", "head", "options", "trace":
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}

	// Metrics mounted, so that /metrics is walked too.
	a := New(Deps{Metrics: http.NotFoundHandler()})
	served := map[string]bool{}
	err := a.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		path, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			t.Errorf("route %s has no methods: every route must name its methods", path)
			return nil
		}
		for _, m := range methods {
			served[m+" "+path] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for op := range served {
		if !documented[op] {
			t.Errorf("%s is served but not in openapi.json", op)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("%s is in openapi.json but not served", op)
		}
	}
	if len(served) < 20 {
		t.Errorf("walked %d routes, want every admin route: %v", len(served), slices.Sorted(mapKeys(served)))
	}
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// TestOpenAPIClientSchemasMatchTypes checks that the ClientSpec and Client
// schemas list exactly the JSON members of clients.Spec and clients.View, so a
// field added to one is documented (and, ClientSpec refusing unknown members,
// accepted) in the other.
func TestOpenAPIClientSchemasMatchTypes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	for _, tc := range []struct {
		schema string
		typ    reflect.Type
	}{
		{"ClientSpec", reflect.TypeFor[clients.Spec]()},
		{"Client", reflect.TypeFor[clients.View]()},
		{"ImportedUser", reflect.TypeFor[importedUser]()},
	} {
		t.Run(tc.schema, func(t *testing.T) {
			var fields []string
			for f := range tc.typ.Fields() {
				name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
				if name != "" && name != "-" {
					fields = append(fields, name)
				}
			}
			documented := slices.Sorted(maps.Keys(doc.Components.Schemas[tc.schema].Properties))
			slices.Sort(fields)
			if !slices.Equal(fields, documented) {
				t.Errorf("schema %s documents %v; %s has %v", tc.schema, documented, tc.typ, fields)
			}
		})
	}
}
