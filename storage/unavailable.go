package storage

import (
	"errors"
	"strings"

	sqlite "github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
)

// SQLite's primary result codes that mean the database cannot serve now
// (https://www.sqlite.org/rescode.html); an extended code carries its primary
// code in its low byte.
const (
	sqliteBusy     = 5  // SQLITE_BUSY: another connection holds the lock past busy_timeout
	sqliteLocked   = 6  // SQLITE_LOCKED: a conflict inside this process
	sqliteNoMem    = 7  // SQLITE_NOMEM
	sqliteReadOnly = 8  // SQLITE_READONLY: the file, or the connection (query_only), refuses writes
	sqliteIOErr    = 10 // SQLITE_IOERR: the disk failed a read or write
	sqliteFull     = 13 // SQLITE_FULL: the disk (or max_page_count) is full
)

// IsUnavailable reports whether err means the database cannot serve the request
// now, through no fault of the request, so the request should be answered with
// 503 and Retry-After rather than as the client's mistake or a bug:
//
//   - ErrBusy: no connection or answer within the wait timeout;
//   - a lost or refused connection (IsConnectionLoss): a restart, a failover, a
//     Neon compute suspending, too many connections (53300), an administrator's
//     shutdown (57P01);
//   - a database that refuses writes (IsWriteRefused): read-only or a hot
//     standby (25006), disk full (53100), SQLite's read-only and full;
//   - a server short of resources: insufficient resources (53000), out of
//     memory (53200), a configuration limit (53400), a system or I/O error
//     (class 58), a statement cancelled by statement_timeout (57014);
//   - SQLite busy or locked past busy_timeout, out of memory, or an I/O error.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrBusy) || IsConnectionLoss(err) || IsWriteRefused(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		c := pgErr.Code
		return strings.HasPrefix(c, "53") || strings.HasPrefix(c, "58") || c == "57014"
	}
	switch sqliteCode(err) {
	case sqliteBusy, sqliteLocked, sqliteNoMem, sqliteIOErr:
		return true
	}
	return false
}

// IsWriteRefused reports whether err means the database refuses writes for now,
// while it may still answer reads: a read-only transaction, database or hot
// standby (SQLSTATE 25006), a full disk (53100), or SQLite's read-only file or
// connection and full disk. Readiness reports such a database until a write
// succeeds again.
func IsWriteRefused(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "25006" || pgErr.Code == "53100"
	}
	switch sqliteCode(err) {
	case sqliteReadOnly, sqliteFull:
		return true
	}
	return false
}

// sqliteCode returns the primary result code of a SQLite error in err's chain,
// or 0.
func sqliteCode(err error) int {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code() & 0xff
	}
	return 0
}

// refusalWords names why a database refuses writes, for readiness.
func refusalWords(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "25006":
			return "the database is read-only (SQLSTATE 25006: a hot standby, or default_transaction_read_only)"
		case "53100":
			return "the disk is full (SQLSTATE 53100)"
		}
	}
	switch sqliteCode(err) {
	case sqliteReadOnly:
		return "the SQLite file is read-only (SQLITE_READONLY)"
	case sqliteFull:
		return "the disk is full (SQLITE_FULL)"
	}
	return "writes fail"
}
