package web

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/csrf"

	"github.com/gatehouse-id/gatehouse/internal/branding"
	"github.com/gatehouse-id/gatehouse/internal/i18n"
	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/internal/reqlog"
	"github.com/gatehouse-id/gatehouse/internal/session"
	"github.com/gatehouse-id/gatehouse/internal/signin"
	"github.com/gatehouse-id/gatehouse/storage"
)

// identityService is what the pages need from internal/identity.
type identityService interface {
	SignUp(ctx context.Context, in identity.SignUpInput, ip string) (ticket string, err error)
	Authenticate(ctx context.Context, email, password, ip string) (storage.User, error)
	ChangePassword(ctx context.Context, c identity.PasswordChange) error
	SignOutEverywhere(ctx context.Context, userID string) (identity.SignedOut, error)
	UpdateProfile(ctx context.Context, userID string, p identity.Profile) (storage.User, error)
	SendVerification(ctx context.Context, u storage.User, ip string) error
	VerifyEmail(ctx context.Context, token, ticket string) (identity.Verified, error)
	RequestPasswordResetContinue(ctx context.Context, email, ip, cont string) error
	CheckResetToken(ctx context.Context, token string) (storage.User, error)
	ResetPassword(ctx context.Context, token, password string) (storage.User, error)
	EndSession(ctx context.Context, userID, sessionID string) error
	RevokeAccount(ctx context.Context, userID, clientID string) (storage.RevokedTokens, error)
}

// brandSource gives the branding in force; *branding.Service is one.
type brandSource interface {
	Current(ctx context.Context) (branding.Brand, error)
}

// Deps are what New needs.
type Deps struct {
	// Templates holds the pages and static/: templates.FS, or
	// templates.Overlay(dir) with an operator's files in front.
	Templates fs.FS
	// Branding gives the product name, logo, favicon, colour and support link
	// every page shows (a *branding.Service); nil means the built-in defaults.
	Branding brandSource
	Store    *storage.Store
	// Identity is the user service (an *identity.Service).
	Identity identityService
	Sessions *session.Manager
	// CSRFKey authenticates the CSRF cookie: 32 bytes, derived by the caller
	// from the system secret so that every instance agrees.
	CSRFKey []byte
	// Issuer is the issuer URL (no trailing slash); it decides which continue
	// URLs the pages follow and whether cookies are Secure.
	Issuer string
	Now    func() time.Time
	Log    *slog.Logger
	// Metrics counts sign-in outcomes; nil counts nothing.
	Metrics SignInCounter
	// Catalogue holds the pages' messages in every language; nil means the
	// built-in catalogues.
	Catalogue *i18n.Catalogue
	// Federation signs people in through upstream identity providers (a
	// *federation.Service); nil offers none.
	Federation federationService
	// Passkeys are the WebAuthn ceremonies (an *mfa.Passkeys); nil hides
	// every passkey button and answers their routes 404.
	Passkeys passkeyService
	// MFA is the second-factor service (an *mfa.Service); nil means sign-in
	// with the password alone and no "Sign-in methods" section.
	MFA mfaService
}

// SignInCounter counts password sign-in attempts by outcome: "success",
// "failure" or "throttled"; *metrics.Metrics is one.
type SignInCounter interface {
	SignIn(outcome string)
}

// Pages serves the HTML pages. Build it with New; the zero value is unusable.
type Pages struct {
	tmpl     *renderer
	files    fs.FS // the templates' files, for the icon
	static   http.Handler
	brand    brandSource
	store    *storage.Store
	identity identityService
	sessions *session.Manager
	issuer   string
	secure   bool
	// ticketCookie names the cookie that keeps a sign-up's ticket.
	ticketCookie string
	protect      func(http.Handler) http.Handler
	now          func() time.Time
	log          *slog.Logger
	metrics      SignInCounter
	catalogue    *i18n.Catalogue
	fed          federationService
	passkeys     passkeyService
	mfa          mfaService
}

var _ signin.Interaction = (*Pages)(nil)

