package identity_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/identity"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// fastParams keep argon2id cheap in tests; TestDefaultParams uses the real ones.
var fastParams = identity.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}

// mailbox is a Sender that keeps what it is given.
type mailbox struct {
	mu    sync.Mutex
	mails []identity.Mail
}

func (m *mailbox) Send(_ context.Context, mail identity.Mail) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mails = append(m.mails, mail)
	return nil
}

func (m *mailbox) all() []identity.Mail {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]identity.Mail(nil), m.mails...)
}

// clock is a settable time source.
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

// syncBuffer is a log sink that tolerates concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type fixture struct {
	url   string
	store *storage.Store
	clock *clock
	mail  *mailbox
	logs  *syncBuffer
	svc   *identity.Service
}

// newFixture opens a migrated store on url and a Service on it with fast hashing,
// a frozen clock and an in-memory mailbox; opts adjusts the options.
func newFixture(t *testing.T, url string, opts ...func(*identity.Options)) *fixture {
	t.Helper()
	f := &fixture{
		url:   url,
		store: storagetest.OpenURL(t, url, storage.PoolerNone),
		clock: &clock{t: time.Date(2031, time.January, 2, 3, 4, 5, 0, time.UTC)},
		mail:  &mailbox{},
		logs:  &syncBuffer{},
	}
	f.svc = f.service(f.store, opts...)
	return f
}

// service returns another Service (another instance) sharing the fixture's clock,
// mailbox and log, on store.
func (f *fixture) service(store *storage.Store, opts ...func(*identity.Options)) *identity.Service {
	o := identity.Options{
		Now: f.clock.Now, Params: fastParams, BaseURL: "https://id.example.com/", Mail: f.mail,
		Log: slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, fn := range opts {
		fn(&o)
	}
	return identity.New(store, o)
}

// eachDB runs test on SQLite and on PostgreSQL, each with a new database.
func eachDB(t *testing.T, test func(t *testing.T, url string)) {
	t.Run("SQLite", func(t *testing.T) { test(t, "sqlite:"+filepath.Join(t.TempDir(), "identity.db")) })
	t.Run("PostgreSQL", func(t *testing.T) { test(t, storagetest.NewPostgresDatabase(t)) })
}

func (f *fixture) signUp(t *testing.T, email, password string) storage.User {
	t.Helper()
	u, err := f.svc.SignUp(t.Context(), identity.SignUpInput{Email: email, Password: password, Name: "Test User"})
	if err != nil {
		t.Fatalf("SignUp(%q): %v", email, err)
	}
	return u
}

var tokenInLink = regexp.MustCompile(`https://id\.example\.com(/[a-z-]+)\?token=([A-Za-z0-9_-]{43})`)

// lastLink returns the path and token of the link in the last mail to to.
func (f *fixture) lastLink(t *testing.T, to string) (path, token string) {
	t.Helper()
	mails := f.mail.all()
	for i := len(mails) - 1; i >= 0; i-- {
		if mails[i].To != to {
			continue
		}
		m := tokenInLink.FindStringSubmatch(mails[i].Text)
		if m == nil {
			t.Fatalf("mail to %s has no link: %q", to, mails[i].Text)
		}
		if !strings.Contains(mails[i].HTML, `href="`+m[0]+`"`) {
			t.Errorf("HTML of the mail to %s lacks the link %s:\n%s", to, m[0], mails[i].HTML)
		}
		return m[1], m[2]
	}
	t.Fatalf("no mail to %s", to)
	return "", ""
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: error %v, want %v", what, err, want)
	}
}

func wantThrottled(t *testing.T, what string, err error, retryAfter time.Duration) {
	t.Helper()
	var te *identity.ThrottledError
	if !errors.As(err, &te) {
		t.Fatalf("%s: error %v, want *identity.ThrottledError", what, err)
	}
	if te.RetryAfter != retryAfter {
		t.Errorf("%s: RetryAfter = %v, want %v", what, te.RetryAfter, retryAfter)
	}
}

