package storage

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/ory/fosite"
	"gorm.io/gorm"
)

// pgTx is a PostgreSQL transaction that saves round trips: on a database 50 ms
// away they, not CPU, set a request's latency.
//
//   - BEGIN is not sent on its own: it goes out with the transaction's first
//     statement, in one pipelined batch.
//   - Writes whose outcome the caller does not need at once (inserting a token,
//     deleting a used PKCE or OIDC record, deactivating a row this transaction
//     holds locked) are queued and go out with the next read, or with COMMIT.
//   - The rows a token request reads more than once, or reads together, are
//     read together and kept for the transaction (see cached).
//
// A batch's statements run in order on one connection, BEGIN and COMMIT
// included, so a batch holding both is one atomic unit even through a
// transaction-mode pooler, and nothing needs a server-side prepared statement:
// in pgx's exec mode each goes out as an unnamed statement. What reaches the
// caller is the same as with one statement at a time, except that a queued
// write's error shows at the commit (or the next read) instead of at the call.
type pgTx struct {
	s    *Store
	conn *sql.Conn

	mu      sync.Mutex
	begun   bool   // BEGIN was sent
	pending []pgOp // writes not sent yet, in order
	failed  error  // a batch failed: the transaction can only roll back

	rowsMu sync.Mutex // guards rows; mu is held while a batch's rows are read
	rows   rowMemo    // rows read in this transaction; see cached
}

// pgOp is one statement of a batch. read, when set, is given every row it
// returns.
type pgOp struct {
	sql  string
	args []any
	read func(pgx.Rows) error
}

// beginPG starts a pipelined transaction on a connection of the pool: nothing
// is sent yet.
func (s *Store) beginPG(ctx context.Context) (*pgTx, *gorm.DB, error) {
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	t := &pgTx{s: s, conn: conn, rows: rowMemo{}}
	db := s.db.Session(&gorm.Session{Context: ctx, NewDB: true})
	db.Statement.ConnPool = lazyPool{t}
	return t, db, nil
}

// pgTxOf returns ctx's pipelined transaction, or nil when ctx carries none (no
// transaction, or SQLite).
func pgTxOf(ctx context.Context) *pgTx {
	if st, ok := txOf(ctx); ok {
		return st.root().pg
	}
	return nil
}

// queue adds a write to the next batch.
func (t *pgTx) queue(op pgOp) {
	t.mu.Lock()
	t.pending = append(t.pending, op)
	t.mu.Unlock()
}

// send sends BEGIN (unless sent), the pending writes and ops in one batch, one
// round trip, and hands each op its result.
func (t *pgTx) send(ctx context.Context, ops ...pgOp) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failed != nil {
		return t.failed
	}
	all := make([]pgOp, 0, 1+len(t.pending)+len(ops))
	if !t.begun {
		all = append(all, pgOp{sql: "begin"})
	}
	all = append(append(all, t.pending...), ops...)
	t.pending = nil
	if len(all) == 0 {
		return nil
	}
	beginning := !t.begun
	t.begun = true
	var err error
	for attempt := 1; ; attempt++ {
		err = t.conn.Raw(func(dc any) error {
			c, ok := dc.(*stdlib.Conn)
			if !ok {
				return fmt.Errorf("pipelined transaction: unexpected driver connection %T", dc)
			}
			return runBatch(ctx, c.Conn(), all)
		})
		// A batch that begins the transaction may be sent again on another
		// connection after losing its own, as BEGIN alone always could: the
		// server rolled back whatever of it ran, unless it held the COMMIT
		// and may have run it.
		if err == nil || !beginning || attempt == retryAttempts || ctx.Err() != nil || !IsConnectionLoss(err) ||
			all[len(all)-1].sql == "commit" && !safeToRepeat(err) {
			break
		}
		t.release()
		t.s.dropIdle()
		conn, cerr := t.s.sqlDB.Conn(ctx)
		if cerr != nil {
			// The transaction keeps its closed connection: what it sends
			// next fails with sql.ErrConnDone, and its rollback sends nothing.
			err = cerr
			break
		}
		t.conn = conn
	}
	if err != nil {
		t.failed = err
	}
	return err
}

