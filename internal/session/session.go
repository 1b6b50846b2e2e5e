package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-id/gatehouse/internal/clientip"
	"github.com/gatehouse-id/gatehouse/storage"
)

// Cookie names. Over https the __Host- prefix makes browsers insist on Secure,
// Path=/ and no Domain, so a sibling subdomain cannot plant or shadow the cookie.
const (
	CookieName       = "gatehouse_session"
	SecureCookieName = "__Host-gatehouse_session"
)

const (
	defaultIdleTimeout     = 24 * time.Hour
	defaultAbsoluteTimeout = 14 * 24 * time.Hour
	// touchInterval bounds how often activity is written back: at most one
	// write per session a minute, not one per request.
	touchInterval = time.Minute
	tokenBytes    = 32
	maxUserAgent  = 512
)

// Options configure a Manager.
type Options struct {
	// Secure marks the cookie Secure and gives it the __Host- prefix; set it
	// when the issuer is https.
	Secure bool
	// IdleTimeout ends a session after this long without activity; zero means
	// 24 hours.
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after sign-in, active or not;
	// zero means 14 days.
	AbsoluteTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// sessionStorage is what the Manager needs from storage.Store.
type sessionStorage interface {
	CreateSession(ctx context.Context, bs storage.BrowserSession) (storage.BrowserSession, error)
	GetSessionByTokenHash(ctx context.Context, h []byte, now time.Time) (storage.BrowserSession, error)
	TouchSession(ctx context.Context, id string, now, idleExpires time.Time) error
	DeleteSession(ctx context.Context, id string) error
	GetSessionWithUser(ctx context.Context, h []byte, now time.Time) (storage.BrowserSession, error)
	GetSessionForClient(ctx context.Context, h []byte, now time.Time, clientID string) (storage.BrowserSession, *storage.Account, error)
}

// Manager issues, finds and ends browser sessions. Build it with New; the zero
// value is unusable. It is safe for concurrent use.
type Manager struct {
	store    sessionStorage
	secure   bool
	name     string
	idle     time.Duration
	absolute time.Duration
	now      func() time.Time
}

// New returns a Manager that keeps sessions in store.
func New(store *storage.Store, o Options) *Manager {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = defaultIdleTimeout
	}
	if o.AbsoluteTimeout <= 0 {
		o.AbsoluteTimeout = defaultAbsoluteTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	name := CookieName
	if o.Secure {
		name = SecureCookieName
	}
	return &Manager{store: store, secure: o.Secure, name: name, idle: o.IdleTimeout, absolute: o.AbsoluteTimeout, now: o.Now}
}

// CookieName returns the name of the session cookie this Manager sets.
func (m *Manager) CookieName() string { return m.name }

// Issue starts a new session for userID on this browser and sets its cookie. It
// always makes a new token, and ends the session the browser held before, so a
// token planted before sign-in is worthless after it (session fixation).
func (m *Manager) Issue(w http.ResponseWriter, r *http.Request, userID string, amr []string, authTime time.Time) (storage.BrowserSession, error) {
	bs, _, err := m.Start(w, r, userID, amr, authTime)
	return bs, err
}

// Start is Issue that also returns the session's token, for the JSON API
// (internal/authapi), which hands it to native apps as a bearer credential.
// The token is the cookie's value: never log it.
func (m *Manager) Start(w http.ResponseWriter, r *http.Request, userID string, amr []string, authTime time.Time) (storage.BrowserSession, string, error) {
	bs, token, err := m.start(w, r, userID, amr, authTime)
	return bs, token, err
}

func (m *Manager) start(w http.ResponseWriter, r *http.Request, userID string, amr []string, authTime time.Time) (storage.BrowserSession, string, error) {
	ctx := r.Context()
	now := m.now().UTC()
	if old, err := m.lookup(r, now); err != nil {
		return storage.BrowserSession{}, "", err
	} else if old != nil {
		if err := m.store.DeleteSession(ctx, old.ID); err != nil {
			return storage.BrowserSession{}, "", fmt.Errorf("issue session: end previous: %w", err)
		}
	}
	var raw [tokenBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return storage.BrowserSession{}, "", fmt.Errorf("issue session: random token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(token))
	expires := now.Add(m.absolute)
	idle := now.Add(m.idle)
	if idle.After(expires) {
		idle = expires
	}
	bs, err := m.store.CreateSession(ctx, storage.BrowserSession{
		TokenHash:     sum[:],
		UserID:        userID,
		AuthTime:      authTime.UTC(),
		AMR:           strings.Join(amr, " "),
		LastSeenAt:    now,
		IdleExpiresAt: idle,
		ExpiresAt:     expires,
		IP:            clientip.FromRequest(r),
		UserAgent:     truncate(r.UserAgent(), maxUserAgent),
	})
	if err != nil {
		return storage.BrowserSession{}, "", fmt.Errorf("issue session: %w", err)
	}
	http.SetCookie(w, m.cookie(token, expires, now))
	return bs, token, nil
}

// Current returns the session of this browser, or nil when it has none that is
// valid now. Activity moves the idle expiry forward, written at most once a
// minute per session.
func (m *Manager) Current(r *http.Request) (*storage.BrowserSession, error) {
	now := m.now().UTC()
	bs, err := m.lookup(r, now)
	if err != nil || bs == nil {
		return nil, err
	}
	if now.Sub(bs.LastSeenAt) >= touchInterval {
		idle := now.Add(m.idle)
		if idle.After(bs.ExpiresAt) {
			idle = bs.ExpiresAt
		}
		if err := m.store.TouchSession(r.Context(), bs.ID, now, idle); err != nil {
			return nil, fmt.Errorf("current session: %w", err)
		}
		bs.LastSeenAt, bs.IdleExpiresAt = now, idle
	}
	return bs, nil
}

// End ends this browser's session, if any, and clears its cookie.
func (m *Manager) End(w http.ResponseWriter, r *http.Request) error {
	now := m.now().UTC()
	http.SetCookie(w, m.cookie("", time.Time{}, now))
	token := m.token(r)
	if token == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(token))
	bs, err := m.store.GetSessionByTokenHash(r.Context(), sum[:], now)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	if err := m.store.DeleteSession(r.Context(), bs.ID); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// RequestToken returns the session token of the request's cookie when it has
// the shape Start gives it, else "".
func (m *Manager) RequestToken(r *http.Request) string { return m.token(r) }

// WellFormed reports whether token has the shape Start gives tokens, so that
// garbage from a header is refused before it reaches the database.
func WellFormed(token string) bool {
	b, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil && len(b) == tokenBytes
}

// Find returns the session token names, valid now, with its user loaded
// (bs.User), in one indexed read; nil when there is none, or its user is
// disabled. Like Current, activity moves the idle expiry forward, written at
// most once a minute per session, so that a request that only reads the
// session writes nothing.
func (m *Manager) Find(ctx context.Context, token string) (*storage.BrowserSession, error) {
	bs, _, err := m.find(ctx, token, func(h []byte, now time.Time) (storage.BrowserSession, *storage.Account, error) {
		bs, err := m.store.GetSessionWithUser(ctx, h, now)
		return bs, nil, err
	})
	return bs, err
}

// FindForClient is Find that also returns the user's link to clientID (nil
// when there is none), read in the same statement: an authorization needs
// the signed-in user and what they granted the client before it can answer,
// and on a distant database each read is a round trip.
func (m *Manager) FindForClient(ctx context.Context, token, clientID string) (*storage.BrowserSession, *storage.Account, error) {
	return m.find(ctx, token, func(h []byte, now time.Time) (storage.BrowserSession, *storage.Account, error) {
		return m.store.GetSessionForClient(ctx, h, now, clientID)
	})
}

// find is Find and FindForClient, with read as their query.
func (m *Manager) find(ctx context.Context, token string, read func(h []byte, now time.Time) (storage.BrowserSession, *storage.Account, error)) (*storage.BrowserSession, *storage.Account, error) {
	if !WellFormed(token) {
		return nil, nil, nil
	}
	now := m.now().UTC()
	sum := sha256.Sum256([]byte(token))
	bs, link, err := read(sum[:], now)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("find session: %w", err)
	}
	if bs.User.Disabled {
		return nil, nil, nil
	}
	if now.Sub(bs.LastSeenAt) >= touchInterval {
		idle := now.Add(m.idle)
		if idle.After(bs.ExpiresAt) {
			idle = bs.ExpiresAt
		}
		if err := m.store.TouchSession(ctx, bs.ID, now, idle); err != nil {
			return nil, nil, fmt.Errorf("find session: %w", err)
		}
		bs.LastSeenAt, bs.IdleExpiresAt = now, idle
	}
	return &bs, link, nil
}

// Clear deletes this browser's session cookie, without touching the database.
func (m *Manager) Clear(w http.ResponseWriter) {
	http.SetCookie(w, m.cookie("", time.Time{}, m.now().UTC()))
}

// ForgetOnClose gives this browser the cookie of a session Start made with
// token again, without an expiry, so that the browser drops it when it closes
// (Better Auth's rememberMe: false). The session itself keeps its expiry.
func (m *Manager) ForgetOnClose(w http.ResponseWriter, token string) {
	c := m.cookie(token, time.Time{}, m.now().UTC())
	c.Expires, c.MaxAge = time.Time{}, 0
	http.SetCookie(w, c)
}

// lookup finds the session the request's cookie names, valid at now.
func (m *Manager) lookup(r *http.Request, now time.Time) (*storage.BrowserSession, error) {
	token := m.token(r)
	if token == "" {
		return nil, nil
	}
	sum := sha256.Sum256([]byte(token))
	bs, err := m.store.GetSessionByTokenHash(r.Context(), sum[:], now)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up session: %w", err)
	}
	return &bs, nil
}

// token returns the cookie's token when it has the shape Issue gives it, else "".
func (m *Manager) token(r *http.Request) string {
	c, err := r.Cookie(m.name)
	if err != nil {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) != tokenBytes {
		return ""
	}
	return c.Value
}

// cookie builds the session cookie; an empty value deletes it.
func (m *Manager) cookie(value string, expires, now time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:     m.name,
		Value:    value,
		Path:     "/",
		Secure:   m.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	if value == "" {
		c.MaxAge = -1
		return c
	}
	c.Expires = expires
	c.MaxAge = int(expires.Sub(now) / time.Second)
	return c
}

// truncate cuts s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