func TestHashFormatAndCheck(t *testing.T) {
	svc := identity.New(nil, identity.Options{Params: fastParams})
	h1, err := svc.HashPassword("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !phc.MatchString(h1) {
		t.Errorf("HashPassword = %q, want an argon2id PHC string with m=64,t=1,p=1, 16-byte salt, 32-byte key", h1)
	}
	h2, _ := svc.HashPassword("correct horse battery staple")
	if h1 == h2 {
		t.Error("two hashes of one password are equal; want a fresh salt each time")
	}
	for _, tc := range []struct {
		name        string
		pw          string
		ok, rehash  bool
		serviceOpts identity.Params
	}{
		{"right", "correct horse battery staple", true, false, fastParams},
		{"wrong", "correct horse battery stapler", false, false, fastParams},
		{"empty", "", false, false, fastParams},
		{"more memory now", "correct horse battery staple", true, true, identity.Params{MemoryKiB: 128, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}},
		{"more iterations now", "correct horse battery staple", true, true, identity.Params{MemoryKiB: 64, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}},
		{"longer key now", "correct horse battery staple", true, true, identity.Params{MemoryKiB: 64, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 64}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := identity.New(nil, identity.Options{Params: tc.serviceOpts})
			ok, rehash, err := s.CheckPassword(h1, tc.pw)
			if err != nil || ok != tc.ok || rehash != tc.rehash {
				t.Errorf("CheckPassword(%q) = %v, %v, %v; want %v, %v, nil", tc.pw, ok, rehash, err, tc.ok, tc.rehash)
			}
		})
	}
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
		"$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1,x=2$c2FsdHNhbHRzYWx0c2FsdA$aGFzaA",
	} {
		if ok, _, err := svc.CheckPassword(bad, "x"); err == nil || ok {
			t.Errorf("CheckPassword(%q) = %v, %v; want an error", bad, ok, err)
		}
	}
}

// TestDefaultParams hashes with OWASP's parameters, as production does.
func TestDefaultParams(t *testing.T) {
	if got, want := identity.DefaultParams(), (identity.Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}); got != want {
		t.Errorf("DefaultParams() = %+v, want %+v", got, want)
	}
	svc := identity.New(nil, identity.Options{}) // zero Params: the defaults
	h, err := svc.HashPassword("Tr0ub4dor&3-extended")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("HashPassword with default params = %q", h)
	}
	ok, rehash, err := svc.CheckPassword(h, "Tr0ub4dor&3-extended")
	if !ok || rehash || err != nil {
		t.Errorf("CheckPassword = %v, %v, %v; want true, false, nil", ok, rehash, err)
	}
}

func TestValidatePassword(t *testing.T) {
	for _, tc := range []struct {
		name, pw string
		ok       bool
	}{
		{"7 characters", "tulip47", false},
		{"8 characters", "tulip-47", true},
		{"128 characters", strings.Repeat("q7", 64), true},
		{"129 characters", strings.Repeat("q7", 64) + "z", false},
		{"8 two-byte characters", "ääääöööö", true},
		{"7 two-byte characters", "äääöööö", false},
		{"128 three-byte characters", strings.Repeat("語", 128), true},
		{"common", "password", false},
		{"common, other case", "PassWord123", false},
		{"common, full-width", "ｐａｓｓｗｏｒｄ", false}, // NFKC makes it "password"
		{"common keyboard walk", "1qaz2wsx", false},
		{"common digits", "123456789", false},
		{"Cyrillic", "ёжик-в-тумане", true},
		{"emoji", "🦔🦔🦔🦔🌫️🌫️🌫️🌫️", true},
		{"spaces", "a very long passphrase", true},
		{"invalid UTF-8", "abcdefgh\xff", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := identity.ValidatePassword(tc.pw)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidatePassword(%q) = %v, want ok=%v", tc.pw, err, tc.ok)
			}
			var pe *identity.PasswordError
			if err != nil && (!errors.As(err, &pe) || !strings.HasSuffix(pe.Error(), ".")) {
				t.Errorf("ValidatePassword(%q) = %#v, want a *PasswordError with a sentence", tc.pw, err)
			}
		})
	}
}

