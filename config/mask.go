package config

import (
	"net/url"
	"regexp"
	"strings"
)

// masked replaces every secret MaskURL and MaskSecrets hide.
const masked = "xxxxx"

// secretParams are the connection parameters that hold a secret: pgx reads both
// from a URL's query and from a key=value string; sslpassword unlocks the
// client key.
var secretParams = []string{"password", "sslpassword"}

// keywordSecret finds password=… and sslpassword=… in a key=value connection
// string (or in text quoting one): libpq allows spaces around "=", and a value
// is either bare (up to the next space) or single-quoted with backslash escapes,
// so `password='a b\'c'` is one value. An unterminated quote runs to the end.
var keywordSecret = regexp.MustCompile(`(?i)\b((?:ssl)?password)(\s*=\s*)('(?:[^'\\]|\\.)*'?|\S*)`)

// urlScheme matches the start of a connection string in URL form.
var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// urlUserinfo finds the userinfo password of a URL inside text.
var urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*):[^@\s]*@`)

// MaskURL returns a database connection string with every secret in it
// replaced by "xxxxx", for logs and messages. It is the one masker for
// connection strings: storage uses it too. It hides
//
//   - in a URL, the userinfo password and the password and sslpassword
//     parameters; a URL that does not parse is hidden whole except for its
//     scheme (a password with an unescaped "/" or "@" is the usual reason);
//   - in a key=value string (`host=db password='s e cret' sslpassword=…`), the
//     values of password and sslpassword, quoted or not.
func MaskURL(raw string) string {
	if urlScheme.MatchString(raw) {
		return maskURLForm(raw, raw[:strings.Index(raw, "://")])
	}
	return maskKeywords(raw)
}

// maskURLForm masks a connection string in URL form.
func maskURLForm(raw, scheme string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return scheme + "://(unparseable URL hidden)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), masked)
	}
	q := u.Query()
	changed := false
	for k := range q {
		for _, secret := range secretParams {
			if strings.EqualFold(k, secret) {
				q.Set(k, masked)
				changed = true
			}
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// maskKeywords masks the secret values of a key=value string, or of text that
// quotes one.
func maskKeywords(s string) string {
	return keywordSecret.ReplaceAllString(s, "${1}${2}"+masked)
}

// MaskSecrets returns text (an error message, say) with the secrets of any
// connection strings it quotes masked as MaskURL masks them: URLs word by word,
// key=value secrets anywhere.
func MaskSecrets(text string) string {
	fields := strings.Fields(text)
	changed := false
	for i, f := range fields {
		if strings.Contains(f, "://") {
			trimmed := strings.Trim(f, "\"'`(),;")
			fields[i] = strings.Replace(f, trimmed, MaskURL(trimmed), 1)
			changed = true
		}
	}
	if changed {
		text = strings.Join(fields, " ")
	}
	// A URL that MaskURL could not see as one word (quoted with spaces) still
	// loses its userinfo password here.
	text = urlUserinfo.ReplaceAllString(text, "${1}:"+masked+"@")
	return maskKeywords(text)
}
