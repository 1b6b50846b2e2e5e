package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gatehouse-id/gatehouse/config"
	"github.com/gatehouse-id/gatehouse/internal/federation"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/outbound"
)

func providersCommand(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "providers",
		Short: "List, add and remove upstream identity providers (Continue with Google, …)",
		Long: `List, add and remove the upstream identity providers people sign in with, as the
admin API's /admin/providers does. The configuration file's providers
(federation.providers) are listed too but change only there. A provider added
here is stored with its client secret sealed with the system secret; running
servers offer it at once on PostgreSQL (NOTIFY), otherwise within
database.client_cache_ttl. Removing a provider keeps its users' linked
identities: they sign in through it again once a provider with the same id is
added.`,
	}
	cmd.PersistentFlags().String("data-dir", config.Default().DataDir, "directory of the embedded SQLite database")
	cmd.PersistentFlags().StringP("output", "o", "table", "output format: table or json")
	cmd.AddCommand(providersListCommand(e), providersAddCommand(e), providersRemoveCommand(e))
	return cmd
}

// providerService opens the store and builds the federation service over it,
// and returns a function that closes the store.
func (e *env) providerService(cmd *cobra.Command) (*federation.Service, func(), error) {
	store, c, err := e.openReadyStore(cmd)
	if err != nil {
		return nil, nil, err
	}
	log := newLogger(c, e.stderr)
	ids := identity.New(store, identity.Options{Params: passwordParams(c), BaseURL: c.Issuer, Log: log})
	fed, err := federationService(c, store, ids, outbound.New(outbound.Options{AllowLoopback: c.Outbound.AllowLoopback}), log)
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return fed, func() { fed.Close(); store.Close() }, nil
}

// providerError gives input the federation rules refuse the usage exit code.
func providerError(err error) error {
	var ve *federation.ValidationError
	if errors.As(err, &ve) || errors.Is(err, federation.ErrConfigured) {
		return &exitError{code: 2, err: err}
	}
	return err
}

func providersListCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the providers: the configuration file's, then those added",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			output, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			fed, done, err := e.providerService(cmd)
			if err != nil {
				return err
			}
			defer done()
			list, err := fed.ListProviders(cmd.Context())
			if err != nil {
				return err
			}
			if output == "json" {
				return writeKeysJSON(e.stdout, list)
			}
			return writeProviderTable(e.stdout, list)
		},
	}
}

