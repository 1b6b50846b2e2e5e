package session_test

import (
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/session"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func databases(t *testing.T, test func(t *testing.T, store *storage.Store)) {
	t.Run("sqlite", func(t *testing.T) { test(t, storagetest.OpenSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { test(t, storagetest.OpenPostgres(t)) })
}

type fixture struct {
	store *storage.Store
	clock *clock
	m     *session.Manager
	user  storage.User
}

func newFixture(t *testing.T, store *storage.Store, secure bool) *fixture {
	t.Helper()
	u, err := store.CreateUser(t.Context(), storage.User{Email: "ada@example.com"})
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	m := session.New(store, session.Options{Secure: secure, IdleTimeout: time.Hour, AbsoluteTimeout: 10 * time.Hour, Now: c.Now})
	return &fixture{store: store, clock: c, m: m, user: u}
}

// issue signs in on a fresh request carrying cookies and returns the new cookie.
func (f *fixture) issue(t *testing.T, cookies ...*http.Cookie) (*http.Cookie, storage.BrowserSession) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/signin", nil)
	r.RemoteAddr = "192.0.2.7:5555"
	r.Header.Set("User-Agent", "TestBrowser/1.0")
	for _, c := range cookies {
		r.AddCookie(c)
	}
	w := httptest.NewRecorder()
	bs, err := f.m.Issue(w, r, f.user.ID, []string{"pwd"}, f.clock.Now())
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	for _, c := range w.Result().Cookies() {
		if c.Name == f.m.CookieName() {
			return c, bs
		}
	}
	t.Fatalf("Issue set no %s cookie", f.m.CookieName())
	return nil, bs
}

func (f *fixture) current(t *testing.T, c *http.Cookie) *storage.BrowserSession {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/account", nil)
	if c != nil {
		r.AddCookie(c)
	}
	bs, err := f.m.Current(r)
	if err != nil {
		t.Fatalf("Current: %v", err)
	}
	return bs
}

func TestIssueAndCurrent(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		f := newFixture(t, store, false)
		c, bs := f.issue(t)
		got := f.current(t, c)
		if got == nil || got.ID != bs.ID || got.UserID != f.user.ID {
			t.Fatalf("Current = %+v, want session %s of user %s", got, bs.ID, f.user.ID)
		}
		if got.AMR != "pwd" || got.IP != "192.0.2.7" || got.UserAgent != "TestBrowser/1.0" {
			t.Errorf("session AMR, IP, UA = %q, %q, %q", got.AMR, got.IP, got.UserAgent)
		}
		// Only the hash of the cookie's token is stored.
		sum := sha256.Sum256([]byte(c.Value))
		if string(got.TokenHash) != string(sum[:]) {
			t.Errorf("TokenHash is not SHA-256 of the cookie token")
		}
		if strings.Contains(string(got.TokenHash), c.Value) {
			t.Errorf("token stored in clear")
		}
		for _, bad := range []*http.Cookie{nil, {Name: c.Name, Value: "garbage"}, {Name: c.Name, Value: strings.Repeat("A", 43)}} {
			if s := f.current(t, bad); s != nil {
				t.Errorf("Current(%v) = %s, want nil", bad, s.ID)
			}
		}
	})
}

func TestIdleExpiry(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		f := newFixture(t, store, false)
		c, _ := f.issue(t)
		// Activity within the idle timeout keeps the session alive past it.
		for range 3 {
			f.clock.Advance(50 * time.Minute)
			if f.current(t, c) == nil {
				t.Fatalf("session ended while active")
			}
		}
		f.clock.Advance(61 * time.Minute)
		if s := f.current(t, c); s != nil {
			t.Fatalf("Current after idle timeout = %s, want nil", s.ID)
		}
	})
}

func TestTouchAtMostOncePerMinute(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		f := newFixture(t, store, false)
		c, bs := f.issue(t)
		f.clock.Advance(30 * time.Second)
		if s := f.current(t, c); !s.LastSeenAt.Equal(bs.LastSeenAt) {
			t.Errorf("LastSeenAt moved after 30s: %v, want %v", s.LastSeenAt, bs.LastSeenAt)
		}
		f.clock.Advance(31 * time.Second)
		s := f.current(t, c)
		if !s.LastSeenAt.Equal(f.clock.Now()) {
			t.Errorf("LastSeenAt = %v, want %v", s.LastSeenAt, f.clock.Now())
		}
		stored := f.current(t, c)
		if !stored.IdleExpiresAt.Equal(f.clock.Now().Add(time.Hour)) {
			t.Errorf("stored IdleExpiresAt = %v, want %v", stored.IdleExpiresAt, f.clock.Now().Add(time.Hour))
		}
	})
}

func TestAbsoluteExpiry(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		f := newFixture(t, store, false)
		c, _ := f.issue(t)
		for range 19 {
			f.clock.Advance(30 * time.Minute)
			if f.current(t, c) == nil {
				t.Fatalf("session ended before its absolute expiry")
			}
		}
		f.clock.Advance(31 * time.Minute) // 10h01m after sign-in
		if s := f.current(t, c); s != nil {
			t.Fatalf("Current after absolute timeout = %s, want nil", s.ID)
		}
	})
}

