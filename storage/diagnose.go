package storage

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-id/gatehouse/config"
)

// Explanation turns a connection error into words an operator can act on.
type Explanation struct {
	Cause string // what most likely happened
	Fix   string // what to do about it
}

// ExplainError names the likely cause of a database error and its fix. It never
// repeats the connection string.
func ExplainError(err error) Explanation {
	if err == nil {
		return Explanation{}
	}
	msg := err.Error()
	low := strings.ToLower(msg)
	var pgErr *pgconn.PgError
	code := ""
	if errors.As(err, &pgErr) {
		code = pgErr.Code
	}
	switch {
	case strings.Contains(low, "endpoint id is not specified") || strings.Contains(low, "endpoint id") && strings.Contains(low, "sni"):
		return Explanation{
			Cause: "Neon could not tell which endpoint you want: the client did not send the host name (SNI)",
			Fix:   "connect with the endpoint's host name (ep-….neon.tech), not an IP address; if that is impossible add options=endpoint%3D<endpoint-id> to the URL",
		}
	case strings.Contains(low, "no such host") || strings.Contains(low, "server misbehaving") && strings.Contains(low, "lookup"):
		return Explanation{
			Cause: "host not found: the database host name does not resolve",
			Fix:   "check the host in the URL for typos; copy the connection string again from the Neon console",
		}
	case strings.Contains(low, "connection refused"):
		return Explanation{
			Cause: "connection refused: nothing listens on that host and port",
			Fix:   "check the port (PostgreSQL uses 5432) and that the server is running and accepts TCP connections (listen_addresses)",
		}
	case code == "28P01" || strings.Contains(low, "password authentication failed"):
		return Explanation{
			Cause: "password authentication failed: the user name or password is wrong",
			Fix:   "check user and password in the URL (reset the password in the Neon console if unsure); special characters in a password must be percent-encoded",
		}
	case strings.Contains(low, "server refused tls connection") || strings.Contains(low, "server does not support ssl") || strings.Contains(low, "ssl is not enabled on the server") || strings.Contains(low, "ssl off"):
		return Explanation{
			Cause: "TLS not supported: the server does not accept encrypted connections",
			Fix:   "enable ssl on the server, or for a local development server only use sslmode=disable",
		}
	case strings.Contains(low, "connection is insecure") || strings.Contains(low, "ssl/tls required") || strings.Contains(low, "no encryption") || strings.Contains(low, "sslmode=require"):
		return Explanation{
			Cause: "TLS required: the server refuses unencrypted connections",
			Fix:   "add sslmode=verify-full (or at least sslmode=require) to the URL",
		}
	case strings.Contains(low, "x509:") || strings.Contains(low, "certificate"):
		return Explanation{
			Cause: "the server's TLS certificate could not be verified",
			Fix:   "for sslmode=verify-full the system must trust the server's CA; set sslrootcert=/path/to/ca.pem, or sslrootcert=system for Neon",
		}
	case code == "3D000" || strings.Contains(low, "database") && strings.Contains(low, "does not exist"):
		return Explanation{
			Cause: "the database does not exist on that server",
			Fix:   "create it (CREATE DATABASE …, or in the Neon console) or fix the database name at the end of the URL",
		}
	case code == "53300" || strings.Contains(low, "too many connections"):
		return Explanation{
			Cause: "the server has no free connections",
			Fix:   "lower database.max_open_conns, use the pooled (-pooler) URL, or raise the server's limit",
		}
	case code == "57P03" || strings.Contains(low, "the database system is starting up") || strings.Contains(low, "compute") && strings.Contains(low, "start"):
		return Explanation{
			Cause: "the database is starting up (a Neon compute waking from zero)",
			Fix:   "wait a few seconds and try again; serve retries by itself within database.connect_retry",
		}
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(low, "timeout") || strings.Contains(low, "deadline exceeded"):
		return Explanation{
			Cause: "timeout: the server did not answer in time; a Neon compute waking from zero can take several seconds, or a firewall drops the packets",
			Fix:   "try again; raise database.connect_timeout (GATEHOUSE_DATABASE_CONNECT_TIMEOUT) if it persists, and check that outbound port 5432 is open",
		}
	case strings.Contains(low, "network is unreachable") || strings.Contains(low, "no route to host"):
		return Explanation{
			Cause: "the network cannot reach the database host",
			Fix:   "check this machine's network and firewall; Neon needs outbound TCP 5432",
		}
	}
	return Explanation{Cause: config.MaskSecrets(msg), Fix: "see the PostgreSQL server log for details"}
}

