package storage_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// TestSchemaMatchesModels proves that the versioned SQL and the GORM models
// describe the same schema: on a database built by the migrations alone,
// AutoMigrate (which creates or alters whatever the models say is missing) must
// change nothing. It covers every model and migration there is, so a model added
// without its migration (or with one that differs) fails here.
func TestSchemaMatchesModels(t *testing.T) {
	for _, tc := range []struct {
		name     string
		url      func(t *testing.T) string
		snapshot func(ctx context.Context, db *sql.DB) (schemaSnapshot, error)
	}{
		{"SQLite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "schema.db") }, sqliteSchema},
		{"PostgreSQL", func(t *testing.T) string { return storagetest.NewPostgresDatabase(t) }, postgresSchema},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := storagetest.OpenURL(t, tc.url(t), storage.PoolerNone)

			before, err := tc.snapshot(ctx, s.DB())
			if err != nil {
				t.Fatalf("snapshot after migrations: %v", err)
			}
			tables, err := storage.ModelTables(s)
			if err != nil {
				t.Fatalf("ModelTables: %v", err)
			}
			for _, table := range tables {
				if !slices.Contains(before.tables, table) {
					t.Errorf("model table %q is not created by the SQL migrations (tables: %v)", table, before.tables)
				}
			}

			if err := s.AutoMigrate(ctx); err != nil {
				t.Fatalf("AutoMigrate on the migrated schema: %v", err)
			}
			after, err := tc.snapshot(ctx, s.DB())
			if err != nil {
				t.Fatalf("snapshot after AutoMigrate: %v", err)
			}
			if diff := before.diff(after); diff != "" {
				t.Errorf("AutoMigrate changed the schema the migrations built; models and SQL disagree (- migrations, + models):\n%s", diff)
			}
		})
	}
}

// TestSchemaSnapshotSeesDrift shows the schema test can fail: with an index the
// migrations create dropped, AutoMigrate puts it back and the snapshots differ.
func TestSchemaSnapshotSeesDrift(t *testing.T) {
	for _, tc := range []struct {
		name     string
		url      func(t *testing.T) string
		snapshot func(ctx context.Context, db *sql.DB) (schemaSnapshot, error)
	}{
		{"SQLite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "drift.db") }, sqliteSchema},
		{"PostgreSQL", func(t *testing.T) string { return storagetest.NewPostgresDatabase(t) }, postgresSchema},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s := storagetest.OpenURL(t, tc.url(t), storage.PoolerNone)
			if _, err := s.DB().ExecContext(ctx, "DROP INDEX sessions_expires_at_idx"); err != nil {
				t.Fatal(err)
			}
			before, err := tc.snapshot(ctx, s.DB())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.AutoMigrate(ctx); err != nil {
				t.Fatalf("AutoMigrate: %v", err)
			}
			after, err := tc.snapshot(ctx, s.DB())
			if err != nil {
				t.Fatal(err)
			}
			diff := before.diff(after)
			if !strings.Contains(diff, "sessions_expires_at_idx") {
				t.Errorf("with an index dropped, the snapshots differ by %q, want the index", diff)
			}
		})
	}
}

// schemaSnapshot is a schema as sorted lines of text, one per column, index and
// constraint.
type schemaSnapshot struct {
	tables []string
	lines  []string
}

func (a schemaSnapshot) diff(b schemaSnapshot) string {
	var out []string
	for _, l := range a.lines {
		if !slices.Contains(b.lines, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range b.lines {
		if !slices.Contains(a.lines, l) {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// queryLines runs q and renders each row as "col1 | col2 | …", NULL as <null>.
func queryLines(ctx context.Context, db *sql.DB, prefix, q string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		parts := make([]string, len(cols))
		for i, v := range vals {
			parts[i] = "<null>"
			if v.Valid {
				parts[i] = v.String
			}
		}
		out = append(out, prefix+strings.Join(parts, " | "))
	}
	return out, rows.Err()
}

func postgresSchema(ctx context.Context, db *sql.DB) (schemaSnapshot, error) {
	var snap schemaSnapshot
	tables, err := queryLines(ctx, db, "", `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
	if err != nil {
		return snap, err
	}
	snap.tables = tables
	for _, q := range []struct{ prefix, sql string }{
		{"table ", `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`},
		{"column ", `SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default,
			character_maximum_length::text, numeric_precision::text, datetime_precision::text
			FROM information_schema.columns WHERE table_schema = current_schema()`},
		{"index ", `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()`},
		{"constraint ", `SELECT conrelid::regclass::text, conname, contype::text, pg_get_constraintdef(oid)
			FROM pg_constraint WHERE connamespace = current_schema()::regnamespace`},
	} {
		lines, err := queryLines(ctx, db, q.prefix, q.sql)
		if err != nil {
			return snap, err
		}
		snap.lines = append(snap.lines, lines...)
	}
	slices.Sort(snap.lines)
	return snap, nil
}

var spaces = regexp.MustCompile(`\s+`)

func sqliteSchema(ctx context.Context, db *sql.DB) (schemaSnapshot, error) {
	var snap schemaSnapshot
	tables, err := queryLines(ctx, db, "", `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return snap, err
	}
	snap.tables = tables
	// The statements as stored: GORM rewrites a table's CREATE TABLE when it alters
	// it, so any change shows here too. Whitespace and comments are not schema.
	master, err := queryLines(ctx, db, "", `SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return snap, err
	}
	for _, l := range master {
		snap.lines = append(snap.lines, "sql "+normalizeSQL(l))
	}
	for _, table := range tables {
		for _, q := range []struct{ prefix, sql string }{
			{"column ", `SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)`},
			{"index ", `SELECT name, "unique", origin, partial FROM pragma_index_list(?)`},
			{"foreign key ", `SELECT "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?)`},
		} {
			lines, err := queryLines(ctx, db, q.prefix+table+" | ", q.sql, table)
			if err != nil {
				return snap, err
			}
			snap.lines = append(snap.lines, lines...)
		}
		idx, err := queryLines(ctx, db, "", `SELECT name FROM pragma_index_list(?)`, table)
		if err != nil {
			return snap, err
		}
		for _, name := range idx {
			lines, err := queryLines(ctx, db, "index column "+table+" | "+name+" | ", `SELECT seqno, name FROM pragma_index_info(?)`, name)
			if err != nil {
				return snap, err
			}
			snap.lines = append(snap.lines, lines...)
		}
	}
	slices.Sort(snap.lines)
	return snap, nil
}

var sqlComment = regexp.MustCompile(`--[^\n]*`)

func normalizeSQL(s string) string {
	s = sqlComment.ReplaceAllString(s, "")
	s = spaces.ReplaceAllString(s, " ")
	s = strings.ReplaceAll(s, "( ", "(")
	s = strings.ReplaceAll(s, " )", ")")
	return strings.TrimSpace(s)
}
