package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/migrations"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// migrationTable records applied versions.
const migrationTable = "schema_migrations"

// migrationLockID is the PostgreSQL advisory-lock key held while migrating, so that
// several instances starting together apply each migration exactly once.
const migrationLockID int64 = 0x6761746568 // "gateh"

// MigrationState is one migration version and whether it is applied.
type MigrationState struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time
}

// Migrator applies the embedded SQL migrations of one dialect. On PostgreSQL it
// holds a session-level advisory lock while it changes the schema: give it a direct
// connection (DATABASE_DIRECT_URL), never one through a transaction-mode pooler,
// where the unlock could reach another backend and leave the lock held.
type Migrator struct {
	provider *goose.Provider
	db       *sql.DB
	closeDB  bool
	dialect  Dialect
}

// NewMigrator opens a connection of its own to url (with no pooler assumed) and
// returns a Migrator for it. Close releases the connection.
func NewMigrator(url string, connectTimeout time.Duration, log *slog.Logger) (*Migrator, error) {
	s, err := Open(Options{URL: url, Pooler: PoolerNone, MaxOpenConns: 2, MaxIdleConns: 1, ConnectTimeout: connectTimeout, Logger: log})
	if err != nil {
		return nil, err
	}
	m, err := newMigrator(s.sqlDB, s.dialect, true)
	if err != nil {
		s.Close()
		return nil, err
	}
	return m, nil
}

// Migrator returns a Migrator on the store's own connections, for SQLite and for
// reading the status. It shares the store's pool; closing it leaves the pool open.
func (s *Store) Migrator() (*Migrator, error) {
	return newMigrator(s.sqlDB, s.dialect, false)
}

func newMigrator(db *sql.DB, dialect Dialect, closeDB bool) (*Migrator, error) {
	sub, err := fs.Sub(migrations.FS, string(dialect))
	if err != nil {
		return nil, fmt.Errorf("migrations for %s: %w", dialect, err)
	}
	opts := []goose.ProviderOption{goose.WithTableName(migrationTable), goose.WithDisableGlobalRegistry(true)}
	gd := goose.DialectSQLite3
	if dialect == Postgres {
		gd = goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID))
		if err != nil {
			return nil, fmt.Errorf("migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, db, sub, opts...)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return &Migrator{provider: p, db: db, closeDB: closeDB, dialect: dialect}, nil
}

// Close releases the Migrator's own connection, if it opened one.
func (m *Migrator) Close() error {
	if m.closeDB {
		return m.db.Close()
	}
	return nil
}

// Up applies every pending migration and returns the versions it applied.
func (m *Migrator) Up(ctx context.Context) ([]int64, error) {
	res, err := m.provider.Up(ctx)
	var applied []int64
	for _, r := range res {
		if r.Error == nil {
			applied = append(applied, r.Source.Version)
		}
	}
	if err != nil {
		return applied, fmt.Errorf("migrate up: %w", err)
	}
	return applied, nil
}

// UpTo applies the pending migrations up to and including version, and returns
// the versions it applied: for tests that need a database as an older release
// left it.
func (m *Migrator) UpTo(ctx context.Context, version int64) ([]int64, error) {
	res, err := m.provider.UpTo(ctx, version)
	var applied []int64
	for _, r := range res {
		if r.Error == nil {
			applied = append(applied, r.Source.Version)
		}
	}
	if err != nil {
		return applied, fmt.Errorf("migrate up to %d: %w", version, err)
	}
	return applied, nil
}

// Down rolls back the newest applied migration and returns its version.
func (m *Migrator) Down(ctx context.Context) (int64, error) {
	r, err := m.provider.Down(ctx)
	if err != nil {
		if errors.Is(err, goose.ErrNoNextVersion) {
			return 0, errors.New("migrate down: no migration is applied")
		}
		return 0, fmt.Errorf("migrate down: %w", err)
	}
	return r.Source.Version, nil
}

// Status lists every known migration, oldest first, with its state.
func (m *Migrator) Status(ctx context.Context) ([]MigrationState, error) {
	st, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	out := make([]MigrationState, 0, len(st))
	for _, s := range st {
		name := s.Source.Path
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
		out = append(out, MigrationState{Version: s.Source.Version, Name: name, Applied: s.State == goose.StateApplied, AppliedAt: s.AppliedAt.UTC()})
	}
	return out, nil
}

// KnownVersions lists the migration versions embedded in this binary for dialect d.
func KnownVersions(d Dialect) ([]int64, error) {
	entries, err := fs.ReadDir(migrations.FS, string(d))
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range entries {
		v, err := goose.NumericComponent(e.Name())
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out, nil
}

// PendingMigrations returns the embedded versions not yet applied, read without
// taking the migration lock (safe through a pooler).
func (s *Store) PendingMigrations(ctx context.Context) ([]int64, error) {
	known, err := KnownVersions(s.dialect)
	if err != nil {
		return nil, err
	}
	// One read, no HasTable first: HasTable reports a failed query (a pooler
	// or server out of connections) as a missing table, which made an
	// unreachable schema look unmigrated. A missing table is read from the
	// error instead.
	var applied []int64
	err = s.read(ctx, func(ctx context.Context) error {
		applied = applied[:0]
		return s.db.WithContext(ctx).Table(migrationTable).Where("is_applied").Where("version_id > 0").Pluck("version_id", &applied).Error
	})
	if err != nil {
		if isMissingTable(err) {
			return known, nil
		}
		return nil, fmt.Errorf("read applied migrations: %w", err)
	}
	var pending []int64
	for _, v := range known {
		if !slices.Contains(applied, v) {
			pending = append(pending, v)
		}
	}
	return pending, nil
}

func isMissingTable(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "no such table") || strings.Contains(msg, "does not exist") && strings.Contains(msg, "relation")
}
