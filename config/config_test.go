package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// envFrom returns a getenv that reads only m.
func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeFile writes content to a new file in t's temp dir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// normalize makes an empty secret or token list compare equal to a nil one.
func normalize(c config.Config) config.Config {
	for _, l := range []*[]string{&c.Secrets.System, &c.Admin.Tokens, &c.OAuth.RegistrationTokens, &c.Server.TrustedProxies, &c.API.TrustedOrigins} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return c
}

func TestDefault(t *testing.T) {
	d := config.Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v, want nil", err)
	}
	if !d.Embedded() {
		t.Errorf("Default().Embedded() = false, want true (no database.url means embedded SQLite)")
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"issuer", d.Issuer, "http://localhost:8080"},
		{"addr", d.Addr, "127.0.0.1:8080"},
		{"data_dir", d.DataDir, "./data"},
		{"migrate", d.Migrate, false},
		{"database.pooler", d.Database.Pooler, "auto"},
		{"database.connect_timeout", d.Database.ConnectTimeout, 10 * time.Second},
		{"database.connect_retry", d.Database.ConnectRetry, 30 * time.Second},
		{"database.conn_max_idle_time under Neon's 5m suspend", d.Database.ConnMaxIdleTime < 5*time.Minute, true},
		{"log.format", d.Log.Format, "json"},
	} {
		if tc.got != tc.want {
			t.Errorf("Default() %s = %v, want %v", tc.name, tc.got, tc.want)
		}
	}

	got, err := config.Load("", envFrom(nil), nil)
	if err != nil {
		t.Fatalf("Load with nothing set: %v", err)
	}
	if !reflect.DeepEqual(normalize(got), normalize(d)) {
		t.Errorf("Load with nothing set = %+v, want Default() %+v", got, d)
	}
}

func TestLoadPrecedence(t *testing.T) {
	path := writeFile(t, "gatehouse.yaml", `
issuer: https://file.example.com
addr: 127.0.0.1:1111
log:
  level: debug
  format: text
database:
  url: postgres://file@db.example.com/gatehouse?sslmode=verify-full
  max_open_conns: 7
  connect_retry: 1m
secrets:
  system: ["0123456789abcdef0123456789abcdef-from-file"]
`)
	env := envFrom(map[string]string{
		"GATEHOUSE_ADDR":                   "127.0.0.1:2222",
		"GATEHOUSE_LOG_LEVEL":              "warn",
		"GATEHOUSE_DATABASE_CONNECT_RETRY": "45s",
		"GATEHOUSE_MIGRATE":                "true",
	})
	flags := map[string]any{"addr": "127.0.0.1:3333", "migrate": "false"}
	c, err := config.Load(path, env, flags)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"issuer from the file", c.Issuer, "https://file.example.com"},
		{"addr from the flag over env and file", c.Addr, "127.0.0.1:3333"},
		{"log.level from env over the file", c.Log.Level, "warn"},
		{"log.format from the file", c.Log.Format, "text"},
		{"database.max_open_conns from the file", c.Database.MaxOpenConns, 7},
		{"database.connect_retry from env over the file", c.Database.ConnectRetry, 45 * time.Second},
		{"migrate from the flag over env", c.Migrate, false},
		{"database.max_idle_conns follows max_open_conns", c.Database.IdleConns(), 7},
		{"data_dir default kept", c.DataDir, "./data"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if want := []string{"0123456789abcdef0123456789abcdef-from-file"}; !slices.Equal(c.Secrets.System, want) {
		t.Errorf("secrets.system = %d entries, want the file's one", len(c.Secrets.System))
	}
}

