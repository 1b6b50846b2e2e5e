package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
)

// Key describes one configuration key: its YAML path, the environment variables that
// set it (the first one wins) and whether it holds a list.
type Key struct {
	Path string
	Env  []string
	List bool
}

// Keys lists every key that can be set from the environment. The YAML file may set
// the same keys; flags are mapped by cmd/gatehouse onto these paths.
var Keys = []Key{
	{Path: "issuer", Env: []string{"GATEHOUSE_ISSUER"}},
	{Path: "addr", Env: []string{"GATEHOUSE_ADDR"}},
	{Path: "data_dir", Env: []string{"GATEHOUSE_DATA_DIR"}},
	{Path: "migrate", Env: []string{"GATEHOUSE_MIGRATE"}},
	{Path: "shutdown_grace", Env: []string{"GATEHOUSE_SHUTDOWN_GRACE"}},
	{Path: "shutdown_drain", Env: []string{"GATEHOUSE_SHUTDOWN_DRAIN"}},
	{Path: "memory_limit", Env: []string{"GATEHOUSE_MEMORY_LIMIT"}},
	{Path: "database.url", Env: []string{"GATEHOUSE_DATABASE_URL", "DATABASE_URL"}},
	{Path: "database.direct_url", Env: []string{"GATEHOUSE_DATABASE_DIRECT_URL", "DATABASE_DIRECT_URL"}},
	{Path: "database.pooler", Env: []string{"GATEHOUSE_DATABASE_POOLER"}},
	{Path: "database.max_open_conns", Env: []string{"GATEHOUSE_DATABASE_MAX_OPEN_CONNS"}},
	{Path: "database.max_idle_conns", Env: []string{"GATEHOUSE_DATABASE_MAX_IDLE_CONNS"}},
	{Path: "database.conn_max_idle_time", Env: []string{"GATEHOUSE_DATABASE_CONN_MAX_IDLE_TIME"}},
	{Path: "database.conn_max_lifetime", Env: []string{"GATEHOUSE_DATABASE_CONN_MAX_LIFETIME"}},
	{Path: "database.connect_timeout", Env: []string{"GATEHOUSE_DATABASE_CONNECT_TIMEOUT"}},
	{Path: "database.connect_retry", Env: []string{"GATEHOUSE_DATABASE_CONNECT_RETRY"}},
	{Path: "database.statement_timeout", Env: []string{"GATEHOUSE_DATABASE_STATEMENT_TIMEOUT"}},
	{Path: "database.client_cache_ttl", Env: []string{"GATEHOUSE_DATABASE_CLIENT_CACHE_TTL"}},
	{Path: "database.wait_timeout", Env: []string{"GATEHOUSE_DATABASE_WAIT_TIMEOUT"}},
	{Path: "secrets.system", Env: []string{"GATEHOUSE_SECRETS_SYSTEM"}, List: true},
	{Path: "log.level", Env: []string{"GATEHOUSE_LOG_LEVEL"}},
	{Path: "log.format", Env: []string{"GATEHOUSE_LOG_FORMAT"}},
	{Path: "oauth.access_token_lifespan", Env: []string{"GATEHOUSE_OAUTH_ACCESS_TOKEN_LIFESPAN"}},
	{Path: "oauth.refresh_token_lifespan", Env: []string{"GATEHOUSE_OAUTH_REFRESH_TOKEN_LIFESPAN"}},
	{Path: "oauth.id_token_lifespan", Env: []string{"GATEHOUSE_OAUTH_ID_TOKEN_LIFESPAN"}},
	{Path: "oauth.authorize_code_lifespan", Env: []string{"GATEHOUSE_OAUTH_AUTHORIZE_CODE_LIFESPAN"}},
	{Path: "oauth.par_lifespan", Env: []string{"GATEHOUSE_OAUTH_PAR_LIFESPAN"}},
	{Path: "oauth.refresh_token_grace_period", Env: []string{"GATEHOUSE_OAUTH_REFRESH_TOKEN_GRACE_PERIOD"}},
	{Path: "oauth.enforce_pkce", Env: []string{"GATEHOUSE_OAUTH_ENFORCE_PKCE"}},
	{Path: "oauth.jwt_access_tokens", Env: []string{"GATEHOUSE_OAUTH_JWT_ACCESS_TOKENS"}},
	{Path: "oauth.jwt_access_token_alg", Env: []string{"GATEHOUSE_OAUTH_JWT_ACCESS_TOKEN_ALG"}},
	{Path: "oauth.dynamic_registration", Env: []string{"GATEHOUSE_OAUTH_DYNAMIC_REGISTRATION"}},
	{Path: "oauth.registration_tokens", Env: []string{"GATEHOUSE_OAUTH_REGISTRATION_TOKENS"}, List: true},
	{Path: "oauth.registrable_scopes", Env: []string{"GATEHOUSE_OAUTH_REGISTRABLE_SCOPES"}, List: true},
	{Path: "oauth.default_audience", Env: []string{"GATEHOUSE_OAUTH_DEFAULT_AUDIENCE"}},
	{Path: "keys.refresh_interval", Env: []string{"GATEHOUSE_KEYS_REFRESH_INTERVAL"}},
	{Path: "janitor.interval", Env: []string{"GATEHOUSE_JANITOR_INTERVAL"}},
	{Path: "janitor.batch_size", Env: []string{"GATEHOUSE_JANITOR_BATCH_SIZE"}},
	{Path: "janitor.batch_pause", Env: []string{"GATEHOUSE_JANITOR_BATCH_PAUSE"}},
	{Path: "mail.from", Env: []string{"GATEHOUSE_MAIL_FROM"}},
	{Path: "mail.smtp_host", Env: []string{"GATEHOUSE_MAIL_SMTP_HOST"}},
	{Path: "mail.smtp_port", Env: []string{"GATEHOUSE_MAIL_SMTP_PORT"}},
	{Path: "mail.smtp_username", Env: []string{"GATEHOUSE_MAIL_SMTP_USERNAME"}},
	{Path: "mail.smtp_password", Env: []string{"GATEHOUSE_MAIL_SMTP_PASSWORD"}},
	{Path: "mail.smtp_tls", Env: []string{"GATEHOUSE_MAIL_SMTP_TLS"}},
	{Path: "mail.poll_interval", Env: []string{"GATEHOUSE_MAIL_POLL_INTERVAL"}},
	{Path: "sessions.idle_timeout", Env: []string{"GATEHOUSE_SESSIONS_IDLE_TIMEOUT"}},
	{Path: "sessions.absolute_timeout", Env: []string{"GATEHOUSE_SESSIONS_ABSOLUTE_TIMEOUT"}},
	{Path: "passwords.max_concurrent_hashes", Env: []string{"GATEHOUSE_PASSWORDS_MAX_CONCURRENT_HASHES"}},
	{Path: "passwords.memory_kib", Env: []string{"GATEHOUSE_PASSWORDS_MEMORY_KIB"}},
	{Path: "passwords.iterations", Env: []string{"GATEHOUSE_PASSWORDS_ITERATIONS"}},
	{Path: "mfa.policy", Env: []string{"GATEHOUSE_MFA_POLICY"}},
	{Path: "mfa.issuer", Env: []string{"GATEHOUSE_MFA_ISSUER"}},
	{Path: "templates_dir", Env: []string{"GATEHOUSE_TEMPLATES_DIR"}},
	{Path: "locales_dir", Env: []string{"GATEHOUSE_LOCALES_DIR"}},
	{Path: "branding.product_name", Env: []string{"GATEHOUSE_BRANDING_PRODUCT_NAME"}},
	{Path: "branding.logo_url", Env: []string{"GATEHOUSE_BRANDING_LOGO_URL"}},
	{Path: "branding.favicon_url", Env: []string{"GATEHOUSE_BRANDING_FAVICON_URL"}},
	{Path: "branding.primary_color", Env: []string{"GATEHOUSE_BRANDING_PRIMARY_COLOR"}},
	{Path: "branding.support_url", Env: []string{"GATEHOUSE_BRANDING_SUPPORT_URL"}},
	{Path: "admin.addr", Env: []string{"GATEHOUSE_ADMIN_ADDR"}},
	{Path: "admin.tokens", Env: []string{"GATEHOUSE_ADMIN_TOKENS"}, List: true},
	{Path: "server.trusted_proxies", Env: []string{"GATEHOUSE_SERVER_TRUSTED_PROXIES"}, List: true},
	// A list of providers, each a map: the YAML file only (no environment
	// variable holds a list of maps).
	{Path: "federation.providers"},
	{Path: "api.trusted_origins", Env: []string{"GATEHOUSE_API_TRUSTED_ORIGINS"}, List: true},
	{Path: "api.require_email_verification", Env: []string{"GATEHOUSE_API_REQUIRE_EMAIL_VERIFICATION"}},
	{Path: "api.token_lifetime", Env: []string{"GATEHOUSE_API_TOKEN_LIFETIME"}},
	{Path: "outbound.allow_loopback", Env: []string{"GATEHOUSE_OUTBOUND_ALLOW_LOOPBACK"}},
	{Path: "rate_limits.mail_per_address", Env: []string{"GATEHOUSE_RATE_LIMITS_MAIL_PER_ADDRESS"}},
	{Path: "rate_limits.mail_per_ip", Env: []string{"GATEHOUSE_RATE_LIMITS_MAIL_PER_IP"}},
	{Path: "rate_limits.signups_per_ip", Env: []string{"GATEHOUSE_RATE_LIMITS_SIGNUPS_PER_IP"}},
}

