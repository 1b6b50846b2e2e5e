package server

import (
	"net/http"
	"slices"

	"github.com/gorilla/mux"
)

// RouteList lists every route NewServer(d) serves as "METHOD template" (HEAD,
// which shares its GET route, left out), for tests that walk them all.
func RouteList(d Deps) ([]string, error) {
	r := mux.NewRouter()
	s := &surfaces{pageRoutes: map[string]bool{}}
	addRoutes(r, s.page, &health{}, d.OAuth, d.Pages, d.AuthAPI)
	var out []string
	err := r.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		t, err := route.GetPathTemplate()
		if err != nil {
			return err
		}
		methods, err := route.GetMethods()
		if err != nil {
			return err
		}
		for _, m := range methods {
			if m != http.MethodHead {
				out = append(out, m+" "+t)
			}
		}
		return nil
	})
	slices.Sort(out)
	return out, err
}
