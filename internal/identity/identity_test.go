package identity_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
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

// signUp signs a new address up (from no known client address) and returns
// the user it made.
func (f *fixture) signUp(t *testing.T, email, password string) storage.User {
	t.Helper()
	u, _ := f.signUpTicket(t, email, password, "")
	return u
}

// signUpTicket signs up from ip and returns the stored user and the browser's
// ticket.
func (f *fixture) signUpTicket(t *testing.T, email, password, ip string) (storage.User, string) {
	t.Helper()
	ticket, err := f.svc.SignUp(t.Context(), identity.SignUpInput{Email: email, Password: password, Name: "Test User"}, ip)
	if err != nil {
		t.Fatalf("SignUp(%q): %v", email, err)
	}
	u, err := f.store.GetUserByEmail(t.Context(), email)
	if err != nil {
		t.Fatalf("the user SignUp(%q) made: %v", email, err)
	}
	return u, ticket
}

var tokenInLink = regexp.MustCompile(`https://id\.example\.com(/[a-z-]+)\?token=([A-Za-z0-9_-]{43})(&[^\s"]*)?`)

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
		if !strings.Contains(mails[i].HTML, `href="`+htmlEscaper.Replace(m[0])+`"`) {
			t.Errorf("HTML of the mail to %s lacks the link %s:\n%s", to, m[0], mails[i].HTML)
		}
		return m[1], m[2]
	}
	t.Fatalf("no mail to %s", to)
	return "", ""
}

// htmlEscaper writes a link as html/template puts it in an attribute.
var htmlEscaper = strings.NewReplacer("&", "&amp;")

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
		{"\uff41\uff44\uff41@example.com", true}, // full-width: stored as ada@example.com
		{"ada\ufe64@example.com", false},         // a small "<" that NFKC makes "<"
		{"ada@example\u2024com", true},           // one dot leader: NFKC makes it a dot
		{"ada@example\ufe6bcom.org", false},      // small "@": NFKC makes two
	} {
		err := identity.ValidateEmail(tc.email)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, identity.ErrInvalidEmail)) {
			t.Errorf("ValidateEmail(%q) = %v, want ok=%v", tc.email, err, tc.ok)
		}
	}
}

func TestThrottledErrorMessage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		d      time.Duration
		reason identity.ThrottleReason
		want   string
	}{
		{"address", 15 * time.Minute, identity.ThrottleAddress, "Too many attempts from your network. Try again in 15 minutes."},
		{"rounded up", 14*time.Minute + time.Second, identity.ThrottleAddress, "Too many attempts from your network. Try again in 15 minutes."},
		{"one minute", time.Second, identity.ThrottleAddress, "Too many attempts from your network. Try again in 1 minute."},
		{"zero", 0, identity.ThrottleAddress, "Too many attempts from your network. Try again in 1 minute."},
		{"account: a reset unlocks", 5 * time.Minute, identity.ThrottleAccount, "Too many failed attempts. Try again in 5 minutes, or reset your password to unlock your account now."},
		{"mail", 42 * time.Minute, identity.ThrottleMail, "Too many e-mails were asked for. Try again in 42 minutes."},
		{"sign-up", time.Hour, identity.ThrottleSignUp, "Too many accounts were created from your network. Try again in 60 minutes."},
		{"second factor: no reset promised", 15 * time.Minute, identity.ThrottleSecondFactor, "Too many wrong codes. Try again in 15 minutes."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (&identity.ThrottledError{RetryAfter: tc.d, Reason: tc.reason}).Error(); got != tc.want {
				t.Errorf("ThrottledError{%v, %v}.Error() = %q, want %q", tc.d, tc.reason, got, tc.want)
			}
		})
	}
}