// New parses the templates once and returns the pages. It refuses to start when
// a required page or the stylesheet is missing or does not parse.
func New(d Deps) (*Pages, error) {
	var problems []string
	if d.Templates == nil {
		problems = append(problems, "Templates is nil")
	}
	if d.Store == nil {
		problems = append(problems, "Store is nil")
	}
	if d.Identity == nil {
		problems = append(problems, "Identity is nil")
	}
	if d.Sessions == nil {
		problems = append(problems, "Sessions is nil")
	}
	if len(d.CSRFKey) != 32 {
		problems = append(problems, fmt.Sprintf("CSRFKey has %d bytes, want 32", len(d.CSRFKey)))
	}
	issuer := strings.TrimSuffix(d.Issuer, "/")
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		problems = append(problems, fmt.Sprintf("Issuer %q is not an http(s) URL", d.Issuer))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("web: %s", strings.Join(problems, "; "))
	}
	r, err := parseTemplates(d.Templates)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	static, err := staticHandler(d.Templates)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if d.Catalogue == nil {
		if d.Catalogue, err = i18n.Load(i18n.Options{Log: d.Log}); err != nil {
			return nil, fmt.Errorf("web: %w", err)
		}
	}
	if err := checkMessages(r, d.Catalogue); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	p := &Pages{
		tmpl:     r,
		files:    d.Templates,
		static:   static,
		brand:    d.Branding,
		store:    d.Store,
		identity: d.Identity,
		sessions: d.Sessions,
		issuer:   issuer,
		secure:   u.Scheme == "https",
		now:      d.Now,
		log:      d.Log,
		metrics:  d.Metrics,
		mfa:      d.MFA,
	}
	if d.Federation != nil && federationOffers(d.Federation) {
		p.fed = d.Federation
	}
	p.catalogue = d.Catalogue
	p.passkeys = d.Passkeys
	cookie := "gatehouse_csrf"
	p.ticketCookie = "gatehouse_signup"
	if p.secure {
		// __Host-: Secure, Path=/ and no Domain, so no sibling subdomain can
		// plant or shadow them.
		cookie = "__Host-gatehouse_csrf"
		p.ticketCookie = "__Host-gatehouse_signup"
	}
	p.protect = csrf.Protect(d.CSRFKey,
		csrf.Secure(p.secure),
		csrf.HttpOnly(true),
		csrf.SameSite(csrf.SameSiteLaxMode),
		csrf.Path("/"),
		csrf.CookieName(cookie),
		csrf.FieldName(csrfFieldName),
		csrf.TrustedOrigins(nil),
		csrf.ErrorHandler(http.HandlerFunc(p.csrfFailed)),
	)
	return p, nil
}

// csrfFieldName is the name of the hidden form field that carries the token.
const csrfFieldName = "csrf_token"

// CSRF wraps the page routes: unsafe methods must carry the token that the
// pages put in their forms, and a token is issued on safe ones. It also gives
// the request its language, chosen once when first needed.
func (p *Pages) CSRF(h http.Handler) http.Handler {
	protected := p.protect(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r = p.withLocale(r, "")
		if !p.secure {
			// gorilla/csrf assumes TLS and would demand an https Referer.
			r = csrf.PlaintextHTTPRequest(r)
		}
		protected.ServeHTTP(w, r)
	})
}

func (p *Pages) csrfFailed(w http.ResponseWriter, r *http.Request) {
	p.log.InfoContext(r.Context(), "form refused", "reason", csrfReason(r), "path", r.URL.Path, "request_id", requestID(w))
	// The way back keeps the pending authorization the form carried (and
	// the address typed), so that the detour ends in the application.
	cont := p.continueTarget(r.PostFormValue("continue"))
	email := strings.TrimSpace(r.PostFormValue("email"))
	x := errorExtras{retry: retryURL(r.URL.Path, cont, email, r.PostFormValue("token"))}
	if c, ok := p.clientForContinue(r.Context(), cont); ok {
		info := signin.ClientInfo{ID: c.ID, Name: labelOf(p.failureLocalizer(r), c), ClientURI: c.ClientURI}
		x.client = &info
	}
	p.errorPage(w, r, http.StatusForbidden, "error.form_expired", x)
}

// retryURL is where "Try again" leads after the form posted to path expired:
// the form again, with the pending authorization and the address typed; for
// forms that only an authorization or the account page shows, those.
func retryURL(path, cont, email, token string) string {
	switch path {
	case "/signin", "/signup":
		return pageURL(path, "continue", cont, "login_hint", email)
	case "/forgot-password":
		return pageURL(path, "continue", cont, "email", email)
	case "/reset-password":
		if token != "" {
			return pageURL(path, "token", token, "continue", cont)
		}
		return pageURL("/forgot-password", "continue", cont)
	}
	if cont != "" {
		return cont
	}
	return accountPath
}

func csrfReason(r *http.Request) string {
	if err := csrf.FailureReason(r); err != nil {
		return err.Error()
	}
	return ""
}

