package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/authapi"
	"github.com/gatehouse-id/gatehouse/internal/clientip"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/metrics"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/internal/outbound"
	"github.com/gatehouse-id/gatehouse/internal/server"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/spf13/cobra"
)

func serveCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the provider",
		Long: `Run the provider. With no database configured it uses an embedded SQLite
file in the data directory and applies migrations itself. With DATABASE_URL set it
refuses to start while migrations are pending, unless --migrate is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.loadConfig(cmd)
			if err != nil {
				return err
			}
			if err := c.ValidateServe(); err != nil {
				return err
			}
			if path, _ := cmd.Flags().GetString("cpu-profile"); path != "" {
				stop, err := startCPUProfile(path)
				if err != nil {
					return err
				}
				defer stop()
			}
			return serve(cmd.Context(), e, c)
		},
	}
	d := config.Default()
	f := cmd.Flags()
	f.String("addr", d.Addr, "listen address of the public server")
	f.String("admin-addr", d.Admin.Addr, `listen address of the admin API, /metrics and /openapi.json; "" turns it off`)
	f.String("issuer", d.Issuer, "public URL of this provider, as clients see it")
	f.String("data-dir", d.DataDir, "directory of the embedded SQLite database and generated secrets")
	f.Bool("migrate", false, "apply pending migrations before serving")
	f.String("log-level", d.Log.Level, "debug, info, warn or error")
	f.String("cpu-profile", "", "write a CPU profile (go tool pprof) of the whole run to this file, for benchmarks")
	return cmd
}

// startCPUProfile profiles the process's CPU into a new file at path until the
// returned function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpu-profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// serve runs the HTTP server until ctx ends, then shuts down in order: /readyz
// turns 503 and keep-alives end at once, the listeners close after
// shutdown_drain (a load balancer stops sending first), in-flight requests get
// shutdown_grace, the background workers are stopped and joined, and only then
// is the store closed.
func serve(ctx context.Context, e *env, c config.Config) error {
	log := newLogger(c, e.stderr)
	proxies, err := clientip.ParseTrusted(c.Server.TrustedProxies)
	if err != nil {
		return fmt.Errorf("server.trusted_proxies: %w", err)
	}
	defer setMemoryLimit(e.getenv, c, log)()
	// Before the database: a broken message file stops serve at once.
	cat, err := loadCatalogue(c, log)
	if err != nil {
		return err
	}
	store, err := e.openStore(&c, log)
	if err != nil {
		return err
	}
	defer func() {
		store.Close()
		log.Debug("database closed")
	}()
	// Deferred after store.Close, so it runs before it on every return: no
	// worker uses a closed store.
	bg := newWorkers(log)
	defer bg.stop()

	// Listen before the database answers: /healthz says the process lives and
	// /readyz says what it waits for.
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", c.Addr, err)
	}
	km := keys.New(store, keys.Options{RefreshInterval: c.Keys.RefreshInterval, MaxTokenLifetime: oauthConfig(c).MaxTokenLifetime(), Log: log, Extra: extraKeyAlgs(c)})
	// One registry for the process: the public server records into it and the
	// admin listener serves it at /metrics.
	mtr := metrics.New(metrics.Options{Store: store, Version: buildVersion(), Log: log})
	if c.Outbound.AllowLoopback {
		log.Warn("outbound.allow_loopback is on: client jwks_uri fetches may reach loopback addresses over plain http; for development only")
	}
	fetch := outbound.New(outbound.Options{AllowLoopback: c.Outbound.AllowLoopback})
	ppl, err := newPeople(c, store, log, mtr, cat, fetch)
	if err != nil {
		ln.Close()
		return err
	}
	ocfg := oauthConfig(c)
	ocfg.UILocales = cat.Tags()
	oh, err := oauth.New(ocfg, oauth.Deps{Store: store, Keys: km, Interaction: ppl.pages, ErrorPage: ppl.pages.ErrorPage, Metrics: mtr, Log: log, Outbound: fetch})
	if err != nil {
		ln.Close()
		return err
	}
	deps := authapi.Deps{
		Identity: ppl.identity, Sessions: ppl.sessions, Keys: km, Issuer: c.Issuer,
		TrustedOrigins: c.API.TrustedOrigins, RequireEmailVerification: c.API.RequireEmailVerification,
		TokenLifetime: c.API.TokenLifetime, Templates: ppl.templates, Catalogue: cat, Metrics: mtr, Log: log,
		Federation: ppl.federation,
	}
	if ppl.mfa != nil {
		deps.MFA = ppl.mfa
	}
	if ppl.passkeys != nil {
		deps.Passkeys = ppl.passkeys
	}
	api, err := authapi.New(deps)
	if err != nil {
		ln.Close()
		return err
	}
	var keysLoaded, draining atomic.Bool
	handler := server.NewServer(server.Deps{
		Log:     log,
		HTTPS:   strings.HasPrefix(c.Issuer, "https://"),
		OAuth:   oh,
		Pages:   ppl.pages,
		AuthAPI: api,
		Metrics: mtr,
		// The client address every per-client rule uses (throttling, sessions,
		// mail rationing) comes from these proxies' headers, or is the peer.
		TrustedProxies: proxies,
		Ready: func(ctx context.Context) (bool, map[string]string) {
			// Shutting down: out of rotation, whatever the database says (and
			// without asking it).
			if draining.Load() {
				return false, map[string]string{"shutdown": "shutting down: finishing in-flight requests"}
			}
			r := store.CheckReady(ctx)
			if keysLoaded.Load() {
				r.Checks["keys"] = "ok"
			} else {
				r.Ready = false
				r.Checks["keys"] = "signing keys not loaded yet"
			}
			return r.Ready, r.Checks
		},
	})
	srv := newHTTPServer(handler, log)
	serveErr := make(chan error, 2) // one per listener
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "issuer", c.Issuer, "database", storage.Describe(databaseURL(c)), "dialect", string(store.Dialect()), "pooled", store.Pooled())
	if w := issuerWarning(c.Issuer, ln.Addr()); w != "" {
		log.Warn("issuer does not point at this server", "issuer", c.Issuer, "addr", ln.Addr().String(), "fix", w)
	}
	adminSrv, err := startAdmin(c, log, adminDeps{
		store: store, users: ppl.identity, keys: km, branding: ppl.branding, mfa: ppl.mfa, federation: ppl.federation,
		metrics: mtr.Handler(),
	}, serveErr)
	if err != nil {
		shutdown(srv, log, 0)
		return err
	}

	if err := prepareDatabase(ctx, log, c, store); err != nil {
		shutdownAll(log, 0, srv, adminSrv)
		return err
	}
	if ctx.Err() == nil {
		if err := km.EnsureKeys(ctx); err != nil {
			shutdownAll(log, 0, srv, adminSrv)
			return fmt.Errorf("signing keys: %w", err)
		}
		keysLoaded.Store(true)
		// The workers outlive ctx: they stop after the last request is done,
		// which may still queue mail or use keys.
		bg.start("signing key refresher", km.Run)
		bg.start("mail outbox", ppl.outbox.Run)
		if c.Janitor.Interval > 0 {
			seen := store.Activity()
			bg.start("janitor", func(ctx context.Context) { runJanitor(ctx, log, store, km, c.Janitor, seen) })
		}
		log.Info("ready", "addr", ln.Addr().String())
	}

	select {
	case err := <-serveErr:
		shutdownAll(log, 0, srv, adminSrv)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "drain", c.ShutdownDrain.String(), "grace", c.ShutdownGrace.String())
	draining.Store(true)
	// Tell clients to go elsewhere: every response now closes its connection,
	// and idle keep-alive connections are closed.
	srv.SetKeepAlivesEnabled(false)
	if keysLoaded.Load() && c.ShutdownDrain > 0 {
		drain := time.NewTimer(c.ShutdownDrain)
		select {
		case <-drain.C:
		case err := <-serveErr:
			drain.Stop()
			log.Warn("listener failed while draining", "error", err.Error())
		}
	}
	err = shutdownAll(log, c.ShutdownGrace, srv, adminSrv)
	bg.stop()
	if err != nil {
		return &exitError{code: 1, err: err}
	}
	log.Info("stopped")
	return nil
}

// setMemoryLimit gives the Go runtime c.MemoryLimit as its soft memory limit,
// unless it is 0 or GOMEMLIMIT is set (the runtime has applied that already).
// Without one the collector lets the heap grow to twice what was live at the
// last collection: under first sign-ins, with two 19 MiB argon2id hashes live,
// the RSS peaked at 147 MB against 109 MB with the default 80MiB. It returns a
// func that puts the previous limit back, for tests that run serve more than
// once in a process.
func setMemoryLimit(getenv func(string) string, c config.Config, log *slog.Logger) (restore func()) {
	if c.MemoryLimit == 0 || getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	prev := debug.SetMemoryLimit(int64(c.MemoryLimit))
	log.Debug("soft memory limit set", "memory_limit", c.MemoryLimit.String())
	return func() { debug.SetMemoryLimit(prev) }
}

// prepareDatabase waits for the database within the configured bound and makes sure
// the schema is current, applying migrations when allowed.
func prepareDatabase(ctx context.Context, log *slog.Logger, c config.Config, store *storage.Store) error {
	if err := store.WaitReady(ctx, c.Database.ConnectRetry); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		x := storage.ExplainError(err)
		return fmt.Errorf("database unreachable: %s\n  fix: %s", x.Cause, x.Fix)
	}
	pending, err := store.PendingMigrations(ctx)
	if err != nil {
		return fmt.Errorf("read migration state: %w", err)
	}
	if len(pending) == 0 {
		return nil
	}
	if !c.Embedded() && !c.Migrate {
		return &exitError{code: 1, err: fmt.Errorf("%d migration(s) pending (%v): run `gatehouse migrate up` first, or start with --migrate", len(pending), pending)}
	}
	var m *storage.Migrator
	if c.Embedded() {
		m, err = store.Migrator()
	} else {
		m, err = storage.NewMigrator(migrationURL(c), c.Database.ConnectTimeout, log)
	}
	if err != nil {
		return err
	}
	defer m.Close()
	applied, err := m.Up(ctx)
	if err != nil {
		return err
	}
	log.Info("migrations applied", "versions", applied)
	return nil
}

func shutdown(srv *http.Server, log *slog.Logger, grace time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			log.Warn("grace time over, closing remaining connections")
			srv.Close()
			return nil
		}
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// loadOrCreateSecret reads the system secret of the embedded default from path, or
// creates one. A developer's first start needs no configuration; an operator of a
// real deployment sets GATEHOUSE_SECRETS_SYSTEM instead.
func loadOrCreateSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < 32 {
			return "", fmt.Errorf("system secret in %s is shorter than 32 characters", path)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read system secret: %w", err)
	}
	var raw [32]byte
	rand.Read(raw[:])
	s := hex.EncodeToString(raw[:])
	if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write system secret: %w", err)
	}
	return s, nil
}

// oauthConfig maps the configuration onto the protocol layer's.
func oauthConfig(c config.Config) oauth.Config {
	return oauth.Config{
		Issuer:                c.Issuer,
		Secrets:               c.Secrets.System,
		AccessTokenLifespan:   c.OAuth.AccessTokenLifespan,
		RefreshTokenLifespan:  c.OAuth.RefreshTokenLifespan,
		IDTokenLifespan:       c.OAuth.IDTokenLifespan,
		AuthorizeCodeLifespan: c.OAuth.AuthorizeCodeLifespan,
		PARLifespan:           c.OAuth.PARLifespan,
		EnforcePKCE:           c.OAuth.EnforcePKCE,
		JWTAccessTokens:       c.OAuth.JWTAccessTokens,
		JWTAccessTokenAlg:     c.OAuth.JWTAccessTokenAlg,
		DynamicRegistration:   c.OAuth.DynamicRegistration,
		RegistrationTokens:    c.OAuth.RegistrationTokens,
		DefaultAudience:       c.OAuth.DefaultAudience,
		RegistrableScopes:     c.OAuth.RegistrableScopes,
		MFAPolicy:             c.MFA.Policy,
	}
}

// newHTTPServer bounds how long a client may take, for both listeners.
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// issuerWarning returns how to fix an issuer that is a loopback URL this server
// does not serve (say, `serve --addr 127.0.0.1:9000` keeping the default
// http://localhost:8080, which discovery would then advertise), or "" when the
// issuer points here or is not a loopback URL: a public issuer is mapped onto
// the listener by a proxy, whatever its port.
func issuerWarning(issuer string, bound net.Addr) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return ""
	}
	addr, ok := bound.(*net.TCPAddr)
	if !ok {
		return ""
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	served := port == strconv.Itoa(addr.Port)
	switch {
	case addr.IP.IsUnspecified():
		// Every address of the host, loopback included.
	case addr.IP.IsLoopback():
		served = served && (ip == nil || ip.Equal(addr.IP))
	default:
		served = false
	}
	if served {
		return ""
	}
	want := "localhost"
	if addr.IP.IsLoopback() {
		want = addr.IP.String()
	}
	return fmt.Sprintf("clients are sent to %s, which this server (listening on %s) does not serve: set --issuer (GATEHOUSE_ISSUER) to %s://%s, or put the public URL there",
		issuer, addr.String(), u.Scheme, net.JoinHostPort(want, strconv.Itoa(addr.Port)))
}
