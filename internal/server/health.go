package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/middleware"
)

type health struct {
	ready ReadinessFunc
	log   *slog.Logger
}

// live answers 200 while the process runs; it checks nothing else, so an
// orchestrator does not restart a healthy process whose database is away.
func (h *health) live() http.Handler {
	body := []byte(`{"status":"ok"}` + "\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(body)
	})
}

type readyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// readiness answers 200 when the database answers and the schema is current, and
// 503 otherwise, naming the failed check.
func (h *health) readiness() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		ready, checks := false, map[string]string{"database": "not configured"}
		if h.ready != nil {
			ready, checks = h.ready(ctx)
		}
		body := readyBody{Status: "ready", Checks: checks}
		status := http.StatusOK
		if !ready {
			body.Status, status = "not ready", http.StatusServiceUnavailable
		}
		writeJSON(w, status, body)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) { middleware.WriteJSON(w, status, v) }

func notFound(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "error_description": "no such endpoint"})
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed", "error_description": "this endpoint does not accept " + r.Method})
}