// runBatch sends ops as one pipelined batch on c and reads every result.
func runBatch(ctx context.Context, c *pgx.Conn, ops []pgOp) error {
	b := &pgx.Batch{}
	for _, op := range ops {
		b.Queue(op.sql, op.args...)
	}
	br := c.SendBatch(ctx, b)
	var first error
	for _, op := range ops {
		if first != nil {
			break
		}
		if op.read != nil {
			rows, err := br.Query()
			if err != nil {
				first = err
				break
			}
			for rows.Next() {
				if err := op.read(rows); err != nil {
					first = err
					break
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil && first == nil {
				first = err
			}
			continue
		}
		if _, err := br.Exec(); err != nil {
			first = err
			break
		}
	}
	if err := br.Close(); err != nil && first == nil {
		first = err
	}
	return first
}

// flush sends what is pending (BEGIN included) so that a statement sent on
// its own sees it.
func (t *pgTx) flush(ctx context.Context) error {
	t.mu.Lock()
	idle := t.begun && len(t.pending) == 0 && t.failed == nil
	t.mu.Unlock()
	if idle {
		return nil
	}
	return t.send(ctx)
}

// commit sends the pending writes and COMMIT in one batch; a transaction that
// sent and queued nothing sends nothing.
func (t *pgTx) commit(ctx context.Context) error {
	t.mu.Lock()
	empty := !t.begun && len(t.pending) == 0
	failed := t.failed
	t.mu.Unlock()
	if failed != nil {
		t.rollback(ctx)
		return failed
	}
	if empty {
		t.release()
		return nil
	}
	err := t.send(ctx, pgOp{sql: "commit"})
	if err != nil {
		// A statement of the batch failed and the server skipped the rest,
		// COMMIT included: end the transaction it left open.
		t.rollback(ctx)
		return err
	}
	t.release()
	return nil
}

// rollback ends the transaction, if anything began it, and gives the
// connection back.
func (t *pgTx) rollback(ctx context.Context) {
	t.mu.Lock()
	begun := t.begun
	t.pending = nil
	t.mu.Unlock()
	if begun {
		rctx := ctx
		if ctx.Err() != nil {
			// The request's deadline passed: still end the transaction, so the
			// connection goes back to the pool clean.
			var cancel context.CancelFunc
			rctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
			defer cancel()
		}
		if _, err := t.conn.ExecContext(rctx, "rollback"); err != nil {
			// The connection cannot be trusted to be outside a transaction:
			// make the pool discard it.
			_ = t.conn.Raw(func(dc any) error {
				if c, ok := dc.(*stdlib.Conn); ok {
					_ = c.Close()
				}
				return nil
			})
		}
	}
	t.release()
}

func (t *pgTx) release() { _ = t.conn.Close() }

// lazyPool is the connection GORM sees inside a pipelined transaction: each
// statement sent through it first sends what is pending, BEGIN included.
type lazyPool struct{ t *pgTx }

var _ gorm.ConnPool = lazyPool{}

func (p lazyPool) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	if err := p.t.flush(ctx); err != nil {
		return nil, err
	}
	return p.t.conn.PrepareContext(ctx, q)
}

func (p lazyPool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	p.t.forget()
	if err := p.t.flush(ctx); err != nil {
		return nil, err
	}
	return p.t.conn.ExecContext(ctx, q, args...)
}

func (p lazyPool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if !isSelect(q) {
		p.t.forget() // GORM writes with RETURNING through QueryContext
	}
	if err := p.t.flush(ctx); err != nil {
		return nil, err
	}
	return p.t.conn.QueryContext(ctx, q, args...)
}

// QueryRowContext cannot return an error of its own: a failed flush leaves
// the transaction aborted, so the query fails too, and the commit reports the
// flush's error.
func (p lazyPool) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if !isSelect(q) {
		p.t.forget()
	}
	_ = p.t.flush(ctx)
	return p.t.conn.QueryRowContext(ctx, q, args...)
}