func TestLoadDatabaseURLNames(t *testing.T) {
	const (
		plain    = "postgres://app@plain.example.com/db?sslmode=verify-full"
		prefixed = "postgres://app@prefixed.example.com/db?sslmode=verify-full"
		direct   = "postgres://app@direct.example.com/db?sslmode=verify-full"
		direct2  = "postgres://app@direct2.example.com/db?sslmode=verify-full"
	)
	for _, tc := range []struct {
		name           string
		env            map[string]string
		wantURL        string
		wantDirect     string
		wantMigrations string
	}{
		{"DATABASE_URL", map[string]string{"DATABASE_URL": plain}, plain, "", plain},
		{"GATEHOUSE_DATABASE_URL", map[string]string{"GATEHOUSE_DATABASE_URL": prefixed}, prefixed, "", prefixed},
		{"GATEHOUSE_ prefix wins over the conventional name",
			map[string]string{"DATABASE_URL": plain, "GATEHOUSE_DATABASE_URL": prefixed}, prefixed, "", prefixed},
		{"DATABASE_DIRECT_URL for migrations",
			map[string]string{"DATABASE_URL": plain, "DATABASE_DIRECT_URL": direct}, plain, direct, direct},
		{"GATEHOUSE_DATABASE_DIRECT_URL wins over DATABASE_DIRECT_URL",
			map[string]string{"DATABASE_URL": plain, "DATABASE_DIRECT_URL": direct, "GATEHOUSE_DATABASE_DIRECT_URL": direct2}, plain, direct2, direct2},
		{"nothing set: embedded", map[string]string{}, "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load("", envFrom(tc.env), nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Database.URL != tc.wantURL || c.Database.DirectURL != tc.wantDirect || c.MigrationURL() != tc.wantMigrations {
				t.Errorf("url, direct_url, MigrationURL() = %q, %q, %q; want %q, %q, %q",
					c.Database.URL, c.Database.DirectURL, c.MigrationURL(), tc.wantURL, tc.wantDirect, tc.wantMigrations)
			}
			if got, want := c.Embedded(), tc.wantURL == ""; got != want {
				t.Errorf("Embedded() = %v, want %v", got, want)
			}
		})
	}
}

