package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// Dialect names a supported database.
type Dialect string

// The supported dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// PoolerMode says whether a PostgreSQL URL goes through a transaction-mode pooler
// (PgBouncer, Neon's pooled endpoint).
type PoolerMode string

// The pooler modes; see Options.Pooler.
const (
	PoolerAuto        PoolerMode = "auto"        // a "-pooler" host name means transaction mode
	PoolerTransaction PoolerMode = "transaction" // always transaction mode
	PoolerNone        PoolerMode = "none"        // a direct connection
)

// Options configure Open. The zero value of a limit means a safe default.
type Options struct {
	// URL is a postgres:// URL (or key=value DSN), or sqlite:PATH / file:PATH / a
	// path ending in .db.
	URL    string
	Pooler PoolerMode

	MaxOpenConns     int
	MaxIdleConns     int
	ConnMaxIdleTime  time.Duration
	ConnMaxLifetime  time.Duration
	ConnectTimeout   time.Duration
	StatementTimeout time.Duration

	// Secrets are the system secrets that encrypt data at rest (first encrypts, all
	// decrypt). Without them the store refuses to write protocol records and keys.
	Secrets []string

	// Logger receives slow-query and error logs; nil discards them.
	Logger *slog.Logger

	// RefreshTokenGracePeriod keeps a rotated refresh token usable for this long
	// after its first use, so a client that lost the response can retry. Zero (the
	// default) means none: a rotated token is refused at once.
	RefreshTokenGracePeriod time.Duration
	// NewSession makes the empty fosite session that PAR requests are decoded
	// into (and any record read without a session prototype); nil means
	// openid.NewDefaultSession.
	NewSession func() fosite.Session

	// ClientCacheTTL keeps clients fosite looks up in memory for this long; zero
	// turns the cache off. Client writes through any Store evict at once: locally,
	// and on PostgreSQL in every instance that listens (see ListenURL). Without a
	// listener, another process's change shows within the TTL.
	ClientCacheTTL time.Duration
	// WaitTimeout bounds each operation's database work: waiting for a pooled
	// connection, a pooler's queue and the answer (a transaction: all of it, up
	// to the commit). Past it the operation fails with ErrBusy. Zero means
	// DefaultWaitTimeout; negative means no bound.
	WaitTimeout time.Duration

	// ListenURL is a direct (not pooled) PostgreSQL URL for the one connection
	// that LISTENs for changes other instances announce (clients, queued mail,
	// signing keys; see Watch). Empty means URL when it is not pooled; through a
	// pooler without ListenURL the client cache relies on its TTL alone and
	// watchers hear only of this store's own changes.
	ListenURL string

	// OnStatement, when set, is called before every statement the store sends
	// (queries, transaction control, pings, pgx's statement preparations, the
	// listener's LISTEN), on any of its connections. It must be fast and safe
	// for concurrent use. Tests count what an idle server sends with it; a
	// round-trip counter can be built on it.
	OnStatement func(ctx context.Context, st Statement)
}

// Store reads and writes every Gatehouse record. It is safe for concurrent use.
// Build it with Open; Close releases its connections.
type Store struct {
	db      *gorm.DB
	sqlDB   *sql.DB
	dialect Dialect
	pooled  bool
	maxIdle int // the pool's idle limit, restored after dropIdle
	log     *slog.Logger
	sealer  *Sealer // nil when no system secret was given

	refreshGrace time.Duration
	waitTimeout  time.Duration
	newSession   func() fosite.Session
	clients      *clientCache // nil when the client cache is off
	notes        *notifier    // wakes watchers and the client cache on changes
	onStatement  func(context.Context, Statement)
	// activity counts statements run for callers other than housekeeping.
	activity atomic.Uint64

	// accessTokens batches access-token inserts made outside a transaction;
	// started by the first one.
	accessTokens     *rowBatcher
	accessTokensOnce sync.Once

	subject subjectState // the statement of takeTokenWithSubject, built once

	// ready is set once the database has answered and the schema was found
	// current; readiness reports the last known state.
	state atomic.Pointer[string]

	// now is the clock readiness reads its memory with; time.Now but in tests.
	now func() time.Time
	// lastBusy is when an operation last failed with ErrBusy (Unix nanoseconds;
	// 0: never), so that readiness can tell a saturated pool from a slow one.
	lastBusy atomic.Int64
	// refusal is the last write the database refused (read-only, disk full) and
	// no write has succeeded since; nil when writes work.
	refusal atomic.Pointer[writeRefusal]
}

