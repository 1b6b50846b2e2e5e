package storage

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// openPostgres builds the connection pool for a PostgreSQL URL. It reports whether
// the URL goes through a transaction-mode pooler.
func openPostgres(o Options) (*sql.DB, bool, error) {
	cfg, err := PostgresConfig(o.URL, o.Pooler, o.ConnectTimeout, o.StatementTimeout.Milliseconds())
	if err != nil {
		return nil, false, err
	}
	pooled := cfg.DefaultQueryExecMode == pgx.QueryExecModeExec
	if o.OnStatement != nil {
		cfg.Tracer = statementTracer{o.OnStatement}
	}
	return stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(scanTimesInUTC)), pooled, nil
}

// scanTimesInUTC makes a connection return timestamptz values in UTC, as the Store
// promises; pgx's default is the process's local zone.
func scanTimesInUTC(_ context.Context, c *pgx.Conn) error {
	c.TypeMap().RegisterType(&pgtype.Type{Name: "timestamptz", OID: pgtype.TimestamptzOID, Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC}})
	return nil
}

// IsPoolerHost reports whether host is a Neon pooled endpoint ("ep-…-pooler.…").
func IsPoolerHost(host string) bool {
	first, _, _ := strings.Cut(host, ".")
	return strings.HasSuffix(first, "-pooler")
}

// PostgresConfig parses raw into a pgx configuration fit for the pooler mode:
//
//   - Through a transaction-mode pooler (PgBouncer, Neon's pooled endpoint) a
//     session's prepared statements are gone, or belong to someone else, by the next
//     transaction ("prepared statement … does not exist / already exists"), so
//     queries use pgx's exec mode: the extended protocol with unnamed statements,
//     which keeps parameters separate from SQL. The simple protocol would inline
//     them, and has had injection advisories.
//   - statement_timeout is sent as a startup parameter on direct connections only:
//     PgBouncer refuses startup parameters it does not track.
//   - pool_* keys are refused: they are pgxpool options that pgx would forward to
//     the server, which rejects them.
func PostgresConfig(raw string, mode PoolerMode, connectTimeout time.Duration, statementTimeoutMS int64) (*pgx.ConnConfig, error) {
	if u, err := url.Parse(raw); err == nil && u.Scheme != "" {
		for k := range u.Query() {
			if strings.HasPrefix(k, "pool_") {
				return nil, fmt.Errorf("database URL: remove %q; pool sizes are configured as database.max_open_conns and friends", k)
			}
		}
	}
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		// pgx's parse errors quote the connection string; never echo it.
		return nil, fmt.Errorf("database URL %s: not a valid PostgreSQL connection string", maskURL(raw))
	}
	pooled := false
	switch mode {
	case PoolerTransaction:
		pooled = true
	case PoolerNone:
	default:
		pooled = IsPoolerHost(cfg.Host)
	}
	if pooled {
		cfg.DefaultQueryExecMode = pgx.QueryExecModeExec
		cfg.StatementCacheCapacity = 0
		cfg.DescriptionCacheCapacity = 0
	} else if statementTimeoutMS > 0 {
		if _, set := cfg.RuntimeParams["statement_timeout"]; !set {
			cfg.RuntimeParams["statement_timeout"] = strconv.FormatInt(statementTimeoutMS, 10)
		}
	}
	if !strings.Contains(raw, "connect_timeout") && connectTimeout > 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	if cfg.RuntimeParams["application_name"] == "" {
		cfg.RuntimeParams["application_name"] = "gatehouse"
	}
	return cfg, nil
}

// maskURL hides the password of a connection URL or key=value string.
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err == nil && u.Scheme != "" {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	if i := strings.Index(raw, "://"); i > 0 {
		// A URL that does not parse may still hold a password (one with an
		// unescaped "/" or "@" is the usual reason it does not parse): hide it all.
		return raw[:i] + "://(unparseable URL hidden)"
	}
	// key=value form: hide the value of password=…
	fields := strings.Fields(raw)
	for i, f := range fields {
		if strings.HasPrefix(f, "password=") {
			fields[i] = "password=xxxxx"
		}
	}
	return strings.Join(fields, " ")
}

// Describe names a database URL for logs: host and database, password masked.
func Describe(raw string) string { return maskURL(raw) }
