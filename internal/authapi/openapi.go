package authapi

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-id/gatehouse/internal/i18n"
)

// openAPI is the contract of /api/auth (OpenAPI 3.1); the tests check every
// answer against it.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPIDocument returns the OpenAPI document (shared bytes: do not modify).
func OpenAPIDocument() []byte { return openAPI }

// OpenAPI serves GET /api/auth/openapi.json.
func (a *API) OpenAPI() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(openAPI)
	})
}

// Reference serves GET /api/auth/reference: the document as a page, rendered
// at start-up from api_reference.html once per language of the catalogue (no
// scripts, nothing from other sites). The page's own words follow the
// browser's Accept-Language; the document's descriptions are the contract's
// English.
func (a *API) Reference() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tag := a.catalogue.Match(i18n.Preferences{AcceptLanguage: r.Header.Get("Accept-Language")})
		page, ok := a.reference[tag.String()]
		if !ok {
			page = a.reference["en"]
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Vary", "Accept-Language")
		w.Write(page)
	})
}

// The reference page's data.
type (
	refPage struct {
		loc                *i18n.Localizer
		Title, Description string
		Operations         []refOp
		Schemas            []refSchema
	}
	refOp struct {
		ID, Method, Path, Summary, Description string
		Auth                                   bool
		Params                                 []refParam
		Body                                   []refField
		Responses                              []refResponse
	}
	refParam struct {
		Name, In, Description string
		Required              bool
	}
	refField struct {
		Name, Type, Description string
		Required                bool
	}
	refResponse struct{ Status, Description string }
	refSchema   struct {
		Name   string
		Fields []refField
	}
)

// The parts of the document the page shows.
type (
	docSchema struct {
		Ref         string               `json:"$ref"`
		Type        any                  `json:"type"`
		Format      string               `json:"format"`
		Description string               `json:"description"`
		Properties  map[string]docSchema `json:"properties"`
		Required    []string             `json:"required"`
		Items       *docSchema           `json:"items"`
		OneOf       []docSchema          `json:"oneOf"`
	}
	docResponse struct {
		Ref         string `json:"$ref"`
		Description string `json:"description"`
	}
	docOp struct {
		Summary     string     `json:"summary"`
		Description string     `json:"description"`
		Security    []any      `json:"security"`
		Parameters  []refParam `json:"parameters"`
		RequestBody *struct {
			Content map[string]struct {
				Schema docSchema `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
		Responses map[string]docResponse `json:"responses"`
	}
	doc struct {
		Info struct {
			Title, Description string
		} `json:"info"`
		Paths      map[string]map[string]docOp `json:"paths"`
		Components struct {
			Schemas   map[string]docSchema   `json:"schemas"`
			Responses map[string]docResponse `json:"responses"`
		} `json:"components"`
	}
)

// typeName writes a schema's type for people.
func typeName(s docSchema) string {
	switch {
	case s.Ref != "":
		return s.Ref[strings.LastIndex(s.Ref, "/")+1:]
	case s.Items != nil:
		return "array of " + typeName(*s.Items)
	case len(s.OneOf) > 0:
		var parts []string
		for _, o := range s.OneOf {
			parts = append(parts, typeName(o))
		}
		return strings.Join(parts, " or ")
	}
	var t string
	switch v := s.Type.(type) {
	case string:
		t = v
	case []any:
		var parts []string
		for _, p := range v {
			parts = append(parts, fmt.Sprint(p))
		}
		t = strings.Join(parts, " or ")
	default:
		t = "object"
	}
	if s.Format != "" {
		t += " (" + s.Format + ")"
	}
	return t
}

func fieldsOf(s docSchema) []refField {
	var out []refField
	for _, name := range slices.Sorted(maps.Keys(s.Properties)) {
		p := s.Properties[name]
		out = append(out, refField{Name: name, Type: typeName(p), Description: p.Description, Required: slices.Contains(s.Required, name)})
	}
	return out
}

// T translates one of the page's own words (the template calls it).
func (p refPage) T(key string, args ...any) (string, error) { return p.loc.T(key, args...) }

// Lang is the page's language, for <html lang>.
func (p refPage) Lang() string { return p.loc.Lang() }

// renderReference renders the reference page from the document in each of
// the catalogue's languages, keyed by language tag.
func renderReference(files fs.FS, cat *i18n.Catalogue) (map[string][]byte, error) {
	t, err := template.ParseFS(files, "api_reference.html")
	if err != nil {
		return nil, fmt.Errorf("parse api_reference.html: %w", err)
	}
	if t.Lookup("reference") == nil {
		return nil, fmt.Errorf(`api_reference.html does not define "reference"`)
	}
	var d doc
	if err := json.Unmarshal(openAPI, &d); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	p := refPage{Title: d.Info.Title, Description: d.Info.Description}
	paths := slices.Sorted(maps.Keys(d.Paths))
	for _, path := range paths {
		for _, method := range []string{"get", "post"} {
			op, ok := d.Paths[path][method]
			if !ok {
				continue
			}
			ro := refOp{
				ID:     method + strings.NewReplacer("/", "-", "{", "", "}", "", ".", "-").Replace(path),
				Method: strings.ToUpper(method), Path: path, Summary: op.Summary, Description: op.Description,
				Auth: len(op.Security) > 0, Params: op.Parameters,
			}
			if op.RequestBody != nil {
				if c, ok := op.RequestBody.Content["application/json"]; ok {
					ro.Body = fieldsOf(c.Schema)
				}
			}
			for _, st := range slices.Sorted(maps.Keys(op.Responses)) {
				rs := op.Responses[st]
				if rs.Ref != "" {
					rs = d.Components.Responses[rs.Ref[strings.LastIndex(rs.Ref, "/")+1:]]
				}
				ro.Responses = append(ro.Responses, refResponse{Status: st, Description: rs.Description})
			}
			p.Operations = append(p.Operations, ro)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(d.Components.Schemas)) {
		p.Schemas = append(p.Schemas, refSchema{Name: name, Fields: fieldsOf(d.Components.Schemas[name])})
	}
	pages := make(map[string][]byte)
	for _, tag := range cat.Languages() {
		p.loc = cat.Localizer(tag)
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, "reference", p); err != nil {
			return nil, fmt.Errorf("render api_reference.html in %s: %w", tag, err)
		}
		pages[tag.String()] = buf.Bytes()
	}
	return pages, nil
}
