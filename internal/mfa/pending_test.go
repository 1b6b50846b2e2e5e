package mfa_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/mfa"
)

// TestPendingSignIn: a sealed pending sign-in opens for its purpose until it
// expires, and for no other purpose; anything else is ErrPendingInvalid.
func TestPendingSignIn(t *testing.T) {
	svc, _, u, now := fixture(t)
	p := mfa.Pending{UserID: u.ID, AMR: []string{mfa.AMRPassword}, Expires: now.Add(mfa.PendingTTL)}
	sealed, err := svc.SealPending(p, "api")
	if err != nil {
		t.Fatal(err)
	}
	got, err := svc.OpenPending(sealed, "api", *now)
	if err != nil || got.UserID != u.ID || !slices.Equal(got.AMR, p.AMR) {
		t.Fatalf("OpenPending = %+v, %v; want %+v", got, err, p)
	}
	tampered := []byte(sealed)
	if tampered[len(tampered)/2] == 'A' {
		tampered[len(tampered)/2] = 'B'
	} else {
		tampered[len(tampered)/2] = 'A'
	}
	for _, tc := range []struct {
		name, value, purpose string
		at                   time.Time
	}{
		{"another purpose", sealed, "pages", *now},
		{"expired", sealed, "api", now.Add(mfa.PendingTTL)},
		{"tampered", string(tampered), "api", *now},
		{"not base64", "!!!", "api", *now},
		{"empty", "", "api", *now},
	} {
		if _, err := svc.OpenPending(tc.value, tc.purpose, tc.at); !errors.Is(err, mfa.ErrPendingInvalid) {
			t.Errorf("OpenPending %s: %v, want ErrPendingInvalid", tc.name, err)
		}
	}
}

// TestStepAfterAndCompleteAMR: the rule both faces follow after a first
// factor, and the methods of the session after the second.
func TestStepAfterAndCompleteAMR(t *testing.T) {
	svc, _, u, now := fixture(t)
	ctx := t.Context()
	if step, _, err := svc.StepAfter(ctx, u.ID, []string{mfa.AMRPassword}, ""); err != nil || step != mfa.StepNone {
		t.Fatalf("StepAfter without a factor = %v, %v; want StepNone", step, err)
	}
	if step, _, err := svc.StepAfter(ctx, u.ID, []string{mfa.AMRPassword}, string(mfa.PolicyRequired)); err != nil || step != mfa.StepEnrol {
		t.Fatalf("StepAfter under a required client policy = %v, %v; want StepEnrol", step, err)
	}
	e, err := svc.BeginTOTP(ctx, u.ID, u.Email, "Phone")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.ConfirmTOTP(ctx, u.ID, e.FactorID, code(t, e.Secret, *now), ""); err != nil {
		t.Fatal(err)
	}
	step, m, err := svc.StepAfter(ctx, u.ID, []string{mfa.AMRPassword}, "")
	if err != nil || step != mfa.StepVerify || m.TOTP != 1 {
		t.Fatalf("StepAfter with an app = %v, %+v, %v; want StepVerify and the app", step, m, err)
	}
	if step, _, err := svc.StepAfter(ctx, u.ID, []string{"hwk", "user", mfa.AMRMFA}, ""); err != nil || step != mfa.StepNone {
		t.Fatalf("StepAfter of a multi-factor first factor = %v, %v; want StepNone", step, err)
	}
	if got := mfa.CompleteAMR([]string{"fed", mfa.AMROTP}, mfa.AMROTP); !slices.Equal(got, []string{"fed", "otp", "mfa"}) {
		t.Errorf("CompleteAMR = %q, want [fed otp mfa]", got)
	}
}

// TestTOTPURIAndRemoveTOTP: the URI of the app being enrolled, then of the
// confirmed one; RemoveTOTP takes every app and, with the last factor, the
// recovery codes.
func TestTOTPURIAndRemoveTOTP(t *testing.T) {
	svc, _, u, now := fixture(t)
	ctx := t.Context()
	if _, _, err := svc.TOTPURI(ctx, u.ID, u.Email, ""); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Fatalf("TOTPURI without an app: %v, want ErrNotEnrolled", err)
	}
	e, err := svc.BeginTOTP(ctx, u.ID, u.Email, "Phone")
	if err != nil {
		t.Fatal(err)
	}
	uri, pending, err := svc.TOTPURI(ctx, u.ID, u.Email, "Notes")
	if err != nil || !pending || !strings.Contains(uri, "issuer=Notes") {
		t.Fatalf("TOTPURI while enrolling = %q, %v, %v", uri, pending, err)
	}
	if id, err := svc.PendingTOTPID(ctx, u.ID); err != nil || id != e.FactorID {
		t.Fatalf("PendingTOTPID = %q, %v; want %q", id, err, e.FactorID)
	}
	if err := svc.ConfirmTOTP(ctx, u.ID, e.FactorID, code(t, e.Secret, *now), ""); err != nil {
		t.Fatal(err)
	}
	if _, pending, err := svc.TOTPURI(ctx, u.ID, u.Email, ""); err != nil || pending {
		t.Fatalf("TOTPURI once confirmed: pending %v, %v", pending, err)
	}
	if _, err := svc.PendingTOTPID(ctx, u.ID); !errors.Is(err, mfa.ErrNotFound) {
		t.Fatalf("PendingTOTPID once confirmed: %v, want ErrNotFound", err)
	}
	if _, err := svc.NewRecoveryCodes(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.BeginTOTP(ctx, u.ID, u.Email, "Tablet"); err != nil {
		t.Fatal(err)
	}
	n, err := svc.RemoveTOTP(ctx, u.ID)
	if err != nil || n != 1 {
		t.Fatalf("RemoveTOTP = %d, %v; want 1 confirmed app", n, err)
	}
	m, err := svc.Methods(ctx, u.ID)
	if err != nil || m.TOTP != 0 || m.RecoveryCodes != 0 {
		t.Fatalf("after RemoveTOTP: %+v, %v", m, err)
	}
	if _, _, err := svc.TOTPURI(ctx, u.ID, u.Email, ""); !errors.Is(err, mfa.ErrNotEnrolled) {
		t.Fatalf("TOTPURI after RemoveTOTP (the pending app too): %v, want ErrNotEnrolled", err)
	}
}