func TestLoadSecretsFromEnv(t *testing.T) {
	a := strings.Repeat("a", 32)
	b := strings.Repeat("b", 40)
	c, err := config.Load("", envFrom(map[string]string{"GATEHOUSE_SECRETS_SYSTEM": " " + a + " , " + b + ",,"}), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !slices.Equal(c.Secrets.System, []string{a, b}) {
		t.Errorf("secrets.system from a comma-separated list: got %d entries, want 2 in order", len(c.Secrets.System))
	}
}

// TestLoadBranding: the branding keys come from the environment, and a bad
// one is named.
func TestLoadBranding(t *testing.T) {
	c, err := config.Load("", envFrom(map[string]string{
		"GATEHOUSE_BRANDING_PRODUCT_NAME": "Acme ID", "GATEHOUSE_BRANDING_LOGO_URL": "/static/logo.svg",
		"GATEHOUSE_BRANDING_FAVICON_URL": "https://cdn.acme.example/icon.png", "GATEHOUSE_BRANDING_PRIMARY_COLOR": "#0b7a3b",
		"GATEHOUSE_BRANDING_SUPPORT_URL": "mailto:help@acme.example",
	}), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := config.Branding{ProductName: "Acme ID", LogoURL: "/static/logo.svg", FaviconURL: "https://cdn.acme.example/icon.png", PrimaryColor: "#0b7a3b", SupportURL: "mailto:help@acme.example"}
	if c.Branding != want {
		t.Errorf("branding = %+v, want %+v", c.Branding, want)
	}
	if d := config.Default().Branding; d.ProductName != "Gatehouse" || d.PrimaryColor != "#1d4ed8" {
		t.Errorf("default branding = %+v", d)
	}
	_, err = config.Load("", envFrom(map[string]string{"GATEHOUSE_BRANDING_PRIMARY_COLOR": "blue"}), nil)
	if err == nil || !strings.Contains(err.Error(), "branding.primary_color") {
		t.Errorf("Load with a colour name = %v, want an error naming branding.primary_color", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := config.Default()
	c.Issuer = "not a url"
	c.Addr = "8080"
	c.Database.Pooler = "session"
	c.Database.MaxOpenConns = 0
	c.Database.ConnectTimeout = 0
	c.Log.Level = "loud"
	c.Secrets.System = []string{"short"}
	err := c.Validate()
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate() = %v, want a *ValidationError", err)
	}
	if !config.IsValidation(err) {
		t.Errorf("IsValidation(%v) = false", err)
	}
	for _, key := range []string{"issuer", "addr", "database.pooler", "database.max_open_conns", "database.connect_timeout", "log.level", "secrets.system[0]"} {
		found := false
		for _, p := range ve.Problems {
			if strings.HasPrefix(p, key+":") {
				found = true
			}
		}
		if !found {
			t.Errorf("Validate() problems %q: none names %s", ve.Problems, key)
		}
		if !strings.Contains(err.Error(), key+":") {
			t.Errorf("Validate().Error() does not name %s:\n%s", key, err)
		}
	}
	if strings.Contains(err.Error(), "short") {
		t.Errorf("Validate() echoes a secret:\n%s", err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(*config.Config)
		wantKey string // "" means valid
	}{
		{"default", func(*config.Config) {}, ""},
		{"https issuer", func(c *config.Config) { c.Issuer = "https://id.example.com" }, ""},
		{"http issuer on loopback IP", func(c *config.Config) { c.Issuer = "http://127.0.0.1:8080" }, ""},
		{"http issuer not on localhost", func(c *config.Config) { c.Issuer = "http://id.example.com" }, "issuer"},
		{"issuer with trailing slash", func(c *config.Config) { c.Issuer = "https://id.example.com/" }, "issuer"},
		{"issuer with query", func(c *config.Config) { c.Issuer = "https://id.example.com?a=b" }, "issuer"},
		{"issuer relative", func(c *config.Config) { c.Issuer = "/id" }, "issuer"},
		{"issuer ftp", func(c *config.Config) { c.Issuer = "ftp://id.example.com" }, "issuer"},
		{"addr all interfaces", func(c *config.Config) { c.Addr = ":8080" }, ""},
		{"addr without port", func(c *config.Config) { c.Addr = "localhost" }, "addr"},
		{"embedded without data_dir", func(c *config.Config) { c.DataDir = "" }, "data_dir"},
		{"external database without data_dir", func(c *config.Config) {
			c.DataDir = ""
			c.Database.URL = "postgres://u@h/db"
		}, ""},
		{"negative shutdown_grace", func(c *config.Config) { c.ShutdownGrace = -time.Second }, "shutdown_grace"},
		{"mysql url", func(c *config.Config) { c.Database.URL = "mysql://u@h/db" }, "database.url"},
		{"postgres url without host", func(c *config.Config) { c.Database.URL = "postgres:///db" }, "database.url"},
		{"pool_ key in url", func(c *config.Config) { c.Database.URL = "postgres://u@h/db?pool_max_conns=5" }, "database.url"},
		{"sqlite url", func(c *config.Config) { c.Database.URL = "sqlite:/var/lib/gatehouse/g.db" }, ""},
		{"bad direct_url", func(c *config.Config) {
			c.Database.URL = "postgres://u@h/db"
			c.Database.DirectURL = "http://h/db"
		}, "database.direct_url"},
		{"direct_url without url", func(c *config.Config) { c.Database.DirectURL = "postgres://u@h/db" }, "database.direct_url"},
		{"pooler transaction", func(c *config.Config) { c.Database.Pooler = "transaction" }, ""},
		{"pooler unknown", func(c *config.Config) { c.Database.Pooler = "yes" }, "database.pooler"},
		{"max_idle over max_open", func(c *config.Config) { c.Database.MaxIdleConns = 11 }, "database.max_idle_conns"},
		{"negative max_idle", func(c *config.Config) { c.Database.MaxIdleConns = -2 }, "database.max_idle_conns"},
		{"argon2id memory under OWASP's floor", func(c *config.Config) { c.Passwords.MemoryKiB, c.Passwords.Iterations = 4096, 10 }, "passwords.memory_kib"},
		{"argon2id 12 MiB with 2 iterations", func(c *config.Config) { c.Passwords.MemoryKiB, c.Passwords.Iterations = 12288, 2 }, "passwords.iterations"},
		{"argon2id no iterations", func(c *config.Config) { c.Passwords.Iterations = 0 }, "passwords.iterations"},
		{"argon2id 35 MiB with 1 iteration", func(c *config.Config) { c.Passwords.MemoryKiB, c.Passwords.Iterations, c.MemoryLimit = 35840, 1, 0 }, "passwords.iterations"},
		{"argon2id 17.5 MiB with 2 iterations", func(c *config.Config) { c.Passwords.MemoryKiB, c.Passwords.Iterations = 17920, 2 }, "passwords.iterations"},
		{"negative conn_max_idle_time", func(c *config.Config) { c.Database.ConnMaxIdleTime = -1 }, "database.conn_max_idle_time"},
		{"negative conn_max_lifetime", func(c *config.Config) { c.Database.ConnMaxLifetime = -1 }, "database.conn_max_lifetime"},
		{"negative connect_retry", func(c *config.Config) { c.Database.ConnectRetry = -1 }, "database.connect_retry"},
		{"zero connect_retry", func(c *config.Config) { c.Database.ConnectRetry = 0 }, ""},
		{"negative statement_timeout", func(c *config.Config) { c.Database.StatementTimeout = -1 }, "database.statement_timeout"},
		{"zero connect_timeout", func(c *config.Config) { c.Database.ConnectTimeout = 0 }, "database.connect_timeout"},
		{"zero wait_timeout", func(c *config.Config) { c.Database.WaitTimeout = 0 }, "database.wait_timeout"},
		{"shutdown_drain over a minute", func(c *config.Config) { c.ShutdownDrain = 2 * time.Minute }, "shutdown_drain"},
		{"trusted proxies CIDR and address", func(c *config.Config) { c.Server.TrustedProxies = []string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"} }, ""},
		{"trusted proxy not an address", func(c *config.Config) { c.Server.TrustedProxies = []string{"lb.internal"} }, "server.trusted_proxies[0]"},
		{"registrable scope with a space", func(c *config.Config) { c.OAuth.RegistrableScopes = []string{"openid", "a b"} }, "oauth.registrable_scopes[1]"},
		{"default audience with fragment", func(c *config.Config) { c.OAuth.DefaultAudience = "https://api.example.com/#x" }, "oauth.default_audience"},
		{"default audience relative", func(c *config.Config) { c.OAuth.DefaultAudience = "api" }, "oauth.default_audience"},
		{"zero mail per address", func(c *config.Config) { c.RateLimits.MailPerAddress = 0 }, "rate_limits.mail_per_address"},
		{"zero sign-ups per ip", func(c *config.Config) { c.RateLimits.SignUpsPerIP = 0 }, "rate_limits.signups_per_ip"},
		{"zero mail poll interval", func(c *config.Config) { c.Mail.PollInterval = 0 }, "mail.poll_interval"},
		{"short second secret", func(c *config.Config) { c.Secrets.System = []string{strings.Repeat("x", 32), "y"} }, "secrets.system[1]"},
		{"log format xml", func(c *config.Config) { c.Log.Format = "xml" }, "log.format"},
		{"log level debug", func(c *config.Config) { c.Log.Level = "debug" }, ""},
		{"branding set", func(c *config.Config) {
			c.Branding = config.Branding{ProductName: "Acme ID", LogoURL: "https://cdn.acme.example/logo.svg", FaviconURL: "/static/acme.ico", PrimaryColor: "#FFD000", SupportURL: "mailto:help@acme.example"}
		}, ""},
		{"branding https support", func(c *config.Config) { c.Branding.SupportURL = "https://help.acme.example/" }, ""},
		{"branding empty product name", func(c *config.Config) { c.Branding.ProductName = " " }, "branding.product_name"},
		{"branding long product name", func(c *config.Config) { c.Branding.ProductName = strings.Repeat("n", 65) }, "branding.product_name"},
		{"branding short colour", func(c *config.Config) { c.Branding.PrimaryColor = "#fff" }, "branding.primary_color"},
		{"branding colour name", func(c *config.Config) { c.Branding.PrimaryColor = "red" }, "branding.primary_color"},
		{"branding http logo", func(c *config.Config) { c.Branding.LogoURL = "http://cdn.acme.example/logo.svg" }, "branding.logo_url"},
		{"branding javascript favicon", func(c *config.Config) { c.Branding.FaviconURL = "javascript:alert(1)" }, "branding.favicon_url"},
		{"branding protocol-relative logo", func(c *config.Config) { c.Branding.LogoURL = "//cdn.acme.example/logo.svg" }, "branding.logo_url"},
		{"branding support not a URL", func(c *config.Config) { c.Branding.SupportURL = "call us" }, "branding.support_url"},
		{"branding support two addresses", func(c *config.Config) { c.Branding.SupportURL = "mailto:a@example.com,b@example.com" }, "branding.support_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Default()
			tc.change(&c)
			wantValidation(t, c, tc.wantKey)
		})
	}
}

// wantValidation checks that c is valid (wantKey "") or that Validate reports
// exactly one problem, naming wantKey.
func wantValidation(t *testing.T, c config.Config, wantKey string) {
	t.Helper()
	err := c.Validate()
	if wantKey == "" {
		if err != nil {
			t.Errorf("Validate() = %v, want nil", err)
		}
		return
	}
	var ve *config.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Validate() = %v, want a *ValidationError naming %s", err, wantKey)
	}
	if len(ve.Problems) != 1 || !strings.HasPrefix(ve.Problems[0], wantKey+":") {
		t.Errorf("Validate() problems = %q, want one naming %s", ve.Problems, wantKey)
	}
}

func TestValidateServe(t *testing.T) {
	c := config.Default()
	if err := c.ValidateServe(); err != nil {
		t.Errorf("embedded default: ValidateServe() = %v, want nil (a secret is generated)", err)
	}
	c.Database.URL = "postgres://u@h/db"
	err := c.ValidateServe()
	if err == nil || !strings.Contains(err.Error(), "secrets.system") || !strings.Contains(err.Error(), "GATEHOUSE_SECRETS_SYSTEM") {
		t.Errorf("external database without a secret: ValidateServe() = %v, want secrets.system required", err)
	}
	c.Secrets.System = []string{strings.Repeat("s", 32)}
	if err := c.ValidateServe(); err != nil {
		t.Errorf("with a secret: ValidateServe() = %v", err)
	}
}

func TestLoadBadValueNamesKey(t *testing.T) {
	for _, tc := range []struct {
		name    string
		file    string
		env     map[string]string
		wantKey string
	}{
		{"duration from env", "", map[string]string{"GATEHOUSE_DATABASE_CONNECT_TIMEOUT": "ten seconds"}, "connect_timeout"},
		{"duration from file", "shutdown_grace: soon\n", nil, "shutdown_grace"},
		{"number from env", "", map[string]string{"GATEHOUSE_DATABASE_MAX_OPEN_CONNS": "many"}, "max_open_conns"},
		{"bool from env", "", map[string]string{"GATEHOUSE_MIGRATE": "perhaps"}, "migrate"},
		{"validation after loading", "", map[string]string{"GATEHOUSE_LOG_FORMAT": "xml"}, "log.format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, "gatehouse.yaml", tc.file)
			}
			_, err := config.Load(path, envFrom(tc.env), nil)
			if err == nil {
				t.Fatalf("Load = nil error, want one naming %s", tc.wantKey)
			}
			if !strings.Contains(err.Error(), tc.wantKey) {
				t.Errorf("Load error %q does not name %s", err, tc.wantKey)
			}
		})
	}
}

func TestLoadRefusesUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		name, file, wantKey string
	}{
		{"misspelt top-level key", "isuer: https://id.example.com\n", "isuer"},
		{"misspelt nested key", "database:\n  max_open_con: 5\n", "database.max_open_con"},
		{"unknown section", "smtp:\n  host: mail\n", "smtp.host"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Load(writeFile(t, "gatehouse.yaml", tc.file), envFrom(nil), nil)
			if err == nil || !strings.Contains(err.Error(), tc.wantKey) || !strings.Contains(err.Error(), "unknown") {
				t.Errorf("Load = %v, want an unknown-key error naming %s", err, tc.wantKey)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "absent.yaml"), envFrom(nil), nil)
	if err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("Load(missing file) = %v, want an error naming the file", err)
	}
	if config.IsValidation(err) {
		t.Errorf("IsValidation(missing file) = true, want false")
	}
}

