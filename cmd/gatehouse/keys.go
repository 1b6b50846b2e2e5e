package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/spf13/cobra"
)

func keysCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "List and rotate the keys that sign ID tokens and JWT access tokens",
		Long: `List and rotate the token signing keys. Gatehouse keeps one active RS256 and one
active ES256 key (and one EdDSA key when oauth.jwt_access_token_alg is EdDSA),
created on first start and stored encrypted with the system secret.
Rotation publishes a new key at once and makes it sign one key refresh interval
(keys.refresh_interval, 10m) later, when every running server serves it in its
JWKS; the old key signs until then and stays in the JWKS until every token it
signed has expired. On PostgreSQL running servers pick up a rotation at once
through NOTIFY, and otherwise within their refresh interval, without a restart.`,
	}
	cmd.PersistentFlags().String("data-dir", config.Default().DataDir, "directory of the embedded SQLite database and generated secrets")
	cmd.PersistentFlags().StringP("output", "o", "table", "output format: table or json")

	list := &cobra.Command{
		Use:   "list",
		Short: "List signing keys, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			output, err := keysOutputFormat(cmd)
			if err != nil {
				return err
			}
			store, c, err := e.openReadyStore(cmd)
			if err != nil {
				return err
			}
			defer store.Close()
			m := keys.New(store, keys.Options{RefreshInterval: c.Keys.RefreshInterval, Log: newLogger(c, e.stderr)})
			infos, err := m.List(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return writeKeysJSON(e.stdout, infos)
			}
			return writeKeyTable(e.stdout, infos)
		},
	}

	var alg string
	var maxTokenLifetime time.Duration
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Make a new signing key and retire the old one",
		Long: `Make a new signing key for each chosen algorithm and retire the previous one. The
new key is published in the JWKS at once and starts signing one key refresh
interval (keys.refresh_interval, 10m) later, so that no server signs with a key
another server's JWKS lacks; the old key signs until then. It stays published for
--max-token-lifetime (the longest lifetime of any ID token or JWT access token you
issue; default 24h) plus one refresh interval after that, so that every token it
signed can still be verified; set the flag to your longest token lifetime if it is
longer. Retired keys whose time has passed are deleted. Use the refresh interval
the servers use.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			output, err := keysOutputFormat(cmd)
			if err != nil {
				return err
			}
			// A wrong --alg is refused before the database is opened.
			if !strings.EqualFold(alg, "all") && !slices.ContainsFunc(keys.Supported(), func(a string) bool { return strings.EqualFold(a, alg) }) {
				return algFlagError(alg)
			}
			if maxTokenLifetime <= 0 {
				return &exitError{code: 2, err: fmt.Errorf("--max-token-lifetime: want a positive duration such as 24h, got %s", maxTokenLifetime)}
			}
			store, c, err := e.openReadyStore(cmd)
			if err != nil {
				return err
			}
			defer store.Close()
			m := keys.New(store, keys.Options{RefreshInterval: c.Keys.RefreshInterval, MaxTokenLifetime: maxTokenLifetime, Log: newLogger(c, e.stderr), Extra: extraKeyAlgs(c)})
			algs, err := keysToRotate(m, alg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			rotated, err := m.RotateEach(ctx, algs)
			if err != nil {
				return err
			}
			if output == "json" {
				return writeKeysJSON(e.stdout, rotated)
			}
			for _, info := range rotated {
				fmt.Fprintf(e.stdout, "rotated %s: new key %s, published now, signs from %s\n", info.Alg, info.KID, info.ActivatedAt.UTC().Format(time.RFC3339))
			}
			infos, err := m.List(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout)
			return writeKeyTable(e.stdout, infos)
		},
	}
	rotate.Flags().StringVar(&alg, "alg", "all", "algorithm to rotate: RS256, ES256, EdDSA or all (RS256, ES256 and, when oauth.jwt_access_token_alg is EdDSA, EdDSA)")
	rotate.Flags().DurationVar(&maxTokenLifetime, "max-token-lifetime", 24*time.Hour, "longest lifetime of a token signed by the old key; it stays published this long (plus one refresh interval) after it stops signing")

	cmd.AddCommand(list, rotate)
	return cmd
}

// keysOutputFormat returns the -o value, refusing anything but table and json.
func keysOutputFormat(cmd *cobra.Command) (string, error) {
	o, err := cmd.Flags().GetString("output")
	if err != nil {
		return "", err
	}
	switch o {
	case "table", "json":
		return o, nil
	}
	return "", &exitError{code: 2, err: fmt.Errorf("-o/--output: want table or json, got %q", o)}
}

// keysToRotate turns --alg into the algorithms to rotate.
func keysToRotate(m *keys.Manager, alg string) ([]string, error) {
	algs, err := m.ParseAlgs(alg)
	if err != nil {
		return nil, algFlagError(alg)
	}
	return algs, nil
}

func algFlagError(alg string) error {
	return &exitError{code: 2, err: fmt.Errorf("--alg: want %s or all, got %q", strings.Join(keys.Supported(), ", "), alg)}
}

// extraKeyAlgs names the algorithms beyond RS256 and ES256 that c needs a key
// for: EdDSA when it signs JWT access tokens.
func extraKeyAlgs(c config.Config) []string {
	if c.OAuth.JWTAccessTokenAlg == keys.EdDSA {
		return []string{keys.EdDSA}
	}
	return nil
}

func writeKeysJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeKeyTable(w io.Writer, infos []keys.Info) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tSIGNS\tCREATED\tPUBLISHED UNTIL")
	for _, k := range infos {
		until := "-"
		if k.PublishUntil != nil {
			until = k.PublishUntil.UTC().Format(time.RFC3339)
			if !k.Published {
				until += " (unpublished)"
			}
		}
		signs := "no"
		switch {
		case k.Signing:
			signs = "yes"
		case k.State == "active":
			signs = "from " + k.ActivatedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.KID, k.Alg, k.State, signs, k.CreatedAt.UTC().Format(time.RFC3339), until)
	}
	return tw.Flush()
}
