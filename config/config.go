package config

import (
	"fmt"
	"net"
	netmail "net/mail"
	"net/url"
	"strings"
	"time"
)

// Config is everything an operator can set. Field tags name the key used in the YAML
// file; Keys lists the matching environment variables and flags.
type Config struct {
	// Issuer is the public URL of this provider, as clients see it.
	Issuer string `koanf:"issuer"`
	// Addr is the listen address of the public HTTP server.
	Addr string `koanf:"addr"`
	// DataDir holds the embedded SQLite database and the generated system secret
	// when no database or secret is configured.
	DataDir string `koanf:"data_dir"`
	// Migrate applies pending migrations at start-up. The embedded SQLite default
	// always does.
	Migrate bool `koanf:"migrate"`
	// ShutdownGrace bounds how long in-flight requests may run after SIGTERM.
	ShutdownGrace time.Duration `koanf:"shutdown_grace"`
	// ShutdownDrain is how long /readyz answers 503 after SIGTERM before the
	// listener closes, so a load balancer stops sending first.
	ShutdownDrain time.Duration `koanf:"shutdown_drain"`
	// MemoryLimit is the soft memory limit serve gives the Go runtime when the
	// environment sets no GOMEMLIMIT; 0 leaves the runtime's default (none).
	MemoryLimit ByteSize `koanf:"memory_limit"`

	Database Database    `koanf:"database"`
	Secrets  Secrets     `koanf:"secrets"`
	Log      Log         `koanf:"log"`
	OAuth    OAuth       `koanf:"oauth"`
	Keys     SigningKeys `koanf:"keys"`
	Janitor  Janitor     `koanf:"janitor"`
	Mail     Mail        `koanf:"mail"`
	Sessions Sessions    `koanf:"sessions"`
	Admin    Admin       `koanf:"admin"`
	Server   Server      `koanf:"server"`
	Outbound Outbound    `koanf:"outbound"`
	// API configures the /api/auth JSON API for first-party apps.
	API API `koanf:"api"`
	// RateLimits rations mail and sign-ups per address and per client IP.
	RateLimits RateLimits `koanf:"rate_limits"`
	// Passwords bounds the memory and CPU password hashing may take.
	Passwords Passwords `koanf:"passwords"`
	// MFA sets when users must sign in with a second factor.
	MFA MFA `koanf:"mfa"`
	// TemplatesDir holds an operator's page, mail and static files, each of which
	// replaces the built-in file of the same name; empty uses the built-in ones.
	TemplatesDir string `koanf:"templates_dir"`
	// LocalesDir is a directory of message files (<language tag>.json or
	// .yaml) that override the built-in messages key by key and add
	// languages; empty uses the built-in ones (en, de, es, fr, pt-BR).
	LocalesDir string `koanf:"locales_dir"`
	// Branding is the product name, logo, favicon, colour and support link of
	// every page and mail; the admin API may change it at run time.
	Branding Branding `koanf:"branding"`
	// Federation lists the upstream identity providers people may sign in
	// with (Google, GitHub, a company's OpenID Connect provider).
	Federation Federation `koanf:"federation"`
}

// Branding is the default branding (internal/branding); what the admin API sets
// wins over it, field by field.
type Branding struct {
	// ProductName replaces "Gatehouse" in titles, the header and mail.
	ProductName string `koanf:"product_name"`
	// LogoURL and FaviconURL are https URLs or paths on this server (such as
	// /static/logo.svg, a file in templates_dir); empty shows none.
	LogoURL    string `koanf:"logo_url"`
	FaviconURL string `koanf:"favicon_url"`
	// PrimaryColor is #rrggbb; the colours drawn from it stay readable.
	PrimaryColor string `koanf:"primary_color"`
	// SupportURL is an https URL or a mailto: address; empty shows none.
	SupportURL string `koanf:"support_url"`
}

// Admin configures the admin API's listener (internal/admin).
type Admin struct {
	// Addr is the listen address of the admin API, /metrics and /openapi.json;
	// empty turns the admin listener off.
	Addr string `koanf:"addr"`
	// Tokens are the bearer tokens the admin API accepts; several at once, so a
	// new one can be added before an old one is dropped. None configured makes
	// every /admin route answer 503.
	Tokens []string `koanf:"tokens"`
}