func TestMaskURL(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		secret         string
	}{
		{"userinfo password", "postgres://app:hunter2@db.example.com:5432/gh?sslmode=verify-full",
			"postgres://app:xxxxx@db.example.com:5432/gh?sslmode=verify-full", "hunter2"},
		{"password query parameter", "postgres://db.example.com/gh?password=hunter2&user=app",
			"postgres://db.example.com/gh?password=xxxxx&user=app", "hunter2"},
		{"both", "postgres://app:hunter2@h/gh?password=hunter3", "postgres://app:xxxxx@h/gh?password=xxxxx", "hunter"},
		{"no password", "postgres://app@h/gh", "postgres://app@h/gh", ""},
		{"encoded password", "postgres://app:p%40ss%2Fw0rd@h/gh", "postgres://app:xxxxx@h/gh", "w0rd"},
		{"empty", "", "", ""},
		{"unparseable keeps the scheme only", "postgres://app:hunter2@h:port:bad/gh\x7f", "postgres://(unparseable URL hidden)", "hunter2"},
		{"sslpassword query parameter", "postgres://app@h/gh?sslkey=/k.pem&sslpassword=hunter2",
			"postgres://app@h/gh?sslkey=%2Fk.pem&sslpassword=xxxxx", "hunter2"},
		{"key=value password", "host=db.example.com user=app password=hunter2 dbname=gh",
			"host=db.example.com user=app password=xxxxx dbname=gh", "hunter2"},
		{"key=value sslpassword", "host=h sslkey=/k.pem sslpassword=hunter2 sslmode=verify-full",
			"host=h sslkey=/k.pem sslpassword=xxxxx sslmode=verify-full", "hunter2"},
		{"key=value quoted with spaces", "host=h password='hunter2 is long' dbname=gh",
			"host=h password=xxxxx dbname=gh", "hunter2"},
		{"key=value quoted with an escaped quote", `host=h password='it\'s hunter2' dbname=gh`,
			"host=h password=xxxxx dbname=gh", "hunter2"},
		{"key=value spaces around =", "host=h password = hunter2 dbname=gh",
			"host=h password = xxxxx dbname=gh", "hunter2"},
		{"key=value unterminated quote", "host=h password='hunter2 dbname=gh",
			"host=h password=xxxxx", "hunter2"},
		{"key=value, a :// inside the password", "host=h password=a://hunter2@x dbname=gh",
			"host=h password=xxxxx dbname=gh", "hunter2"},
		{"sqlite path", "sqlite:data/gatehouse.db", "sqlite:data/gatehouse.db", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := config.MaskURL(tc.in)
			if got != tc.want {
				t.Errorf("MaskURL(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if tc.secret != "" && strings.Contains(got, tc.secret) {
				t.Errorf("MaskURL(%q) = %q still holds %q", tc.in, got, tc.secret)
			}
		})
	}
}

