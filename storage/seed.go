package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// This file writes generated data in bulk, for load tests of a big database
// (`gatehouse bench seed`): COPY on PostgreSQL, multi-row INSERTs on SQLite.
// Rows go in as the server writes them (the same columns, sealed session and
// form, the same key formats); nothing here is used while serving.

// SeedToken is one stored access or refresh token to write in bulk. Form and
// Session are the JSON the token endpoint stores (the request's sanitised form
// and its fosite session); SeedTokens seals them as CreateAccessTokenSession
// does. Signature is the token's signature, never a token.
type SeedToken struct {
	Refresh     bool
	Signature   string
	RequestID   string
	RequestedAt time.Time
	ClientID    string
	Subject     string
	Scopes      []string
	Audience    []string
	ExpiresAt   time.Time
	Form        []byte
	Session     []byte
	// AccessTokenSignature is, for a refresh token, the access token issued with it.
	AccessTokenSignature string
}

// seedTables are the tables SeedTokens, SeedUsers and SeedClients fill, and
// ResetSeeded empties, children first.
var seedTables = []string{accessTokenTable, refreshTokenTable, "users", "clients"}

// SeedTokens writes tokens (access and refresh tokens may be mixed) in one COPY
// per table on PostgreSQL, or in multi-row INSERTs on SQLite. Their clients must
// exist. It is for load tests; the server never calls it.
func (s *Store) SeedTokens(ctx context.Context, tokens []SeedToken) error {
	if s.sealer == nil {
		return ErrNoSecret
	}
	var access, refresh [][]any
	for _, t := range tokens {
		table := accessTokenTable
		if t.Refresh {
			table = refreshTokenTable
		}
		row := []any{t.Signature, t.RequestID, t.RequestedAt.UTC(), t.ClientID, t.Subject,
			jsonList(t.Scopes), jsonList(t.Scopes), jsonList(t.Audience), jsonList(t.Audience),
			true, t.ExpiresAt.UTC(),
			s.sealer.Seal(t.Form, sealAAD(table, t.Signature, "form")),
			s.sealer.Seal(t.Session, sealAAD(table, t.Signature, "session"))}
		if t.Refresh {
			refresh = append(refresh, append(row, t.AccessTokenSignature))
		} else {
			access = append(access, row)
		}
	}
	cols := []string{"signature", "request_id", "requested_at", "client_id", "subject", "requested_scopes", "granted_scopes",
		"requested_audience", "granted_audience", "active", "expires_at", "form", "session"}
	if err := s.bulkInsert(ctx, accessTokenTable, cols, access); err != nil {
		return fmt.Errorf("seed access tokens: %w", translate(err))
	}
	if err := s.bulkInsert(ctx, refreshTokenTable, append(cols, "access_token_signature"), refresh); err != nil {
		return fmt.Errorf("seed refresh tokens: %w", translate(err))
	}
	return nil
}