// ticketPattern is what SignUp gives the browser, whatever the address.
var ticketPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestSignUp(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		u, ticket := f.signUpTicket(t, " Grace.Hopper@Example.com ", "cobol-forever-59", "192.0.2.1")
		if u.Email != "grace.hopper@example.com" || u.EmailVerified || u.Name != "Test User" {
			t.Errorf("SignUp stored %+v, want the normalised e-mail, unverified, named", u)
		}
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
			t.Errorf("stored hash %q, want argon2id with the service's params", u.PasswordHash)
		}
		if !ticketPattern.MatchString(ticket) {
			t.Errorf("ticket %q, want 43 base64url characters", ticket)
		}
		mails := f.mail.all()
		if len(mails) != 1 || mails[0].To != u.Email || mails[0].Subject != "Verify your e-mail address for Gatehouse" || mails[0].HTML == "" {
			t.Fatalf("mails after sign-up: %+v, want one verification mail to %s", mails, u.Email)
		}
		if path, _ := f.lastLink(t, u.Email); path != "/verify-email" {
			t.Errorf("verification link path %q, want /verify-email", path)
		}

		_, err := f.svc.SignUp(ctx, identity.SignUpInput{Email: "not an address", Password: "another-pass-60"}, "192.0.2.1")
		wantErr(t, "SignUp with a bad e-mail", err, identity.ErrInvalidEmail)
		var pe *identity.PasswordError
		_, err = f.svc.SignUp(ctx, identity.SignUpInput{Email: "short@example.com", Password: "short"}, "192.0.2.1")
		if !errors.As(err, &pe) {
			t.Errorf("SignUp with a short password: error %v, want *PasswordError", err)
		}
		_, err = f.svc.SignUp(ctx, identity.SignUpInput{Email: "same.as.email@example.com", Password: "Same.As.Email@example.com"}, "192.0.2.1")
		if !errors.As(err, &pe) {
			t.Errorf("SignUp with the e-mail as password: error %v, want *PasswordError", err)
		}
		var prof *identity.ProfileError
		_, err = f.svc.SignUp(ctx, identity.SignUpInput{Email: "long.name@example.com", Password: "another-pass-60", Name: strings.Repeat("n", 300)}, "192.0.2.1")
		if !errors.As(err, &prof) {
			t.Errorf("SignUp with a long name: error %v, want *ProfileError", err)
		}
		if n := len(f.mail.all()); n != 1 {
			t.Errorf("%d mails after refused sign-ups, want still 1", n)
		}
		if us, _ := f.store.ListUsers(ctx, storage.ListUsersOptions{}); len(us) != 1 {
			t.Errorf("%d users after refused sign-ups, want 1", len(us))
		}
	})
}

// TestSignUpTakenAddress: signing up with a registered address (in any case or
// Unicode form) answers exactly as for a new one, changes nothing of the
// account, and mails its owner a notice instead of a verification link.
func TestSignUpTakenAddress(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		owner, err := f.svc.CreateUser(ctx, identity.SignUpInput{Email: "grace@example.com", Password: "cobol-forever-59", Name: "Grace"}, true)
		if err != nil {
			t.Fatal(err)
		}
		newTicket, newErr := f.svc.SignUp(ctx, identity.SignUpInput{Email: "new@example.com", Password: "another-pass-60"}, "192.0.2.1")
		for _, email := range []string{"GRACE@Example.COM", "\uff47race@example.com"} {
			ticket, err := f.svc.SignUp(ctx, identity.SignUpInput{Email: email, Password: "another-pass-60", Name: "Mallory"}, "192.0.2.1")
			if err != nil || newErr != nil {
				t.Fatalf("SignUp(%+q) = %v, SignUp(new@example.com) = %v; want nil for both", email, err, newErr)
			}
			if !ticketPattern.MatchString(ticket) || !ticketPattern.MatchString(newTicket) || ticket == newTicket {
				t.Errorf("tickets %q (taken) and %q (new): want two different 43-character tickets", ticket, newTicket)
			}
		}
		us, err := f.store.ListUsers(ctx, storage.ListUsersOptions{})
		if err != nil || len(us) != 2 {
			t.Fatalf("users after the sign-ups: %d, %v; want grace and new", len(us), err)
		}
		got, err := f.store.GetUser(ctx, owner.ID)
		if err != nil || got.PasswordHash != owner.PasswordHash || got.Name != "Grace" || !got.EmailVerified {
			t.Errorf("the owner's account changed: %+v, %v", got, err)
		}
		if _, err := f.svc.Authenticate(ctx, owner.Email, "another-pass-60", ""); !errors.Is(err, identity.ErrInvalidCredentials) {
			t.Errorf("the sign-up's password signs in to the owner's account: %v", err)
		}
		var notices int
		for _, m := range f.mail.all() {
			if m.To != owner.Email {
				continue
			}
			notices++
			if m.Subject != "Someone tried to sign up for Gatehouse with your e-mail address" ||
				!strings.Contains(m.Text, "https://id.example.com/signin?login_hint=grace%40example.com") ||
				!strings.Contains(m.Text, "https://id.example.com/forgot-password") ||
				strings.Contains(m.Text, "token=") || strings.Contains(m.Text, "Mallory") {
				t.Errorf("mail to the owner: %q\n%s", m.Subject, m.Text)
			}
		}
		if notices != 2 {
			t.Errorf("%d mails to the owner, want 2 notices", notices)
		}

		// A disabled owner hears nothing; the answer is the same.
		if err := f.store.UpdateUserDisabled(ctx, owner.ID, true); err != nil {
			t.Fatal(err)
		}
		before := len(f.mail.all())
		if ticket, err := f.svc.SignUp(ctx, identity.SignUpInput{Email: owner.Email, Password: "another-pass-60"}, "192.0.2.2"); err != nil || !ticketPattern.MatchString(ticket) {
			t.Errorf("SignUp with a disabled user's address = %q, %v", ticket, err)
		}
		if n := len(f.mail.all()) - before; n != 0 {
			t.Errorf("%d mails for a disabled user's address, want none", n)
		}
	})
}