func providersAddCommand(e *env) *cobra.Command {
	var spec federation.ProviderSpec
	var secretStdin bool
	var claims []string
	cmd := &cobra.Command{
		Use:   "add --id ID --client-id ID --client-secret-stdin [--kind KIND] [--provider-issuer URL]",
		Short: "Add a provider, its client secret read from standard input",
		Example: `  printf '%s\n' "$SECRET" | gatehouse providers add --id corp --provider-issuer https://login.corp.example \
      --client-id gatehouse --client-secret-stdin --name "Corp SSO" --allowed-domain corp.example
  printf '%s\n' "$SECRET" | gatehouse providers add --id google --kind google --client-id 1234.apps.googleusercontent.com --client-secret-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			output, err := outputFormat(cmd)
			if err != nil {
				return err
			}
			if !secretStdin {
				return &exitError{code: 2, err: errors.New("--client-secret-stdin is required: the secret is read from standard input, never from a flag")}
			}
			for _, c := range claims {
				name, claim, ok := strings.Cut(c, "=")
				if !ok || claim == "" {
					return &exitError{code: 2, err: fmt.Errorf("--claim: want NAME=CLAIM such as email=mail, got %q", c)}
				}
				switch name {
				case "sub":
					spec.Claims.Subject = claim
				case "email":
					spec.Claims.Email = claim
				case "email_verified":
					spec.Claims.EmailVerified = claim
				case "name":
					spec.Claims.Name = claim
				case "picture":
					spec.Claims.Picture = claim
				default:
					return &exitError{code: 2, err: fmt.Errorf("--claim: want sub, email, email_verified, name or picture before =, got %q", name)}
				}
			}
			secret, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return &exitError{code: 2, err: errors.New("--client-secret-stdin: standard input held no secret")}
			}
			spec.ClientSecret = secret
			fed, done, err := e.providerService(cmd)
			if err != nil {
				return err
			}
			defer done()
			v, err := fed.AddProvider(cmd.Context(), spec)
			if err != nil {
				return providerError(err)
			}
			if output == "json" {
				return writeKeysJSON(e.stdout, v)
			}
			fmt.Fprintf(e.stdout, "added provider %s; register this redirect URI at the provider: %s\n", v.ID, v.CallbackURL)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.ID, "id", "", "the provider's id in URLs and stored links (a-z, 0-9, - and _)")
	f.StringVar(&spec.Kind, "kind", "", "oidc (default), google, microsoft, gitlab or github")
	f.StringVar(&spec.Name, "name", "", "the button's text (default: the kind's name or the id)")
	f.StringVar(&spec.Style, "style", "", "the button's look: dark or light (default: like the other buttons)")
	f.StringVar(&spec.LogoURL, "logo-url", "", "an icon on the button: a path on this server such as /static/corp.svg")
	// Not --issuer: that flag names this server's issuer everywhere else.
	f.StringVar(&spec.Issuer, "provider-issuer", "", "the provider's OpenID Connect issuer (oidc; gitlab when self-hosted; google and microsoft: replaces theirs)")
	f.StringVar(&spec.Tenant, "tenant", "", "microsoft: common (default), organizations, consumers or a tenant id")
	f.StringVar(&spec.ClientID, "client-id", "", "Gatehouse's client id at the provider")
	f.BoolVar(&secretStdin, "client-secret-stdin", false, "read Gatehouse's client secret at the provider from the first line of standard input")
	f.StringSliceVar(&spec.Scopes, "scope", nil, "scope to ask for, replacing the kind's default (repeatable or comma-separated)")
	f.StringArrayVar(&claims, "claim", nil, "NAME=CLAIM: the provider's claim for sub, email, email_verified, name or picture (repeatable)")
	f.StringSliceVar(&spec.AllowedDomains, "allowed-domain", nil, "admit only addresses at this domain (repeatable or comma-separated)")
	f.BoolVar(&spec.LinkOnly, "link-only", false, "never create accounts: only users who linked the provider sign in with it")
	f.BoolVar(&spec.TrustMFA, "trust-mfa", false, "count the provider's own multi-factor sign-in as mfa")
	f.BoolVar(&spec.StoreTokens, "store-tokens", false, "keep the provider's access and refresh tokens, sealed")
	f.StringVar(&spec.AuthURL, "auth-url", "", "github: the authorization endpoint of a GitHub Enterprise Server")
	f.StringVar(&spec.TokenURL, "token-url", "", "github: the token endpoint of a GitHub Enterprise Server")
	f.StringVar(&spec.APIURL, "api-url", "", "github: the API of a GitHub Enterprise Server")
	return cmd
}

func providersRemoveCommand(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a provider added through the admin API or this command; its users' identities stay",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fed, done, err := e.providerService(cmd)
			if err != nil {
				return err
			}
			defer done()
			if err := fed.RemoveProvider(cmd.Context(), args[0]); err != nil {
				return providerError(err)
			}
			fmt.Fprintf(e.stdout, "removed provider %s; its users' linked identities stay\n", args[0])
			return nil
		},
	}
}

func writeProviderTable(w io.Writer, list []federation.ProviderView) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tNAME\tSOURCE\tISSUER\tREDIRECT URI")
	for _, p := range list {
		name, issuer := p.Name, p.Issuer
		if name == "" {
			name = "-"
		}
		if issuer == "" {
			issuer = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, p.Kind, name, p.Source, issuer, p.CallbackURL)
	}
	return tw.Flush()
}
