package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/spf13/cobra"
)

func migrateCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply, roll back or list database migrations",
		Long: `Apply, roll back or list the versioned SQL migrations embedded in this binary.
On PostgreSQL they run over DATABASE_DIRECT_URL when it is set (never through a
transaction-mode pooler) and hold an advisory lock, so several instances may run
"migrate up" at once and each migration is applied exactly once.`,
	}
	cmd.PersistentFlags().String("data-dir", config.Default().DataDir, "directory of the embedded SQLite database")
	open := func(cmd *cobra.Command) (*storage.Migrator, error) {
		c, err := e.loadConfig(cmd)
		if err != nil {
			return nil, err
		}
		if c.Embedded() {
			if err := ensureDir(c.DataDir); err != nil {
				return nil, err
			}
		}
		return storage.NewMigrator(migrationURL(c), c.Database.ConnectTimeout, newLogger(c, e.stderr))
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "up",
		Short: "Apply every pending migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := open(cmd)
			if err != nil {
				return err
			}
			defer m.Close()
			applied, err := m.Up(cmd.Context())
			for _, v := range applied {
				fmt.Fprintf(e.stdout, "applied %d\n", v)
			}
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(e.stdout, "nothing to apply: the schema is current")
			}
			return nil
		},
	}, &cobra.Command{
		Use:   "down",
		Short: "Roll back the newest applied migration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := open(cmd)
			if err != nil {
				return err
			}
			defer m.Close()
			v, err := m.Down(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "rolled back %d\n", v)
			return nil
		},
	}, &cobra.Command{
		Use:   "status",
		Short: "List applied and pending migrations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := open(cmd)
			if err != nil {
				return err
			}
			defer m.Close()
			st, err := m.Status(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tFILE")
			pending := 0
			for _, s := range st {
				state, at := "pending", "-"
				if s.Applied {
					state, at = "applied", s.AppliedAt.Format(time.RFC3339)
				} else {
					pending++
				}
				fmt.Fprintf(tw, "%05d\t%s\t%s\t%s\n", s.Version, state, at, s.Name)
			}
			tw.Flush()
			fmt.Fprintf(e.stdout, "%d applied, %d pending\n", len(st)-pending, pending)
			return nil
		},
	})
	return cmd
}
