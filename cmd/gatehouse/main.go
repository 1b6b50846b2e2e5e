// Command gatehouse is an OAuth 2.0 / OpenID Connect provider: run `gatehouse serve`
// to start it on an embedded SQLite database, or see `gatehouse --help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