// rollbackTimeout bounds the ROLLBACK sent after the request's own deadline.
const rollbackTimeout = 5 * time.Second

// memoKey names a row of a protocol table.
type memoKey struct{ table, key string }

// memoRow is a row as this transaction read it, with its own queued writes
// applied.
type memoRow struct {
	row       requestRow
	accessSig string     // refresh_tokens.access_token_signature
	rotatedAt *time.Time // refresh_tokens.rotated_at
	// locked: read FOR UPDATE, so no other transaction can change the row
	// before this one ends, and a conditional update of it can be decided here
	// and queued.
	locked bool
}

// rowMemo holds the rows a transaction read; a nil entry says the row does
// not exist.
type rowMemo map[memoKey]*memoRow

// cached returns the row of table with key as this transaction knows it: ok
// is false when the transaction has not read it, and row is nil when it does
// not exist.
func (t *pgTx) cached(table, key string) (row *memoRow, ok bool) {
	t.rowsMu.Lock()
	defer t.rowsMu.Unlock()
	row, ok = t.rows[memoKey{table, key}]
	return row, ok
}

// isSelect reports whether q is a plain SELECT, which changes no row.
func isSelect(q string) bool {
	q = strings.TrimLeft(q, " \t\n(")
	return len(q) >= 6 && strings.EqualFold(q[:6], "select") && !strings.Contains(strings.ToUpper(q), "FOR UPDATE")
}

// forget drops every remembered row: a statement the memo does not follow
// (one of GORM's) may have changed any of them.
func (t *pgTx) forget() {
	t.rowsMu.Lock()
	clear(t.rows)
	t.rowsMu.Unlock()
}

// remember records what the transaction knows of a row (nil: none).
func (t *pgTx) remember(table, key string, row *memoRow) {
	t.rowsMu.Lock()
	t.rows[memoKey{table, key}] = row
	t.rowsMu.Unlock()
}

// beginPipelined is BeginTX on PostgreSQL: it takes a connection from the pool
// (dialling a new one is retried as BEGIN was) and sends nothing.
func (s *Store) beginPipelined(ctx, txCtx context.Context, cancel context.CancelFunc) (context.Context, error) {
	var t *pgTx
	var db *gorm.DB
	var err error
	for attempt := 0; attempt < retryAttempts; attempt++ {
		t, db, err = s.beginPG(txCtx)
		if err == nil || txCtx.Err() != nil || !IsConnectionLoss(err) {
			break
		}
		s.dropIdle()
	}
	if err != nil {
		err = s.busyIf(ctx, txCtx, err)
		cancel()
		return ctx, fmt.Errorf("begin transaction: %w", err)
	}
	return context.WithValue(txCtx, txKey{}, &txState{db: db, cancel: cancel, pg: t}), nil
}

// translatePG turns a raw pgx error into what GORM's would be, so that
// translate reads it the same (a taken key: ErrConflict).
func (s *Store) translatePG(err error) error {
	if t, ok := s.db.Dialector.(gorm.ErrorTranslator); ok && err != nil {
		return t.Translate(err)
	}
	return err
}

// requestValues are row's values in requestColumns' order.
func requestValues(r requestRow) []any {
	return []any{r.Signature, r.RequestID, r.RequestedAt, r.ClientID, r.Subject,
		r.RequestedScopes, r.GrantedScopes, r.RequestedAudience, r.GrantedAudience,
		r.Active, r.ExpiresAt, r.Form, r.Session}
}

