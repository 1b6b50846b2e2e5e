package importer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/identity"
)

// Source is the name Better Auth users are mapped under (imported_users.source).
const Source = "better-auth"

// DefaultBatchSize is how many users one batch reads and writes (one
// transaction in Gatehouse's database) unless Options say otherwise.
const DefaultBatchSize = 500

// Options configure BetterAuth.
type Options struct {
	// From is the Better Auth database's connection string (PostgreSQL).
	From string
	// Secret is Better Auth's BETTER_AUTH_SECRET, which encrypts two-factor
	// secrets and backup codes; it is never printed. Without it two-factor
	// rows are skipped.
	Secret string
	// Factors stores imported TOTP factors, recovery codes and passkeys (the
	// *storage.Store); nil skips two-factor and passkey rows.
	Factors FactorStore
	// DryRun reads and reports, and writes nothing.
	DryRun bool
	// BatchSize is the number of users per batch; 0 means DefaultBatchSize.
	BatchSize int
	// Progress, when set, is told after each batch how many users are done out
	// of how many.
	Progress func(done, total int)
	// Now is the clock (active sessions are counted at Now); nil means time.Now.
	Now func() time.Time
}

// ErrNotBetterAuth means the source database has no Better Auth schema; the
// error that wraps it says what is missing.
var ErrNotBetterAuth = errors.New("not a Better Auth database")

// notBetterAuth is an error that says what is missing and is ErrNotBetterAuth.
type notBetterAuth struct{ msg string }

func (e *notBetterAuth) Error() string        { return e.msg }
func (e *notBetterAuth) Is(target error) bool { return target == ErrNotBetterAuth }

// schema is what detect found in the source database.
type schema struct {
	snake bool
	// tables holds each table found with its columns (name → data type).
	tables map[string]map[string]string
	// twoFactor and passkey are the plugin tables found ("" when absent).
	twoFactor, passkey string
}

