package i18n

import (
	htmltemplate "html/template"
	"slices"
	"strings"
	"testing"
)

func TestTemplateKeys(t *testing.T) {
	tmpl := htmltemplate.Must(htmltemplate.New("base").Funcs(htmltemplate.FuncMap{"T": func(string) string { return "" }}).Parse(
		`{{define "base"}}<title>{{.T "page.title"}}</title>{{template "content" .}}{{end}}` +
			`{{define "content"}}{{range .Items}}<li>{{$.T "item.label" "Name" .}}</li>{{end}}` +
			`{{if .X}}{{.Layout.T "nested.field"}}{{else}}{{T "func.call"}}{{end}}` +
			`{{with $l := .}}{{$l.T "variable.call"}}{{end}}` +
			`{{printf "%s" (.T "in.parens")}}{{.T .Dynamic}}{{.Other "not.a.key"}}{{end}}`))
	got := TemplateKeys(tmpl)
	want := []string{"func.call", "in.parens", "item.label", "nested.field", "page.title", "variable.call"}
	if !slices.Equal(got, want) {
		t.Errorf("TemplateKeys = %q, want %q", got, want)
	}
}

func TestCheckTemplate(t *testing.T) {
	c := builtin(t)
	ok := htmltemplate.Must(htmltemplate.New("ok").Parse(`{{.T "scope.email"}}{{.T "scope.other" "Scope" .S}}`))
	if err := c.CheckTemplate(ok); err != nil {
		t.Errorf("CheckTemplate(known keys) = %v", err)
	}
	bad := htmltemplate.Must(htmltemplate.New("consent.html").Parse(`{{.T "scope.email"}}{{.T "consent.typo"}}{{.T "b.missing"}}`))
	err := c.CheckTemplate(bad)
	if err == nil || !strings.Contains(err.Error(), "uses messages that no catalogue has: b.missing, consent.typo") {
		t.Errorf("CheckTemplate(unknown keys) = %v", err)
	}
}
