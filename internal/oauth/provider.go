package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/hmac"
	"github.com/ory/fosite/token/jwt"

	"github.com/gatehouse-id/gatehouse/internal/clients"
	"github.com/gatehouse-id/gatehouse/internal/outbound"
	"github.com/gatehouse-id/gatehouse/internal/signin"
	"github.com/gatehouse-id/gatehouse/storage"
)

// ErrorPageFunc renders the HTML error page for a person in a browser, with the
// given status and one plain sentence: the message messageKey of the
// catalogue (internal/i18n, such as "error.signin_link_invalid"), which the
// page shows in the person's language.
type ErrorPageFunc func(w http.ResponseWriter, r *http.Request, status int, messageKey string)

// Handler serves the protocol endpoints. Build it with New; the zero value is
// unusable.
type Handler struct {
	cfg         Config
	provider    fosite.OAuth2Provider
	fosite      *fosite.Fosite // provider, for the client authentication it offers
	strategy    *coreStrategy
	fcfg        *fositeConfig
	store       *storage.Store
	keys        KeySource
	interaction signin.Interaction
	errorPage   ErrorPageFunc
	log         *slog.Logger
	now         func() time.Time
	metrics     TokenCounter
	discovery   []byte
	// discoveryETag and discoveryLength are the discovery document's headers.
	discoveryETag, discoveryLength string
	// resumeKey signs the markers that carry an authorization through the
	// sign-in and consent pages.
	resumeKey []byte
	// clientRules validate clients registered through dynamic registration.
	clientRules clients.Rules
}

// Deps are what New needs besides the Config.
type Deps struct {
	Store       *storage.Store
	Keys        KeySource
	Interaction signin.Interaction // nil: a plain page says sign-in is not configured
	ErrorPage   ErrorPageFunc      // nil: a plain text page
	Log         *slog.Logger
	Now         func() time.Time
	Metrics     TokenCounter // nil: tokens are not counted
	// Outbound makes every request the provider sends elsewhere (a
	// private_key_jwt client's jwks_uri). nil: outbound.New with the default
	// options, https to public addresses only. Its AllowsLoopback also decides
	// whether dynamic registration accepts a loopback http jwks_uri.
	Outbound *outbound.Client
}

// TokenCounter counts successful token responses by grant type; *metrics.Metrics
// is one.
type TokenCounter interface {
	TokenIssued(grantType string)
}

// fositeConfig is fosite's Config with the one decision fosite makes globally but
// we make per client: whether refresh tokens need offline_access.
type fositeConfig struct {
	*fosite.Config
}

// GetRefreshTokenScopes returns the scopes one of which must be granted for a
// refresh token; none for a client configured to always get one. The client is
// the one that authenticated in the request ctx belongs to, known before fosite
// checks a refresh grant.
func (c *fositeConfig) GetRefreshTokenScopes(ctx context.Context) []string {
	if rec, ok := requestClient(ctx); ok && rec.AlwaysIssueRefreshToken {
		return nil
	}
	return c.Config.GetRefreshTokenScopes(ctx)
}

