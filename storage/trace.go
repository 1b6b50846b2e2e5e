package storage

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Statement is one request the store sends to the database, as
// Options.OnStatement sees it.
type Statement struct {
	// SQL is the statement text with its placeholders; never the bound values,
	// which include token signatures and password hashes. A ping is "-- ping".
	SQL string
	// Prepare marks pgx preparing SQL for its statement cache: a round trip of
	// its own, before the statement itself runs.
	Prepare bool
	// Batch, when above zero, is how many statements SQL holds (separated by
	// ";\n"): a pipelined batch, sent together and answered together.
	Batch int
}

// statementTracer reports every statement pgx sends (queries, transaction
// control, statement-cache preparations) to a hook.
type statementTracer struct {
	hook func(context.Context, Statement)
}

var (
	_ pgx.QueryTracer   = statementTracer{}
	_ pgx.PrepareTracer = statementTracer{}
	_ pgx.BatchTracer   = statementTracer{}
)

func (t statementTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	t.hook(ctx, Statement{SQL: d.SQL})
	return ctx
}

func (statementTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// TraceBatchStart reports a pipelined batch as one statement: its statements
// go out together and one answer brings all their results, one round trip.
func (t statementTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	qs := make([]string, len(d.Batch.QueuedQueries))
	for i, q := range d.Batch.QueuedQueries {
		qs[i] = q.SQL
	}
	t.hook(ctx, Statement{SQL: strings.Join(qs, ";\n"), Batch: len(qs)})
	return ctx
}

func (statementTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (statementTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// preparing carries the SQL of a preparation from its start to its end, where
// pgx says whether it went to the server.
type preparing struct{}

func (statementTracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, d pgx.TracePrepareStartData) context.Context {
	return context.WithValue(ctx, preparing{}, d.SQL)
}

func (t statementTracer) TracePrepareEnd(ctx context.Context, _ *pgx.Conn, d pgx.TracePrepareEndData) {
	if d.AlreadyPrepared {
		return
	}
	q, _ := ctx.Value(preparing{}).(string)
	t.hook(ctx, Statement{SQL: q, Prepare: true})
}

// sqliteConn is what the SQLite driver's connections implement, and so what a
// traced connection must pass on: database/sql changes how it talks to a
// connection by the interfaces it finds.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
}

// tracedSQLite opens the SQLite database dsn with every statement reported to
// hook.
func tracedSQLite(driverName, dsn string, hook func(context.Context, Statement)) (*sql.DB, error) {
	probe, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	drv := probe.Driver()
	probe.Close()
	return sql.OpenDB(tracedConnector{drv: drv, dsn: dsn, hook: hook}), nil
}

type tracedConnector struct {
	drv  driver.Driver
	dsn  string
	hook func(context.Context, Statement)
}

func (c tracedConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(sqliteConn)
	if !ok {
		conn.Close()
		return nil, errors.New("open sqlite: the driver's connections cannot be traced")
	}
	return tracedConn{sc, c.hook}, nil
}

func (c tracedConnector) Driver() driver.Driver { return c.drv }

type tracedConn struct {
	sqliteConn
	hook func(context.Context, Statement)
}

func (c tracedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c tracedConn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	c.hook(ctx, Statement{SQL: "BEGIN"})
	tx, err := c.sqliteConn.BeginTx(ctx, o)
	if err != nil {
		return nil, err
	}
	return tracedTx{tx, ctx, c.hook}, nil
}

func (c tracedConn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c tracedConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := c.sqliteConn.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if ts, ok := st.(sqliteStmt); ok {
		return tracedStmt{ts, q, c.hook}, nil
	}
	return st, nil
}

func (c tracedConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.hook(ctx, Statement{SQL: q})
	return c.sqliteConn.ExecContext(ctx, q, args)
}

func (c tracedConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.hook(ctx, Statement{SQL: q})
	return c.sqliteConn.QueryContext(ctx, q, args)
}

func (c tracedConn) Ping(ctx context.Context) error {
	c.hook(ctx, Statement{SQL: "-- ping"})
	return c.sqliteConn.Ping(ctx)
}

type tracedTx struct {
	driver.Tx
	ctx  context.Context
	hook func(context.Context, Statement)
}

func (t tracedTx) Commit() error {
	t.hook(t.ctx, Statement{SQL: "COMMIT"})
	return t.Tx.Commit()
}

func (t tracedTx) Rollback() error {
	t.hook(t.ctx, Statement{SQL: "ROLLBACK"})
	return t.Tx.Rollback()
}

// sqliteStmt is what the SQLite driver's prepared statements implement.
type sqliteStmt interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// tracedStmt reports each execution of a prepared statement.
type tracedStmt struct {
	sqliteStmt
	sql  string
	hook func(context.Context, Statement)
}

func (s tracedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.hook(ctx, Statement{SQL: s.sql})
	return s.sqliteStmt.ExecContext(ctx, args)
}

func (s tracedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.hook(ctx, Statement{SQL: s.sql})
	return s.sqliteStmt.QueryContext(ctx, args)
}
