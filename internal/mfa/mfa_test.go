package mfa_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fixture is the service over a new SQLite store, with a clock the test sets.
func fixture(t *testing.T) (*mfa.Service, *storage.Store, storage.User, *time.Time) {
	t.Helper()
	store := storagetest.OpenSQLite(t)
	now := time.Date(2026, 12, 3, 12, 0, 10, 0, time.UTC)
	svc, err := mfa.New(mfa.Options{Store: store, Issuer: "Gatehouse Test", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	u, err := store.CreateUser(t.Context(), storage.User{Email: "m@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return svc, store, u, &now
}

// TestTOTPWindowAndReplay: a code of the step before or after now is
// accepted, two steps away is not; each step is accepted once; the first code
// (confirmation) cannot be used again to sign in.
func TestTOTPWindowAndReplay(t *testing.T) {
	svc, _, u, now := fixture(t)
	ctx := t.Context()
	e, err := svc.BeginTOTP(ctx, u.ID, u.Email, "Phone")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e.URI, "otpauth://totp/") || !strings.Contains(e.URI, "secret="+e.Secret) || e.QRCode.Size < 21 || len(e.QRCode.Dark) == 0 {
		t.Fatalf("enrolment = %+v, want an otpauth URI with the secret and a QR code", e)
	}
	if _, err := svc.VerifyTOTP(ctx, u.ID, code(t, e.Secret, *now), ""); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Errorf("VerifyTOTP before confirmation: %v, want ErrNotEnrolled", err)
	}
	if err := svc.ConfirmTOTP(ctx, u.ID, e.FactorID, "12345", ""); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("ConfirmTOTP with 5 digits: %v, want ErrInvalidCode", err)
	}
	first := code(t, e.Secret, *now)
	if err := svc.ConfirmTOTP(ctx, u.ID, e.FactorID, first, ""); err != nil {
		t.Fatalf("ConfirmTOTP: %v", err)
	}
	if err := svc.ConfirmTOTP(ctx, u.ID, e.FactorID, first, ""); !errors.Is(err, mfa.ErrNotFound) {
		t.Errorf("second ConfirmTOTP: %v, want ErrNotFound", err)
	}
	if _, err := svc.VerifyTOTP(ctx, u.ID, first, ""); !errors.Is(err, mfa.ErrReplayedCode) {
		t.Errorf("VerifyTOTP with the confirming code: %v, want ErrReplayedCode", err)
	}
	for _, tc := range []struct {
		name   string
		offset time.Duration
		want   error
	}{
		{"two steps back", -60 * time.Second, mfa.ErrInvalidCode},
		{"two steps ahead", 60 * time.Second, mfa.ErrInvalidCode},
		{"one step ahead", 30 * time.Second, nil},
		{"one step ahead again", 30 * time.Second, mfa.ErrReplayedCode},
	} {
		_, err := svc.VerifyTOTP(ctx, u.ID, code(t, e.Secret, now.Add(tc.offset)), "")
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: VerifyTOTP = %v, want %v", tc.name, err, tc.want)
		}
	}
	*now = now.Add(30 * time.Second)
	// A step before the last accepted one is refused even inside the window.
	if _, err := svc.VerifyTOTP(ctx, u.ID, code(t, e.Secret, now.Add(-30*time.Second)), ""); !errors.Is(err, mfa.ErrReplayedCode) {
		t.Errorf("a code older than the last accepted one: %v, want ErrReplayedCode", err)
	}
	if _, err := svc.VerifyTOTP(ctx, u.ID, code(t, e.Secret, now.Add(30*time.Second)), ""); err != nil {
		t.Errorf("a later code: %v", err)
	}
}

// TestRecoveryCodes: ten codes, each used once in any spelling, the count
// going down; new codes replace the old.
func TestRecoveryCodes(t *testing.T) {
	svc, _, u, _ := fixture(t)
	ctx := t.Context()
	codes, err := svc.NewRecoveryCodes(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != mfa.RecoveryCodeCount {
		t.Fatalf("%d codes, want %d", len(codes), mfa.RecoveryCodeCount)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != 17 || c[8] != '-' || seen[c] {
			t.Errorf("code %q: want 8+8 characters with a dash, all different", c)
		}
		seen[c] = true
	}
	left, err := svc.UseRecoveryCode(ctx, u.ID, " "+strings.ToUpper(codes[3])+" ", "")
	if err != nil || left != 9 {
		t.Errorf("UseRecoveryCode = %d, %v; want 9, nil", left, err)
	}
	if _, err := svc.UseRecoveryCode(ctx, u.ID, codes[3], ""); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("spent code: %v, want ErrInvalidCode", err)
	}
	if _, err := svc.UseRecoveryCode(ctx, u.ID, "nonsense", ""); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("nonsense: %v, want ErrInvalidCode", err)
	}
	if _, err := svc.NewRecoveryCodes(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.UseRecoveryCode(ctx, u.ID, codes[4], ""); !errors.Is(err, mfa.ErrInvalidCode) {
		t.Errorf("replaced code: %v, want ErrInvalidCode", err)
	}
}

// TestPolicy: a factor is always asked for; required makes those without one
// enrol; a client's policy wins over the server's.
func TestPolicy(t *testing.T) {
	with := mfa.Methods{TOTP: 1}
	for _, tc := range []struct {
		policy mfa.Policy
		m      mfa.Methods
		want   mfa.Step
	}{
		{mfa.PolicyOptional, mfa.Methods{}, mfa.StepNone},
		{mfa.PolicyOptional, with, mfa.StepVerify},
		{mfa.PolicyIfEnrolled, mfa.Methods{}, mfa.StepNone},
		{mfa.PolicyIfEnrolled, with, mfa.StepVerify},
		{mfa.PolicyRequired, mfa.Methods{}, mfa.StepEnrol},
		{mfa.PolicyRequired, mfa.Methods{Passkeys: 1}, mfa.StepVerify},
	} {
		if got := mfa.Next(tc.policy, tc.m); got != tc.want {
			t.Errorf("Next(%s, %+v) = %v, want %v", tc.policy, tc.m, got, tc.want)
		}
	}
	if _, err := mfa.ParsePolicy("sometimes"); err == nil {
		t.Error("ParsePolicy(sometimes) succeeded")
	}
	store := storagetest.OpenSQLite(t)
	svc, err := mfa.New(mfa.Options{Store: store, Policy: mfa.PolicyIfEnrolled})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]mfa.Policy{"": mfa.PolicyIfEnrolled, "required": mfa.PolicyRequired, "optional": mfa.PolicyOptional, "bogus": mfa.PolicyIfEnrolled} {
		if got := svc.PolicyFor(in); got != want {
			t.Errorf("PolicyFor(%q) = %s, want %s", in, got, want)
		}
	}
	if _, err := mfa.New(mfa.Options{Store: store, Policy: "sometimes"}); err == nil {
		t.Error("New with an unknown policy succeeded")
	}
}
