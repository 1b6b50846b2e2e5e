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

	"github.com/gatehouse-id/gatehouse/config"
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
	return stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(scanTimesInUTC), stdlib.OptionShouldPing(neverPing)), pooled, nil
}

// neverPing is pgx stdlib's should-ping decision: never ping a pooled
// connection before reusing it. The default pinged one idle for over a second
// (and one never reused before): a round trip before most requests after a
// pause, 2–4 for a client_credentials token. A dead connection costs the first
// statement instead, and withRetry sends reads, and writes the server cannot
// have run, again on a new connection; a write that may have run fails (503)
// rather than run twice.
func neverPing(context.Context, stdlib.ShouldPingParams) bool { return false }

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
		return nil, fmt.Errorf("database URL %s: not a valid PostgreSQL connection string", config.MaskURL(raw))
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

// Describe names a database URL for logs: its password and sslpassword masked
// by config.MaskURL, the one masker config and storage share, in URL and
// key=value form alike.
func Describe(raw string) string { return config.MaskURL(raw) }