func TestStringHidesSecrets(t *testing.T) {
	const (
		password = "pw-Neon-7f3a"
		secret   = "system-secret-0123456789abcdef0123456789"
	)
	c := config.Default()
	c.Database.URL = "postgres://app:" + password + "@ep-x-pooler.eu-central-1.aws.neon.tech/gh?sslmode=verify-full"
	c.Database.DirectURL = "postgres://app@ep-x.eu-central-1.aws.neon.tech/gh?sslmode=verify-full&password=" + password
	c.Secrets.System = []string{secret, secret + "-old"}
	s := c.String()
	for _, leak := range []string{password, secret} {
		if strings.Contains(s, leak) {
			t.Errorf("Config.String() = %q contains a secret", s)
		}
	}
	for _, want := range []string{"ep-x-pooler.eu-central-1.aws.neon.tech", "ep-x.eu-central-1.aws.neon.tech", "[2 hidden]"} {
		if !strings.Contains(s, want) {
			t.Errorf("Config.String() = %q, want it to show %q", s, want)
		}
	}
}

// TestExampleFile checks that config/gatehouse.example.yaml documents every key with
// its environment variables, loads cleanly, and shows the defaults.
func TestExampleFile(t *testing.T) {
	const path = "gatehouse.example.yaml"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k := koanf.New(".")
	if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
		t.Fatalf("parse %s: %v", path, err)
	}
	inFile := map[string]bool{}
	for _, key := range k.Keys() {
		inFile[key] = true
	}
	for _, key := range config.Keys {
		if !inFile[key.Path] {
			t.Errorf("%s does not set %s", path, key.Path)
		}
		for _, env := range key.Env {
			if !strings.Contains(string(raw), env) {
				t.Errorf("%s does not mention %s (environment variable of %s)", path, env, key.Path)
			}
		}
	}
	c, err := config.Load(path, envFrom(nil), nil)
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	if !reflect.DeepEqual(normalize(c), normalize(config.Default())) {
		t.Errorf("%s does not show the defaults:\n got  %+v\n want %+v", path, c, config.Default())
	}
}