// scanRequest reads a row of requestColumns, then extra.
func scanRequest(rows pgx.Rows, r *requestRow, extra ...any) error {
	return rows.Scan(append([]any{&r.Signature, &r.RequestID, &r.RequestedAt, &r.ClientID, &r.Subject,
		&r.RequestedScopes, &r.GrantedScopes, &r.RequestedAudience, &r.GrantedAudience,
		&r.Active, &r.ExpiresAt, &r.Form, &r.Session}, extra...)...)
}

// readInto is a pgOp read that remembers every row it gets under table (a
// row's own signature as its key) and marks them locked when lock is set.
func (t *pgTx) readInto(table string, lock bool, q string, args ...any) pgOp {
	return pgOp{sql: q, args: args, read: func(rows pgx.Rows) error {
		m := &memoRow{locked: lock}
		var err error
		if table == refreshTokenTable {
			err = scanRequest(rows, &m.row, &m.accessSig, &m.rotatedAt)
		} else {
			err = scanRequest(rows, &m.row)
		}
		if err != nil {
			return err
		}
		t.remember(table, m.row.Signature, m)
		return nil
	}}
}

// readCode reads, in one round trip, the authorization code with signature,
// locked until the transaction ends (so its redemption can be decided here),
// with the PKCE and OpenID Connect records stored with it, which a redemption
// reads next: the PKCE one has the code's signature, the OpenID Connect one
// (keyed by a hash of the code itself) the code's request id.
func (t *pgTx) readCode(ctx context.Context, signature string) error {
	if err := t.send(ctx,
		t.readInto(authorizeCodeTable, true, "SELECT "+requestColumns+" FROM "+authorizeCodeTable+" WHERE signature = $1 FOR UPDATE", signature),
		t.readInto(pkceRequestTable, false, "SELECT "+requestColumns+" FROM "+pkceRequestTable+" WHERE signature = $1", signature),
		t.readInto(oidcRequestTable, false, "SELECT "+requestColumns+" FROM "+oidcRequestTable+
			" WHERE request_id = (SELECT request_id FROM "+authorizeCodeTable+" WHERE signature = $1)", signature),
	); err != nil {
		return err
	}
	for _, table := range []string{authorizeCodeTable, pkceRequestTable} {
		if _, ok := t.cached(table, signature); !ok {
			t.remember(table, signature, nil)
		}
	}
	return nil
}

// readRow reads the row of table with key in this transaction's next batch,
// and remembers it (locked when lock is set).
func (t *pgTx) readRow(ctx context.Context, table, key string, lock bool) error {
	cols := requestColumns
	if table == refreshTokenTable {
		cols += ", access_token_signature, rotated_at"
	}
	q := "SELECT " + cols + " FROM " + table + " WHERE signature = $1"
	if lock {
		q += " FOR UPDATE"
	}
	if err := t.send(ctx, t.readInto(table, lock, q, key)); err != nil {
		return err
	}
	if _, ok := t.cached(table, key); !ok {
		t.remember(table, key, nil)
	}
	return nil
}

// placeholders returns "($1,…,$n)".
func placeholders(n int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		b.WriteString("$" + strconv.Itoa(i))
	}
	b.WriteByte(')')
	return b.String()
}

// insertOp inserts row into table.
func insertOp(table string, row requestRow) pgOp {
	return pgOp{sql: "INSERT INTO " + table + " (" + requestColumns + ") VALUES " + placeholders(13), args: requestValues(row)}
}

// pipelinedRow returns the row of table with key as transaction t knows it,
// reading it (FOR UPDATE when lock is set) if t has not: fosite.ErrNotFound
// when there is none.
func (s *Store) pipelinedRow(ctx context.Context, t *pgTx, table, key string, lock bool) (*memoRow, error) {
	m, ok := t.cached(table, key)
	if !ok || lock && m != nil && !m.locked {
		s.used(ctx)
		if err := s.read(ctx, func(ctx context.Context) error { return t.readRow(ctx, table, key, lock) }); err != nil {
			return nil, err
		}
		m, _ = t.cached(table, key)
	}
	if m == nil {
		return nil, fosite.ErrNotFound
	}
	return m, nil
}
