package reqlog_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/gatehouse-id/gatehouse/internal/reqlog"
)

func TestAddWithAndWithoutNote(t *testing.T) {
	if reqlog.Add(context.Background(), slog.String("error", "x")) {
		t.Errorf("Add without a Note = true, want false (the caller must log itself)")
	}
	ctx, n := reqlog.Start(context.Background())
	if !reqlog.Add(ctx, slog.String("error", "temporarily_unavailable")) {
		t.Fatalf("Add with a Note = false, want true")
	}
	reqlog.Add(ctx, slog.String("cause", "connection refused"))
	got := n.Attrs()
	if len(got) != 2 || got[0].Key != "error" || got[1].Value.String() != "connection refused" {
		t.Errorf("Attrs() = %v, want error then cause", got)
	}
}