func TestValidateEmail(t *testing.T) {
	for _, tc := range []struct {
		email string
		ok    bool
	}{
		{"ada@example.com", true},
		{" Ada.Lovelace+tag@Example.co.uk ", true},
		{"", false},
		{"ada", false},
		{"ada@", false},
		{"@example.com", false},
		{"ada@localhost", false},
		{"ada@@example.com", false},
		{"Ada <ada@example.com>", false},
		{"ada lovelace@example.com", false},
		{"ada@exa..mple.com", false},
		{"ada@-example.com", false},
		{strings.Repeat("a", 65) + "@example.com", false},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 185) + ".com", true}, // 254
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com", false},
	} {
		err := identity.ValidateEmail(tc.email)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, identity.ErrInvalidEmail)) {
			t.Errorf("ValidateEmail(%q) = %v, want ok=%v", tc.email, err, tc.ok)
		}
	}
}

func TestThrottledErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{15 * time.Minute, "Too many attempts. Try again in 15 minutes."},
		{14*time.Minute + time.Second, "Too many attempts. Try again in 15 minutes."},
		{time.Second, "Too many attempts. Try again in 1 minute."},
		{0, "Too many attempts. Try again in 1 minute."},
	} {
		if got := (&identity.ThrottledError{RetryAfter: tc.d}).Error(); got != tc.want {
			t.Errorf("ThrottledError{%v}.Error() = %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestSignUp(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		u := f.signUp(t, " Grace.Hopper@Example.com ", "cobol-forever-59")
		if u.Email != "grace.hopper@example.com" || u.EmailVerified || u.Name != "Test User" {
			t.Errorf("SignUp = %+v, want the normalised e-mail, unverified, named", u)
		}
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Errorf("stored hash %q, want argon2id with the service's params", u.PasswordHash)
		}
		mails := f.mail.all()
		if len(mails) != 1 || mails[0].To != u.Email || mails[0].Subject == "" || mails[0].HTML == "" {
			t.Fatalf("mails after sign-up: %+v, want one verification mail to %s", mails, u.Email)
		}
		if path, _ := f.lastLink(t, u.Email); path != "/verify-email" {
			t.Errorf("verification link path %q, want /verify-email", path)
		}

		_, err := f.svc.SignUp(ctx, identity.SignUpInput{Email: "GRACE.HOPPER@example.COM", Password: "another-pass-60"})
		wantErr(t, "SignUp with a taken e-mail in another case", err, identity.ErrEmailTaken)
		_, err = f.svc.SignUp(ctx, identity.SignUpInput{Email: "not an address", Password: "another-pass-60"})
		wantErr(t, "SignUp with a bad e-mail", err, identity.ErrInvalidEmail)
		var pe *identity.PasswordError
		_, err = f.svc.SignUp(ctx, identity.SignUpInput{Email: "short@example.com", Password: "short"})
		if !errors.As(err, &pe) {
			t.Errorf("SignUp with a short password: error %v, want *PasswordError", err)
		}
		_, err = f.svc.SignUp(ctx, identity.SignUpInput{Email: "same.as.email@example.com", Password: "Same.As.Email@example.com"})
		if !errors.As(err, &pe) {
			t.Errorf("SignUp with the e-mail as password: error %v, want *PasswordError", err)
		}
		if n := len(f.mail.all()); n != 1 {
			t.Errorf("%d mails after refused sign-ups, want still 1", n)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		u := f.signUp(t, "ada@example.com", "analytical-engine")

		got, err := f.svc.Authenticate(ctx, " ADA@example.com", "analytical-engine", "192.0.2.1")
		if err != nil || got.ID != u.ID {
			t.Fatalf("Authenticate = %q, %v; want %q", got.ID, err, u.ID)
		}
		_, err = f.svc.Authenticate(ctx, "ada@example.com", "analytical-engine!", "192.0.2.1")
		wantErr(t, "Authenticate with a wrong password", err, identity.ErrInvalidCredentials)
		_, err = f.svc.Authenticate(ctx, "nobody@example.com", "analytical-engine", "192.0.2.1")
		wantErr(t, "Authenticate with an unknown e-mail", err, identity.ErrInvalidCredentials)
		_, err = f.svc.Authenticate(ctx, "ada@example.com", strings.Repeat("x", 1<<20), "192.0.2.1")
		wantErr(t, "Authenticate with a megabyte password", err, identity.ErrInvalidCredentials)

		if err := f.store.UpdateUserDisabled(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.Authenticate(ctx, "ada@example.com", "analytical-engine", "192.0.2.1")
		wantErr(t, "Authenticate a disabled user with the right password", err, identity.ErrDisabled)
		_, err = f.svc.Authenticate(ctx, "ada@example.com", "wrong-password-1", "192.0.2.1")
		wantErr(t, "Authenticate a disabled user with a wrong password", err, identity.ErrInvalidCredentials)
	})
}

func TestUnicodePasswordNormalised(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		composed, decomposed := "Caf\u00e9-Cr\u00e8me-42", "Cafe\u0301-Cre\u0300me-42"
		f.signUp(t, "composed@example.com", composed)
		f.signUp(t, "decomposed@example.com", decomposed)
		for _, tc := range []struct{ email, pw string }{
			{"composed@example.com", composed}, {"composed@example.com", decomposed},
			{"decomposed@example.com", composed}, {"decomposed@example.com", decomposed},
		} {
			if _, err := f.svc.Authenticate(t.Context(), tc.email, tc.pw, ""); err != nil {
				t.Errorf("Authenticate(%s, %+q): %v", tc.email, tc.pw, err)
			}
		}
	})
}

