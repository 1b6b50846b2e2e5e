package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/spf13/cobra"
)

func dbCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Inspect the database connection"}
	check := &cobra.Command{
		Use:   "check",
		Short: "Connect with the configured URL(s) and explain what works and what does not",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := e.loadConfig(cmd)
			if err != nil {
				return err
			}
			targets := []struct{ label, url string }{{"database", databaseURL(c)}}
			if c.Database.DirectURL != "" {
				targets = append(targets, struct{ label, url string }{"direct (migrations)", c.Database.DirectURL})
			}
			failed := 0
			for _, t := range targets {
				if !checkOne(cmd.Context(), e.stdout, c, t.label, t.url) {
					failed++
				}
			}
			if failed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("db check: %d of %d connection(s) failed", failed, len(targets))}
			}
			return nil
		},
	}
	check.Flags().String("data-dir", config.Default().DataDir, "directory of the embedded SQLite database")
	cmd.AddCommand(check)
	return cmd
}

// checkOne diagnoses one URL, prints the findings, and reports whether it worked.
func checkOne(ctx context.Context, w io.Writer, c config.Config, label, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, c.Database.ConnectTimeout+5*time.Second)
	defer cancel()
	d, err := storage.Diagnose(ctx, storage.Options{
		URL: url, Pooler: storage.PoolerMode(c.Database.Pooler), ConnectTimeout: c.Database.ConnectTimeout,
		MaxOpenConns: 1, MaxIdleConns: 1,
	})
	fmt.Fprintf(w, "%s: %s\n", label, d.URL)
	row := func(k, v string) { fmt.Fprintf(w, "  %-16s %s\n", k+":", v) }
	if d.Host != "" {
		row("host", d.Host)
	}
	if d.Database != "" {
		row("database", d.Database)
	}
	if d.User != "" {
		row("user", d.User)
	}
	if d.Dialect == storage.Postgres {
		mode := "direct"
		if d.Pooled || (c.Database.Pooler == "auto" && storage.IsPoolerHost(strings.Split(d.Host, ":")[0])) {
			mode = "pooled (transaction mode: exec query mode, no prepared statements)"
		}
		row("connection", mode)
		row("sslmode", d.SSLMode)
	}
	if err != nil {
		x := storage.ExplainError(err)
		row("status", "FAILED")
		row("cause", x.Cause)
		row("fix", x.Fix)
		for _, warn := range d.Warnings {
			row("warning", warn)
		}
		return false
	}
	if d.Dialect == storage.Postgres {
		tls := "off"
		if d.TLS {
			tls = "on (" + d.TLSVersion + ")"
		}
		row("tls", tls)
	}
	row("server", d.ServerVersion)
	row("round trip", d.RoundTrip.Round(10*time.Microsecond).String())
	row("migrations", fmt.Sprintf("%d applied, %d pending %v", len(d.Applied), len(d.Pending), d.Pending))
	for _, warn := range d.Warnings {
		row("warning", warn)
	}
	row("status", "OK")
	return true
}