// withToken runs h with a CSRF token in its request, for pages rendered by the
// protocol endpoints (consent), which are not behind Pages.CSRF. The method is
// made GET for the library so that it only issues a token: nothing is changed
// here, the form posts to a protected route.
func (p *Pages) withToken(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		r = r.Clone(r.Context())
		r.Method = http.MethodGet
	}
	p.CSRF(h).ServeHTTP(w, r)
}

// continueTarget returns raw when the pages may send the browser there after
// sign-in: back into an authorization at this issuer, or the account page. It
// returns "" for anything else (no open redirects).
func (p *Pages) continueTarget(raw string) string {
	if raw == accountPath {
		return raw
	}
	if strings.HasPrefix(raw, p.issuer+"/oauth2/authorize?") && !strings.ContainsAny(raw, "\r\n\t\\ ") {
		return raw
	}
	return ""
}

// redirectTarget is continueTarget with the account page as the fallback.
func (p *Pages) redirectTarget(raw string) string {
	if t := p.continueTarget(raw); t != "" {
		return t
	}
	return accountPath
}

const accountPath = "/account"

// countSignIn reports a sign-in outcome to the metrics, if any.
func (p *Pages) countSignIn(outcome string) {
	if p.metrics != nil {
		p.metrics.SignIn(outcome)
	}
}

// requestID is the id the server's middleware put on the response.
func requestID(w http.ResponseWriter) string {
	return w.Header().Get("X-Request-Id")
}

// currentUser returns the signed-in user and their session, or nils.
func (p *Pages) currentUser(r *http.Request) (*storage.BrowserSession, *storage.User, error) {
	bs, u, _, err := p.currentUserFor(r, "")
	return bs, u, err
}

// currentUserFor is currentUser with, when clientID is not "", the user's link
// to that client (nil when there is none). One read: the session joined to its
// user (a deleted or disabled user is not signed in) and to the link, so that
// an authorization costs one round trip for all three.
func (p *Pages) currentUserFor(r *http.Request, clientID string) (*storage.BrowserSession, *storage.User, *storage.Account, error) {
	var bs *storage.BrowserSession
	var link *storage.Account
	var err error
	if clientID == "" {
		bs, err = p.sessions.Find(r.Context(), p.sessions.RequestToken(r))
	} else {
		bs, link, err = p.sessions.FindForClient(r.Context(), p.sessions.RequestToken(r), clientID)
	}
	if err != nil || bs == nil || bs.User == nil {
		return nil, nil, nil, err
	}
	u := *bs.User
	return bs, &u, link, nil
}

// clientForContinue returns the client a continue URL resumes an authorization
// for, when it names one that exists.
func (p *Pages) clientForContinue(ctx context.Context, cont string) (storage.Client, bool) {
	if cont == "" || cont == accountPath {
		return storage.Client{}, false
	}
	u, err := url.Parse(cont)
	if err != nil {
		return storage.Client{}, false
	}
	id := u.Query().Get("client_id")
	if id == "" {
		return storage.Client{}, false
	}
	c, err := p.store.GetClientRecord(ctx, id)
	if err != nil {
		return storage.Client{}, false
	}
	return c, true
}

// serverError notes err on the request's log line and shows the error page.
func (p *Pages) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	p.logFailure(w, r, what, err)
	retryLater(w, err)
	p.ErrorPage(w, r, http.StatusServiceUnavailable, "error.page_unavailable")
}

// retryAfterSeconds is the Retry-After of a page answered 503 because the
// database cannot serve (RFC 9110 §10.2.3): a restart, a failover or a Neon
// compute waking takes a few seconds.
const retryAfterSeconds = "2"

// retryLater tells the browser when to try again if err means the database
// cannot serve now; the caller answers 503.
func retryLater(w http.ResponseWriter, err error) {
	if storage.IsUnavailable(err) {
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
}

// logFailure puts the cause of a failed request (what failed, and err) on the
// request's one access-log line, so that an outage costs one line per request;
// outside the server (a test of one handler) it logs a line of its own.
func (p *Pages) logFailure(w http.ResponseWriter, r *http.Request, what string, err error) {
	if !reqlog.Add(r.Context(), slog.String("failure", what), slog.String("error", err.Error())) {
		p.log.ErrorContext(r.Context(), what, "error", err.Error(), "request_id", requestID(w))
	}
}

// federationOffers reports whether f may offer providers at some time: it has
// some now, or (internal/federation's Offers) providers can be added through
// the admin API while the server runs.
func federationOffers(f federationService) bool {
	if o, ok := f.(interface{ Offers() bool }); ok {
		return o.Offers()
	}
	return len(f.Buttons()) > 0
}