// TestVerifyEmailInTheSignUpBrowser: the link signs the person in only with the
// ticket of the sign-up that mailed it, and carries the pending authorization.
func TestVerifyEmailInTheSignUpBrowser(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		const cont = "https://id.example.com/oauth2/authorize?client_id=app&state=s-1&scope=openid+email"
		signUp := func(email string) (string, string) {
			t.Helper()
			ticket, err := f.svc.SignUp(ctx, identity.SignUpInput{Email: email, Password: "verify-me-please", Continue: cont}, "")
			if err != nil {
				t.Fatal(err)
			}
			_, token := f.lastLink(t, email)
			return ticket, token
		}
		ticketA, tokenA := signUp("a@example.com")
		ticketB, tokenB := signUp("b@example.com")

		mails := f.mail.all()
		link := tokenInLink.FindString(mails[len(mails)-1].Text)
		if u, err := neturl.Parse(link); err != nil || u.Query().Get("continue") != cont || u.Query().Get("token") != tokenB {
			t.Errorf("verification link %q, want the token and continue=%q", link, cont)
		}

		v, err := f.svc.VerifyEmail(ctx, tokenA, ticketB)
		if err != nil || v.User.Email != "a@example.com" || !v.User.EmailVerified || v.SignIn {
			t.Errorf("VerifyEmail(a's link, b's ticket) = %+v, %v; want a verified, not signed in", v, err)
		}
		v, err = f.svc.VerifyEmail(ctx, tokenB, ticketB)
		if err != nil || v.User.Email != "b@example.com" || !v.SignIn {
			t.Errorf("VerifyEmail(b's link, b's ticket) = %+v, %v; want b, signed in", v, err)
		}
		if _, err := f.svc.VerifyEmail(ctx, tokenB, ticketB); !errors.Is(err, identity.ErrInvalidToken) {
			t.Errorf("VerifyEmail with b's link again: %v, want ErrInvalidToken", err)
		}

		// A link sent again from the account page is not bound to any browser.
		a, _ := f.store.GetUserByEmail(ctx, "a@example.com")
		if err := f.store.UpdateUserEmailVerified(ctx, a.ID, false); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.SendVerification(ctx, a, ""); err != nil {
			t.Fatal(err)
		}
		_, resent := f.lastLink(t, a.Email)
		if v, err := f.svc.VerifyEmail(ctx, resent, ticketA); err != nil || v.SignIn {
			t.Errorf("VerifyEmail(resent link, a's ticket) = %+v, %v; want verified, not signed in", v, err)
		}

		// Nor does it sign in a disabled user, or without a ticket.
		ticketC, tokenC := signUp("c@example.com")
		c, _ := f.store.GetUserByEmail(ctx, "c@example.com")
		if err := f.store.UpdateUserDisabled(ctx, c.ID, true); err != nil {
			t.Fatal(err)
		}
		if v, err := f.svc.VerifyEmail(ctx, tokenC, ticketC); err != nil || v.SignIn {
			t.Errorf("VerifyEmail of a disabled user = %+v, %v; want not signed in", v, err)
		}
		_, tokenD := signUp("d@example.com")
		for _, bad := range []string{"", "short", strings.Repeat("A", 43)} {
			if v, err := f.svc.VerifyEmail(ctx, tokenD, bad); err != nil || v.SignIn {
				t.Errorf("VerifyEmail with ticket %q = %+v, %v; want not signed in", bad, v, err)
			}
			_, tokenD = signUp(fmt.Sprintf("d%d@example.com", len(bad)))
		}
		if logs := f.logs.String(); strings.Contains(logs, ticketA) || strings.Contains(logs, ticketB) || strings.Contains(logs, tokenB) {
			t.Errorf("a ticket or token reached the log:\n%s", logs)
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
		if err.Error() != "Too many failed attempts. Try again in 5 minutes, or reset your password to unlock your account now." {
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
		_, err := second.Authenticate(ctx, u.Email, "wrong", "198.51.100.7")
		wantThrottled(t, "fifth failure on the second instance", err, 15*time.Minute)
		f.clock.Advance(time.Minute)
		_, err = f.svc.Authenticate(ctx, u.Email, "right-password-3", "198.51.100.7")
		wantThrottled(t, "the first instance sees the lock", err, 14*time.Minute)
	})
}

