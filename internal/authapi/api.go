package authapi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/i18n"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/keys"
	"github.com/gatehouse-id/gatehouse/internal/session"
	"github.com/gatehouse-id/gatehouse/storage"
)

// identityService is what the API needs from internal/identity.
type identityService interface {
	SignUpUser(ctx context.Context, in identity.SignUpInput, ip string) (string, storage.User, error)
	Authenticate(ctx context.Context, email, password, ip string) (storage.User, error)
	ChangePassword(ctx context.Context, c identity.PasswordChange) error
	UpdateUser(ctx context.Context, id string, ch identity.UserChanges) (storage.User, error)
	ResendVerification(ctx context.Context, email, ip string) error
	VerifyEmail(ctx context.Context, token, ticket string) (identity.Verified, error)
	RequestPasswordReset(ctx context.Context, email, ip string) error
	CheckResetToken(ctx context.Context, token string) (storage.User, error)
	ResetPassword(ctx context.Context, token, password string) (storage.User, error)
	ListSessions(ctx context.Context, id string) ([]storage.BrowserSession, error)
	EndSession(ctx context.Context, id, sessionID string) error
	EndSessions(ctx context.Context, id string) (int64, error)
	EndOtherSessions(ctx context.Context, id, keepID string) (int64, error)
	DeleteUser(ctx context.Context, id string) error
}

// keySource signs the API's JWTs and publishes their keys; *keys.Manager is one.
type keySource interface {
	Signer(alg string) (keys.ActiveKey, error)
	JWKS() (body []byte, etag string, err error)
}

// SignInCounter counts password sign-ins by outcome ("success", "failure",
// "throttled"), as the pages do; *metrics.Metrics is one.
type SignInCounter interface {
	SignIn(outcome string)
}

// Deps are what New needs.
type Deps struct {
	// Identity is the user service (an *identity.Service).
	Identity identityService
	// Sessions is the browser-session manager the pages use too.
	Sessions *session.Manager
	// Keys signs /token's JWTs and serves /jwks.
	Keys keySource
	// Issuer is the issuer URL; its origin is always trusted, and it is the
	// iss and aud of /token's JWTs.
	Issuer string
	// TrustedOrigins are the other web origins whose pages may call the API
	// with the cookie (config api.trusted_origins).
	TrustedOrigins []string
	// RequireEmailVerification refuses sign-in of unverified addresses.
	RequireEmailVerification bool
	// TokenLifetime is the lifetime of /token's JWTs; zero means 15 minutes.
	TokenLifetime time.Duration
	// Templates holds api_reference.html (templates.FS or an overlay).
	Templates fs.FS
	// Catalogue holds the reference page's words; nil means the built-in one.
	Catalogue *i18n.Catalogue
	Metrics   SignInCounter
	Log       *slog.Logger
	Now       func() time.Time
	// Federation signs people in through upstream identity providers
	// (/sign-in/social, /callback/{id}); nil answers them 404.
	Federation federationService
	// MFA is the second-factor service (an *mfa.Service) behind the
	// /two-factor/ paths: a sign-in that must go on with a second factor gets
	// no session until the factor comes. Nil: none, and those paths answer 404.
	MFA secondFactors
	// Passkeys are the WebAuthn ceremonies (an *mfa.Passkeys) behind the
	// /passkey/ paths; nil answers them 404.
	Passkeys passkeyService
}

// API serves /api/auth. Build it with New; the zero value is unusable.
type API struct {
	ids       identityService
	sessions  *session.Manager
	keys      keySource
	issuer    string
	secure    bool     // the issuer is https: cookies are Secure
	trusted   []string // origins, the issuer's first
	requireEV bool
	tokenTTL  time.Duration
	metrics   SignInCounter
	log       *slog.Logger
	now       func() time.Time
	catalogue *i18n.Catalogue
	reference map[string][]byte // the rendered reference page by language tag
	fed       federationService
	mfa       secondFactors
	passkeys  passkeyService
}