func TestRehashOnParameterChange(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		u := f.signUp(t, "rehash@example.com", "upgrade-me-please")

		stronger := f.service(f.store, func(o *identity.Options) {
			o.Params = identity.Params{MemoryKiB: 128, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
		})
		got, err := stronger.Authenticate(ctx, u.Email, "upgrade-me-please", "")
		if err != nil {
			t.Fatalf("Authenticate with new parameters: %v", err)
		}
		stored, err := f.store.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(stored.PasswordHash, "$argon2id$v=19$m=128,t=2,p=1$") || got.PasswordHash != stored.PasswordHash {
			t.Errorf("after sign-in with new parameters the stored hash is %q (returned %q), want m=128,t=2", stored.PasswordHash, got.PasswordHash)
		}
		// Same parameters: no new hash.
		if _, err := stronger.Authenticate(ctx, u.Email, "upgrade-me-please", ""); err != nil {
			t.Fatal(err)
		}
		again, _ := f.store.GetUser(ctx, u.ID)
		if again.PasswordHash != stored.PasswordHash {
			t.Error("a hash with the current parameters was replaced")
		}
		// A failed sign-in never re-hashes.
		if _, err := f.svc.Authenticate(ctx, u.Email, "not-the-password", ""); !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Fatal(err)
		}
		again, _ = f.store.GetUser(ctx, u.ID)
		if again.PasswordHash != stored.PasswordHash {
			t.Error("a failed sign-in replaced the hash")
		}
	})
}

func TestAccountLockout(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url, func(o *identity.Options) {
			o.AccountFailures, o.FailureWindow, o.LockoutDuration = 3, 15*time.Minute, 15*time.Minute
		})
		ctx := t.Context()
		u := f.signUp(t, "lock@example.com", "right-password-1")

		// A success clears earlier failures.
		for range 2 {
			_, err := f.svc.Authenticate(ctx, u.Email, "wrong", "")
			wantErr(t, "wrong password", err, identity.ErrInvalidCredentials)
		}
		if _, err := f.svc.Authenticate(ctx, u.Email, "right-password-1", ""); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 3; i++ {
			f.clock.Advance(time.Minute)
			_, err := f.svc.Authenticate(ctx, u.Email, "wrong", "")
			wantErr(t, "wrong password within the limit", err, identity.ErrInvalidCredentials)
		}
		// The failure past the limit locks, and says so.
		_, err := f.svc.Authenticate(ctx, u.Email, "wrong", "")
		wantThrottled(t, "failure 4 of 3", err, 15*time.Minute)
		// Locked: even the right password is refused, before it is checked.
		f.clock.Advance(10 * time.Minute)
		_, err = f.svc.Authenticate(ctx, u.Email, "right-password-1", "")
		wantThrottled(t, "right password while locked", err, 5*time.Minute)
		if err.Error() != "Too many attempts. Try again in 5 minutes." {
			t.Errorf("message %q", err.Error())
		}
		// Another address is not affected.
		other := f.signUp(t, "other@example.com", "right-password-2")
		if _, err := f.svc.Authenticate(ctx, other.Email, "right-password-2", ""); err != nil {
			t.Errorf("another account while one is locked: %v", err)
		}
		f.clock.Advance(5 * time.Minute)
		if _, err := f.svc.Authenticate(ctx, u.Email, "right-password-1", ""); err != nil {
			t.Errorf("Authenticate when the lock ended: %v", err)
		}

		// Unknown addresses lock the same way, so lockout does not reveal which exist.
		for range 3 {
			_, err := f.svc.Authenticate(ctx, "ghost@example.com", "wrong", "")
			wantErr(t, "unknown e-mail", err, identity.ErrInvalidCredentials)
		}
		_, err = f.svc.Authenticate(ctx, "Ghost@Example.com", "wrong", "")
		wantThrottled(t, "unknown e-mail, failure 4 of 3", err, 15*time.Minute)
	})
}

