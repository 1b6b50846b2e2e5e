package main

import (
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/bench"
	"github.com/spf13/cobra"
)

// benchProxyCommand is `gatehouse bench proxy`: a TCP proxy that adds a round
// trip's latency, to put a local database at a managed database's distance.
func benchProxyCommand(e *env) *cobra.Command {
	var listen, target string
	var rtt time.Duration
	cmd := &cobra.Command{
		Use:   "proxy",
		Short: "Forward TCP to a database with added round-trip latency",
		Long: `Forward TCP connections from --listen to --target, delaying the bytes of each
direction by half of --rtt, in order, so that every round trip takes --rtt more.
Point DATABASE_URL at --listen to measure Gatehouse as if its PostgreSQL were
that far away (3ms: another zone of the same region; 50ms: another region).
For benchmarks only: it runs until interrupted.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if target == "" {
				return &exitError{code: 2, err: fmt.Errorf("--target is required (host:port of the database)")}
			}
			if rtt < 0 {
				return &exitError{code: 2, err: fmt.Errorf("--rtt: want a duration of zero or more such as 50ms, got %s", rtt)}
			}
			p, err := bench.NewLatencyProxy(listen, target, rtt, newLogger(config.Default(), e.stderr))
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			fmt.Fprintf(e.stdout, "forwarding %s to %s with %s added to every round trip\n", p.Addr(), target, rtt)
			return p.Serve(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:15432", "address to listen on")
	f.StringVar(&target, "target", "", "host:port to forward to, e.g. 127.0.0.1:5432")
	f.DurationVar(&rtt, "rtt", 50*time.Millisecond, "round-trip time to add")
	return cmd
}