func TestAdminAndRegistrationKeys(t *testing.T) {
	tokA, tokB := strings.Repeat("a", 32), strings.Repeat("b", 32)
	c, err := config.Load("", envFrom(map[string]string{
		"GATEHOUSE_ADMIN_ADDR":                 "127.0.0.1:9091",
		"GATEHOUSE_ADMIN_TOKENS":               tokA + ", " + tokB,
		"GATEHOUSE_OAUTH_DYNAMIC_REGISTRATION": "true",
		"GATEHOUSE_OAUTH_REGISTRATION_TOKENS":  tokB,
	}), nil)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if c.Admin.Addr != "127.0.0.1:9091" || !reflect.DeepEqual(c.Admin.Tokens, []string{tokA, tokB}) {
		t.Errorf("admin = %+v", c.Admin)
	}
	if !c.OAuth.DynamicRegistration || !reflect.DeepEqual(c.OAuth.RegistrationTokens, []string{tokB}) {
		t.Errorf("oauth registration = %v %v", c.OAuth.DynamicRegistration, c.OAuth.RegistrationTokens)
	}
	if s := c.String(); strings.Contains(s, tokA) || strings.Contains(s, tokB) {
		t.Errorf("String() shows a token: %s", s)
	}

	// An empty flag turns the admin listener off.
	c, err = config.Load("", envFrom(nil), map[string]any{"admin.addr": ""})
	if err != nil || c.Admin.Addr != "" {
		t.Errorf("Load(admin.addr \"\") = %q, %v; want off", c.Admin.Addr, err)
	}

	bad := config.Default()
	bad.Admin.Addr = "nowhere"
	bad.Admin.Tokens = []string{"short"}
	bad.OAuth.DynamicRegistration = true
	err = bad.Validate()
	for _, key := range []string{"admin.addr", "admin.tokens[0]", "oauth.registration_tokens"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate() = %v, want a problem naming %s", err, key)
		}
	}
}