// TestLockoutSharedByInstances runs two Services, each on its own connection pool,
// against one database: failures made through either count together.
func TestLockoutSharedByInstances(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		limits := func(o *identity.Options) { o.AccountFailures, o.IPFailures = 4, 100 }
		f := newFixture(t, url, limits)
		second := f.service(storagetest.OpenURL(t, url, storage.PoolerNone), limits)
		ctx := t.Context()
		u := f.signUp(t, "shared@example.com", "right-password-3")
		instances := []*identity.Service{f.svc, second}
		for i := range 4 {
			_, err := instances[i%2].Authenticate(ctx, u.Email, "wrong", "198.51.100.7")
			wantErr(t, "wrong password", err, identity.ErrInvalidCredentials)
		}
		_, err := second.Authenticate(ctx, u.Email, "wrong", "198.51.100.8")
		wantThrottled(t, "fifth failure on the second instance", err, 15*time.Minute)
		f.clock.Advance(time.Minute)
		_, err = f.svc.Authenticate(ctx, u.Email, "right-password-3", "198.51.100.9")
		wantThrottled(t, "the first instance sees the lock", err, 14*time.Minute)
	})
}

func TestIPThrottle(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url, func(o *identity.Options) {
			o.AccountFailures, o.IPFailures, o.LockoutDuration = 100, 4, 20*time.Minute
		})
		ctx := t.Context()
		victim := f.signUp(t, "victim@example.com", "right-password-4")
		const attacker = "203.0.113.66"
		for i, email := range []string{"a@example.com", "b@example.com", victim.Email, "c@example.com"} {
			_, err := f.svc.Authenticate(ctx, email, "guess", attacker)
			if !errors.Is(err, identity.ErrInvalidCredentials) {
				t.Fatalf("guess %d from one address: error %v, want ErrInvalidCredentials", i+1, err)
			}
		}
		_, err := f.svc.Authenticate(ctx, "d@example.com", "guess", attacker)
		wantThrottled(t, "fifth guess from one address", err, 20*time.Minute)
		_, err = f.svc.Authenticate(ctx, victim.Email, "right-password-4", attacker)
		wantThrottled(t, "the right password from the blocked address", err, 20*time.Minute)
		if _, err := f.svc.Authenticate(ctx, victim.Email, "right-password-4", "2001:db8::1"); err != nil {
			t.Errorf("the account from another address: %v", err)
		}
	})
}

