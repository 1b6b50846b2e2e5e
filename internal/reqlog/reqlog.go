// Package reqlog gives each served request one log line. The server's access log
// starts a Note for every request; the code serving it adds what went wrong (the
// error code, its cause) to that Note instead of writing lines of its own, and
// the access log writes them all in its one line, at a level that follows the
// status. So an outage costs one line per failed request, not one per layer.
package reqlog

import (
	"context"
	"log/slog"
	"sync"
)

// Note collects the attributes of one request's log line. It is safe for
// concurrent use.
type Note struct {
	mu    sync.Mutex
	attrs []slog.Attr
}

type noteKey struct{}

// Start returns a context that carries a new Note, and the Note.
func Start(ctx context.Context) (context.Context, *Note) {
	n := &Note{}
	return context.WithValue(ctx, noteKey{}, n), n
}

// Add attaches attrs to the request's log line and reports whether ctx carries
// a Note. When it does not (code run outside the server, such as a unit test of
// one handler), the caller logs the attributes itself.
func Add(ctx context.Context, attrs ...slog.Attr) bool {
	n, ok := ctx.Value(noteKey{}).(*Note)
	if !ok {
		return false
	}
	n.mu.Lock()
	n.attrs = append(n.attrs, attrs...)
	n.mu.Unlock()
	return true
}

// Attrs returns what was added, in order.
func (n *Note) Attrs() []slog.Attr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]slog.Attr(nil), n.attrs...)
}
