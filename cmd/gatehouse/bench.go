package main

import (
	"encoding/json"
	"fmt"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/bench"
	"github.com/spf13/cobra"
)

func benchCommand(e *env) *cobra.Command {
	var (
		o         bench.Options
		scenarios []string
		output    string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a Gatehouse deployment",
		Long: `Load-test a Gatehouse deployment, one scenario after another:
  client-credentials, client-credentials-jwt, introspection, discovery,
  authorization-code (a signed-in user with a first-party client: authorize,
  code, token, userinfo), first-sign-in (argon2id), api-sign-in (a first
  sign-in by POST /api/auth/sign-in/email) and get-session (GET
  /api/auth/get-session with a signed-in cookie).
The run creates its own client and user through the admin API (--admin-url,
--admin-token or GATEHOUSE_ADMIN_TOKEN) and deletes them afterwards. Give --pid
of the server process on this machine to measure its CPU time and peak memory.
Send load only to deployments you own.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.AdminToken == "" {
				o.AdminToken = e.getenv("GATEHOUSE_ADMIN_TOKEN")
			}
			if o.URL == "" {
				return &exitError{code: 2, err: fmt.Errorf("--url is required (the issuer URL of the deployment)")}
			}
			if output != "table" && output != "json" {
				return &exitError{code: 2, err: fmt.Errorf("-o: want table or json, got %q", output)}
			}
			if e.getenv("GOGC") == "" {
				// The load tool usually shares the machine with the server it
				// measures: collecting garbage less often leaves more CPU to it.
				// Put back afterwards, for a server in the same process (tests).
				defer debug.SetGCPercent(debug.SetGCPercent(400))
			}
			if len(scenarios) == 1 && scenarios[0] == "all" {
				scenarios = bench.Scenarios()
			}
			var results []bench.Result
			for _, s := range scenarios {
				r, err := bench.Run(cmd.Context(), s, o)
				if err != nil {
					return fmt.Errorf("bench %s: %w", s, err)
				}
				results = append(results, r)
			}
			if output == "json" {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(results)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "scenario\tconc\trequests\terrors\tunfinished\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tcpu ms/req\tpeak RSS MB\tsince start MB\t")
			for _, r := range results {
				var failed int64
				var kinds []string
				for k, n := range r.Errors {
					failed += n
					kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%.3f\t%.1f\t%.1f\t\n", r.Scenario, r.Concurrency, r.Requests, failed, r.Unfinished,
					r.PerSecond, r.P50, r.P90, r.P99, r.Max, r.ServerCPUPerRequest, float64(r.PeakRSSBytes)/(1<<20), float64(r.LifetimePeakRSSBytes)/(1<<20))
				if len(kinds) > 0 {
					fmt.Fprintf(e.stderr, "%s errors: %s\n", r.Scenario, strings.Join(kinds, ", "))
				}
				if r.Requests == 0 {
					fmt.Fprintf(e.stderr, "%s: no operation completed in %.1fs; %d were still waiting for an answer when the run ended\n", r.Scenario, r.Seconds, r.Unfinished)
				}
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(seedCommand(e))
	f := cmd.Flags()
	f.StringVar(&o.URL, "url", "", "issuer URL of the deployment, e.g. http://127.0.0.1:8080")
	f.StringVar(&o.AdminURL, "admin-url", "http://127.0.0.1:8081", "admin API base URL")
	f.StringVar(&o.AdminToken, "admin-token", "", "admin API token (default $GATEHOUSE_ADMIN_TOKEN)")
	f.StringSliceVar(&scenarios, "scenario", []string{"all"}, "scenarios to run (repeatable or comma-separated), or all")
	f.IntVar(&o.Concurrency, "concurrency", 32, "concurrent workers")
	f.DurationVar(&o.Duration, "duration", 10*time.Second, "measured time per scenario")
	f.DurationVar(&o.Warmup, "warmup", 2*time.Second, "unmeasured time before it")
	f.IntVar(&o.PID, "pid", 0, "process id of the server on this machine, to measure its CPU and memory")
	f.StringVar(&o.IDTokenAlg, "id-token-alg", "", "ID token algorithm of the authorization-code client: RS256 or ES256 (default: the server's)")
	f.StringVarP(&output, "output", "o", "table", "table or json")
	cmd.AddCommand(benchProxyCommand(e))
	return cmd
}
