package config_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/config"
)

// FuzzConfigLoad writes yamlDoc to a file and loads it with the environment given
// by env (one NAME=VALUE per line). Load must never panic, and:
//   - when it returns no error, the Config validates;
//   - String() never shows a system secret, an admin or registration token, the
//     SMTP password, or a database password (the URL's userinfo password, or its
//     password or sslpassword parameter, which PostgreSQL clients read as
//     passwords), unless that value also appears in a setting String() shows on
//     purpose;
//   - a validation error never shows them either.
//
// Seeds are in testdata/fuzz/FuzzConfigLoad; crashes found are also named cases
// of TestLoadFuzzFound.
func FuzzConfigLoad(f *testing.F) {
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, yamlDoc, env string) {
		checkLoad(t, filepath.Join(dir, "gatehouse.yaml"), yamlDoc, env)
	})
}

// TestLoadFuzzFound replays, by name, what FuzzConfigLoad found; each case is also
// in its seed corpus.
func TestLoadFuzzFound(t *testing.T) {
	for _, tc := range []struct{ name, yamlDoc, env string }{
		// MaskURL hid password= but printed sslpassword=, the passphrase of the
		// client key that pgx reads from the URL.
		{"sslpassword parameter is masked", "database:\n  url: postgres://gh@db.example.com/gatehouse?sslmode=verify-full&sslcert=/c.pem&sslkey=/k.pem&sslpassword=Key-passphrase-99\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkLoad(t, filepath.Join(t.TempDir(), "gatehouse.yaml"), tc.yamlDoc, tc.env)
		})
	}
}

func checkLoad(t *testing.T, path, yamlDoc, env string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(yamlDoc), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(env, "\n") {
		if name, value, ok := strings.Cut(line, "="); ok {
			vars[name] = value
		}
	}
	c, err := config.Load(path, func(name string) string { return vars[name] }, nil)
	if err != nil && !config.IsValidation(err) {
		return
	}
	if err == nil {
		if verr := c.Validate(); verr != nil {
			t.Fatalf("Load returned no error, but Validate: %v", verr)
		}
	}
	shown := c.String()
	if err != nil {
		shown = err.Error()
	}
	for _, s := range secretsOf(c) {
		if strings.Contains(shown, s) && !strings.Contains(publicText(c), s) {
			t.Fatalf("secret %q is shown:\n%s", s, shown)
		}
	}
}

// secretsOf lists the secret values in c that are long enough to be told apart
// from the words around them.
func secretsOf(c config.Config) []string {
	var out []string
	add := func(s string) {
		if len(s) >= 8 {
			out = append(out, s)
		}
	}
	for _, s := range c.Secrets.System {
		add(s)
	}
	add(c.Mail.SMTPPassword)
	for _, s := range append(append([]string(nil), c.Admin.Tokens...), c.OAuth.RegistrationTokens...) {
		add(s)
	}
	for _, raw := range []string{c.Database.URL, c.Database.DirectURL} {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		if p, ok := u.User.Password(); ok {
			add(p)
		}
		q := u.Query()
		for _, k := range []string{"password", "sslpassword"} {
			for _, v := range q[k] {
				add(v)
			}
		}
	}
	return out
}

// publicText is what String() and Validate may show on purpose: every setting but
// the secrets, and the parts of the database URLs that are not passwords.
func publicText(c config.Config) string {
	parts := []string{c.Issuer, c.Addr, c.Admin.Addr, c.DataDir, c.Database.Pooler, c.Log.Level, c.Log.Format,
		c.OAuth.JWTAccessTokenAlg, c.Mail.From, c.Mail.SMTPHost, c.Mail.SMTPUsername, c.Mail.SMTPTLS, c.TemplatesDir}
	for _, raw := range []string{c.Database.URL, c.Database.DirectURL} {
		u, err := url.Parse(raw)
		if err != nil {
			continue
		}
		parts = append(parts, u.Scheme, u.User.Username(), u.Host, u.Path, u.Opaque, u.Fragment)
		for k, vs := range u.Query() {
			parts = append(parts, k)
			if k != "password" && k != "sslpassword" {
				parts = append(parts, vs...)
			}
		}
	}
	return strings.Join(parts, "\n")
}
