package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/admin"
	"github.com/gatehouse-id/gatehouse/internal/branding"
	"github.com/gatehouse-id/gatehouse/internal/clients"
	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
)

// adminDeps are the services the admin API shares with the CLI subcommands.
type adminDeps struct {
	store    *storage.Store
	users    *identity.Service
	keys     *keys.Manager
	branding *branding.Service
	mfa      *mfa.Service
	metrics  http.Handler // nil: no /metrics route
	// federation serves /admin/providers; nil answers those routes 503.
	federation *federation.Service
}

// startAdmin starts the admin listener (admin.addr) in the background and returns
// its server, or nil when admin.addr is empty. A failure of Serve is sent on
// serveErr. It logs {"msg":"admin listening","addr":…} with the bound address.
func startAdmin(c config.Config, log *slog.Logger, d adminDeps, serveErr chan<- error) (*http.Server, error) {
	if c.Admin.Addr == "" {
		log.Info("admin listener off", "reason", "admin.addr is empty")
		return nil, nil
	}
	ln, err := net.Listen("tcp", c.Admin.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on admin.addr %s: %w", c.Admin.Addr, err)
	}
	api := admin.New(admin.Deps{
		Clients:    clients.New(d.store, d.store.Sealer(), time.Now, clientRules(c)),
		Users:      d.users,
		Keys:       d.keys,
		Branding:   d.branding,
		MFA:        d.mfa,
		Federation: d.federation,
		Tokens:     c.Admin.Tokens,
		Metrics:    d.metrics,
		Log:        log,
	})
	srv := newHTTPServer(api, log)
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- fmt.Errorf("admin listener: %w", err)
		}
	}()
	log.Info("admin listening", "addr", ln.Addr().String(), "admin_tokens", len(c.Admin.Tokens))
	if len(c.Admin.Tokens) == 0 {
		log.Warn("no admin token configured: the admin API answers 503 until admin.tokens (GATEHOUSE_ADMIN_TOKENS) is set")
	}
	return srv, nil
}

// shutdownAll drains every server (nil ones skipped) at once, within grace.
func shutdownAll(log *slog.Logger, grace time.Duration, servers ...*http.Server) error {
	var wg sync.WaitGroup
	errs := make([]error, len(servers))
	for i, srv := range servers {
		if srv == nil {
			continue
		}
		wg.Go(func() { errs[i] = shutdown(srv, log, grace) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