// DeferTokenIndexes prepares empty token tables for a bulk load on
// PostgreSQL: it drops their indexes, primary keys and foreign keys, and
// returns restore, which builds them again from their definitions as read
// before. A B-tree built once over the loaded rows is several times faster
// than millions of inserts into it, two of them at random keys (signature and,
// for the seed's older rows, request_id). restore must be called when the
// load ends, even after an error; until then the tables have no constraints,
// so only seeding may write to them. On SQLite, or when a token table is not
// empty, it changes nothing and restore does nothing.
func (s *Store) DeferTokenIndexes(ctx context.Context) (restore func(context.Context) error, err error) {
	nothing := func(context.Context) error { return nil }
	if s.dialect != Postgres {
		return nothing, nil
	}
	tables := []string{accessTokenTable, refreshTokenTable}
	var drops, creates []string
	err = s.bulk(ctx, func(ctx context.Context) error {
		db := s.sqlConn(ctx)
		for _, t := range tables {
			var nonEmpty bool
			if err := db.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM "+t+")").Scan(&nonEmpty); err != nil {
				return err
			}
			if nonEmpty {
				drops, creates = nil, nil
				return nil
			}
		}
		for _, t := range tables {
			// Constraints (primary key first, foreign keys after), then the
			// indexes no constraint owns.
			rows, err := db.QueryContext(ctx, `SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
				WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'f') ORDER BY contype DESC, conname`, t)
			if err != nil {
				return err
			}
			for rows.Next() {
				var name, def string
				if err := rows.Scan(&name, &def); err != nil {
					rows.Close()
					return err
				}
				drops = append(drops, "ALTER TABLE "+t+" DROP CONSTRAINT "+pgx.Identifier{name}.Sanitize())
				creates = append(creates, "ALTER TABLE "+t+" ADD CONSTRAINT "+pgx.Identifier{name}.Sanitize()+" "+def)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			rows, err = db.QueryContext(ctx, `SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
				WHERE i.indrelid = $1::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
				ORDER BY 1`, t)
			if err != nil {
				return err
			}
			for rows.Next() {
				var name, def string
				if err := rows.Scan(&name, &def); err != nil {
					rows.Close()
					return err
				}
				drops = append(drops, "DROP INDEX "+name)
				creates = append(creates, def)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return s.InTx(ctx, func(ctx context.Context) error {
			for _, q := range drops {
				if _, err := s.sqlConn(ctx).ExecContext(ctx, q); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return nothing, fmt.Errorf("defer token indexes: %w", translate(err))
	}
	if len(drops) == 0 {
		return nothing, nil
	}
	return func(ctx context.Context) error {
		err := s.bulk(ctx, func(ctx context.Context) error {
			// Each build in its own transaction, with room to sort in memory
			// and without the store's statement_timeout (a primary key over
			// ten million rows takes minutes): settings of this transaction
			// only, not the server's, and kept through a transaction pooler.
			for _, q := range creates {
				err := func() error {
					tx, err := s.sqlDB.BeginTx(ctx, nil)
					if err != nil {
						return err
					}
					defer func() { _ = tx.Rollback() }()
					for _, stmt := range []string{"SET LOCAL statement_timeout = 0", "SET LOCAL maintenance_work_mem = '256MB'", q} {
						if _, err := tx.ExecContext(ctx, stmt); err != nil {
							return err
						}
					}
					return tx.Commit()
				}()
				if err != nil {
					return fmt.Errorf("%s: %w", q, err)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("rebuild token indexes: %w", translate(err))
		}
		return nil
	}, nil
}

// SeedUsers writes users as they are, in bulk (ID, normalised e-mail and
// timestamps must be set by the caller).
func (s *Store) SeedUsers(ctx context.Context, users []User) error {
	if err := bulkModels(ctx, s, users); err != nil {
		return fmt.Errorf("seed users: %w", translate(err))
	}
	return nil
}

// SeedClients writes clients as they are, in bulk. Their CORS origins are not
// indexed and no other instance is told: seeded clients are for load tests of
// a database no server has cached yet.
func (s *Store) SeedClients(ctx context.Context, clients []Client) error {
	for _, c := range clients {
		if len(c.AllowedCORSOrigins) > 0 {
			return fmt.Errorf("seed client %s: seeded clients have no CORS origins", c.ID)
		}
	}
	if err := bulkModels(ctx, s, clients); err != nil {
		return fmt.Errorf("seed clients: %w", translate(err))
	}
	return nil
}

// SeededCounts returns how many rows the tables seeding fills hold.
func (s *Store) SeededCounts(ctx context.Context) (map[string]int64, error) {
	counts := map[string]int64{}
	for _, t := range seedTables {
		var n int64
		err := s.bulk(ctx, func(ctx context.Context) error { return s.conn(ctx).Table(t).Count(&n).Error })
		if err != nil {
			return nil, fmt.Errorf("count %s: %w", t, translate(err))
		}
		counts[t] = n
	}
	return counts, nil
}

// ResetSeeded deletes every token, user and client, with what depends on them
// (codes, sessions, accounts…), so that a load test starts from a known state.
// Signing keys and the schema stay.
func (s *Store) ResetSeeded(ctx context.Context) error {
	err := s.bulk(ctx, func(ctx context.Context) error {
		if s.dialect == Postgres {
			return s.conn(ctx).Exec("TRUNCATE access_tokens, refresh_tokens, users, clients CASCADE").Error
		}
		return s.InTx(ctx, func(ctx context.Context) error {
			for _, t := range append([]string{authorizeCodeTable, pkceRequestTable, oidcRequestTable, parRequestTable}, seedTables...) {
				if err := s.conn(ctx).Exec("DELETE FROM " + t).Error; err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("reset seeded tables: %w", translate(err))
	}
	return nil
}

// RelationSize is the on-disk size of a table: its heap and its indexes.
type RelationSize struct {
	Table      string
	Rows       int64 // the planner's estimate (reltuples), -1 when never analysed
	TableBytes int64 // heap and TOAST
	IndexBytes int64
}

// RelationSizes reports the sizes of the tables a load test grows, on
// PostgreSQL (pg_table_size, pg_indexes_size).
func (s *Store) RelationSizes(ctx context.Context) ([]RelationSize, error) {
	if s.dialect != Postgres {
		return nil, errors.New("relation sizes: only on PostgreSQL")
	}
	var out []RelationSize
	for _, t := range append(append([]string{}, seedTables...), authorizeCodeTable, pkceRequestTable, oidcRequestTable, "sessions", "accounts") {
		var r RelationSize
		err := s.read(ctx, func(ctx context.Context) error {
			return s.sqlConn(ctx).QueryRowContext(ctx,
				"SELECT c.reltuples::bigint, pg_table_size(c.oid), pg_indexes_size(c.oid) FROM pg_class c WHERE c.oid = to_regclass($1)", t).
				Scan(&r.Rows, &r.TableBytes, &r.IndexBytes)
		})
		if err != nil {
			return nil, fmt.Errorf("size of %s: %w", t, translate(err))
		}
		r.Table = t
		out = append(out, r)
	}
	return out, nil
}

// jsonList is l as a StringList column value.
func jsonList(l []string) string {
	v, _ := StringList(l).Value() // a []string always encodes
	return v.(string)
}

// bulkModels writes GORM model values with every column GORM would write.
func bulkModels[T any](ctx context.Context, s *Store, rows []T) error {
	if len(rows) == 0 {
		return nil
	}
	if s.dialect == SQLite {
		return s.bulk(ctx, func(ctx context.Context) error {
			return s.conn(ctx).Omit("webauthn_handle").CreateInBatches(rows, 200).Error
		})
	}
	stmt := &gorm.Statement{DB: s.db}
	if err := stmt.Parse(new(T)); err != nil {
		return err
	}
	sch := stmt.Schema
	var cols []string
	var fields []*schema.Field
	for _, f := range sch.Fields {
		if f.DBName != "" && f.Creatable {
			cols = append(cols, f.DBName)
			fields = append(fields, f)
		}
	}
	values := make([][]any, len(rows))
	for i := range rows {
		rv := reflect.ValueOf(&rows[i]).Elem()
		row := make([]any, len(fields))
		for j, f := range fields {
			v, _ := f.ValueOf(ctx, rv)
			if dv, ok := v.(driver.Valuer); ok {
				var err error
				if v, err = dv.Value(); err != nil {
					return fmt.Errorf("column %s: %w", f.DBName, err)
				}
			}
			row[j] = v
		}
		values[i] = row
	}
	return s.copyRows(ctx, sch.Table, cols, values)
}

// bulkInsert writes rows of cols into table: one COPY on PostgreSQL, INSERTs
// of at most 64 rows on SQLite.
func (s *Store) bulkInsert(ctx context.Context, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if s.dialect == Postgres {
		return s.copyRows(ctx, table, cols, rows)
	}
	return s.bulk(ctx, func(ctx context.Context) error {
		return s.InTx(ctx, func(ctx context.Context) error {
			for start := 0; start < len(rows); start += batchMaxRows {
				chunk := rows[start:min(start+batchMaxRows, len(rows))]
				q := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
				args := make([]any, 0, len(chunk)*len(cols))
				for i, r := range chunk {
					if i > 0 {
						q += ","
					}
					q += "(" + strings.Repeat("?,", len(cols)-1) + "?)"
					args = append(args, r...)
				}
				if err := s.conn(ctx).Exec(q, args...).Error; err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// copyRows sends rows to table with PostgreSQL's COPY FROM STDIN (binary), on
// one connection of the pool.
//
// Like every bulk operation here it runs without the store's wait timeout
// (Options.WaitTimeout bounds a request's database work; a load of 20,000 rows
// into a table with millions may take longer) and is not retried.
func (s *Store) copyRows(ctx context.Context, table string, cols []string, rows [][]any) error {
	return s.bulk(ctx, func(ctx context.Context) error {
		c, err := s.sqlDB.Conn(ctx)
		if err != nil {
			return err
		}
		defer c.Close()
		return c.Raw(func(dc any) error {
			sc, ok := dc.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("copy into %s: not a pgx connection (%T)", table, dc)
			}
			_, err := sc.Conn().CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
			if t, ok := s.db.Dialector.(gorm.ErrorTranslator); ok && err != nil {
				err = t.Translate(err) // a taken key becomes ErrConflict, as in GORM's writes
			}
			return err
		})
	})
}

// Analyze refreshes PostgreSQL's planner statistics of the tables seeding
// fills, as autovacuum would a while after a bulk load; on SQLite it does
// nothing.
func (s *Store) Analyze(ctx context.Context) error {
	if s.dialect != Postgres {
		return nil
	}
	err := s.bulk(ctx, func(ctx context.Context) error {
		return s.conn(ctx).Exec("ANALYZE " + strings.Join(seedTables, ", ")).Error
	})
	if err != nil {
		return fmt.Errorf("analyze: %w", translate(err))
	}
	return nil
}

// bulk runs a bulk operation of seeding: not bounded by Options.WaitTimeout
// and not retried.
func (s *Store) bulk(ctx context.Context, op func(ctx context.Context) error) error {
	s.used(ctx)
	return op(ctx)
}