// Server configures how the public listener sees the network.
type Server struct {
	// TrustedProxies are the CIDRs (or single addresses) of the reverse proxies and
	// load balancers in front of Gatehouse. X-Forwarded-For and Forwarded are read
	// only from a peer in one of them; empty means they are ignored and the TCP
	// peer is the client.
	TrustedProxies []string `koanf:"trusted_proxies"`
}

// API configures the /api/auth JSON API (internal/authapi).
type API struct {
	// TrustedOrigins are the web origins (scheme://host[:port]) whose pages may
	// call the API with the session cookie: their unsafe requests are accepted
	// and CORS with credentials answers them. The issuer's origin is always
	// trusted.
	TrustedOrigins []string `koanf:"trusted_origins"`
	// RequireEmailVerification refuses sign-in by API (403 EMAIL_NOT_VERIFIED)
	// until the address is verified.
	RequireEmailVerification bool `koanf:"require_email_verification"`
	// TokenLifetime is how long a JWT from /api/auth/token is valid: 15m by
	// default, at most 1h.
	TokenLifetime time.Duration `koanf:"token_lifetime"`
}

// Outbound configures the one HTTP client every fetch the server makes goes
// through (client JWKS, later upstream providers and logout notifications).
type Outbound struct {
	// AllowLoopback lets fetches reach loopback addresses, over plain http too:
	// for development and tests only. Private, link-local and metadata ranges
	// stay refused.
	AllowLoopback bool `koanf:"allow_loopback"`
}

// RateLimits rations what costs mail or creates accounts, per hour. Past a limit
// the request gets 429 with Retry-After and nothing is queued.
type RateLimits struct {
	// MailPerAddress is how many verification, reset and notice mails one e-mail
	// address may be sent per hour.
	MailPerAddress int `koanf:"mail_per_address"`
	// MailPerIP is how many such mails requests from one client IP may cause per hour.
	MailPerIP int `koanf:"mail_per_ip"`
	// SignUpsPerIP is how many sign-ups one client IP may make per hour.
	SignUpsPerIP int `koanf:"signups_per_ip"`
}

// Mail configures outgoing e-mail. With no SMTP host, messages are written to the
// log (the development mailer).
type Mail struct {
	From         string `koanf:"from"`
	SMTPHost     string `koanf:"smtp_host"`
	SMTPPort     int    `koanf:"smtp_port"`
	SMTPUsername string `koanf:"smtp_username"`
	SMTPPassword string `koanf:"smtp_password"`
	// SMTPTLS is "starttls" (default), "tls" (implicit, port 465) or "none"
	// (loopback hosts only).
	SMTPTLS string `koanf:"smtp_tls"`
	// PollInterval is how often the outbox looks for due mail when nothing woke
	// it (a mail queued here or, on PostgreSQL, a NOTIFY from another instance).
	PollInterval time.Duration `koanf:"poll_interval"`
}

// Sessions configures browser sign-in sessions.
type Sessions struct {
	IdleTimeout     time.Duration `koanf:"idle_timeout"`
	AbsoluteTimeout time.Duration `koanf:"absolute_timeout"`
}

// MFA configures second factors (internal/mfa).
type MFA struct {
	// Policy is the server-wide rule, which a client's mfa_policy overrides:
	// "optional" (users choose; the default), "required" (every user; those
	// without a factor add one after their password) or "if_enrolled" (users
	// who have a factor must use it). Users with a factor are always asked
	// for it.
	Policy string `koanf:"policy"`
	// Issuer is the name authenticator apps show next to the account; empty
	// uses the branding's product name.
	Issuer string `koanf:"issuer"`
}

// Passwords configures password hashing (internal/identity).
type Passwords struct {
	// MaxConcurrentHashes bounds how many argon2id hashes run at once; each
	// holds MemoryKiB while it runs, and the others wait.
	MaxConcurrentHashes int `koanf:"max_concurrent_hashes"`
	// MemoryKiB and Iterations are argon2id's cost for new hashes (older ones are
	// replaced at the next sign-in). Any of OWASP's equally strong pairs is
	// accepted: 46 MiB × 1, 19 MiB × 2 (the default), 12 MiB × 3, 9 MiB × 4,
	// 7 MiB × 5, or more.
	MemoryKiB  uint32 `koanf:"memory_kib"`
	Iterations uint32 `koanf:"iterations"`
}