// TestLockoutPerClientAddress: wrong passwords from one address lock the
// account for that address only. The owner, elsewhere, signs in with the right
// password and has failures of their own; a password reset lifts the lock for
// every address. Unknown addresses behave alike, so nothing tells them apart.
func TestLockoutPerClientAddress(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url, func(o *identity.Options) {
			o.AccountFailures, o.IPFailures, o.LockoutDuration = 3, 100, 15*time.Minute
		})
		ctx := t.Context()
		u := f.signUp(t, "owner@example.com", "right-password-7")
		const attacker, owner = "203.0.113.66", "2001:db8::20"
		attempts := func(email, ip string) []error {
			var errs []error
			for range 4 {
				_, err := f.svc.Authenticate(ctx, email, "wrong", ip)
				errs = append(errs, err)
			}
			return errs
		}
		for _, email := range []string{u.Email, "ghost@example.com"} {
			errs := attempts(email, attacker)
			for i, err := range errs[:3] {
				wantErr(t, fmt.Sprintf("%s: wrong password %d of 3 from the attacker", email, i+1), err, identity.ErrInvalidCredentials)
			}
			wantThrottled(t, email+": failure 4 of 3 from the attacker", errs[3], 15*time.Minute)
			var te *identity.ThrottledError
			if errors.As(errs[3], &te) && (te.Reason != identity.ThrottleAccount || !strings.Contains(te.Error(), "reset your password")) {
				t.Errorf("%s: lock %v %q, want ThrottleAccount saying a reset unlocks", email, te.Reason, te.Error())
			}
			// From the owner's address the account is not locked: wrong
			// passwords there count on their own.
			_, err := f.svc.Authenticate(ctx, email, "wrong", owner)
			wantErr(t, email+": a wrong password from the owner's address", err, identity.ErrInvalidCredentials)
		}
		_, err := f.svc.Authenticate(ctx, u.Email, "right-password-7", attacker)
		wantThrottled(t, "the right password from the locked address", err, 15*time.Minute)
		if got, err := f.svc.Authenticate(ctx, u.Email, "right-password-7", owner); err != nil || got.ID != u.ID {
			t.Fatalf("the owner from their own address while the attacker's is locked: %v", err)
		}

		// A reset lifts the lock for every address.
		if err := f.svc.RequestPasswordReset(ctx, u.Email, owner); err != nil {
			t.Fatal(err)
		}
		_, token := f.lastLink(t, u.Email)
		if _, err := f.svc.ResetPassword(ctx, token, "brand-new-password-8"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Authenticate(ctx, u.Email, "brand-new-password-8", attacker); err != nil {
			t.Errorf("after a reset, from the address that was locked: %v", err)
		}
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
		var te *identity.ThrottledError
		if errors.As(err, &te) && te.Reason != identity.ThrottleAddress {
			t.Errorf("blocked address: reason %v, want ThrottleAddress (a reset does not lift it)", te.Reason)
		}
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

		got, err := f.svc.VerifyEmail(ctx, token, "")
		if err != nil || got.User.ID != u.ID || !got.User.EmailVerified || got.SignIn {
			t.Fatalf("VerifyEmail = %+v, %v; want the user, verified, not signed in (no ticket)", got, err)
		}
		_, err = f.svc.VerifyEmail(ctx, token, "")
		wantErr(t, "VerifyEmail a second time", err, identity.ErrInvalidToken)
		for _, bad := range []string{"", "short", strings.Repeat("A", 43), token + "x"} {
			_, err = f.svc.VerifyEmail(ctx, bad, "")
			wantErr(t, "VerifyEmail("+bad+")", err, identity.ErrInvalidToken)
		}

		// Expiry: 48 hours by default.
		if err := f.store.UpdateUserEmailVerified(ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.SendVerification(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
		_, late := f.lastLink(t, u.Email)
		if err := f.svc.SendVerification(ctx, u, ""); err != nil {
			t.Fatal(err)
		}
		_, early := f.lastLink(t, u.Email)
		f.clock.Advance(48*time.Hour - time.Second)
		if _, err := f.svc.VerifyEmail(ctx, early, ""); err != nil {
			t.Errorf("VerifyEmail a second before expiry: %v", err)
		}
		f.clock.Advance(time.Second)
		_, err = f.svc.VerifyEmail(ctx, late, "")
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
	return createSessionNamed(t, s, userID, "", now).TokenHash
}

// createSessionNamed stores a session of userID whose token hash is made of
// name, so that one user may have several.
func createSessionNamed(t *testing.T, s *storage.Store, userID, name string, now time.Time) storage.BrowserSession {
	t.Helper()
	bs, err := s.CreateSession(t.Context(), storage.BrowserSession{
		TokenHash: []byte("session-" + userID + name), UserID: userID, AuthTime: now, AMR: "pwd", LastSeenAt: now,
		IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(24 * time.Hour),
	})
	if err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return bs
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

// TestMailRationedPerAddress: reset and verification mails to one address share
// a budget; past it the request is refused with the time left and nothing is
// sent. Unknown addresses are counted and refused exactly alike.
func TestMailRationedPerAddress(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url, func(o *identity.Options) { o.MailPerAddress, o.MailPerIP = 3, 100 })
		ctx := t.Context()
		known, err := f.svc.CreateUser(ctx, identity.SignUpInput{Email: "flood@example.com", Password: "some-password-6"}, false)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			ip := fmt.Sprintf("192.0.2.%d", i+1)
			for _, email := range []string{known.Email, "ghost@example.com"} {
				if err := f.svc.RequestPasswordReset(ctx, email, ip); err != nil {
					t.Fatalf("reset %d of 3 for %s: %v", i+1, email, err)
				}
			}
			f.clock.Advance(10 * time.Minute)
		}
		for _, email := range []string{known.Email, "FLOOD@Example.com", "\uff46lood@example.com", "ghost@example.com", "Ghost@example.com"} {
			err := f.svc.RequestPasswordReset(ctx, email, "198.51.100.1")
			wantThrottled(t, "fourth reset for "+email, err, 30*time.Minute)
			var te *identity.ThrottledError
			if errors.As(err, &te) && te.Reason != identity.ThrottleMail {
				t.Errorf("fourth reset for %s: reason %v, want ThrottleMail", email, te.Reason)
			}
		}
		// Verification mail shares the budget.
		err = f.svc.SendVerification(ctx, known, "198.51.100.1")
		wantThrottled(t, "verification past the budget", err, 30*time.Minute)
		if n := len(f.mail.all()); n != 3 {
			t.Errorf("%d mails sent, want 3 (the unknown address gets none, refusals none)", n)
		}
		f.clock.Advance(30 * time.Minute)
		if err := f.svc.SendVerification(ctx, known, "198.51.100.1"); err != nil {
			t.Errorf("verification after the hour: %v", err)
		}
		if n := len(f.mail.all()); n != 4 {
			t.Errorf("%d mails after the hour, want 4", n)
		}
	})
}

