package mfa

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// The errors of Service, for the faces to put in words.
var (
	// ErrInvalidCode means the code is not a valid code of any of the user's
	// factors (or recovery codes) now.
	ErrInvalidCode = errors.New("the code is not valid")
	// ErrReplayedCode means the code was valid but was already used: each code
	// signs in once.
	ErrReplayedCode = errors.New("the code was already used")
	// ErrNotEnrolled means the user has no factor of the kind asked for.
	ErrNotEnrolled = errors.New("no second factor of that kind")
	// ErrNotFound means the user has no such factor (or enrolment).
	ErrNotFound = errors.New("no such factor")
)

// MessageKey names the catalogue message (internal/i18n) for the errors above.
func MessageKey(err error) string {
	switch {
	case errors.Is(err, ErrReplayedCode):
		return "mfa.code_replayed"
	case errors.Is(err, ErrInvalidCode):
		return "mfa.code_invalid"
	case errors.Is(err, ErrNotEnrolled), errors.Is(err, ErrNotFound):
		return "mfa.not_enrolled"
	}
	return ""
}

// The RFC 8176 authentication method references a sign-in may carry.
const (
	AMRPassword = "pwd"
	AMROTP      = "otp"
	AMRMFA      = "mfa"
	AMRHardware = "hwk"
	AMRSoftware = "swk"
	AMRUser     = "user"
	// AMRRecovery is not in RFC 8176's registry; a recovery code is a one-time
	// password, so it is reported as otp.
)

// The acr values (and ACRFor) live in internal/signin, the contract the
// protocol layer and the pages share.

// Throttle counts failed second-factor attempts per account and client address
// and refuses attempts while locked; *identity.Service is one (it keeps the
// sign-in throttle every instance shares).
type Throttle interface {
	// CheckSecondFactor returns an error (an *identity.ThrottledError) when
	// the user's second factor may not be tried from ip now.
	CheckSecondFactor(ctx context.Context, userID, ip string) error
	// SecondFactorFailed counts a failure and returns the error to show: the
	// given err, or a throttling error when this failure locked.
	SecondFactorFailed(ctx context.Context, userID, ip string, err error) error
	// SecondFactorSucceeded clears the failures of (user, ip).
	SecondFactorSucceeded(ctx context.Context, userID, ip string)
}

// factorStore is what Service needs from storage.
type factorStore interface {
	CreateFactor(ctx context.Context, f storage.Factor) (storage.Factor, error)
	ListFactors(ctx context.Context, userID string) ([]storage.Factor, error)
	GetFactor(ctx context.Context, id string) (storage.Factor, error)
	ConfirmFactor(ctx context.Context, userID, id string, step int64) error
	UseTOTPStep(ctx context.Context, id string, step int64) (bool, error)
	RenameFactor(ctx context.Context, userID, id, name string) error
	DeleteFactor(ctx context.Context, userID, id string) error
	DeleteFactors(ctx context.Context, userID string) (int, error)
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error
	UseRecoveryCode(ctx context.Context, userID string, hash []byte) (int, error)
	CountRecoveryCodes(ctx context.Context, userID string) (int, error)
}

// Notifier is told when a user's factors change, to mail the user; nil tells
// nobody. kind is the factor's kind (storage.FactorTOTP, storage.FactorWebAuthn)
// for ChangeAdded and ChangeRemoved, "" for the others; *identity.Service is
// one.
type Notifier interface {
	FactorsChanged(ctx context.Context, userID, change, kind string)
}

// The changes a Notifier hears of.
const (
	ChangeAdded         = "added"
	ChangeRemoved       = "removed"
	ChangeRecoveryCodes = "recovery_codes"
	ChangeReset         = "reset"
)

// Options are what New needs.
type Options struct {
	Store *storage.Store
	// Issuer names the service in authenticator apps ("Gatehouse" or the
	// product name).
	Issuer   string
	Throttle Throttle
	Notifier Notifier
	// Policy is the server-wide MFA policy; "" means PolicyOptional.
	Policy Policy
	Now    func() time.Time
	Log    *slog.Logger
}