// minHashMemoryKiB is the least argon2id memory of OWASP's configurations
// (Password Storage Cheat Sheet), which rates these equally strong: 46 MiB × 1
// iteration, 19 MiB × 2, 12 MiB × 3, 9 MiB × 4, 7 MiB × 5.
const minHashMemoryKiB = 7168

// owaspHashMemoryKiB returns the least memory OWASP pairs with this many
// iterations; five or more need 7 MiB.
func owaspHashMemoryKiB(iterations uint32) uint32 {
	switch iterations {
	case 1:
		return 47104
	case 2:
		return 19456
	case 3:
		return 12288
	case 4:
		return 9216
	}
	return minHashMemoryKiB
}

// OAuth holds the protocol settings.
type OAuth struct {
	AccessTokenLifespan   time.Duration `koanf:"access_token_lifespan"`
	RefreshTokenLifespan  time.Duration `koanf:"refresh_token_lifespan"`
	IDTokenLifespan       time.Duration `koanf:"id_token_lifespan"`
	AuthorizeCodeLifespan time.Duration `koanf:"authorize_code_lifespan"`
	PARLifespan           time.Duration `koanf:"par_lifespan"`
	// RefreshTokenGracePeriod lets a just-rotated refresh token be used again for
	// this long (for clients that race their own refreshes). 0 means never.
	RefreshTokenGracePeriod time.Duration `koanf:"refresh_token_grace_period"`
	// EnforcePKCE requires PKCE of every client, not only public ones.
	EnforcePKCE bool `koanf:"enforce_pkce"`
	// JWTAccessTokens issues RFC 9068 JWT access tokens to clients that do not
	// choose; JWTAccessTokenAlg signs them: ES256 (the default), RS256 or EdDSA
	// (Ed25519; Gatehouse then keeps an EdDSA key besides RS256 and ES256).
	JWTAccessTokens   bool   `koanf:"jwt_access_tokens"`
	JWTAccessTokenAlg string `koanf:"jwt_access_token_alg"`
	// DynamicRegistration serves Dynamic Client Registration (RFC 7591, with
	// RFC 7592 management) at /oauth2/register.
	DynamicRegistration bool `koanf:"dynamic_registration"`
	// RegistrationTokens are the initial access tokens registration requires;
	// at least one is needed when DynamicRegistration is on.
	RegistrationTokens []string `koanf:"registration_tokens"`
	// RegistrableScopes are the scopes a dynamically registered client may ask
	// for; anything else is invalid_client_metadata (RFC 7591 §2).
	RegistrableScopes []string `koanf:"registrable_scopes"`
	// DefaultAudience is the aud of access tokens whose request named no
	// resource (RFC 8707); empty means the issuer.
	DefaultAudience string `koanf:"default_audience"`
}

// SigningKeys configures signing keys.
type SigningKeys struct {
	// RefreshInterval bounds how long a key rotated on one instance takes to be
	// served by every other when no NOTIFY reached it (SQLite, a pooler without
	// database.direct_url, a lost listener), and so how long after a rotation the
	// new key starts signing. An idle instance reloads its keys this often.
	RefreshInterval time.Duration `koanf:"refresh_interval"`
}

// Janitor configures the background deletion of expired codes, tokens and sessions.
type Janitor struct {
	Interval  time.Duration `koanf:"interval"`   // 0 turns the background sweeper off
	BatchSize int           `koanf:"batch_size"` // rows per DELETE, to keep locks short
	// BatchPause is the wait after each full batch, so that a long sweep (a
	// backlog of millions of expired tokens) leaves the database to requests.
	BatchPause time.Duration `koanf:"batch_pause"`
}