// TestMailRationedPerIP: one client address cannot mail many addresses.
func TestMailRationedPerIP(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url, func(o *identity.Options) { o.MailPerAddress, o.MailPerIP = 3, 4 })
		ctx := t.Context()
		u, err := f.svc.CreateUser(ctx, identity.SignUpInput{Email: "target@example.com", Password: "some-password-6"}, false)
		if err != nil {
			t.Fatal(err)
		}
		const ip = "2001:db8::66"
		for i := range 3 {
			if err := f.svc.RequestPasswordReset(ctx, fmt.Sprintf("nobody%d@example.com", i), ip); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.svc.SendVerification(ctx, u, ip); err != nil {
			t.Fatalf("fourth mail from the address: %v", err)
		}
		f.clock.Advance(time.Minute)
		wantThrottled(t, "fifth mail from one address", f.svc.RequestPasswordReset(ctx, u.Email, ip), 59*time.Minute)
		wantThrottled(t, "fifth mail from one address", f.svc.SendVerification(ctx, u, ip), 59*time.Minute)
		// The refusals spent none of the target's own budget: two more from
		// elsewhere still go out.
		for i := range 2 {
			if err := f.svc.RequestPasswordReset(ctx, u.Email, fmt.Sprintf("192.0.2.%d", i+1)); err != nil {
				t.Errorf("reset from another address: %v", err)
			}
		}
		if n := len(f.mail.all()); n != 3 {
			t.Errorf("%d mails sent, want 3", n)
		}
	})
}