// Load builds the configuration: Default, then the YAML file at path (if path is not
// empty), then the environment read through getenv, then flags (key path → value, as
// strings or typed values). It returns the first loading error, or the Config and
// the result of Validate.
func Load(path string, getenv func(string) string, flags map[string]any) (Config, error) {
	k := koanf.New(".")
	if err := k.Load(confmap.Provider(defaultsMap(), "."), nil); err != nil {
		return Config{}, fmt.Errorf("load defaults: %w", err)
	}
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
		if unknown := unknownKeys(k); len(unknown) > 0 {
			return Config{}, fmt.Errorf("config file %s: unknown keys %s (see config/gatehouse.example.yaml)", path, strings.Join(unknown, ", "))
		}
	}
	env := map[string]any{}
	for _, key := range Keys {
		for _, name := range key.Env {
			v := getenv(name)
			if v == "" {
				continue
			}
			if key.List {
				env[key.Path] = splitList(v)
			} else {
				env[key.Path] = v
			}
			break
		}
	}
	if err := k.Load(confmap.Provider(env, "."), nil); err != nil {
		return Config{}, fmt.Errorf("load environment: %w", err)
	}
	if len(flags) > 0 {
		if err := k.Load(confmap.Provider(flags, "."), nil); err != nil {
			return Config{}, fmt.Errorf("load flags: %w", err)
		}
	}
	var c Config
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{Tag: "koanf"}); err != nil {
		// The decoder's message names the key and the value it could not convert;
		// the value of a secret key is never a duration or number, so nothing
		// secret is echoed here.
		return Config{}, fmt.Errorf("configuration: %w", err)
	}
	return c, c.Validate()
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func defaultsMap() map[string]any {
	d := Default()
	return map[string]any{
		"issuer":                           d.Issuer,
		"addr":                             d.Addr,
		"data_dir":                         d.DataDir,
		"migrate":                          d.Migrate,
		"shutdown_grace":                   d.ShutdownGrace.String(),
		"shutdown_drain":                   d.ShutdownDrain.String(),
		"memory_limit":                     d.MemoryLimit.String(),
		"database.url":                     d.Database.URL,
		"database.direct_url":              d.Database.DirectURL,
		"database.pooler":                  d.Database.Pooler,
		"database.max_open_conns":          d.Database.MaxOpenConns,
		"database.max_idle_conns":          d.Database.MaxIdleConns,
		"database.conn_max_idle_time":      d.Database.ConnMaxIdleTime.String(),
		"database.conn_max_lifetime":       d.Database.ConnMaxLifetime.String(),
		"database.connect_timeout":         d.Database.ConnectTimeout.String(),
		"database.connect_retry":           d.Database.ConnectRetry.String(),
		"database.statement_timeout":       d.Database.StatementTimeout.String(),
		"database.client_cache_ttl":        d.Database.ClientCacheTTL.String(),
		"database.wait_timeout":            d.Database.WaitTimeout.String(),
		"secrets.system":                   []string{},
		"log.level":                        d.Log.Level,
		"log.format":                       d.Log.Format,
		"oauth.access_token_lifespan":      d.OAuth.AccessTokenLifespan.String(),
		"oauth.refresh_token_lifespan":     d.OAuth.RefreshTokenLifespan.String(),
		"oauth.id_token_lifespan":          d.OAuth.IDTokenLifespan.String(),
		"oauth.authorize_code_lifespan":    d.OAuth.AuthorizeCodeLifespan.String(),
		"oauth.par_lifespan":               d.OAuth.PARLifespan.String(),
		"oauth.refresh_token_grace_period": d.OAuth.RefreshTokenGracePeriod.String(),
		"oauth.enforce_pkce":               d.OAuth.EnforcePKCE,
		"oauth.jwt_access_tokens":          d.OAuth.JWTAccessTokens,
		"oauth.jwt_access_token_alg":       d.OAuth.JWTAccessTokenAlg,
		"oauth.dynamic_registration":       d.OAuth.DynamicRegistration,
		"oauth.registration_tokens":        []string{},
		"oauth.registrable_scopes":         d.OAuth.RegistrableScopes,
		"oauth.default_audience":           d.OAuth.DefaultAudience,
		"keys.refresh_interval":            d.Keys.RefreshInterval.String(),
		"janitor.interval":                 d.Janitor.Interval.String(),
		"janitor.batch_size":               d.Janitor.BatchSize,
		"janitor.batch_pause":              d.Janitor.BatchPause.String(),
		"mail.from":                        d.Mail.From,
		"mail.smtp_host":                   d.Mail.SMTPHost,
		"mail.smtp_port":                   d.Mail.SMTPPort,
		"mail.smtp_username":               d.Mail.SMTPUsername,
		"mail.smtp_password":               d.Mail.SMTPPassword,
		"mail.smtp_tls":                    d.Mail.SMTPTLS,
		"mail.poll_interval":               d.Mail.PollInterval.String(),
		"sessions.idle_timeout":            d.Sessions.IdleTimeout.String(),
		"sessions.absolute_timeout":        d.Sessions.AbsoluteTimeout.String(),
		"passwords.max_concurrent_hashes":  d.Passwords.MaxConcurrentHashes,
		"passwords.memory_kib":             d.Passwords.MemoryKiB,
		"passwords.iterations":             d.Passwords.Iterations,
		"mfa.policy":                       d.MFA.Policy,
		"mfa.issuer":                       d.MFA.Issuer,
		"templates_dir":                    d.TemplatesDir,
		"locales_dir":                      d.LocalesDir,
		"branding.product_name":            d.Branding.ProductName,
		"branding.logo_url":                d.Branding.LogoURL,
		"branding.favicon_url":             d.Branding.FaviconURL,
		"branding.primary_color":           d.Branding.PrimaryColor,
		"branding.support_url":             d.Branding.SupportURL,
		"admin.addr":                       d.Admin.Addr,
		"admin.tokens":                     []string{},
		"server.trusted_proxies":           []string{},
		"federation.providers":             []any{},
		"outbound.allow_loopback":          d.Outbound.AllowLoopback,
		"api.trusted_origins":              []string{},
		"api.require_email_verification":   d.API.RequireEmailVerification,
		"api.token_lifetime":               d.API.TokenLifetime,
		"rate_limits.mail_per_address":     d.RateLimits.MailPerAddress,
		"rate_limits.mail_per_ip":          d.RateLimits.MailPerIP,
		"rate_limits.signups_per_ip":       d.RateLimits.SignUpsPerIP,
	}
}

func unknownKeys(k *koanf.Koanf) []string {
	known := map[string]bool{}
	for _, key := range Keys {
		known[key.Path] = true
	}
	var out []string
	for _, key := range k.Keys() {
		if !known[key] {
			out = append(out, key)
		}
	}
	return out
}

// IsValidation reports whether err lists configuration problems (as opposed to a file
// that could not be read).
func IsValidation(err error) bool {
	var v *ValidationError
	return errors.As(err, &v)
}