// Database says where the data lives and how connections behave.
type Database struct {
	// URL is the connection string the server uses (Neon: the pooled one). Empty
	// means the embedded SQLite file in DataDir.
	URL string `koanf:"url"`
	// DirectURL bypasses any pooler; migrations and advisory locks use it. Empty
	// means URL.
	DirectURL string `koanf:"direct_url"`
	// Pooler is "auto" (a "-pooler" host name means PgBouncer in transaction mode),
	// "transaction" (always treat URL as pooled) or "none".
	Pooler string `koanf:"pooler"`
	// MaxOpenConns, MaxIdleConns, ConnMaxIdleTime and ConnMaxLifetime size the pool;
	// MaxIdleConns IdleFollowsOpen (the default) means as many as MaxOpenConns.
	MaxOpenConns    int           `koanf:"max_open_conns"`
	MaxIdleConns    int           `koanf:"max_idle_conns"`
	ConnMaxIdleTime time.Duration `koanf:"conn_max_idle_time"`
	ConnMaxLifetime time.Duration `koanf:"conn_max_lifetime"`
	// ConnectTimeout bounds one connection attempt.
	ConnectTimeout time.Duration `koanf:"connect_timeout"`
	// ConnectRetry bounds how long start-up keeps retrying a database that does not
	// answer yet (a Neon compute waking from zero).
	ConnectRetry time.Duration `koanf:"connect_retry"`
	// StatementTimeout is PostgreSQL's statement_timeout for every session.
	StatementTimeout time.Duration `koanf:"statement_timeout"`
	// WaitTimeout bounds one request's database work: waiting for a pooled
	// connection, a pooler's queue and the answer. Past it the request fails
	// fast with 503 and Retry-After instead of hanging.
	WaitTimeout time.Duration `koanf:"wait_timeout"`
	// ClientCacheTTL keeps OAuth clients in memory for this long; 0 turns the
	// cache off. PostgreSQL instances evict changed clients at once when they can
	// LISTEN (DirectURL, or URL without a pooler); otherwise a change made by
	// another process shows within the TTL.
	ClientCacheTTL time.Duration `koanf:"client_cache_ttl"`
}

// Secrets holds key material. It never prints its values.
type Secrets struct {
	// System encrypts data at rest. The first entry encrypts; all entries decrypt,
	// so a new secret can be put first and old ones dropped later.
	System []string `koanf:"system"`
}

// Log chooses the log level and format.
type Log struct {
	Level  string `koanf:"level"`  // debug, info, warn, error
	Format string `koanf:"format"` // json or text
}

// Default returns the configuration used when nothing is set: the embedded SQLite
// database under ./data, listening on loopback.
func Default() Config {
	return Config{
		Issuer:        "http://localhost:8080",
		Addr:          "127.0.0.1:8080",
		DataDir:       "./data",
		ShutdownGrace: 15 * time.Second,
		ShutdownDrain: 5 * time.Second,
		// 2 hashes of 19 MiB live need ~46 MiB: 80MiB cut first-sign-in peak RSS
		// 147 → 109 MB for ~12% of its throughput; 64MiB (91 MB, -21%) is near the cliff.
		MemoryLimit: 80 << 20,
		Federation:  Federation{Providers: []UpstreamProvider{}},
		Database: Database{
			Pooler: "auto",
			// A small Neon compute allows about 100 connections (shared with
			// others); two cores cannot use more than a handful at once.
			MaxOpenConns: 10,
			MaxIdleConns: IdleFollowsOpen,
			// Under Neon's 5-minute suspend delay, so idle connections do not keep
			// the compute awake, and no minimum of idle connections is kept.
			ConnMaxIdleTime:  4 * time.Minute,
			ConnMaxLifetime:  30 * time.Minute,
			ConnectTimeout:   10 * time.Second,
			ConnectRetry:     30 * time.Second,
			StatementTimeout: 15 * time.Second,
			WaitTimeout:      5 * time.Second,
			ClientCacheTTL:   30 * time.Second,
		},
		Log: Log{Level: "info", Format: "json"},
		OAuth: OAuth{
			AccessTokenLifespan:   time.Hour,
			RefreshTokenLifespan:  30 * 24 * time.Hour,
			IDTokenLifespan:       time.Hour,
			AuthorizeCodeLifespan: 5 * time.Minute,
			PARLifespan:           90 * time.Second,
			JWTAccessTokenAlg:     "ES256",
			RegistrableScopes:     []string{"openid", "profile", "email", "offline_access"},
		},
		Keys:       SigningKeys{RefreshInterval: 10 * time.Minute},
		Janitor:    Janitor{Interval: 10 * time.Minute, BatchSize: 1000, BatchPause: 10 * time.Millisecond},
		Mail:       Mail{From: "Gatehouse <no-reply@localhost>", SMTPPort: 587, SMTPTLS: "starttls", PollInterval: 10 * time.Minute},
		RateLimits: RateLimits{MailPerAddress: 3, MailPerIP: 20, SignUpsPerIP: 20},
		API:        API{TokenLifetime: 15 * time.Minute},
		Sessions:   Sessions{IdleTimeout: 24 * time.Hour, AbsoluteTimeout: 14 * 24 * time.Hour},
		Admin:      Admin{Addr: "127.0.0.1:8081"},
		// One per core of the 2-core target: 1 hashed 49/s against 90/s for 2
		// (the machine's limit); more only adds 19 MiB each and GC work (77/s).
		Passwords: Passwords{MaxConcurrentHashes: 2, MemoryKiB: 19456, Iterations: 2},
		MFA:       MFA{Policy: "optional"},
		Branding:  Branding{ProductName: "Gatehouse", PrimaryColor: "#1d4ed8"},
	}
}