// Service manages second factors. Build it with New.
type Service struct {
	store    factorStore
	issuer   string
	throttle Throttle
	notify   Notifier
	policy   Policy
	now      func() time.Time
	log      *slog.Logger
	// sealer seals pending sign-ins (SealPending); the store's.
	sealer *storage.Sealer
}

// New returns the service.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("mfa: Store is nil")
	}
	if o.Policy == "" {
		o.Policy = PolicyOptional
	}
	if _, err := ParsePolicy(string(o.Policy)); err != nil {
		return nil, fmt.Errorf("mfa: %w", err)
	}
	if o.Issuer == "" {
		o.Issuer = "Gatehouse"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: o.Store, issuer: o.Issuer, throttle: o.Throttle, notify: o.Notifier, policy: o.Policy, now: o.Now, log: o.Log, sealer: o.Store.Sealer()}, nil
}

// Methods is what a user can sign in with besides the password.
type Methods struct {
	// Factors are the confirmed factors, oldest first.
	Factors []storage.Factor
	// TOTP and Passkeys count the confirmed factors of each kind.
	TOTP, Passkeys int
	// RecoveryCodes counts the unused recovery codes.
	RecoveryCodes int
}

// Enrolled reports whether the user has a second factor.
func (m Methods) Enrolled() bool { return m.TOTP+m.Passkeys > 0 }

// Methods returns the user's confirmed factors and recovery codes.
func (s *Service) Methods(ctx context.Context, userID string) (Methods, error) {
	all, err := s.store.ListFactors(ctx, userID)
	if err != nil {
		return Methods{}, fmt.Errorf("mfa methods: %w", err)
	}
	var m Methods
	for _, f := range all {
		if !f.Confirmed() {
			continue
		}
		m.Factors = append(m.Factors, f)
		switch f.Kind {
		case storage.FactorTOTP:
			m.TOTP++
		case storage.FactorWebAuthn:
			m.Passkeys++
		}
	}
	if m.RecoveryCodes, err = s.store.CountRecoveryCodes(ctx, userID); err != nil {
		return Methods{}, fmt.Errorf("mfa methods: %w", err)
	}
	return m, nil
}

// RemoveFactor removes the user's factor id. Removing the last factor also
// removes the recovery codes, which are a way around a factor and mean nothing
// without one.
func (s *Service) RemoveFactor(ctx context.Context, userID, id string) error {
	kind := ""
	if f, err := s.store.GetFactor(ctx, id); err == nil && f.UserID == userID {
		kind = f.Kind
	}
	if err := s.store.DeleteFactor(ctx, userID, id); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return ErrNotFound
		}
		return fmt.Errorf("remove factor: %w", err)
	}
	m, err := s.Methods(ctx, userID)
	if err == nil && !m.Enrolled() && m.RecoveryCodes > 0 {
		err = s.store.ReplaceRecoveryCodes(ctx, userID, nil)
	}
	if err != nil {
		return fmt.Errorf("remove factor: %w", err)
	}
	s.changed(ctx, userID, ChangeRemoved, kind)
	return nil
}

// Reset removes every factor and recovery code of the user (an operator's
// answer to a lost factor) and returns how many factors went.
func (s *Service) Reset(ctx context.Context, userID string) (int, error) {
	n, err := s.store.DeleteFactors(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("reset factors: %w", err)
	}
	s.log.InfoContext(ctx, "second factors reset", "user_id", userID, "factors", n)
	s.changed(ctx, userID, ChangeReset, "")
	return n, nil
}

func (s *Service) changed(ctx context.Context, userID, change, kind string) {
	if s.notify != nil {
		s.notify.FactorsChanged(ctx, userID, change, kind)
	}
}

// RecoveryCodeCount is how many recovery codes a user gets.
const RecoveryCodeCount = 10

