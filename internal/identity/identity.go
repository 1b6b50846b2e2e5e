package identity

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/i18n"
	"github.com/gatehouse-id/gatehouse/storage"
	"golang.org/x/crypto/argon2"
)

// Mail is one message for a person: a plain-text body and an HTML alternative.
type Mail struct{ To, Subject, Text, HTML string }

// Sender delivers mail. The binary adapts the outbox to it, so that a message is
// stored before it is sent and an SMTP outage loses nothing.
type Sender interface {
	Send(ctx context.Context, m Mail) error
}

// Options configure New. Zero values mean the defaults named on each field.
type Options struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Params are the argon2id parameters new hashes use; a zero field takes its
	// value from DefaultParams.
	Params Params
	// MaxConcurrentHashes bounds how many argon2id hashes (sign-up, sign-in,
	// password changes) run at once; the others wait their turn. 0 means
	// DefaultMaxConcurrentHashes.
	MaxConcurrentHashes int
	// BaseURL is the issuer URL the mailed links start with.
	BaseURL string
	// Mail sends verification, reset and notice mail; nil makes sending fail
	// (and SignUp only logs that failure).
	Mail Sender
	// Log receives what the service logs; nil discards it.
	Log *slog.Logger
	// MailTemplates are the mail bodies (ParseMailTemplates); nil means the
	// built-in ones.
	MailTemplates *MailTemplates
	// Branding gives the product name, logo, colour and support link mail
	// shows; nil means the built-in defaults.
	Branding BrandSource
	// Catalogue holds the mail's messages in every language; nil means the
	// built-in catalogues. A mail speaks the language of the page that caused
	// it (i18n.FromContext), else the user's saved locale, else English.
	Catalogue *i18n.Catalogue

	// ResetTTL is how long a password reset link works: 30 minutes.
	ResetTTL time.Duration
	// VerifyTTL is how long an e-mail verification link works: 48 hours.
	VerifyTTL time.Duration

	// AccountFailures failed sign-ins of one account from one client IP within
	// FailureWindow are allowed (5); the next failure locks the account for
	// that IP (only) for LockoutDuration (15m), or until a password reset.
	AccountFailures int
	// IPFailures failed sign-ins from one client IP, to any accounts, within
	// FailureWindow are allowed (20); the next failure blocks the IP for
	// LockoutDuration.
	IPFailures      int
	FailureWindow   time.Duration
	LockoutDuration time.Duration

	// MailPerAddress is how many verification, reset and sign-up notice mails
	// one e-mail address may be sent per hour (3), counted whether or not an
	// account has the address.
	MailPerAddress int
	// MailPerIP is how many such mails requests from one client IP may cause
	// per hour (20).
	MailPerIP int
	// SignUpsPerIP is how many sign-ups one client IP may make per hour (20).
	SignUpsPerIP int
}

// Errors the Service returns; compare with errors.Is. Each carries the
// message a page shows for it (i18n.Translatable); Error is a short English
// phrase for logs and the APIs.
var (
	// ErrInvalidCredentials means the e-mail or the password is wrong (which one
	// is never said).
	ErrInvalidCredentials error = &refusal{Reason: "invalid e-mail or password", Key: "form.bad_credentials"}
	// ErrEmailTaken means another user has the e-mail address, in any case.
	ErrEmailTaken error = &refusal{Reason: "e-mail address already registered", Key: "form.email_taken"}
	// ErrInvalidToken means a mailed link is unknown, used or expired.
	ErrInvalidToken error = &refusal{Reason: "invalid or expired link", Key: "form.link_dead"}
	// ErrDisabled means the user's account is disabled. Authenticate returns it
	// only after the password was found right, so it leaks nothing.
	ErrDisabled error = &refusal{Reason: "account disabled", Key: "form.account_disabled"}
	// ErrInvalidEmail means the text is not an e-mail address Gatehouse accepts.
	ErrInvalidEmail error = &refusal{Reason: "invalid e-mail address", Key: "form.invalid_email"}
)

// refusal is one of the Service's sentinel errors: Reason for logs, Key the
// message of the catalogue (internal/i18n) a person is shown.
type refusal struct{ Reason, Key string }

func (e *refusal) Error() string { return e.Reason }

// MessageKey returns the catalogue key of the refusal's sentence.
func (e *refusal) MessageKey() string { return e.Key }

// MessageArgs returns nil: the sentences take no arguments.
func (e *refusal) MessageArgs() map[string]any { return nil }

// PasswordError says why a password was refused: Reason in English (for logs
// and the admin API), and the message key and arguments of the same sentence
// for pages to show in the reader's language (internal/i18n).
type PasswordError struct {
	Reason string
	Key    string
	Args   map[string]any
}

func (e *PasswordError) Error() string { return e.Reason }

// MessageKey returns the catalogue key of the reason.
func (e *PasswordError) MessageKey() string { return e.Key }

// MessageArgs returns the arguments of the reason's message.
func (e *PasswordError) MessageArgs() map[string]any { return e.Args }

// ThrottledError means a request is refused for a while: too many failed
// sign-ins, mails or sign-ups. Pages answer it with 429 and Retry-After.
type ThrottledError struct {
	RetryAfter time.Duration
	Reason     ThrottleReason
}

// ThrottleReason says which limit a *ThrottledError hit.
type ThrottleReason int

// The limits.
const (
	// ThrottleAddress: too many failed sign-ins from the client's IP, to any
	// accounts. Only time lifts it.
	ThrottleAddress ThrottleReason = iota
	// ThrottleAccount: too many failed sign-ins of one account from the
	// client's IP. A password reset lifts it (for unknown addresses too, as far
	// as the person can tell).
	ThrottleAccount
	// ThrottleMail: too many mails to the address, or caused from the client's IP.
	ThrottleMail
	// ThrottleSignUp: too many sign-ups from the client's IP.
	ThrottleSignUp
	// ThrottleSecondFactor: too many wrong second-factor codes of one account
	// from the client's IP. Only time lifts it: a password reset does not.
	ThrottleSecondFactor
)