// Diagnosis describes a database connection, for `gatehouse db check`.
type Diagnosis struct {
	URL           string // password masked
	Dialect       Dialect
	Host          string
	Database      string
	User          string
	Pooled        bool
	TLS           bool
	TLSVersion    string
	SSLMode       string
	ServerVersion string
	RoundTrip     time.Duration
	Applied       []int64
	Pending       []int64
	// Warnings are problems that do not stop the connection, such as TLS without
	// certificate checks.
	Warnings []string
}

// Diagnose connects with o and describes what it found. On failure it returns what
// it learned so far together with the error; ExplainError names the cause.
func Diagnose(ctx context.Context, o Options) (Diagnosis, error) {
	d := Diagnosis{URL: Describe(o.URL)}
	dialect, err := DetectDialect(o.URL)
	if err != nil {
		return d, err
	}
	d.Dialect = dialect
	if dialect == Postgres {
		cfg, err := PostgresConfig(o.URL, o.Pooler, o.ConnectTimeout, 0)
		if err != nil {
			return d, err
		}
		d.Host = fmt.Sprintf("%s:%d", cfg.Host, cfg.Port)
		d.Database, d.User = cfg.Database, cfg.User
		d.SSLMode = sslMode(o.URL)
		switch d.SSLMode {
		case "disable", "allow", "prefer":
			if !isLocalHost(cfg.Host) {
				d.Warnings = append(d.Warnings, fmt.Sprintf("sslmode=%s may send data unencrypted; use sslmode=verify-full", d.SSLMode))
			}
		case "require":
			d.Warnings = append(d.Warnings, "sslmode=require encrypts but does not check the server's certificate, so a man in the middle goes unnoticed; use sslmode=verify-full (with sslrootcert=system on Neon)")
		case "verify-ca":
			d.Warnings = append(d.Warnings, "sslmode=verify-ca checks the CA but not the host name; use sslmode=verify-full")
		}
	} else {
		d.Host, d.Database = "(embedded)", strings.TrimPrefix(o.URL, "sqlite:")
	}
	s, err := Open(o)
	if err != nil {
		return d, err
	}
	defer s.Close()
	d.Pooled = s.Pooled()
	start := time.Now()
	if err := s.Ping(ctx); err != nil {
		return d, err
	}
	d.RoundTrip = time.Since(start)
	start = time.Now()
	if err := s.Ping(ctx); err == nil {
		d.RoundTrip = min(d.RoundTrip, time.Since(start))
	}
	if dialect == Postgres {
		var row struct {
			Version string
			SSL     *bool
			TLSVer  *string `gorm:"column:tls_version"`
		}
		err := s.db.WithContext(ctx).Raw(`SELECT current_setting('server_version') AS version,
			(SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl,
			(SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS tls_version`).Scan(&row).Error
		if err != nil {
			return d, fmt.Errorf("read server version: %w", err)
		}
		d.ServerVersion = row.Version
		if row.SSL != nil {
			d.TLS = *row.SSL
		}
		if row.TLSVer != nil {
			d.TLSVersion = *row.TLSVer
		}
	} else {
		var v string
		if err := s.db.WithContext(ctx).Raw("SELECT sqlite_version()").Scan(&v).Error; err == nil {
			d.ServerVersion = "SQLite " + v
		}
	}
	known, err := KnownVersions(dialect)
	if err != nil {
		return d, err
	}
	pending, err := s.PendingMigrations(ctx)
	if err != nil {
		return d, err
	}
	d.Pending = pending
	for _, v := range known {
		if !containsInt(pending, v) {
			d.Applied = append(d.Applied, v)
		}
	}
	return d, nil
}

func containsInt(xs []int64, v int64) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

func sslMode(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		if m := u.Query().Get("sslmode"); m != "" {
			return m
		}
		return "prefer"
	}
	for _, f := range strings.Fields(raw) {
		if m, ok := strings.CutPrefix(f, "sslmode="); ok {
			return m
		}
	}
	return "prefer"
}

func isLocalHost(h string) bool {
	return h == "localhost" || h == "127.0.0.1" || h == "::1" || strings.HasPrefix(h, "/")
}