// writeRefusal is a write the database refused, for readiness.
type writeRefusal struct {
	at    time.Time
	words string
}

// DetectDialect returns the dialect a URL names.
func DetectDialect(raw string) (Dialect, error) {
	switch {
	case strings.HasPrefix(raw, "postgres://"), strings.HasPrefix(raw, "postgresql://"),
		strings.Contains(raw, "host=") || strings.Contains(raw, "dbname="):
		return Postgres, nil
	case strings.HasPrefix(raw, "sqlite:"), strings.HasPrefix(raw, "file:"),
		strings.HasSuffix(raw, ".db"), strings.HasSuffix(raw, ".sqlite"):
		return SQLite, nil
	}
	return "", fmt.Errorf("database URL: want postgres://… or sqlite:PATH, got %s", Describe(raw))
}

// Open prepares a Store for the URL in o. It does not wait for the database: call
// WaitReady to ride out a database that is still starting.
func Open(o Options) (*Store, error) {
	dialect, err := DetectDialect(o.URL)
	if err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	defaults(&o)
	s := &Store{dialect: dialect, log: o.Logger, refreshGrace: o.RefreshTokenGracePeriod, newSession: o.NewSession, waitTimeout: o.WaitTimeout, now: time.Now, onStatement: o.OnStatement}
	if s.newSession == nil {
		s.newSession = func() fosite.Session { return openid.NewDefaultSession() }
	}
	if len(o.Secrets) > 0 {
		if s.sealer, err = NewSealer(o.Secrets); err != nil {
			return nil, err
		}
	}
	gcfg := &gorm.Config{
		TranslateError: true,
		// GORM's own clock is local time; every time we store is set by us in UTC.
		NowFunc:                                  func() time.Time { return time.Now().UTC() },
		Logger:                                   newGormLogger(o.Logger),
		DisableForeignKeyConstraintWhenMigrating: false,
		// Open must not need the database: serve listens first and WaitReady rides
		// out a database that is still starting (a Neon compute waking from zero).
		DisableAutomaticPing: true,
		// A single statement is atomic on its own; GORM's default BEGIN/COMMIT around
		// every create and update cost two extra round trips per token. Multi-statement
		// work goes through InTx.
		SkipDefaultTransaction: true,
	}
	switch dialect {
	case Postgres:
		sqlDB, pooled, err := openPostgres(o)
		if err != nil {
			return nil, err
		}
		s.sqlDB, s.pooled = sqlDB, pooled
		// No GORM prepared statements: on a direct connection pgx already prepares
		// each statement once per connection and caches it (and through a pooler
		// it must not). GORM's own cache re-prepared every statement run in a
		// transaction on the transaction's connection, and closed it at commit:
		// two extra round trips per statement.
		s.db, err = gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), gcfg)
		if err != nil {
			sqlDB.Close()
			return nil, fmt.Errorf("open postgres: %w", err)
		}
	case SQLite:
		dsn, err := sqliteDSN(o.URL)
		if err != nil {
			return nil, err
		}
		var dialector gorm.Dialector = sqlite.Open(dsn)
		if o.OnStatement != nil {
			db, err := tracedSQLite(sqlite.DriverName, dsn, o.OnStatement)
			if err != nil {
				return nil, fmt.Errorf("open sqlite: %w", err)
			}
			dialector = &sqlite.Dialector{DSN: dsn, Conn: db}
		}
		s.db, err = gorm.Open(dialector, gcfg)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		s.sqlDB, err = s.db.DB()
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
	}
	s.sqlDB.SetMaxOpenConns(o.MaxOpenConns)
	s.sqlDB.SetMaxIdleConns(o.MaxIdleConns)
	s.maxIdle = o.MaxIdleConns
	s.sqlDB.SetConnMaxIdleTime(o.ConnMaxIdleTime)
	s.sqlDB.SetConnMaxLifetime(o.ConnMaxLifetime)
	if s.notes, err = newNotifier(o, dialect, s.pooled, o.Logger); err != nil {
		s.sqlDB.Close()
		return nil, err
	}
	s.clients = newClientCache(o, s.notes)
	s.setState("waiting for database")
	return s, nil
}