// Embedded reports whether no database URL is configured, so the SQLite file in
// DataDir is used.
func (c Config) Embedded() bool { return c.Database.URL == "" }

// MigrationURL is the URL migrations and advisory locks use: DirectURL when set.
func (c Config) MigrationURL() string {
	if c.Database.DirectURL != "" {
		return c.Database.DirectURL
	}
	return c.Database.URL
}

// IdleFollowsOpen as database.max_idle_conns keeps as many idle connections as
// max_open_conns allows: fewer makes a busy pool close and reopen connections
// all the time, each a new PostgreSQL backend.
const IdleFollowsOpen = -1

// IdleConns is how many idle connections the pool keeps: MaxIdleConns, or
// MaxOpenConns when that is IdleFollowsOpen.
func (d Database) IdleConns() int {
	if d.MaxIdleConns == IdleFollowsOpen {
		return d.MaxOpenConns
	}
	return d.MaxIdleConns
}

// memoryLimitBase is the server's memory besides its password hashes, with a
// margin: with a memory_limit under hashes × passwords.memory_kib +
// memoryLimitBase the collector ran most of the time and first sign-in lost
// 40-80% of its throughput.
const memoryLimitBase ByteSize = 24 << 20

// minTokenLen is the shortest admin or initial access token accepted: 32
// characters, as many as `openssl rand -hex 16` prints.
const minTokenLen = 32

// ValidationError lists every problem found in a configuration.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return "invalid configuration:\n  - " + strings.Join(e.Problems, "\n  - ")
}