// col returns the column name of a Better Auth field in the detected casing:
// col("emailVerified") is "email_verified" in a snake_case schema.
func (s schema) col(field string) string {
	if !s.snake {
		return field
	}
	var b strings.Builder
	for _, r := range field {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ident quotes a column or table name for SQL.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// Casing names the detected column casing for the report.
func (s schema) casing() string {
	if s.snake {
		return "snake_case"
	}
	return "camelCase"
}

// detect reads the tables and columns of the current schema and checks that
// the Better Auth core tables are there.
func detect(ctx context.Context, tx pgx.Tx, where string) (schema, error) {
	rows, err := tx.Query(ctx, `SELECT table_name, column_name, udt_name FROM information_schema.columns
		WHERE table_schema = current_schema()
		AND table_name IN ('user', 'account', 'session', 'verification', 'twoFactor', 'two_factor', 'passkey')`)
	if err != nil {
		return schema{}, fmt.Errorf("read the tables of %s: %w", where, err)
	}
	s := schema{tables: map[string]map[string]string{}}
	for rows.Next() {
		var table, column, typ string
		if err := rows.Scan(&table, &column, &typ); err != nil {
			return schema{}, fmt.Errorf("read the tables of %s: %w", where, err)
		}
		if s.tables[table] == nil {
			s.tables[table] = map[string]string{}
		}
		s.tables[table][column] = typ
	}
	if err := rows.Err(); err != nil {
		return schema{}, fmt.Errorf("read the tables of %s: %w", where, err)
	}
	user := s.tables["user"]
	switch {
	case user["id"] != "" && user["email"] != "" && user["emailVerified"] != "":
	case user["id"] != "" && user["email"] != "" && user["email_verified"] != "":
		s.snake = true
	default:
		return schema{}, &notBetterAuth{fmt.Sprintf(`%s has no table "user" with columns id, email, emailVerified (or email_verified): is this a Better Auth database?`, where)}
	}
	need := map[string][]string{
		"user":    {"name", "image", s.col("createdAt"), s.col("updatedAt")},
		"account": {"id", s.col("userId"), s.col("providerId"), s.col("accountId"), "password"},
	}
	for _, table := range []string{"user", "account"} {
		var missing []string
		for _, c := range need[table] {
			if s.tables[table][c] == "" {
				missing = append(missing, c)
			}
		}
		if len(missing) > 0 {
			return schema{}, &notBetterAuth{fmt.Sprintf(`in %s, table %q lacks the %s column(s) %s: is this a Better Auth database?`,
				where, table, s.casing(), strings.Join(missing, ", "))}
		}
	}
	for _, t := range []string{"twoFactor", "two_factor"} {
		if s.tables[t] != nil {
			s.twoFactor = t
		}
	}
	if s.tables["passkey"] != nil {
		s.passkey = "passkey"
	}
	return s, nil
}

// castable are the id column types ids are compared in: the batch's ids travel
// as text and are cast to the column's own type, so that its index serves.
var castable = []string{"text", "varchar", "uuid", "int2", "int4", "int8", "bpchar"}

// BetterAuth imports the users of the Better Auth database o.From through
// users (identity.Service.ImportUsers) and reports what it did. The source is
// only read, in one read-only snapshot; Gatehouse's database is written one
// transaction per batch, and not at all with o.DryRun. An error leaves the
// batches before it written: running the import again finishes the job, since
// an import is idempotent.
func BetterAuth(ctx context.Context, users *identity.Service, o Options) (Report, error) {
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	where := config.MaskURL(o.From)
	r := newReport(where, o.DryRun)
	cfg, err := pgx.ParseConfig(o.From)
	if err != nil {
		return r, fmt.Errorf("--from %s: not a PostgreSQL connection string: %s", where, config.MaskSecrets(err.Error()))
	}
	// Simple protocol: no prepared statements, so a pooled URL (PgBouncer in
	// transaction mode, Neon's -pooler host) works too.
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return r, fmt.Errorf("connect to %s: %s", where, config.MaskSecrets(err.Error()))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return r, fmt.Errorf("read %s: %w", where, err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	s, err := detect(ctx, tx, where)
	if err != nil {
		return r, err
	}
	r.Casing = s.casing()
	if err := r.countLeftOut(ctx, tx, s, o); err != nil {
		return r, fmt.Errorf("read %s: %w", where, err)
	}
	var total int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM "user"`).Scan(&total); err != nil {
		return r, fmt.Errorf("count users in %s: %w", where, err)
	}
	r.Total = total

	userIDType := s.tables["account"][s.col("userId")]
	if !slices.Contains(castable, userIDType) {
		userIDType = ""
	}
	_, err = tx.Exec(ctx, fmt.Sprintf(`DECLARE gatehouse_import NO SCROLL CURSOR FOR
		SELECT id::text, coalesce(name, ''), coalesce(email, ''), coalesce(%s, false), coalesce(image, ''), %s, %s
		FROM "user" ORDER BY %s, id`,
		ident(s.col("emailVerified")), ident(s.col("createdAt")), ident(s.col("updatedAt")), ident(s.col("createdAt"))))
	if err != nil {
		return r, fmt.Errorf("read users of %s: %w", where, err)
	}
	fetch := fmt.Sprintf("FETCH %d FROM gatehouse_import", o.BatchSize)
	done := 0
	for {
		batch, err := fetchUsers(ctx, tx, fetch)
		if err != nil {
			return r, fmt.Errorf("read users of %s: %w", where, err)
		}
		if len(batch) == 0 {
			break
		}
		if err := addAccounts(ctx, tx, s, userIDType, batch); err != nil {
			return r, fmt.Errorf("read accounts of %s: %w", where, err)
		}
		res, err := users.ImportUsers(ctx, Source, batch, o.DryRun)
		if err != nil {
			return r, err
		}
		imported := map[string]string{}
		for i, x := range res {
			r.add(batch[i], x)
			if x.UserID != "" && x.Action != identity.ImportSkipped {
				imported[batch[i].ExternalID] = x.UserID
			}
		}
		if !o.DryRun && o.Factors != nil {
			if err := importFactors(ctx, tx, s, o, &r, imported); err != nil {
				return r, err
			}
		}
		done += len(batch)
		if o.Progress != nil {
			o.Progress(done, max(total, done))
		}
	}
	return r, nil
}

// fetchUsers reads the next batch of the cursor.
func fetchUsers(ctx context.Context, tx pgx.Tx, fetch string) ([]identity.ImportUser, error) {
	rows, err := tx.Query(ctx, fetch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []identity.ImportUser
	for rows.Next() {
		var u identity.ImportUser
		var created, updated *time.Time
		if err := rows.Scan(&u.ExternalID, &u.Name, &u.Email, &u.EmailVerified, &u.Picture, &created, &updated); err != nil {
			return nil, err
		}
		if created != nil {
			u.CreatedAt = created.UTC()
		}
		if updated != nil {
			u.UpdatedAt = updated.UTC()
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// addAccounts reads the account rows of batch's users: the credential
// account's password hash, and every other provider's account as an external
// identity.
func addAccounts(ctx context.Context, tx pgx.Tx, s schema, idType string, batch []identity.ImportUser) error {
	ids := make([]string, len(batch))
	at := make(map[string]int, len(batch))
	for i, u := range batch {
		ids[i], at[u.ExternalID] = u.ExternalID, i
	}
	match := ident(s.col("userId")) + "::text = ANY($1::text[])"
	if idType != "" {
		match = fmt.Sprintf("%s = ANY($1::text[]::%s[])", ident(s.col("userId")), idType)
	}
	rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT %s::text, coalesce(%s, ''), coalesce(%s, ''), coalesce(password, '')
		FROM account WHERE %s ORDER BY %s, id`,
		ident(s.col("userId")), ident(s.col("providerId")), ident(s.col("accountId")), match, ident(s.col("createdAt"))), ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var userID, provider, accountID, password string
		if err := rows.Scan(&userID, &provider, &accountID, &password); err != nil {
			return err
		}
		i, ok := at[userID]
		if !ok {
			continue
		}
		u := &batch[i]
		if provider == "credential" {
			if u.PasswordHash == "" {
				u.PasswordHash = password
			}
			continue
		}
		u.Identities = append(u.Identities, identity.ImportIdentity{Provider: provider, AccountID: accountID})
	}
	return rows.Err()
}
