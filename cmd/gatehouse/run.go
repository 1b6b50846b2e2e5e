package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/oauth"
	"github.com/gatehouse-id/gatehouse/internal/server"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// env carries what run was given, so subcommands read nothing global.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	// onStatement, when set, sees every statement the store sends (see
	// storage.Options.OnStatement): tests count what an idle serve sends.
	onStatement func(context.Context, storage.Statement)

	configPath string
}

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// run is the whole CLI. It returns the process exit code: 0 on success, 1 on a
// failure, 2 on bad usage or configuration.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return (&env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}).run(ctx, args)
}

// run runs the CLI with the environment e carries.
func (e *env) run(ctx context.Context, args []string) int {
	stdin, stdout, stderr := e.stdin, e.stdout, e.stderr
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Gatehouse is an OAuth 2.0 and OpenID Connect provider",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&e.configPath, "config", "", "YAML configuration file (see config/gatehouse.example.yaml)")
	root.AddCommand(
		serveCommand(e),
		migrateCommand(e),
		dbCommand(e),
		clientsCommand(e),
		usersCommand(e),
		importCommand(e),
		keysCommand(e),
		providersCommand(e),
		janitorCommand(e),
		benchCommand(e),
		versionCommand(e),
	)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "gatehouse:", err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if config.IsValidation(err) {
		return 2
	}
	return 1
}

// flagPaths maps flag names onto configuration keys.
var flagPaths = map[string]string{
	"addr":       "addr",
	"admin-addr": "admin.addr",
	"issuer":     "issuer",
	"data-dir":   "data_dir",
	"migrate":    "migrate",
	"log-level":  "log.level",
}

// loadConfig loads the configuration, with the flags of cmd that were set on the
// command line taking precedence.
func (e *env) loadConfig(cmd *cobra.Command) (config.Config, error) {
	flags := map[string]any{}
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if path, ok := flagPaths[f.Name]; ok {
			flags[path] = f.Value.String()
		}
	})
	c, err := config.Load(e.configPath, e.getenv, flags)
	if err != nil {
		return c, err
	}
	return c, nil
}

// databaseURL is the URL the server uses: the configured one, or the embedded
// SQLite file in the data directory.
func databaseURL(c config.Config) string {
	if c.Embedded() {
		return "sqlite:" + filepath.Join(c.DataDir, "gatehouse.db")
	}
	return c.Database.URL
}

// migrationURL is the URL migrations use (the direct one when set).
func migrationURL(c config.Config) string {
	if c.Embedded() {
		return databaseURL(c)
	}
	return c.MigrationURL()
}

func newLogger(c config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	// Every line logged while serving a request carries its request id.
	if c.Log.Format == "text" {
		return slog.New(server.LogHandler(slog.NewTextHandler(w, opts)))
	}
	return slog.New(server.LogHandler(slog.NewJSONHandler(w, opts)))
}

func buildVersion() string {
	v := version
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + info.GoVersion
	}
	return v
}

func versionCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(e.stdout, "gatehouse", buildVersion())
			return nil
		},
	}
}

// ensureDir creates the data directory with owner-only permissions.
func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", dir, err)
	}
	return nil
}

// openStore prepares the configured store (the embedded SQLite file by default),
// creating the data directory and the embedded default's system secret if needed.
// A generated secret is written back into c. It does not wait for the database;
// callers that serve use WaitReady.
func (e *env) openStore(c *config.Config, log *slog.Logger) (*storage.Store, error) {
	if c.Embedded() {
		if err := ensureDir(c.DataDir); err != nil {
			return nil, err
		}
		if len(c.Secrets.System) == 0 {
			secret, err := loadOrCreateSecret(filepath.Join(c.DataDir, "system.secret"))
			if err != nil {
				return nil, err
			}
			c.Secrets.System = []string{secret}
		}
	}
	return storage.Open(storage.Options{
		URL: databaseURL(*c), Pooler: storage.PoolerMode(c.Database.Pooler),
		MaxOpenConns: c.Database.MaxOpenConns, MaxIdleConns: c.Database.IdleConns(),
		ConnMaxIdleTime: c.Database.ConnMaxIdleTime, ConnMaxLifetime: c.Database.ConnMaxLifetime,
		ConnectTimeout: c.Database.ConnectTimeout, StatementTimeout: c.Database.StatementTimeout, WaitTimeout: c.Database.WaitTimeout,
		Secrets: c.Secrets.System, Logger: log,
		RefreshTokenGracePeriod: c.OAuth.RefreshTokenGracePeriod,
		NewSession:              oauth.SessionFactory(),
		// Without a direct URL, storage listens on the database URL when it is
		// not pooled.
		ClientCacheTTL: c.Database.ClientCacheTTL, ListenURL: c.Database.DirectURL,
		OnStatement: e.onStatement,
	})
}

// openReadyStore opens the store for a one-shot command (clients, users, keys…):
// it waits for the database and refuses a schema with pending migrations.
func (e *env) openReadyStore(cmd *cobra.Command) (*storage.Store, config.Config, error) {
	c, err := e.loadConfig(cmd)
	if err != nil {
		return nil, c, err
	}
	if err := c.ValidateServe(); err != nil {
		return nil, c, err
	}
	log := newLogger(c, e.stderr)
	store, err := e.openStore(&c, log)
	if err != nil {
		return nil, c, err
	}
	ctx := cmd.Context()
	if err := store.WaitReady(ctx, c.Database.ConnectRetry); err != nil {
		store.Close()
		x := storage.ExplainError(err)
		return nil, c, fmt.Errorf("database unreachable: %s\n  fix: %s", x.Cause, x.Fix)
	}
	if c.Embedded() {
		m, err := store.Migrator()
		if err == nil {
			_, err = m.Up(ctx)
		}
		if err != nil {
			store.Close()
			return nil, c, err
		}
	} else if pending, err := store.PendingMigrations(ctx); err != nil || len(pending) > 0 {
		store.Close()
		if err != nil {
			return nil, c, err
		}
		return nil, c, fmt.Errorf("%d migration(s) pending (%v): run `gatehouse migrate up` first", len(pending), pending)
	}
	return store, c, nil
}