// recoveryAlphabet is Crockford's base32: no I, L, O or U, and a typed O, I
// or L is read as 0, 1, 1 (normalizeRecoveryCode).
const recoveryAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewRecoveryCodes makes RecoveryCodeCount new codes for the user, replacing
// any old ones, and returns them: the only time they are seen in the clear.
// Each has 80 random bits, written as two groups of eight characters.
func (s *Service) NewRecoveryCodes(ctx context.Context, userID string) ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	hashes := make([][]byte, RecoveryCodeCount)
	for i := range codes {
		b := make([]byte, 10)
		rand.Read(b)
		c := base32.NewEncoding(recoveryAlphabet).WithPadding(base32.NoPadding).EncodeToString(b) // 16 characters
		codes[i] = strings.ToLower(c[:8] + "-" + c[8:])
		hashes[i] = recoveryHash(codes[i])
	}
	if err := s.store.ReplaceRecoveryCodes(ctx, userID, hashes); err != nil {
		return nil, fmt.Errorf("new recovery codes: %w", err)
	}
	s.changed(ctx, userID, ChangeRecoveryCodes, "")
	return codes, nil
}

// normalizeRecoveryCode drops spaces and dashes, ignores case and reads the
// look-alikes O, I and L as 0, 1 and 1, so a code typed as written or not is
// the same code.
func normalizeRecoveryCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ' || r == '\t':
			return -1
		case r == 'o' || r == 'O':
			return '0'
		case r == 'i' || r == 'I' || r == 'l' || r == 'L':
			return '1'
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		}
		return r
	}, code)
}

// RecoveryCodeHash is the stored form of a recovery code, as
// ReplaceRecoveryCodes takes it: for codes made elsewhere (an import's backup
// codes), which UseRecoveryCode then accepts.
func RecoveryCodeHash(code string) []byte { return recoveryHash(code) }

// importedCodeLength is the normalised length of Better Auth's backup codes
// ("abcde-fghij"), which an import keeps as recovery codes.
const importedCodeLength = 10

func recoveryHash(code string) []byte {
	h := sha256.Sum256([]byte("gatehouse recovery code v1:" + normalizeRecoveryCode(code)))
	return h[:]
}

// UseRecoveryCode spends one of the user's recovery codes, from the client
// address ip, and returns how many remain. A wrong or spent code gets
// ErrInvalidCode and counts against the second-factor throttle.
func (s *Service) UseRecoveryCode(ctx context.Context, userID, code, ip string) (int, error) {
	if err := s.check(ctx, userID, ip); err != nil {
		return 0, err
	}
	n := normalizeRecoveryCode(code)
	if len(n) != 16 && len(n) != importedCodeLength {
		return 0, s.failed(ctx, userID, ip, ErrInvalidCode)
	}
	left, err := s.store.UseRecoveryCode(ctx, userID, recoveryHash(n))
	if errors.Is(err, storage.ErrNotFound) {
		return 0, s.failed(ctx, userID, ip, ErrInvalidCode)
	}
	if err != nil {
		return 0, fmt.Errorf("use recovery code: %w", err)
	}
	s.succeeded(ctx, userID, ip)
	s.log.InfoContext(ctx, "recovery code used", "user_id", userID, "remaining", left)
	return left, nil
}

func (s *Service) check(ctx context.Context, userID, ip string) error {
	if s.throttle == nil {
		return nil
	}
	return s.throttle.CheckSecondFactor(ctx, userID, ip)
}

func (s *Service) failed(ctx context.Context, userID, ip string, err error) error {
	s.log.InfoContext(ctx, "second factor refused", "user_id", userID, "reason", err.Error())
	if s.throttle == nil {
		return err
	}
	return s.throttle.SecondFactorFailed(ctx, userID, ip, err)
}

func (s *Service) succeeded(ctx context.Context, userID, ip string) {
	if s.throttle != nil {
		s.throttle.SecondFactorSucceeded(ctx, userID, ip)
	}
}

// equalCode compares two codes in constant time.
func equalCode(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