// New composes fosite on the store and returns the protocol handler.
func New(cfg Config, d Deps) (*Handler, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if d.Store == nil || d.Keys == nil {
		return nil, fmt.Errorf("oauth: a store and a key source are required")
	}
	if d.Store.Sealer() == nil {
		return nil, fmt.Errorf("oauth: the store must be opened with the system secrets")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Interaction == nil {
		d.Interaction = notConfigured{}
	}
	if d.ErrorPage == nil {
		d.ErrorPage = plainErrorPage
	}
	if d.Outbound == nil {
		d.Outbound = outbound.New(outbound.Options{})
	}
	global := sha256.Sum256([]byte("gatehouse token hmac\x00" + cfg.Secrets[0]))
	var rotated [][]byte
	for _, s := range cfg.Secrets[1:] {
		k := sha256.Sum256([]byte("gatehouse token hmac\x00" + s))
		rotated = append(rotated, k[:])
	}
	resume := sha256.Sum256([]byte("gatehouse interaction resume\x00" + cfg.Secrets[0]))

	fc := &fosite.Config{
		AccessTokenLifespan:                 cfg.AccessTokenLifespan,
		RefreshTokenLifespan:                cfg.RefreshTokenLifespan,
		IDTokenLifespan:                     cfg.IDTokenLifespan,
		AuthorizeCodeLifespan:               cfg.AuthorizeCodeLifespan,
		PushedAuthorizeContextLifespan:      cfg.PARLifespan,
		PushedAuthorizeRequestURIPrefix:     "urn:ietf:params:oauth:request_uri:",
		IDTokenIssuer:                       cfg.Issuer,
		AccessTokenIssuer:                   cfg.Issuer,
		TokenURL:                            cfg.Issuer + "/oauth2/token",
		GlobalSecret:                        global[:],
		RotatedGlobalSecrets:                rotated,
		EnforcePKCE:                         cfg.EnforcePKCE,
		EnforcePKCEForPublicClients:         true,
		EnablePKCEPlainChallengeMethod:      false,
		ScopeStrategy:                       fosite.ExactScopeStrategy,
		RefreshTokenScopes:                  []string{"offline_access"},
		JWTScopeClaimKey:                    jwt.JWTScopeFieldString,
		SendDebugMessagesToClients:          false,
		MinParameterEntropy:                 fosite.MinParameterEntropy,
		AllowedPromptValues:                 []string{"login", "none", "consent", "create"},
		ClientSecretsHasher:                 &secretHasher{sealer: d.Store.Sealer()},
		RedirectSecureChecker:               fosite.IsRedirectURISecure, // client registration decides which schemes are allowed
		TokenEntropy:                        32,
		UseLegacyErrorFormat:                false,
		DisableRefreshTokenValidation:       false,
		GrantTypeJWTBearerCanSkipClientAuth: false,
		// fosite's default fetcher follows redirects, retries, has no deadline
		// and reads any body; ours goes through the outbound client.
		JWKSFetcherStrategy: newJWKSFetcher(d.Outbound, d.Now, d.Log),
	}
	cfgw := &fositeConfig{Config: fc}

	hmacStrategy := oauth2.NewHMACSHAStrategyUnPrefixed(&hmac.HMACStrategy{Config: fc}, fc)
	strategy := &coreStrategy{
		hmac: hmacStrategy,
		jwt: &oauth2.DefaultJWTStrategy{
			Signer:          &jwsSigner{keys: d.Keys, alg: fixedAlg(cfg.JWTAccessTokenAlg)},
			HMACSHAStrategy: hmacStrategy,
			Config:          fc,
		},
		defaultJWT: cfg.JWTAccessTokens,
	}
	idTokens := &jwsSigner{keys: d.Keys, alg: idTokenAlg}
	common := &compose.CommonStrategy{
		CoreStrategy: strategy,
		OpenIDConnectTokenStrategy: &openid.DefaultStrategy{
			Signer: idTokens,
			Config: cfgw,
		},
		Signer: idTokens,
	}
	provider := fosite.NewOAuth2Provider(d.Store, cfgw)
	for _, factory := range []compose.Factory{
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		compose.OAuth2RefreshTokenGrantFactory,
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
		compose.PushedAuthorizeHandlerFactory,
	} {
		res := factory(cfgw, d.Store, common)
		if h, ok := res.(fosite.AuthorizeEndpointHandler); ok {
			fc.AuthorizeEndpointHandlers.Append(h)
		}
		if h, ok := res.(fosite.TokenEndpointHandler); ok {
			// Not Append: it drops a handler whose type it has seen, and every
			// wrapped handler has the wrapper's type. Each factory's type differs.
			fc.TokenEndpointHandlers = append(fc.TokenEndpointHandlers, tokenHandlerForItsGrant{h})
		}
		if h, ok := res.(fosite.TokenIntrospector); ok {
			fc.TokenIntrospectionHandlers.Append(h)
		}
		if h, ok := res.(fosite.RevocationHandler); ok {
			fc.RevocationHandlers.Append(h)
		}
		if h, ok := res.(fosite.PushedAuthorizeEndpointHandler); ok {
			fc.PushedAuthorizeEndpointHandlers.Append(h)
		}
	}
	h := &Handler{
		cfg: cfg, provider: provider, fosite: provider, strategy: strategy, fcfg: cfgw, store: d.Store, keys: d.Keys,
		interaction: d.Interaction, errorPage: d.ErrorPage, log: d.Log, now: d.Now,
		resumeKey: resume[:], metrics: d.Metrics,
		clientRules: clients.Rules{AllowLoopbackFetch: d.Outbound.AllowsLoopback()},
	}
	// Client authentication and audiences follow our rules (clientauth.go,
	// audience.go); fosite asks for them through its config.
	fc.ClientAuthenticationStrategy = h.authenticateClient
	fc.AudienceMatchingStrategy = h.audienceStrategy
	strategy.audience = h.setAccessTokenAudience
	disc, err := h.renderDiscovery()
	if err != nil {
		return nil, err
	}
	h.discovery = disc
	sum := sha256.Sum256(disc)
	h.discoveryETag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	h.discoveryLength = strconv.Itoa(len(disc))
	return h, nil
}

// secretHasher checks client secrets with the store's keyed hash (see
// storage.Sealer.HashClientSecret for why a fast hash is right here).
type secretHasher struct{ sealer *storage.Sealer }

func (h *secretHasher) Compare(_ context.Context, hash, data []byte) error {
	if !h.sealer.CompareClientSecret(string(hash), data) {
		return fosite.ErrInvalidClient
	}
	return nil
}

func (h *secretHasher) Hash(_ context.Context, data []byte) ([]byte, error) {
	return []byte(h.sealer.HashClientSecret(data)), nil
}

// plainErrorPage stands in for the error page where no pages are configured
// (tests of the protocol alone): the status and the message's key, for a
// developer to read.
func plainErrorPage(w http.ResponseWriter, _ *http.Request, status int, messageKey string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%s (%s)\n", http.StatusText(status), messageKey)
}

// tokenHandlerForItsGrant answers "not mine" for a grant its handler does not
// handle without calling it. fosite asks every token handler to populate every
// response, and each one that declines builds an error with a stack trace:
// runtime.Callers was about 5% of the token endpoint's CPU.
type tokenHandlerForItsGrant struct{ fosite.TokenEndpointHandler }

func (h tokenHandlerForItsGrant) PopulateTokenEndpointResponse(ctx context.Context, req fosite.AccessRequester, resp fosite.AccessResponder) error {
	if !h.CanHandleTokenEndpointRequest(ctx, req) {
		return fosite.ErrUnknownRequest
	}
	return h.TokenEndpointHandler.PopulateTokenEndpointResponse(ctx, req, resp)
}