// TestIdleConnsFollowOpenConns: unset or -1, database.max_idle_conns takes
// max_open_conns; set to a number, it is kept.
func TestIdleConnsFollowOpenConns(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		name  string
		env   map[string]string
		flags map[string]any
		want  int
	}{
		{"default", nil, nil, config.Default().Database.MaxOpenConns},
		{"open raised", map[string]string{"GATEHOUSE_DATABASE_MAX_OPEN_CONNS": "20"}, nil, 20},
		{"idle set in env", map[string]string{"GATEHOUSE_DATABASE_MAX_OPEN_CONNS": "20", "GATEHOUSE_DATABASE_MAX_IDLE_CONNS": "3"}, nil, 3},
		{"idle set by flag", nil, map[string]any{"database.max_idle_conns": 0}, 0},
		{"-1 in env", map[string]string{"GATEHOUSE_DATABASE_MAX_OPEN_CONNS": "5", "GATEHOUSE_DATABASE_MAX_IDLE_CONNS": "-1"}, nil, 5},
	} {
		c, err := config.Load("", env(tc.env), tc.flags)
		if err != nil {
			t.Fatalf("%s: Load: %v", tc.name, err)
		}
		if c.Database.IdleConns() != tc.want {
			t.Errorf("%s: idle connections = %d, want %d", tc.name, c.Database.IdleConns(), tc.want)
		}
	}
}