// Error says what happened and when to try again, in minutes rounded up, such
// as "Too many failed attempts. Try again in 15 minutes, or reset your password
// to unlock your account now."
func (e *ThrottledError) Error() string {
	n := e.minutes()
	in := fmt.Sprintf("%d minutes", n)
	if n == 1 {
		in = "1 minute"
	}
	switch e.Reason {
	case ThrottleAccount:
		return "Too many failed attempts. Try again in " + in + ", or reset your password to unlock your account now."
	case ThrottleMail:
		return "Too many e-mails were asked for. Try again in " + in + "."
	case ThrottleSignUp:
		return "Too many accounts were created from your network. Try again in " + in + "."
	case ThrottleSecondFactor:
		return "Too many wrong codes. Try again in " + in + "."
	}
	return "Too many attempts from your network. Try again in " + in + "."
}

// MessageKey returns the catalogue key of Error's sentence.
func (e *ThrottledError) MessageKey() string {
	switch e.Reason {
	case ThrottleAccount:
		return "throttle.account"
	case ThrottleMail:
		return "throttle.mail"
	case ThrottleSignUp:
		return "throttle.signup"
	case ThrottleSecondFactor:
		return "throttle.second_factor"
	}
	return "throttle.address"
}

// MessageArgs returns the minutes to wait, as Count.
func (e *ThrottledError) MessageArgs() map[string]any { return map[string]any{"Count": e.minutes()} }

// minutes is RetryAfter in whole minutes, rounded up, at least 1.
func (e *ThrottledError) minutes() int { return max(int(math.Ceil(e.RetryAfter.Minutes())), 1) }

// ProfileError says which profile field was refused and why: Reason in English
// (for logs and the admin API), and the message key and arguments of the same
// sentence for pages to show in the reader's language (internal/i18n).
type ProfileError struct {
	Field, Reason string
	Key           string
	Args          map[string]any
}

func (e *ProfileError) Error() string { return e.Reason }

// MessageKey returns the catalogue key of the reason.
func (e *ProfileError) MessageKey() string { return e.Key }

// MessageArgs returns the arguments of the reason's message.
func (e *ProfileError) MessageArgs() map[string]any { return e.Args }

// Service applies the user rules on a Store. Build it with New; it is safe for
// concurrent use.
type Service struct {
	store *storage.Store
	now   func() time.Time
	p     Params
	base  string
	// hashSlots holds a token for each argon2id computation running now; its
	// capacity is Options.MaxConcurrentHashes.
	hashSlots chan struct{}
	// idKey is argon2.IDKey; tests swap it to watch how many run at once.
	idKey func(password, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte
	mail  Sender
	log   *slog.Logger

	resetTTL, verifyTTL time.Duration
	accountLimit        storage.SignInLimit
	ipLimit             storage.SignInLimit
	mailToLimit         storage.RateLimit
	mailFromLimit       storage.RateLimit
	signUpLimit         storage.RateLimit

	// dummyHash is compared against when the e-mail is unknown, so that an
	// unknown address takes as long as a known one.
	dummyHash string
	mailTmpl  *MailTemplates
	brand     BrandSource
	catalogue *i18n.Catalogue
}

// New returns a Service on store.
func New(store *storage.Store, o Options) *Service {
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Params = o.Params.withDefaults()
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	orDuration := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	orDuration(&o.ResetTTL, 30*time.Minute)
	orDuration(&o.VerifyTTL, 48*time.Hour)
	orDuration(&o.FailureWindow, 15*time.Minute)
	orDuration(&o.LockoutDuration, 15*time.Minute)
	if o.AccountFailures <= 0 {
		o.AccountFailures = 5
	}
	if o.IPFailures <= 0 {
		o.IPFailures = 20
	}
	orCount := func(n *int, def int) {
		if *n <= 0 {
			*n = def
		}
	}
	orCount(&o.MailPerAddress, 3)
	orCount(&o.MailPerIP, 20)
	orCount(&o.SignUpsPerIP, 20)
	if o.MaxConcurrentHashes <= 0 {
		o.MaxConcurrentHashes = DefaultMaxConcurrentHashes
	}
	s := &Service{
		store: store, now: o.Now, p: o.Params, base: o.BaseURL, mail: o.Mail, log: o.Log,
		resetTTL: o.ResetTTL, verifyTTL: o.VerifyTTL,
		accountLimit: storage.SignInLimit{Max: o.AccountFailures, Window: o.FailureWindow, Lockout: o.LockoutDuration},
		ipLimit:      storage.SignInLimit{Max: o.IPFailures, Window: o.FailureWindow, Lockout: o.LockoutDuration},
		// The configuration speaks of mails and sign-ups per hour.
		mailToLimit:   storage.RateLimit{Max: o.MailPerAddress, Window: time.Hour},
		mailFromLimit: storage.RateLimit{Max: o.MailPerIP, Window: time.Hour},
		signUpLimit:   storage.RateLimit{Max: o.SignUpsPerIP, Window: time.Hour},
		mailTmpl:      o.MailTemplates,
		brand:         o.Branding,
		hashSlots:     make(chan struct{}, o.MaxConcurrentHashes),
		idKey:         argon2.IDKey,
	}
	if s.mailTmpl == nil {
		s.mailTmpl = builtinMail()
	}
	s.catalogue = o.Catalogue
	if s.catalogue == nil {
		s.catalogue = builtinCatalogue()
	}
	s.dummyHash = s.randomPHC()
	return s
}