// DefaultWaitTimeout is Options.WaitTimeout's default: long enough for a Neon
// compute to wake, short enough that a saturated pool answers 503 quickly.
const DefaultWaitTimeout = 5 * time.Second

func defaults(o *Options) {
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = 10
	}
	if o.MaxIdleConns < 0 || o.MaxIdleConns > o.MaxOpenConns {
		o.MaxIdleConns = o.MaxOpenConns
	}
	if o.ConnMaxIdleTime <= 0 {
		o.ConnMaxIdleTime = 4 * time.Minute
	}
	if o.ConnMaxLifetime <= 0 {
		o.ConnMaxLifetime = 30 * time.Minute
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Pooler == "" {
		o.Pooler = PoolerAuto
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = DefaultWaitTimeout
	}
}

// sqliteDSN turns sqlite:PATH into a DSN with WAL, a busy timeout, foreign keys and
// immediate write transactions, so concurrent requests wait for each other instead
// of failing with "database is locked".
func sqliteDSN(raw string) (string, error) {
	path := strings.TrimPrefix(strings.TrimPrefix(raw, "sqlite:"), "file:")
	path = strings.TrimPrefix(path, "//")
	query := ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, query = path[:i], path[i+1:]
	}
	if path == "" {
		return "", errors.New("sqlite URL: want sqlite:path/to/file.db")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("create data directory %s: %w", dir, err)
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", fmt.Errorf("sqlite URL query: %w", err)
	}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_txlock", "immediate")
	// No _time_format: the driver's default ("2006-01-02 15:04:05.999999999-07:00")
	// is what "sqlite" names, and glebarez/go-sqlite v1.21 stops reading parameters
	// after _time_format, which silently dropped _txlock.
	q.Del("_time_format")
	return "file:" + path + "?" + q.Encode(), nil
}

// Sealer returns the at-rest cipher, or nil when the store was opened without system
// secrets.
func (s *Store) Sealer() *Sealer { return s.sealer }

// Dialect returns the database dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// Pooled reports whether the store talks through a transaction-mode pooler.
func (s *Store) Pooled() bool { return s.pooled }

// DB exposes the pool for health checks and metrics.
func (s *Store) DB() *sql.DB { return s.sqlDB }

// Close stops the change listener, writes the access tokens still queued and
// releases every connection.
func (s *Store) Close() error {
	s.notes.close()
	s.accessTokensOnce.Do(func() {}) // no batcher starts after this
	if s.accessTokens != nil {
		s.accessTokens.close()
	}
	return s.sqlDB.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	// SQLite's traced connections report their pings themselves; pgx pings
	// below its tracer.
	if s.onStatement != nil && s.dialect == Postgres {
		s.onStatement(ctx, Statement{SQL: "-- ping"})
	}
	return s.sqlDB.PingContext(ctx)
}

func (s *Store) setState(v string) { s.state.Store(&v) }

// txKey carries the transaction a context runs in (a *txState).
type txKey struct{}

// txState is a transaction begun by BeginTX, with the cancel of the deadline
// that bounds it. A nested state joins its outer transaction: its Commit and
// Rollback do nothing, so the outer owner decides.
type txState struct {
	db     *gorm.DB
	cancel context.CancelFunc
	nested bool
	// pg is the pipelined transaction on PostgreSQL (set on the outermost
	// state only); nil on SQLite, where db is a GORM transaction.
	pg *pgTx
	// wrote is set once a write in the transaction succeeded, so that its
	// commit shows the database takes writes again. A nested state sets its
	// outer's (see written).
	wrote bool
	outer *txState

	mu        sync.Mutex
	onCommits []func() // run once the transaction has committed
}

// root is the outermost transaction st joins (st itself when not nested).
func (st *txState) root() *txState {
	for st.outer != nil {
		st = st.outer
	}
	return st
}

// written records a successful write in the outermost transaction.
func (st *txState) written() { st.root().wrote = true }

// afterCommit runs fn once the outermost transaction has committed, and never
// if it rolls back.
func (st *txState) afterCommit(fn func()) {
	st = st.root()
	st.mu.Lock()
	st.onCommits = append(st.onCommits, fn)
	st.mu.Unlock()
}

