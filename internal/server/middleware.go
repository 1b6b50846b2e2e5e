package server

import (
	"context"
	"log/slog"

	"github.com/gatehouse-id/gatehouse/internal/middleware"
)

// RequestID returns the id of the request being served, or "".
func RequestID(ctx context.Context) string { return middleware.RequestID(ctx) }

// RequestObserver records one served request; *metrics.Metrics is one.
type RequestObserver = middleware.RequestObserver

// LogHandler wraps h so that every record logged with a request's context
// carries that request's id as "request_id" (see middleware.LogHandler): on
// either listener, since both use the same stack.
func LogHandler(h slog.Handler) slog.Handler { return middleware.LogHandler(h) }