func TestVerifyEmail(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		u := f.signUp(t, "verify@example.com", "verify-me-please")
		_, token := f.lastLink(t, u.Email)

		got, err := f.svc.VerifyEmail(ctx, token)
		if err != nil || got.ID != u.ID || !got.EmailVerified {
			t.Fatalf("VerifyEmail = %+v, %v; want the user, verified", got, err)
		}
		_, err = f.svc.VerifyEmail(ctx, token)
		wantErr(t, "VerifyEmail a second time", err, identity.ErrInvalidToken)
		for _, bad := range []string{"", "short", strings.Repeat("A", 43), token + "x"} {
			_, err = f.svc.VerifyEmail(ctx, bad)
			wantErr(t, "VerifyEmail("+bad+")", err, identity.ErrInvalidToken)
		}

		// Expiry: 48 hours by default.
		if err := f.store.UpdateUserEmailVerified(ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.SendVerification(ctx, u); err != nil {
			t.Fatal(err)
		}
		_, late := f.lastLink(t, u.Email)
		if err := f.svc.SendVerification(ctx, u); err != nil {
			t.Fatal(err)
		}
		_, early := f.lastLink(t, u.Email)
		f.clock.Advance(48*time.Hour - time.Second)
		if _, err := f.svc.VerifyEmail(ctx, early); err != nil {
			t.Errorf("VerifyEmail a second before expiry: %v", err)
		}
		f.clock.Advance(time.Second)
		_, err = f.svc.VerifyEmail(ctx, late)
		wantErr(t, "VerifyEmail after 48 hours", err, identity.ErrInvalidToken)

		if logs := f.logs.String(); strings.Contains(logs, token) || strings.Contains(logs, late) || strings.Contains(logs, early) {
			t.Errorf("a token reached the log:\n%s", logs)
		}
	})
}

// insertRefreshToken stores an active refresh token of subject, as the protocol
// layer would, so that a test can see it revoked.
func insertRefreshToken(t *testing.T, s *storage.Store, subject, signature string) {
	t.Helper()
	ctx := t.Context()
	if _, err := s.GetClientRecord(ctx, "identity-test"); errors.Is(err, storage.ErrNotFound) {
		if _, err := s.CreateClient(ctx, storage.Client{ID: "identity-test", Name: "Test"}); err != nil {
			t.Fatalf("CreateClient: %v", err)
		}
	}
	_, err := s.DB().ExecContext(ctx, placeholders(s, `INSERT INTO refresh_tokens
(signature, request_id, requested_at, client_id, subject, requested_scopes, granted_scopes, requested_audience, granted_audience, active, expires_at, form, session, access_token_signature)
VALUES (?, ?, ?, ?, ?, '', '', '', '', ?, ?, ?, ?, '')`),
		signature, "req-"+signature, time.Now().UTC(), "identity-test", subject, true, time.Now().UTC().Add(time.Hour), []byte{1}, []byte{1})
	if err != nil {
		t.Fatalf("insert refresh token: %v", err)
	}
}

func refreshTokenActive(t *testing.T, s *storage.Store, signature string) bool {
	t.Helper()
	var active bool
	if err := s.DB().QueryRowContext(t.Context(), placeholders(s, "SELECT active FROM refresh_tokens WHERE signature = ?"), signature).Scan(&active); err != nil {
		t.Fatalf("read refresh token: %v", err)
	}
	return active
}

// placeholders turns ? into $1, $2, … for PostgreSQL.
func placeholders(s *storage.Store, q string) string {
	if s.Dialect() != storage.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func createSession(t *testing.T, s *storage.Store, userID string, now time.Time) []byte {
	t.Helper()
	hash := []byte("session-" + userID)
	_, err := s.CreateSession(t.Context(), storage.BrowserSession{
		TokenHash: hash, UserID: userID, AuthTime: now, AMR: "pwd", LastSeenAt: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour),
	})
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return hash
}