// committed runs what waited for the commit.
func (st *txState) committed() {
	st.mu.Lock()
	fns := st.onCommits
	st.onCommits = nil
	st.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

func txOf(ctx context.Context) (*txState, bool) {
	st, ok := ctx.Value(txKey{}).(*txState)
	return st, ok
}

// conn returns the transaction carried by ctx, or the pool, bound to ctx.
func (s *Store) conn(ctx context.Context) *gorm.DB {
	s.used(ctx)
	if st, ok := txOf(ctx); ok {
		return st.db.WithContext(ctx)
	}
	return s.db.WithContext(ctx)
}

// sqlConn is where a statement written out in SQL runs: ctx's transaction, or
// else the pool itself (GORM's per-call session is not needed for it).
func (s *Store) sqlConn(ctx context.Context) gorm.ConnPool {
	s.used(ctx)
	if st, ok := txOf(ctx); ok {
		return st.db.Statement.ConnPool
	}
	return s.sqlDB
}

func inTx(ctx context.Context) bool {
	_, ok := txOf(ctx)
	return ok
}

// bounded returns ctx with the store's wait timeout as its deadline (unless ctx
// has an earlier one), and the cancel to call when the work is done.
func (s *Store) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.waitTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.waitTimeout)
}

// BeginTX starts a transaction and returns a context that carries it; every Store
// method called with that context runs inside it. It implements fosite's
// storage.Transactional. The whole transaction, from waiting for a connection
// to the commit, must finish within Options.WaitTimeout.
//
// Called with a context that already carries a transaction, BeginTX joins it:
// the Commit and Rollback of the returned context do nothing, and the outer
// transaction's owner commits or rolls back everything. fosite's token handlers
// open their own transactions; this lets a caller run a whole token request
// (request checks and response) in one.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	if st, ok := txOf(ctx); ok {
		return context.WithValue(ctx, txKey{}, &txState{db: st.db, cancel: func() {}, nested: true, outer: st}), nil
	}
	txCtx, cancel := s.bounded(ctx)
	if s.dialect == Postgres {
		return s.beginPipelined(ctx, txCtx, cancel)
	}
	var tx *gorm.DB
	var err error
	// BEGIN runs nothing, so it is always safe to send again on a new connection.
	for attempt := 0; attempt < retryAttempts; attempt++ {
		tx = s.db.WithContext(txCtx).Begin()
		if err = tx.Error; err == nil || txCtx.Err() != nil || !IsConnectionLoss(err) {
			break
		}
		s.dropIdle()
	}
	if err != nil {
		err = s.busyIf(ctx, txCtx, err)
		cancel()
		return ctx, fmt.Errorf("begin transaction: %w", err)
	}
	return context.WithValue(txCtx, txKey{}, &txState{db: tx, cancel: cancel}), nil
}

// Commit commits the transaction carried by ctx; for a joined (nested) one it
// does nothing.
func (s *Store) Commit(ctx context.Context) error {
	st, ok := txOf(ctx)
	if !ok {
		return errors.New("commit: no transaction in context")
	}
	if st.nested {
		return nil
	}
	defer st.cancel()
	if st.pg != nil {
		if err := st.pg.commit(st.db.Statement.Context); err != nil {
			s.noteRefusal(err)
			return fmt.Errorf("commit: %w", translate(s.translatePG(err)))
		}
	} else if err := st.db.Commit().Error; err != nil {
		s.noteRefusal(err)
		return fmt.Errorf("commit: %w", translate(err))
	}
	if st.wrote {
		s.writeSucceeded()
	}
	st.committed()
	return nil
}

// Rollback rolls back the transaction carried by ctx; for a joined (nested) one
// it does nothing: the outer owner sees the error that led here and decides.
func (s *Store) Rollback(ctx context.Context) error {
	st, ok := txOf(ctx)
	if !ok {
		return errors.New("rollback: no transaction in context")
	}
	if st.nested {
		return nil
	}
	defer st.cancel()
	if st.pg != nil {
		st.pg.rollback(st.db.Statement.Context)
		return nil
	}
	if err := st.db.Rollback().Error; err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// InTx runs fn in one transaction (or in the one ctx already carries), committing
// when fn returns nil and rolling back otherwise.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if inTx(ctx) {
		return fn(ctx)
	}
	return s.withRetry(ctx, true, func(ctx context.Context) error {
		txCtx, err := s.BeginTX(ctx)
		if err != nil {
			return err
		}
		if err := fn(txCtx); err != nil {
			_ = s.Rollback(txCtx)
			return err
		}
		return s.Commit(txCtx)
	})
}
