package mfa_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-id/gatehouse/internal/mfa"
	"github.com/gatehouse-id/gatehouse/storage"
	"github.com/gatehouse-id/gatehouse/storage/storagetest"
)

// The browser test (cmd/gatehouse TestBrowserPasskeys) runs whole ceremonies
// with chromium's virtual authenticator; these check what needs a clock or a
// second user: a ceremony's sealed state is refused once expired, for another
// purpose or user, or altered, before any answer is looked at, and nothing
// changes.

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newPasskeys(t *testing.T) (*mfa.Passkeys, *storage.Store, *clock) {
	t.Helper()
	store := storagetest.OpenSQLite(t)
	sealer, err := storage.NewSealer([]string{storagetest.TestSecret})
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{t: time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)}
	pk, err := mfa.NewPasskeys(store, mfa.PasskeyOptions{Issuer: "https://id.example.com:8443", Sealer: sealer, Now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return pk, store, c
}

func newUser(t *testing.T, store *storage.Store, email string) storage.User {
	t.Helper()
	u, err := store.CreateUser(t.Context(), storage.User{Email: email, PasswordHash: "x"})
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	return u
}

func TestPasskeyRelyingParty(t *testing.T) {
	pk, _, _ := newPasskeys(t)
	if got := pk.RPID(); got != "id.example.com" {
		t.Errorf("RPID() = %q, want the issuer's host without port", got)
	}
	if _, err := mfa.NewPasskeys(nil, mfa.PasskeyOptions{Issuer: "not a url"}); err == nil {
		t.Error("NewPasskeys accepted an issuer that is not a URL and no sealer")
	}
	c := pk.ChallengeCookie("state")
	if c.Name != "__Host-gatehouse_webauthn" || !c.Secure || !c.HttpOnly || c.MaxAge != int(mfa.ChallengeTTL/time.Second) {
		t.Errorf("challenge cookie on https = %+v", c)
	}
}

func TestPasskeyChallengeRefused(t *testing.T) {
	pk, store, c := newPasskeys(t)
	ctx := t.Context()
	ada := newUser(t, store, "ada@example.com")
	bob := newUser(t, store, "bob@example.com")

	reg, err := pk.BeginRegistration(ctx, ada.ID)
	if err != nil {
		t.Fatalf("BeginRegistration: %v", err)
	}
	if !strings.Contains(string(reg.JSON), `"rp":{"name":"Gatehouse","id":"id.example.com"}`) || !strings.Contains(string(reg.JSON), `"residentKey":"required"`) {
		t.Errorf("registration options = %s", reg.JSON)
	}
	// The user handle is made once: 64 random bytes, never the address.
	u, err := store.GetUser(ctx, ada.ID)
	if err != nil || len(u.WebAuthnHandle) != 64 {
		t.Fatalf("after BeginRegistration the user handle has %d bytes (%v)", len(u.WebAuthnHandle), err)
	}
	login, err := pk.BeginPasswordless(false)
	if err != nil {
		t.Fatalf("BeginPasswordless: %v", err)
	}
	if !strings.Contains(string(login.JSON), `"userVerification":"required"`) {
		t.Errorf("passwordless options do not require user verification: %s", login.JSON)
	}
	tampered := []byte(reg.State)
	tampered[len(tampered)/2] ^= 1

	for _, tc := range []struct {
		name  string
		later time.Duration
		run   func() error
	}{
		{"registration state for another user", 0, func() error {
			_, err := pk.FinishRegistration(ctx, bob.ID, reg.State, []byte(`{}`), "Laptop")
			return err
		}},
		{"registration state used to sign in", 0, func() error {
			_, err := pk.FinishLogin(ctx, mfa.PurposePasswordless, "", reg.State, []byte(`{}`))
			return err
		}},
		{"sign-in state used as a second step", 0, func() error {
			_, err := pk.FinishLogin(ctx, mfa.PurposeSecondFactor, ada.ID, login.State, []byte(`{}`))
			return err
		}},
		{"altered state", 0, func() error {
			_, err := pk.FinishRegistration(ctx, ada.ID, string(tampered), []byte(`{}`), "Laptop")
			return err
		}},
		{"no state", 0, func() error {
			_, err := pk.FinishLogin(ctx, mfa.PurposePasswordless, "", "", []byte(`{}`))
			return err
		}},
		{"expired registration", mfa.ChallengeTTL, func() error {
			_, err := pk.FinishRegistration(ctx, ada.ID, reg.State, []byte(`{}`), "Laptop")
			return err
		}},
		{"expired sign-in", mfa.ChallengeTTL, func() error {
			_, err := pk.FinishLogin(ctx, mfa.PurposePasswordless, "", login.State, []byte(`{}`))
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := c.t
			c.t = c.t.Add(tc.later)
			defer func() { c.t = saved }()
			if err := tc.run(); !errors.Is(err, mfa.ErrChallengeExpired) {
				t.Errorf("err = %v, want ErrChallengeExpired", err)
			}
			if l, err := pk.List(ctx, ada.ID); err != nil || len(l) != 0 {
				t.Errorf("after a refusal Ada has %d passkeys (%v)", len(l), err)
			}
		})
	}

	// Within its time, the state is accepted and the answer itself is
	// looked at: garbage is refused as such, and stores nothing.
	c.t = c.t.Add(mfa.ChallengeTTL - time.Second)
	if _, err := pk.FinishRegistration(ctx, ada.ID, reg.State, []byte(`{"id":"x"}`), "Laptop"); !errors.Is(err, mfa.ErrPasskeyRejected) {
		t.Errorf("a garbage answer within the time: err = %v, want ErrPasskeyRejected", err)
	}
	if _, err := pk.FinishRegistration(ctx, ada.ID, reg.State, []byte(`{}`), "   "); !errors.Is(err, mfa.ErrPasskeyName) {
		t.Errorf("an empty name: err = %v, want ErrPasskeyName", err)
	}
	if l, _ := pk.List(ctx, ada.ID); len(l) != 0 {
		t.Errorf("Ada has %d passkeys after refusals", len(l))
	}
	// No passkey, no second step with one.
	if _, err := pk.BeginLogin(ctx, bob.ID, mfa.PurposeSecondFactor); !errors.Is(err, mfa.ErrUnknownCredential) {
		t.Errorf("BeginLogin for a user without passkeys: err = %v, want ErrUnknownCredential", err)
	}
}

func TestPasskeyAMR(t *testing.T) {
	for _, tc := range []struct {
		a    mfa.Assertion
		want []string
	}{
		{mfa.Assertion{}, []string{"hwk"}},
		{mfa.Assertion{UserVerified: true}, []string{"hwk", "user"}},
		{mfa.Assertion{Synced: true, UserVerified: true}, []string{"swk", "user"}},
	} {
		if got := tc.a.AMR(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v.AMR() = %v, want %v", tc.a, got, tc.want)
		}
	}
}

func TestPasskeyNames(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"  Work   laptop ", "Work laptop", true},
		{"", "", false},
		{strings.Repeat("é", 64), strings.Repeat("é", 64), true},
		{strings.Repeat("é", 65), "", false},
	} {
		got, err := mfa.CleanPasskeyName(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("CleanPasskeyName(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