func TestResetPassword(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		u := f.signUp(t, "reset@example.com", "forgotten-password")
		bystander := f.signUp(t, "bystander@example.com", "bystander-password")
		sessionHash := createSession(t, f.store, u.ID, f.clock.Now())
		createSession(t, f.store, bystander.ID, f.clock.Now())
		insertRefreshToken(t, f.store, u.ID, "rt-user")
		insertRefreshToken(t, f.store, bystander.ID, "rt-bystander")
		// Some failures, to see the reset lift them.
		for range 3 {
			f.svc.Authenticate(ctx, u.Email, "wrong", "")
		}

		if err := f.svc.RequestPasswordReset(ctx, "Reset@Example.com", "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		path, first := f.lastLink(t, u.Email)
		if path != "/reset-password" {
			t.Errorf("reset link path %q", path)
		}
		// A second request revokes the first link.
		if err := f.svc.RequestPasswordReset(ctx, u.Email, "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
		_, token := f.lastLink(t, u.Email)
		_, err := f.svc.ResetPassword(ctx, first, "brand-new-password")
		wantErr(t, "ResetPassword with the older link", err, identity.ErrInvalidToken)

		// A refused password keeps the link usable.
		var pe *identity.PasswordError
		if _, err := f.svc.ResetPassword(ctx, token, "qwerty123"); !errors.As(err, &pe) {
			t.Errorf("ResetPassword with a common password: error %v, want *PasswordError", err)
		}
		if _, err := f.svc.ResetPassword(ctx, token, "reset@example.com"); !errors.As(err, &pe) {
			t.Errorf("ResetPassword with the e-mail as password: error %v, want *PasswordError", err)
		}

		got, err := f.svc.ResetPassword(ctx, token, "brand-new-password")
		if err != nil || got.ID != u.ID {
			t.Fatalf("ResetPassword = %q, %v; want %q", got.ID, err, u.ID)
		}
		if !got.EmailVerified {
			t.Error("ResetPassword did not mark the e-mail verified")
		}
		_, err = f.svc.ResetPassword(ctx, token, "another-new-password")
		wantErr(t, "ResetPassword a second time", err, identity.ErrInvalidToken)

		if _, err := f.svc.Authenticate(ctx, u.Email, "brand-new-password", ""); err != nil {
			t.Errorf("Authenticate with the new password: %v", err)
		}
		_, err = f.svc.Authenticate(ctx, u.Email, "forgotten-password", "")
		wantErr(t, "Authenticate with the old password", err, identity.ErrInvalidCredentials)

		if _, err := f.store.GetSessionByTokenHash(ctx, sessionHash, f.clock.Now()); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the user's session after reset: error %v, want ErrNotFound", err)
		}
		if s, _ := f.store.ListUserSessions(ctx, bystander.ID, f.clock.Now()); len(s) != 1 {
			t.Errorf("another user's sessions after reset: %d, want 1", len(s))
		}
		if refreshTokenActive(t, f.store, "rt-user") {
			t.Error("the user's refresh token is active after reset")
		}
		if !refreshTokenActive(t, f.store, "rt-bystander") {
			t.Error("another user's refresh token was revoked")
		}
		if logs := f.logs.String(); strings.Contains(logs, token) || strings.Contains(logs, first) {
			t.Errorf("a token reached the log:\n%s", logs)
		}
	})
}

func TestResetPasswordExpiry(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		u := f.signUp(t, "expiry@example.com", "forgotten-password")
		if err := f.svc.RequestPasswordReset(ctx, u.Email, ""); err != nil {
			t.Fatal(err)
		}
		_, token := f.lastLink(t, u.Email)
		f.clock.Advance(30 * time.Minute)
		_, err := f.svc.ResetPassword(ctx, token, "brand-new-password")
		wantErr(t, "ResetPassword after 30 minutes", err, identity.ErrInvalidToken)

		if err := f.svc.RequestPasswordReset(ctx, u.Email, ""); err != nil {
			t.Fatal(err)
		}
		_, token = f.lastLink(t, u.Email)
		f.clock.Advance(30*time.Minute - time.Second)
		if _, err := f.svc.ResetPassword(ctx, token, "brand-new-password"); err != nil {
			t.Errorf("ResetPassword a second before expiry: %v", err)
		}
	})
}

func TestResetPasswordUnknownEmail(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		disabled := f.signUp(t, "disabled@example.com", "some-password-5")
		if err := f.store.UpdateUserDisabled(ctx, disabled.ID, true); err != nil {
			t.Fatal(err)
		}
		before := len(f.mail.all())
		for _, email := range []string{"nobody@example.com", "not even an address", disabled.Email} {
			if err := f.svc.RequestPasswordReset(ctx, email, "192.0.2.1"); err != nil {
				t.Errorf("RequestPasswordReset(%q) = %v, want nil", email, err)
			}
		}
		if n := len(f.mail.all()); n != before {
			t.Errorf("%d mails sent for unknown or disabled addresses, want none", n-before)
		}
	})
}