func TestRotationInvalidatesOldCookie(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		f := newFixture(t, store, false)
		old, oldSession := f.issue(t)
		fresh, freshSession := f.issue(t, old)
		if fresh.Value == old.Value || freshSession.ID == oldSession.ID {
			t.Fatalf("Issue reused the token or session")
		}
		if s := f.current(t, old); s != nil {
			t.Errorf("old cookie still valid after rotation")
		}
		if s := f.current(t, fresh); s == nil || s.ID != freshSession.ID {
			t.Errorf("new cookie not valid")
		}
		list, err := store.ListUserSessions(t.Context(), f.user.ID, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Errorf("user has %d sessions after rotation, want 1", len(list))
		}
	})
}

func TestEnd(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		f := newFixture(t, store, true)
		c, _ := f.issue(t)
		r := httptest.NewRequest(http.MethodPost, "/signout", nil)
		r.AddCookie(c)
		w := httptest.NewRecorder()
		if err := f.m.End(w, r); err != nil {
			t.Fatalf("End: %v", err)
		}
		cleared := w.Result().Cookies()
		if len(cleared) != 1 || cleared[0].Name != c.Name || cleared[0].MaxAge >= 0 || cleared[0].Value != "" {
			t.Errorf("End cookies = %+v, want %s deleted", cleared, c.Name)
		}
		if s := f.current(t, c); s != nil {
			t.Errorf("session valid after End")
		}
		// Ending without a session is fine.
		if err := f.m.End(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/signout", nil)); err != nil {
			t.Errorf("End without session: %v", err)
		}
	})
}

func TestCookieAttributes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		secure   bool
		wantName string
	}{
		{"http", false, "gatehouse_session"},
		{"https", true, "__Host-gatehouse_session"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, storagetest.OpenSQLite(t), tc.secure)
			c, bs := f.issue(t)
			if c.Name != tc.wantName {
				t.Errorf("cookie name = %q, want %q", c.Name, tc.wantName)
			}
			if c.Secure != tc.secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" {
				t.Errorf("cookie = %+v: want Secure=%v HttpOnly SameSite=Lax Path=/ no Domain", c, tc.secure)
			}
			if !c.Expires.Equal(bs.ExpiresAt) {
				t.Errorf("cookie Expires = %v, want the absolute expiry %v", c.Expires, bs.ExpiresAt)
			}
			if n := len(c.Value); n != 43 {
				t.Errorf("token length %d, want 43 (32 bytes base64url)", n)
			}
		})
	}
}

// TestFindForClient: the session comes with its user and the user's link to
// the named client; a disabled user is not signed in; activity is recorded as
// Find does.
func TestFindForClient(t *testing.T) {
	databases(t, func(t *testing.T, store *storage.Store) {
		ctx := t.Context()
		f := newFixture(t, store, false)
		c, bs := f.issue(t)
		got, link, err := f.m.FindForClient(ctx, c.Value, "app")
		if err != nil || got == nil || got.ID != bs.ID || got.User == nil || got.User.ID != f.user.ID || link != nil {
			t.Fatalf("FindForClient with no link = %+v, %+v, %v; want session %s of %s and no link", got, link, err, bs.ID, f.user.Email)
		}
		if _, err := store.RecordAuthorization(ctx, f.user.ID, "app", "openid email", true, f.clock.Now()); err != nil {
			t.Fatalf("RecordAuthorization: %v", err)
		}
		f.clock.Advance(2 * time.Minute)
		got, link, err = f.m.FindForClient(ctx, c.Value, "app")
		if err != nil || got == nil || link == nil || link.ClientID != "app" || link.GrantedScopes != "openid email" {
			t.Fatalf("FindForClient = %+v, link %+v, %v; want the session with the app's link", got, link, err)
		}
		if !got.LastSeenAt.Equal(f.clock.Now()) {
			t.Errorf("LastSeenAt after two minutes = %v, want %v (activity recorded)", got.LastSeenAt, f.clock.Now())
		}
		if _, link, _ := f.m.FindForClient(ctx, c.Value, "other-app"); link != nil {
			t.Errorf("FindForClient(other-app) link = %+v, want none", link)
		}
		for _, bad := range []string{"", "garbage", strings.Repeat("A", 43)} {
			if s, l, err := f.m.FindForClient(ctx, bad, "app"); s != nil || l != nil || err != nil {
				t.Errorf("FindForClient(%q) = %v, %v, %v; want nothing", bad, s, l, err)
			}
		}
		u := f.user
		u.Disabled = true
		if _, err := store.UpdateUser(ctx, u); err != nil {
			t.Fatalf("disable user: %v", err)
		}
		if s, l, err := f.m.FindForClient(ctx, c.Value, "app"); s != nil || l != nil || err != nil {
			t.Errorf("FindForClient of a disabled user = %v, %v, %v; want nothing", s, l, err)
		}
	})
}
