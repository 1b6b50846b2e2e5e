package main

import (
	"context"
	"log/slog"
	"sync"
)

// workers runs serve's background workers (key refresher, mail outbox,
// janitor) and stops them together. Build it with newWorkers.
type workers struct {
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newWorkers(log *slog.Logger) *workers {
	ctx, cancel := context.WithCancel(context.Background())
	return &workers{log: log, ctx: ctx, cancel: cancel}
}

// start runs run in the background until stop.
func (w *workers) start(name string, run func(context.Context)) {
	w.wg.Go(func() {
		run(w.ctx)
		w.log.Debug("background worker stopped", "worker", name)
	})
}

// stop cancels every worker and returns once each has returned. Each bounds
// its pass (a refresh, a flush, a sweep) by a deadline and ends it promptly
// when cancelled; recording a mail that was sent has its own short bound, so
// that it is not sent twice. Calling stop again does nothing more.
func (w *workers) stop() {
	w.cancel()
	w.wg.Wait()
}