// TestSignUpsRationed: sign-ups per client address, and the mail a sign-up
// causes, are rationed; a refused sign-up stores and sends nothing.
func TestSignUpsRationed(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url, func(o *identity.Options) { o.SignUpsPerIP, o.MailPerAddress, o.MailPerIP = 2, 1, 100 })
		ctx := t.Context()
		if _, err := f.svc.CreateUser(ctx, identity.SignUpInput{Email: "taken@example.com", Password: "some-password-6"}, true); err != nil {
			t.Fatal(err)
		}
		const ip = "198.51.100.5"
		for _, email := range []string{"first@example.com", "taken@example.com"} {
			if _, err := f.svc.SignUp(ctx, identity.SignUpInput{Email: email, Password: "some-password-6"}, ip); err != nil {
				t.Fatalf("SignUp(%s): %v", email, err)
			}
		}
		_, err := f.svc.SignUp(ctx, identity.SignUpInput{Email: "third@example.com", Password: "some-password-6"}, ip)
		wantThrottled(t, "third sign-up from one address", err, time.Hour)
		var te *identity.ThrottledError
		if errors.As(err, &te) && te.Reason != identity.ThrottleSignUp {
			t.Errorf("reason %v, want ThrottleSignUp", te.Reason)
		}
		// Past the address's mail budget (1 here), a new address and a taken
		// one are refused alike, and no account is made.
		for _, email := range []string{"first@example.com", "taken@example.com"} {
			_, err := f.svc.SignUp(ctx, identity.SignUpInput{Email: email, Password: "some-password-6"}, "192.0.2.9")
			wantThrottled(t, "sign-up past the mail budget of "+email, err, time.Hour)
		}
		if _, err := f.store.GetUserByEmail(ctx, "third@example.com"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("a refused sign-up made a user: %v", err)
		}
		if us, _ := f.store.ListUsers(ctx, storage.ListUsersOptions{}); len(us) != 2 {
			t.Errorf("%d users, want taken and first", len(us))
		}
		if n := len(f.mail.all()); n != 2 {
			t.Errorf("%d mails, want 2 (a verification and a notice)", n)
		}
		if _, err := f.svc.SignUp(ctx, identity.SignUpInput{Email: "third@example.com", Password: "some-password-6"}, "192.0.2.10"); err != nil {
			t.Errorf("a sign-up from another address: %v", err)
		}
	})
}