func TestResetMailsRationed(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url, func(o *identity.Options) { o.AccountFailures = 2 })
		ctx := t.Context()
		u := f.signUp(t, "flood@example.com", "some-password-6")
		before := len(f.mail.all())
		for range 5 {
			if err := f.svc.RequestPasswordReset(ctx, u.Email, "192.0.2.9"); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(f.mail.all()) - before; n != 2 {
			t.Errorf("5 reset requests sent %d mails, want 2", n)
		}
		f.clock.Advance(16 * time.Minute)
		if err := f.svc.RequestPasswordReset(ctx, u.Email, "192.0.2.9"); err != nil {
			t.Fatal(err)
		}
		if n := len(f.mail.all()) - before; n != 3 {
			t.Errorf("after the window, %d mails in all, want 3", n)
		}
	})
}

func TestChangeAndSetPassword(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url, func(o *identity.Options) { o.AccountFailures = 2 })
		ctx := t.Context()
		u := f.signUp(t, "change@example.com", "first-password-1")

		err := f.svc.ChangePassword(ctx, u.ID, "wrong-current", "second-password-2")
		wantErr(t, "ChangePassword with a wrong current password", err, identity.ErrInvalidCredentials)
		var pe *identity.PasswordError
		if err := f.svc.ChangePassword(ctx, u.ID, "first-password-1", "short"); !errors.As(err, &pe) {
			t.Errorf("ChangePassword to a short password: error %v, want *PasswordError", err)
		}
		if err := f.svc.ChangePassword(ctx, u.ID, "first-password-1", "second-password-2"); err != nil {
			t.Fatalf("ChangePassword: %v", err)
		}
		if _, err := f.svc.Authenticate(ctx, u.Email, "second-password-2", ""); err != nil {
			t.Errorf("Authenticate with the changed password: %v", err)
		}

		// Guessing the current password is throttled like signing in.
		for range 2 {
			f.svc.ChangePassword(ctx, u.ID, "guess", "third-password-3")
		}
		err = f.svc.ChangePassword(ctx, u.ID, "guess", "third-password-3")
		wantThrottled(t, "third wrong current password", err, 15*time.Minute)

		// An operator's SetPassword lifts the lock.
		if err := f.svc.SetPassword(ctx, u.ID, "set-by-admin-4"); err != nil {
			t.Fatalf("SetPassword: %v", err)
		}
		if _, err := f.svc.Authenticate(ctx, u.Email, "set-by-admin-4", ""); err != nil {
			t.Errorf("Authenticate after SetPassword: %v", err)
		}
		if err := f.svc.SetPassword(ctx, u.ID, "password1"); !errors.As(err, &pe) {
			t.Errorf("SetPassword to a common password: error %v, want *PasswordError", err)
		}
		if err := f.svc.SetPassword(ctx, "00000000-0000-4000-8000-000000000000", "set-by-admin-5"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("SetPassword of a missing user: error %v, want storage.ErrNotFound", err)
		}
	})
}

func TestUpdateProfile(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		u := f.signUp(t, "profile@example.com", "profile-password")
		got, err := f.svc.UpdateProfile(ctx, u.ID, identity.Profile{
			Name: " Ada Lovelace ", GivenName: "Ada", FamilyName: "Lovelace", Picture: "https://example.com/ada.png", Locale: "en-gb",
		})
		if err != nil {
			t.Fatalf("UpdateProfile: %v", err)
		}
		if got.Name != "Ada Lovelace" || got.GivenName != "Ada" || got.FamilyName != "Lovelace" ||
			got.Picture != "https://example.com/ada.png" || got.Locale != "en-GB" || got.PasswordHash != u.PasswordHash {
			t.Errorf("UpdateProfile = %+v", got)
		}
		for _, tc := range []struct {
			field string
			p     identity.Profile
		}{
			{"picture", identity.Profile{Picture: "javascript:alert(1)"}},
			{"picture", identity.Profile{Picture: "/relative.png"}},
			{"locale", identity.Profile{Locale: "not a locale"}},
			{"name", identity.Profile{Name: strings.Repeat("n", 257)}},
		} {
			var pe *identity.ProfileError
			if _, err := f.svc.UpdateProfile(ctx, u.ID, tc.p); !errors.As(err, &pe) || pe.Field != tc.field {
				t.Errorf("UpdateProfile(%+v): error %v, want *ProfileError for %s", tc.p, err, tc.field)
			}
		}
	})
}
