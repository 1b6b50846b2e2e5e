package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// slowQuery is the duration above which a statement is logged as slow.
const slowQuery = 500 * time.Millisecond

// gormLogger sends GORM's errors and slow statements to slog. Unlike GORM's own
// slog logger it renders a statement only when it logs it: rendering every
// statement cost about 4% of the token endpoint's CPU.
type gormLogger struct{ log *slog.Logger }

func newGormLogger(l *slog.Logger) logger.Interface { return gormLogger{log: l} }

func (g gormLogger) LogMode(logger.LogLevel) logger.Interface { return g }

func (g gormLogger) Info(ctx context.Context, msg string, args ...any) {
	g.log.InfoContext(ctx, fmt.Sprintf(msg, args...))
}

func (g gormLogger) Warn(ctx context.Context, msg string, args ...any) {
	g.log.WarnContext(ctx, fmt.Sprintf(msg, args...))
}

func (g gormLogger) Error(ctx context.Context, msg string, args ...any) {
	g.log.ErrorContext(ctx, fmt.Sprintf(msg, args...))
}

// Trace logs slow statements as warnings, and failed ones (but not "record not
// found", which callers handle) at debug level only: the error reaches the
// caller, and the request's one access-log line carries it. Logging it here too
// made an outage cost a line per statement and per retry, at ERROR.
func (g gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	failed := err != nil && !errors.Is(err, gorm.ErrRecordNotFound)
	if !failed && elapsed <= slowQuery || failed && !g.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	sql, rows := fc()
	attrs := []slog.Attr{slog.String("sql", sql), slog.Duration("duration", elapsed)}
	if rows >= 0 {
		attrs = append(attrs, slog.Int64("rows", rows))
	}
	if failed {
		attrs = append(attrs, slog.String("error", err.Error()))
		g.log.LogAttrs(ctx, slog.LevelDebug, "sql statement failed", attrs...)
		return
	}
	g.log.LogAttrs(ctx, slog.LevelWarn, "slow sql statement", attrs...)
}

// ParamsFilter keeps bound values out of logged statements: they include token
// signatures and password hashes.
func (gormLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}