// Validate checks every key and returns a *ValidationError naming each bad one, or nil.
func (c Config) Validate() error {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	if u, err := url.Parse(c.Issuer); err != nil || !u.IsAbs() || u.Host == "" {
		add("issuer: want an absolute URL such as https://id.example.com, got %q", c.Issuer)
	} else {
		if u.Scheme != "https" && u.Scheme != "http" {
			add("issuer: want an http or https URL, got scheme %q", u.Scheme)
		}
		if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
			add("issuer: http is only allowed for localhost; use https for %q", c.Issuer)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			add("issuer: must not have a query or fragment (OpenID Connect Discovery §3), got %q", c.Issuer)
		}
		if strings.HasSuffix(u.Path, "/") {
			add("issuer: must not end with a slash, got %q", c.Issuer)
		}
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		add("addr: want host:port such as 127.0.0.1:8080 or :8080, got %q", c.Addr)
	}
	if c.Admin.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Admin.Addr); err != nil {
			add(`admin.addr: want host:port such as 127.0.0.1:8081, or "" to turn the admin API off, got %q`, c.Admin.Addr)
		} else if c.Admin.Addr == c.Addr && !strings.HasSuffix(c.Addr, ":0") {
			add("admin.addr: must differ from addr (%s): the admin API has its own listener", c.Addr)
		}
	}
	for i, t := range c.Admin.Tokens {
		if len(t) < minTokenLen {
			add("admin.tokens[%d]: want at least %d characters (generate one with: openssl rand -hex 32), got %d", i, minTokenLen, len(t))
		}
	}
	for i, t := range c.OAuth.RegistrationTokens {
		if len(t) < minTokenLen {
			add("oauth.registration_tokens[%d]: want at least %d characters (generate one with: openssl rand -hex 32), got %d", i, minTokenLen, len(t))
		}
	}
	if c.OAuth.DynamicRegistration && len(c.OAuth.RegistrationTokens) == 0 {
		add("oauth.registration_tokens: dynamic_registration is on, so give at least one initial access token (GATEHOUSE_OAUTH_REGISTRATION_TOKENS); open registration is not offered")
	}
	if c.Embedded() && c.DataDir == "" {
		add("data_dir: required when database.url is empty (the embedded SQLite file lives there)")
	}
	if c.ShutdownGrace < 0 {
		add("shutdown_grace: want a duration of zero or more such as 15s, got %s", c.ShutdownGrace)
	}
	if c.ShutdownDrain < 0 || c.ShutdownDrain > time.Minute {
		add("shutdown_drain: want 0 to 1m such as 5s, got %s", c.ShutdownDrain)
	}
	c.validateFederation(add)
	for i, cidr := range c.Server.TrustedProxies {
		if !validCIDROrIP(cidr) {
			add("server.trusted_proxies[%d]: want a CIDR such as 10.0.0.0/8 or an IP address, got %q", i, cidr)
		}
	}
	for i, o := range c.API.TrustedOrigins {
		if !validOrigin(o) {
			add("api.trusted_origins[%d]: want an origin such as https://app.example.com (scheme, host and port only; http only for localhost), got %q", i, o)
		}
	}
	if c.API.TokenLifetime < time.Minute || c.API.TokenLifetime > time.Hour {
		add("api.token_lifetime: want 1m to 1h such as 15m, got %s", c.API.TokenLifetime)
	}
	for i, sc := range c.OAuth.RegistrableScopes {
		if sc == "" || strings.ContainsAny(sc, " \t\r\n\"\\") {
			add("oauth.registrable_scopes[%d]: want a scope name without spaces or quotes, got %q", i, sc)
		}
	}
	if a := c.OAuth.DefaultAudience; a != "" {
		if u, err := url.Parse(a); err != nil || !u.IsAbs() || u.Fragment != "" {
			add("oauth.default_audience: want an absolute URI without a fragment (RFC 8707) such as https://api.example.com, got %q", a)
		}
	}
	for _, r := range []struct {
		key string
		val int
	}{
		{"rate_limits.mail_per_address", c.RateLimits.MailPerAddress},
		{"rate_limits.mail_per_ip", c.RateLimits.MailPerIP},
		{"rate_limits.signups_per_ip", c.RateLimits.SignUpsPerIP},
	} {
		if r.val < 1 || r.val > 100000 {
			add("%s: want 1 to 100000 per hour, got %d", r.key, r.val)
		}
	}
	for _, k := range []struct {
		key, val string
	}{{"database.url", c.Database.URL}, {"database.direct_url", c.Database.DirectURL}} {
		if k.val == "" {
			continue
		}
		if err := checkDatabaseURL(k.val); err != nil {
			add("%s: %v", k.key, err)
		}
	}
	if c.Database.DirectURL != "" && c.Database.URL == "" {
		add("database.direct_url: set database.url too (direct_url is only for migrations)")
	}
	switch c.Database.Pooler {
	case "auto", "transaction", "none":
	default:
		add(`database.pooler: want "auto", "transaction" or "none", got %q`, c.Database.Pooler)
	}
	if c.Database.MaxOpenConns < 1 {
		add("database.max_open_conns: want 1 or more, got %d", c.Database.MaxOpenConns)
	}
	if c.Database.MaxIdleConns < IdleFollowsOpen || c.Database.MaxIdleConns > c.Database.MaxOpenConns {
		add("database.max_idle_conns: want -1 (as many as max_open_conns) or 0 to max_open_conns (%d), got %d", c.Database.MaxOpenConns, c.Database.MaxIdleConns)
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"database.conn_max_idle_time", c.Database.ConnMaxIdleTime},
		{"database.conn_max_lifetime", c.Database.ConnMaxLifetime},
		{"database.connect_timeout", c.Database.ConnectTimeout},
		{"database.connect_retry", c.Database.ConnectRetry},
		{"database.statement_timeout", c.Database.StatementTimeout},
		{"database.client_cache_ttl", c.Database.ClientCacheTTL},
		{"database.wait_timeout", c.Database.WaitTimeout},
	} {
		if d.val < 0 {
			add("%s: want a duration of zero or more such as 10s, got %s", d.key, d.val)
		}
	}
	if c.Database.ConnectTimeout == 0 {
		add("database.connect_timeout: want a positive duration such as 10s")
	}
	if c.Database.WaitTimeout == 0 {
		add("database.wait_timeout: want a positive duration such as 5s")
	}
	for i, s := range c.Secrets.System {
		if len(s) < 32 {
			add("secrets.system[%d]: want at least 32 characters (generate one with: openssl rand -hex 32), got %d", i, len(s))
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add(`log.level: want "debug", "info", "warn" or "error", got %q`, c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		add(`log.format: want "json" or "text", got %q`, c.Log.Format)
	}
	for _, d := range []struct {
		key string
		val time.Duration
	}{
		{"oauth.access_token_lifespan", c.OAuth.AccessTokenLifespan},
		{"oauth.refresh_token_lifespan", c.OAuth.RefreshTokenLifespan},
		{"oauth.id_token_lifespan", c.OAuth.IDTokenLifespan},
		{"oauth.authorize_code_lifespan", c.OAuth.AuthorizeCodeLifespan},
		{"oauth.par_lifespan", c.OAuth.PARLifespan},
		{"keys.refresh_interval", c.Keys.RefreshInterval},
		{"mail.poll_interval", c.Mail.PollInterval},
	} {
		if d.val <= 0 {
			add("%s: want a positive duration such as 1h, got %s", d.key, d.val)
		}
	}
	if c.OAuth.RefreshTokenGracePeriod < 0 || c.OAuth.RefreshTokenGracePeriod > 5*time.Minute {
		add("oauth.refresh_token_grace_period: want 0 to 5m, got %s", c.OAuth.RefreshTokenGracePeriod)
	}
	switch c.OAuth.JWTAccessTokenAlg {
	case "ES256", "RS256", "EdDSA":
	default:
		add(`oauth.jwt_access_token_alg: want "ES256", "RS256" or "EdDSA", got %q`, c.OAuth.JWTAccessTokenAlg)
	}
	if c.Janitor.BatchPause < 0 {
		add("janitor.batch_pause: want a duration of zero (none) or more such as 10ms, got %s", c.Janitor.BatchPause)
	}
	if c.Janitor.Interval < 0 {
		add("janitor.interval: want a duration of zero (off) or more such as 10m, got %s", c.Janitor.Interval)
	}
	if _, err := netmail.ParseAddress(c.Mail.From); err != nil {
		add(`mail.from: want an address such as "Gatehouse <no-reply@example.com>", got %q`, c.Mail.From)
	}
	if c.Mail.SMTPPort < 1 || c.Mail.SMTPPort > 65535 {
		add("mail.smtp_port: want 1 to 65535, got %d", c.Mail.SMTPPort)
	}
	switch c.Mail.SMTPTLS {
	case "starttls", "tls":
	case "none":
		if c.Mail.SMTPHost != "" && !isLoopbackHost(c.Mail.SMTPHost) {
			add(`mail.smtp_tls: "none" is only allowed for a loopback SMTP host, got host %q`, c.Mail.SMTPHost)
		}
	default:
		add(`mail.smtp_tls: want "starttls", "tls" or "none", got %q`, c.Mail.SMTPTLS)
	}
	if c.Sessions.IdleTimeout <= 0 || c.Sessions.AbsoluteTimeout < c.Sessions.IdleTimeout {
		add("sessions.idle_timeout and sessions.absolute_timeout: want 0 < idle_timeout <= absolute_timeout, got %s and %s", c.Sessions.IdleTimeout, c.Sessions.AbsoluteTimeout)
	}
	if c.Janitor.BatchSize < 1 || c.Janitor.BatchSize > 100000 {
		add("janitor.batch_size: want 1 to 100000, got %d", c.Janitor.BatchSize)
	}
	switch c.MFA.Policy {
	case "optional", "required", "if_enrolled":
	default:
		add("mfa.policy: want optional, required or if_enrolled, got %q", c.MFA.Policy)
	}
	if c.Passwords.MaxConcurrentHashes < 1 {
		add("passwords.max_concurrent_hashes: want 1 or more, got %d", c.Passwords.MaxConcurrentHashes)
	}
	if c.Passwords.MemoryKiB < minHashMemoryKiB || c.Passwords.MemoryKiB > 1<<20 {
		add("passwords.memory_kib: want %d (7 MiB) to %d (1 GiB), got %d", minHashMemoryKiB, 1<<20, c.Passwords.MemoryKiB)
	}
	if c.Passwords.MemoryKiB >= minHashMemoryKiB && (c.Passwords.Iterations < 1 || c.Passwords.MemoryKiB < owaspHashMemoryKiB(c.Passwords.Iterations)) {
		add("passwords.iterations: with %d iterations memory_kib must be at least %d (OWASP: 47104 × 1, 19456 × 2, 12288 × 3, 9216 × 4, 7168 × 5 or more), got %d",
			c.Passwords.Iterations, owaspHashMemoryKiB(c.Passwords.Iterations), c.Passwords.MemoryKiB)
	}
	hashes := ByteSize(min(max(c.Passwords.MaxConcurrentHashes, 1), 1<<10))             // no overflow below
	perHash := ByteSize(min(max(c.Passwords.MemoryKiB, minHashMemoryKiB), 1<<20)) << 10 // likewise
	if floor := hashes*perHash + memoryLimitBase; c.MemoryLimit < 0 || c.MemoryLimit != 0 && c.MemoryLimit < floor {
		add("memory_limit: want 0 (off) or at least %s with passwords.max_concurrent_hashes %d and memory_kib %d (each hash's memory plus 24 MiB), got %s",
			floor, hashes, c.Passwords.MemoryKiB, c.MemoryLimit)
	}
	for _, msg := range c.Branding.problems() {
		add("%s", msg)
	}
	if len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

func checkDatabaseURL(raw string) error {
	if strings.HasPrefix(raw, "sqlite:") || strings.HasPrefix(raw, "file:") {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("want postgres://user:password@host:5432/dbname?sslmode=verify-full or sqlite:path/to/file.db: %s", MaskURL(raw))
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Errorf("want a postgres:// or sqlite: URL, got scheme %q", u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("want a host in %s", MaskURL(raw))
	}
	for k := range u.Query() {
		if strings.HasPrefix(k, "pool_") {
			return fmt.Errorf("remove %q from the URL: pool sizes are database.max_open_conns and friends (PostgreSQL rejects pool_* as startup parameters)", k)
		}
	}
	return nil
}

func validCIDROrIP(v string) bool {
	if _, _, err := net.ParseCIDR(v); err == nil {
		return true
	}
	return net.ParseIP(v) != nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ValidateServe checks what serving needs beyond Validate: a system secret when the
// database is external (the embedded default generates one in DataDir).
func (c Config) ValidateServe() error {
	if !c.Embedded() && len(c.Secrets.System) == 0 {
		return &ValidationError{Problems: []string{"secrets.system: required with an external database (GATEHOUSE_SECRETS_SYSTEM); generate one with: openssl rand -hex 32"}}
	}
	return nil
}

// String renders the configuration for logs and `--print-config`, with every secret
// masked.
func (c Config) String() string {
	smtpPassword := ""
	if c.Mail.SMTPPassword != "" {
		smtpPassword = " mail.smtp_password=(hidden)"
	}
	return fmt.Sprintf("issuer=%s addr=%s admin.addr=%s data_dir=%s database.url=%s database.direct_url=%s secrets.system=[%d hidden] admin.tokens=[%d hidden] oauth.registration_tokens=[%d hidden]%s",
		c.Issuer, c.Addr, c.Admin.Addr, c.DataDir, MaskURL(c.Database.URL), MaskURL(c.Database.DirectURL), len(c.Secrets.System),
		len(c.Admin.Tokens), len(c.OAuth.RegistrationTokens), smtpPassword)
}

// validOrigin reports whether o is a web origin as browsers send it in the
// Origin header: https://host[:port], or http:// for a loopback host, with no
// path, query, fragment or user.
func validOrigin(o string) bool {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return false
	}
	if strings.ContainsAny(o, " \t\r\n*") || o != u.Scheme+"://"+u.Host {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		return isLoopbackHost(u.Hostname())
	}
	return false
}