// TestPasswordCostPairs: each of OWASP's equally strong argon2id pairs is
// accepted (with room in memory_limit for the larger ones).
func TestPasswordCostPairs(t *testing.T) {
	for _, p := range [][2]uint32{{47104, 1}, {19456, 2}, {12288, 3}, {9216, 4}, {7168, 5}, {65536, 3}} {
		c := config.Default()
		c.Passwords.MemoryKiB, c.Passwords.Iterations = p[0], p[1]
		c.MemoryLimit = 256 << 20
		if err := c.Validate(); err != nil {
			t.Errorf("memory_kib %d, iterations %d: %v", p[0], p[1], err)
		}
	}
}

// TestAPITrustedOrigins checks which api.trusted_origins Validate accepts: web
// origins as the Origin header carries them, http for loopback hosts only.
func TestAPITrustedOrigins(t *testing.T) {
	for _, tc := range []struct {
		origin string
		ok     bool
	}{
		{"https://app.example.com", true},
		{"https://app.example.com:8443", true},
		{"http://localhost:3000", true},
		{"http://127.0.0.1:5173", true},
		{"http://app.example.com", false},
		{"https://app.example.com/", false},
		{"https://app.example.com/path", false},
		{"https://*.example.com", false},
		{"*", false},
		{"app.example.com", false},
		{"https://user@app.example.com", false},
		{"https://app.example.com?x=1", false},
		{"", false},
	} {
		c := config.Default()
		c.API.TrustedOrigins = []string{tc.origin}
		err := c.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("api.trusted_origins [%q]: Validate() = %v, want ok=%v", tc.origin, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "api.trusted_origins[0]") {
			t.Errorf("api.trusted_origins [%q]: error %q does not name the key", tc.origin, err)
		}
	}
	c := config.Default()
	c.API.TokenLifetime = 2 * time.Hour
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "api.token_lifetime") {
		t.Errorf("api.token_lifetime 2h: Validate() = %v, want an error naming the key", err)
	}
	got, err := config.Load("", envFrom(map[string]string{"GATEHOUSE_API_TRUSTED_ORIGINS": "https://a.example.com,http://localhost:3000"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"https://a.example.com", "http://localhost:3000"}; !reflect.DeepEqual(got.API.TrustedOrigins, want) {
		t.Errorf("from the environment: api.trusted_origins = %q, want %q", got.API.TrustedOrigins, want)
	}
}