func TestChangeAndSetPassword(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url, func(o *identity.Options) { o.AccountFailures = 2 })
		ctx := t.Context()
		u := f.signUp(t, "change@example.com", "first-password-1")
		change := func(current, next string) error {
			return f.svc.ChangePassword(ctx, identity.PasswordChange{UserID: u.ID, Current: current, Next: next, IP: "192.0.2.1"})
		}

		err := change("wrong-current", "second-password-2")
		wantErr(t, "ChangePassword with a wrong current password", err, identity.ErrInvalidCredentials)
		var pe *identity.PasswordError
		if err := change("first-password-1", "short"); !errors.As(err, &pe) {
			t.Errorf("ChangePassword to a short password: error %v, want *PasswordError", err)
		}
		if err := change("first-password-1", "second-password-2"); err != nil {
			t.Fatalf("ChangePassword: %v", err)
		}
		if _, err := f.svc.Authenticate(ctx, u.Email, "second-password-2", ""); err != nil {
			t.Errorf("Authenticate with the changed password: %v", err)
		}

		// Guessing the current password is throttled like signing in.
		for range 2 {
			change("guess", "third-password-3")
		}
		err = change("guess", "third-password-3")
		wantThrottled(t, "third wrong current password", err, 15*time.Minute)

		// An operator's SetPassword lifts the lock.
		if err := f.svc.SetPassword(ctx, u.ID, "set-by-admin-4"); err != nil {
			t.Fatalf("SetPassword: %v", err)
		}
		if err := change("set-by-admin-4", "fourth-password-5"); err != nil {
			t.Errorf("ChangePassword after SetPassword: %v", err)
		}
		if _, err := f.svc.Authenticate(ctx, u.Email, "fourth-password-5", ""); err != nil {
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

// TestChangePasswordEndsOtherSessions: a password change keeps the browser that
// made it signed in, and ends the user's other sessions and tokens (not other
// users').
func TestChangePasswordEndsOtherSessions(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		u := f.signUp(t, "change@example.com", "first-password-1")
		bystander := f.signUp(t, "bystander@example.com", "bystander-password")
		now := f.clock.Now()
		here := createSessionNamed(t, f.store, u.ID, "here", now)
		elsewhere := createSessionNamed(t, f.store, u.ID, "elsewhere", now)
		theirs := createSessionNamed(t, f.store, bystander.ID, "theirs", now)
		insertRefreshToken(t, f.store, u.ID, "rt-user")
		insertRefreshToken(t, f.store, bystander.ID, "rt-bystander")

		if err := f.svc.ChangePassword(ctx, identity.PasswordChange{UserID: u.ID, Current: "first-password-1", Next: "second-password-2", KeepSession: here.ID}); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name  string
			bs    storage.BrowserSession
			alive bool
		}{{"this browser", here, true}, {"another browser", elsewhere, false}, {"another user's", theirs, true}} {
			_, err := f.store.GetSessionByTokenHash(ctx, tc.bs.TokenHash, now)
			if alive := err == nil; alive != tc.alive {
				t.Errorf("%s session after the change: alive %v (%v), want %v", tc.name, alive, err, tc.alive)
			}
		}
		if refreshTokenActive(t, f.store, "rt-user") {
			t.Error("the user's refresh token is active after a password change")
		}
		if !refreshTokenActive(t, f.store, "rt-bystander") {
			t.Error("another user's refresh token was revoked")
		}
	})
}

// TestSignOutEverywhere ends every session of the user and revokes the user's
// tokens, and nobody else's.
func TestSignOutEverywhere(t *testing.T) {
	eachDB(t, func(t *testing.T, url string) {
		f := newFixture(t, url)
		ctx := t.Context()
		u := f.signUp(t, "everywhere@example.com", "first-password-1")
		bystander := f.signUp(t, "bystander@example.com", "bystander-password")
		now := f.clock.Now()
		mine := []storage.BrowserSession{createSessionNamed(t, f.store, u.ID, "one", now), createSessionNamed(t, f.store, u.ID, "two", now)}
		theirs := createSessionNamed(t, f.store, bystander.ID, "theirs", now)
		insertRefreshToken(t, f.store, u.ID, "rt-user")
		insertRefreshToken(t, f.store, bystander.ID, "rt-bystander")

		out, err := f.svc.SignOutEverywhere(ctx, u.ID)
		if err != nil || out.Sessions != 2 || out.Revoked.RefreshTokens != 1 {
			t.Fatalf("SignOutEverywhere = %+v, %v; want 2 sessions and 1 refresh token", out, err)
		}
		for _, bs := range mine {
			if _, err := f.store.GetSessionByTokenHash(ctx, bs.TokenHash, now); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("a session of the user after SignOutEverywhere: %v", err)
			}
		}
		if _, err := f.store.GetSessionByTokenHash(ctx, theirs.TokenHash, now); err != nil {
			t.Errorf("another user's session after SignOutEverywhere: %v", err)
		}
		if refreshTokenActive(t, f.store, "rt-user") || !refreshTokenActive(t, f.store, "rt-bystander") {
			t.Errorf("refresh tokens after SignOutEverywhere: user's active %v, bystander's %v; want false, true",
				refreshTokenActive(t, f.store, "rt-user"), refreshTokenActive(t, f.store, "rt-bystander"))
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
			{"picture", identity.Profile{Picture: "http://example.com/ada.png"}},
			{"picture", identity.Profile{Picture: "https://example.com/" + strings.Repeat("a", 2048)}},
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