// New returns the API. It fails when a dependency is missing or the reference
// page cannot be rendered.
func New(d Deps) (*API, error) {
	var problems []string
	if d.Identity == nil {
		problems = append(problems, "Identity is nil")
	}
	if d.Sessions == nil {
		problems = append(problems, "Sessions is nil")
	}
	if d.Keys == nil {
		problems = append(problems, "Keys is nil")
	}
	if d.Templates == nil {
		problems = append(problems, "Templates is nil")
	}
	issuer := strings.TrimSuffix(d.Issuer, "/")
	iu, err := url.Parse(issuer)
	if err != nil || (iu.Scheme != "http" && iu.Scheme != "https") || iu.Host == "" {
		problems = append(problems, fmt.Sprintf("Issuer %q is not an http(s) URL", d.Issuer))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("authapi: %s", strings.Join(problems, "; "))
	}
	if d.TokenLifetime <= 0 {
		d.TokenLifetime = 15 * time.Minute
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	a := &API{
		ids: d.Identity, sessions: d.Sessions, keys: d.Keys, issuer: issuer, secure: iu.Scheme == "https",
		trusted:   append([]string{iu.Scheme + "://" + iu.Host}, d.TrustedOrigins...),
		requireEV: d.RequireEmailVerification, tokenTTL: d.TokenLifetime,
		metrics: d.Metrics, log: d.Log, now: d.Now, fed: d.Federation, mfa: d.MFA,
	}
	if d.Catalogue == nil {
		if d.Catalogue, err = i18n.Load(i18n.Options{}); err != nil {
			return nil, fmt.Errorf("authapi: %w", err)
		}
	}
	a.catalogue = d.Catalogue
	a.passkeys = d.Passkeys
	if a.reference, err = renderReference(d.Templates, d.Catalogue); err != nil {
		return nil, fmt.Errorf("authapi: %w", err)
	}
	return a, nil
}

// trustedOrigin reports whether origin is the issuer's or a configured one.
func (a *API) trustedOrigin(origin string) bool {
	return origin != "" && slices.Contains(a.trusted, origin)
}

// Guard wraps every /api/auth route: CORS with credentials for trusted origins,
// and the origin rule for unsafe requests. A POST that carries the session
// cookie (and no bearer token) must name a trusted Origin; a POST naming an
// untrusted Origin is refused whatever it carries (a cross-site form or script
// cannot sign a browser in or out). Requests without cookie or Origin (native
// apps, servers) and bearer-authenticated ones pass: no browser sends those on
// a third party's behalf.
func (a *API) Guard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		trusted := a.trustedOrigin(origin)
		if trusted {
			hd := w.Header()
			hd.Set("Access-Control-Allow-Origin", origin)
			hd.Set("Access-Control-Allow-Credentials", "true")
			hd.Set("Access-Control-Expose-Headers", "set-auth-token")
		}
		w.Header().Add("Vary", "Origin")
		if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodOptions {
			h.ServeHTTP(w, r)
			return
		}
		switch {
		case origin != "" && !trusted:
			a.fail(w, r, http.StatusForbidden, codeInvalidOrigin, "Invalid origin")
			return
		case origin == "" && bearer(r) == "" && a.sessions.RequestToken(r) != "":
			a.fail(w, r, http.StatusForbidden, codeMissingOrigin, "Missing or null Origin")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Preflight answers CORS preflight requests: trusted origins may send JSON
// and the bearer token with credentials; others get 403 and no CORS headers.
func (a *API) Preflight() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		w.Header().Add("Vary", "Origin")
		if !a.trustedOrigin(origin) {
			a.fail(w, r, http.StatusForbidden, codeInvalidOrigin, "Invalid origin")
			return
		}
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", origin)
		hd.Set("Access-Control-Allow-Credentials", "true")
		hd.Set("Access-Control-Allow-Methods", "GET, POST")
		hd.Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
		hd.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
	})
}

// bearer returns the token of an Authorization: Bearer header, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// current is the signed-in caller: the session (with its user) and the token
// that named it, from the bearer header when there is one, else the cookie.
type current struct {
	bs     *storage.BrowserSession
	token  string
	bearer bool
}

// lookup finds the caller's session; a nil bs means signed out.
func (a *API) lookup(r *http.Request) (current, error) {
	c := current{token: bearer(r), bearer: true}
	if c.token == "" {
		c.token, c.bearer = a.sessions.RequestToken(r), false
	}
	if c.token == "" {
		return c, nil
	}
	bs, err := a.sessions.Find(r.Context(), c.token)
	if err != nil {
		return c, err
	}
	c.bs = bs
	return c, nil
}

// signedIn runs h with the caller's session, or answers 401 UNAUTHORIZED.
func (a *API) signedIn(h func(w http.ResponseWriter, r *http.Request, c current)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := a.lookup(r)
		if err != nil {
			a.serverError(w, r, "look up session", err)
			return
		}
		if c.bs == nil {
			a.fail(w, r, http.StatusUnauthorized, codeUnauthorized, "Unauthorized")
			return
		}
		h(w, r, c)
	})
}

// countSignIn reports a sign-in outcome to the metrics, if any.
func (a *API) countSignIn(outcome string) {
	if a.metrics != nil {
		a.metrics.SignIn(outcome)
	}
}

// isNotFound reports whether err means the record is gone.
func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
