package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
)

// formPostScript submits the form_post page. Its hash goes in the page's CSP, so no
// other inline script can run.
const formPostScript = `document.forms[0].submit();`

// formPostTemplate is the OAuth 2.0 Form Post Response Mode page; it also works
// without JavaScript (the button).
var formPostTemplate = template.Must(template.New("form_post").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Continuing…</title></head>
<body>
<form method="post" action="{{.RedirURL}}">
{{range $key, $values := .Parameters}}{{range $values}}<input type="hidden" name="{{$key}}" value="{{.}}">
{{end}}{{end}}<noscript><button type="submit">Continue</button></noscript>
</form>
<script>` + formPostScript + `</script>
</body></html>
`))

func formPostCSP(redirectURI string) string {
	sum := sha256.Sum256([]byte(formPostScript))
	action := "'self'"
	if u, err := url.Parse(redirectURI); err == nil {
		action = u.Scheme + "://" + u.Host
	}
	return "default-src 'none'; script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; form-action " + action + "; frame-ancestors 'none'; base-uri 'none'"
}

// writeFormPost renders the form_post page carrying params to redirectURI.
func writeFormPost(w http.ResponseWriter, redirectURI string, params url.Values) {
	w.Header().Set("Content-Security-Policy", formPostCSP(redirectURI))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = formPostTemplate.Execute(w, struct {
		RedirURL   string
		Parameters url.Values
	}{redirectURI, params})
}
